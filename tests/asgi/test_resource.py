"""RFC 9728 protected resource metadata through the ASGI middleware
(Starlette): the document at its well-known path, public and readable
cross-origin, odd paths and methods, ``resource_metadata`` in every
challenge, route scopes, and the audience rule at construction."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint, WebSocketEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Host, Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwt_guard import ConfigurationError, InsufficientScope, ProtectedResource, Verifier
from jwt_guard._auth_syntax import parse_challenges
from jwt_guard.asgi import JWTGuardMiddleware, require_any_scope, require_auth, require_scopes
from tests.asgi.conftest import asgi_client, bearer, run_websocket, serve

pytestmark = pytest.mark.anyio

RESOURCE = "https://api.example.test/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
METADATA_URL = "https://api.example.test" + METADATA_PATH


@require_scopes("read")
async def read(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@require_any_scope("write", "admin")
def write(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@require_auth(scopes=["admin"], acr_values=["mfa"], max_age=300)
async def admin(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


class Items(HTTPEndpoint):
    @require_scopes("items:read")
    async def get(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @require_scopes("items:write")
    async def post(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})


class Chat(WebSocketEndpoint):
    @require_scopes("chat")
    async def on_connect(self, websocket: WebSocket) -> None:
        await websocket.accept()


@require_scopes("ws")
async def ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.close()


async def open_route(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def routes() -> list[Any]:
    return [
        Route("/read", read),
        Route("/write", write, methods=["POST"]),
        Route("/admin", admin),
        Route("/items", Items),
        Route("/open", open_route),
        WebSocketRoute("/ws", ws),
        WebSocketRoute("/chat", Chat),
    ]


def resource(**options: Any) -> ProtectedResource:
    options.setdefault("resource", RESOURCE)
    options.setdefault("authorization_servers", ["https://issuer.example.test/"])
    return ProtectedResource(**options)


@pytest.fixture
def verifier(make_verifier) -> Verifier:
    return make_verifier(audience=RESOURCE)


@pytest.fixture
def app(verifier) -> Starlette:
    return Starlette(
        routes=routes(), middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource())]
    )


def params(response: Any) -> dict[str, str]:
    [(scheme, values)] = parse_challenges(response.headers["www-authenticate"])
    assert scheme == "Bearer"
    return values


# -- the document ---------------------------------------------------------------------------------


async def test_metadata_is_served_without_a_token(app):
    async with asgi_client(app) as client:
        response = await client.get(METADATA_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert "www-authenticate" not in response.headers
    assert response.json() == {
        "resource": RESOURCE,
        "authorization_servers": ["https://issuer.example.test/"],
        "scopes_supported": ["read", "write", "admin", "items:read", "items:write", "ws", "chat"],
        "bearer_methods_supported": ["header"],
    }


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer not-a-token", id="invalid-token"),
        pytest.param("Bearer a b", id="malformed"),
        pytest.param("Basic dXNlcjpwYXNz", id="other-scheme"),
    ],
)
async def test_credentials_are_never_read_for_the_metadata(app, authorization):
    async with asgi_client(app) as client:
        response = await client.get(METADATA_PATH, headers={"authorization": authorization})
    assert response.status_code == 200 and response.json()["resource"] == RESOURCE


async def test_metadata_is_public_even_on_excluded_paths_and_optional_mode(verifier):
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource(), optional=True, exclude_paths=["/"])
        ],
    )
    async with asgi_client(app) as client:
        response = await client.get(METADATA_PATH)
    assert response.status_code == 200


async def test_cors_preflight(app):
    async with asgi_client(app) as client:
        response = await client.options(
            METADATA_PATH,
            headers={
                "origin": "https://client.example",
                "access-control-request-method": "GET",
                "access-control-request-headers": "mcp-protocol-version",
            },
        )
    assert response.status_code == 204
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "GET, HEAD, OPTIONS"
    assert response.headers["access-control-allow-headers"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_head_has_the_get_headers_and_no_body(app):
    async with asgi_client(app) as client:
        get = await client.get(METADATA_PATH)
        head = await client.head(METADATA_PATH)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "TRACE"])
async def test_other_methods_are_405(app, method):
    async with asgi_client(app) as client:
        response = await client.request(method, METADATA_PATH)
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, OPTIONS"
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.json() == {"error": "method_not_allowed"}


async def test_query_string_is_ignored(app):
    async with asgi_client(app) as client:
        response = await client.get(METADATA_PATH + "?x=1&access_token=abc")
    assert response.status_code == 200


async def test_query_tokens_are_advertised_when_accepted(verifier):
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource(), allow_query_token=True)],
    )
    async with asgi_client(app) as client:
        response = await client.get(METADATA_PATH)
    assert response.json()["bearer_methods_supported"] == ["header", "query"]


# -- odd paths, through a raw ASGI scope (as a server hands it over) --------------------------------


async def call(app: Any, method: str, raw_path: bytes, path: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request straight into *app*; ``path`` defaults to the decoded *raw_path*."""
    from urllib.parse import unquote

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "server": ("api.example.test", 443),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": unquote(raw_path.decode("latin-1")) if path is None else path,
        "raw_path": raw_path,
        "query_string": b"",
        "headers": [(b"host", b"api.example.test")],
        "state": {},
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    return start["status"], headers, b"".join(m.get("body", b"") for m in sent[1:])


ODD_PATHS = [
    pytest.param(b"/.well-known/oauth-protected-resource/mcp/", 404, id="trailing-slash"),
    pytest.param(b"/.well-known/oauth-protected-resource/mcp//", 404, id="two-trailing-slashes"),
    pytest.param(b"/.well-known/oauth-protected-resource/../x", 404, id="dot-dot-then-other"),
    pytest.param(b"/.well-known/oauth-protected-resource/../oauth-protected-resource/mcp", 404, id="dot-dot-back"),
    pytest.param(b"/.well-known/oauth-protected-resource/./mcp", 404, id="dot"),
    pytest.param(b"/.well-known/oauth-protected-resource%2Fmcp", 404, id="encoded-slash"),
    pytest.param(b"/.well-known/oauth-protected-resource%2fmcp", 404, id="encoded-slash-lowercase"),
    pytest.param(b"/.well-known%2Foauth-protected-resource/mcp", 404, id="encoded-slash-earlier"),
    pytest.param(b"/%2Ewell-known/oauth-protected-resource/mcp", 404, id="encoded-dot"),
    pytest.param(b"//.well-known/oauth-protected-resource/mcp", 404, id="leading-double-slash"),
    pytest.param(b"/.well-known//oauth-protected-resource/mcp", 404, id="inner-double-slash"),
    pytest.param(b"/.well-known/oauth-protected-resource", 404, id="namespace-root"),
    pytest.param(b"/.well-known/oauth-protected-resource/", 404, id="namespace-root-slash"),
    pytest.param(b"/.well-known/oauth-protected-resource/mcp/x", 404, id="below"),
    pytest.param(b"/.well-known/oauth-protected-resource/MCP", 404, id="case"),
    pytest.param(b"/.well-known/oauth-protected-resource/mcp%00", 404, id="nul"),
    pytest.param(b"/.well-known/oauth-protected-resource/%ff", 404, id="not-utf8"),
    pytest.param(b"/.well-known/oauth-protected-resource/" + b"a" * 10_000, 404, id="very-long"),
    pytest.param(b"/.WELL-KNOWN/oauth-protected-resource/mcp", 401, id="other-case-is-the-app"),
    pytest.param(b"/.well-known/oauth-protected-resourcex", 401, id="longer-name-is-the-app"),
    pytest.param(b"/open", 401, id="app-route"),
]


@pytest.mark.parametrize(("raw_path", "status"), ODD_PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
async def test_odd_paths_are_answered_predictably(app, raw_path, status, method):
    """Inside the namespace: 404 for any other spelling, whatever the method,
    never the application and never the document; outside: the application
    behind authentication (401 without a token)."""
    code, headers, body = await call(app, method, raw_path)
    assert code == status
    if status == 404:
        assert json.loads(body) == {"error": "not_found"} and headers["access-control-allow-origin"] == "*"
    else:
        assert headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA_URL}"'


async def test_methods_are_case_sensitive(app):
    """RFC 9110 §9.1: ``get`` is not GET."""
    code, headers, _ = await call(app, "get", METADATA_PATH.encode())
    assert code == 405 and headers["allow"] == "GET, HEAD, OPTIONS"


async def test_decoded_path_without_raw_path(app):
    """A server without ``raw_path``: the decoded path is matched (an encoded
    slash then looks like a slash)."""
    scope_path = "/.well-known/oauth-protected-resource/mcp"
    code, _, body = await call(app, "GET", b"", path=scope_path)
    assert code == 200 and json.loads(body)["resource"] == RESOURCE


def raw_request(port: int, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Send *target* byte for byte (no client-side normalisation) over a real socket."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def test_odd_paths_over_uvicorn(make_verifier):
    """The same answers from a real server, which hands the target over unnormalised."""
    verifier = make_verifier(audience=RESOURCE)
    app = Starlette(
        routes=routes(), middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource())]
    )
    with serve(app) as server:
        assert raw_request(server.port, METADATA_PATH)[0] == 200
        assert json.loads(raw_request(server.port, METADATA_PATH)[1])["resource"] == RESOURCE
        for target in (
            "/.well-known/oauth-protected-resource/../x",
            "/.well-known/oauth-protected-resource%2Fmcp",
            "/.well-known/oauth-protected-resource/mcp/",
            "//.well-known/oauth-protected-resource/mcp",
        ):
            for method in ("GET", "HEAD", "OPTIONS", "POST"):
                assert raw_request(server.port, target, method)[0] == 404, (target, method)
        assert raw_request(server.port, METADATA_PATH, "POST")[0] == 405
        assert raw_request(server.port, METADATA_PATH, "OPTIONS")[0] == 204
        assert raw_request(server.port, "/open")[0] == 401


# -- resource_metadata in every challenge ---------------------------------------------------------


async def test_every_refusal_points_to_the_metadata(app, issuer):
    read_only = issuer.token(aud=RESOURCE, scope="read")
    async with asgi_client(app) as client:
        missing = await client.get("/read")
        invalid = await client.get("/read", headers=bearer("not.a.token"))
        malformed = await client.get("/read", headers={"authorization": "Bearer a b"})
        wrong_audience = await client.get("/read", headers=bearer(issuer.token(scope="read")))
        forbidden = await client.post("/write", headers=bearer(read_only))
    assert missing.status_code == 401 and params(missing) == {"resource_metadata": METADATA_URL}
    assert invalid.status_code == 401 and params(invalid)["error"] == "invalid_token"
    assert malformed.status_code == 400 and params(malformed)["error"] == "invalid_request"
    assert wrong_audience.status_code == 401 and params(wrong_audience)["error"] == "invalid_token"
    assert forbidden.status_code == 403
    for response in (missing, invalid, malformed, wrong_audience, forbidden):
        assert params(response)["resource_metadata"] == METADATA_URL


async def test_a_403_names_only_the_scopes_of_the_operation(app, issuer):
    """Not every scope of the API (scopes_supported), only what this endpoint needs."""
    token = issuer.token(aud=RESOURCE, scope="read")
    async with asgi_client(app) as client:
        post_items = await client.post("/items", headers=bearer(token))
        get_items = await client.get("/items", headers=bearer(token))
        write = await client.post("/write", headers=bearer(token))
    assert post_items.status_code == get_items.status_code == 403
    assert params(post_items)["scope"] == "items:write"
    assert params(get_items)["scope"] == "items:read"
    assert params(write)["scope"] == "write admin"
    assert post_items.json()["scope"] == "items:write"


async def test_step_up_challenge_points_to_the_metadata(app, issuer, clock):
    weak = issuer.token(aud=RESOURCE, scope="admin", acr="pwd", auth_time=int(clock()))
    strong = issuer.token(aud=RESOURCE, scope="admin", acr="mfa", auth_time=int(clock()) - 10)
    async with asgi_client(app) as client:
        refused = await client.get("/admin", headers=bearer(weak))
        admitted = await client.get("/admin", headers=bearer(strong))
    assert refused.status_code == 401
    assert params(refused) == {
        "error": "insufficient_user_authentication",
        "error_description": "a different authentication level is required",
        "acr_values": "mfa",
        "max_age": "300",
        "resource_metadata": METADATA_URL,
    }
    assert admitted.status_code == 200


async def test_websocket_denial_points_to_the_metadata(app):
    result = await run_websocket(app, "/ws")
    assert result.denial is not None
    status, headers, _ = result.denial
    assert status == 401
    assert headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA_URL}"'


async def test_websocket_handshakes_never_get_the_document(app):
    """The metadata is HTTP only: a WebSocket to that path is authenticated like any other."""
    result = await run_websocket(app, METADATA_PATH)
    assert result.denial is not None and result.denial[0] == 401


# -- the audience rule at construction ----------------------------------------------------------


@pytest.mark.parametrize(
    ("audience", "identifier", "message"),
    [
        pytest.param(RESOURCE, RESOURCE + "/", "differs only by a trailing slash", id="resource-slash"),
        pytest.param(RESOURCE + "/", RESOURCE, "differs only by a trailing slash", id="audience-slash"),
        pytest.param("https://api.example.test", RESOURCE, "not one of the verifier's audiences", id="origin"),
    ],
)
def test_resource_must_be_one_of_the_audiences(make_verifier, audience, identifier, message):
    async def app(scope, receive, send):  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ConfigurationError, match=message):
        JWTGuardMiddleware(app, verifier=make_verifier(audience=audience), resource=resource(resource=identifier))


async def test_trailing_slash_resource_is_served_at_its_own_path(make_verifier):
    verifier = make_verifier(audience=[RESOURCE + "/"])
    app = Starlette(
        routes=routes(),
        middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource(resource=RESOURCE + "/"))],
    )
    async with asgi_client(app) as client:
        with_slash = await client.get(METADATA_PATH + "/")
        without = await client.get(METADATA_PATH)
        refused = await client.get("/read")
    assert with_slash.status_code == 200 and with_slash.json()["resource"] == RESOURCE + "/"
    assert without.status_code == 404
    assert params(refused)["resource_metadata"] == METADATA_URL + "/"


def test_resource_must_be_a_protected_resource(verifier):
    async def app(scope, receive, send):  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ConfigurationError, match="ProtectedResource"):
        JWTGuardMiddleware(app, verifier=verifier, resource=RESOURCE)  # type: ignore[arg-type]


# -- scopes_supported from the routes ---------------------------------------------------------


async def scopes_of(app: Any) -> list[str] | None:
    async with asgi_client(app) as client:
        response = await client.get(METADATA_PATH)
    assert response.status_code == 200
    return response.json().get("scopes_supported")


async def test_explicit_scopes_win(verifier):
    app = Starlette(
        routes=routes(),
        middleware=[
            Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource(scopes_supported=["mcp:tools"]))
        ],
    )
    assert await scopes_of(app) == ["mcp:tools"]


async def test_mounted_and_hosted_applications_are_walked(verifier):
    @require_scopes("inner")
    async def inner(request: Request) -> JSONResponse:
        return JSONResponse({})

    @require_scopes("hosted")
    async def hosted(request: Request) -> JSONResponse:
        return JSONResponse({})

    sub = Starlette(routes=[Route("/inner", inner)])
    app = Starlette(
        routes=[
            Route("/read", read),
            Mount("/sub", app=sub),
            Mount("/deeper", routes=[Mount("/again", routes=[Route("/x", inner)])]),
            Host("admin.example.test", app=Starlette(routes=[Route("/h", hosted)])),
        ],
        middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, resource=resource())],
    )
    assert await scopes_of(app) == ["read", "inner", "hosted"]


async def test_routes_added_after_the_middleware_are_counted(verifier):
    """The scopes are read at the first metadata request, not when the middleware is built."""
    app = Starlette(routes=[Route("/read", read)])
    wrapped = JWTGuardMiddleware(app, verifier=verifier, resource=resource())

    @require_scopes("late")
    async def late(request: Request) -> JSONResponse:
        return JSONResponse({})

    app.router.routes.append(Route("/late", late))
    assert await scopes_of(wrapped) == ["read", "late"]


async def test_each_application_lists_its_own_scopes(verifier):
    """No process-wide registry: two applications, two lists."""
    first = Starlette(routes=[Route("/read", read)])
    second = Starlette(routes=[Route("/write", write)])
    assert await scopes_of(JWTGuardMiddleware(first, verifier=verifier, resource=resource())) == ["read"]
    assert await scopes_of(JWTGuardMiddleware(second, verifier=verifier, resource=resource())) == ["write", "admin"]


async def test_no_decorated_route_leaves_scopes_out(verifier):
    app = Starlette(routes=[Route("/open", open_route)])
    assert await scopes_of(JWTGuardMiddleware(app, verifier=verifier, resource=resource())) is None


async def test_a_cyclic_application_graph_is_walked_once(verifier):
    class Loop:
        def __init__(self) -> None:
            self.app: Any = self
            self.routes = [Route("/read", read)]

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
            raise AssertionError

    assert await scopes_of(JWTGuardMiddleware(Loop(), verifier=verifier, resource=resource())) == ["read"]


async def test_scopes_of_starlette_requires_are_not_guessed(verifier):
    """Starlette's own ``@requires`` records nothing jwt_guard can read: only jwt_guard decorators count."""
    from starlette.authentication import requires

    @requires("starlette-scope")
    async def guarded(request: Request) -> JSONResponse:
        return JSONResponse({})

    app = Starlette(routes=[Route("/g", guarded), Route("/read", read)])
    assert await scopes_of(JWTGuardMiddleware(app, verifier=verifier, resource=resource())) == ["read"]


def test_decorators_record_their_requirements():
    [requirement] = read.jwt_guard_requirements
    assert requirement.scopes == ("read",)
    [step_up] = admin.jwt_guard_requirements
    assert (step_up.scopes, step_up.acr_values, step_up.max_age) == (("admin",), ("mfa",), 300)
    assert Items.post.jwt_guard_requirements[0].scopes == ("items:write",)


async def test_insufficient_scope_from_the_middleware_layer_is_the_operations(app, issuer):
    token = issuer.token(aud=RESOURCE, scope="items:read")
    async with asgi_client(app) as client:
        response = await client.get("/read", headers=bearer(token))
    expected = InsufficientScope(["read"])
    assert params(response)["scope"] == " ".join(expected.required_scopes)
