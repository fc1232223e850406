"""Opaque access tokens: the :class:`Introspection` options (RFC 7662) and
the errors an introspected token can cause.

Everything here is checked once, at construction: an unknown client
authentication method, a missing secret, an unusable private key or a bad
endpoint URL raise :class:`~jwt_guard.ConfigurationError` now, not at the
first request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jwt_guard.errors import ConfigurationError, InvalidToken, TemporarilyUnavailable

__all__ = [
    "CLIENT_AUTH_METHODS",
    "InactiveToken",
    "Introspection",
    "IntrospectionUnavailable",
    "load_private_key",
]

#: Client authentication at the introspection endpoint (RFC 7662 §2.1 leaves
#: the method to the authorization server; these are RFC 6749 §2.3.1 and
#: RFC 7523 §2.2).
CLIENT_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")

# Client assertion algorithms, by key type (RFC 7518 §3, RFC 8037).
_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class InactiveToken(InvalidToken):
    """The authorization server reports the token as not active (RFC 7662
    §2.2): unknown, expired, revoked, or not meant for this client."""

    description = "the access token is not active"


class IntrospectionUnavailable(TemporarilyUnavailable):
    """The introspection endpoint could not judge the token (down, slow, an
    unusable answer, our client credentials refused, or too many unknown
    tokens at once): 503 with ``Retry-After``, never 401.
    """

    description = "token introspection is temporarily unavailable"


def _positive(name: str, value: object, *, integer: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"Introspection {name} must be a positive number, got {value!r}")
    if integer and not isinstance(value, int):
        raise ConfigurationError(f"Introspection {name} must be a whole number, got {value!r}")


def load_private_key(key: Any) -> Any:
    """A ``cryptography`` private key from *key* (PEM text or bytes, or a key
    object). Raises :class:`ConfigurationError` without echoing the key."""
    if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        return key
    if isinstance(key, str):
        key = key.encode()
    if not isinstance(key, (bytes, bytearray)):
        raise ConfigurationError("Introspection private_key must be PEM text or a cryptography private key")
    try:
        loaded = serialization.load_pem_private_key(bytes(key), password=None)
    except (ValueError, TypeError):
        raise ConfigurationError("Introspection private_key is not an unencrypted PEM private key") from None
    if not isinstance(loaded, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise ConfigurationError("Introspection private_key must be an RSA, EC (P-256/384/521) or Ed25519 key")
    return loaded


def _assertion_algorithm(key: Any, requested: str | None) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigurationError("Introspection private_key: RSA keys must have at least 2048 bits")
        allowed: tuple[str, ...] = _RSA_ALGS
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in _EC_ALGS:
            raise ConfigurationError(f"Introspection private_key: unsupported curve {key.curve.name}")
        allowed = (_EC_ALGS[key.curve.name],)
    else:
        allowed = ("EdDSA",)
    if requested is None:
        return allowed[0]
    if requested not in allowed:
        raise ConfigurationError(
            f"Introspection private_key_algorithm {requested!r} does not fit the key (use one of {', '.join(allowed)})"
        )
    return requested


@dataclass(frozen=True)
class Introspection:
    """Verify opaque access tokens at the authorization server's
    introspection endpoint (RFC 7662); JWTs are still verified locally.

    ::

        verifier = Verifier(
            issuer="https://idp.example.com/",
            audience="https://api.example.com",
            introspection=Introspection(client_id="my-api", client_secret=secret),
        )

    :param client_id: this API's client id at the authorization server.
    :param client_secret: its secret (``client_secret_basic`` and
        ``client_secret_post``).
    :param endpoint: the introspection endpoint; default: the
        ``introspection_endpoint`` of the issuer's metadata (OpenID Connect
        discovery, RFC 8414 form as fallback).
    :param auth: ``"client_secret_basic"`` (default), ``"client_secret_post"``
        or ``"private_key_jwt"`` (RFC 7523: a client assertion signed with
        *private_key*).
    :param private_key: PEM text or a ``cryptography`` RSA, EC or Ed25519
        private key, for ``private_key_jwt``.
    :param private_key_id: the ``kid`` to put in client assertions.
    :param private_key_algorithm: the assertion's ``alg`` (default: RS256 for
        RSA keys, the curve's ES* for EC keys, EdDSA for Ed25519).
    :param issuer: with several configured issuers, the one whose
        authorization server introspects the tokens.
    :param cache_ttl: longest reuse of an active answer (it never outlives
        the token's ``exp``). This bounds how long a token revoked at the
        authorization server keeps working here.
    :param negative_ttl: how long an inactive or refused token is answered
        401 without asking again.
    :param cache_size: answers remembered (entries); 0 disables the cache.
    :param cache_bytes: the cache's memory budget (estimated from answer sizes).
    :param rate: introspection calls per second allowed for tokens not in
        the cache; beyond it (and *burst*), such tokens get 503 with
        ``Retry-After`` while cached tokens keep working.
    :param burst: calls allowed at once above *rate*.
    :param require_signed: accept only RFC 9701 signed answers
        (``application/token-introspection+jwt``); plain JSON answers then
        count as failures (503).

    .. warning::
       Introspection is only as fresh as the cache: a token revoked at the
       authorization server is still accepted here for up to *cache_ttl*
       seconds. Lower it where revocation must take effect sooner.
    """

    client_id: str
    client_secret: str | None = field(default=None, repr=False)
    endpoint: str | None = None
    auth: str = "client_secret_basic"
    private_key: Any = field(default=None, repr=False)
    private_key_id: str | None = None
    private_key_algorithm: str | None = None
    issuer: str | None = None
    cache_ttl: float = 60.0
    negative_ttl: float = 5.0
    cache_size: int = 10_000
    cache_bytes: int = 16 * 1024 * 1024
    rate: float = 50.0
    burst: int = 100
    require_signed: bool = False
    #: The loaded private key and the assertion algorithm (``private_key_jwt``).
    signer: tuple[Any, str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.client_id, str) or not self.client_id or not self.client_id.isprintable():
            raise ConfigurationError("Introspection client_id must be a non-empty, printable string")
        if self.auth not in CLIENT_AUTH_METHODS:
            raise ConfigurationError(
                f"Introspection auth must be one of {', '.join(CLIENT_AUTH_METHODS)}, got {self.auth!r}"
            )
        if self.auth == "private_key_jwt":
            if self.private_key is None:
                raise ConfigurationError("Introspection auth='private_key_jwt' needs private_key")
            if self.client_secret is not None:
                raise ConfigurationError("Introspection auth='private_key_jwt' takes no client_secret")
            key = load_private_key(self.private_key)
            alg = _assertion_algorithm(key, self.private_key_algorithm)
            object.__setattr__(self, "signer", (key, alg))
        else:
            if not isinstance(self.client_secret, str) or not self.client_secret:
                raise ConfigurationError(f"Introspection auth={self.auth!r} needs a non-empty client_secret")
            if self.private_key is not None or self.private_key_algorithm is not None:
                raise ConfigurationError("Introspection private_key is used only with auth='private_key_jwt'")
        if self.private_key_id is not None and (not isinstance(self.private_key_id, str) or not self.private_key_id):
            raise ConfigurationError("Introspection private_key_id must be a non-empty string")
        if self.endpoint is not None and not isinstance(self.endpoint, str):
            raise ConfigurationError("Introspection endpoint must be a URL string")
        if self.issuer is not None and (not isinstance(self.issuer, str) or not self.issuer):
            raise ConfigurationError("Introspection issuer must be one of the verifier's issuers")
        for name in ("cache_ttl", "negative_ttl", "rate"):
            _positive(name, getattr(self, name))
        _positive("burst", self.burst, integer=True)
        _positive("cache_bytes", self.cache_bytes, integer=True)
        size = self.cache_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConfigurationError("Introspection cache_size must be a non-negative integer (0 disables)")
