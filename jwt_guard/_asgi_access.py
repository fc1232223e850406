"""Reading the verified token in ASGI applications, for :mod:`jwt_guard.asgi`.

:func:`require_access_token` is the typed accessor (an
:class:`~jwt_guard.AccessToken`, never ``None``); :func:`scope_refusal` is
what the scope decorators decide, for frameworks whose handlers they cannot
wrap (Quart, Litestar and other ASGI frameworks: their handlers do not take a
Starlette request). Both read only the token the middleware left under
:data:`~jwt_guard.TOKEN_KEY`, and answer through its
:class:`~jwt_guard.Responder`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from jwt_guard._access_token import AccessToken
from jwt_guard._challenge import Challenge
from jwt_guard._endpoint import Requirement
from jwt_guard._responder import TOKEN_KEY, responder_of
from jwt_guard.errors import MissingToken

__all__ = ["TokenRequired", "foreign_connection", "other_framework", "require_access_token", "scope_refusal"]

# The challenge headers an HTTPException carries; the handler sets the body's own.
_BODY_HEADERS = frozenset({"content-type", "content-length"})
# Names that ASGI frameworks give their connection classes.
_CONNECTION_CLASS_NAMES = frozenset({"Request", "WebSocket", "Websocket", "HTTPConnection", "ASGIConnection"})


class TokenRequired(HTTPException, MissingToken):
    """The :class:`~jwt_guard.MissingToken` that :func:`require_access_token`
    raises. It is also a Starlette ``HTTPException``, so Starlette and FastAPI
    answer it with 401 and the middleware's challenge headers
    (``WWW-Authenticate``, ``Cache-Control``) instead of a 500."""

    def __init__(self, challenge: Challenge) -> None:
        headers = {name: value for name, value in challenge.headers if name.lower() not in _BODY_HEADERS}
        super().__init__(status_code=challenge.status_code, detail=MissingToken.description, headers=headers)


def _scope_of(connection: HTTPConnection | Mapping[str, Any]) -> Mapping[str, Any]:
    return connection.scope if isinstance(connection, HTTPConnection) else connection


def require_access_token(connection: HTTPConnection | Mapping[str, Any]) -> AccessToken:
    """The verified :class:`~jwt_guard.AccessToken` of a request, websocket
    or ASGI scope; raises :class:`~jwt_guard.MissingToken` (a
    :class:`TokenRequired`, answered 401 by Starlette and FastAPI) when there
    is none (optional mode, an excluded path, or no middleware).

    Inside an endpoint decorated with ``require_scopes`` it always returns
    the token: it is :func:`jwt_guard.asgi.get_access_token` typed without
    ``None``.
    """
    scope = _scope_of(connection)
    token = scope.get(TOKEN_KEY)
    if isinstance(token, AccessToken):
        return token
    raise TokenRequired(responder_of(scope).challenge(MissingToken()))


def scope_refusal(
    connection: HTTPConnection | Mapping[str, Any], *scopes: str, any_of: bool = False
) -> Challenge | None:
    """The answer refusing a request that lacks a verified token granting
    *scopes* (all of them, or with *any_of* one), or ``None`` to let it in.

    The :class:`~jwt_guard.Challenge` (status, headers, JSON body) is exactly
    what ``require_scopes`` answers: 401 without a verified token, 403
    ``insufficient_scope`` naming the scopes, with the middleware's realm. For
    frameworks whose handlers ``require_scopes`` cannot decorate: send the
    challenge with the framework's own response class. Scope names are
    checked as the decorators check them (``TypeError``/``ValueError``).
    """
    requirement = Requirement(scopes, any_of=any_of, name="scope_refusal")
    scope = _scope_of(connection)
    error = requirement.refusal(scope.get(TOKEN_KEY))
    return None if error is None else responder_of(scope).challenge(error)


def foreign_connection(annotation: object) -> str | None:
    """The dotted name of *annotation* when it is another framework's request
    or connection class (not a Starlette one), else ``None``."""
    if not isinstance(annotation, type) or issubclass(annotation, HTTPConnection):
        return None
    if annotation.__name__ not in _CONNECTION_CLASS_NAMES:
        return None
    return f"{annotation.__module__}.{annotation.__qualname__}"


def other_framework(name: str, func: Callable[..., Any], found: str | None) -> TypeError:
    """The ``TypeError`` for ``require_scopes`` on a handler that takes no
    Starlette request (*found*: the connection class it takes, if any),
    saying what to use instead."""
    what = f"takes a {found}" if found else "has no 'request' or 'websocket' parameter"
    return TypeError(
        f"{name}: {getattr(func, '__qualname__', func)!r} {what}: jwt_guard.asgi.{name} decorates Starlette and "
        "FastAPI endpoints only. With Quart, Litestar or another ASGI framework, wrap the application in "
        "jwt_guard.asgi.JWTGuardMiddleware and check the token of the ASGI scope in the handler with "
        "jwt_guard.asgi.scope_refusal(request.scope, 'scope', ...) (recipes in docs/frameworks.md); "
        "with FastAPI dependencies, use Security(JWTBearer(...), scopes=[...])"
    )
