"""Setting and clearing the token cookie on Starlette responses
(re-exported by :mod:`jwt_guard.asgi`; the values come from
:mod:`jwt_guard._cookie`)."""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response

from jwt_guard._cookie import token_cookie, token_cookie_removal
from jwt_guard._request import ScopeRequest

__all__ = ["clear_token_cookie", "set_token_cookie"]


def set_token_cookie(
    response: Response,
    token: str,
    *,
    name: str,
    request: HTTPConnection | None = None,
    expires_in: float | None = None,
    secure: bool | None = None,
    same_site: str = "lax",
    path: str = "/",
    domain: str | None = None,
) -> None:
    """Store *token* in the cookie *name* of the browser that gets *response*.

    The cookie is ``HttpOnly`` (page scripts cannot read it),
    ``SameSite=Lax`` unless *same_site* says ``"strict"`` or ``"none"``,
    valid for *path* (and *domain*'s subdomains when given; by default only
    the host that set it), and lives as long as the token: *expires_in*
    seconds when given (a token endpoint's ``expires_in``), else until the
    JWT's ``exp``. It is ``Secure`` unless *secure* is ``False``, or
    *request* — the request being answered — is plain http to a loopback
    host (local development). Use the same *name* as the middleware's
    ``cookie=``; ``__Host-access_token`` binds the cookie to this host.

    ``ValueError`` for a token a cookie cannot carry or settings browsers
    refuse (``same_site="none"`` without ``Secure``, a ``__Host-`` cookie with
    a domain).
    """
    where = None if request is None else ScopeRequest(request.scope)
    value = token_cookie(
        token,
        name=name,
        request=where,
        expires_in=expires_in,
        secure=secure,
        same_site=same_site,
        path=path,
        domain=domain,
    )
    response.headers.append("set-cookie", value)


def clear_token_cookie(
    response: Response,
    *,
    name: str,
    request: HTTPConnection | None = None,
    secure: bool | None = None,
    same_site: str = "lax",
    path: str = "/",
    domain: str | None = None,
) -> None:
    """Remove the cookie *name* (set by :func:`set_token_cookie` with the
    same *path* and *domain*) from the browser that gets *response*."""
    where = None if request is None else ScopeRequest(request.scope)
    value = token_cookie_removal(name=name, request=where, secure=secure, same_site=same_site, path=path, domain=domain)
    response.headers.append("set-cookie", value)
