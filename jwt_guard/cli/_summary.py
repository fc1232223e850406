"""The live summary line of ``jwt-guard demo``: requests, refusals by reason
and the key set's state, counted from a verifier's events.

:class:`Summary` is an event hook (:meth:`Verifier.add_event_hook
<jwt_guard.Verifier.add_event_hook>`); :meth:`Summary.line` renders what it
counted. The demo prints that line every few seconds when it changed.
"""

from __future__ import annotations

import threading
from collections import Counter

from jwt_guard._events import Event, EventKind

__all__ = ["Summary"]

#: Most refusal reasons named in the line; the rest are summed as "other".
MAX_REASONS = 5


class Summary:
    """Counts of one verifier's events, safe to update from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._verified = 0
        self._refused: Counter[str] = Counter()
        self._keys = "not fetched"

    def __call__(self, event: Event) -> None:
        kind = event.kind
        with self._lock:
            if kind == EventKind.TOKEN_VERIFIED:
                self._verified += 1
            elif kind == EventKind.REQUEST_REFUSED:
                self._refused[event.reason or "other"] += 1
            elif kind in (EventKind.KEYS_FETCHED, EventKind.KEYS_NOT_MODIFIED):
                self._keys = "fresh"
            elif kind == EventKind.SERVING_STALE:
                self._keys = f"stale ({event.reason})"
            elif kind == EventKind.FETCH_FAILED and self._keys == "not fetched":
                self._keys = f"unavailable ({event.reason})"

    def line(self) -> str:
        """``verified 3, refused 2 (expired 1, insufficient_scope 1), keys fresh``."""
        with self._lock:
            verified, refused, keys = self._verified, self._refused.copy(), self._keys
        total = sum(refused.values())
        parts = [f"{reason} {count}" for reason, count in refused.most_common(MAX_REASONS)]
        rest = total - sum(count for _, count in refused.most_common(MAX_REASONS))
        if rest:
            parts.append(f"other {rest}")
        reasons = f" ({', '.join(parts)})" if parts else ""
        return f"verified {verified}, refused {total}{reasons}, keys {keys}"
