"""The store abstraction shared by revocation and DPoP replay detection.

:class:`Store` owns every decision that needs no I/O, once for the sync and
the async faces and for every backend: what a write may contain, how long a
record lives, what the request-path check answers, and what happens when the
backend fails (``store_failure``). Backends only move records.
"""

from __future__ import annotations

import abc
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from jwt_guard._events import Event, EventKind, Reporter, logger
from jwt_guard.errors import ConfigurationError, StoreUnavailable
from jwt_guard.stores._index import RevocationIndex
from jwt_guard.stores._records import (
    MAX_ISSUER_LENGTH,
    MAX_VALUE_LENGTH,
    Revocation,
    RevocationKind,
    claim_digest,
    epoch_ms,
    seconds_option,
    text,
)

if TYPE_CHECKING:
    from types import TracebackType

    from jwt_guard._access_token import AccessToken

__all__ = ["BackendError", "Store", "StoreFailure", "revocation_store"]

#: What a store does when it cannot vouch for its answer: ``"closed"`` refuses
#: the request with :class:`~jwt_guard.StoreUnavailable` (503 + Retry-After),
#: ``"open"`` accepts it, with a warning in the log and an event.
StoreFailure = Literal["closed", "open"]

_monotonic = time.monotonic
_LOG_INTERVAL = 10.0  # seconds between two warnings of the same kind
_MAX_CLAIM_TTL = 31 * 86400.0


def revocation_store(store: object, *, leeway: float) -> Store:
    """*store* checked for use as ``Verifier(revocation=store)`` with *leeway*,
    and started (a mirror begins its first read; this returns at once).

    A ``jti`` record lapses ``clock_skew`` after the token's ``exp``, while
    the verifier accepts the token until ``exp + leeway``: a store whose
    ``clock_skew`` is below the leeway would let a revoked token back in for
    the difference, so that is a :class:`~jwt_guard.ConfigurationError`.
    """
    if not isinstance(store, Store):
        raise ConfigurationError(
            f"revocation must be a jwt_guard.stores store (MemoryStore, RedisStore), not {type(store).__name__}"
        )
    if store.clock_skew < leeway:
        raise ConfigurationError(
            f"the revocation store's clock_skew ({store.clock_skew:g} s) is smaller than the verifier's leeway "
            f"({leeway:g} s): a revoked token would be accepted again for the difference after its exp; "
            f"create the store with clock_skew={leeway:g} or more"
        )
    store.start()
    return store


class BackendError(Exception):
    """A backend operation failed; *reason* is a short, stable code."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# -- fork safety: locks held by another thread at fork() are unusable in the child --

_STORES: weakref.WeakSet[Store] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for store in list(_STORES):
        store._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Store(abc.ABC):
    """Shared state for revocation and DPoP replay detection.

    Use :class:`~jwt_guard.stores.MemoryStore` for one process and
    :class:`~jwt_guard.stores.RedisStore` for many. One store object serves
    both uses, from sync and async code alike.

    :param store_failure: ``"closed"`` (default) or ``"open"``: see
        :data:`StoreFailure`.
    :param max_token_lifetime: the longest lifetime (``exp - iat``) of the
        tokens you accept; a subject or client cutoff is kept this long
        (seconds or ``timedelta``; default 24 h). Tokens that live longer
        outlive the cutoff: keep it at least your issuer's longest lifetime.
    :param clock_skew: seconds of clock difference tolerated between hosts
        (default 60, the verifier's default ``leeway``). A ``jti`` record
        outlives the token's ``exp`` by this much, and ``before`` may lie up
        to this far in the future. Keep it at least the verifiers' ``leeway``.
    :param max_records: most active revocation records held in memory; a
        write that finds no room raises :class:`~jwt_guard.StoreUnavailable`
        rather than evicting an active revocation.
    :param retry_after: the ``Retry-After`` seconds of a 503 answer.
    :param on_event: called with an :class:`~jwt_guard.Event` on failures,
        recoveries, resyncs, skipped records and replayed proofs.
    :param clock: the current time in epoch seconds (tests).
    """

    def __init__(
        self,
        *,
        store_failure: StoreFailure = "closed",
        max_token_lifetime: Any = 86400.0,
        clock_skew: Any = 60.0,
        max_records: int = 1_000_000,
        retry_after: float = 5.0,
        on_event: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if store_failure not in ("closed", "open"):
            raise ConfigurationError('store_failure must be "closed" or "open"')
        if isinstance(max_records, bool) or not isinstance(max_records, int) or max_records < 1:
            raise ConfigurationError("max_records must be a positive integer")
        if on_event is not None and not callable(on_event):
            raise ConfigurationError("on_event must be callable")
        if not callable(clock):
            raise ConfigurationError("clock must be callable")
        self._store_failure: StoreFailure = store_failure
        self._max_token_lifetime = seconds_option("max_token_lifetime", max_token_lifetime)
        self._clock_skew = seconds_option("clock_skew", clock_skew, allow_zero=True)
        self._retry_after = seconds_option("retry_after", retry_after)
        self._max_records = max_records
        self._clock = clock
        self._reporter = Reporter(on_event)
        self._index = RevocationIndex(
            max_records=max_records,
            token_grace=self._clock_skew,
            cutoff_lifetime=self._max_token_lifetime + self._clock_skew,
        )
        self._lock = threading.Lock()
        self._logged: dict[str, float] = {}
        # The request path trusts the index until this monotonic instant.
        self._trusted_until = math.inf
        _STORES.add(self)

    def add_event_hook(self, hook: Callable[[Event], None]) -> None:
        """Send this store's events (``store_unavailable``, ``store_failed_open``,
        ``replay_detected`` …) to *hook* too, after ``on_event``."""
        self._reporter.add(hook)

    # -- options ------------------------------------------------------------------------

    @property
    def store_failure(self) -> StoreFailure:
        """``"closed"`` or ``"open"``."""
        return self._store_failure

    @property
    def max_token_lifetime(self) -> float:
        """Seconds a subject or client cutoff is kept."""
        return self._max_token_lifetime

    @property
    def clock_skew(self) -> float:
        """Seconds of clock difference tolerated between hosts."""
        return self._clock_skew

    # -- the request path: memory only ----------------------------------------------

    def check(
        self,
        issuer: str,
        jti: str | None,
        sub: str | None,
        client_id: str | None,
        iat: float | None,
    ) -> RevocationKind | None:
        """Is this token revoked? Answers from memory, without I/O.

        Returns the kind of the record that refuses the token (``"token"``,
        ``"subject"`` or ``"client"``), or ``None``. A subject or client
        cutoff refuses tokens issued (``iat``) at or before it, and tokens
        without a usable ``iat``. Records apply only to their own issuer.

        Raises :class:`~jwt_guard.StoreUnavailable` when the store cannot
        vouch for its answer and ``store_failure="closed"``.
        """
        if self._trusted_until < _monotonic():
            self._untrusted()
        return self._index.check(issuer, jti, sub, client_id, iat)

    def check_token(self, token: AccessToken) -> RevocationKind | None:
        """:meth:`check` for a verified :class:`~jwt_guard.AccessToken`.

        The client is ``client_id``, else ``azp``, as
        :attr:`AccessToken.client_id <jwt_guard.AccessToken.client_id>` reads it.
        This is what ``Verifier(revocation=store)`` calls on every request.
        """
        if self._trusted_until < _monotonic():
            self._untrusted()
        return self._index.check_claims(token.claims)

    def _untrusted(self) -> None:
        """The index may be behind: apply ``store_failure``. Backends refine this."""
        self._fail("mirror_stale", "revocation store is not current")

    def _fail(self, reason: str, message: str) -> None:
        """Refuse (closed) or accept with a warning and an event (open)."""
        if self._store_failure == "closed":
            raise StoreUnavailable(retry_after=self._retry_after)
        self._warn(reason, "jwt_guard: %s; accepting (store_failure='open')", message)
        self._reporter.emit(EventKind.STORE_FAILED_OPEN, reason=reason)

    # -- revocation writes --------------------------------------------------------------

    def revoke_token(self, jti: str, *, issuer: str, expires_at: Any) -> Revocation:
        """Refuse the token whose ``jti`` is *jti* (from *issuer*) until its ``exp``.

        *expires_at* is the token's ``exp``: an aware ``datetime`` or epoch
        seconds. Returns the record; a token already past ``exp`` (plus the
        clock skew) needs none, and nothing is written.

        :raises TypeError: an argument of the wrong type.
        :raises ValueError: an empty or oversized string, a naive datetime, a
            time that is not finite, negative or beyond the year 9999.
        :raises ~jwt_guard.StoreUnavailable: the record could not be stored.
        """
        record = self._record("token", "jti", jti, issuer, epoch_ms("expires_at", expires_at))
        if record.expires_at > self._clock():
            self._store_record(record)
        return record

    def revoke_subject(self, sub: str, *, issuer: str, before: Any = None) -> Revocation:
        """Refuse tokens of subject *sub* (from *issuer*) issued at or before *before*.

        *before* is an aware ``datetime`` or epoch seconds, at most
        ``clock_skew`` in the future; ``None`` means now. Raises as
        :meth:`revoke_token`.
        """
        record = self._cutoff("subject", "sub", sub, issuer, before)
        if record.expires_at > self._clock():
            self._store_record(record)
        return record

    def revoke_client(self, client_id: str, *, issuer: str, before: Any = None) -> Revocation:
        """Refuse tokens of OAuth client *client_id* (``client_id`` or ``azp``)
        issued at or before *before*. As :meth:`revoke_subject`."""
        record = self._cutoff("client", "client_id", client_id, issuer, before)
        if record.expires_at > self._clock():
            self._store_record(record)
        return record

    async def revoke_token_async(self, jti: str, *, issuer: str, expires_at: Any) -> Revocation:
        """:meth:`revoke_token` for async code."""
        record = self._record("token", "jti", jti, issuer, epoch_ms("expires_at", expires_at))
        if record.expires_at > self._clock():
            await self._store_record_async(record)
        return record

    async def revoke_subject_async(self, sub: str, *, issuer: str, before: Any = None) -> Revocation:
        """:meth:`revoke_subject` for async code."""
        record = self._cutoff("subject", "sub", sub, issuer, before)
        if record.expires_at > self._clock():
            await self._store_record_async(record)
        return record

    async def revoke_client_async(self, client_id: str, *, issuer: str, before: Any = None) -> Revocation:
        """:meth:`revoke_client` for async code."""
        record = self._cutoff("client", "client_id", client_id, issuer, before)
        if record.expires_at > self._clock():
            await self._store_record_async(record)
        return record

    def _record(self, kind: RevocationKind, name: str, value: object, issuer: object, at_ms: int) -> Revocation:
        value = text(name, value, MAX_VALUE_LENGTH)
        issuer = text("issuer", issuer, MAX_ISSUER_LENGTH)
        at = at_ms / 1000
        return Revocation(kind, issuer, value, at, self._index.expires_at(kind, at))

    def _cutoff(self, kind: RevocationKind, name: str, value: object, issuer: object, before: object) -> Revocation:
        now = self._clock()
        if before is None:
            at_ms = epoch_ms("the clock", now)
        else:
            at_ms = epoch_ms("before", before)
            # A cutoff in the future would also refuse tokens not yet issued:
            # allowed only within the clock skew between hosts.
            if at_ms > math.ceil((now + self._clock_skew) * 1000):
                raise ValueError(f"before lies more than clock_skew ({self._clock_skew:g} s) in the future")
        return self._record(kind, name, value, issuer, at_ms)

    def _add_to_index(self, record: Revocation) -> bool:
        """Add *record* to the index under the lock; raises IndexFull."""
        with self._lock:
            return self._index.add(record.kind, record.issuer, record.value, record.at, self._clock())

    @abc.abstractmethod
    def _store_record(self, record: Revocation) -> None:
        """Make *record* durable and visible here; raise StoreUnavailable if not."""

    @abc.abstractmethod
    async def _store_record_async(self, record: Revocation) -> None:
        """:meth:`_store_record` for async code."""

    # -- listing ------------------------------------------------------------------------

    @abc.abstractmethod
    def revocations(self, issuer: str | None = None) -> list[Revocation]:
        """The active records (of *issuer*, or all), by issuer, kind and value."""

    @abc.abstractmethod
    async def revocations_async(self, issuer: str | None = None) -> list[Revocation]:
        """:meth:`revocations` for async code."""

    def _check_issuer_filter(self, issuer: object) -> str | None:
        return None if issuer is None else text("issuer", issuer, MAX_ISSUER_LENGTH)

    # -- DPoP replay --------------------------------------------------------------------

    def claim_once(self, key: str, ttl_seconds: float) -> bool:
        """Record *key* for *ttl_seconds*; ``True`` the first time, ``False`` on a replay.

        Atomic across every process sharing the store. *key* should name its
        use (``"dpop:<jkt>:<jti>"``); it is stored only as a SHA-256 digest.
        When the backend fails: ``"closed"`` raises
        :class:`~jwt_guard.StoreUnavailable`, ``"open"`` answers ``True``
        with a warning and an event.
        """
        digest, ttl_ms = self._claim_args(key, ttl_seconds)
        try:
            first = self._claim(digest, ttl_ms)
        except BackendError as error:
            return self._claim_failed(error)
        return self._claimed(first)

    async def claim_once_async(self, key: str, ttl_seconds: float) -> bool:
        """:meth:`claim_once` for async code."""
        digest, ttl_ms = self._claim_args(key, ttl_seconds)
        try:
            first = await self._claim_async(digest, ttl_ms)
        except BackendError as error:
            return self._claim_failed(error)
        return self._claimed(first)

    @staticmethod
    def _claim_args(key: object, ttl_seconds: object) -> tuple[bytes, int]:
        if isinstance(ttl_seconds, bool) or not isinstance(ttl_seconds, (int, float)):
            raise TypeError(f"ttl_seconds must be a number, not {type(ttl_seconds).__name__}")
        if not (math.isfinite(ttl_seconds) and 0 < ttl_seconds <= _MAX_CLAIM_TTL):
            raise ValueError(f"ttl_seconds must lie in (0, {_MAX_CLAIM_TTL:g}]")
        return claim_digest(key), max(1, math.ceil(ttl_seconds * 1000))

    def _claimed(self, first: bool) -> bool:
        if not first:
            self._reporter.emit(EventKind.REPLAY_DETECTED)
        return first

    def _claim_failed(self, error: BackendError) -> bool:
        self._reporter.emit(EventKind.STORE_UNAVAILABLE, reason=error.reason, operation="claim_once")
        self._fail(f"replay_{error.reason}", f"replay check failed ({error.reason})")
        return True

    @abc.abstractmethod
    def _claim(self, digest: bytes, ttl_ms: int) -> bool:
        """Set *digest* if absent, for *ttl_ms*; raise BackendError on failure."""

    @abc.abstractmethod
    async def _claim_async(self, digest: bytes, ttl_ms: int) -> bool:
        """:meth:`_claim` for async code."""

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:  # noqa: B027 - optional hook, a no-op for stores without a mirror
        """Begin keeping the local state current (idempotent, returns at once)."""

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start, then wait until the request path can answer; ``True`` once ready."""
        self.start()
        return True

    async def wait_ready_async(self, timeout: float | None = None) -> bool:
        """:meth:`wait_ready` for async code (never blocks the event loop)."""
        self.start()
        return True

    def ensure_ready(self, timeout: float | None = None) -> None:
        """:meth:`wait_ready`; if the store still cannot vouch for its answers,
        ``store_failure`` decides: ``"closed"`` raises
        :class:`~jwt_guard.StoreUnavailable`, ``"open"`` warns (and emits an event).
        ``Verifier.prefetch()`` calls this."""
        if not self.wait_ready(timeout):
            self._untrusted()

    async def ensure_ready_async(self, timeout: float | None = None) -> None:
        """:meth:`ensure_ready` for async code (never blocks the event loop)."""
        if not await self.wait_ready_async(timeout):
            self._untrusted()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release threads and connections. The store is not used afterwards."""

    async def aclose(self) -> None:
        """Release connections bound to the running event loop, then :meth:`close`."""
        self.close()

    def __enter__(self) -> Store:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Store:
        self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- plumbing -----------------------------------------------------------------------

    def _after_fork(self) -> None:
        """In a forked child: a lock held by another parent thread would never be released."""
        self._lock = threading.Lock()

    def _warn(self, reason: str, message: str, *args: object) -> None:
        """A warning, at most once per reason every few seconds."""
        now = _monotonic()
        last = self._logged.get(reason)
        if last is None or now - last >= _LOG_INTERVAL:
            self._logged[reason] = now
            logger.warning(message, *args)

    def _index_full(self) -> StoreUnavailable:
        logger.error("jwt_guard: revocation store holds max_records=%d active records", self._max_records)
        self._reporter.emit(EventKind.STORE_UNAVAILABLE, reason="full", max_records=self._max_records)
        return StoreUnavailable("the revocation store is full", retry_after=self._retry_after)
