"""The token cookie through the ASGI middleware and the FastAPI dependency: the cross-origin table
sent for real (the application never runs when refused), excluded paths, WebSockets, the Starlette
cookie helpers, OpenAPI, and jwt_guard.testing's cookie helpers."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Security
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwt_guard import AccessToken, CrossOriginRequest, render_error
from jwt_guard.asgi import JWTGuardMiddleware, clear_token_cookie, get_access_token, set_token_cookie
from jwt_guard.fastapi import JWTBearer, install_error_handler
from jwt_guard.testing import clear_token_cookie as clear_client_cookie
from jwt_guard.testing import set_token_cookie as set_client_cookie
from tests.asgi.conftest import asgi_client, assert_challenge, bearer, run_websocket
from tests.support.cookies import API_HOST, CASES, COOKIE, TRUSTED

pytestmark = pytest.mark.anyio

REFUSED = render_error(CrossOriginRequest())


class Counter:
    """A bare ASGI app that counts the requests reaching it (the side effect the check must prevent)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        token = get_access_token(scope)
        self.calls.append({"method": scope["method"], "path": scope["path"], "sub": token.subject if token else None})
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"done"})


async def call(app, method: str, path: str, headers: list[tuple[str, str]], scheme: str = "https") -> tuple[int, bytes]:
    """One request, method spelled as given (httpx would upper-case it)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def guarded(make_verifier, app=None, **options):
    options.setdefault("cookie", COOKIE)
    options.setdefault("trusted_origins", [TRUSTED])
    counter = app or Counter()
    return counter, JWTGuardMiddleware(counter, verifier=make_verifier(), **options)


@pytest.mark.parametrize(("method", "headers", "passes"), CASES)
async def test_the_table_through_the_middleware(issuer, make_verifier, method, headers, passes):
    counter, app = guarded(make_verifier)
    cookie = ("Cookie", f"theme=dark; {COOKIE}={issuer.token(sub='alice')}")
    status, body = await call(app, method, "/notes", [("Host", API_HOST), cookie, *headers])
    if passes:
        assert (status, body) == (200, b"done")
        assert counter.calls == [{"method": method, "path": "/notes", "sub": "alice"}]
    else:
        assert (status, body) == (403, REFUSED.body)
        assert counter.calls == []


@pytest.mark.parametrize(("method", "headers", "passes"), CASES)
async def test_the_table_on_an_excluded_path(issuer, make_verifier, method, headers, passes):
    """An excluded path authenticates nothing, yet a request carrying the cookie is checked there."""
    counter, app = guarded(make_verifier, exclude_paths=["/login"])
    cookie = ("Cookie", f"{COOKIE}={issuer.token()}")
    status, _ = await call(app, method, "/login", [("Host", API_HOST), cookie, *headers])
    assert status == (200 if passes else 403)
    assert len(counter.calls) == (1 if passes else 0)
    if passes:
        assert counter.calls[0]["sub"] is None  # nothing authenticated on an excluded path


@pytest.mark.parametrize(("method", "headers", "passes"), CASES)
async def test_header_tokens_without_the_cookie_are_answered_as_before(issuer, make_verifier, method, headers, passes):
    """RFC 6750 answers for header tokens do not change: no cookie, no check."""
    counter, app = guarded(make_verifier)
    status, _ = await call(app, method, "/notes", [("Host", API_HOST), *bearer(issuer.token()).items(), *headers])
    assert status == 200 and len(counter.calls) == 1
    status, body = await call(app, method, "/notes", [("Host", API_HOST), *headers])
    assert status == 401 and json.loads(body)["error"] == "unauthorized"


async def test_a_header_never_bypasses_the_check(issuer, make_verifier):
    counter, app = guarded(make_verifier)
    headers = [
        ("Host", API_HOST),
        ("Authorization", f"Bearer {issuer.token(sub='mallory')}"),
        ("Cookie", f"{COOKIE}={issuer.token(sub='alice')}"),
        ("Sec-Fetch-Site", "cross-site"),
        ("X-Requested-With", "XMLHttpRequest"),
    ]
    assert (await call(app, "POST", "/notes", headers))[0] == 403
    assert counter.calls == []


async def test_cookie_answers_follow_rfc_6750(issuer, make_verifier):
    """A bad cookie token is a bad token (401 invalid_token), a missing cookie a missing token (401)."""
    _, app = guarded(make_verifier, realm="api")
    async with asgi_client(app) as client:
        client.cookies.set(COOKIE, issuer.token(expires_in=-3600))
        expired = await client.get("/notes")
        assert expired.status_code == 401
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]
        client.cookies.set(COOKIE, "not a token")
        assert (await client.get("/notes")).json()["error"] == "invalid_request"
        client.cookies.clear()
        missing = await client.get("/notes")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_the_refusal_goes_through_on_error(issuer, make_verifier):
    seen: list[Any] = []

    def on_error(error, connection):
        seen.append((type(error), connection.url.path))
        return JSONResponse({"refused": error.status_code}, status_code=error.status_code)

    _, app = guarded(make_verifier, on_error=on_error)
    headers = [("Host", API_HOST), ("Cookie", f"{COOKIE}={issuer.token()}"), ("Sec-Fetch-Site", "same-site")]
    assert await call(app, "PUT", "/notes/1", headers) == (403, b'{"refused":403}')
    assert seen == [(CrossOriginRequest, "/notes/1")]


async def test_the_default_refusal_is_403_json_without_a_challenge(issuer, make_verifier):
    _, app = guarded(make_verifier)
    async with asgi_client(app) as client:
        client.cookies.set(COOKIE, issuer.token())
        response = await client.post("/notes", headers={"Sec-Fetch-Site": "cross-site"})
    assert_challenge(response, REFUSED)
    assert "www-authenticate" not in response.headers


async def test_public_url_behind_a_proxy_that_ends_tls(issuer, make_verifier):
    """The server sees http://api.example.test; browsers use https. An old browser sends only Origin."""
    headers = [("Host", API_HOST), ("Cookie", f"{COOKIE}={issuer.token()}"), ("Origin", f"https://{API_HOST}")]
    counter, plain = guarded(make_verifier)
    assert (await call(plain, "POST", "/notes", headers, scheme="http"))[0] == 403
    counter, behind = guarded(make_verifier, public_url=f"https://{API_HOST}")
    assert (await call(behind, "POST", "/notes", headers, scheme="http"))[0] == 200
    assert len(counter.calls) == 1


# -- WebSockets --------------------------------------------------------------------------------------


async def ws_hello(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"sub": get_access_token(websocket).subject})
    await websocket.close()


@pytest.mark.parametrize(
    ("headers", "accepted"),
    [
        pytest.param([("Origin", "http://testserver"), ("Sec-Fetch-Site", "same-origin")], True, id="same-origin"),
        pytest.param([("Origin", "http://testserver")], True, id="own-origin"),
        pytest.param([], True, id="not-a-browser"),
        pytest.param([("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site")], False, id="cross-site"),
        pytest.param([("Origin", "http://testserver:8080")], False, id="other-port"),
        pytest.param([("Origin", TRUSTED), ("Sec-Fetch-Site", "same-site")], True, id="trusted"),
    ],
)
async def test_websocket_handshakes_with_the_cookie_are_checked(issuer, make_verifier, headers, accepted):
    """Cross-site WebSocket hijacking: the handshake is a GET, but opens a channel both ways."""
    app = Starlette(
        routes=[WebSocketRoute("/ws", ws_hello)],
        middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier(), cookie=COOKIE, trusted_origins=[TRUSTED])],
    )
    cookie = [("Host", "testserver"), ("Cookie", f"{COOKIE}={issuer.token(sub='alice')}")]
    run = await run_websocket(app, headers=[*cookie, *headers])
    assert run.accepted is accepted
    if not accepted:
        assert run.denial is not None and run.denial[0] == 403
        assert json.loads(run.denial[2])["error"] == "cross_origin_request"
        closed = await run_websocket(app, headers=[*cookie, *headers], denial=False)
        assert closed.close is not None and closed.close["code"] == 1008


# -- the Starlette helpers ---------------------------------------------------------------------------


async def login(request: Request) -> Response:
    response = JSONResponse({"ok": True})
    set_token_cookie(response, request.app.state.token, name=COOKIE, request=request, expires_in=300)
    return response


async def logout(request: Request) -> Response:
    response = JSONResponse({"ok": True})
    clear_token_cookie(response, name=COOKIE, request=request)
    return response


async def whoami(request: Request) -> Response:
    token = get_access_token(request)
    return JSONResponse({"sub": token.subject if token else None})


def cookie_app(verifier, token: str) -> Starlette:
    app = Starlette(
        routes=[
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/me", whoami, methods=["GET", "POST"]),
        ],
        middleware=[
            Middleware(JWTGuardMiddleware, verifier=verifier, cookie=COOKIE, exclude_paths=["/login", "/logout"])
        ],
    )
    app.state.token = token
    return app


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [
        pytest.param("https://api.example.test", True, id="https"),
        pytest.param("http://127.0.0.1:8000", False, id="loopback-http"),
        pytest.param("http://localhost:8000", False, id="localhost-http"),
        pytest.param("http://api.example.test", True, id="http-elsewhere"),
    ],
)
async def test_set_token_cookie_on_a_starlette_response(issuer, make_verifier, base_url, secure):
    token = issuer.token(sub="alice", expires_in=300)
    app = cookie_app(make_verifier(), token)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as client:
        response = await client.post("/login")
        expected = f"{COOKIE}={token}; Max-Age=300; Path=/;{' Secure;' if secure else ''} HttpOnly; SameSite=Lax"
        assert response.headers.get_list("set-cookie") == [expected]
        if base_url.startswith("https") or not secure:  # a Secure cookie does not come back over http
            assert (await client.get("/me")).json() == {"sub": "alice"}
            cleared = await client.post("/logout")
            assert cleared.headers["set-cookie"].startswith(f"{COOKIE}=; Max-Age=0; Expires=Thu, 01 Jan 1970")
            assert (await client.get("/me")).status_code == 401


def test_set_token_cookie_without_a_request_is_secure(issuer):
    response = Response()
    set_token_cookie(response, issuer.token(), name=COOKIE, expires_in=60, same_site="strict", path="/api")
    assert response.headers["set-cookie"].endswith("; Max-Age=60; Path=/api; Secure; HttpOnly; SameSite=Strict")
    with pytest.raises(ValueError, match="__Host- cookie"):
        set_token_cookie(response, issuer.token(), name="__Host-at", domain="example.test")


def test_the_testing_helpers_give_a_test_client_the_cookie(issuer, make_verifier):
    app = cookie_app(make_verifier(), "unused")
    client = TestClient(app)
    assert client.get("/me").status_code == 401
    set_client_cookie(client, issuer.token(sub="bob"), name=COOKIE)
    assert client.get("/me").json() == {"sub": "bob"}
    # Test clients are not browsers: no Origin, no Sec-Fetch-Site, so unsafe requests pass...
    assert client.post("/me").json() == {"sub": "bob"}
    # ...unless the test adds them.
    assert client.post("/me", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    clear_client_cookie(client, name=COOKIE)
    assert client.get("/me").status_code == 401
    with pytest.raises(TypeError, match="expected an httpx client"):
        set_client_cookie(object(), "t", name=COOKIE)


async def test_the_testing_helpers_work_with_an_async_client(issuer, make_verifier):
    async with asgi_client(cookie_app(make_verifier(), "unused")) as client:
        set_client_cookie(client, issuer.token(sub="carol"), name=COOKIE)
        assert (await client.get("/me")).json() == {"sub": "carol"}


# -- FastAPI -----------------------------------------------------------------------------------------


def fastapi_app(scheme: JWTBearer) -> FastAPI:
    app = FastAPI()
    install_error_handler(app)
    app.state.calls = 0

    @app.api_route("/notes", methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "DELETE", "PATCH"])
    async def notes(token: AccessToken = Security(scheme, scopes=["notes"])) -> dict[str, Any]:
        app.state.calls += 1
        return {"sub": token.subject}

    return app


@pytest.mark.parametrize(("method", "headers", "passes"), [case for case in CASES if case.values[0].isupper()])
async def test_the_table_through_the_fastapi_dependency(issuer, make_verifier, method, headers, passes):
    scheme = JWTBearer(verifier=make_verifier(), cookie=COOKIE, trusted_origins=[TRUSTED])
    app = fastapi_app(scheme)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"https://{API_HOST}") as client:
        client.cookies.set(COOKIE, issuer.token(scope="notes", sub="alice"))
        response = await client.request(method, "/notes", headers=dict(headers))
    if passes:
        assert response.status_code == 200
        assert app.state.calls == 1
    else:
        assert (response.status_code, response.content) == (403, REFUSED.body)
        assert app.state.calls == 0


async def test_fastapi_header_wins_and_missing_cookie_is_401(issuer, make_verifier):
    scheme = JWTBearer(verifier=make_verifier(), cookie=COOKIE)
    async with asgi_client(fastapi_app(scheme)) as client:
        assert (await client.post("/notes")).status_code == 401
        client.cookies.set(COOKIE, issuer.token(scope="notes", sub="cookie"))
        headers = bearer(issuer.token(scope="notes", sub="header"))
        assert (await client.get("/notes", headers=headers)).json() == {"sub": "header"}
        assert (await client.get("/notes")).json() == {"sub": "cookie"}


async def test_fastapi_documents_the_cookie_as_an_alternative(make_verifier):
    scheme = JWTBearer(verifier=make_verifier(), cookie=COOKIE, description="the API's tokens")
    plain = JWTBearer(verifier=make_verifier(), scheme_name="Plain")
    app = FastAPI()

    @app.post("/notes")
    async def notes(token: AccessToken = Security(scheme, scopes=["notes"])) -> dict[str, Any]:
        return {}

    @app.get("/plain")
    async def plain_route(token: AccessToken = Security(plain)) -> dict[str, Any]:
        return {}

    async with asgi_client(app) as client:
        document = (await client.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["JWTBearerCookie"] == {
        "type": "apiKey",
        "in": "cookie",
        "name": COOKIE,
        "description": "the API's tokens",
    }
    assert schemes["JWTBearer"]["scheme"] == "bearer"
    assert document["paths"]["/notes"]["post"]["security"] == [{"JWTBearer": ["notes"]}, {"JWTBearerCookie": ["notes"]}]
    assert "parameters" not in document["paths"]["/notes"]["post"]
    assert document["paths"]["/plain"]["get"]["security"] == [{"Plain": []}]


async def test_fastapi_with_the_middleware_checks_once(issuer, make_verifier):
    """The middleware verified the cookie token and ran the check; the dependency reuses its result."""
    verifier = make_verifier()
    app = fastapi_app(JWTBearer(verifier=verifier, cookie=COOKIE))
    app.add_middleware(JWTGuardMiddleware, verifier=verifier, cookie=COOKIE)
    async with asgi_client(app) as client:
        client.cookies.set(COOKIE, issuer.token(scope="notes"))
        assert (await client.post("/notes", headers={"Sec-Fetch-Site": "same-origin"})).status_code == 200
        refused = await client.post("/notes", headers={"Sec-Fetch-Site": "cross-site"})
    assert (refused.status_code, refused.content) == (403, REFUSED.body)
    assert app.state.calls == 1


async def test_the_metadata_does_not_advertise_the_cookie(issuer, make_verifier):
    """RFC 9728 §2 takes RFC 6750's values (header, body, query): the cookie is the API's own
    transport, not a way for an OAuth client to present a token."""
    from jwt_guard import ProtectedResource

    resource = ProtectedResource(resource=issuer.audience, authorization_servers=[issuer.issuer])
    _, app = guarded(make_verifier, resource=resource)
    async with asgi_client(app) as client:
        document = (await client.get("/.well-known/oauth-protected-resource")).json()
    assert document["bearer_methods_supported"] == ["header"]
