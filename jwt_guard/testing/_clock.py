"""A controllable clock for tests (pass it as ``clock=`` to a Verifier)."""

from __future__ import annotations

import threading
import time

__all__ = ["FakeClock"]


class FakeClock:
    """Epoch seconds that move only when told to.

    ::

        clock = FakeClock()
        verifier = Verifier(..., clock=clock)
        clock.advance(601)   # ten minutes later
    """

    def __init__(self, start: float | None = None) -> None:
        self._now = float(time.time() if start is None else start)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self._now

    @property
    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move forward by *seconds*; return the new time."""
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
