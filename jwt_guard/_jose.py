"""The only module that imports python-jose.

python-jose is the signature engine, nothing more: it receives a key object
built once per key set, bound to exactly one algorithm, and a signing input
plus signature that :mod:`jwt_guard._token` already parsed. Its ``jwt.decode``
is never used: its defaults are unsafe for access tokens (no required
``exp``, ``iss`` or ``aud``; a token without ``aud`` passes its audience
check; ``algorithms=None`` trusts the token's header), so
:mod:`jwt_guard._claims` applies every claim rule itself.

python-jose has no PS256/384/512 and no EdDSA; :class:`PSSKey` and
:class:`EdDSAKey` add them as subclasses of its ``Key`` interface, backed by
``cryptography`` and passed around as objects: python-jose's global algorithm
registry is never touched.
"""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from jose.backends.base import Key
from jose.backends.cryptography_backend import (
    CryptographyECKey,
    CryptographyHMACKey,
    CryptographyRSAKey,
)
from jose.exceptions import JOSEError

__all__ = ["EdDSAKey", "HMACKey", "PSSKey", "SignatureKey", "bind_key", "verify_signature"]

#: What :func:`bind_key` returns; opaque to the rest of the package.
SignatureKey = Key

_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
_HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
# RFC 7518 §3.4: each ES* algorithm is defined for exactly one curve.
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
_PSS_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "PS256": hashes.SHA256,
    "PS384": hashes.SHA384,
    "PS512": hashes.SHA512,
}


class PSSKey(Key):  # type: ignore[misc]
    """RSASSA-PSS verification (RFC 7518 §3.5) for python-jose.

    The salt length is fixed to the hash output size, as RFC 7518 requires;
    MGF1 uses the same hash.
    """

    def __init__(self, key: rsa.RSAPublicKey, algorithm: str) -> None:
        if algorithm not in _PSS_HASHES or not isinstance(key, rsa.RSAPublicKey):
            raise JOSEError(f"PSSKey needs an RSA public key and a PS* algorithm, got {algorithm}")
        hash_algorithm = _PSS_HASHES[algorithm]()
        self._key = key
        self._algorithm = algorithm
        self._hash = hash_algorithm
        self._padding = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=hash_algorithm.digest_size)

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            self._key.verify(sig, msg, self._padding, self._hash)
        except InvalidSignature:
            return False
        return True

    def public_key(self) -> PSSKey:
        return self

    def to_dict(self) -> dict[str, Any]:
        numbers = self._key.public_numbers()
        return {"kty": "RSA", "alg": self._algorithm, "n": numbers.n, "e": numbers.e}


class EdDSAKey(Key):  # type: ignore[misc]
    """Ed25519 verification (RFC 8037 §3.1) for python-jose."""

    def __init__(self, key: ed25519.Ed25519PublicKey, algorithm: str = "EdDSA") -> None:
        if algorithm != "EdDSA" or not isinstance(key, ed25519.Ed25519PublicKey):
            raise JOSEError("EdDSAKey needs an Ed25519 public key and the EdDSA algorithm")
        self._key = key

    def verify(self, msg: bytes, sig: bytes) -> bool:
        try:
            self._key.verify(sig, msg)
        except InvalidSignature:
            return False
        return True

    def public_key(self) -> EdDSAKey:
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA"}


class HMACKey(CryptographyHMACKey):  # type: ignore[misc]
    """python-jose's HMAC key with a leaner ``verify``.

    The key is prepared by python-jose; only the per-call work changes: its
    ``verify`` coerces both arguments and looks up the default backend on
    every call, a third of an HS256 verification. The comparison stays
    constant-time (``cryptography``'s ``HMAC.verify``), and a truncated tag
    fails (JWS uses the full MAC, RFC 7518 §3.2).
    """

    def verify(self, msg: bytes, sig: bytes) -> bool:
        mac = hmac.HMAC(self.prepared_key, self._hash_alg)
        mac.update(msg)
        try:
            mac.verify(sig)
        except InvalidSignature:
            return False
        return True


def bind_key(key: object, algorithm: str) -> Key:
    """Build the python-jose key object that verifies *algorithm* with *key*.

    *key* is a ``cryptography`` public key, or ``bytes`` for HS*. The caller
    (:mod:`jwt_guard._keys`) has already checked that they fit each other.
    Raises :class:`ValueError` when python-jose refuses the key.
    """
    try:
        if algorithm in _RSA_ALGORITHMS and isinstance(key, rsa.RSAPublicKey):
            return CryptographyRSAKey(key, algorithm)
        if algorithm in _PSS_HASHES and isinstance(key, rsa.RSAPublicKey):
            return PSSKey(key, algorithm)
        if algorithm in _EC_CURVES and isinstance(key, ec.EllipticCurvePublicKey):
            if key.curve.name != _EC_CURVES[algorithm]:
                raise ValueError(f"a {key.curve.name} key cannot verify {algorithm}")
            return CryptographyECKey(key, algorithm)
        if algorithm == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            return EdDSAKey(key, algorithm)
        if algorithm in _HMAC_ALGORITHMS and isinstance(key, bytes):
            return HMACKey(key, algorithm)
    except JOSEError as exc:
        raise ValueError(str(exc)) from exc
    raise ValueError(f"a {type(key).__name__} cannot verify {algorithm}")


def verify_signature(key: Key, signing_input: bytes, signature: bytes) -> bool:
    """True if *signature* over *signing_input* verifies with *key*.

    python-jose's key objects answer ``False`` for a wrong signature; some
    malformed signatures make them raise instead, which is the same answer.
    """
    try:
        return key.verify(signing_input, signature) is True
    except (JOSEError, InvalidSignature, ValueError, TypeError, OverflowError):
        return False
