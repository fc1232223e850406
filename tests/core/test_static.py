"""What keys= and secret= accept (jwt_guard._static): key material is recognised,
opaque secrets are not mistaken for it. The Verifier-level rules are in test_config."""

from __future__ import annotations

import base64
import hashlib

import pytest

from jwt_guard._static import recognise_key_material


def _random(length: int, seed: bytes) -> bytes:
    """Deterministic bytes that look like a random secret."""
    out = b""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return out[:length]


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(_random(32, b"a"), id="random-32"),
        pytest.param(_random(64, b"b"), id="random-64"),
        pytest.param(b"\x04" + _random(64, b"c"), id="random-65-starting-with-04"),
        pytest.param(b"\x30\x82" + _random(62, b"d"), id="random-starting-like-der"),
        pytest.param(_random(48, b"e").hex().encode(), id="hex-text"),
        pytest.param(base64.b64encode(_random(48, b"f")), id="base64-text"),
        pytest.param(base64.urlsafe_b64encode(_random(48, b"g")).rstrip(b"="), id="base64url-text"),
        pytest.param(b"correct horse battery staple, and then some", id="passphrase"),
        pytest.param(b"{not json but a long enough secret value}", id="brace-not-json"),
        pytest.param(b"12345678901234567890123456789012", id="digits"),
        pytest.param(b"AAAA" + _random(40, b"h").hex().encode(), id="starts-like-ssh-blob"),
    ],
)
def test_opaque_secrets_are_not_key_material(secret):
    assert recognise_key_material(secret) is None


def test_base64_that_decodes_to_an_ssh_blob_is_recognised():
    blob = len(b"ssh-ed25519").to_bytes(4, "big") + b"ssh-ed25519" + (32).to_bytes(4, "big") + bytes(32)
    assert recognise_key_material(base64.b64encode(blob)) == "an OpenSSH public key (base64)"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b'[{"kty":"RSA"}]', "a JSON document (a JWK or JWK Set?)", id="json-array"),
        pytest.param(b"-----BEGIN CERTIFICATE-----\nMII\n", "PEM text (certificate)", id="pem-label"),
        pytest.param(b"---- BEGIN SSH2 PUBLIC KEY ----\nAAAA\n", "an OpenSSH public key", id="rfc4716"),
        pytest.param(b"ecdsa-sha2-nistp384 AAAA", "an OpenSSH public key", id="ecdsa-line"),
    ],
)
def test_recognised_shapes(data, expected):
    assert recognise_key_material(data) == expected
