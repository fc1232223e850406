"""Observability: reason-coded log lines and the optional event hook.

Nothing logged or emitted here ever contains a token or key material: only
issuers, URLs, ``kid`` values, reason codes, counts, and the expected vs
received values of the claims at fault.

Refused requests are logged at INFO by :class:`RejectionLog`, rate-limited
per reason code. The verifier logs the tokens it refuses; refusals decided
outside it (a missing or malformed ``Authorization`` header, a token lacking
a scope the route requires) must be logged by the adapter that decides them,
through :func:`log_rejection`, so that every 400, 401 and 403 leaves a line.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jwt_guard import _forks
from jwt_guard._reasons import details_of, reason_code, shown
from jwt_guard.errors import InsufficientScope, JWTGuardError

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken

__all__ = ["Event", "EventKind", "RejectionLog", "Reporter", "format_details", "log_rejection", "logger"]

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
    the reason code of :func:`jwt_guard.reason_code`, such as ``"expired"``;
    for ``fetch_failed`` the failure reason); ``details`` small extra facts
    such as ``url``, ``kid``, ``keys`` or, for ``token_rejected``, ``error``
    (the error class name).
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


# -- rejection log lines ---------------------------------------------------------


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, (list, tuple)) and len(value) == 1:
        value = value[0]
    # repr escapes control and bidi characters: a hostile claim cannot forge
    # log lines or reorder what a terminal shows.
    return repr(list(value) if isinstance(value, tuple) else value)


def format_details(details: Mapping[str, Any]) -> str:
    """Details as a log phrase: ``aud: expected 'a', received 'b'``."""
    if not details:
        return ""
    parts = [f"{key} {_value(details[key])}" for key in ("expected", "received", "missing") if key in details]
    parts += [
        f"{key}={_value(value)}"
        for key, value in details.items()
        if key not in ("claim", "expected", "received", "missing")
    ]
    claim = details.get("claim")
    text = ", ".join(parts)
    if claim is None:
        return text
    return f"{claim}: {text}" if text else str(claim)


@dataclass
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0


class RejectionLog:
    """Logs refused requests at INFO, rate-limited per reason code.

    At most *burst* lines per reason code in each *interval* seconds; lines
    beyond that are counted, and the count is reported by the next line of
    that reason. Memory is bounded: one small record per reason code, and
    reason codes are a fixed set (:data:`~jwt_guard._reasons.REASON_CODES`).

    INFO, because refusals are routine (tokens expire every few minutes) but
    must be visible with one line of logging configuration: the README shows
    it for uvicorn, gunicorn, Flask and Django.
    """

    def __init__(self, *, burst: int = 10, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._burst = burst
        self._interval = interval
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        _forks.register(self)

    def log(self, error: JWTGuardError, details: Mapping[str, Any] | None = None) -> None:
        """Log *error* (with *details*, else the error's own) unless its
        reason code is over its rate."""
        if not logger.isEnabledFor(logging.INFO):
            return
        code = reason_code(error)
        now = self._clock()
        with self._lock:
            window = self._windows.get(code)
            carried = 0
            if window is None or now - window.start >= self._interval:
                carried = window.suppressed if window is not None else 0
                window = self._windows[code] = _Window(now)
            if window.logged >= self._burst:
                window.suppressed += 1
                return
            window.logged += 1
        phrase = format_details(details_of(error) if details is None else details)
        suffix = f" [{carried} earlier {code} rejections not logged: rate limit]" if carried else ""
        logger.info(
            "jwt_guard: request rejected (%s, %d): %s%s%s",
            code,
            error.status_code,
            error.description,
            f"; {phrase}" if phrase else "",
            suffix,
            extra={"jwt_guard_reason": code},
        )

    def after_fork(self) -> None:
        self._lock = threading.Lock()


#: Refusals decided by adapters share this limit; every Verifier has its own.
_ADAPTERS = RejectionLog()


def log_rejection(error: JWTGuardError, token: AccessToken | None = None) -> None:
    """Log a refusal decided outside the verifier (rate-limited, INFO).

    Adapters call this for every error they answer themselves:
    :class:`~jwt_guard.MissingToken` and :class:`~jwt_guard.InvalidRequest`
    (400/401 before any token is verified) and
    :class:`~jwt_guard.InsufficientScope` (403), passing the verified
    *token* so that the line names the missing scopes. Tokens the verifier
    refuses are logged by the verifier: adapters must not log those again.
    """
    details: Mapping[str, Any] | None = None
    if isinstance(error, InsufficientScope) and token is not None:
        granted = token.scopes
        details = {
            "claim": "scope",
            "expected": list(error.required_scopes),
            "received": shown(sorted(granted)),
            "missing": [scope for scope in error.required_scopes if scope not in granted],
        }
    _ADAPTERS.log(error, details)
