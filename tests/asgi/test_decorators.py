"""require_scopes / require_any_scope on every kind of Starlette endpoint."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwt_guard import InsufficientScope, MissingToken, render_error
from jwt_guard.asgi import JWTGuardMiddleware, require_any_scope, require_scopes
from jwt_guard.testing import SigningKey
from tests.asgi.conftest import REALM, asgi_client, assert_challenge, bearer, run_websocket

pytestmark = pytest.mark.anyio


@require_scopes("read")
async def async_view(request: Request) -> Response:
    return PlainTextResponse("async")


@require_scopes("read")
def sync_view(request: Request) -> Response:
    return PlainTextResponse("sync")


@require_scopes("read")
async def annotated_view(conn: Request) -> Response:
    """Found by its annotation, not its name."""
    return PlainTextResponse("annotated")


class Endpoint(HTTPEndpoint):
    @require_scopes("read")
    async def get(self, request: Request) -> Response:
        return PlainTextResponse("endpoint-get")

    @require_scopes("read")
    def post(self, request: Request) -> Response:
        return PlainTextResponse("endpoint-post")


@require_any_scope("read", "admin")
async def any_view(request: Request) -> Response:
    return PlainTextResponse("any")


@require_scopes("read", "write")
async def all_view(request: Request) -> Response:
    return PlainTextResponse("all")


@require_scopes("read")
async def ws_view(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("ws-function")
    await websocket.close()


class WSEndpoint(WebSocketEndpoint):
    encoding = "text"

    @require_scopes("read")
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("ws-endpoint")
        await websocket.close()


class WSAfterAccept(WebSocketEndpoint):
    """The scope is checked per message, after the connection was accepted."""

    encoding = "text"

    @require_scopes("write")
    async def on_receive(self, websocket: WebSocket, data: Any) -> None:
        await websocket.send_text(f"echo {data}")


ROUTES = [
    Route("/async", async_view),
    Route("/sync", sync_view),
    Route("/annotated", annotated_view),
    Route("/endpoint", Endpoint, methods=["GET", "POST"]),
    Route("/any", any_view),
    Route("/all", all_view),
    WebSocketRoute("/ws-function", ws_view),
    WebSocketRoute("/ws-endpoint", WSEndpoint),
    WebSocketRoute("/ws-after-accept", WSAfterAccept),
]


def make(verifier: Any, **options: Any) -> Starlette:
    options.setdefault("realm", REALM)
    options.setdefault("optional", True)  # so that anonymous requests reach the decorators
    return Starlette(routes=ROUTES, middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, **options)])


def _token(issuer: Any, case: str) -> str | None:
    if case == "none":
        return None
    if case == "forged":
        return issuer.token(scope="read", key=SigningKey("RS256", kid=issuer.signing_key.kid))
    return issuer.token(scope={"no-scope": "other", "scoped": "read"}[case])


CASES = [
    pytest.param("none", 401, id="no-token-401"),
    pytest.param("forged", 401, id="forged-token-401-never-403"),
    pytest.param("no-scope", 403, id="valid-without-scope-403"),
    pytest.param("scoped", 200, id="valid-with-scope-200"),
]


@pytest.mark.parametrize("case, status", CASES)
@pytest.mark.parametrize(
    ("method", "path", "text"),
    [
        pytest.param("GET", "/async", "async", id="async-function"),
        pytest.param("GET", "/sync", "sync", id="sync-function"),
        pytest.param("GET", "/annotated", "annotated", id="annotated-parameter"),
        pytest.param("GET", "/endpoint", "endpoint-get", id="httpendpoint-async-method"),
        pytest.param("POST", "/endpoint", "endpoint-post", id="httpendpoint-sync-method"),
    ],
)
async def test_http_endpoints(issuer, make_verifier, method, path, text, case, status):
    token = _token(issuer, case)
    async with asgi_client(make(make_verifier())) as client:
        response = await client.request(method, path, headers=bearer(token) if token else {})
    assert response.status_code == status
    if status == 200:
        assert response.text == text
    elif status == 403:
        assert_challenge(response, InsufficientScope(["read"]))
    elif case == "none":
        assert_challenge(response, MissingToken())
    else:
        assert json.loads(response.content)["error"] == "invalid_token"


@pytest.mark.parametrize("case, status", CASES)
@pytest.mark.parametrize("path", ["/ws-function", "/ws-endpoint"])
@pytest.mark.parametrize("denial", [True, False], ids=["denial-response", "close-1008"])
async def test_websocket_endpoints(issuer, make_verifier, path, case, status, denial):
    token = _token(issuer, case)
    run = await run_websocket(
        make(make_verifier()), path, headers=[("Authorization", f"Bearer {token}")] if token else [], denial=denial
    )
    if status == 200:
        assert run.accepted
        assert run.texts() == [path.lstrip("/")]
        return
    assert not run.accepted
    if denial:
        assert run.denial is not None
        assert run.denial[0] == status
        assert run.denial[1]["www-authenticate"].startswith('Bearer realm="api"')
    else:
        assert run.close is not None
        assert run.close["code"] == 1008


async def test_websocket_scope_failure_after_accept_closes_1008(issuer, make_verifier):
    run = await run_websocket(
        make(make_verifier()),
        "/ws-after-accept",
        headers=[("Authorization", f"Bearer {issuer.token(scope='read')}")],
        client_messages=[{"type": "websocket.receive", "text": "hi"}],
    )
    assert run.accepted
    assert run.close is not None and run.close["code"] == 1008
    assert run.texts() == []


async def test_websocket_scope_after_accept_passes_with_scope(issuer, make_verifier):
    run = await run_websocket(
        make(make_verifier()),
        "/ws-after-accept",
        headers=[("Authorization", f"Bearer {issuer.token(scope='write')}")],
        client_messages=[{"type": "websocket.receive", "text": "hi"}, {"type": "websocket.disconnect", "code": 1000}],
    )
    assert run.texts() == ["echo hi"]


@pytest.mark.parametrize(
    ("path", "scope", "status"),
    [
        pytest.param("/any", "read", 200, id="any-first"),
        pytest.param("/any", "admin", 200, id="any-second"),
        pytest.param("/any", "write", 403, id="any-none"),
        pytest.param("/all", "read write", 200, id="all-both"),
        pytest.param("/all", "read", 403, id="all-one-missing"),
    ],
)
async def test_all_and_any_of(issuer, make_verifier, path, scope, status):
    async with asgi_client(make(make_verifier())) as client:
        response = await client.get(path, headers=bearer(issuer.token(scope=scope)))
    assert response.status_code == status
    if status == 403:
        needed = {"/any": "read admin", "/all": "read write"}[path]
        assert response.headers["www-authenticate"].endswith(f'scope="{needed}"')


async def test_without_middleware_every_request_is_401(issuer):
    """Decorators trust only the middleware's verified token, never a header."""
    app = Starlette(routes=ROUTES)
    async with asgi_client(app) as client:
        response = await client.get("/async", headers=bearer(issuer.token(scope="read")))
    assert response.status_code == 401
    assert response.content == render_error(MissingToken()).body


async def test_request_auth_from_another_middleware_is_not_trusted(issuer):
    """Scopes in request.auth (set by anyone) do not satisfy require_scopes."""
    from starlette.authentication import AuthCredentials, SimpleUser

    async def fake_auth(scope: Any, receive: Any, send: Any) -> None:
        scope["auth"] = AuthCredentials(["read"])
        scope["user"] = SimpleUser("mallory")
        await Starlette(routes=ROUTES)(scope, receive, send)

    async with asgi_client(fake_auth) as client:
        response = await client.get("/async")
    assert response.status_code == 401


async def test_called_with_keyword_request(issuer, make_verifier):
    """The connection is found when passed by keyword too."""
    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    response = await async_view(request=Request(scope))
    assert response.status_code == 401


# -- decoration-time errors ------------------------------------------------------------


def test_missing_connection_parameter_fails_at_decoration():
    with pytest.raises(TypeError, match="no 'request' or 'websocket' parameter"):

        @require_scopes("read")
        async def view(conn: Any) -> None: ...


def test_sync_websocket_endpoint_fails_at_decoration():
    with pytest.raises(TypeError, match="must be async"):

        @require_scopes("read")
        def view(websocket: WebSocket) -> None: ...


@pytest.mark.parametrize(
    ("args", "exception"),
    [
        pytest.param((), TypeError, id="no-scopes"),
        pytest.param((3,), TypeError, id="not-a-string"),
        pytest.param(("",), ValueError, id="empty-scope"),
        pytest.param(("read write",), ValueError, id="space-in-scope"),
    ],
)
def test_bad_scopes_fail_at_decoration(args, exception):
    """TypeError for misuse, ValueError for a string that is not a scope token (as in jwt_guard.wsgi)."""
    with pytest.raises(exception):
        require_scopes(*args)
    with pytest.raises(exception):
        require_any_scope(*args)


def test_bare_decorator_use_fails_at_decoration():
    with pytest.raises(TypeError, match=r"use @require_scopes\('scope'\)"):

        @require_scopes  # type: ignore[arg-type]
        async def view(request: Request) -> None: ...


def test_wraps_preserves_metadata_and_kind():
    assert async_view.__name__ == "async_view"
    assert async_view.__wrapped__ is not None  # type: ignore[attr-defined]
    assert inspect.iscoroutinefunction(async_view)
    assert not inspect.iscoroutinefunction(sync_view)
    assert inspect.iscoroutinefunction(ws_view)
    assert annotated_view.__doc__ == "Found by its annotation, not its name."
    assert list(inspect.signature(Endpoint.get).parameters) == ["self", "request"]


async def test_wrong_argument_type_at_call_time():
    with pytest.raises(TypeError, match="expected a Starlette Request"):
        await async_view("not a request")  # type: ignore[arg-type]


async def test_decorator_answers_with_the_middlewares_realm_and_json(issuer, make_verifier):
    async with asgi_client(make(make_verifier(), realm="other")) as client:
        response = await client.get("/async", headers=bearer(issuer.token(scope="x")))
    assert_challenge(response, InsufficientScope(["read"]), realm="other")


async def test_decorator_without_middleware_on_sync_endpoint(issuer):
    app = Starlette(routes=[Route("/sync", sync_view)])
    async with asgi_client(app) as client:
        response = await client.get("/sync")
    assert_challenge(response, MissingToken(), realm=None)


async def test_json_response_endpoint_untouched_on_success(issuer, make_verifier):
    @require_scopes("read")
    async def view(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/", view)], middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier())])
    async with asgi_client(app) as client:
        response = await client.get("/", headers=bearer(issuer.token(scope="read")))
    assert response.json() == {"ok": True}


# -- the typed accessor, the refusal helper, and other ASGI frameworks ----------------


async def test_require_access_token(issuer, make_verifier):
    """The token inside an endpoint; for a request without one, MissingToken,
    which Starlette answers 401 with the middleware's challenge headers."""
    from jwt_guard.asgi import TokenRequired, require_access_token

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": require_access_token(request).subject})

    app = Starlette(
        routes=[Route("/me", me)],
        middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier(), realm=REALM, optional=True)],
    )
    async with asgi_client(app) as client:
        granted = await client.get("/me", headers=bearer(issuer.token(sub="ada")))
        anonymous = await client.get("/me")
    assert granted.json() == {"sub": "ada"}
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
    assert anonymous.headers["cache-control"] == "no-store"
    with pytest.raises(MissingToken) as raised:
        require_access_token({"type": "http"})
    assert isinstance(raised.value, TokenRequired) and raised.value.status_code == 401
    assert raised.value.headers == {"www-authenticate": "Bearer", "cache-control": "no-store"}


async def test_require_access_token_under_fastapi(issuer, make_verifier):
    from fastapi import FastAPI

    from jwt_guard.asgi import require_access_token

    app = FastAPI()
    app.add_middleware(JWTGuardMiddleware, verifier=make_verifier(), optional=True)

    @app.get("/me")
    async def me(request: Request) -> dict[str, Any]:
        return {"sub": require_access_token(request).subject}

    async with asgi_client(app) as client:
        anonymous = await client.get("/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json() == {"detail": MissingToken.description}


@pytest.mark.parametrize(
    ("scope", "any_of", "status"),
    [
        pytest.param(None, False, 401, id="anonymous"),
        pytest.param("read", False, 403, id="one-of-two"),
        pytest.param("read", True, None, id="one-is-enough"),
        pytest.param("read write", False, None, id="both"),
    ],
)
async def test_scope_refusal(issuer, make_verifier, scope, any_of, status):
    """What the decorators decide, as a Challenge, for frameworks they cannot decorate."""
    from jwt_guard.asgi import scope_refusal

    seen: list[Any] = []

    async def app(scope_: Any, receive: Any, send: Any) -> None:
        seen.append(scope_refusal(scope_, "read", "write", any_of=any_of))
        await PlainTextResponse("ok")(scope_, receive, send)

    guarded = JWTGuardMiddleware(app, verifier=make_verifier(), realm=REALM, optional=True)
    headers = bearer(issuer.token(scope=scope)) if scope else {}
    async with asgi_client(guarded) as client:
        await client.get("/", headers=headers)
    if status is None:
        assert seen == [None]
        return
    expected = MissingToken() if status == 401 else InsufficientScope(["read", "write"])
    assert seen == [render_error(expected, realm=REALM)]


def test_scope_refusal_checks_scope_names():
    from jwt_guard.asgi import scope_refusal

    with pytest.raises(ValueError, match="not a scope token"):
        scope_refusal({}, "read write")


class _LitestarLikeRequest:
    """Stands for another framework's request class (not a Starlette one)."""


_LitestarLikeRequest.__name__ = "Request"
_LitestarLikeRequest.__qualname__ = "Request"
_LitestarLikeRequest.__module__ = "litestar.connection.request"


@pytest.mark.parametrize(
    ("make", "found"),
    [
        pytest.param(lambda: lambda request: None, None, id="request-without-annotation-is-starlettes"),
        pytest.param(
            lambda: _annotated(_LitestarLikeRequest), "takes a litestar.connection.request.Request", id="litestar"
        ),
        pytest.param(lambda: _no_argument, "has no 'request' or 'websocket' parameter", id="quart-style"),
    ],
)
def test_handlers_of_other_frameworks_are_refused_naming_what_to_use(make, found):
    view = make()
    if found is None:
        require_scopes("read")(view)
        return
    with pytest.raises(TypeError) as raised:
        require_scopes("read")(view)
    message = str(raised.value)
    assert found in message
    assert "JWTGuardMiddleware" in message and "scope_refusal" in message and "docs/frameworks.md" in message


def _annotated(cls: type) -> Any:
    async def handler(request: cls) -> None:  # type: ignore[valid-type]
        return None

    handler.__annotations__ = {"request": cls, "return": None}
    return handler


async def _no_argument() -> str:
    return "ok"
