"""An in-process identity provider for tests and local development.

It holds signing keys, mints tokens with any claims and headers (deliberately
broken ones included), publishes its JWKS and discovery document, and rotates
keys. Its network faces are built from the modules below it:
:class:`~jwt_guard.testing.KeyServer` (documents and faults),
``mock_transport`` and :class:`~jwt_guard.testing.LocalServer`; none of them
imports this module.

.. warning::
   For tests and local development only. Private keys live in memory and
   tokens are minted for whoever asks.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import httpx

from jwt_guard._dpop_options import DEFAULT_PROOF_ALGORITHMS
from jwt_guard._verifier import Verifier
from jwt_guard.testing._introspection import OpaqueTokens
from jwt_guard.testing._keyserver import KeyServer
from jwt_guard.testing._network import LocalServer, mock_transport
from jwt_guard.testing._signing import SigningKey, b64url, encode_segments

__all__ = ["LocalIssuer"]


class _Default:
    """Marks an argument left at its default (``None`` means "omit")."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT = _Default()


class LocalIssuer:
    """An identity provider living in the test process.

    ::

        issuer = LocalIssuer()                      # one new RS256 key
        token = issuer.token(scope="read", sub="alice")
        verifier = issuer.verifier()                # static keys, no network
        assert verifier.verify(token).has_scopes("read")

        key = SigningKey("ES256", kid="test-key")   # a key made once, reused
        issuer = LocalIssuer("https://idp.example.test/", keys=[key])

    ``issuer`` defaults to a loopback URL so that verifiers accept it over
    plain http; the network-facing parts (``mock_transport``, ``serve``)
    publish the discovery document and JWKS at the usual paths.

    :param algorithm: the algorithm of a new signing key (default RS256),
        with *kid* (default: its RFC 7638 thumbprint).
    :param keys: instead of a new key, these :class:`SigningKey` objects,
        all published, the first one signing (newest first, as
        :attr:`keys` lists them).
    """

    def __init__(
        self,
        issuer: str = "http://127.0.0.1/issuer",
        *,
        audience: str = "https://api.example.test",
        algorithm: str | None = None,
        kid: str | None = None,
        keys: Iterable[SigningKey] | None = None,
        clock: Callable[[], float] = time.time,
        token_lifetime: int = 300,
    ) -> None:
        self.issuer = issuer
        self.audience = audience
        self.clock = clock
        self.token_lifetime = token_lifetime
        self._lock = threading.Lock()
        self._keys = self._initial_keys(algorithm, kid, keys)
        self._extra_jwks: list[dict[str, Any]] = []
        self._opaque = OpaqueTokens(lambda: self.clock())  # follows a clock replaced later

    @staticmethod
    def _initial_keys(algorithm: str | None, kid: str | None, keys: Iterable[SigningKey] | None) -> list[SigningKey]:
        if keys is None:
            return [SigningKey(algorithm or "RS256", kid=kid)]
        if algorithm is not None or kid is not None:
            raise TypeError("LocalIssuer: pass either keys or algorithm/kid, not both")
        given = list(keys)
        if not given:
            raise ValueError("LocalIssuer: keys must hold at least one SigningKey (the first signs)")
        for key in given:
            if not isinstance(key, SigningKey):
                raise TypeError(f"LocalIssuer: keys must be SigningKey objects, got {type(key).__name__}")
        return given

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

    def rotate(
        self,
        alg: str | None = None,
        *,
        kid: str | None = None,
        key: SigningKey | None = None,
        retire_old: bool = False,
    ) -> SigningKey:
        """Make a new key (or *key*) the signing key; keep publishing the old
        ones unless *retire_old*."""
        if key is None:
            key = SigningKey(alg or self.signing_key.alg, kid=kid)
        elif alg is not None or kid is not None:
            raise TypeError("rotate: pass either key or alg/kid, not both")
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
            # RFC 9449 §5.1: the token endpoint binds tokens to DPoP proofs.
            "dpop_signing_alg_values_supported": list(DEFAULT_PROOF_ALGORITHMS),
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

    def opaque_token(
        self,
        *,
        scope: str | Iterable[str] | Any = None,
        sub: str | None = "user-1",
        aud: str | list[str] | _Default | None = DEFAULT,
        expires_in: float | _Default | None = DEFAULT,
        **claims: Any,
    ) -> str:
        """Mint an opaque (reference) token: a random string whose claims
        only the introspection endpoint tells (see
        :class:`~jwt_guard.testing.IntrospectionEndpoint`). Same defaults as
        :meth:`token`."""
        return self._opaque.issue(self.claims(scope=scope, sub=sub, aud=aud, expires_in=expires_in, **claims))

    def revoke(self, token: str) -> None:
        """Revoke an opaque token: introspection answers it inactive from now on."""
        self._opaque.revoke(token)

    def introspect(self, token: str) -> dict[str, Any]:
        """The RFC 7662 answer for an opaque *token* (``{"active": false}``
        when unknown, revoked or expired)."""
        return self._opaque.answer(token)

    # -- network -------------------------------------------------------------

    def key_server(self, **options: Any) -> KeyServer:
        """A :class:`~jwt_guard.testing.KeyServer` publishing this issuer
        (*options* are its keyword arguments)."""
        return KeyServer(self, **options)

    def mock_transport(self, server: KeyServer | None = None) -> httpx.MockTransport:
        """An ``httpx.MockTransport`` serving discovery and JWKS (sync and
        async), through *server* or a new :meth:`key_server`."""
        return mock_transport(server if server is not None else self.key_server())

    def serve(self, **options: Any) -> LocalServer:
        """A :class:`~jwt_guard.testing.LocalServer` on 127.0.0.1 (a context
        manager; *options* are its keyword arguments)."""
        return LocalServer(self, **options)

    # -- verifiers -----------------------------------------------------------

    def verifier(self, **options: Any) -> Verifier:
        """A :class:`~jwt_guard.Verifier` for this issuer with static keys:
        its JWK Set as ``keys``, or for an HS* signing key the shared secret
        as ``secret`` (*options* are its keyword arguments and override the
        defaults)."""
        options.setdefault("issuer", self.issuer)
        options.setdefault("audience", self.audience)
        configured = ("keys", "secret", "jwks_uri", "transport")
        if not any(name in options for name in configured):
            if self.signing_key.symmetric:
                options["secret"] = self.signing_key.private_key
                options.setdefault("algorithms", [self.signing_key.alg])
            else:
                options["keys"] = self.jwks()
        return Verifier(**options)

    def __repr__(self) -> str:
        return f"LocalIssuer(issuer={self.issuer!r}, kids={[key.kid for key in self._keys]!r})"
