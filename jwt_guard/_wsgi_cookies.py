"""Setting and clearing the token cookie on Werkzeug (and Flask) responses
(re-exported by :mod:`jwt_guard.wsgi`; the values come from
:mod:`jwt_guard._cookie`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.wrappers import Request, Response

from jwt_guard._cookie import token_cookie, token_cookie_removal
from jwt_guard._request import EnvironRequest

__all__ = ["clear_token_cookie", "set_token_cookie"]


def _request(request: Any) -> EnvironRequest | None:
    if request is None:
        return None
    if isinstance(request, Request):
        return EnvironRequest(request.environ)
    if isinstance(request, Mapping):
        return EnvironRequest(request)
    raise TypeError(f"request must be a WSGI environ or a Werkzeug/Flask request, not {type(request).__name__}")


def set_token_cookie(
    response: Response,
    token: str,
    *,
    name: str,
    request: Any = None,
    expires_in: float | None = None,
    secure: bool | None = None,
    same_site: str = "lax",
    path: str = "/",
    domain: str | None = None,
) -> None:
    """Store *token* in the cookie *name* of the browser that gets
    *response* (a Werkzeug or Flask ``Response``).

    *request* is the request being answered (a WSGI environ or a Werkzeug or
    Flask request). The cookie is the one :func:`jwt_guard.asgi.set_token_cookie`
    sets: ``HttpOnly``, ``SameSite=Lax`` by default, ``Secure`` unless
    *secure* is ``False`` or *request* is plain http to a loopback host,
    ``Max-Age`` from *expires_in* or else the JWT's ``exp``. Use the same
    *name* as the middleware's ``cookie=``.
    """
    value = token_cookie(
        token,
        name=name,
        request=_request(request),
        expires_in=expires_in,
        secure=secure,
        same_site=same_site,
        path=path,
        domain=domain,
    )
    response.headers.add("Set-Cookie", value)


def clear_token_cookie(
    response: Response,
    *,
    name: str,
    request: Any = None,
    secure: bool | None = None,
    same_site: str = "lax",
    path: str = "/",
    domain: str | None = None,
) -> None:
    """Remove the cookie *name* (set by :func:`set_token_cookie` with the
    same *path* and *domain*) from the browser that gets *response*."""
    value = token_cookie_removal(
        name=name, request=_request(request), secure=secure, same_site=same_site, path=path, domain=domain
    )
    response.headers.add("Set-Cookie", value)
