"""Reason codes (jwt_guard._reasons): one table, one code per kind of refusal,
and the expected vs received details refused tokens carry."""

from __future__ import annotations

import re

import pytest

import jwt_guard
from jwt_guard import errors, reason_code
from jwt_guard._reasons import REASON_CODES, details_of, shown, with_details
from jwt_guard.errors import (
    ExpiredToken,
    InsufficientScope,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidSignature,
    InvalidToken,
    JWTGuardError,
    KeySetUnavailable,
    MalformedToken,
    MissingClaim,
    NotYetValid,
    UnknownKey,
    UnsupportedAlgorithm,
)
from jwt_guard.testing import SigningKey
from tests.conftest import signing_key


@pytest.mark.parametrize(
    ("error", "code"),
    [
        pytest.param(errors.MissingToken(), "missing_token", id="missing-token"),
        pytest.param(errors.InvalidRequest(), "invalid_request", id="invalid-request"),
        pytest.param(errors.InvalidToken(), "invalid_token", id="invalid-token"),
        pytest.param(errors.MalformedToken(), "malformed", id="malformed"),
        pytest.param(errors.TokenTooLarge(), "too_large", id="too-large"),
        pytest.param(errors.UnsupportedAlgorithm(), "unsupported_algorithm", id="algorithm"),
        pytest.param(errors.UnknownKey(), "unknown_key", id="unknown-key"),
        pytest.param(errors.InvalidSignature(), "invalid_signature", id="signature"),
        pytest.param(errors.ExpiredToken(), "expired", id="expired"),
        pytest.param(errors.NotYetValid(), "not_yet_valid", id="not-yet-valid"),
        pytest.param(errors.InvalidClaim(), "invalid_claim", id="invalid-claim"),
        pytest.param(errors.MissingClaim(), "missing_claim", id="missing-claim"),
        pytest.param(errors.InvalidIssuer(), "invalid_issuer", id="issuer"),
        pytest.param(errors.InvalidAudience(), "invalid_audience", id="audience"),
        pytest.param(errors.InvalidTokenType(), "invalid_token_type", id="typ"),
        pytest.param(errors.TokenRevoked(), "revoked", id="revoked"),
        pytest.param(errors.InsufficientScope(["read"]), "insufficient_scope", id="scope"),
        pytest.param(errors.KeySetUnavailable(), "keys_unavailable", id="keys-unavailable"),
        pytest.param(errors.StoreUnavailable(), "store_unavailable", id="store-unavailable"),
        pytest.param(errors.TemporarilyUnavailable(), "temporarily_unavailable", id="temporarily-unavailable"),
        pytest.param(errors.ConfigurationError(), "configuration_error", id="configuration"),
        pytest.param(errors.JWTGuardError(), "error", id="base"),
        pytest.param(ValueError("x"), "error", id="not-ours"),
    ],
)
def test_each_error_has_its_reason_code(error, code):
    assert reason_code(error) == code


def _error_classes(module: object) -> set[type]:
    names = getattr(module, "__all__", ())
    return {obj for name in names if isinstance(obj := getattr(module, name), type) and issubclass(obj, Exception)}


def test_every_error_class_of_the_package_has_a_code_of_its_own():
    """Each public error class is in the table (no refusal hides under its parent's code)."""
    from jwt_guard import _dpop_errors

    public = _error_classes(errors) | _error_classes(jwt_guard) | _error_classes(_dpop_errors)
    assert public <= set(REASON_CODES)


def test_codes_are_few_distinct_snake_case_words():
    codes = list(REASON_CODES.values())
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)


def test_an_unlisted_subclass_takes_its_nearest_listed_base():
    class CustomRefusal(ExpiredToken):
        pass

    class Other(InvalidToken):
        pass

    assert reason_code(CustomRefusal()) == "expired"
    assert reason_code(Other()) == "invalid_token"


def test_reason_code_is_exported():
    assert jwt_guard.reason_code is reason_code


def test_details_attach_and_read_back():
    error = with_details(InvalidAudience(), claim="aud", expected=["a"], received="b")
    assert details_of(error) == {"claim": "aud", "expected": ["a"], "received": "b"}
    with pytest.raises(TypeError):
        details_of(error)["claim"] = "x"  # type: ignore[index]
    assert details_of(InvalidAudience()) == {}
    assert details_of(ValueError()) == {}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("short", "short", id="string"),
        pytest.param("x" * 150, "x" * 100 + "...", id="long-string"),
        pytest.param(12, 12, id="int"),
        pytest.param(None, None, id="none"),
        pytest.param(True, True, id="bool"),
        pytest.param({"a": 1}, "<dict>", id="object"),
        pytest.param(["a", ["b"], {"c": 1}], ["a", "<list>", "<dict>"], id="list-of-mixed"),
        pytest.param(list(range(12)), [*range(10), "... (2 more)"], id="long-list"),
    ],
)
def test_shown_bounds_received_values(value, expected):
    assert shown(value) == expected


# -- details on the errors a Verifier raises ------------------------------------------------------


def _refusal(verifier, token) -> JWTGuardError:
    with pytest.raises(JWTGuardError) as info:
        verifier.verify(token)
    return info.value


@pytest.mark.parametrize(
    ("make", "options", "kind", "details"),
    [
        pytest.param(
            lambda i: i.token(iss="https://other.example.test/"),
            {},
            InvalidIssuer,
            {"claim": "iss", "expected": ["https://issuer.example.test/"], "received": "https://other.example.test/"},
            id="iss",
        ),
        pytest.param(
            lambda i: i.token(aud=["https://a.example.test", "https://b.example.test"]),
            {},
            InvalidAudience,
            {
                "claim": "aud",
                "expected": ["https://api.example.test"],
                "received": ["https://a.example.test", "https://b.example.test"],
            },
            id="aud",
        ),
        pytest.param(
            lambda i: i.token(aud=None),
            {},
            InvalidAudience,
            {"claim": "aud", "expected": ["https://api.example.test"], "received": None},
            id="aud-absent",
        ),
        pytest.param(
            lambda i: i.token(exp=1_800_000_000 - 100),
            {"leeway": 30},
            ExpiredToken,
            {"claim": "exp", "received": 1_800_000_000 - 100, "now": 1_800_000_000, "leeway": 30.0},
            id="exp",
        ),
        pytest.param(
            lambda i: i.token(nbf=1_800_000_000 + 100),
            {"leeway": 30},
            NotYetValid,
            {"claim": "nbf", "received": 1_800_000_000 + 100, "now": 1_800_000_000, "leeway": 30.0},
            id="nbf",
        ),
        pytest.param(lambda i: i.token(), {"required_claims": ["tenant"]}, MissingClaim, {"claim": "tenant"}, id="req"),
        pytest.param(
            lambda i: i.token(exp="tomorrow"),
            {},
            InvalidClaim,
            {"claim": "exp", "received": "tomorrow"},
            id="exp-not-a-date",
        ),
        pytest.param(
            lambda i: i.token(headers={"alg": "HS256"}),
            {"algorithms": ["RS256", "ES256"]},
            UnsupportedAlgorithm,
            {"claim": "alg", "expected": ["ES256", "RS256"], "received": "HS256"},
            id="alg",
        ),
        pytest.param(
            lambda i: i.token(key=signing_key("RS256", "attacker")),
            {},
            UnknownKey,
            {"claim": "kid", "received": "attacker"},
            id="kid",
        ),
        pytest.param(
            lambda i: i.token(
                key=SigningKey("RS256", kid=i.signing_key.kid, private_key=signing_key("PS256").private_key)
            ),
            {},
            InvalidSignature,
            {"kid": "rs256-key", "alg": "RS256"},
            id="signature",
        ),
    ],
)
def test_refusals_carry_expected_and_received(issuer, make_verifier, make, options, kind, details):
    error = _refusal(make_verifier(**options), make(issuer))
    assert type(error) is kind
    assert details_of(error) == details


def test_details_never_hold_the_token(issuer, make_verifier):
    token = issuer.token(aud="https://other.example.test")
    with pytest.raises(InvalidAudience) as info:
        make_verifier().verify(token)
    text = repr(dict(details_of(info.value)))
    for part in token.split("."):
        assert part not in text


def test_insufficient_scope_and_unavailable_keep_their_codes():
    assert reason_code(InsufficientScope(["a"])) == "insufficient_scope"
    assert reason_code(KeySetUnavailable("x", retry_after=3)) == "keys_unavailable"
    assert reason_code(MalformedToken("x")) == "malformed"
