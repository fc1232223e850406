"""JWTGuardMiddleware on WebSocket connections, driven in process."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection
from starlette.responses import PlainTextResponse, Response
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from jwt_guard import JWTGuardError, MissingToken, render_error
from jwt_guard.asgi import JWTGuardMiddleware
from tests.asgi.conftest import REALM, run_websocket

pytestmark = pytest.mark.anyio


def auth(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


async def test_valid_token_is_accepted_and_sees_the_user(issuer, make_app):
    run = await run_websocket(
        make_app(),
        headers=auth(issuer.token(scope="chat", sub="alice")),
        client_messages=[{"type": "websocket.receive", "text": "ping"}, {"type": "websocket.disconnect", "code": 1000}],
    )
    assert run.types[0] == "websocket.accept"
    seen = json.loads(run.texts()[0])
    assert seen["authenticated"] is True and seen["sub"] == "alice" and seen["scopes"] == ["chat"]
    assert run.texts()[1] == "ping"


@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        pytest.param("none", 401, None, id="no-credentials"),
        pytest.param("expired", 401, "invalid_token", id="invalid-token"),
        pytest.param("two-headers", 400, "invalid_request", id="two-authorization-headers"),
        pytest.param("malformed", 400, "invalid_request", id="malformed-header"),
    ],
)
@pytest.mark.parametrize("denial", [True, False], ids=["denial-response", "no-extension"])
async def test_refused_before_accept(issuer, make_app, case, status, error, denial):
    """With the denial extension the client gets the HTTP answer; without it a
    1008 close (never 1000). The connection is never accepted."""
    good = issuer.token()
    headers = {
        "none": [],
        "expired": auth(issuer.token(expires_in=-3600)),
        "two-headers": auth(good) + auth(good),
        "malformed": [("Authorization", "Bearer")],
    }[case]
    run = await run_websocket(make_app(), headers=headers, denial=denial)
    assert not run.accepted
    assert run.texts() == []
    if denial:
        assert run.denial is not None
        got_status, got_headers, body = run.denial
        assert got_status == status
        assert got_headers["cache-control"] == "no-store"
        assert got_headers["www-authenticate"].startswith(f'Bearer realm="{REALM}"')
        assert (json.loads(body)["error"] == error) if error else ("error=" not in got_headers["www-authenticate"])
        assert run.close is None
    else:
        assert run.denial is None
        assert run.close is not None
        assert run.close["code"] == 1008
        assert run.close["reason"]


async def test_denial_response_is_exactly_the_http_challenge(make_app):
    run = await run_websocket(make_app(), denial=True)
    expected = render_error(MissingToken(), realm=REALM)
    assert run.denial == (expected.status_code, dict(expected.headers), expected.body)


@pytest.mark.parametrize(
    ("denial", "expected"),
    [pytest.param(True, 503, id="denial-503"), pytest.param(False, 1013, id="close-1013-try-again-later")],
)
async def test_key_server_down(issuer, remote_verifier, key_server, make_app, denial, expected):
    """An outage is not an authentication failure: 503, or close 1013 (RFC 6455 "try again later")."""
    key_server.set_fault("status", target="any", status=500)
    run = await run_websocket(make_app(remote_verifier()), headers=auth(issuer.token()), denial=denial)
    assert not run.accepted
    if denial:
        assert run.denial is not None
        assert run.denial[0] == expected
        assert "retry-after" in run.denial[1]
    else:
        assert run.close is not None and run.close["code"] == expected


@pytest.mark.parametrize(
    ("allow", "accepted"),
    [pytest.param(True, True, id="query-token-allowed"), pytest.param(False, False, id="query-token-off")],
)
async def test_query_token_for_browsers(issuer, make_app, allow, accepted):
    """Browsers cannot set headers on WebSockets: the opt-in query parameter."""
    run = await run_websocket(
        make_app(allow_query_token=allow),
        query=f"access_token={issuer.token()}",
        denial=False,
        client_messages=[{"type": "websocket.disconnect", "code": 1000}],
    )
    assert run.accepted is accepted


async def test_optional_mode_accepts_anonymous(make_app):
    run = await run_websocket(make_app(optional=True), client_messages=[{"type": "websocket.disconnect", "code": 1000}])
    assert run.accepted
    assert json.loads(run.texts()[0])["authenticated"] is False


async def test_on_error_response_becomes_the_denial_response(make_app):
    seen: list[Any] = []

    def on_error(error: JWTGuardError, connection: HTTPConnection) -> Response:
        seen.append(connection)
        return PlainTextResponse("go away", status_code=error.status_code, headers={"x-custom": "1"})

    run = await run_websocket(make_app(on_error=on_error), denial=True)
    assert run.denial is not None
    status, headers, body = run.denial
    assert (status, body, headers["x-custom"]) == (401, b"go away", "1")
    assert seen[0].scope["type"] == "websocket"


async def test_on_error_without_denial_support_still_closes_1008(make_app):
    run = await run_websocket(make_app(on_error=lambda e, c: PlainTextResponse("x", 401)), denial=False)
    assert run.close is not None and run.close["code"] == 1008


async def test_client_gone_before_connect_is_handled(make_verifier):
    """A disconnect instead of connect: nothing is sent, nothing raised."""
    middleware = JWTGuardMiddleware(PlainTextResponse("unused"), verifier=make_verifier())
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect", "code": 1006}

    async def send(message: Any) -> None:
        sent.append(message)

    await middleware({"type": "websocket", "path": "/", "headers": [], "query_string": b""}, receive, send)
    assert sent == []


# -- closing when the token expires ----------------------------------------------


async def _wait_for_close(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("open")
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect as exc:
        websocket.state.code = exc.code


def _expiry_app(verifier: Any, **options: Any) -> Starlette:
    return Starlette(
        routes=[WebSocketRoute("/ws", _wait_for_close)],
        middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, **options)],
    )


async def test_accepted_socket_is_closed_1008_when_its_token_expires(issuer, make_verifier):
    token = issuer.token(expires_in=300)
    exp = issuer.claims()["exp"]
    app = _expiry_app(make_verifier(), close_expired_websockets=True, clock=lambda: exp - 0.05)
    run = await run_websocket(app, headers=auth(token), timeout=10)
    assert run.accepted
    assert run.texts() == ["open"]
    assert run.close is not None and run.close["code"] == 1008


async def test_without_the_option_the_socket_stays_open(issuer, make_verifier):
    """No expiry watch: the app (not the middleware) decides when to close."""
    token = issuer.token(expires_in=300)
    exp = issuer.claims()["exp"]
    app = _expiry_app(make_verifier(), clock=lambda: exp + 10)

    with anyio.move_on_after(0.3) as scope:
        await run_websocket(app, headers=auth(token), timeout=10)
    assert scope.cancelled_caught  # still open when we gave up waiting


async def test_expiry_watch_stops_when_the_app_closes_first(issuer, make_verifier):
    async def quick(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(code=1000)

    app = Starlette(
        routes=[WebSocketRoute("/ws", quick)],
        middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier(), close_expired_websockets=True)],
    )
    with anyio.fail_after(5):
        run = await run_websocket(app, headers=auth(issuer.token()))
    assert [m["type"] for m in run.sent] == ["websocket.accept", "websocket.close"]
    assert run.close is not None and run.close["code"] == 1000


async def test_sending_after_expiry_raises_oserror(issuer, make_verifier):
    """After the middleware closed the socket, the app's sends fail like on a closed connection."""
    token = issuer.token(expires_in=300)
    exp = issuer.claims()["exp"]
    outcome: list[BaseException] = []

    async def chatty(websocket: WebSocket) -> None:
        await websocket.accept()
        await anyio.sleep(0.2)  # the token expires meanwhile
        try:
            await websocket.send_text("too late")
        except (OSError, WebSocketDisconnect) as exc:
            outcome.append(exc)

    app = Starlette(
        routes=[WebSocketRoute("/ws", chatty)],
        middleware=[
            Middleware(JWTGuardMiddleware, verifier=make_verifier(), close_expired_websockets=True, clock=lambda: exp)
        ],
    )
    run = await run_websocket(app, headers=auth(token))
    assert run.close is not None and run.close["code"] == 1008
    assert "too late" not in run.texts()
    assert len(outcome) == 1
