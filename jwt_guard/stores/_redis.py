"""RedisStore: revocations and replay records shared by every process and host."""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from jwt_guard._events import Event, EventKind, logger
from jwt_guard.errors import ConfigurationError, StoreUnavailable
from jwt_guard.stores._base import BackendError, Store, StoreFailure
from jwt_guard.stores._index import IndexFull
from jwt_guard.stores._mirror import MirrorReader, Row, decode_read_reply, error_reason, scan_done
from jwt_guard.stores._records import Revocation, seconds_option
from jwt_guard.stores._redis_format import READ_SCRIPT, WRITE_SCRIPT, Keys, read_args, write_args

__all__ = ["RedisStore", "display_url"]

_INSTALL_HINT = "RedisStore needs the redis package: pip install 'jwt-guard[redis]'"


def _import_redis() -> Any:
    try:
        import redis
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.retry
    except ImportError as exc:
        raise ConfigurationError(_INSTALL_HINT) from exc
    return redis


def display_url(url: str) -> str:
    """*url* without credentials, for logs and repr."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _AsyncClient:
    __slots__ = ("client", "read", "write")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.write = client.register_script(WRITE_SCRIPT)
        self.read = client.register_script(READ_SCRIPT)


class RedisStore(Store):
    """Revocations and DPoP replay records shared through Redis.

    ::

        store = RedisStore.from_url("redis://127.0.0.1:6379/0", prefix="jwt_guard:")
        store.revoke_token(jti, issuer=iss, expires_at=exp)   # in Redis when it returns

    Every process keeps the revocation records in memory (a *mirror*) and
    answers :meth:`check` from it with no network round trip. A background
    thread, started on first use in each process (forked workers start their
    own), reads every record once and then follows a change log (a Redis
    stream) with ``XREAD BLOCK``: a revocation reaches every mirror as soon
    as Redis hands it out, typically within a millisecond on a local network.
    After any reconnect the mirror reads every record again.

    A replay claim (:meth:`claim_once`) is the one round trip: ``SET NX PX``.

    When the mirror cannot vouch for its answer (its first read has not
    finished, or it has heard nothing from Redis for ``failure_grace``
    seconds) or a replay claim fails, ``store_failure`` decides:
    ``"closed"`` (default) raises :class:`~jwt_guard.StoreUnavailable` (503
    with ``Retry-After``), ``"open"`` accepts with a warning and an event.
    A failed :meth:`revoke_token` (etc.) always raises
    :class:`~jwt_guard.StoreUnavailable`: it never reports success for a
    record that is not in Redis. Every Redis call is bounded by ``timeout``.

    Times are absolute instants written by the revoking host (``before``
    defaults to its clock); a cutoff may lie at most ``clock_skew`` ahead
    of it. Records lapse on their own, in Redis (``PEXPIREAT``, Redis's
    clock) and in each mirror (the host's clock). Records are never
    withdrawn: a mirror keeps what it learnt until it lapses.

    .. warning::
       Run Redis with ``maxmemory-policy noeviction`` (the default) and with
       persistence if revocations must survive a Redis restart: an evicted
       or lost record is a revocation forgotten by hosts that start later.

    :param url: ``redis://``, ``rediss://`` or ``unix://`` URL.
    :param prefix: prepended to every key this store uses.
    :param failure_grace: seconds the mirror stays trusted without hearing
        from Redis (default 5): the longest a missed revocation can go
        unnoticed during an outage.
    :param timeout: seconds any Redis command may take (default 1).
    :param connect_timeout: seconds to connect (default 1).

    The other options are :class:`~jwt_guard.stores.Store`'s.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "jwt_guard:",
        store_failure: StoreFailure = "closed",
        failure_grace: float = 5.0,
        timeout: float = 1.0,
        connect_timeout: float = 1.0,
        max_token_lifetime: Any = 86400.0,
        clock_skew: Any = 60.0,
        max_records: int = 1_000_000,
        retry_after: float = 5.0,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            store_failure=store_failure,
            max_token_lifetime=max_token_lifetime,
            clock_skew=clock_skew,
            max_records=max_records,
            retry_after=retry_after,
            on_event=on_event,
            clock=clock,
        )
        if not isinstance(url, str) or urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ConfigurationError("url must be a redis://, rediss:// or unix:// URL")
        if not isinstance(prefix, str) or len(prefix) > 256:
            raise ConfigurationError("prefix must be a str of at most 256 characters")
        self._grace = seconds_option("failure_grace", failure_grace)
        self._timeout = seconds_option("timeout", timeout)
        self._connect_timeout = seconds_option("connect_timeout", connect_timeout)
        self._redis = _import_redis()
        self._url = url
        self._keys = Keys(prefix)
        # The reader's heartbeat: XREAD BLOCK returns at least this often.
        self._block = min(1.0, self._grace / 4)
        self._errors: tuple[type[BaseException], ...] = (self._redis.RedisError, OSError, asyncio.TimeoutError)
        try:
            self._client = self._new_client(self._timeout, "jwt_guard")
        except ValueError as exc:
            raise ConfigurationError(f"unusable Redis URL: {exc}") from None
        self._write = self._client.register_script(WRITE_SCRIPT)
        self._read = self._client.register_script(READ_SCRIPT)
        self._async: dict[asyncio.AbstractEventLoop, _AsyncClient] = {}
        self._reader: MirrorReader | None = None
        self._start_lock = threading.Lock()
        self._ready = threading.Event()
        self._closed = False
        self._synced = False
        self._overflow = False
        self._outage = False
        self._inherited_until = 0.0
        self._trusted_until = 0.0  # nothing is trusted before the first read

    @classmethod
    def from_url(cls, url: str, **options: Any) -> RedisStore:
        """A store on the Redis server at *url*; *options* as the constructor's."""
        return cls(url, **options)

    def _new_client(self, socket_timeout: float, name: str) -> Any:
        redis = self._redis
        return redis.Redis.from_url(
            self._url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=self._connect_timeout,
            # No silent retries: every call is bounded by the timeouts above,
            # and the caller decides what a failure means.
            retry=redis.retry.Retry(redis.backoff.NoBackoff(), 0),
            client_name=name,
        )

    def _async_client(self) -> _AsyncClient:
        loop = asyncio.get_running_loop()
        found = self._async.get(loop)
        if found is None:
            redis = self._redis
            for other in [other for other in self._async if other.is_closed()]:
                del self._async[other]
            client = redis.asyncio.Redis.from_url(
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._connect_timeout,
                retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
                client_name="jwt_guard",
            )
            found = self._async[loop] = _AsyncClient(client)
        return found

    async def _bounded(self, call: Any) -> Any:
        # redis.asyncio bounds reads and connects; this bounds everything else.
        return await asyncio.wait_for(call, self._connect_timeout + self._timeout + 1.0)

    # -- the request path -------------------------------------------------------------

    def _untrusted(self) -> None:
        reader = self._reader
        if not self._closed and (reader is None or reader.pid != os.getpid() or not reader.alive):
            self.start()
        now = time.monotonic()
        if self._trusted_until >= now or self._inherited_until >= now:
            return
        if self._closed:
            self._fail("closed", "the revocation store is closed")
        elif self._overflow:
            self._fail("mirror_full", "the revocation mirror is full")
        elif not self._synced:
            self._fail("not_synced", "the revocation mirror has not finished its first read")
        else:
            self._fail("mirror_stale", "the revocation mirror has not heard from Redis within failure_grace")

    # -- writes -------------------------------------------------------------------------

    def _store_record(self, record: Revocation) -> None:
        try:
            self._write(keys=self._keys.write_keys([record]), args=write_args([record]), client=self._client)
        except self._errors as error:
            raise self._failed(error, "revoke") from None
        self._mirror_record(record)

    async def _store_record_async(self, record: Revocation) -> None:
        state = self._async_client()
        try:
            await self._bounded(state.write(keys=self._keys.write_keys([record]), args=write_args([record])))
        except self._errors as error:
            raise self._failed(error, "revoke") from None
        self._mirror_record(record)

    def _store_records(self, records: list[Revocation]) -> None:
        """Write many records in pipelined batches (bulk loads, tests, benchmarks)."""
        try:
            for start in range(0, len(records), 1000):
                batch = records[start : start + 1000]
                self._write(keys=self._keys.write_keys(batch), args=write_args(batch), client=self._client)
        except self._errors as error:
            raise self._failed(error, "revoke") from None
        for record in records:
            self._mirror_record(record)

    def _failed(self, error: BaseException, operation: str) -> StoreUnavailable:
        reason = error_reason(error)
        what = "store a revocation in" if operation == "revoke" else "list revocations from"
        logger.warning("jwt_guard: could not %s Redis (%s)", what, reason)
        self._reporter.emit(EventKind.STORE_UNAVAILABLE, reason=reason, operation=operation)
        return StoreUnavailable("the revocation store is unavailable", retry_after=self._retry_after)

    def _mirror_record(self, record: Revocation) -> None:
        # Read your own writes: the record is in Redis; show it here at once.
        try:
            self._add_to_index(record)
        except IndexFull:
            self._mirror_full()

    # -- listing --------------------------------------------------------------------------

    def revocations(self, issuer: str | None = None) -> list[Revocation]:
        """The active records in Redis (of *issuer*, or all), by issuer, kind and value."""
        wanted = self._check_issuer_filter(issuer)
        skipped: Counter[str] = Counter()
        rows: list[Row] = []
        cursor: object = 0
        try:
            while True:
                reply = self._read(args=read_args(cursor, self._keys), client=self._client)
                cursor, found = decode_read_reply(reply, skipped)
                rows += found
                if scan_done(cursor):
                    break
        except self._errors as error:
            raise self._failed(error, "list") from None
        return self._listing(rows, skipped, wanted)

    async def revocations_async(self, issuer: str | None = None) -> list[Revocation]:
        wanted = self._check_issuer_filter(issuer)
        state = self._async_client()
        skipped: Counter[str] = Counter()
        rows: list[Row] = []
        cursor: object = 0
        try:
            while True:
                reply = await self._bounded(state.read(args=read_args(cursor, self._keys)))
                cursor, found = decode_read_reply(reply, skipped)
                rows += found
                if scan_done(cursor):
                    break
        except self._errors as error:
            raise self._failed(error, "list") from None
        return self._listing(rows, skipped, wanted)

    def _listing(self, rows: list[Row], skipped: Counter[str], issuer: str | None) -> list[Revocation]:
        if skipped:
            self._mirror_skipped(skipped)
        now = self._clock()
        found: dict[tuple[str, str, str], Revocation] = {}
        for kind, record_issuer, value, at_ms in rows:
            if issuer is not None and record_issuer != issuer:
                continue
            at = at_ms / 1000
            expires = self._index.expires_at(kind, at)
            if expires > now:
                found[record_issuer, kind, value] = Revocation(kind, record_issuer, value, at, expires)
        order = {"token": 0, "subject": 1, "client": 2}
        return sorted(found.values(), key=lambda r: (r.issuer, order[r.kind], r.value))

    # -- DPoP replay ----------------------------------------------------------------------

    def _claim(self, digest: bytes, ttl_ms: int) -> bool:
        try:
            return bool(self._client.set(self._keys.claim(digest), b"1", nx=True, px=ttl_ms))
        except self._errors as error:
            raise BackendError(error_reason(error)) from None

    async def _claim_async(self, digest: bytes, ttl_ms: int) -> bool:
        state = self._async_client()
        try:
            return bool(await self._bounded(state.client.set(self._keys.claim(digest), b"1", nx=True, px=ttl_ms)))
        except self._errors as error:
            raise BackendError(error_reason(error)) from None

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start this process's mirror reader if it is not running (returns at once)."""
        with self._start_lock:
            if self._closed:
                return
            reader = self._reader
            if reader is not None and reader.pid == os.getpid() and reader.alive:
                return
            client = self._new_client(self._block + self._timeout, "jwt_guard-mirror")
            self._reader = MirrorReader(
                self, client, self._keys, block=self._block, errors=self._errors, unblock=self._client.client_unblock
            )
            self._reader.start()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start, then wait (at most *timeout* seconds) until the mirror is current."""
        self.start()
        self._ready.wait(timeout)
        return self._trusted_until >= time.monotonic()

    async def wait_ready_async(self, timeout: float | None = None) -> bool:
        """:meth:`wait_ready` without blocking the event loop."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.is_set() and (deadline is None or time.monotonic() < deadline):
            await asyncio.sleep(0.01)
        return self._trusted_until >= time.monotonic()

    @property
    def failure_grace(self) -> float:
        """Seconds the mirror stays trusted without hearing from Redis."""
        return self._grace

    @property
    def ready(self) -> bool:
        """Whether the mirror is current now (the request path answers without failing)."""
        return self._trusted_until >= time.monotonic()

    def close(self) -> None:
        """Stop the mirror reader and close the sync connections."""
        with self._start_lock:
            self._closed = True
            reader, self._reader = self._reader, None
        self._trusted_until = self._inherited_until = 0.0
        if reader is not None and reader.pid == os.getpid():
            reader.stop(self._block + self._timeout + 1.0)
        self._client.close()

    async def aclose(self) -> None:
        """Close the connections of the running event loop, then :meth:`close`."""
        state = self._async.pop(asyncio.get_running_loop(), None)
        if state is not None:
            with contextlib.suppress(*self._errors):
                await self._bounded(state.client.aclose())
        self.close()

    def _after_fork(self) -> None:
        super()._after_fork()
        self._start_lock = threading.Lock()
        self._ready = threading.Event()
        self._async = {}
        # The parent's mirror is as current as the parent's was: trust it for
        # what is left of the parent's window while this process's own
        # reader (started on first use) catches up.
        self._inherited_until = self._trusted_until if self._synced else 0.0
        self._trusted_until = 0.0
        self._synced = False

    # -- the reader's reports (MirrorSink) ------------------------------------------------

    def _mirror_apply(self, rows: list[Row]) -> None:
        now = self._clock()
        try:
            with self._lock:
                for kind, issuer, value, at_ms in rows:
                    self._index.add(kind, issuer, value, at_ms / 1000, now)
        except IndexFull:
            self._mirror_full()
            raise

    def _mirror_contact(self, stamp: float) -> None:
        if self._synced and not self._overflow and not self._closed:
            self._trusted_until = stamp + self._grace
            self._inherited_until = 0.0
            self._ready.set()

    def _mirror_synced(self, records: int, seconds: float) -> None:
        self._synced = True
        self._overflow = False
        logger.debug("jwt_guard: revocation mirror read %d records in %.3f s", records, seconds)
        self._reporter.emit(EventKind.STORE_RESYNCED, records=records, seconds=seconds)
        if self._outage:
            self._outage = False
            logger.warning("jwt_guard: revocation store reachable again; mirror resynced (%d records)", records)
            self._reporter.emit(EventKind.STORE_RECOVERED, records=records)

    def _mirror_lost(self, reason: str) -> None:
        if not self._outage:
            self._outage = True
            left = max(0.0, self._trusted_until - time.monotonic())
            logger.warning(
                "jwt_guard: revocation mirror lost contact with Redis at %s (%s); trusted for %.1f s more",
                display_url(self._url),
                reason,
                left,
            )
            self._reporter.emit(EventKind.STORE_UNAVAILABLE, reason=reason, operation="mirror")

    def _mirror_skipped(self, reasons: Counter[str]) -> None:
        total = sum(reasons.values())
        self._warn("skipped", "jwt_guard: skipped %d malformed revocation records in Redis: %s", total, dict(reasons))
        self._reporter.emit(EventKind.STORE_RECORD_SKIPPED, count=total, reasons=dict(reasons))

    def _mirror_prune(self) -> None:
        with self._lock:
            self._index.prune(self._clock())

    def _mirror_full(self) -> None:
        first = not self._overflow
        self._overflow = True
        self._trusted_until = self._inherited_until = 0.0
        if not first:
            return
        logger.error(
            "jwt_guard: the revocation mirror holds max_records=%d records; it cannot be trusted", self._max_records
        )
        self._reporter.emit(EventKind.STORE_UNAVAILABLE, reason="full", operation="mirror")

    def __repr__(self) -> str:
        return f"RedisStore({display_url(self._url)!r}, prefix={self._keys.prefix!r}, ready={self.ready})"
