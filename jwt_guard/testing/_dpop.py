"""DPoP for tests: a client key that signs proofs, tokens bound to it, and
an httpx auth flow that sends both.

::

    key = DPoPKey()                                   # ES256
    token = bound_token(issuer, key, scope="read")    # cnf.jkt = key.thumbprint
    headers = key.headers("GET", "https://api.example.test/items", token)
    client = httpx.Client(auth=DPoPAuth(key, token))  # a new proof per request

Proofs can be broken on purpose: every claim and header parameter can be
overridden or removed (``None``), and :meth:`DPoPKey.sign` signs any header
and payload as given.

.. warning::
   For tests only: the private key lives in memory.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any

import httpx

from jwt_guard._dpop import access_token_hash
from jwt_guard._keys import public_jwk, thumbprint
from jwt_guard.testing._issuer import LocalIssuer
from jwt_guard.testing._signing import SigningKey, b64url, encode_segments

__all__ = ["DPoPAuth", "DPoPKey", "bound_token"]

_ALGORITHMS = ("ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class DPoPKey:
    """A DPoP client key (RFC 9449 §4): makes proofs for requests.

    :param alg: the proof algorithm (ES256 by default; EdDSA, RS*, PS*, ES*).
    :param private_key: a ``cryptography`` private key to use instead of a new one.
    :param rsa_bits: size of a generated RSA key.
    :param clock: the time source for ``iat``.
    """

    def __init__(
        self,
        alg: str = "ES256",
        *,
        private_key: Any = None,
        rsa_bits: int = 2048,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if alg not in _ALGORITHMS:
            raise ValueError(f"a DPoP key needs an asymmetric algorithm, got {alg!r}")
        self._key = SigningKey(alg, kid="dpop", private_key=private_key, rsa_bits=rsa_bits)
        self._jwk = public_jwk(self._key.public_key)
        self._thumbprint = thumbprint(self._jwk)
        self.clock = clock

    @property
    def alg(self) -> str:
        return self._key.alg

    @property
    def private_key(self) -> Any:
        """The ``cryptography`` private key."""
        return self._key.private_key

    @property
    def jwk(self) -> dict[str, str]:
        """The public JWK that goes into each proof's header."""
        return dict(self._jwk)

    @property
    def thumbprint(self) -> str:
        """RFC 7638 thumbprint: the ``cnf.jkt`` of tokens bound to this key."""
        return self._thumbprint

    def sign(self, header: Mapping[str, Any] | bytes, payload: Mapping[str, Any] | bytes) -> str:
        """Sign *header* and *payload* exactly as given (compact JWS)."""
        signing_input = encode_segments(header, payload)
        return f"{signing_input}.{b64url(self._key.sign(signing_input.encode()))}"

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        iat: float | None = None,
        jti: str | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """A proof for a *method* request to *url* (RFC 9449 §4.2).

        ``ath`` is set when *access_token* is given, ``nonce`` when given;
        ``iat`` defaults to now and ``jti`` to 128 random bits. *claims* and
        *headers* override or add entries; a ``None`` value removes one.
        """
        payload: dict[str, Any] = {
            "jti": jti if jti is not None else secrets.token_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": int(self.clock()) if iat is None else iat,
        }
        if access_token is not None:
            payload["ath"] = access_token_hash(access_token)
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims or {})
        header: dict[str, Any] = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.jwk}
        header.update(headers or {})
        return self.sign(
            {name: value for name, value in header.items() if value is not None},
            {name: value for name, value in payload.items() if value is not None},
        )

    def headers(self, method: str, url: str, access_token: str, *, nonce: str | None = None) -> dict[str, str]:
        """``Authorization: DPoP <token>`` and a fresh ``DPoP`` proof header."""
        proof = self.proof(method, url, access_token=access_token, nonce=nonce)
        return {"Authorization": f"DPoP {access_token}", "DPoP": proof}

    def __repr__(self) -> str:
        return f"DPoPKey(alg={self.alg!r}, thumbprint={self.thumbprint!r})"


def bound_token(issuer: LocalIssuer, key: DPoPKey, **claims: Any) -> str:
    """A token from *issuer* bound to *key* (``cnf.jkt``, RFC 9449 §6.1).

    *claims* go to :meth:`LocalIssuer.token`; a ``cnf`` given there is merged
    with the binding.
    """
    cnf = dict(claims.pop("cnf", None) or {})
    cnf["jkt"] = key.thumbprint
    return issuer.token(cnf=cnf, **claims)


class DPoPAuth(httpx.Auth):
    """An httpx auth flow sending *access_token* with the DPoP scheme.

    Every request gets ``Authorization: DPoP <token>`` and a fresh proof by
    *key* for its method and URL (query and fragment left out, RFC 9449
    §4.2). The latest ``DPoP-Nonce`` the server sent goes into the next
    proof; a ``401`` with ``error="use_dpop_nonce"`` is retried once with the
    nonce it carries (§8.2). Works with ``httpx.Client`` and
    ``httpx.AsyncClient``, in-process transports included.
    """

    def __init__(self, key: DPoPKey, access_token: str) -> None:
        self.key = key
        self.access_token = access_token
        #: The latest server nonce, or None.
        self.nonce: str | None = None

    def _sign(self, request: httpx.Request) -> None:
        url = str(request.url.copy_with(query=None, fragment=None))
        request.headers["Authorization"] = f"DPoP {self.access_token}"
        request.headers["DPoP"] = self.key.proof(request.method, url, access_token=self.access_token, nonce=self.nonce)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._sign(request)
        response = yield request
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            self.nonce = nonce
            challenge = ", ".join(response.headers.get_list("WWW-Authenticate"))
            if response.status_code == 401 and 'error="use_dpop_nonce"' in challenge:
                self._sign(request)
                yield request
