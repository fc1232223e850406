"""Diagnostics (jwt_guard._diagnosis, ClaimRules.report, describe_jwks, key-set
snapshots): every check reported, with the rules of the verification path."""

from __future__ import annotations

import httpx
import pytest

from jwt_guard import Verifier
from jwt_guard._claims import ClaimRules
from jwt_guard._config import build_settings
from jwt_guard._diagnosis import token_checks
from jwt_guard._keys import describe_jwks
from jwt_guard._keysource import RemoteKeys
from jwt_guard._verifier import key_sources
from jwt_guard.testing import KeyServer, LocalIssuer, SigningKey, encode_segments, mock_transport
from tests.conftest import AUDIENCE, ISSUER, signing_key

NOW = 1_800_000_000


def checks_of(verifier: Verifier, token: str, **options) -> dict:
    found = token_checks(token, settings=verifier.settings, sources=key_sources(verifier), now=NOW, **options)
    names = [check.name for check in found]
    assert len(names) == len(set(names))
    return {check.name: check for check in found}


def test_a_good_token_passes_every_check(issuer, make_verifier):
    checks = checks_of(make_verifier(), issuer.token(scope="read"), required_scopes=["read"])
    assert list(checks) == [
        "structure", "alg", "kid", "signature", "typ", "exp", "nbf", "iat", "iss", "aud", "sub", "jti", "client_id",
        "scopes",
    ]  # fmt: skip
    assert all(check.passed for check in checks.values())
    assert checks["kid"].received == issuer.signing_key.kid
    assert checks["scopes"].received == ["read"]


def test_every_failure_is_reported_not_just_the_first(issuer, make_verifier):
    token = issuer.token(
        iss="https://evil.example.test/",
        aud="https://other.example.test",
        expires_in=-3600,
        headers={"typ": "id_token+jwt"},
        key=SigningKey("RS256", kid=issuer.signing_key.kid, private_key=signing_key("PS256").private_key),
        scope="read",
    )
    checks = checks_of(make_verifier(required_claims=["tenant"]), token, required_scopes=["write"])
    failed = {name: check.reason for name, check in checks.items() if not check.passed}
    assert failed == {
        "signature": "invalid_signature",
        "typ": "invalid_token_type",
        "exp": "expired",
        "iss": "invalid_issuer",
        "aud": "invalid_audience",
        "claim tenant": "missing_claim",
        "scopes": "insufficient_scope",
    }
    assert checks["aud"].expected == AUDIENCE
    assert checks["aud"].received == "https://other.example.test"
    assert checks["scopes"].description == "missing: write"
    assert checks["claim tenant"].received == "absent"


def test_a_disallowed_alg_is_reported_and_the_key_not_looked_up(issuer, make_verifier):
    token = issuer.token()
    checks = checks_of(make_verifier(algorithms=["ES256"], keys={"keys": [signing_key("ES256").public_jwk()]}), token)
    assert (checks["alg"].passed, checks["alg"].expected, checks["alg"].received) == (False, ["ES256"], "RS256")
    assert checks["kid"].description == "not looked up: alg not allowed"
    assert "signature" not in checks
    assert checks["exp"].passed  # the claims are still judged


@pytest.mark.parametrize(
    ("token", "description"),
    [
        pytest.param("not-a-token", "the token must have three dot-separated segments", id="segments"),
        pytest.param(
            encode_segments({"alg": "RS256"}, b"[1]") + ".c2ln", "the token payload is not a JSON object", id="claims"
        ),
        pytest.param("a" * 9000, "the access token is too large", id="too-large"),
    ],
)
def test_a_malformed_token_is_one_failed_structure_check(make_verifier, token, description):
    (check,) = token_checks(token, settings=make_verifier().settings, sources={}, now=NOW)
    assert (check.name, check.passed, check.description) == ("structure", False, description)
    assert check.reason in ("malformed", "too_large")


def test_alg_none_is_judged_by_the_allowlist(issuer, make_verifier):
    token = encode_segments({"alg": "none"}, issuer.claims()) + ".c2ln"
    checks = checks_of(make_verifier(), token)
    assert checks["alg"].passed is False
    assert checks["alg"].received == "none"


def test_unknown_kid(issuer, make_verifier):
    checks = checks_of(make_verifier(), issuer.token(key=signing_key("RS256", "stranger")))
    assert checks["kid"].passed is False
    assert checks["kid"].reason == "unknown_key"
    assert checks["kid"].expected == [issuer.signing_key.kid]


def test_token_of_an_unconfigured_issuer_among_several(clock):
    """With several issuers the key is looked up in the token's issuer's set
    only; a foreign issuer gets no key lookup at all."""
    first = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[signing_key("RS256")], clock=clock)
    second = LocalIssuer("https://b.example.test/", audience=AUDIENCE, keys=[signing_key("ES256")], clock=clock)
    servers = {
        "issuer.example.test": mock_transport(KeyServer(first)),
        "b.example.test": mock_transport(KeyServer(second)),
    }
    transport = httpx.MockTransport(lambda request: servers[request.url.host].handle_request(request))
    with Verifier(
        issuer=[first.issuer, second.issuer], audience=AUDIENCE, transport=transport, clock=clock
    ) as verifier:
        verifier.prefetch()
        assert checks_of(verifier, second.token())["signature"].passed
        checks = checks_of(verifier, first.token(iss="https://c.example.test/"))
    assert checks["kid"].reason == "invalid_issuer"
    assert checks["iss"].passed is False


def test_keys_not_fetched_yet_are_reported(issuer, remote_verifier):
    checks = checks_of(remote_verifier(), issuer.token())
    assert checks["kid"].reason == "keys_unavailable"


def test_claim_report_without_audience_check(issuer):
    rules = ClaimRules(build_settings(issuer=ISSUER, audience=None))
    (aud,) = [check for check in rules.report(issuer.claims(aud="x"), {}, NOW) if check.name == "aud"]
    assert (aud.passed, aud.expected) == (True, "not checked (audience=None)")


def test_claim_report_bad_scope_claim(issuer):
    rules = ClaimRules(build_settings(issuer=ISSUER, audience=AUDIENCE))
    (scopes,) = [check for check in rules.report(issuer.claims(scope=5), {}, NOW) if check.name == "scopes"]
    assert (scopes.passed, scopes.reason) == (False, "invalid_claim")


# -- key descriptions and snapshots -----------------------------------------------------------------


def test_describe_jwks_uses_the_key_set_rules():
    rsa, ec, ed = signing_key("RS256"), signing_key("ES256"), signing_key("EdDSA")
    document = {
        "keys": [
            rsa.public_jwk(),
            {**ec.public_jwk(), "use": "enc"},
            ed.public_jwk(),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "shared"},
            "not an object",
        ]
    }
    described = describe_jwks(document, frozenset({"RS256", "PS256"}))
    assert [(key.kid, key.algorithms, key.problem) for key in described] == [
        (rsa.kid, ("RS256",), None),
        (ec.kid, (), "key is not for signatures (use)"),
        (ed.kid, (), "key serves EdDSA, none of them in the allowlist"),
        ("shared", (), "symmetric keys are never taken from a remote key set"),
        (None, (), "key is not an object"),
    ]
    assert [key.size for key in described[:3]] == ["2048 bits", "P-256", "Ed25519"]
    assert described[0].thumbprint is not None
    assert all(rsa.public_jwk()["n"] not in repr(key) for key in described)


def test_describe_jwks_refuses_what_is_not_a_jwk_set():
    with pytest.raises(ValueError):
        describe_jwks({"hello": "world"}, frozenset({"RS256"}))


def test_remote_snapshot_has_no_key_material(issuer, remote_verifier, key_server):
    verifier = remote_verifier()
    verifier.prefetch()
    (source,) = set(key_sources(verifier).values())
    assert isinstance(source, RemoteKeys)
    snapshot = source.snapshot()
    assert snapshot.kids == (issuer.signing_key.kid,)
    assert snapshot.discovered_issuer == issuer.issuer
    assert snapshot.discovery_url == "https://issuer.example.test/.well-known/openid-configuration"
    assert snapshot.failure is None and snapshot.configuration_error is False
    assert issuer.signing_key.public_jwk()["n"] not in repr(snapshot)
