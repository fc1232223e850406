"""Published JWS examples: RFC 7515 Appendix A.1-A.4 and RFC 7520 §4.1-4.4.

The vectors live in ``rfc_vectors.json`` exactly as the RFCs print them: the
compact JWS, the decoded header and payload text, and the JWK (private
members included where the RFC publishes them). The first tests prove the
data is the RFCs' (segments decode to the printed text, private members match
the public ones, signatures verify); the rest check jwt_guard against them at
the signature layer (``_keys`` + ``_token`` + ``_jose``) and through the full
``Verifier``.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jwt_guard import (
    ConfigurationError,
    ExpiredToken,
    InvalidAudience,
    InvalidSignature,
    InvalidTokenType,
    MalformedToken,
    Verifier,
)
from jwt_guard._config import ASYMMETRIC_ALGORITHMS, DEFAULT_MAX_TOKEN_SIZE, HMAC_ALGORITHMS
from jwt_guard._jose import verify_signature
from jwt_guard._keys import KeySet, keyset_from_jwks, thumbprint
from jwt_guard._token import b64url_decode, parse
from jwt_guard.errors import InvalidToken
from jwt_guard.testing import FakeClock

DATA = json.loads((Path(__file__).parent / "rfc_vectors.json").read_text(encoding="utf-8"))
VECTORS: dict[str, dict[str, Any]] = {vector["id"]: vector for vector in DATA["vectors"]}
ALL_ALGORITHMS = ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth")
A1_CLAIMS = {"iss": "joe", "exp": 1300819380, "http://example.com/is_root": True}
PAYLOAD_NOT_CLAIMS = "the token payload is not a JSON object"


def _params(*ids: str) -> list[Any]:
    return [pytest.param(VECTORS[vector_id], id=vector_id) for vector_id in (ids or VECTORS)]


def _int(value: str) -> int:
    return int.from_bytes(b64url_decode(value.encode()), "big")


def public_jwk(jwk: dict[str, Any]) -> dict[str, Any]:
    """The JWK without private members (keys that carry them are skipped by design)."""
    return {name: value for name, value in jwk.items() if name not in PRIVATE_MEMBERS}


def keyset_for(vector: dict[str, Any]) -> KeySet:
    keyset, skipped = keyset_from_jwks({"keys": [public_jwk(vector["jwk"])]}, ALL_ALGORITHMS, allow_symmetric=True)
    assert skipped == []
    return keyset


def signature_layer_accepts(keyset: KeySet, jws: str) -> bool:
    """Parse (strict base64url, header, allowlist), pick the key, check the signature."""
    try:
        parsed = parse(jws, max_size=DEFAULT_MAX_TOKEN_SIZE, algorithms=ALL_ALGORITHMS)
    except InvalidToken:
        return False
    key = keyset.find(parsed.kid, parsed.alg)
    return key is not None and verify_signature(key.key, parsed.signing_input, parsed.signature)


def _parts(vector: dict[str, Any]) -> tuple[bytes, bytes, Any]:
    jws = vector["jws"]
    signing_input, _, signature = jws.rpartition(".")
    key = keyset_for(vector).find(None if vector["id"].startswith("rfc7515") else vector["jwk"]["kid"], vector["alg"])
    assert key is not None
    return signing_input.encode("ascii"), b64url_decode(signature.encode("ascii")), key.key


# -- the data is the RFCs' ---------------------------------------------------------


def test_every_published_vector_is_present():
    assert sorted(VECTORS) == [
        "rfc7515-a1",
        "rfc7515-a2",
        "rfc7515-a3",
        "rfc7515-a4",
        "rfc7520-4.1",
        "rfc7520-4.2",
        "rfc7520-4.3",
        "rfc7520-4.4",
    ]
    assert [VECTORS[v]["alg"] for v in sorted(VECTORS)] == [
        "HS256",
        "RS256",
        "ES256",
        "ES512",
        "RS256",
        "PS384",
        "ES512",
        "HS256",
    ]


@pytest.mark.parametrize("vector", _params())
def test_segments_decode_to_the_printed_text(vector):
    """The compact form is the printed header and payload, strictly base64url-encoded."""
    header, payload, signature = (segment.encode("ascii") for segment in vector["jws"].split("."))
    assert b64url_decode(header).decode("utf-8") == vector["header"]
    assert b64url_decode(payload).decode("utf-8") == vector["payload"]
    assert json.loads(vector["header"])["alg"] == vector["alg"]
    expected_length = {"HS256": 32, "RS256": 256, "PS384": 256, "ES256": 64, "ES512": 132}[vector["alg"]]
    assert len(b64url_decode(signature)) == expected_length


@pytest.mark.parametrize("vector", _params())
def test_published_private_members_match_the_public_key(vector):
    """The RFCs print private keys; their private parts must fit the public ones."""
    jwk = vector["jwk"]
    if jwk["kty"] == "oct":
        # RFC 7515 A.1's HMAC key is 64 bytes; RFC 7520 §3.5's is 32.
        assert len(b64url_decode(jwk["k"].encode())) == (64 if vector["id"] == "rfc7515-a1" else 32)
        return
    if jwk["kty"] == "RSA":
        public = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"]))
        private = rsa.RSAPrivateNumbers(
            p=_int(jwk["p"]),
            q=_int(jwk["q"]),
            d=_int(jwk["d"]),
            dmp1=_int(jwk["dp"]),
            dmq1=_int(jwk["dq"]),
            iqmp=_int(jwk["qi"]),
            public_numbers=public,
        )
        assert private.p * private.q == public.n
        assert private.private_key().public_key().public_numbers() == public
        assert public.n.bit_length() == 2048
        return
    curve = {"P-256": ec.SECP256R1(), "P-521": ec.SECP521R1()}[jwk["crv"]]
    derived = ec.derive_private_key(_int(jwk["d"]), curve).public_key().public_numbers()
    assert (derived.x, derived.y) == (_int(jwk["x"]), _int(jwk["y"]))


# -- the signature layer -----------------------------------------------------------


@pytest.mark.parametrize("vector", _params())
def test_signature_verifies(vector):
    keyset = keyset_for(vector)
    assert signature_layer_accepts(keyset, vector["jws"])
    parsed = parse(vector["jws"], max_size=DEFAULT_MAX_TOKEN_SIZE, algorithms=frozenset({vector["alg"]}))
    assert parsed.alg == vector["alg"]
    assert parsed.header == json.loads(vector["header"])


@pytest.mark.parametrize("vector", _params())
def test_keys_with_published_private_members_are_skipped(vector):
    """As printed (with ``d``), an asymmetric key is never used for verification."""
    jwk = vector["jwk"]
    keyset, skipped = keyset_from_jwks({"keys": [jwk]}, ALL_ALGORITHMS, allow_symmetric=True)
    if jwk["kty"] == "oct":
        assert (len(keyset), skipped) == (1, [])
    else:
        assert len(keyset) == 0
        assert [s.reason for s in skipped] == ["key has private members"]


@pytest.mark.parametrize("vector", _params())
def test_any_single_byte_change_fails(vector):
    """Changing any one byte of the signing input or the signature, or the
    signature's length, breaks verification."""
    signing_input, signature, key = _parts(vector)
    assert verify_signature(key, signing_input, signature)
    for mask in (0x01, 0x80):
        for index in range(len(signing_input)):
            changed = bytearray(signing_input)
            changed[index] ^= mask
            assert not verify_signature(key, bytes(changed), signature), ("signing input", index, mask)
        for index in range(len(signature)):
            changed = bytearray(signature)
            changed[index] ^= mask
            assert not verify_signature(key, signing_input, bytes(changed)), ("signature", index, mask)
    assert not verify_signature(key, signing_input, signature[:-1])
    assert not verify_signature(key, signing_input, signature + b"\x00")
    assert not verify_signature(key, signing_input + b".", signature)


@pytest.mark.parametrize("vector", _params())
def test_any_single_character_change_is_refused(vector):
    """At the token level: no one-character substitution of the compact JWS
    passes parsing, key selection and the signature check."""
    keyset = keyset_for(vector)
    jws = vector["jws"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, char in enumerate(jws):
        replacement = "." if char != "." else "A"
        if char != ".":
            replacement = alphabet[(alphabet.index(char) + 1) % 64]
        changed = jws[:index] + replacement + jws[index + 1 :]
        assert not signature_layer_accepts(keyset, changed), (index, char, replacement)


# -- through the Verifier ----------------------------------------------------------


@pytest.fixture
def before_a1_expiry() -> FakeClock:
    return FakeClock(A1_CLAIMS["exp"] - 1)


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(b64url_decode(VECTORS["rfc7515-a1"]["jwk"]["k"].encode()), id="shared-secret"),
        pytest.param(VECTORS["rfc7515-a1"]["jwk"], id="jwk"),
        pytest.param({"keys": [VECTORS["rfc7515-a1"]["jwk"]]}, id="jwks"),
    ],
)
def test_rfc7515_a1_verifies_through_the_verifier(secret, before_a1_expiry):
    """RFC 7515 A.1 is a valid JWT for issuer "joe" (no audience), before its 2011 expiry."""
    with Verifier(issuer="joe", audience=None, secret=secret, algorithms=["HS256"], clock=before_a1_expiry) as verifier:
        token = verifier.verify(VECTORS["rfc7515-a1"]["jws"])
    assert dict(token.claims) == A1_CLAIMS
    assert dict(token.header) == {"typ": "JWT", "alg": "HS256"}
    assert token.issuer == "joe"
    assert token.audience == ()
    assert token.expires_at == datetime(2011, 3, 22, 18, 43, tzinfo=timezone.utc)
    assert token.scopes == frozenset()


@pytest.mark.anyio
async def test_rfc7515_a1_verifies_async(before_a1_expiry):
    secret = b64url_decode(VECTORS["rfc7515-a1"]["jwk"]["k"].encode())
    async with Verifier(
        issuer="joe", audience=None, secret=secret, algorithms=["HS256"], clock=before_a1_expiry
    ) as verifier:
        token = await verifier.verify_async(VECTORS["rfc7515-a1"]["jws"])
    assert dict(token.claims) == A1_CLAIMS


@pytest.mark.parametrize(
    ("options", "now", "error"),
    [
        pytest.param({}, A1_CLAIMS["exp"] + 60, ExpiredToken, id="expired-after-leeway"),
        pytest.param({"leeway": 0}, A1_CLAIMS["exp"], ExpiredToken, id="expired-at-exp"),
        pytest.param({"strict_typ": True}, A1_CLAIMS["exp"] - 1, InvalidTokenType, id="typ-JWT-under-strict"),
        pytest.param({"audience": "https://api.example"}, A1_CLAIMS["exp"] - 1, InvalidAudience, id="no-aud-claim"),
    ],
)
def test_rfc7515_a1_refusals(options, now, error):
    secret = b64url_decode(VECTORS["rfc7515-a1"]["jwk"]["k"].encode())
    settings: dict[str, Any] = {"issuer": "joe", "audience": None, "secret": secret, "algorithms": ["HS256"]}
    settings.update(options)
    with Verifier(clock=FakeClock(now), **settings) as verifier, pytest.raises(error):
        verifier.verify(VECTORS["rfc7515-a1"]["jws"])


def test_rfc7515_a1_boundary_of_expiry():
    """Accepted one second before exp + leeway, refused at it (leeway 60 s)."""
    secret = b64url_decode(VECTORS["rfc7515-a1"]["jwk"]["k"].encode())
    clock = FakeClock(A1_CLAIMS["exp"] + 59)
    with Verifier(issuer="joe", audience=None, secret=secret, algorithms=["HS256"], clock=clock) as verifier:
        verifier.verify(VECTORS["rfc7515-a1"]["jws"])
    clock.advance(1)
    with (
        Verifier(issuer="joe", audience=None, secret=secret, algorithms=["HS256"], clock=clock) as verifier,
        pytest.raises(ExpiredToken),
    ):
        verifier.verify(VECTORS["rfc7515-a1"]["jws"])


@pytest.mark.parametrize("vector", _params("rfc7515-a2", "rfc7515-a3"))
def test_rfc7515_asymmetric_examples_verify_through_the_verifier(vector, before_a1_expiry):
    """A.2 and A.3 sign the same claims as A.1, with a public key."""
    with Verifier(issuer="joe", audience=None, keys=public_jwk(vector["jwk"]), clock=before_a1_expiry) as verifier:
        token = verifier.verify(vector["jws"])
    assert dict(token.claims) == A1_CLAIMS
    assert dict(token.header) == {"alg": vector["alg"]}


def _verifier_for(vector: dict[str, Any]) -> Verifier:
    symmetric = vector["alg"] in HMAC_ALGORITHMS
    source = {"secret" if symmetric else "keys": public_jwk(vector["jwk"])}
    return Verifier(
        issuer="joe",
        audience=None,
        algorithms=[vector["alg"]] if symmetric else sorted(ASYMMETRIC_ALGORITHMS),
        clock=FakeClock(A1_CLAIMS["exp"] - 1),
        **source,
    )


def _with_other_signature(jws: str) -> str:
    signing_input, _, signature = jws.rpartition(".")
    first = "B" if signature[0] != "B" else "C"
    return f"{signing_input}.{first}{signature[1:]}"


@pytest.mark.parametrize("vector", _params("rfc7515-a4", "rfc7520-4.1", "rfc7520-4.2", "rfc7520-4.3", "rfc7520-4.4"))
def test_payloads_that_are_not_claim_sets_are_malformed_after_the_signature(vector):
    """RFC 7515 A.4 ("Payload") and RFC 7520's text payload verify, then are
    refused as malformed; with a broken signature the refusal is the signature."""
    with _verifier_for(vector) as verifier:
        with pytest.raises(MalformedToken) as refusal:
            verifier.verify(vector["jws"])
        assert refusal.value.description == PAYLOAD_NOT_CLAIMS
        with pytest.raises(InvalidSignature):
            verifier.verify(_with_other_signature(vector["jws"]))


@pytest.mark.anyio
@pytest.mark.parametrize("vector", _params("rfc7520-4.1", "rfc7520-4.2", "rfc7520-4.3", "rfc7520-4.4"))
async def test_rfc7520_payload_is_malformed_async(vector):
    async with _verifier_for(vector) as verifier:
        with pytest.raises(MalformedToken, match=PAYLOAD_NOT_CLAIMS):
            await verifier.verify_async(vector["jws"])


@pytest.mark.parametrize("vector", _params("rfc7515-a2", "rfc7515-a3", "rfc7515-a4", "rfc7520-4.1", "rfc7520-4.3"))
def test_verifier_refuses_keys_as_printed_with_private_members(vector):
    with pytest.raises(ConfigurationError, match="no key usable"):
        Verifier(issuer="joe", audience=None, keys=vector["jwk"])


def test_rfc7638_thumbprint():
    """RFC 7638 §3.1: jwt_guard's thumbprint (used for default kids) matches."""
    (example,) = DATA["thumbprints"]
    assert thumbprint(example["jwk"]) == example["thumbprint"]
    digest = base64.urlsafe_b64decode(example["thumbprint"] + "=")
    assert len(digest) == 32
