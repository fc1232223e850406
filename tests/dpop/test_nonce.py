"""Stateless HMAC nonces (RFC 9449 §8, §9), alone and inside verify_proof."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest

from jwt_guard._dpop import DPoPOptions, DPoPProof
from jwt_guard._dpop_errors import InvalidDPoPProof, UseDPoPNonce
from jwt_guard._dpop_nonce import DPoPNonces, NonceVerdict
from jwt_guard.testing import b64url
from jwt_guard.testing._dpop import DPoPKey
from tests.dpop.conftest import NOW, URL

SECRET = b"s" * 32
Check = Callable[..., DPoPProof]


@pytest.fixture
def nonces() -> DPoPNonces:
    return DPoPNonces(SECRET, lifetime=300)


def test_a_fresh_nonce_is_accepted(nonces: DPoPNonces) -> None:
    value = nonces.issue(NOW)
    assert nonces.check(value, NOW) == NonceVerdict(True, None)
    assert nonces.issued_at(value) == NOW


def test_nonces_look_opaque_and_fit_the_header(nonces: DPoPNonces) -> None:
    """RFC 9449 §8.1: nonce = 1*NQCHAR; base64url is a subset."""
    value = nonces.issue(NOW)
    assert len(value) == 54
    assert set(value) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert nonces.issue(NOW) == value  # deterministic: same second, same nonce
    assert nonces.issue(NOW + 1) != value


@pytest.mark.parametrize(
    ("age", "accepted", "refreshed"),
    [
        pytest.param(0, True, False, id="new"),
        pytest.param(149, True, False, id="before-refresh"),
        pytest.param(150, True, True, id="refresh-ahead"),
        pytest.param(300, True, True, id="last-second"),
        pytest.param(301, False, True, id="expired"),
        pytest.param(-1, False, True, id="future-without-leeway"),
    ],
)
def test_lifetime_and_refresh_ahead(nonces: DPoPNonces, age: int, accepted: bool, refreshed: bool) -> None:
    verdict = nonces.check(nonces.issue(NOW - age), NOW)
    assert verdict.accepted is accepted
    assert (verdict.next_nonce is not None) is refreshed
    if verdict.next_nonce is not None:
        assert nonces.issued_at(verdict.next_nonce) == NOW


def test_another_hosts_clock_within_leeway(nonces: DPoPNonces) -> None:
    assert nonces.check(nonces.issue(NOW + 5), NOW, leeway=5).accepted
    assert not nonces.check(nonces.issue(NOW + 6), NOW, leeway=5).accepted


def test_refresh_after_is_configurable() -> None:
    nonces = DPoPNonces(SECRET, lifetime=60, refresh_after=10)
    assert nonces.check(nonces.issue(NOW - 9), NOW).next_nonce is None
    assert nonces.check(nonces.issue(NOW - 10), NOW).next_nonce is not None


def _flip(value: str, index: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return value[:index] + alphabet[(alphabet.index(value[index]) + 1) % 64] + value[index + 1 :]


def _restamped(value: str, stamp: int) -> str:
    raw = base64.urlsafe_b64decode(value + "==")
    return b64url(stamp.to_bytes(8, "big") + raw[8:])


TAMPERED: list[Any] = [
    pytest.param(lambda n: _flip(n.issue(NOW), 0), id="timestamp-byte"),
    pytest.param(lambda n: _flip(n.issue(NOW), 20), id="mac-byte"),
    pytest.param(lambda n: _flip(n.issue(NOW), 52), id="last-mac-char"),
    pytest.param(lambda n: _restamped(n.issue(NOW - 1000), NOW), id="restamped"),
    pytest.param(lambda n: DPoPNonces(b"t" * 32).issue(NOW), id="other-secret"),
    pytest.param(lambda n: DPoPNonces(SECRET, context=b"other").issue(NOW), id="other-context"),
    pytest.param(lambda n: n.issue(NOW)[:-1], id="truncated"),
    pytest.param(lambda n: n.issue(NOW) + "A", id="extended"),
    pytest.param(lambda n: n.issue(NOW)[:-1] + "=", id="padding-char"),
    pytest.param(lambda n: n.issue(NOW)[:-1] + "\u00e9", id="non-ascii"),
    pytest.param(lambda n: "", id="empty"),
    pytest.param(lambda n: None, id="missing"),
    pytest.param(lambda n: "A" * 54, id="zeros"),
    pytest.param(lambda n: _flip(n.issue(NOW), 53), id="last-char-spare-bits"),
]


@pytest.mark.parametrize("make", TAMPERED)
def test_anything_but_a_genuine_nonce_is_refused(nonces: DPoPNonces, make: Callable[[DPoPNonces], Any]) -> None:
    verdict = nonces.check(make(nonces), NOW)
    assert not verdict.accepted
    assert verdict.next_nonce is not None
    assert nonces.check(verdict.next_nonce, NOW).accepted


@pytest.mark.parametrize(
    "kwargs",
    [
        {"secret": b"short"},
        {"secret": "s" * 32},
        {"secret": SECRET, "lifetime": 0},
        {"secret": SECRET, "lifetime": 86401},
        {"secret": SECRET, "lifetime": 60, "refresh_after": 61},
        {"secret": SECRET, "refresh_after": -1},
    ],
)
def test_bad_settings(kwargs: dict[str, Any]) -> None:
    secret = kwargs.pop("secret")
    with pytest.raises(ValueError):
        DPoPNonces(secret, **kwargs)


def test_repr_hides_the_secret(nonces: DPoPNonces) -> None:
    assert "sss" not in repr(nonces)
    assert "sss" not in repr(DPoPOptions(nonce_secret=SECRET))


# -- inside verify_proof ---------------------------------------------------------------------

OPTIONS = DPoPOptions(nonce_secret=SECRET, nonce_lifetime=300)


def test_a_proof_without_the_nonce_gets_one(check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(UseDPoPNonce, match="must carry a server nonce") as info:
        check(key.proof("GET", URL, access_token=token), options=OPTIONS)
    error = info.value
    assert (error.status_code, error.error) == (401, "use_dpop_nonce")
    assert isinstance(error, InvalidDPoPProof)
    assert error.response_headers() == [("dpop-nonce", error.nonce)]
    assert error.www_authenticate().startswith('DPoP error="use_dpop_nonce"')
    # The client retries with it and gets through.
    result = check(key.proof("GET", URL, access_token=token, nonce=error.nonce), options=OPTIONS)
    assert result.next_nonce is None


@pytest.mark.parametrize("nonce", ["stale", 7, ["x"], ""])
def test_a_stale_or_garbled_nonce_gets_a_fresh_one(check: Check, key: DPoPKey, token: str, nonce: Any) -> None:
    with pytest.raises(UseDPoPNonce) as info:
        check(key.proof("GET", URL, access_token=token, claims={"nonce": nonce}), options=OPTIONS)
    assert OPTIONS.nonces is not None
    assert OPTIONS.nonces.check(info.value.nonce, NOW).accepted


def test_an_expired_nonce(check: Check, key: DPoPKey, token: str) -> None:
    assert OPTIONS.nonces is not None
    old = OPTIONS.nonces.issue(NOW - 301)
    with pytest.raises(UseDPoPNonce, match="current server nonce"):
        check(key.proof("GET", URL, access_token=token, nonce=old), options=OPTIONS)


def test_a_good_request_with_an_ageing_nonce_is_told_the_next(check: Check, key: DPoPKey, token: str) -> None:
    assert OPTIONS.nonces is not None
    ageing = OPTIONS.nonces.issue(NOW - 200)
    result = check(key.proof("GET", URL, access_token=token, nonce=ageing), options=OPTIONS)
    assert result.next_nonce is not None
    assert OPTIONS.nonces.issued_at(result.next_nonce) == NOW


def test_a_broken_proof_is_not_asked_for_a_nonce(check: Check, key: DPoPKey, token: str) -> None:
    """use_dpop_nonce only when the nonce is all that is missing."""
    with pytest.raises(InvalidDPoPProof) as info:
        check(key.proof("GET", URL, access_token=token, iat=NOW - 1000), options=OPTIONS)
    assert not isinstance(info.value, UseDPoPNonce)


def test_nonces_are_off_without_a_secret(check: Check, key: DPoPKey, token: str) -> None:
    assert DPoPOptions().nonces is None
    check(key.proof("GET", URL, access_token=token))


class _Counting:
    """A stateful nonce checker: any object with ``check`` will do."""

    def __init__(self, verdict: NonceVerdict) -> None:
        self.verdict = verdict
        self.seen: list[Any] = []

    def check(self, value: str | None, now: float, leeway: float) -> NonceVerdict:
        self.seen.append((value, now, leeway))
        return self.verdict


def test_an_injected_checker_decides(check: Check, key: DPoPKey, token: str) -> None:
    checker = _Counting(NonceVerdict(True, "next-one"))
    result = check(key.proof("GET", URL, access_token=token, nonce="abc"), nonces=checker, leeway=7)
    assert result.next_nonce == "next-one"
    assert checker.seen == [("abc", NOW, 7)]


def test_an_injected_checker_that_refuses_without_a_nonce(check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(InvalidDPoPProof, match="nonce is not accepted") as info:
        check(key.proof("GET", URL, access_token=token), nonces=_Counting(NonceVerdict(False, None)))
    assert not isinstance(info.value, UseDPoPNonce)
