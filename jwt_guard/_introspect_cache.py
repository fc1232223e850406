"""What introspection remembers and how often it may ask: the answer cache,
the call-rate limiter and the failure backoff. Pure apart from locks: time
is an argument.

The cache is keyed by the SHA-256 digest of the token, never the token
itself, and holds neither the token nor anything that contains it (hits
rebuild the :class:`~jwt_guard.AccessToken` around the presented token).
Active answers live until the token's ``exp`` and at most ``cache_ttl``;
inactive or refused tokens for ``negative_ttl``. It is bounded twice: in
entries and in estimated bytes, evicting oldest first (FIFO, like the
verified-result cache: a hit takes no lock and reorders nothing).
"""

from __future__ import annotations

import math
import threading
from typing import Any

from jwt_guard import _forks
from jwt_guard.errors import InvalidToken

__all__ = ["ENTRY_OVERHEAD", "AnswerCache", "Backoff", "RateLimit"]

#: Bytes counted for an entry beyond its answer's size: the digest, the
#: entry tuple, the dict slot and the claims dict's own overhead, measured
#: with tracemalloc for a typical answer (see benchmarks/introspection.py).
ENTRY_OVERHEAD = 1152
#: The parsed claims of an answer take about this many times its JSON size.
SIZE_FACTOR = 3

# (claims or None, scopes or the error, not_before, not_after, size)
Entry = tuple[dict[str, Any] | None, Any, float, float, int]


def entry_size(answer_size: int) -> int:
    """Bytes an entry is counted for, from the size of the answer it holds."""
    return SIZE_FACTOR * answer_size + ENTRY_OVERHEAD


class AnswerCache:
    """At most *max_entries* answers and *max_bytes* estimated bytes."""

    __slots__ = (
        "__weakref__",
        "_bytes",
        "_lock",
        "entries",
        "epoch",
        "max_bytes",
        "max_entries",
        "peak_bytes",
        "peak_entries",
    )

    def __init__(self, max_entries: int, max_bytes: int) -> None:
        #: digest → entry; read without the lock (writes take it).
        self.entries: dict[bytes, Entry] = {}
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.peak_entries = 0
        self.peak_bytes = 0
        self._lock = threading.Lock()
        #: Bumped by :meth:`clear`: answers fetched before it are not stored.
        self.epoch = 0
        _forks.register(self)

    def get(self, digest: bytes, now: float) -> Entry | None:
        """The live entry for *digest*, or ``None`` (an expired one is dropped)."""
        entry = self.entries.get(digest)
        if entry is None:
            return None
        if entry[2] <= now < entry[3]:
            return entry
        with self._lock:
            if self.entries.get(digest) is entry:
                del self.entries[digest]
                self._bytes -= entry[4]
        return None

    def put_active(
        self,
        digest: bytes,
        claims: dict[str, Any],
        scopes: frozenset[str],
        window: tuple[float, float],
        size: int,
        epoch: int,
    ) -> None:
        """Remember an accepted answer for the *window* (not_before, not_after)."""
        self._put(digest, (claims, scopes, window[0], window[1], size), epoch)

    def put_refused(self, digest: bytes, error: InvalidToken, until: float, epoch: int) -> None:
        """Remember that the token was refused with *error* until *until*."""
        self._put(digest, (None, (type(error), error.description), -math.inf, until, ENTRY_OVERHEAD), epoch)

    def _put(self, digest: bytes, entry: Entry, epoch: int) -> None:
        size = entry[4]
        if not self.max_entries or size > self.max_bytes:
            return
        entries = self.entries
        with self._lock:
            if epoch != self.epoch:
                return
            old = entries.pop(digest, None)
            if old is not None:
                self._bytes -= old[4]
            while entries and (len(entries) >= self.max_entries or self._bytes + size > self.max_bytes):
                evicted = entries.pop(next(iter(entries)))
                self._bytes -= evicted[4]
            entries[digest] = entry
            self._bytes += size
            self.peak_entries = max(self.peak_entries, len(entries))
            self.peak_bytes = max(self.peak_bytes, self._bytes)

    def clear(self) -> None:
        """Forget every answer; answers fetched before now are not stored."""
        with self._lock:
            self.epoch += 1
            self.entries.clear()
            self._bytes = 0

    @property
    def bytes(self) -> int:
        """Estimated bytes held now."""
        return self._bytes

    def __len__(self) -> int:
        return len(self.entries)

    def after_fork(self) -> None:
        self._lock = threading.Lock()


class RateLimit:
    """A token bucket: *rate* calls per second, *burst* at once. Call under a lock."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = -math.inf

    def take(self, now: float) -> float:
        """Spend one call now: 0.0 if allowed, else the seconds until one is."""
        if self._at == -math.inf:
            self._at = now
        elif now > self._at:
            self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
            self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Backoff:
    """After a failed call, new calls wait: the first delay doubles with each
    consecutive failure up to the ceiling, or follows the server's own
    ``Retry-After`` (within the ceiling). Call under a lock."""

    __slots__ = ("ceiling", "failures", "first", "retry_at")

    def __init__(self, first: float, ceiling: float) -> None:
        self.first = first
        self.ceiling = ceiling
        self.failures = 0
        self.retry_at = -math.inf

    def wait(self, now: float) -> float:
        """Seconds before the next call may start (0.0: now)."""
        return max(0.0, self.retry_at - now)

    def failed(self, now: float, hint: float | None = None) -> float:
        """Record a failure; return the delay before the next call."""
        self.failures += 1
        delay: float = min(self.ceiling, self.first * 2.0 ** min(self.failures - 1, 30))
        if hint is not None:
            delay = min(self.ceiling, max(delay, hint))
        self.retry_at = now + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.retry_at = -math.inf
