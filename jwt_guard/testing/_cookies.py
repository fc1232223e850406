"""The token cookie in test clients: what a browser holds after the
application's ``set_token_cookie``, without a login round trip."""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Any

import httpx

from jwt_guard._cookie import check_cookie_name

__all__ = ["clear_token_cookie", "set_token_cookie"]


def _set(client: Any, name: str, value: str | None) -> None:
    cookies: Any = getattr(client, "cookies", None)
    if isinstance(cookies, SimpleCookie):  # django.test.Client
        if value is None:
            cookies.pop(name, None)
        else:
            cookies[name] = value
        return
    if callable(getattr(client, "set_cookie", None)) and callable(getattr(client, "delete_cookie", None)):
        # werkzeug.test.Client and Flask's test client (requests go to "localhost")
        if value is None:
            client.delete_cookie(name)
        else:
            client.set_cookie(name, value)
        return
    if isinstance(cookies, httpx.Cookies) or (callable(getattr(cookies, "set", None)) and hasattr(cookies, "jar")):
        # httpx clients, and test clients built on an httpx-compatible client
        # (Starlette's and FastAPI's TestClient): a cookie for every host.
        if value is None:
            cookies.delete(name)
        else:
            cookies.set(name, value, path="/")
        return
    raise TypeError(
        "expected an httpx client (Starlette or FastAPI TestClient included), a Werkzeug or Flask "
        f"test client or a Django test client, not {type(client).__name__}"
    )


def set_token_cookie(client: Any, token: str, *, name: str) -> None:
    """Give *client* the token cookie *name* holding *token*, sent with every
    later request (as the middleware's ``cookie=`` reads it)::

        client = TestClient(app)
        set_token_cookie(client, issuer.token(scope="write"), name="access_token")
        client.post("/notes", json={...})          # authenticated by the cookie

    *client* is an ``httpx.Client`` or ``httpx.AsyncClient`` (Starlette's
    and FastAPI's ``TestClient`` are one), a Werkzeug or Flask test client,
    or a Django test client. Test clients send no ``Origin`` or
    ``Sec-Fetch-Site`` header, so the cross-origin check lets them through,
    as it does any client that is not a browser; add those headers to test
    the check itself.
    """
    check_cookie_name(name)
    if not isinstance(token, str) or not token:
        raise TypeError("token must be a non-empty string")
    _set(client, name, token)


def clear_token_cookie(client: Any, *, name: str) -> None:
    """Remove the cookie *name* from *client* (see :func:`set_token_cookie`)."""
    check_cookie_name(name)
    _set(client, name, None)
