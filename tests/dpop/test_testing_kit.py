"""jwt_guard.testing's DPoP helpers: DPoPKey and bound_token."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from jwt_guard._dpop import DPoPOptions, access_token_hash, bound_thumbprint, verify_proof
from jwt_guard._dpop_flow import DPoPContext
from jwt_guard._keys import public_jwk, thumbprint
from jwt_guard.testing import LocalIssuer
from jwt_guard.testing._dpop import DPoPKey, bound_token
from tests.dpop.conftest import DEFAULT_ALGS, NOW, URL, dpop_key


def _json(segment: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(value, dict)
    return value


def decode(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    header, payload, _ = proof.split(".")
    return _json(header), _json(payload)


@pytest.mark.parametrize("alg", DEFAULT_ALGS)
def test_the_key_publishes_only_its_public_half(alg: str) -> None:
    key = dpop_key(alg)
    assert key.jwk == public_jwk(key.private_key.public_key())
    assert key.thumbprint == thumbprint(key.jwk)
    assert not {"d", "p", "q", "dp", "dq", "qi", "k"} & set(key.jwk)
    assert key.thumbprint in repr(key)


def test_a_default_proof() -> None:
    key = dpop_key("ES256")
    header, claims = decode(key.proof("GET", URL))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.jwk}
    assert set(claims) == {"jti", "htm", "htu", "iat"}
    assert (claims["htm"], claims["htu"], claims["iat"]) == ("GET", URL, NOW)
    assert len(base64.urlsafe_b64decode(claims["jti"] + "==")) == 16


def test_every_proof_has_its_own_jti() -> None:
    key = dpop_key("ES256")
    assert len({decode(key.proof("GET", URL))[1]["jti"] for _ in range(20)}) == 20


def test_token_nonce_and_overrides() -> None:
    key = dpop_key("ES256")
    proof = key.proof(
        "POST",
        URL,
        access_token="a.b.c",
        nonce="n1",
        iat=NOW - 5,
        jti="fixed",
        claims={"htu": "https://elsewhere.test/", "extra": 1, "htm": None},
        headers={"typ": "JWT", "kid": "k"},
    )
    header, claims = decode(proof)
    assert header == {"typ": "JWT", "alg": "ES256", "jwk": key.jwk, "kid": "k"}
    assert claims == {
        "jti": "fixed",
        "htu": "https://elsewhere.test/",
        "iat": NOW - 5,
        "ath": access_token_hash("a.b.c"),
        "nonce": "n1",
        "extra": 1,
    }


def test_headers_for_a_request() -> None:
    key = dpop_key("EdDSA")
    headers = key.headers("DELETE", URL, "tok.en.x")
    assert headers["Authorization"] == "DPoP tok.en.x"
    result = verify_proof(
        headers["DPoP"],
        method="DELETE",
        url=URL,
        options=DPoPOptions(),
        now=NOW,
        access_token="tok.en.x",
        jkt=key.thumbprint,
    )
    assert result.thumbprint == key.thumbprint


def test_sign_signs_exactly_what_it_is_given() -> None:
    key = dpop_key("ES256")
    proof = key.sign(b'{"alg":"ES256","alg":"ES256"}', b"not json")
    assert base64.urlsafe_b64decode(proof.split(".")[1] + "==") == b"not json"


@pytest.mark.parametrize("alg", ["HS256", "none", "RSA-OAEP"])
def test_only_signature_algorithms(alg: str) -> None:
    with pytest.raises(ValueError, match="asymmetric"):
        DPoPKey(alg)


def test_bound_token(dpop_issuer: LocalIssuer) -> None:
    key = dpop_key("ES256")
    verifier = dpop_issuer.verifier(clock=lambda: NOW, dpop=DPoPOptions())
    raw = bound_token(dpop_issuer, key, scope="read", sub="bob")
    token = verifier.verify(raw, dpop=DPoPContext(key.proof("GET", URL, access_token=raw), "GET", URL))
    assert bound_thumbprint(token.claims) == key.thumbprint
    assert (token.subject, token.scopes) == ("bob", frozenset({"read"}))


def test_bound_token_keeps_other_confirmation_members(dpop_issuer: LocalIssuer) -> None:
    key = dpop_key("ES256")
    token = bound_token(dpop_issuer, key, cnf={"x5t#S256": "abc", "jkt": "replaced"})
    assert _json(token.split(".")[1])["cnf"] == {"x5t#S256": "abc", "jkt": key.thumbprint}
