"""The two I/O shells that drive :class:`jwt_guard._policy.KeySetState`.

:class:`RemoteKeys` owns one key set's state and the lock guarding it.
Its ``sync`` shell fetches with ``httpx.Client`` (one thread fetches, the
others wait on a lock, then reuse the result); its ``aio`` shell fetches with
``httpx.AsyncClient`` (one task fetches, the others await it through
``asyncio.shield`` so a cancelled request never cancels the shared fetch).
Neither shell decides anything: they ask the policy and carry out requests.

Every fetch is bounded: connect and total timeouts, a body cap read
incrementally, identity encoding only (no decompression bombs), redirects off
unless enabled and then re-checked hop by hop.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Generator
from typing import Any

import httpx

from jwt_guard._config import Settings, url_allowed
from jwt_guard._events import EventKind, Reporter, logger
from jwt_guard._keys import KeySet
from jwt_guard._policy import Failure, KeySetState, Outcome, Plan, Reply, Request, Response
from jwt_guard.errors import KeySetUnavailable

__all__ = ["HTTPClients", "RemoteKeys"]

_USER_AGENT = "jwt-guard"


class _InsecureRedirectError(Exception):
    pass


# Transport-level errors a fetch can meet; each becomes a failed fetch.
_FETCH_ERRORS = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, OSError, _InsecureRedirectError)


_SSL_CONTEXT: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CA bundle), built once.

    Loading the bundle costs ~100 ms, which every new client would otherwise
    pay again: each verifier, and the async shell on each event loop. A
    context is safe to share between clients and threads; building it twice
    in a race is harmless.
    """
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = httpx.create_ssl_context(trust_env=False)
    return _SSL_CONTEXT


def _failure_for(exc: BaseException) -> Failure:
    if isinstance(exc, _InsecureRedirectError):
        return Failure("insecure_redirect", "a redirect pointed to a URL that is not allowed")
    if isinstance(exc, httpx.TimeoutException):
        return Failure("timeout", "the key server did not answer in time")
    if isinstance(exc, httpx.TooManyRedirects):
        return Failure("redirect", "too many redirects")
    if isinstance(exc, (httpx.ConnectError, OSError)):
        return Failure("connect", "the key server could not be reached")
    return Failure("transport", f"the request failed ({type(exc).__name__})")


class _Body:
    """Accumulates a reply under the size and time limits."""

    __slots__ = ("_chunks", "_deadline", "_limit", "_size")

    def __init__(self, limit: int, timeout: float) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = limit
        self._deadline = time.monotonic() + timeout

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
            return Failure("timeout", "the reply took too long")
        self._chunks.append(chunk)
        return None

    def reply(self, response: httpx.Response) -> Response:
        headers = {name.lower(): value for name, value in response.headers.items()}
        return Response(response.status_code, headers, b"".join(self._chunks))


class HTTPClients:
    """One pooled ``httpx.Client`` and one ``httpx.AsyncClient`` per verifier."""

    def __init__(
        self,
        settings: Settings,
        transport: httpx.BaseTransport | None,
        async_transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        self._settings = settings
        self._transport = transport
        self._async_transport = async_transport
        self._sync: httpx.Client | None = None
        self._async: httpx.AsyncClient | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _options(self, transport: object, *, keepalive: int) -> dict[str, Any]:
        options = self._settings.key_set
        tls: dict[str, Any] = {} if transport is not None else {"verify": _ssl_context()}
        return {
            **tls,
            "timeout": httpx.Timeout(options.timeout, connect=options.connect_timeout),
            "follow_redirects": options.max_redirects > 0,
            "max_redirects": max(options.max_redirects, 1),
            "headers": {"user-agent": _USER_AGENT, "accept-encoding": "identity"},
            "limits": httpx.Limits(max_connections=4, max_keepalive_connections=keepalive),
            "trust_env": False,
        }

    def _check(self, request: httpx.Request) -> None:
        # Runs for the first request and for every redirect hop.
        if not url_allowed(str(request.url), allow_http=self._settings.allow_insecure_http):
            raise _InsecureRedirectError(str(request.url))

    async def _check_async(self, request: httpx.Request) -> None:
        self._check(request)

    def sync(self) -> httpx.Client:
        with self._lock:
            if self._sync is None:
                self._sync = httpx.Client(
                    transport=self._transport,
                    event_hooks={"request": [self._check]},
                    **self._options(self._transport, keepalive=2),
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


class RemoteKeys:
    """One remote key set (per issuer, or per explicit ``jwks_uri``)."""

    def __init__(
        self,
        state: KeySetState,
        settings: Settings,
        clients: HTTPClients,
        *,
        on_change: Callable[[], None],
        reporter: Reporter,
    ) -> None:
        self.state = state
        self.settings = settings
        self.clients = clients
        self.clock = settings.clock
        self.reporter = reporter
        self.on_change = on_change
        self.lock = threading.Lock()
        self.sync = SyncFetcher(self)
        self.aio = AsyncFetcher(self)
        _LIVE.add(self)

    # Each method below takes the state lock for a few attribute updates only.

    def plan(self, *, may_refresh: bool = True) -> tuple[Plan, KeySet | None, int]:
        now = self.clock()
        with self.lock:
            plan, keyset = self.state.plan(now, may_refresh=may_refresh)
            return plan, keyset, self.state.generation

    def kid_refetch(self, kid: str) -> tuple[int | None, bool]:
        """How a request with the unknown *kid* proceeds: ``(need, claimed)``.

        ``need`` is the fetch generation to wait for, ``None`` to answer at
        once from the newest set; ``claimed`` is True when this request won
        the refetch (cooldown permitting), False when it joins the refetch
        under way for the same kid (a key rotation seen by several requests).
        """
        now = self.clock()
        with self.lock:
            need = self.state.claim_kid_refetch(kid, now)
            if need is None:
                return self.state.join_kid_refetch(kid), False
        self.announce_kid_refetch(kid)
        return need, True

    def note_absent(self, kid: str, keyset: KeySet) -> None:
        if not keyset.has_kid(kid):
            with self.lock:
                self.state.note_absent(kid, self.clock())

    def apply(self, outcome: Outcome) -> None:
        with self.lock:
            changed = self.state.apply(outcome, self.clock())
        if changed:
            self.on_change()

    def cancel_refresh(self) -> None:
        with self.lock:
            self.state.refreshing = False

    def abandon(self) -> None:
        with self.lock:
            self.state.abandon()

    def unavailable(self) -> KeySetUnavailable:
        with self.lock:
            return self.state.unavailable(self.clock())

    def failing(self) -> bool:
        """True while the latest fetch attempt failed (outage or backoff)."""
        return self.state.failures > 0

    def usable_or_raise(self) -> KeySet:
        """After a fetch: the set to use now, or :class:`KeySetUnavailable`."""
        _, keyset, _ = self.plan(may_refresh=False)
        if keyset is None:
            raise self.unavailable()
        return keyset

    def refresh_flow(self) -> Generator[Request, Reply, Outcome]:
        with self.lock:
            self.state.begin_fetch()
        return self.state.refresh(self.clock)

    def announce_kid_refetch(self, kid: str) -> None:
        logger.info("jwt_guard: unknown kid %r for %s; refetching the key set", kid, self.state.label)
        self.reporter.emit(EventKind.UNKNOWN_KID_REFETCH, self.state.label, None, kid=kid)

    def wait_limit(self) -> float:
        options = self.settings.key_set
        return options.connect_timeout + 2 * options.timeout + 1.0

    def after_fork(self) -> None:
        # Locks may be held by threads that do not exist in the child.
        self.lock = threading.Lock()
        self.state.refreshing = False
        self.state.in_flight = 0
        self.clients.after_fork()
        self.sync.after_fork()
        self.aio.after_fork()


# -- the sync shell ------------------------------------------------------


class SyncFetcher:
    """Drives the policy with ``httpx.Client``; one fetch at a time."""

    def __init__(self, owner: RemoteKeys) -> None:
        self._owner = owner
        self._fetch_lock = threading.Lock()

    def after_fork(self) -> None:
        self._fetch_lock = threading.Lock()

    def keyset(self) -> KeySet:
        owner = self._owner
        current = owner.state.current
        if current.keyset is not None and owner.clock() < current.refresh_at:
            return current.keyset
        plan, keyset, generation = owner.plan()
        if plan is Plan.USE_AND_REFRESH:
            self._refresh_in_background()
        elif plan is Plan.FAIL:
            raise owner.unavailable()
        elif plan is Plan.FETCH:
            return self.fetch_and_wait(generation + 1)
        return keyset  # type: ignore[return-value]

    def refetch_for_kid(self, kid: str) -> KeySet | None:
        """Fetch again for an unknown *kid* if the cooldown allows (or join
        the refetch under way for it); else the newest set, or None."""
        owner = self._owner
        need, claimed = owner.kid_refetch(kid)
        if need is None:  # refused: the newest set, which a fetch may just have renewed
            return owner.state.current.keyset
        try:
            keyset = self.fetch_and_wait(need)
        except KeySetUnavailable:
            return None
        if claimed:
            owner.note_absent(kid, keyset)
        return keyset

    def fetch_and_wait(self, need: int) -> KeySet:
        """Fetch unless fetches completed up to generation *need*; return the set."""
        owner = self._owner
        if not self._fetch_lock.acquire(timeout=owner.wait_limit()):
            raise owner.unavailable()
        try:
            # Holding the fetch lock, no other sync fetch is under way.
            if owner.state.generation < need or owner.plan(may_refresh=False)[0] is Plan.FETCH:
                self._run()
        finally:
            self._fetch_lock.release()
        return owner.usable_or_raise()

    def _refresh_in_background(self) -> None:
        thread = threading.Thread(target=self._background, name="jwt_guard-refresh", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            self._owner.cancel_refresh()

    def _background(self) -> None:
        if not self._fetch_lock.acquire(timeout=self._owner.wait_limit()):
            self._owner.cancel_refresh()
            return
        try:
            self._run()
        finally:
            self._fetch_lock.release()

    def _run(self) -> None:
        owner = self._owner
        flow = owner.refresh_flow()
        outcome: Outcome = Failure("internal", "the fetch did not complete")
        try:
            request = next(flow)
            while True:
                request = flow.send(self._send(request))
        except StopIteration as stop:
            outcome = stop.value
        finally:
            owner.apply(outcome)

    def _send(self, request: Request) -> Reply:
        options = self._owner.settings.key_set
        body = _Body(options.max_response_bytes, options.timeout)
        try:
            with self._owner.clients.sync().stream("GET", request.url, headers=dict(request.headers)) as response:
                early = body.head(response)
                if early is not None:
                    return early
                for chunk in response.iter_bytes():
                    failure = body.feed(chunk)
                    if failure is not None:
                        return failure
                return body.reply(response)
        except _FETCH_ERRORS as exc:
            return _failure_for(exc)


# -- the async shell -----------------------------------------------------


class AsyncFetcher:
    """Drives the policy with ``httpx.AsyncClient``; one fetch task at a time."""

    def __init__(self, owner: RemoteKeys) -> None:
        self._owner = owner
        self._task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def after_fork(self) -> None:
        self._task = None
        self._tasks = set()

    async def keyset(self) -> KeySet:
        owner = self._owner
        current = owner.state.current
        if current.keyset is not None and owner.clock() < current.refresh_at:
            return current.keyset
        plan, keyset, generation = owner.plan()
        if plan is Plan.USE_AND_REFRESH:
            self._spawn()
        elif plan is Plan.FAIL:
            raise owner.unavailable()
        elif plan is Plan.FETCH:
            return await self.fetch_and_wait(generation + 1)
        return keyset  # type: ignore[return-value]

    async def refetch_for_kid(self, kid: str) -> KeySet | None:
        """Fetch again for an unknown *kid* if the cooldown allows (or join
        the refetch under way for it); else the newest set, or None."""
        owner = self._owner
        need, claimed = owner.kid_refetch(kid)
        if need is None:  # refused: the newest set, which a fetch may just have renewed
            return owner.state.current.keyset
        try:
            keyset = await self.fetch_and_wait(need)
        except KeySetUnavailable:
            return None
        if claimed:
            owner.note_absent(kid, keyset)
        return keyset

    def _spawn(self) -> asyncio.Task[None]:
        """The fetch task under way on this loop, or a new one."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._run())
            self._task = task
            # asyncio keeps only weak references to tasks.
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(self._cancelled)
        return task

    def _cancelled(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before it ever ran (its loop ended first) never
        # reached _run's handlers: clear the refresh it was to carry out.
        if task.cancelled():
            self._owner.cancel_refresh()

    async def fetch_and_wait(self, need: int) -> KeySet:
        """Join or start a fetch until generation *need*; return the set."""
        owner = self._owner
        # The first round may join a fetch that started before the caller
        # decided to fetch; once it is done, _spawn starts a new one.
        for _ in range(2):
            if owner.state.generation >= need:
                break
            # shield: a cancelled request must not cancel the fetch others await.
            await asyncio.shield(self._spawn())
        return owner.usable_or_raise()

    async def _run(self) -> None:
        owner = self._owner
        flow = owner.refresh_flow()
        outcome: Outcome = Failure("internal", "the fetch did not complete")
        try:
            request = next(flow)
            while True:
                request = flow.send(await self._send(request))
        except StopIteration as stop:
            outcome = stop.value
        except asyncio.CancelledError:
            # Requests await this task through shield(), so only the event
            # loop shutting down cancels it: not the key server's failure.
            owner.abandon()
            raise
        except BaseException:
            owner.apply(outcome)
            raise
        owner.apply(outcome)

    async def _send(self, request: Request) -> Reply:
        options = self._owner.settings.key_set
        body = _Body(options.max_response_bytes, options.timeout)
        try:
            return await asyncio.wait_for(self._exchange(request, body), timeout=options.timeout)
        except asyncio.TimeoutError:
            return Failure("timeout", "the key server did not answer in time")
        except _FETCH_ERRORS as exc:
            return _failure_for(exc)

    async def _exchange(self, request: Request, body: _Body) -> Reply:
        client = self._owner.clients.aio()
        async with client.stream("GET", request.url, headers=dict(request.headers)) as response:
            early = body.head(response)
            if early is not None:
                return early
            async for chunk in response.aiter_bytes():
                failure = body.feed(chunk)
                if failure is not None:
                    return failure
            return body.reply(response)


_LIVE: weakref.WeakSet[RemoteKeys] = weakref.WeakSet()


def _reinit_after_fork() -> None:
    for remote in list(_LIVE):
        remote.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reinit_after_fork)
