"""Refusals counted where the adapters answer them, and spans nested under the
request's span, through Starlette's, FastAPI's and Flask's own test clients."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI, Security
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from jwt_guard import AccessToken, KeySetUnavailable
from jwt_guard.asgi import JWTGuardMiddleware as ASGIGuard
from jwt_guard.asgi import require_scopes as asgi_scopes
from jwt_guard.fastapi import JWTBearer, install_error_handler
from jwt_guard.wsgi import JWTGuardMiddleware as WSGIGuard
from jwt_guard.wsgi import require_scopes as wsgi_scopes
from tests.otel.conftest import Telemetry, attrs

STATUS = "http.response.status_code"


class RequestSpan:
    """What a framework instrumentation does: a span around each request."""

    def __init__(self, app: ASGIApp, tracer: Any) -> None:
        self.app = app
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.tracer.start_as_current_span(f"{scope['method']} {scope['path']}"):
            await self.app(scope, receive, send)


def requests_made(client: Any, issuer: Any) -> None:
    """No token (401), an expired token (401), a token lacking the scope (403), and a good one."""
    assert client.get("/read").status_code == 401
    expired = issuer.token(scope="read", expires_in=-3600)
    assert client.get("/read", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
    assert client.get("/read", headers={"Authorization": f"Bearer {issuer.token()}"}).status_code == 403
    assert client.get("/read", headers={"Authorization": f"Bearer {issuer.token(scope='read')}"}).status_code == 200


def assert_refusals_counted(telemetry: Telemetry, adapter: str) -> None:
    assert telemetry.series("jwt_guard.challenges") == {
        attrs(adapter=adapter, reason="missing_token", **{STATUS: 401}): 1,
        attrs(adapter=adapter, reason="expired", **{STATUS: 401}): 1,
    }
    assert telemetry.series("jwt_guard.forbids") == {
        attrs(adapter=adapter, reason="insufficient_scope", **{STATUS: 403}): 1
    }


def starlette_app(verifier: Any, tracer: Any) -> Starlette:
    @asgi_scopes("read")
    async def read(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[Route("/read", read)],
        middleware=[Middleware(RequestSpan, tracer=tracer), Middleware(ASGIGuard, verifier=verifier)],
    )


def test_starlette_challenges_and_forbids(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    tracer = telemetry.tracer_provider.get_tracer("tests")
    with TestClient(starlette_app(verifier, tracer)) as client:
        requests_made(client, issuer)
    assert_refusals_counted(telemetry, "asgi")
    durations = telemetry.series("jwt_guard.verification.duration")
    assert durations[attrs(outcome="success", issuer=issuer.issuer, cache="miss")] == 2  # the 403 and the 200
    assert durations[attrs(outcome="failure", reason="expired", cache="miss")] == 1


def test_verification_spans_are_children_of_the_request_span(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    tracer = telemetry.tracer_provider.get_tracer("tests")
    with TestClient(starlette_app(verifier, tracer)) as client:
        token = issuer.token(scope="read")
        assert client.get("/read", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    spans = {span.name: span for span in telemetry.spans()}
    request, verify = spans["GET /read"], spans["jwt_guard.verify"]
    assert verify.parent is not None
    assert verify.parent.span_id == request.context.span_id
    assert verify.context.trace_id == request.context.trace_id
    assert request.start_time <= verify.start_time <= verify.end_time <= request.end_time


def test_a_span_without_a_current_span_is_a_root(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    verifier.verify(issuer.token())
    [span] = telemetry.spans()
    assert span.parent is None


@pytest.mark.anyio
async def test_spans_nest_under_the_current_span_in_async_code(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    tracer = telemetry.tracer_provider.get_tracer("tests")
    with tracer.start_as_current_span("outer") as outer:
        await verifier.verify_async(issuer.token())
    spans = {span.name: span for span in telemetry.spans()}
    assert spans["jwt_guard.verify"].parent.span_id == outer.get_span_context().span_id


def test_fastapi_dependency_refusals(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    app = FastAPI()
    install_error_handler(app)
    bearer = JWTBearer(verifier=verifier)

    @app.get("/read")
    async def read(token: AccessToken = Security(bearer, scopes=["read"])) -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        requests_made(client, issuer)
    assert_refusals_counted(telemetry, "fastapi")


def test_flask_challenges_and_forbids(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    app = Flask(__name__)

    @app.get("/read")
    @wsgi_scopes("read")
    def read() -> dict[str, bool]:
        return {"ok": True}

    app.wsgi_app = WSGIGuard(app.wsgi_app, verifier=verifier)  # type: ignore[method-assign]
    requests_made(app.test_client(), issuer)
    assert_refusals_counted(telemetry, "wsgi")


def test_a_malformed_header_is_a_400_challenge(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    app = Flask(__name__)
    app.wsgi_app = WSGIGuard(app.wsgi_app, verifier=verifier)  # type: ignore[method-assign]
    assert app.test_client().get("/", headers={"Authorization": "Bearer two tokens"}).status_code == 400
    assert telemetry.series("jwt_guard.challenges") == {
        attrs(adapter="wsgi", reason="invalid_request", **{STATUS: 400}): 1
    }


def test_a_refused_websocket_is_counted(telemetry, make_verifier, issuer):
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()

    verifier = telemetry.instrument(make_verifier())
    app = Starlette(routes=[WebSocketRoute("/ws", echo)], middleware=[Middleware(ASGIGuard, verifier=verifier)])
    with TestClient(app) as client, pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws"):
        pass
    assert telemetry.series("jwt_guard.challenges") == {
        attrs(adapter="asgi", reason="missing_token", **{STATUS: 401}): 1
    }


def test_a_cross_origin_cookie_request_is_a_forbid(telemetry, make_verifier, issuer):
    async def write(request: Request) -> JSONResponse:
        return JSONResponse({"written": True})

    verifier = telemetry.instrument(make_verifier())
    app = Starlette(
        routes=[Route("/notes", write, methods=["POST"])],
        middleware=[Middleware(ASGIGuard, verifier=verifier, cookie="access_token")],
    )
    with TestClient(app, cookies={"access_token": issuer.token()}) as client:
        response = client.post("/notes", headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403
    assert telemetry.series("jwt_guard.forbids") == {
        attrs(adapter="asgi", reason="cross_origin_request", **{STATUS: 403}): 1
    }


def test_a_503_is_counted_as_unavailable(telemetry, remote_verifier, issuer, key_server):
    key_server.set_fault("status", status=503)
    verifier = telemetry.instrument(remote_verifier())
    app = Flask(__name__)
    app.wsgi_app = WSGIGuard(app.wsgi_app, verifier=verifier)  # type: ignore[method-assign]
    response = app.test_client().get("/", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert response.status_code == KeySetUnavailable.status_code
    assert telemetry.series("jwt_guard.unavailable") == {
        attrs(adapter="wsgi", reason="keys_unavailable", **{STATUS: 503}): 1
    }
    assert "jwt_guard.challenges" not in telemetry.metrics()
