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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jwt_guard import _forks
from jwt_guard._reasons import details_of, reason_code, shown, with_details
from jwt_guard.errors import (
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidRequest,
    JWTGuardError,
    MissingToken,
)

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken

__all__ = [
    "Event",
    "EventKind",
    "RejectionLog",
    "Reporter",
    "format_details",
    "log_rejection",
    "logger",
    "report_refusal",
    "scope_refusal",
]

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
    # Introspection (RFC 7662): a call made, a failure, a call refused by the rate limit.
    INTROSPECTION_CALL = "introspection_call"
    INTROSPECTION_FAILED = "introspection_failed"
    INTROSPECTION_RATE_LIMITED = "introspection_rate_limited"
    # Emitted only while a hook is installed (see Verifier.add_event_hook):
    # every verification's outcome and duration, refused unknown-kid
    # refetches, and the refusals an adapter answers.
    TOKEN_VERIFIED = "token_verified"  # noqa: S105 - an event name
    VERIFICATION_FAILED = "verification_failed"
    UNKNOWN_KID_REFUSED = "unknown_kid_refused"
    REQUEST_REFUSED = "request_refused"


@dataclass(frozen=True)
class Event:
    """Something worth counting happened.

    ``kind`` is one of :class:`EventKind`; ``issuer`` the issuer concerned (if
    any); ``reason`` a stable, machine-readable code (for ``token_rejected``
    the reason code of :func:`jwt_guard.reason_code`, such as ``"expired"``;
    for ``fetch_failed`` the failure reason); ``details`` small extra facts
    such as ``url``, ``kid``, ``keys`` or, for ``token_rejected``, ``error``
    (the error class name).

    What each kind carries:

    ``token_verified``
        ``issuer`` the token's (a configured one); ``details``: ``duration``
        (seconds), ``cached`` (answered from the verified-result cache;
        ``None`` without a cache) and ``token`` (the
        :class:`~jwt_guard.AccessToken`, whose ``repr`` never shows the JWT).
    ``token_rejected`` / ``verification_failed``
        ``reason`` the reason code; ``details``: ``error`` (class name),
        ``duration`` and ``cached``. ``token_rejected`` is the client's
        fault (401/403); ``verification_failed`` is not (503: keys, store or
        introspection unavailable). No issuer: a refused token's ``iss`` is
        whatever its sender wrote.
    ``keys_fetched`` / ``keys_not_modified`` / ``fetch_failed``
        ``issuer`` the key set's label (the configured issuer, or
        ``jwks_uri``); ``details``: ``duration`` of the fetch (seconds).
    ``unknown_kid_refetch`` / ``unknown_kid_refused``
        a token named a ``kid`` the cached set lacks: a refetch started, or
        none was allowed (``reason``: ``cooldown``, ``backoff`` or
        ``known_absent``).
    ``introspection_call``
        one call to the introspection endpoint; ``reason`` ``None`` when it
        answered, else the failure reason; ``details``: ``duration``.
    ``request_refused``
        an adapter answered a refusal: ``reason`` the reason code;
        ``details``: ``status`` (400, 401, 403 or 503) and ``adapter``
        (``"asgi"``, ``"wsgi"``, ``"fastapi"``, ``"django"`` or ``None``).
    """

    kind: str
    issuer: str | None = None
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_new_event = object.__new__


def _event(kind: str, issuer: str | None, reason: str | None, details: dict[str, Any]) -> Event:
    # The frozen dataclass __init__ sets each field through object.__setattr__,
    # several times the cost of filling the instance dict directly; events are
    # made on every verification while a hook is installed.
    event: Event = _new_event(Event)
    values = event.__dict__
    values["kind"] = kind
    values["issuer"] = issuer
    values["reason"] = reason
    values["details"] = details
    return event


class Reporter:
    """Sends events to the application's hooks; logging stays with callers.

    Hooks run in the order they were added; one that raises is logged and
    the others still run.
    """

    __slots__ = ("_hook", "_hooks")

    def __init__(self, hook: Callable[[Event], None] | None) -> None:
        self._hooks: tuple[Callable[[Event], None], ...] = () if hook is None else (hook,)
        self._hook = hook

    @property
    def enabled(self) -> bool:
        return self._hook is not None

    def add(self, hook: Callable[[Event], None]) -> None:
        """Send every later event to *hook* too."""
        if not callable(hook):
            raise TypeError(f"an event hook must be callable, not {type(hook).__name__}")
        hooks = (*self._hooks, hook)
        self._hooks = hooks
        self._hook = hook if len(hooks) == 1 else self._fan_out

    def _fan_out(self, event: Event) -> None:
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                logger.exception("jwt_guard event hook failed for event %s", event.kind)

    def send(self, kind: str, issuer: str | None, reason: str | None, details: dict[str, Any]) -> None:
        """:meth:`emit` with *details* as a dict: the per-verification path."""
        hook = self._hook
        if hook is None:
            return
        event: Event = _new_event(Event)  # as _event does, without the call
        values = event.__dict__
        values["kind"] = kind
        values["issuer"] = issuer
        values["reason"] = reason
        values["details"] = details
        try:
            hook(event)
        except Exception:
            logger.exception("jwt_guard event hook failed for event %s", kind)

    def emit(self, kind: str, issuer: str | None = None, reason: str | None = None, **details: Any) -> None:
        hook = self._hook
        if hook is None:
            return
        try:
            hook(_event(kind, issuer, reason, details))
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


def scope_refusal(required: Iterable[str], granted: frozenset[str]) -> InsufficientScope:
    """The :class:`~jwt_guard.InsufficientScope` refusing a token that grants
    *granted*, with the scopes expected, received and missing as its details
    (what the rejection log line names)."""
    error = InsufficientScope(required)
    return with_details(
        error,
        claim="scope",
        expected=list(error.required_scopes),
        received=shown(sorted(granted)),
        missing=[scope for scope in error.required_scopes if scope not in granted],
    )


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
        details = details_of(scope_refusal(error.required_scopes, token.scopes))
    _ADAPTERS.log(error, details)


#: Refusals decided by the request layer, never by a verifier: only these are
#: logged when an adapter answers (the verifier logs the tokens it refuses).
_DECIDED_BY_ADAPTERS = (MissingToken, InvalidRequest, InsufficientScope, InsufficientUserAuthentication)


def report_refusal(error: JWTGuardError, reporter: Reporter | None, adapter: str | None) -> None:
    """An adapter answers *error*: log it when the request layer decided it
    (:func:`log_rejection`), and emit ``request_refused`` to *reporter* (the
    verifier's) naming the status and the *adapter*."""
    if isinstance(error, _DECIDED_BY_ADAPTERS):
        log_rejection(error)
    if reporter is not None and reporter.enabled:
        reporter.emit(EventKind.REQUEST_REFUSED, None, reason_code(error), status=error.status_code, adapter=adapter)
