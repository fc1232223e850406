"""The ASGI adapter's endpoint decorators: :func:`require_scopes`,
:func:`require_any_scope` and :func:`require_auth` on Starlette endpoints
(async and sync functions, ``HTTPEndpoint`` and ``WebSocketEndpoint``
methods). The requirement itself is the request layer's
(:class:`~jwt_guard._endpoint.Requirement`); this module finds the
connection among the endpoint's arguments and answers through the
middleware's responder."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketState

from jwt_guard._asgi_access import foreign_connection, other_framework
from jwt_guard._asgi_answer import challenge_response, deny
from jwt_guard._challenge import Challenge
from jwt_guard._endpoint import EndpointCheck, Requirement, argument, is_async, read_signature, record_requirement
from jwt_guard._responder import responder_of
from jwt_guard.errors import JWTGuardError

__all__ = ["require_any_scope", "require_auth", "require_scopes"]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def require_scopes(*scopes: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Require a verified token granting **all** of *scopes*.

    Decorates Starlette endpoints: async and sync functions, ``HTTPEndpoint``
    methods, WebSocket functions and ``WebSocketEndpoint`` methods. The
    endpoint needs a ``request`` or ``websocket`` parameter (or one annotated
    with a Starlette connection type). Mistakes fail at decoration time, as
    in :func:`jwt_guard.wsgi.require_scopes`: ``TypeError`` without such a
    parameter, without parentheses, without scopes or for a scope that is
    not a string; ``ValueError`` for a string that is not an RFC 6749 §3.3
    scope token.

    Without a verified token the endpoint answers 401; with one lacking a
    scope, 403 ``insufficient_scope`` naming the scopes. Answers are rendered
    like the middleware's (its :class:`~jwt_guard.Responder`: same realm and
    ``on_error``). A WebSocket that fails is refused with a denial response
    (before accept, when the server supports it) or closed with 1008.

    .. warning::
       Scopes are read only from the token verified by
       :class:`JWTGuardMiddleware` (or the FastAPI dependency); install the
       middleware in front of decorated endpoints, otherwise every request is
       refused with 401 (and a warning is logged once per endpoint).
    """
    return _scope_decorator(Requirement.for_decorator("require_scopes", scopes, any_of=False), "require_scopes")


def require_any_scope(*scopes: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Like :func:`require_scopes`, but **one** of *scopes* is enough."""
    return _scope_decorator(Requirement.for_decorator("require_any_scope", scopes, any_of=True), "require_any_scope")


def require_auth(
    *misuse: Any, scopes: Iterable[str] = (), acr_values: Iterable[str] | None = None, max_age: int | None = None
) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    """Require a verified token granting *scopes* whose ``acr`` is one of
    *acr_values* and whose ``auth_time`` is at most *max_age* seconds old
    (RFC 9470 step-up; the verifier's clock and leeway). Otherwise 401
    ``insufficient_user_authentication`` with ``acr_values``/``max_age``.
    Stacks with :func:`require_scopes`; the rest is as for it (see also
    :func:`jwt_guard.wsgi.require_auth`)."""
    requirement = Requirement.for_step_up("require_auth", misuse, scopes=scopes, acr_values=acr_values, max_age=max_age)
    return _scope_decorator(requirement, "require_auth")


def _scope_decorator(requirement: Requirement, name: str) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
    def decorate(func: Callable[_P, _R]) -> Callable[_P, _R]:
        index, param, kind = _connection_parameter(func, name)
        check = EndpointCheck(requirement, getattr(func, "__qualname__", repr(func)))
        if kind == "websocket":
            if not is_async(func):
                raise TypeError(f"{name}: WebSocket endpoint {func.__qualname__} must be async")
            wrapper = _websocket_wrapper(func, index, param, check)
        elif is_async(func):
            wrapper = _async_wrapper(func, index, param, check)
        else:
            wrapper = _sync_wrapper(func, index, param, check)
        record_requirement(wrapper, requirement)  # read by the metadata's scopes_supported
        return cast(Callable[_P, _R], wrapper)

    return decorate


_CONNECTION_NAMES = {"Request": "http", "HTTPConnection": "http", "WebSocket": "websocket"}


def _annotation_kind(annotation: Any) -> str | None:
    if isinstance(annotation, type) and issubclass(annotation, HTTPConnection):
        return "websocket" if issubclass(annotation, WebSocket) else "http"
    if isinstance(annotation, str):
        return _CONNECTION_NAMES.get(annotation.rpartition(".")[2])
    return None


def _connection_parameter(func: Callable[..., Any], name: str) -> tuple[int, str, str]:
    """(position, name, "http" | "websocket") of the endpoint's connection:
    the first parameter annotated with a Starlette connection type, else the
    one named ``request`` or ``websocket`` (Starlette's convention)."""
    parameters = list(read_signature(func, name).parameters.values())
    for index, parameter in enumerate(parameters):
        kind = _annotation_kind(parameter.annotation)
        if kind is not None:
            return index, parameter.name, kind
        found = foreign_connection(parameter.annotation)  # a Litestar or Quart request, say
        if found is not None:
            raise other_framework(name, func, found)
    for index, parameter in enumerate(parameters):
        if parameter.name in ("request", "websocket"):
            return index, parameter.name, "websocket" if parameter.name == "websocket" else "http"
    raise other_framework(name, func, None)


def _connection(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, param: str) -> HTTPConnection:
    connection = argument(args, kwargs, index, param)
    if not isinstance(connection, HTTPConnection):
        raise TypeError(f"expected a Starlette Request or WebSocket as {param!r}, got {type(connection).__name__}")
    return connection


def _response(error: JWTGuardError, connection: HTTPConnection) -> Response:
    """The answer of the middleware that saw *connection* (its responder)."""
    answer = responder_of(connection.scope).answer(error, connection)
    return challenge_response(answer) if isinstance(answer, Challenge) else cast(Response, answer)


def _async_wrapper(func: Callable[..., Any], index: int, param: str, check: EndpointCheck) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = _connection(args, kwargs, index, param)
        error = check.refusal(request.scope)
        if error is not None:
            return _response(error, request)
        return await func(*args, **kwargs)

    return wrapper


def _sync_wrapper(func: Callable[..., Any], index: int, param: str, check: EndpointCheck) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        request = _connection(args, kwargs, index, param)
        error = check.refusal(request.scope)
        if error is not None:
            return _response(error, request)
        return func(*args, **kwargs)

    return wrapper


def _websocket_wrapper(func: Callable[..., Any], index: int, param: str, check: EndpointCheck) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        websocket = _connection(args, kwargs, index, param)
        error = check.refusal(websocket.scope)
        if error is None:
            return await func(*args, **kwargs)
        if not isinstance(websocket, WebSocket):
            raise TypeError(f"expected a Starlette WebSocket as {param!r}")
        await _refuse_websocket(websocket, error)
        return None

    return wrapper


async def _refuse_websocket(websocket: WebSocket, error: JWTGuardError) -> None:
    responder = responder_of(websocket.scope)
    if websocket.application_state == WebSocketState.CONNECTING:
        if websocket.client_state == WebSocketState.CONNECTING:
            await websocket.receive()  # ASGI: answer the websocket.connect event
        await deny(error, responder, websocket, websocket.receive, websocket.send)
    elif websocket.application_state == WebSocketState.CONNECTED:
        code, reason = responder.close(error)
        await websocket.close(code=code, reason=reason)
