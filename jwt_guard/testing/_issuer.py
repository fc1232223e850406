"""An in-process identity provider for tests and local development.

It generates keys, mints tokens with any claims and headers (deliberately
broken ones included), publishes its JWKS and discovery document, and rotates
keys. Signing uses ``cryptography`` directly: nothing here is trusted by the
verifier except through the published JWKS.

.. warning::
   For tests and local development only. Private keys live in memory and
   tokens are minted for whoever asks.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from jwt_guard._config import DEFAULT_ALGORITHMS
from jwt_guard._keys import public_jwk, thumbprint

__all__ = ["LocalIssuer", "SigningKey", "b64url", "encode_segments"]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES: dict[str, ec.EllipticCurve] = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}
_COORDINATE_SIZE = {"ES256": 32, "ES384": 48, "ES512": 66}
#: Every algorithm the issuer can sign with: the verifier's, plus HS*.
ALGORITHMS = (*DEFAULT_ALGORITHMS, "HS256", "HS384", "HS512")


def b64url(data: bytes | str) -> str:
    """base64url without padding (RFC 7515 §2)."""
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def encode_segments(header: Mapping[str, Any] | bytes, payload: Mapping[str, Any] | bytes) -> str:
    """``b64url(header).b64url(payload)``: the JWS signing input as text."""
    header_bytes = header if isinstance(header, bytes) else _json(header)
    payload_bytes = payload if isinstance(payload, bytes) else _json(payload)
    return f"{b64url(header_bytes)}.{b64url(payload_bytes)}"


class _Default:
    """Marks an argument left at its default (``None`` means "omit")."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()


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


class LocalIssuer:
    """An identity provider living in the test process.

    ::

        issuer = LocalIssuer()                      # one RS256 key
        token = issuer.token(scope="read", sub="alice")
        verifier = issuer.verifier()                # static keys, no network
        assert verifier.verify(token).has_scopes("read")

    ``issuer`` defaults to a loopback URL so that verifiers accept it over
    plain http; the network-facing parts (``mock_transport``, ``serve``)
    publish the discovery document and JWKS at the usual paths.
    """

    def __init__(
        self,
        issuer: str = "http://127.0.0.1/issuer",
        *,
        audience: str = "https://api.example.test",
        algorithm: str = "RS256",
        kid: str | None = None,
        clock: Callable[[], float] = time.time,
        token_lifetime: int = 300,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = [SigningKey(algorithm, kid=kid)]
        self._extra_jwks: list[dict[str, Any]] = []

    # -- keys --------------------------------------------------------------

    @property
    def signing_key(self) -> SigningKey:
        """The key new tokens are signed with."""
        return self._keys[0]

    @property
    def keys(self) -> list[SigningKey]:
        """Published keys, newest (signing) first."""
        return list(self._keys)

    def add_key(self, alg: str = "RS256", *, kid: str | None = None, private_key: Any = None) -> SigningKey:
        """Publish another key (not used for signing unless passed as ``key``)."""
        key = SigningKey(alg, kid=kid, private_key=private_key)
        with self._lock:
            self._keys.append(key)
        return key

    def rotate(self, alg: str | None = None, *, kid: str | None = None, retire_old: bool = False) -> SigningKey:
        """Make a new key the signing key; keep publishing the old ones
        unless *retire_old*."""
        key = SigningKey(alg or self.signing_key.alg, kid=kid)
        with self._lock:
            self._keys = [key] if retire_old else [key, *self._keys]
        return key

    def retire(self, kid: str) -> None:
        """Stop publishing the key with *kid*."""
        with self._lock:
            remaining = [key for key in self._keys if key.kid != kid]
            if not remaining:
                raise ValueError("cannot retire the only key")
            self._keys = remaining

    def publish_raw(self, jwk: dict[str, Any]) -> None:
        """Publish an arbitrary JWK as well (for malformed-key tests)."""
        with self._lock:
            self._extra_jwks.append(jwk)

    def key(self, kid: str) -> SigningKey:
        for key in self._keys:
            if key.kid == kid:
                return key
        raise KeyError(kid)

    # -- documents -----------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        """The JWK Set document (RFC 7517 §5)."""
        with self._lock:
            keys = [key.public_jwk() for key in self._keys if not key.symmetric] + list(self._extra_jwks)
        return {"keys": keys}

    def discovery(self, *, jwks_uri: str | None = None) -> dict[str, Any]:
        """The OpenID Connect discovery document."""
        base = self.issuer.rstrip("/")
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri or f"{base}/.well-known/jwks.json",
            "token_endpoint": f"{base}/oauth/token",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": sorted({key.alg for key in self._keys}),
            "grant_types_supported": ["client_credentials"],
        }

    # -- tokens --------------------------------------------------------------

    def claims(
        self,
        *,
        scope: str | Iterable[str] | Any = None,
        sub: str | None = "user-1",
        aud: str | list[str] | _Default | None = DEFAULT,
        expires_in: float | _Default | None = DEFAULT,
        **extra: Any,
    ) -> dict[str, Any]:
        """The default claims of a token, with *extra* merged in.

        Pass a claim as ``None`` to leave it out (``exp=None`` mints a token
        without expiry).
        """
        now = int(self.clock())
        lifetime = self.token_lifetime if isinstance(expires_in, _Default) else expires_in
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": sub,
            "aud": self.audience if isinstance(aud, _Default) else aud,
            "iat": now,
            "nbf": now,
            "exp": None if lifetime is None else now + int(lifetime),
            "jti": secrets.token_hex(12),
            "client_id": "test-client",
        }
        if scope is not None:
            claims["scope"] = " ".join(scope) if isinstance(scope, (list, tuple, set, frozenset)) else scope
        claims.update(extra)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        *,
        scope: str | Iterable[str] | Any = None,
        sub: str | None = "user-1",
        aud: str | list[str] | _Default | None = DEFAULT,
        expires_in: float | _Default | None = DEFAULT,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """Mint a signed access token.

        Defaults: this issuer, its audience, ``sub="user-1"``, issued now,
        valid for ``token_lifetime`` seconds, header ``typ: at+jwt`` and the
        signing key's ``alg``/``kid``. *headers* entries override the header
        (``None`` removes one).
        """
        body = self.claims(scope=scope, sub=sub, aud=aud, expires_in=expires_in, **claims)
        return self.sign(body, key=key, headers=headers)

    def sign(
        self,
        payload: Mapping[str, Any] | bytes,
        *,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign any payload with any header overrides; no claim defaults."""
        key = key or self.signing_key
        header: dict[str, Any] = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
        if headers:
            header.update(headers)
        header = {name: value for name, value in header.items() if value is not None}
        signing_input = encode_segments(header, payload)
        return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"

    # -- network -------------------------------------------------------------

    def key_server(self, **options: Any) -> Any:
        """A :class:`~jwt_guard.testing.KeyServer` publishing this issuer."""
        from jwt_guard.testing._keyserver import KeyServer

        return KeyServer(self, **options)

    def mock_transport(self, server: Any = None) -> Any:
        """An ``httpx.MockTransport`` serving discovery and JWKS (sync and async)."""
        from jwt_guard.testing._network import mock_transport

        return mock_transport(server if server is not None else self.key_server())

    def serve(self, **options: Any) -> Any:
        """A :class:`~jwt_guard.testing.LocalServer` on 127.0.0.1 (a context manager)."""
        from jwt_guard.testing._network import LocalServer

        return LocalServer(self, **options)

    # -- verifiers -----------------------------------------------------------

    def verifier(self, **options: Any) -> Any:
        """A :class:`~jwt_guard.Verifier` for this issuer with static keys."""
        from jwt_guard import Verifier

        options.setdefault("issuer", self.issuer)
        options.setdefault("audience", self.audience)
        if "keys" not in options and "jwks_uri" not in options and "transport" not in options:
            if self.signing_key.symmetric:
                options["keys"] = self.signing_key.private_key
                options.setdefault("algorithms", [self.signing_key.alg])
            else:
                options["keys"] = self.jwks()
        return Verifier(**options)

    def __repr__(self) -> str:
        return f"LocalIssuer(issuer={self.issuer!r}, kids={[key.kid for key in self._keys]!r})"
