"""Observability: reason-coded log lines and the optional event hook.

Nothing logged or emitted here ever contains a token or key material: only
issuers, URLs, ``kid`` values, reason codes and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "EventKind", "Reporter", "logger"]

logger = logging.getLogger("jwt_guard")


class EventKind:
    """The ``kind`` values an :class:`Event` can carry."""

    KEYS_FETCHED = "keys_fetched"
    KEYS_NOT_MODIFIED = "keys_not_modified"
    FETCH_FAILED = "fetch_failed"
    SERVING_STALE = "serving_stale"
    UNKNOWN_KID_REFETCH = "unknown_kid_refetch"
    DISCOVERY_FETCHED = "discovery_fetched"
    TOKEN_REJECTED = "token_rejected"  # noqa: S105 - an event name
    # Revocation and replay stores (jwt_guard.stores).
    STORE_UNAVAILABLE = "store_unavailable"
    STORE_FAILED_OPEN = "store_failed_open"
    STORE_RESYNCED = "store_resynced"
    STORE_RECOVERED = "store_recovered"
    STORE_RECORD_SKIPPED = "store_record_skipped"
    REPLAY_DETECTED = "replay_detected"


@dataclass(frozen=True)
class Event:
    """Something worth counting happened.

    ``kind`` is one of :class:`EventKind`; ``issuer`` the issuer concerned (if
    any); ``reason`` a stable, machine-readable code (for ``token_rejected``
    the error class name, for ``fetch_failed`` the failure reason);
    ``details`` small extra facts such as ``url``, ``kid`` or ``keys``.
    """

    kind: str
    issuer: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


class Reporter:
    """Sends events to the application's hook; logging stays with callers."""

    __slots__ = ("_hook",)

    def __init__(self, hook: Callable[[Event], None] | None) -> None:
        self._hook = hook

    @property
    def enabled(self) -> bool:
        return self._hook is not None

    def emit(self, kind: str, issuer: str | None = None, reason: str | None = None, **details: Any) -> None:
        hook = self._hook
        if hook is None:
            return
        try:
            hook(Event(kind, issuer, reason, details))
        except Exception:
            logger.exception("jwt_guard event hook failed for event %s", kind)
