"""MemoryStore: revocation and replay records for one process."""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import Any

from jwt_guard._events import Event
from jwt_guard.errors import ConfigurationError
from jwt_guard.stores._base import BackendError, Store, StoreFailure
from jwt_guard.stores._index import IndexFull
from jwt_guard.stores._records import Revocation

__all__ = ["MemoryStore"]


class MemoryStore(Store):
    """Revocations and DPoP replay records held in this process's memory.

    ::

        store = MemoryStore()
        store.revoke_subject("alice", issuer="https://idp.example.com/")

    For one process (a single worker, tests, development): another worker
    or host does not see these records, and they are gone when the process
    ends. A forked child starts with a copy of its parent's records and keeps
    its own from then on. Use :class:`~jwt_guard.stores.RedisStore` for more.

    Thread-safe, and safe to share between sync and async code: no method
    does I/O, and the async twins call the sync ones. Bounded: at most
    ``max_records`` revocations and ``max_replay_records`` replay records;
    when either is full of unexpired entries, nothing active is evicted: a
    revocation write raises :class:`~jwt_guard.StoreUnavailable` and a
    replay claim follows ``store_failure``.

    :param max_replay_records: most unexpired :meth:`claim_once` keys kept.

    The other options are :class:`~jwt_guard.stores.Store`'s.
    """

    def __init__(
        self,
        *,
        store_failure: StoreFailure = "closed",
        max_token_lifetime: Any = 86400.0,
        clock_skew: Any = 60.0,
        max_records: int = 1_000_000,
        max_replay_records: int = 100_000,
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
        if isinstance(max_replay_records, bool) or not isinstance(max_replay_records, int) or max_replay_records < 1:
            raise ConfigurationError("max_replay_records must be a positive integer")
        # Replay records: digest -> monotonic deadline, and the deadlines in a
        # heap, so that lapsed records leave in deadline order (each claim
        # drops those that lapsed: amortised O(log n), no scan of the rest).
        self._replay: dict[bytes, float] = {}
        self._deadlines: list[tuple[float, bytes]] = []
        self._max_replay = max_replay_records

    def _store_record(self, record: Revocation) -> None:
        try:
            self._add_to_index(record)
        except IndexFull:
            raise self._index_full() from None

    async def _store_record_async(self, record: Revocation) -> None:
        self._store_record(record)

    def revocations(self, issuer: str | None = None) -> list[Revocation]:
        issuer = self._check_issuer_filter(issuer)
        with self._lock:
            return self._index.records(issuer, self._clock())

    async def revocations_async(self, issuer: str | None = None) -> list[Revocation]:
        return self.revocations(issuer)

    def _claim(self, digest: bytes, ttl_ms: int) -> bool:
        now = time.monotonic()
        with self._lock:
            replay = self._replay
            deadline = replay.get(digest)
            if deadline is not None and deadline > now:
                return False
            deadlines = self._deadlines
            while deadlines and deadlines[0][0] <= now:
                _, lapsed = heapq.heappop(deadlines)
                if replay.get(lapsed, now) <= now:  # not claimed again since
                    replay.pop(lapsed, None)
            if digest not in replay and len(replay) >= self._max_replay:
                raise BackendError("full")  # nothing unexpired is evicted to make room
            deadline = now + ttl_ms / 1000
            replay[digest] = deadline
            heapq.heappush(deadlines, (deadline, digest))
            return True

    async def _claim_async(self, digest: bytes, ttl_ms: int) -> bool:
        return self._claim(digest, ttl_ms)

    def __repr__(self) -> str:
        return f"MemoryStore(records={len(self._index)}, store_failure={self._store_failure!r})"
