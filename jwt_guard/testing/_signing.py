"""Signing keys and JWS encoding for the in-process issuer.

Signing uses ``cryptography`` directly: nothing here is trusted by the
verifier except through the JWKS a :class:`~jwt_guard.testing.LocalIssuer`
publishes.

.. warning::
   For tests and local development only. Private keys live in memory.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from jwt_guard._config import DEFAULT_ALGORITHMS
from jwt_guard._keys import public_jwk, thumbprint
from jwt_guard._token import b64url_encode

__all__ = ["ALGORITHMS", "SigningKey", "b64url", "encode_segments"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
_COORDINATE_SIZE = {"ES256": 32, "ES384": 48, "ES512": 66}
#: Every algorithm the issuer can sign with: the verifier's, plus HS*.
ALGORITHMS = (*DEFAULT_ALGORITHMS, "HS256", "HS384", "HS512")


def b64url(data: bytes | str) -> str:
    """base64url without padding (RFC 7515 §2)."""
    return b64url_encode(data.encode() if isinstance(data, str) else data)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_segments(header: Mapping[str, Any] | bytes, payload: Mapping[str, Any] | bytes) -> str:
    """``b64url(header).b64url(payload)``: the JWS signing input as text."""
    header_bytes = header if isinstance(header, bytes) else _json(header)
    payload_bytes = payload if isinstance(payload, bytes) else _json(payload)
    return f"{b64url(header_bytes)}.{b64url(payload_bytes)}"


class SigningKey:
    """A private key bound to one algorithm, with its ``kid``."""

    def __init__(self, alg: str, *, kid: str | None = None, private_key: Any = None, rsa_bits: int = 2048) -> None:
        if alg not in ALGORITHMS:
            raise ValueError(f"unsupported algorithm {alg!r}")
        self.alg = alg
        if private_key is None:
            private_key = self._generate(alg, rsa_bits)
        self.private_key = private_key
        if kid is None:
            kid = thumbprint(public_jwk(self.public_key))[:16] if not self.symmetric else secrets.token_hex(8)
        self.kid = kid

    @staticmethod
    def _generate(alg: str, rsa_bits: int) -> Any:
        if alg[:2] in ("RS", "PS"):
            return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        if alg.startswith("ES"):
            return ec.generate_private_key(_CURVES[alg])
        if alg == "EdDSA":
            return ed25519.Ed25519PrivateKey.generate()
        return secrets.token_bytes(int(alg[2:]) // 8)

    @property
    def symmetric(self) -> bool:
        return self.alg.startswith("HS")

    @property
    def public_key(self) -> Any:
        """The ``cryptography`` public key (the secret itself for HS*)."""
        return self.private_key if self.symmetric else self.private_key.public_key()

    def public_jwk(self, **extra: Any) -> dict[str, Any]:
        """The JWK a key server publishes for this key."""
        if self.symmetric:
            jwk: dict[str, Any] = {"kty": "oct", "k": b64url(self.private_key)}
        else:
            jwk = dict(public_jwk(self.public_key))
        jwk.update({"kid": self.kid, "alg": self.alg, "use": "sig"})
        jwk.update(extra)
        return {k: v for k, v in jwk.items() if v is not None}

    def public_pem(self) -> str:
        """The public key as SubjectPublicKeyInfo PEM."""
        if self.symmetric:
            raise ValueError("a shared secret has no PEM form")
        pem: bytes = self.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode()

    def private_pem(self) -> str:
        if self.symmetric:
            raise ValueError("a shared secret has no PEM form")
        pem: bytes = self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return pem.decode()

    def sign(self, signing_input: bytes) -> bytes:
        """The raw JWS signature of *signing_input* (RFC 7518 §3)."""
        alg = self.alg
        if alg == "EdDSA":
            return self.private_key.sign(signing_input)  # type: ignore[no-any-return]
        digest = _HASHES[alg[2:]]()
        if alg.startswith("HS"):
            mac = hmac.HMAC(self.private_key, digest)
            mac.update(signing_input)
            return mac.finalize()
        if alg.startswith("RS"):
            return self.private_key.sign(signing_input, padding.PKCS1v15(), digest)  # type: ignore[no-any-return]
        if alg.startswith("PS"):
            pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
            return self.private_key.sign(signing_input, pss, digest)  # type: ignore[no-any-return]
        r, s = decode_dss_signature(self.private_key.sign(signing_input, ec.ECDSA(digest)))
        size = _COORDINATE_SIZE[alg]
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    def __repr__(self) -> str:
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r})"
