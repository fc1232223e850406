"""The pure parts of introspection: options, answer rules (RFC 7662 §2.2,
RFC 9701 §5), the answer cache, the rate limit, the backoff and client
authentication."""

from __future__ import annotations

import base64
import json
import math
from typing import Any
from urllib.parse import unquote_plus

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jwt_guard import (
    ConfigurationError,
    ExpiredToken,
    InactiveToken,
    Introspection,
    IntrospectionUnavailable,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidToken,
    InvalidTokenType,
    MissingClaim,
    NotYetValid,
    TemporarilyUnavailable,
)
from jwt_guard._client_auth import ASSERTION_TYPE, ClientAuth
from jwt_guard._config import build_settings
from jwt_guard._introspect_cache import AnswerCache, Backoff, RateLimit, entry_size
from jwt_guard._introspect_response import Answer, AnswerRules, ServerFailure, SignedAnswerRules, classify
from jwt_guard._introspector import looks_like_jws
from jwt_guard._jose import verify_signature
from jwt_guard._keys import keyset_from_jwks
from jwt_guard._token import parse
from jwt_guard._wire import Failure, Response
from jwt_guard.testing import SigningKey

ISSUER = "https://idp.example.test/"
AUDIENCE = "https://api.example.test"
NOW = 1_800_000_000


def settings(**options: Any) -> Any:
    options.setdefault("issuer", ISSUER)
    options.setdefault("audience", AUDIENCE)
    return build_settings(**options)


def active(**members: Any) -> dict[str, Any]:
    document = {"active": True, "iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 300, "iat": NOW, "scope": "read"}
    document.update(members)
    return {name: value for name, value in document.items() if value is not None}


# -- options -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"client_id": "", "client_secret": "s"}, "client_id", id="empty-client-id"),
        pytest.param({"client_id": "a\nb", "client_secret": "s"}, "client_id", id="control-char-client-id"),
        pytest.param({"client_id": "api"}, "client_secret", id="no-secret"),
        pytest.param({"client_id": "api", "client_secret": "s", "auth": "none"}, "auth", id="unknown-auth"),
        pytest.param({"client_id": "api", "auth": "private_key_jwt"}, "private_key", id="no-private-key"),
        pytest.param(
            {"client_id": "api", "auth": "private_key_jwt", "private_key": "not a pem"}, "PEM", id="bad-private-key"
        ),
        pytest.param({"client_id": "api", "client_secret": "s", "private_key": "x"}, "private_key", id="key-not-jwt"),
        pytest.param({"client_id": "api", "client_secret": "s", "cache_ttl": 0}, "cache_ttl", id="zero-ttl"),
        pytest.param({"client_id": "api", "client_secret": "s", "negative_ttl": -1}, "negative_ttl", id="negative"),
        pytest.param({"client_id": "api", "client_secret": "s", "rate": math.inf}, "rate", id="infinite-rate"),
        pytest.param({"client_id": "api", "client_secret": "s", "burst": 1.5}, "burst", id="fractional-burst"),
        pytest.param({"client_id": "api", "client_secret": "s", "cache_size": -1}, "cache_size", id="negative-size"),
        pytest.param({"client_id": "api", "client_secret": "s", "cache_bytes": True}, "cache_bytes", id="bool-bytes"),
    ],
)
def test_bad_options_fail_at_construction(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Introspection(**options)


def test_secrets_stay_out_of_repr() -> None:
    options = Introspection(client_id="api", client_secret="hunter2-secret")
    assert "hunter2" not in repr(options)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with_key = Introspection(client_id="api", auth="private_key_jwt", private_key=pem.decode())
    assert "PRIVATE" not in repr(with_key)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(ec.generate_private_key(ec.SECP256R1()), "ES256", id="p256"),
        pytest.param(ec.generate_private_key(ec.SECP384R1()), "ES384", id="p384"),
        pytest.param(ed25519.Ed25519PrivateKey.generate(), "EdDSA", id="ed25519"),
    ],
)
def test_assertion_algorithm_follows_the_key(key: Any, expected: str) -> None:
    options = Introspection(client_id="api", auth="private_key_jwt", private_key=key)
    assert options.signer is not None
    assert options.signer[1] == expected


def test_assertion_algorithm_must_fit_the_key() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ConfigurationError, match="does not fit"):
        Introspection(client_id="api", auth="private_key_jwt", private_key=key, private_key_algorithm="RS256")


def test_unavailable_is_a_503_with_retry_after() -> None:
    error = IntrospectionUnavailable(retry_after=2.5)
    assert isinstance(error, TemporarilyUnavailable)
    assert error.status_code == 503
    assert error.retry_after == 3
    assert InactiveToken().status_code == 401
    assert isinstance(InactiveToken(), InvalidToken)


# -- routing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "jws"),
    [
        pytest.param("eyJhbGciOiJSUzI1NiJ9.eyJhIjoxfQ.c2ln", True, id="jws"),
        pytest.param("a.b.c", True, id="three-segments"),
        pytest.param(b"a.b.c", True, id="bytes-jws"),
        pytest.param("a..c", True, id="empty-segment-still-a-jws-shape"),
        pytest.param("2YotnFZFEjr1zCsicMWpAA", False, id="opaque"),
        pytest.param("a.b", False, id="two-segments"),
        pytest.param("a.b.c.d.e", False, id="jwe-shape"),
        pytest.param("ab~c.d.e", False, id="b64token-not-base64url"),
        pytest.param("tok+en/==", False, id="base64-padding"),
        pytest.param("é.b.c", False, id="non-ascii"),
    ],
)
def test_only_three_base64url_segments_are_verified_locally(token: str | bytes, jws: bool) -> None:
    assert looks_like_jws(token) is jws


# -- classifying replies ---------------------------------------------------------


def reply(status: int = 200, body: bytes = b"{}", **headers: str) -> Response:
    return Response(status, {name.replace("_", "-"): value for name, value in headers.items()}, body)


def test_a_json_answer_is_an_answer() -> None:
    outcome = classify(reply(body=b'{"active": true}', content_type="application/json"), require_signed=False)
    assert outcome == Answer({"active": True}, None, 16)


def test_a_signed_answer_is_kept_as_a_jws() -> None:
    outcome = classify(
        reply(body=b"a.b.c\n", content_type="application/token-introspection+jwt; charset=utf-8"),
        require_signed=False,
    )
    assert isinstance(outcome, Answer)
    assert outcome.jws == "a.b.c"


@pytest.mark.parametrize(
    ("response", "reason", "credentials"),
    [
        pytest.param(reply(body=b"{not json"), "invalid_json", False, id="garbage"),
        pytest.param(reply(body=b"[1, 2]"), "invalid_json", False, id="not-an-object"),
        pytest.param(reply(body=b"\xff\xfe"), "invalid_json", False, id="not-utf8"),
        pytest.param(reply(500), "http_status", False, id="500"),
        pytest.param(reply(404), "http_status", False, id="404"),
        pytest.param(reply(302, location="/elsewhere"), "http_status", False, id="redirect"),
        pytest.param(reply(401), "client_auth", True, id="401"),
        pytest.param(reply(403), "client_auth", True, id="403"),
        pytest.param(reply(400, b'{"error": "invalid_client"}'), "client_auth", True, id="400-invalid-client"),
        pytest.param(reply(400, b'{"error": "invalid_request"}'), "http_status", False, id="400-other"),
    ],
)
def test_server_failures_are_failures(response: Response, reason: str, credentials: bool) -> None:
    outcome = classify(response, require_signed=False)
    assert isinstance(outcome, ServerFailure)
    assert outcome.reason == reason
    assert outcome.credentials is credentials


def test_transport_failures_pass_through() -> None:
    failure = Failure("timeout", "the server did not answer in time")
    assert classify(failure, require_signed=False) is failure


def test_retry_after_of_the_server_is_kept() -> None:
    outcome = classify(reply(429, retry_after="7"), require_signed=False)
    assert isinstance(outcome, ServerFailure)
    assert outcome.retry_after == 7
    capped = classify(reply(503, retry_after="999999"), require_signed=False)
    assert isinstance(capped, ServerFailure)
    assert capped.retry_after == 3600


def test_unsigned_answers_fail_when_signatures_are_required() -> None:
    outcome = classify(reply(body=b'{"active": true}'), require_signed=True)
    assert isinstance(outcome, ServerFailure)
    assert outcome.reason == "unsigned"


# -- answer rules ----------------------------------------------------------------


def rules(**options: Any) -> AnswerRules:
    ttl = options.pop("ttl", 60.0)
    return AnswerRules(settings(**options), issuer=ISSUER, ttl=ttl)


def test_an_active_answer_becomes_claims_scopes_and_a_window() -> None:
    claims, scopes, not_before, until = rules().check(active(scope="read write", nbf=NOW), NOW)
    assert "active" not in claims
    assert claims["iss"] == ISSUER
    assert scopes == {"read", "write"}
    assert not_before == NOW - 60
    assert until == NOW + 60  # the TTL, sooner than exp


def test_the_cache_window_never_passes_exp() -> None:
    *_, until = rules(ttl=3600).check(active(exp=NOW + 30), NOW)
    assert until == NOW + 30


def test_a_missing_iss_is_the_configured_issuer() -> None:
    claims, *_ = rules().check(active(iss=None), NOW)
    assert claims["iss"] == ISSUER


def test_exp_is_optional_in_answers() -> None:
    claims, _, _, until = rules().check(active(exp=None), NOW)
    assert "exp" not in claims
    assert until == NOW + 60


@pytest.mark.parametrize(
    ("document", "error"),
    [
        pytest.param({"active": False}, InactiveToken, id="inactive"),
        pytest.param({}, InactiveToken, id="no-active"),
        pytest.param(active(active="true"), InactiveToken, id="active-string"),
        pytest.param(active(active=1), InactiveToken, id="active-one"),
        pytest.param(active(iss="https://other.example/"), InvalidIssuer, id="foreign-issuer"),
        pytest.param(active(aud=None), InvalidAudience, id="no-aud"),
        pytest.param(active(aud="https://other.example"), InvalidAudience, id="wrong-aud"),
        pytest.param(active(aud=["x", "y"]), InvalidAudience, id="wrong-aud-list"),
        pytest.param(active(exp=NOW - 61), ExpiredToken, id="expired"),
        pytest.param(active(nbf=NOW + 61), NotYetValid, id="not-yet-valid"),
        pytest.param(active(iat=NOW + 61), NotYetValid, id="issued-in-the-future"),
        pytest.param(active(exp="soon"), InvalidClaim, id="exp-not-a-number"),
        pytest.param(active(sub=42), InvalidClaim, id="sub-not-a-string"),
        pytest.param(active(scope=7), InvalidClaim, id="scope-not-a-string"),
        pytest.param(active(token_type="refresh_token"), InvalidTokenType, id="refresh-token"),
        pytest.param(active(token_type="Refresh_Token"), InvalidTokenType, id="refresh-token-case"),
        pytest.param(active(token_type="DPoP"), InvalidTokenType, id="dpop-without-jkt"),
        pytest.param(active(token_type="DPoP", cnf={"jkt": ""}), InvalidTokenType, id="dpop-empty-jkt"),
        pytest.param(active(cnf={"jkt": "abc", "x5t#S256": "x"}), InvalidToken, id="dpop-and-mtls-bound"),
        pytest.param(active(token_type="mac"), InvalidTokenType, id="unknown-type"),
        pytest.param(active(token_type=1), InvalidTokenType, id="type-not-a-string"),
        pytest.param(active(token_use="refresh_token"), InvalidTokenType, id="hydra-refresh-token"),
        pytest.param(active(cnf={"x5t#S256": "abc"}), InvalidToken, id="mtls-bound"),
        pytest.param(active(cnf="abc"), InvalidClaim, id="cnf-not-an-object"),
    ],
)
def test_unacceptable_answers_are_refused(document: dict[str, Any], error: type[InvalidToken]) -> None:
    with pytest.raises(error):
        rules().check(document, NOW)


@pytest.mark.parametrize("token_type", ["Bearer", "bearer", "access_token", "ACCESS_TOKEN"])
def test_bearer_token_types_are_accepted(token_type: str) -> None:
    claims, *_ = rules().check(active(token_type=token_type), NOW)
    assert claims["token_type"] == token_type


def test_an_empty_cnf_binds_nothing() -> None:
    rules().check(active(cnf={}), NOW)


@pytest.mark.parametrize("token_type", [None, "DPoP", "dpop"])
def test_dpop_bound_answers_pass_the_answer_rules(token_type: str | None) -> None:
    """The proof is checked after the answer cache, on every request
    (tests/dpop/test_verifier.py): the answer itself is acceptable."""
    document = active(cnf={"jkt": "abc"}) if token_type is None else active(cnf={"jkt": "abc"}, token_type=token_type)
    claims, *_ = rules().check(document, NOW)
    assert claims["cnf"] == {"jkt": "abc"}


def test_audience_check_off_accepts_answers_without_aud() -> None:
    claims, *_ = rules(audience=None).check(active(aud=None), NOW)
    assert "aud" not in claims


def test_required_claims_and_max_age_apply_as_for_jwts() -> None:
    with pytest.raises(MissingClaim):
        rules(required_claims=["sub"]).check(active(), NOW)
    with pytest.raises(ExpiredToken):
        rules(max_token_age=10).check(active(iat=NOW - 100), NOW)


def test_scope_claims_are_configurable() -> None:
    _, scopes, *_ = rules(scope_claims=["permissions"]).check(active(permissions=["a", "b"]), NOW)
    assert scopes == {"a", "b"}


# -- signed answers (RFC 9701) ---------------------------------------------------


def signed_rules(**options: Any) -> SignedAnswerRules:
    return SignedAnswerRules(settings(**options), issuer=ISSUER, client_id="my-api")


@pytest.mark.parametrize(
    ("claims", "ok"),
    [
        pytest.param({"aud": "my-api"}, True, id="aud-client-id"),
        pytest.param({"aud": ["x", AUDIENCE]}, True, id="aud-api-audience"),
        pytest.param({"aud": "someone-else"}, False, id="aud-foreign"),
        pytest.param({"aud": None}, False, id="no-aud"),
        pytest.param({"iss": "https://other/"}, False, id="foreign-issuer"),
        pytest.param({"iat": None}, False, id="no-iat"),
        pytest.param({"iat": NOW + 600}, False, id="iat-future"),
        pytest.param({"iat": True}, False, id="iat-bool"),
        pytest.param({"exp": NOW - 120}, False, id="expired"),
        pytest.param({"token_introspection": "x"}, False, id="answer-not-an-object"),
        pytest.param({"token_introspection": None}, False, id="no-answer"),
    ],
)
def test_signed_answer_claims(claims: dict[str, Any], ok: bool) -> None:
    base: dict[str, Any] = {"iss": ISSUER, "aud": "my-api", "iat": NOW, "token_introspection": {"active": True}}
    base.update(claims)
    base = {name: value for name, value in base.items() if value is not None}
    result = signed_rules().check(base, NOW)
    assert (result == {"active": True}) is ok


@pytest.mark.parametrize(
    ("typ", "ok"),
    [
        ("token-introspection+jwt", True),
        ("application/token-introspection+jwt", True),
        ("Token-Introspection+JWT", True),
        ("JWT", False),
        ("at+jwt", False),
        (None, False),
    ],
)
def test_signed_answer_type(typ: str | None, ok: bool) -> None:
    assert SignedAnswerRules.check_type({} if typ is None else {"typ": typ}) is ok


# -- the cache -------------------------------------------------------------------


def test_cache_is_bounded_in_entries() -> None:
    cache = AnswerCache(max_entries=3, max_bytes=10**9)
    for index in range(10):
        cache.put_active(bytes([index]) * 32, {"i": index}, frozenset(), (-math.inf, NOW + 60), 100, 0)
    assert len(cache) == 3
    assert cache.peak_entries == 3
    assert cache.get(bytes([9]) * 32, NOW) is not None
    assert cache.get(bytes([0]) * 32, NOW) is None  # oldest evicted first


def test_cache_is_bounded_in_bytes() -> None:
    size = entry_size(500)
    cache = AnswerCache(max_entries=1000, max_bytes=3 * size)
    for index in range(10):
        cache.put_active(bytes([index]) * 32, {}, frozenset(), (-math.inf, NOW + 60), size, 0)
    assert len(cache) == 3
    assert cache.bytes == 3 * size
    assert cache.peak_bytes <= 3 * size
    cache.put_active(b"x" * 32, {}, frozenset(), (-math.inf, NOW + 60), 4 * size, 0)
    assert cache.get(b"x" * 32, NOW) is None  # larger than the whole budget: not kept


def test_cache_entries_expire() -> None:
    cache = AnswerCache(max_entries=10, max_bytes=10**6)
    cache.put_active(b"a" * 32, {}, frozenset(), (NOW - 10, NOW + 10), 100, 0)
    assert cache.get(b"a" * 32, NOW + 9.9) is not None
    assert cache.get(b"a" * 32, NOW + 10) is None
    assert len(cache) == 0
    assert cache.bytes == 0


def test_cache_refusals_raise_again() -> None:
    cache = AnswerCache(max_entries=10, max_bytes=10**6)
    cache.put_refused(b"r" * 32, InactiveToken(), NOW + 5, 0)
    entry = cache.get(b"r" * 32, NOW)
    assert entry is not None
    assert entry[0] is None
    assert entry[1] == (InactiveToken, InactiveToken.description)


def test_cache_clear_discards_answers_fetched_before() -> None:
    cache = AnswerCache(max_entries=10, max_bytes=10**6)
    epoch = cache.epoch
    cache.clear()
    cache.put_active(b"a" * 32, {}, frozenset(), (-math.inf, NOW + 60), 100, epoch)
    assert len(cache) == 0


def test_cache_size_zero_disables() -> None:
    cache = AnswerCache(max_entries=0, max_bytes=10**6)
    cache.put_active(b"a" * 32, {}, frozenset(), (-math.inf, NOW + 60), 100, 0)
    assert len(cache) == 0


# -- rate limit and backoff -------------------------------------------------------


def test_rate_limit_allows_a_burst_then_the_rate() -> None:
    limit = RateLimit(rate=2.0, burst=3)
    assert [limit.take(NOW) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take(NOW) == pytest.approx(0.5)
    assert limit.take(NOW + 0.5) == 0.0
    assert limit.take(NOW + 0.5) > 0
    assert [limit.take(NOW + 100) for _ in range(3)] == [0.0, 0.0, 0.0]  # refilled to the burst, no more
    assert limit.take(NOW + 100) > 0


def test_backoff_doubles_to_its_ceiling_and_follows_retry_after() -> None:
    backoff = Backoff(1.0, 8.0)
    assert backoff.wait(NOW) == 0.0
    assert [backoff.failed(NOW) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.wait(NOW + 3) == 5.0
    backoff.succeeded()
    assert backoff.wait(NOW) == 0.0
    assert backoff.failed(NOW, hint=5.0) == 5.0
    assert backoff.failed(NOW, hint=100.0) == 8.0


# -- client authentication -------------------------------------------------------


def test_client_secret_basic_form_urlencodes_before_base64() -> None:
    auth = ClientAuth(Introspection(client_id="my api", client_secret="p@ss:w+rd"), audience=ISSUER, clock=lambda: NOW)
    form: dict[str, str] = {}
    headers = dict(auth.apply(form))
    assert form == {}
    scheme, _, value = headers["authorization"].partition(" ")
    assert scheme == "Basic"
    client_id, _, secret = base64.b64decode(value).decode().partition(":")
    assert (unquote_plus(client_id), unquote_plus(secret)) == ("my api", "p@ss:w+rd")


def test_client_secret_post_puts_credentials_in_the_form() -> None:
    options = Introspection(client_id="api", client_secret="s3cret", auth="client_secret_post")
    form: dict[str, str] = {}
    assert ClientAuth(options, audience=ISSUER, clock=lambda: NOW).apply(form) == ()
    assert form == {"client_id": "api", "client_secret": "s3cret"}


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES384", "EdDSA"])
def test_private_key_jwt_assertions_verify_and_are_fresh(alg: str) -> None:
    key = SigningKey(alg)
    options = Introspection(
        client_id="api",
        auth="private_key_jwt",
        private_key=key.private_pem(),
        private_key_id="k1",
        private_key_algorithm=alg,
    )
    auth = ClientAuth(options, audience=ISSUER, clock=lambda: NOW)
    form: dict[str, str] = {}
    assert auth.apply(form) == ()
    assert form["client_assertion_type"] == ASSERTION_TYPE
    assert form["client_id"] == "api"
    parsed = parse(form["client_assertion"], max_size=8192, algorithms=frozenset({alg}))
    assert parsed.kid == "k1"
    keyset, _ = keyset_from_jwks({"keys": [key.public_jwk(kid="k1")]}, frozenset({alg}))
    bound = keyset.find("k1", alg)
    assert bound is not None
    assert verify_signature(bound.key, parsed.signing_input, parsed.signature)
    claims = parsed.claims()
    assert claims["iss"] == claims["sub"] == "api"
    assert claims["aud"] == ISSUER
    assert claims["exp"] - claims["iat"] == 60
    again: dict[str, str] = {}
    auth.apply(again)
    second = json.loads(base64.urlsafe_b64decode(again["client_assertion"].split(".")[1] + "=="))
    assert second["jti"] != claims["jti"]
