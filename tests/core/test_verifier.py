"""The Verifier with static keys: the whole pipeline, through both verify and verify_async.

Every test here runs twice, once per entry point (the ``verify`` fixture), so
the sync and async faces cannot drift apart.
"""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from jwt_guard import (
    AccessToken,
    ConfigurationError,
    Event,
    EventKind,
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidSignature,
    InvalidToken,
    InvalidTokenType,
    JWTGuardError,
    MalformedToken,
    MissingClaim,
    NotYetValid,
    TokenRevoked,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    Verifier,
)
from jwt_guard.testing import LocalIssuer, SigningKey, b64url, encode_segments
from tests.conftest import ALGORITHMS, AUDIENCE, ISSUER, make_issuer, signing_key

pytestmark = pytest.mark.anyio

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")


@pytest.fixture(params=["verify", "verify_async"])
def verify(request):
    """``await verify(verifier, token)`` through the sync or the async entry point."""

    async def run(verifier: Verifier, token):
        if request.param == "verify":
            return verifier.verify(token)
        return await verifier.verify_async(token)

    return run


async def refused(verify, verifier: Verifier, token) -> JWTGuardError:
    """Verify *token*, expecting a contract error; return it."""
    with pytest.raises(JWTGuardError) as info:
        await verify(verifier, token)
    return info.value


def attacker_key(alg: str = "RS256") -> SigningKey:
    return signing_key(alg, "attacker")


def raw_signed(issuer: LocalIssuer, header: dict) -> str:
    """A token with exactly *header* (None values kept as JSON null), signed by *issuer*'s key."""
    signing_input = encode_segments(header, issuer.claims())
    return f"{signing_input}.{b64url(issuer.signing_key.sign(signing_input.encode()))}"


# -- every algorithm -----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", [*ALGORITHMS, *HMAC_ALGORITHMS])
async def test_every_algorithm(verify, clock, alg):
    issuer = make_issuer(alg, clock=clock)
    verifier = issuer.verifier(clock=clock)
    raw = issuer.token(scope="read write", sub="alice")
    token = await verify(verifier, raw)
    assert isinstance(token, AccessToken)
    assert token.subject == "alice"
    assert token.scopes == {"read", "write"}
    assert token.header["alg"] == alg
    assert token.raw == raw


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_every_algorithm_with_pem_keys(verify, clock, alg):
    """A PEM key has no kid: a token naming any kid falls back to the single fitting key."""
    issuer = make_issuer(alg, clock=clock)
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, keys=issuer.signing_key.public_pem(), clock=clock)
    token = await verify(verifier, issuer.token(scope="a"))
    assert token.scopes == {"a"}
    kidless = await verify(verifier, issuer.token(headers={"kid": None}))
    assert kidless.subject == "user-1"


@pytest.mark.parametrize("alg", [*ALGORITHMS, *HMAC_ALGORITHMS])
async def test_every_algorithm_refuses_a_changed_payload(verify, clock, alg):
    issuer = make_issuer(alg, clock=clock)
    verifier = issuer.verifier(clock=clock)
    header, _, signature = issuer.token(sub="alice").split(".")
    forged = issuer.claims(sub="admin")
    token = f"{header}.{b64url(json.dumps(forged, separators=(',', ':')))}.{signature}"
    assert type(await refused(verify, verifier, token)) is InvalidSignature


@pytest.mark.parametrize("alg", [*ALGORITHMS, *HMAC_ALGORITHMS])
async def test_every_algorithm_refuses_another_keys_signature(verify, clock, alg):
    issuer = make_issuer(alg, clock=clock)
    verifier = issuer.verifier(clock=clock)
    token = issuer.token(key=signing_key(alg, "attacker"), headers={"kid": issuer.signing_key.kid})
    assert type(await refused(verify, verifier, token)) is InvalidSignature


# -- rejections, one per rule --------------------------------------------------------------------


REJECTIONS = [
    pytest.param(lambda i: i.token(expires_in=-61), ExpiredToken, id="expired"),
    pytest.param(lambda i: i.token(nbf=int(i.clock()) + 61), NotYetValid, id="not-yet-valid"),
    pytest.param(lambda i: i.token(iat=int(i.clock()) + 61, nbf=None), NotYetValid, id="issued-in-future"),
    pytest.param(lambda i: i.token(expires_in=None), MissingClaim, id="no-exp"),
    pytest.param(lambda i: i.token(iss="https://evil.example.test/"), InvalidIssuer, id="other-issuer"),
    pytest.param(lambda i: i.token(iss=None), InvalidIssuer, id="no-issuer"),
    pytest.param(lambda i: i.token(aud="https://other.example.test"), InvalidAudience, id="other-audience"),
    pytest.param(lambda i: i.token(aud=None), InvalidAudience, id="no-audience"),
    pytest.param(lambda i: i.token(aud=[]), InvalidAudience, id="empty-audience"),
    pytest.param(lambda i: i.token(headers={"typ": "JOSE"}), InvalidTokenType, id="wrong-typ"),
    pytest.param(lambda i: i.token(headers={"typ": "dpop+jwt"}), InvalidTokenType, id="dpop-typ"),
    pytest.param(lambda i: i.token(sub=5), InvalidClaim, id="sub-number"),
    pytest.param(lambda i: i.token(scope=5), InvalidClaim, id="scope-number"),
    pytest.param(lambda i: i.token(exp="tomorrow"), InvalidClaim, id="exp-string"),
    pytest.param(lambda i: i.token(headers={"kid": "unknown"}), UnknownKey, id="unknown-kid"),
    pytest.param(lambda i: i.token(headers={"alg": "RS512"}), UnknownKey, id="alg-not-the-keys-alg"),
    pytest.param(lambda i: i.token(headers={"alg": "PS256"}), UnknownKey, id="pss-not-the-keys-alg"),
    pytest.param(lambda i: i.token(headers={"alg": "ES256"}), UnknownKey, id="ec-alg-with-rsa-kid"),
    pytest.param(lambda i: i.token(headers={"alg": "HS256"}), UnsupportedAlgorithm, id="hs256-header"),
    pytest.param(lambda i: i.token(headers={"alg": "none"}), UnsupportedAlgorithm, id="alg-none"),
    pytest.param(lambda i: i.token().rsplit(".", 1)[0] + ".", MalformedToken, id="signature-stripped"),
    pytest.param(lambda i: i.sign(b"not json"), MalformedToken, id="payload-not-json"),
    pytest.param(lambda i: i.sign(b"[1,2]"), MalformedToken, id="payload-array"),
    pytest.param(lambda i: i.token(headers={"crit": ["exp"], "exp": 1}), MalformedToken, id="unknown-crit"),
    pytest.param(lambda i: i.token(headers={"b64": False}), MalformedToken, id="b64-false"),
    pytest.param(lambda i: i.token(headers={"kid": 7}), MalformedToken, id="kid-number"),
    pytest.param(lambda i: raw_signed(i, {"alg": "RS256", "kid": None}), MalformedToken, id="kid-null"),
    pytest.param(lambda i: raw_signed(i, {"alg": "RS256", "kid": i.signing_key.kid}), None, id="control-no-typ"),
    pytest.param(lambda i: i.token(headers={"enc": "A256GCM"}), MalformedToken, id="enc-header"),
    pytest.param(lambda i: i.token(pad="x" * 9000), TokenTooLarge, id="too-large"),
]


@pytest.mark.parametrize(("make_token", "error"), REJECTIONS)
async def test_rejections(verify, issuer, make_verifier, make_token, error):
    if error is None:  # a control case: the same construction, nothing wrong
        assert isinstance(await verify(make_verifier(), make_token(issuer)), AccessToken)
        return
    error_raised = await refused(verify, make_verifier(), make_token(issuer))
    assert type(error_raised) is error


async def test_short_signature_is_invalid(verify, issuer, make_verifier):
    head, payload, _ = issuer.token().split(".")
    assert type(await refused(verify, make_verifier(), f"{head}.{payload}.AA")) is InvalidSignature


@pytest.mark.parametrize(
    ("options", "changes", "error"),
    [
        pytest.param({"strict_typ": True}, {"headers": {"typ": "JWT"}}, InvalidTokenType, id="strict-typ"),
        pytest.param({"required_claims": ["tenant"]}, {}, MissingClaim, id="required-claim"),
        pytest.param({"max_token_age": 60}, {"iat": 1_800_000_000 - 121, "nbf": None}, ExpiredToken, id="too-old"),
        pytest.param({"audience": ["a", "b"]}, {}, InvalidAudience, id="audience-list"),
        pytest.param({"max_token_size": 256}, {}, TokenTooLarge, id="small-size-cap"),
        pytest.param(
            {"scope_claims": ["permissions"]}, {"permissions": "not-a-list-but-ok", "scope": 5}, None, id="scope-claims"
        ),
        pytest.param({"require_exp": False}, {"expires_in": None}, None, id="exp-optional"),
        pytest.param({"audience": None}, {"aud": None}, None, id="audience-unchecked"),
        pytest.param({"leeway": 0}, {"nbf": 1_800_000_001}, NotYetValid, id="no-leeway"),
    ],
)
async def test_options(verify, issuer, make_verifier, options, changes, error):
    verifier = make_verifier(**options)
    token = issuer.token(**changes)
    if error is None:
        assert isinstance(await verify(verifier, token), AccessToken)
    else:
        assert type(await refused(verify, verifier, token)) is error


@pytest.mark.parametrize(
    ("elapsed", "ok"),
    [
        pytest.param(300 + 60 - 1, True, id="inside-leeway"),
        pytest.param(300 + 60, False, id="at-leeway-edge"),
    ],
)
async def test_leeway_with_the_clock(verify, issuer, make_verifier, clock, elapsed, ok):
    verifier = make_verifier(result_cache_size=0)
    token = issuer.token(expires_in=300)
    clock.advance(elapsed)
    if ok:
        assert (await verify(verifier, token)).subject == "user-1"
    else:
        assert type(await refused(verify, verifier, token)) is ExpiredToken


@pytest.mark.parametrize("alg", ["RS384", "RS512", "PS256", "PS512"])
async def test_alg_switch_on_a_key_without_alg(verify, issuer, make_verifier, alg):
    """A JWK without alg serves every RSA algorithm, but each signature is checked with the token's alg only."""
    keys = {"keys": [issuer.signing_key.public_jwk(alg=None)]}
    token = issuer.token(headers={"alg": alg})  # signed RS256, labelled otherwise
    assert type(await refused(verify, make_verifier(keys=keys), token)) is InvalidSignature


async def test_kidless_token_with_one_key(verify, issuer, make_verifier):
    token = issuer.token(headers={"kid": None})
    assert (await verify(make_verifier(), token)).subject == "user-1"


async def test_kidless_token_with_two_keys(verify, issuer, make_verifier):
    """No kid and two fitting keys: the token is refused rather than tried against each key."""
    keys = {"keys": [issuer.signing_key.public_jwk(), signing_key("RS256", "second").public_jwk()]}
    error = await refused(verify, make_verifier(keys=keys), issuer.token(headers={"kid": None}))
    assert type(error) is UnknownKey


async def test_token_as_bytes(verify, issuer, make_verifier):
    raw = issuer.token()
    for value in (raw.encode(), bytearray(raw.encode()), memoryview(raw.encode())):
        token = await verify(make_verifier(), value)
        assert token.raw == raw


# -- keys never come from the token --------------------------------------------------------------


def _certificate_b64(key: SigningKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(7)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(key.private_key, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


INJECTIONS = [
    pytest.param(lambda a: {"jwk": a.public_jwk()}, id="jwk"),
    pytest.param(lambda a: {"jku": "https://attacker.example/keys.json"}, id="jku"),
    pytest.param(lambda a: {"x5u": "https://attacker.example/cert.pem"}, id="x5u"),
    pytest.param(lambda a: {"x5c": [_certificate_b64(a)]}, id="x5c"),
    pytest.param(
        lambda a: {"jwk": a.public_jwk(), "jku": "https://attacker.example/k", "x5c": [_certificate_b64(a)]}, id="all"
    ),
]


@pytest.mark.parametrize("inject", INJECTIONS)
@pytest.mark.parametrize(
    ("kid", "error"),
    [
        pytest.param("legit", InvalidSignature, id="legit-kid"),
        pytest.param("attacker", UnknownKey, id="attacker-kid"),
        pytest.param(None, InvalidSignature, id="no-kid"),
    ],
)
async def test_key_injection_headers_are_ignored(verify, issuer, make_verifier, inject, kid, error):
    """jwk/jku/x5u/x5c naming the attacker's key never make the attacker's signature valid."""
    attacker = attacker_key()
    headers = dict(inject(attacker))
    headers["kid"] = issuer.signing_key.kid if kid == "legit" else (attacker.kid if kid else None)
    token = issuer.token(key=attacker, headers=headers)
    assert type(await refused(verify, make_verifier(), token)) is error


@pytest.mark.parametrize("inject", INJECTIONS)
async def test_key_injection_headers_do_not_disturb_a_valid_token(verify, issuer, make_verifier, inject):
    token = issuer.token(headers=inject(attacker_key()))
    assert (await verify(make_verifier(), token)).subject == "user-1"


async def test_jku_is_never_fetched(verify, issuer, remote_verifier, key_server):
    """With fetched keys, only the issuer's discovery document and JWKS are requested."""
    verifier = remote_verifier()
    token = issuer.token(
        key=attacker_key(),
        headers={
            "kid": "attacker",
            "jku": "https://issuer.example.test/attacker/keys",
            "x5u": "https://issuer.example.test/x5u",
        },
    )
    assert type(await refused(verify, verifier, token)) is UnknownKey
    paths = {recorded.path for recorded in key_server.requests}
    assert paths <= {key_server.discovery_path, key_server.jwks_path}
    assert key_server.jwks_requests >= 1


# -- algorithm confusion ------------------------------------------------------------------------


@pytest.mark.parametrize("hs", HMAC_ALGORITHMS)
@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(lambda key: key.public_pem().encode(), id="pem"),
        pytest.param(lambda key: key.public_pem().strip().encode(), id="pem-stripped"),
        pytest.param(lambda key: json.dumps(key.public_jwk()).encode(), id="jwk-json"),
        pytest.param(
            lambda key: key.public_key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            id="der",
        ),
    ],
)
@pytest.mark.parametrize("source", ["jwks", "pem"])
async def test_public_key_as_hmac_secret(verify, clock, hs, secret, source):
    """The classic confusion: an HS* token MACed with the RSA public key must never verify."""
    issuer = make_issuer("RS256", clock=clock)
    keys = issuer.jwks() if source == "jwks" else issuer.signing_key.public_pem()
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, keys=keys, clock=clock)
    forger = SigningKey(hs, kid=issuer.signing_key.kid, private_key=secret(issuer.signing_key))
    token = issuer.token(key=forger)
    assert type(await refused(verify, verifier, token)) is UnsupportedAlgorithm


@pytest.mark.parametrize("keys", ["pem-str", "pem-bytes", "jwks"])
async def test_public_key_cannot_be_configured_as_hmac_secret(keys):
    key = signing_key("RS256")
    value = {"pem-str": key.public_pem(), "pem-bytes": key.public_pem().encode(), "jwks": {"keys": [key.public_jwk()]}}[
        keys
    ]
    with pytest.raises(ConfigurationError):
        Verifier(issuer=ISSUER, audience=AUDIENCE, keys=value, algorithms=["HS256"])


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_asymmetric_token_against_hmac_config(verify, clock, alg):
    hs_issuer = make_issuer("HS256", clock=clock)
    verifier = hs_issuer.verifier(clock=clock)
    token = make_issuer(alg, clock=clock).token()
    assert type(await refused(verify, verifier, token)) is UnsupportedAlgorithm


async def test_hmac_token_needs_the_configured_secret(verify, clock):
    hs_issuer = make_issuer("HS256", clock=clock)
    verifier = hs_issuer.verifier(clock=clock)
    other_secret = SigningKey("HS256", kid=hs_issuer.signing_key.kid, private_key=b"o" * 32)
    assert type(await refused(verify, verifier, hs_issuer.token(key=other_secret))) is InvalidSignature


# -- the verified-token cache -----------------------------------------------------------------------


async def test_cache_hit_returns_the_identical_token(verify, issuer, make_verifier):
    verifier = make_verifier()
    raw = issuer.token()
    first = await verify(verifier, raw)
    assert await verify(verifier, raw) is first


async def test_cache_shared_between_sync_and_async(issuer, make_verifier):
    verifier = make_verifier()
    raw = issuer.token()
    assert await verifier.verify_async(raw) is verifier.verify(raw)


async def test_cache_hit_rechecks_exp(verify, issuer, make_verifier, clock):
    verifier = make_verifier()
    raw = issuer.token(expires_in=100)
    await verify(verifier, raw)
    clock.advance(100 + 60 - 1)
    assert (await verify(verifier, raw)).subject == "user-1"
    clock.advance(1)
    assert type(await refused(verify, verifier, raw)) is ExpiredToken


async def test_cache_hit_rechecks_max_token_age(verify, issuer, make_verifier, clock):
    verifier = make_verifier(max_token_age=30)
    raw = issuer.token(expires_in=3600)
    await verify(verifier, raw)
    clock.advance(30 + 60)
    assert type(await refused(verify, verifier, raw)) is ExpiredToken


async def test_cache_entry_lifetime_is_capped(verify, issuer, make_verifier, clock):
    verifier = make_verifier(result_cache_ttl=10)
    raw = issuer.token(expires_in=3600)
    first = await verify(verifier, raw)
    clock.advance(9)
    assert await verify(verifier, raw) is first
    clock.advance(2)
    again = await verify(verifier, raw)
    assert again is not first
    assert again.raw == raw


async def test_cache_is_bounded(verify, issuer, make_verifier):
    verifier = make_verifier(result_cache_size=2)
    raws = [issuer.token(jti=f"j{i}") for i in range(3)]
    tokens = [await verify(verifier, raw) for raw in raws]
    assert await verify(verifier, raws[2]) is tokens[2]
    assert await verify(verifier, raws[1]) is tokens[1]
    # The least recently used entry was evicted: verified afresh.
    fresh = await verify(verifier, raws[0])
    assert fresh is not tokens[0]
    assert fresh.token_id == "j0"


async def test_cache_disabled(verify, issuer, make_verifier):
    verifier = make_verifier(result_cache_size=0)
    raw = issuer.token()
    first = await verify(verifier, raw)
    second = await verify(verifier, raw)
    assert second is not first
    assert second.raw == first.raw


async def test_clear_cache(verify, issuer, make_verifier):
    verifier = make_verifier()
    raw = issuer.token()
    first = await verify(verifier, raw)
    verifier.clear_cache()
    assert await verify(verifier, raw) is not first


async def test_clear_cache_when_disabled(verify, issuer, make_verifier):
    verifier = make_verifier(result_cache_size=0)
    verifier.clear_cache()
    assert (await verify(verifier, issuer.token())).subject == "user-1"


async def test_refused_tokens_are_not_cached(verify, issuer, make_verifier, clock):
    """A token refused as not yet valid is accepted once its time comes, not answered from a cache."""
    verifier = make_verifier()
    raw = issuer.token(nbf=int(clock()) + 120)
    assert type(await refused(verify, verifier, raw)) is NotYetValid
    clock.advance(61)
    assert (await verify(verifier, raw)).subject == "user-1"


async def test_cache_does_not_bypass_signature(verify, issuer, make_verifier):
    """A forged token that shares a cached token's claims is still checked on its own."""
    verifier = make_verifier()
    raw = issuer.token()
    await verify(verifier, raw)
    head, payload, signature = raw.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert type(await refused(verify, verifier, forged)) is InvalidSignature


# -- validators --------------------------------------------------------------------------------------


async def test_validators_run_on_cache_hits(verify, issuer, make_verifier):
    seen: list[str | None] = []
    revoked: set[str] = set()

    def not_revoked(token: AccessToken) -> bool:
        seen.append(token.token_id)
        return token.token_id not in revoked

    verifier = make_verifier(validators=[not_revoked])
    raw = issuer.token(jti="j-1")
    first = await verify(verifier, raw)
    assert await verify(verifier, raw) is first
    assert seen == ["j-1", "j-1"]
    revoked.add("j-1")
    assert type(await refused(verify, verifier, raw)) is InvalidToken
    assert seen == ["j-1", "j-1", "j-1"]


@pytest.mark.parametrize(
    ("result", "ok"),
    [
        pytest.param(True, True, id="true"),
        pytest.param(None, True, id="none"),
        pytest.param("yes", True, id="truthy"),
        pytest.param(0, True, id="zero-is-not-false"),
        pytest.param(False, False, id="false"),
    ],
)
async def test_validator_result(verify, issuer, make_verifier, result, ok):
    verifier = make_verifier(validators=[lambda token: result])
    if ok:
        assert isinstance(await verify(verifier, issuer.token()), AccessToken)
    else:
        error = await refused(verify, verifier, issuer.token())
        assert type(error) is InvalidToken
        assert "validator" in error.description


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TokenRevoked(), id="revoked"),
        pytest.param(InvalidClaim("tenant not allowed"), id="invalid-claim"),
        pytest.param(InvalidAudience(), id="audience"),
    ],
)
async def test_validator_errors_propagate(verify, issuer, make_verifier, error):
    def validator(token: AccessToken) -> None:
        raise error

    raised = await refused(verify, make_verifier(validators=[validator]), issuer.token())
    assert raised is error


async def test_validators_run_in_order_and_stop_at_the_first_refusal(verify, issuer, make_verifier):
    calls: list[str] = []

    def first(token: AccessToken) -> bool:
        calls.append("first")
        return False

    def second(token: AccessToken) -> bool:
        calls.append("second")
        return True

    await refused(verify, make_verifier(validators=[first, second]), issuer.token())
    assert calls == ["first"]


async def test_validators_see_the_verified_token(verify, issuer, make_verifier):
    seen: list[AccessToken] = []
    verifier = make_verifier(validators=[seen.append])
    token = await verify(verifier, issuer.token(scope="read", tenant="t1"))
    assert seen == [token]
    assert seen[0]["tenant"] == "t1"


async def test_validators_do_not_run_for_invalid_tokens(verify, issuer, make_verifier):
    calls: list[AccessToken] = []
    verifier = make_verifier(validators=[calls.append])
    await refused(verify, verifier, issuer.token(aud="https://other.example.test"))
    assert calls == []


# -- several issuers --------------------------------------------------------------------------------


@pytest.fixture
def two_issuers(clock):
    first = make_issuer("RS256", clock=clock)
    second = LocalIssuer(
        "https://tenant-b.example.test/", audience=AUDIENCE, clock=clock, keys=[signing_key("ES256", "tenant-b")]
    )
    keys = {"keys": [first.signing_key.public_jwk(), second.signing_key.public_jwk()]}
    verifier = Verifier(issuer=[first.issuer, second.issuer], audience=AUDIENCE, keys=keys, clock=clock)
    return first, second, verifier


async def test_multi_issuer_accepts_each(verify, two_issuers):
    first, second, verifier = two_issuers
    assert (await verify(verifier, first.token())).issuer == first.issuer
    assert (await verify(verifier, second.token())).issuer == second.issuer


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"iss": "https://tenant-c.example.test/"}, InvalidIssuer, id="unknown-issuer"),
        pytest.param({"iss": None}, InvalidIssuer, id="no-issuer"),
        pytest.param({"iss": ["https://tenant-b.example.test/"]}, InvalidIssuer, id="issuer-list"),
        pytest.param({"aud": "https://other.example.test"}, InvalidAudience, id="audience"),
    ],
)
async def test_multi_issuer_refusals(verify, two_issuers, changes, error):
    first, _, verifier = two_issuers
    assert type(await refused(verify, verifier, first.token(**changes))) is error


async def test_multi_issuer_bad_signature(verify, two_issuers):
    first, _, verifier = two_issuers
    token = first.token(key=attacker_key(), headers={"kid": first.signing_key.kid})
    assert type(await refused(verify, verifier, token)) is InvalidSignature


async def test_multi_issuer_malformed_payload(verify, two_issuers):
    first, _, verifier = two_issuers
    assert type(await refused(verify, verifier, first.sign(b"not json"))) is MalformedToken


# -- weird inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="None"),
        pytest.param(0, id="int"),
        pytest.param(1.5, id="float"),
        pytest.param(True, id="bool"),
        pytest.param([], id="empty-list"),
        pytest.param(["a.b.c"], id="list"),
        pytest.param({}, id="dict"),
        pytest.param({"token": "a.b.c"}, id="dict-with-token"),
        pytest.param(object(), id="object"),
        pytest.param(bytearray(b"junk"), id="bytearray"),
        pytest.param(bytearray(), id="empty-bytearray"),
        pytest.param(memoryview(b"junk.junk.junk"), id="memoryview"),
        pytest.param(b"", id="empty-bytes"),
        pytest.param(b"\xff\xfe\xfd", id="binary"),
        pytest.param("", id="empty"),
        pytest.param(" ", id="space"),
        pytest.param("\u00e9t\u00e9.\u00e9t\u00e9.\u00e9t\u00e9", id="non-ascii"),
        pytest.param("\ud800.\udc00.x", id="surrogates"),
        pytest.param("\x00.\x00.\x00", id="nul"),
        pytest.param("a.b.c", id="tiny"),
        pytest.param("a" * 100_000, id="long"),
        pytest.param("Bearer a.b.c", id="with-scheme"),
        pytest.param("e30.e30.e30", id="empty-objects"),
        pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.", id="unsigned"),
        pytest.param("eyJhbGciOiJSUzI1NiJ9.e30.AA", id="rs256-empty-claims"),
    ],
)
async def test_weird_inputs_raise_only_contract_errors(verify, make_verifier, value):
    verifier = make_verifier()
    with pytest.raises(JWTGuardError) as info:
        await verify(verifier, value)
    assert isinstance(info.value, InvalidToken)


async def test_weird_inputs_twice(verify, make_verifier):
    """An unhashable input does not break the cache lookup on a second try."""
    verifier = make_verifier()
    for _ in range(2):
        with pytest.raises(MalformedToken):
            await verify(verifier, ["a.b.c"])


async def test_errors_never_echo_the_token(verify, issuer, make_verifier):
    raw = issuer.token(aud="https://other.example.test")
    error = await refused(verify, make_verifier(), raw)
    for part in raw.split("."):
        assert part not in str(error)
        assert part not in error.description


# -- events ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        pytest.param(lambda i: i.token(expires_in=-61), "expired", id="expired"),
        pytest.param(lambda i: i.token(aud="x"), "invalid_audience", id="audience"),
        pytest.param(lambda i: "garbage", "malformed", id="malformed"),
        pytest.param(lambda i: i.token(headers={"alg": "HS256"}), "unsupported_algorithm", id="algorithm"),
        pytest.param(
            lambda i: i.token(key=attacker_key(), headers={"kid": "attacker"}), "unknown_key", id="unknown-key"
        ),
    ],
)
async def test_on_event_token_rejected(verify, issuer, make_verifier, make_token, reason):
    events: list[Event] = []
    verifier = make_verifier(on_event=events.append)
    await refused(verify, verifier, make_token(issuer))
    assert [(event.kind, event.reason) for event in events] == [(EventKind.TOKEN_REJECTED, reason)]
    assert events[0].kind == "token_rejected"


async def test_on_event_validator_refusal(verify, issuer, make_verifier):
    events: list[Event] = []

    def revoked(token: AccessToken) -> None:
        raise TokenRevoked()

    await refused(verify, make_verifier(on_event=events.append, validators=[revoked]), issuer.token())
    assert [event.reason for event in events] == ["revoked"]


async def test_on_event_reports_each_success_timed(verify, issuer, make_verifier):
    """With a hook, each verification reports its outcome: the second one from the result cache."""
    events: list[Event] = []
    verifier = make_verifier(on_event=events.append)
    raw = issuer.token()
    first = await verify(verifier, raw)
    await verify(verifier, raw)
    assert [(event.kind, event.issuer, event.reason) for event in events] == [
        (EventKind.TOKEN_VERIFIED, issuer.issuer, None)
    ] * 2
    assert [event.details["cached"] for event in events] == [False, True]
    assert all(event.details["duration"] >= 0 for event in events)
    assert events[0].details["token"] is first


async def test_on_event_never_carries_the_token(verify, issuer, make_verifier):
    events: list[Event] = []
    raw = issuer.token(expires_in=-61)
    await refused(verify, make_verifier(on_event=events.append), raw)
    assert raw not in repr(events)
    assert raw.split(".")[2] not in repr(events)


async def test_failing_event_hook_does_not_change_the_answer(verify, issuer, make_verifier, caplog):
    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    verifier = make_verifier(on_event=broken)
    assert type(await refused(verify, verifier, issuer.token(expires_in=-61))) is ExpiredToken
    assert isinstance(await verify(verifier, issuer.token()), AccessToken)
    assert "hook failed" in caplog.text


# -- surface ---------------------------------------------------------------------------------------


async def test_no_network_for_static_keys(verify, issuer):
    """Static keys need no transport: none is configured, so any fetch would fail loudly."""
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), clock=issuer.clock)
    assert (await verify(verifier, issuer.token())).subject == "user-1"
    verifier.close()
    await verifier.aclose()


async def test_context_managers(issuer):
    with Verifier(issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), clock=issuer.clock) as verifier:
        assert verifier.verify(issuer.token()).subject == "user-1"
    async with Verifier(
        issuer=issuer.issuer, audience=issuer.audience, keys=issuer.jwks(), clock=issuer.clock
    ) as verifier:
        assert (await verifier.verify_async(issuer.token())).subject == "user-1"


async def test_repr_shows_no_key_material(make_verifier, issuer):
    text = repr(make_verifier())
    assert issuer.issuer in text
    assert "static keys" in text
    assert issuer.signing_key.public_jwk()["n"][:16] not in text


async def test_signing_input_tampering_in_header(verify, issuer, make_verifier):
    """Changing any header parameter invalidates the signature (the header is signed)."""
    raw = issuer.token()
    _, payload, signature = raw.split(".")
    header = {"alg": "RS256", "typ": "at+jwt", "kid": issuer.signing_key.kid, "extra": 1}
    forged = f"{encode_segments(header, b'').split('.')[0]}.{payload}.{signature}"
    assert type(await refused(verify, make_verifier(), forged)) is InvalidSignature
