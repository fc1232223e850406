"""The demo's summary line, from the events it counts."""

from __future__ import annotations

from jwt_guard import EventKind
from jwt_guard._events import Event
from jwt_guard.cli._summary import MAX_REASONS, Summary


def event(kind: str, reason: str | None = None) -> Event:
    return Event(kind, "https://issuer.example.test/", reason, {})


def test_an_empty_summary():
    assert Summary().line() == "verified 0, refused 0, keys not fetched"


def test_verifications_refusals_and_key_state():
    summary = Summary()
    for kind, reason in [
        (EventKind.KEYS_FETCHED, None),
        (EventKind.TOKEN_VERIFIED, None),
        (EventKind.TOKEN_VERIFIED, None),
        (EventKind.REQUEST_REFUSED, "expired"),
        (EventKind.REQUEST_REFUSED, "expired"),
        (EventKind.REQUEST_REFUSED, "missing_token"),
        (EventKind.TOKEN_REJECTED, "expired"),  # the verifier's own: counted once, as the answer
    ]:
        summary(event(kind, reason))
    assert summary.line() == "verified 2, refused 3 (expired 2, missing_token 1), keys fresh"


def test_key_set_states():
    summary = Summary()
    summary(event(EventKind.FETCH_FAILED, "connect"))
    assert summary.line().endswith("keys unavailable (connect)")
    summary(event(EventKind.KEYS_FETCHED))
    summary(event(EventKind.FETCH_FAILED, "timeout"))
    summary(event(EventKind.SERVING_STALE, "timeout"))
    assert summary.line().endswith("keys stale (timeout)")
    summary(event(EventKind.KEYS_NOT_MODIFIED))
    assert summary.line().endswith("keys fresh")


def test_rare_reasons_are_summed():
    summary = Summary()
    reasons = [f"reason_{index}" for index in range(MAX_REASONS + 3)]
    for count, reason in enumerate(reasons, start=1):
        for _ in range(count):
            summary(event(EventKind.REQUEST_REFUSED, reason))
    line = summary.line()
    assert "reason_0 " not in line and "reason_7 8" in line
    assert line.count("reason_") == MAX_REASONS
    assert "other 6" in line  # reason_0..2: 1 + 2 + 3
