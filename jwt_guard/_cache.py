"""The verified-result cache: raw token → :class:`AccessToken`, bounded.

A hit costs one dict lookup and one clock read, so a repeated token is
nearly free. Entries never outlive the token's own validity window nor the
configured TTL, and :meth:`ResultCache.clear` (called when a key set
changes) also stops verifications that read the old keys from inserting
their result afterwards (the *epoch*).

Eviction is first-in, first-out, an eighth of the entries at a time: a
plain dict keeps insertion order, so the oldest entries are the first ones
iterated. (Evicting one entry per insert would cost a scan over the slots
of every entry deleted before, which a dict keeps until it resizes.) An LRU
would reorder on every hit; for tokens, which are re-inserted at the cost of
one verification once evicted, FIFO keeps hits cheaper at no real loss.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from jwt_guard import _forks
from jwt_guard._access_token import AccessToken

__all__ = ["ResultCache"]


class ResultCache:
    """At most *size* verified results, each kept at most *ttl* seconds."""

    __slots__ = ("__weakref__", "_batch", "_clock", "_entries", "_lock", "_max_key", "_size", "_ttl", "epoch")

    def __init__(self, size: int, ttl: float, clock: Callable[[], float], max_key: int) -> None:
        self._entries: dict[str, tuple[AccessToken, float, float]] = {}
        self._size = size
        self._batch = max(1, size // 8)
        self._ttl = ttl
        self._clock = clock
        # Keys are tokens that parsed, so never longer than the size cap:
        # hashing a longer string could only miss, at O(length) cost.
        self._max_key = max_key
        self._lock = threading.Lock()
        #: Bumped by :meth:`clear`; :meth:`put` ignores results of an older epoch.
        self.epoch = 0
        _forks.register(self)

    def get(self, token: str | bytes) -> AccessToken | None:
        """The cached result for *token*, if present and still valid now."""
        if token.__class__ is not str or len(token) > self._max_key:
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        result, not_before, not_after = entry
        if not_before <= self._clock() < not_after:
            return result
        self._entries.pop(token, None)
        return None

    def put(self, token: str, result: AccessToken, not_before: float, not_after: float, epoch: int) -> None:
        """Remember *result* until *not_after* (and at most the TTL from now),
        unless the cache was cleared since *epoch* was read."""
        entries = self._entries
        if len(entries) >= self._size and token not in entries:
            try:
                for oldest in list(itertools.islice(entries, self._batch)):
                    entries.pop(oldest, None)
            except RuntimeError:  # resized by another thread (free-threaded builds): skip
                pass
        entries[token] = (result, not_before, min(not_after, self._clock() + self._ttl))
        # No lock: clear() bumps the epoch before it empties the dict, so
        # whichever way the two interleave, a result read with the old keys
        # is gone once both are done.
        if epoch != self.epoch:
            entries.pop(token, None)

    def clear(self) -> None:
        """Forget every entry and invalidate verifications under way."""
        with self._lock:  # two clears at once must both bump the epoch
            self.epoch += 1
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def after_fork(self) -> None:
        self._lock = threading.Lock()
