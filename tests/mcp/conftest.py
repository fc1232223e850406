"""Shared pieces of the MCP tests: the example server loaded from
``examples/``, uvicorn on a free 127.0.0.1 port, the development
authorization server, and a headless stand-in for the user's browser.

Every test module here starts with ``pytest.importorskip`` of the MCP SDK,
which the ``test`` extra installs.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn

from jwt_guard.testing import AuthorizationServer, LocalIssuer, LocalServer

MCP_MISSING = "the MCP Python SDK is not installed: pip install 'jwt-guard[mcp]'"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
#: Where the client says it listens for the authorization response. Nothing
#: listens there: the headless browser reads the redirect instead.
REDIRECT_URI = "http://127.0.0.1:9/callback"
SCOPE = "mcp:tools"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"jwt_guard_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class Recorder:
    """ASGI wrapper recording ``(method, path, status)`` of every HTTP exchange."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: list[tuple[str, str, int]] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.seen.append((scope["method"], scope["path"], message["status"]))
            await send(message)

        await self.app(scope, receive, recording_send)


@contextmanager
def uvicorn_on(sock: socket.socket, app: Any, *, timeout: float = 15.0) -> Iterator[None]:
    """Serve *app* with uvicorn on the already bound *sock*, in a thread."""
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_level="critical", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            if time.monotonic() > deadline:
                raise TimeoutError("uvicorn did not start in time")
            time.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def bound_socket() -> tuple[socket.socket, int]:
    """A listening-ready socket on a free loopback port: the resource URL
    (and so the verifier's audience) must be known before the app exists."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


class HeadlessBrowser:
    """The user's browser in an authorization-code flow, without a user.

    ``redirect`` (the SDK's ``redirect_handler``) opens the authorization
    URL, which the development server approves at once with a 302 to the
    client's redirect URI; the browser reads the code from that redirect
    instead of following it. ``callback`` hands the result to the SDK.
    """

    def __init__(self) -> None:
        self.visited: list[str] = []
        self.answer: dict[str, str] = {}

    async def redirect(self, authorization_url: str) -> None:
        self.visited.append(authorization_url)
        async with httpx.AsyncClient(follow_redirects=False) as http:
            response = await http.get(authorization_url)
        assert response.status_code == 302, response.text
        location = urlsplit(response.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
        self.answer = {name: values[0] for name, values in parse_qs(location.query).items()}

    async def callback(self) -> Any:
        from mcp.shared.auth import AuthorizationCodeResult

        assert "code" in self.answer, self.answer
        return AuthorizationCodeResult(
            code=self.answer["code"], state=self.answer.get("state"), iss=self.answer.get("iss")
        )


class MemoryStorage:
    """The SDK's ``TokenStorage`` protocol, in memory."""

    def __init__(self, tokens: Any = None) -> None:
        self.tokens = tokens
        self.client_info: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client_info

    async def set_client_info(self, client_info: Any) -> None:
        self.client_info = client_info


class Stack:
    """The authorization server and the example MCP server, both on 127.0.0.1."""

    def __init__(self, auth: AuthorizationServer, server: LocalServer, resource: Any, recorder: Recorder) -> None:
        self.auth = auth
        self.as_server = server
        self.resource = resource
        self.recorder = recorder

    @property
    def url(self) -> str:
        return self.resource.resource


@pytest.fixture
def auth_server() -> Iterator[tuple[AuthorizationServer, LocalServer]]:
    auth = AuthorizationServer(LocalIssuer(), subject="alice", scopes_supported=[SCOPE])
    with auth.serve() as server:
        yield auth, server


@pytest.fixture
def mcp_stack(auth_server) -> Iterator[Stack]:
    """The example MCP server under uvicorn, trusting the development issuer."""
    yield from _stack(auth_server, "mcp_server")


@pytest.fixture
def middleware_stack(auth_server) -> Iterator[Stack]:
    """The example MCP server behind jwt_guard's own middleware, under uvicorn."""
    yield from _stack(auth_server, "mcp_middleware_server")


def _stack(auth_server: tuple[AuthorizationServer, LocalServer], example_name: str) -> Iterator[Stack]:
    from jwt_guard import ProtectedResource, Verifier

    auth, server = auth_server
    example = load_example(example_name)
    sock, port = bound_socket()
    resource = ProtectedResource(
        resource=f"http://127.0.0.1:{port}/mcp", authorization_servers=[server.issuer_url], scopes_supported=[SCOPE]
    )
    verifier = Verifier(issuer=server.issuer_url, audience=resource.resource)
    recorder = Recorder(example.create_app(verifier, resource))
    with uvicorn_on(sock, recorder):
        yield Stack(auth, server, resource, recorder)
    verifier.close()
