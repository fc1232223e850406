"""Shared pieces of the ASGI adapter tests: a protected Starlette app, an
in-process HTTP client, a WebSocket driver, and a uvicorn server on 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.authentication import requires
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket, WebSocketDisconnect

from jwt_guard import Challenge, JWTGuardError, Verifier, render_error
from jwt_guard.asgi import JWTGuardMiddleware, get_access_token, require_scopes

REALM = "api"


def describe(request: Request | WebSocket) -> dict[str, Any]:
    """What an endpoint saw of authentication."""
    scope = request.scope
    token = get_access_token(request)
    seen: dict[str, Any] = {"has_user": "user" in scope, "has_auth": "auth" in scope}
    if "user" in scope:
        seen.update(
            authenticated=request.user.is_authenticated,
            identity=request.user.identity,
            display_name=request.user.display_name,
            scopes=sorted(request.auth.scopes),
        )
    seen["sub"] = token.subject if token is not None else None
    return seen


async def whoami(request: Request) -> JSONResponse:
    return JSONResponse(describe(request))


@require_scopes("read")
async def read(request: Request) -> JSONResponse:
    return JSONResponse(describe(request))


@requires("read")
async def starlette_read(request: Request) -> JSONResponse:
    return JSONResponse(describe(request))


async def ws_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json(describe(websocket))
    try:
        while True:
            text = await websocket.receive_text()
            await websocket.send_text(text)
    except WebSocketDisconnect:
        pass


def protected_app(verifier: Verifier, *, routes: Sequence[Any] = (), **options: Any) -> Starlette:
    """A Starlette app behind JWTGuardMiddleware(verifier, realm="api", **options)."""
    options.setdefault("realm", REALM)
    base = [
        Route("/me", whoami),
        Route("/health", whoami),
        Route("/healthz", whoami),
        Route("/public", whoami),
        Route("/public/{rest:path}", whoami),
        Route("/read", read),
        Route("/starlette-read", starlette_read),
        WebSocketRoute("/ws", ws_echo),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # The async HTTP client belongs to the server's event loop: close it there.
        await verifier.aclose()

    return Starlette(
        routes=[*routes, *base],
        middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, **options)],
        lifespan=lifespan,
    )


@asynccontextmanager
async def asgi_client(app: ASGIApp) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client talking to *app* in process."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_challenge(response: httpx.Response, error: JWTGuardError | Challenge, *, realm: str | None = REALM) -> None:
    """*response* is exactly the middleware's rendering of *error*."""
    expected = error if isinstance(error, Challenge) else render_error(error, realm=realm)
    assert response.status_code == expected.status_code
    assert response.content == expected.body
    for name, value in expected.headers:
        assert response.headers.get(name) == value, name
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "application/json"
    json.loads(response.content)


# -- WebSocket driver ------------------------------------------------------------


class WebSocketRun:
    """One WebSocket conversation with an ASGI app, driven in process.

    The client sends ``websocket.connect``, then *client_messages*; once the
    app closes (or denies) the connection, ``receive`` answers
    ``websocket.disconnect``. Everything the app sent is in ``sent``.
    """

    def __init__(self, sent: list[Message]) -> None:
        self.sent = sent

    @property
    def types(self) -> list[str]:
        return [message["type"] for message in self.sent]

    @property
    def accepted(self) -> bool:
        return "websocket.accept" in self.types

    @property
    def close(self) -> Message | None:
        return next((m for m in self.sent if m["type"] == "websocket.close"), None)

    @property
    def denial(self) -> tuple[int, dict[str, str], bytes] | None:
        start = next((m for m in self.sent if m["type"] == "websocket.http.response.start"), None)
        if start is None:
            return None
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "websocket.http.response.body")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
        return start["status"], headers, body

    def texts(self) -> list[str]:
        return [m["text"] for m in self.sent if m["type"] == "websocket.send" and m.get("text") is not None]


async def run_websocket(
    app: ASGIApp,
    path: str = "/ws",
    *,
    headers: Sequence[tuple[str, str]] = (),
    query: str = "",
    denial: bool = True,
    client_messages: Sequence[Message] = (),
    timeout: float = 10.0,
) -> WebSocketRun:
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "subprotocols": [],
        "extensions": {"websocket.http.response": {}} if denial else {},
        "state": {},
    }
    incoming: list[Message] = [{"type": "websocket.connect"}, *client_messages]
    sent: list[Message] = []
    finished = anyio.Event()

    async def receive() -> Message:
        if incoming and not finished.is_set():
            return incoming.pop(0)
        await finished.wait()
        close = next((m for m in sent if m["type"] == "websocket.close"), None)
        return {"type": "websocket.disconnect", "code": close.get("code", 1000) if close else 1006}

    async def send(message: Message) -> None:
        sent.append(message)
        kind = message["type"]
        if kind == "websocket.close" or (kind == "websocket.http.response.body" and not message.get("more_body")):
            finished.set()

    with anyio.fail_after(timeout):
        await app(scope, receive, send)
    return WebSocketRun(sent)


# -- a real server ---------------------------------------------------------------


class RunningServer:
    def __init__(self, server: uvicorn.Server, port: int) -> None:
        self.server = server
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"


@contextmanager
def serve(
    app: ASGIApp, *, lifespan: str = "on", ws: str = "websockets-sansio", timeout: float = 15.0
) -> Iterator[RunningServer]:
    """Run *app* with uvicorn on 127.0.0.1 (ephemeral port) in a thread."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY in asyncio
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan=lifespan, log_level="critical", access_log=False, ws=ws)
    server = uvicorn.Server(config)
    exit_codes: list[object] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except SystemExit as exc:  # uvicorn exits when the application's startup fails
            exit_codes.append(exc.code)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError(f"uvicorn did not start (exit code {exit_codes})")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start in time")
            time.sleep(0.01)
        yield RunningServer(server, port)
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


@pytest.fixture
def make_app(make_verifier: Callable[..., Verifier]) -> Callable[..., Starlette]:
    """``make_app(verifier=None, **middleware_options)``: :func:`protected_app`."""

    def make(verifier: Verifier | None = None, **options: Any) -> Starlette:
        return protected_app(verifier if verifier is not None else make_verifier(), **options)

    return make
