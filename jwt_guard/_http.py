"""HTTP plumbing for key-set (and other) fetches: pooled clients, bounded
replies, URL checks on every hop. No caching decision lives here.

Every exchange is bounded: a connect timeout, a *total* deadline covering
connect, headers and body (a server dripping its headers byte by byte cannot
hold a fetch longer than the deadline), a body cap read incrementally,
identity encoding only (no decompression bombs), and redirects off unless
enabled, each hop then re-checked against the URL rules of the request.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from typing import Any

import httpx

from jwt_guard import _forks
from jwt_guard._config import KeyCacheOptions, fetchable
from jwt_guard._wire import Failure, Reply, Request, Response

__all__ = ["HTTPClients", "exchange_async", "exchange_sync"]

_USER_AGENT = "jwt-guard"
_ALLOW_HTTP = "jwt_guard.allow_http"


class _RefusedURL(Exception):
    pass


# Transport-level errors an exchange can meet; each becomes a Failure.
_EXCHANGE_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, _RefusedURL)

_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CA bundle), built once.

    Loading the bundle costs ~100 ms, which every new client would otherwise
    pay again. A context is safe to share between clients and threads;
    building it twice in a race is harmless.
    """
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = httpx.create_ssl_context(trust_env=False)
    return _SSL_CONTEXT


#: Abandoned sync exchanges allowed to linger before new ones are refused.
MAX_STUCK = 4

_TIMEOUT = Failure("timeout", "the server did not answer in time")


def _failure_for(exc: BaseException) -> Failure:
    if isinstance(exc, _RefusedURL):
        return Failure("insecure_redirect", "a redirect pointed to a URL that is not allowed", str(exc))
    if isinstance(exc, httpx.TimeoutException):
        return _TIMEOUT
    if isinstance(exc, httpx.TooManyRedirects):
        return Failure("redirect", "too many redirects")
    if isinstance(exc, (httpx.ConnectError, OSError)):
        return Failure("connect", "the server could not be reached", type(exc).__name__)
    return Failure("transport", "the request failed", type(exc).__name__)


class _Body:
    """Accumulates a reply under the size limit and the total deadline."""

    __slots__ = ("_chunks", "_deadline", "_limit", "_size")

    def __init__(self, limit: int, deadline: float) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = limit
        self._deadline = deadline

    def head(self, response: httpx.Response) -> Reply | None:
        """A final reply from the status line and headers alone, if any."""
        if response.status_code != 200:
            return self.reply(response)  # 304, errors, unfollowed redirects: no body needed
        # identity was asked for; a compressed body could expand past the cap
        # in a single decoded chunk, so it is refused before any is read.
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            return Failure("bad_encoding", "the reply is compressed although identity was asked for")
        length = response.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self._limit):
            return Failure("too_large", "the reply exceeds the size limit")
        return None

    def feed(self, chunk: bytes) -> Failure | None:
        self._size += len(chunk)
        if self._size > self._limit:
            return Failure("too_large", "the reply exceeds the size limit")
        if time.monotonic() > self._deadline:
            return _TIMEOUT
        self._chunks.append(chunk)
        return None

    def reply(self, response: httpx.Response) -> Response:
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Response(response.status_code, headers, b"".join(self._chunks))


class HTTPClients:
    """One pooled ``httpx.Client`` and one ``httpx.AsyncClient`` per owner;
    *max_connections* per client (key fetches are rare; introspection calls
    are frequent and concurrent)."""

    def __init__(
        self,
        options: KeyCacheOptions,
        transport: httpx.BaseTransport | None,
        async_transport: httpx.AsyncBaseTransport | None,
        *,
        max_connections: int = 4,
        allow_insecure_http: bool = False,
    ) -> None:
        self.options = options
        self._max_connections = max_connections
        #: Plain http may leave loopback (when a request allows http at all).
        self.insecure = allow_insecure_http
        self._transport = transport
        self._async_transport = async_transport
        self._sync: httpx.Client | None = None
        self._async: httpx.AsyncClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        #: Sync exchanges abandoned at their deadline and still blocked in a
        #: socket read (see :func:`exchange_sync`).
        self.stuck: list[_Worker] = []
        _forks.register(self)

    def _options(self, transport: object, *, keepalive: int) -> dict[str, Any]:
        options = self.options
        tls: dict[str, Any] = {} if transport is not None else {"verify": _ssl_context()}
        return {
            **tls,
            "timeout": httpx.Timeout(options.timeout, connect=options.connect_timeout),
            "follow_redirects": options.max_redirects > 0,
            "max_redirects": max(options.max_redirects, 1),
            "headers": {"user-agent": _USER_AGENT, "accept-encoding": "identity"},
            "limits": httpx.Limits(max_connections=self._max_connections, max_keepalive_connections=keepalive),
            "trust_env": False,
        }

    def _check(self, request: httpx.Request) -> None:
        # Runs for the first request and for every redirect hop (httpx
        # carries the extensions over to the redirected request). A redirect
        # target is the server's choice: plain http only if the request
        # allows it (Request.allow_http), and on loopback unless insecure.
        allow_http = bool(request.extensions.get(_ALLOW_HTTP))
        if not fetchable(str(request.url), allow_http=allow_http, insecure=self.insecure):
            raise _RefusedURL(str(request.url))

    async def _check_async(self, request: httpx.Request) -> None:
        self._check(request)

    def sync(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(
                    transport=self._transport,
                    event_hooks={"request": [self._check]},
                    **self._options(self._transport, keepalive=max(2, self._max_connections // 2)),
                )
            return self._sync

    def aio(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # An AsyncClient's connections belong to one event loop, and a
            # client left behind by another loop cannot be closed from here.
            # So no connection is kept alive past a fetch (fetches are
            # minutes apart anyway): a dropped client, or close() without
            # aclose(), leaves no socket open.
            self._async = httpx.AsyncClient(
                transport=self._async_transport,
                event_hooks={"request": [self._check_async]},
                **self._options(self._async_transport, keepalive=0),
            )
            self._async_loop = loop
        return self._async

    def close(self) -> None:
        with self._lock:
            client, self._sync = self._sync, None
        if client is not None:
            client.close()

    async def aclose(self) -> None:
        client, self._async = self._async, None
        loop, self._async_loop = self._async_loop, None
        if client is not None and loop is asyncio.get_running_loop():
            await client.aclose()
        self.close()

    def after_fork(self) -> None:
        # Pooled connections are shared with the parent: drop, never close.
        self._lock = threading.Lock()
        self._sync = None
        self._async = None
        self._async_loop = None
        self.stuck = []


def _build(client: httpx.Client | httpx.AsyncClient, request: Request) -> httpx.Request:
    method, data = ("POST", dict(request.form)) if request.form is not None else ("GET", None)
    return client.build_request(
        method,
        request.url,
        headers=dict(request.headers),
        data=data,
        extensions={_ALLOW_HTTP: request.allow_http},
    )


def _exchange_blocking(clients: HTTPClients, request: Request, deadline: float) -> Reply:
    body = _Body(clients.options.max_response_bytes, deadline)
    client = clients.sync()
    try:
        response = client.send(_build(client, request), stream=True)
        try:
            early = body.head(response)
            if early is not None:
                return early
            for chunk in response.iter_bytes():
                failure = body.feed(chunk)
                if failure is not None:
                    return failure
            return body.reply(response)
        finally:
            response.close()
    except _EXCHANGE_ERRORS as exc:
        return _failure_for(exc)


class _Worker:
    """One blocking exchange in its own thread, so that the caller can stop
    waiting at the deadline whatever the socket does."""

    __slots__ = ("done", "reply", "thread")

    def __init__(self, clients: HTTPClients, request: Request, deadline: float) -> None:
        self.reply: Reply = _TIMEOUT
        self.done = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(clients, request, deadline), name="jwt_guard-fetch", daemon=True
        )

    def _run(self, clients: HTTPClients, request: Request, deadline: float) -> None:
        try:
            self.reply = _exchange_blocking(clients, request, deadline)
        finally:
            self.done.set()


def exchange_sync(clients: HTTPClients, request: Request) -> Reply:
    """Carry out *request* with the sync client within the total deadline.

    httpx bounds each socket operation, not their sum: a server dripping its
    status line one byte per second would hold a plain call for as long as it
    likes. The exchange therefore runs in a worker thread that the caller
    waits for at most ``timeout`` seconds. A worker still blocked then ends by
    itself at its next read timeout and its reply is dropped. While
    :data:`MAX_STUCK` of them are still blocked no other exchange starts, so a
    server that never finishes answering costs a few threads, not one per
    attempt.
    """
    clients.stuck = [worker for worker in clients.stuck if not worker.done.is_set()]
    if len(clients.stuck) >= MAX_STUCK:
        return Failure("busy", "earlier requests to the server have not ended")
    budget = clients.options.timeout
    worker = _Worker(clients, request, time.monotonic() + budget)
    try:
        worker.thread.start()
    except RuntimeError:  # interpreter shutting down
        return Failure("internal", "the fetch could not start")
    if not worker.done.wait(budget):
        clients.stuck.append(worker)
        return _TIMEOUT
    return worker.reply


async def exchange_async(clients: HTTPClients, request: Request) -> Reply:
    """Carry out *request* with the async client within the total deadline."""
    options = clients.options
    budget = options.timeout
    body = _Body(options.max_response_bytes, time.monotonic() + budget)
    try:
        return await asyncio.wait_for(_exchange(clients, request, body), timeout=budget)
    except asyncio.TimeoutError:
        return _TIMEOUT
    except _EXCHANGE_ERRORS as exc:
        return _failure_for(exc)


async def _exchange(clients: HTTPClients, request: Request, body: _Body) -> Reply:
    client = clients.aio()
    response = await client.send(_build(client, request), stream=True)
    try:
        early = body.head(response)
        if early is not None:
            return early
        async for chunk in response.aiter_bytes():
            failure = body.feed(chunk)
            if failure is not None:
                return failure
        return body.reply(response)
    finally:
        await response.aclose()
