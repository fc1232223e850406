"""Reaching a :class:`KeyServer`: an ``httpx.MockTransport`` in process, or a
real HTTP server on 127.0.0.1 (ephemeral port, started in a thread).

The real server answers only requests whose ``Host`` names a loopback host
and the port it serves: a web page whose DNS name an attacker rebinds to
127.0.0.1 sends its own name, and must never reach a development token
endpoint that mints tokens for anyone.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from jwt_guard._config import is_loopback_host
from jwt_guard.testing._keyserver import KeyServer, PublishedIssuer, Reply

__all__ = ["LocalServer", "mock_transport"]


def _mock_reply(server: KeyServer, request: httpx.Request) -> httpx.Response:
    reply = server.respond(request.method, str(request.url), dict(request.headers), request.content)
    if reply.action in ("hang", "drip", "header_drip"):
        raise httpx.ReadTimeout(f"key server fault: {reply.action}", request=request)
    if reply.action == "refuse":
        raise httpx.ConnectError("key server fault: connection refused", request=request)
    if reply.stream is not None:
        # A streamed reply carries no Content-Length, as over a real socket.
        return httpx.Response(reply.status, headers=reply.headers, stream=httpx.ByteStream(b"".join(reply.stream)))
    return httpx.Response(reply.status, headers=reply.headers, content=reply.body)


def mock_transport(server: KeyServer) -> httpx.MockTransport:
    """An ``httpx.MockTransport`` answering through *server*.

    Works for ``httpx.Client`` and ``httpx.AsyncClient`` alike, so pass it as
    both ``transport=`` and ``async_transport=``. Faults that need real time
    are emulated: ``hang`` and ``slow_drip`` raise ``ReadTimeout``, ``refuse``
    ``ConnectError``; streamed replies (``huge``) come without Content-Length.
    """
    return httpx.MockTransport(lambda request: _mock_reply(server, request))


def host_allowed(value: str | None, port: int) -> bool:
    """True when a ``Host`` header *value* names a loopback host (``localhost``
    or a literal loopback address) and *port* (80 when it names none)."""
    if not value or any(char in value for char in "/?#@\\ \t"):
        return False
    try:
        parts = urlsplit("//" + value)
        named_port = parts.port
    except ValueError:
        return False
    if parts.netloc != value or not is_loopback_host(parts.hostname):
        return False
    return (named_port if named_port is not None else 80) == port


_MISDIRECTED = json.dumps(
    {"error": "misdirected_request", "error_description": "this development server answers loopback host names only"}
).encode()


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: with Nagle's algorithm on,
    # a kept-alive client's delayed ACK stalls every reply by ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        hosts = self.headers.get_all("host") or []
        if len(hosts) != 1 or not host_allowed(hosts[0], self.server.server_address[1]):
            # RFC 9110 §15.5.20: not a name this server answers for. The
            # request is neither read further nor recorded.
            self.send_response(421)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(_MISDIRECTED)))
            self.send_header("connection", "close")
            self.end_headers()
            self.wfile.write(_MISDIRECTED)
            self.close_connection = True
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(min(length, 64 * 1024)) if length else b""
        keys = self.server.keys
        reply: Reply = keys.respond(self.command, self.path, dict(self.headers.items()), body)
        if reply.action == "hang":
            keys.stopping.wait(self.server.hang_limit)
            self.close_connection = True
            return
        if reply.action == "header_drip":
            self._drip_raw(reply)
            return
        if reply.action == "refuse":
            # The nearest a listening server gets to refusing: reset at once.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.stream is not None:
            self.send_header("connection", "close")
            self.end_headers()
            try:
                for chunk in reply.stream:
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        if reply.body and self.command != "HEAD":
            try:
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

    def _drip_raw(self, reply: Reply) -> None:
        # Status line and headers as they come, written raw: for at most
        # hang_limit seconds, or until the server stops.
        assert reply.stream is not None
        deadline = time.monotonic() + self.server.hang_limit
        try:
            for chunk in reply.stream:
                self.wfile.write(chunk)
                self.wfile.flush()
                if time.monotonic() > deadline:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # stampede tests and benchmarks connect at once
    keys: KeyServer
    hang_limit: float

    def server_activate(self) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        # A stopped server must not keep answering on kept-alive connections.
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away mid-request (a closed keep-alive
        # connection, Ctrl-C on curl) is routine: no traceback on stderr,
        # where it would land in the dev-issuer's terminal and in tests.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class LocalServer:
    """A real HTTP key server on 127.0.0.1 for end-to-end tests.

    ::

        issuer = LocalIssuer()
        with LocalServer(issuer) as server:      # binds an ephemeral port
            verifier = Verifier(issuer=server.issuer_url, audience=issuer.audience)
            ...
            server.keys.set_fault("status", status=500)
            server.stop()                        # connection refused from now on
            server.start()                       # same port again

    The issuer's ``issuer`` URL is rewritten to the server's address (keeping
    its path) so that discovery matches and minted tokens carry it.
    ``hang_limit`` bounds how long a hanging reply holds its connection.

    .. warning::
       Requests whose ``Host`` is not ``localhost`` or a literal loopback
       address with this server's port are answered 421 (DNS rebinding: a
       browser page must not reach endpoints that mint tokens for anyone).
    """

    def __init__(
        self,
        issuer: PublishedIssuer,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_age: int | None = 600,
        hang_limit: float = 30.0,
        keys: KeyServer | None = None,
    ) -> None:
        self.issuer = issuer
        self.keys = keys if keys is not None else KeyServer(issuer, max_age=max_age)
        self.host = host
        self.port = port
        self.hang_limit = hang_limit
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._path = urlsplit(issuer.issuer).path.rstrip("/")

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def issuer_url(self) -> str:
        return self.issuer.issuer

    @property
    def jwks_uri(self) -> str:
        return self.url + self.keys.jwks_path

    @property
    def token_url(self) -> str:
        return self.issuer.issuer.rstrip("/") + "/oauth/token"

    @property
    def running(self) -> bool:
        return self._httpd is not None

    def start(self) -> LocalServer:
        if self._httpd is not None:
            return self
        self.keys.stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.keys = self.keys
        httpd.hang_limit = self.hang_limit
        self.port = httpd.server_address[1]
        self.issuer.issuer = urlunsplit(("http", f"{self.host}:{self.port}", self._path, "", ""))
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        self._httpd, self._thread = httpd, thread
        return self

    def stop(self) -> None:
        """Stop listening and drop open connections (clients then see
        connection refused)."""
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is None:
            return
        self.keys.stopping.set()
        httpd.shutdown()
        httpd.drop_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def iter_requests(self) -> Iterator[Any]:
        return iter(list(self.keys.requests))
