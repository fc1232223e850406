"""The proof key: ``message_public_key`` and the proof-specific caps, reason by reason.

``test_proof.py`` shows that each bad ``jwk`` makes the proof fail; here each
one fails for the reason it was built to show.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jwt_guard._dpop import _cached_key, _proof_key
from jwt_guard._keys import message_public_key, public_jwk, thumbprint
from jwt_guard.testing import b64url

_EC = ec.generate_private_key(ec.SECP256R1())
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_RSA_1024 = rsa.generate_private_key(public_exponent=65537, key_size=1024)
_ED = ed25519.Ed25519PrivateKey.generate()
EC_JWK = public_jwk(_EC.public_key())
RSA_JWK = public_jwk(_RSA.public_key())
ED_JWK = public_jwk(_ED.public_key())


def uint(value: int, size: int | None = None) -> str:
    return b64url(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


def _y_plus_one() -> str:
    y = int.from_bytes(base64.urlsafe_b64decode(EC_JWK["y"] + "="), "big")
    return uint((y + 1) % 2**256, 32)


@pytest.mark.parametrize("jwk", [EC_JWK, RSA_JWK, ED_JWK], ids=["EC", "RSA", "OKP"])
def test_a_public_key_and_its_thumbprint(jwk: dict[str, str]) -> None:
    key, _, jkt = message_public_key({**jwk, "kid": "k", "use": "sig", "key_ops": ["verify"]})
    assert public_jwk(key) == jwk
    assert jkt == thumbprint(jwk)


def test_rfc7638_example_thumbprint() -> None:
    """RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3o"
        "knjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZH"
        "zu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEg"
        "U8awapJzKnqDKgw"
    )
    _, _, jkt = message_public_key({"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"})
    assert jkt == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


REASONS: list[Any] = [
    pytest.param({**EC_JWK, "d": uint(_EC.private_numbers().private_value, 32)}, "private members", id="ec-d"),
    pytest.param({**RSA_JWK, "p": "AQAB"}, "private members", id="rsa-p"),
    pytest.param({**RSA_JWK, "oth": []}, "private members", id="rsa-oth"),
    pytest.param({"kty": "oct", "k": b64url(b"k" * 32)}, "symmetric", id="oct"),
    pytest.param({**EC_JWK, "k": "AAAA"}, "symmetric", id="k-member"),
    pytest.param(public_jwk(_RSA_1024.public_key()), "shorter than 2048", id="rsa-1024"),
    pytest.param({**EC_JWK, "y": _y_plus_one()}, "Invalid EC key", id="off-curve"),
    pytest.param({**EC_JWK, "x": EC_JWK["x"][:-3]}, "wrong length", id="short-x"),
    pytest.param({**ED_JWK, "x": ED_JWK["x"][:-3]}, "wrong length", id="short-ed25519"),
    pytest.param({**EC_JWK, "x": EC_JWK["x"] + "="}, "canonical", id="padded"),
    pytest.param({**RSA_JWK, "n": uint(_RSA.public_key().public_numbers().n, 257)}, "canonical", id="rsa-leading-zero"),
    pytest.param({**RSA_JWK, "e": "AAEAAQ"}, "canonical", id="rsa-e-leading-zero"),
    pytest.param({**EC_JWK, "use": "enc"}, r"\(use\)", id="use-enc"),
    pytest.param({**EC_JWK, "key_ops": ["sign"]}, r"\(key_ops\)", id="key-ops-sign-only"),
    pytest.param({**EC_JWK, "kid": 1}, "kid", id="kid-number"),
    pytest.param({**EC_JWK, "crv": "P-192"}, "curve", id="unknown-curve"),
    pytest.param({**EC_JWK, "kty": "EC2"}, "key type", id="unknown-kty"),
    pytest.param({"kty": "RSA", "n": RSA_JWK["n"], "e": "Aw"}, None, id="e-3-is-fine"),
]


@pytest.mark.parametrize(("jwk", "reason"), REASONS)
def test_message_public_key_refuses_for_the_right_reason(jwk: dict[str, Any], reason: str | None) -> None:
    if reason is None:
        message_public_key(jwk)
        return
    with pytest.raises(ValueError, match=reason):
        message_public_key(jwk)


def test_the_thumbprint_is_of_the_canonical_members() -> None:
    """Member order and extra members do not change it; one key, one thumbprint."""
    shuffled = {"y": EC_JWK["y"], "x": EC_JWK["x"], "kty": "EC", "crv": "P-256", "kid": "any"}
    assert message_public_key(shuffled)[2] == message_public_key(EC_JWK)[2]


PROOF_REASONS: list[Any] = [
    pytest.param("ES256", None, "no jwk", id="none"),
    pytest.param("ES256", {**EC_JWK, **{f"m{i}": "v" for i in range(13)}}, "too many members", id="members"),
    pytest.param("ES256", {**EC_JWK, "kid": "k" * 1025}, "member too long", id="long-member"),
    pytest.param("ES256", {**EC_JWK, "alg": "ES384"}, "another algorithm", id="jwk-alg"),
    pytest.param("RS256", EC_JWK, "cannot verify", id="kty-vs-alg"),
    pytest.param(
        "RS256",
        {"kty": "RSA", "n": uint((1 << 4200) | 1), "e": "AQAB"},
        "RSA key too large",
        id="rsa-over-4096",
    ),
]


@pytest.mark.parametrize(("alg", "jwk", "reason"), PROOF_REASONS)
def test_proof_key_caps(alg: str, jwk: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        _proof_key(alg, jwk)


def test_proof_key_limits_are_inclusive() -> None:
    assert _proof_key("ES256", {**EC_JWK, **{f"m{i}": "v" for i in range(12)}})
    assert _proof_key("ES256", {**EC_JWK, "kid": "k" * 1024})
    assert _proof_key("RS256", {"kty": "RSA", "n": uint((1 << 4095) | 1), "e": "AQAB"})


def test_unhashable_members_take_the_uncached_path() -> None:
    """key_ops is a list: such a jwk is checked every time, never memoised."""
    jwk = {**EC_JWK, "kid": "uncached", "key_ops": ["verify"]}
    before = _cached_key.cache_info()
    key_a, jkt_a = _proof_key("ES256", jwk)
    after = _cached_key.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)
    key_b, jkt_b = _proof_key("ES256", EC_JWK)
    assert jkt_a == jkt_b
    assert type(key_a) is type(key_b)


def test_a_known_key_is_parsed_once() -> None:
    jwk = {**EC_JWK, "kid": "memoised"}
    first = _proof_key("ES256", jwk)
    hits = _cached_key.cache_info().hits
    assert _proof_key("ES256", dict(jwk)) == first
    assert _cached_key.cache_info().hits == hits + 1
    # Another member order is another entry, with the same answer.
    assert _proof_key("ES256", dict(reversed(jwk.items())))[1] == first[1]
