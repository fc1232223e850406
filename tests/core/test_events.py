"""Rejection log lines (jwt_guard._events): INFO, with the reason code and the
expected vs received values, rate-limited per reason, never the token."""

from __future__ import annotations

import logging

import pytest

from jwt_guard import ExpiredToken, InsufficientScope, InvalidAudience, InvalidRequest, MissingToken
from jwt_guard._events import RejectionLog, format_details, log_rejection
from jwt_guard._reasons import REASON_CODES, with_details
from jwt_guard.testing import FakeClock

LOGGER = "jwt_guard"


def rejection_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == LOGGER and "request rejected" in record.getMessage()
    ]


# -- what a verifier logs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "line"),
    [
        pytest.param(
            lambda i: i.token(aud="https://other.example.test"),
            "jwt_guard: request rejected (invalid_audience, 401): the access token is not meant for this audience; "
            "aud: expected 'https://api.example.test', received 'https://other.example.test'",
            id="audience",
        ),
        pytest.param(
            lambda i: i.token(iss="http://127.0.0.1:9000"),
            "jwt_guard: request rejected (invalid_issuer, 401): the access token has an unexpected issuer; "
            "iss: expected 'https://issuer.example.test/', received 'http://127.0.0.1:9000'",
            id="issuer",
        ),
        pytest.param(
            lambda i: i.token(expires_in=-600),
            "jwt_guard: request rejected (expired, 401): the access token has expired; "
            "exp: received 1799999400, now=1800000000, leeway=60.0",
            id="expired",
        ),
        pytest.param(
            lambda i: "not-a-token",
            "jwt_guard: request rejected (malformed, 401): the token must have three dot-separated segments",
            id="malformed",
        ),
    ],
)
def test_verifier_logs_each_rejection_at_info(issuer, make_verifier, caplog, make, line):
    verifier = make_verifier()
    token = make(issuer)
    with caplog.at_level(logging.INFO, logger=LOGGER), pytest.raises(Exception):
        verifier.verify(token)
    assert rejection_lines(caplog) == [line]
    record = next(record for record in caplog.records if "request rejected" in record.getMessage())
    assert record.levelno == logging.INFO
    assert record.jwt_guard_reason == line.split("(")[1].split(",")[0]
    for part in token.split("."):
        assert part not in caplog.text


@pytest.mark.anyio
async def test_async_verification_logs_the_same_line(issuer, make_verifier, caplog):
    verifier = make_verifier()
    with caplog.at_level(logging.INFO, logger=LOGGER), pytest.raises(InvalidAudience):
        await verifier.verify_async(issuer.token(aud="x"))
    assert rejection_lines(caplog) == [
        "jwt_guard: request rejected (invalid_audience, 401): the access token is not meant for this audience; "
        "aud: expected 'https://api.example.test', received 'x'"
    ]


def test_nothing_is_logged_below_info(issuer, make_verifier, caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER), pytest.raises(InvalidAudience):
        make_verifier().verify(issuer.token(aud="x"))
    assert rejection_lines(caplog) == []


def test_hostile_claims_are_escaped_and_bounded(issuer, make_verifier, caplog):
    """A claim cannot inject a log line or terminal controls, nor flood the log."""
    hostile = "evil\n2026-01-01 INFO forged line \x1b[31m\u202e" + "x" * 500
    with caplog.at_level(logging.INFO, logger=LOGGER), pytest.raises(InvalidAudience):
        make_verifier().verify(issuer.token(aud=hostile))
    (line,) = rejection_lines(caplog)
    assert "\n" not in line and "\x1b" not in line and "\u202e" not in line
    assert "\\n2026-01-01 INFO forged line \\x1b[31m\\u202e" in line
    assert len(line) < 400


def test_a_verified_token_logs_no_rejection(issuer, make_verifier, caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        make_verifier().verify(issuer.token())
    assert rejection_lines(caplog) == []


# -- rate limiting ------------------------------------------------------------------------------------


def test_at_most_burst_lines_per_reason_per_interval_then_a_count(caplog):
    clock = FakeClock(1000)
    log = RejectionLog(burst=3, interval=60, clock=clock)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for _ in range(10):
            log.log(ExpiredToken())
        for _ in range(2):
            log.log(InvalidAudience())  # another reason has its own budget
        assert len(rejection_lines(caplog)) == 5
        clock.advance(59)
        log.log(ExpiredToken())
        assert len(rejection_lines(caplog)) == 5
        clock.advance(1)
        log.log(ExpiredToken())
    lines = rejection_lines(caplog)
    assert len(lines) == 6
    assert lines[-1].endswith(" [8 earlier expired rejections not logged: rate limit]")
    assert not any("not logged" in line for line in lines[:-1])


def test_memory_is_one_record_per_reason_code(caplog):
    """However many distinct errors arrive, the limiter keeps one window per code."""
    log = RejectionLog(burst=1, interval=60, clock=FakeClock(0))
    classes = [type(f"Custom{n}", (ExpiredToken,), {}) for n in range(500)]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        for cls in classes:
            log.log(cls())
        for cls in REASON_CODES:
            log.log(cls.__new__(cls))  # class-level status and description suffice
    assert len(log._windows) <= len(set(REASON_CODES.values()))


def test_details_can_be_passed_instead_of_the_errors_own(caplog):
    log = RejectionLog(clock=FakeClock(0))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log.log(with_details(ExpiredToken(), claim="exp"), {"claim": "iat", "received": 5})
    assert rejection_lines(caplog) == [
        "jwt_guard: request rejected (expired, 401): the access token has expired; iat: received 5"
    ]


@pytest.mark.parametrize(
    ("details", "text"),
    [
        pytest.param({}, "", id="none"),
        pytest.param({"claim": "tenant"}, "tenant", id="claim-only"),
        pytest.param(
            {"claim": "aud", "expected": ["a", "b"], "received": "c"}, "aud: expected ['a', 'b'], received 'c'"
        ),
        pytest.param({"claim": "aud", "expected": ["a"], "received": None}, "aud: expected 'a', received (absent)"),
        pytest.param({"kid": "k1", "alg": "RS256"}, "kid='k1', alg='RS256'", id="no-claim"),
    ],
)
def test_format_details(details, text):
    assert format_details(details) == text


# -- refusals decided by adapters --------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_adapter_limit(monkeypatch):
    """Adapter refusals share a process-wide limit: give each test its own."""
    monkeypatch.setattr("jwt_guard._events._ADAPTERS", RejectionLog())


def test_log_rejection_names_missing_scopes(issuer, make_verifier, caplog):
    token = make_verifier().verify(issuer.token(scope="read profile"))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log_rejection(InsufficientScope(["read", "write", "admin"]), token)
    assert rejection_lines(caplog) == [
        "jwt_guard: request rejected (insufficient_scope, 403): the access token lacks a required scope; "
        "scope: expected ['read', 'write', 'admin'], received ['profile', 'read'], missing ['write', 'admin']"
    ]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        pytest.param(
            MissingToken(),
            "jwt_guard: request rejected (missing_token, 401): an access token is required",
            id="missing",
        ),
        pytest.param(
            InvalidRequest("more than one Authorization header"),
            "jwt_guard: request rejected (invalid_request, 400): more than one Authorization header",
            id="invalid-request",
        ),
    ],
)
def test_log_rejection_without_a_token(caplog, error, line):
    with caplog.at_level(logging.INFO, logger=LOGGER):
        log_rejection(error)
    assert rejection_lines(caplog) == [line]
