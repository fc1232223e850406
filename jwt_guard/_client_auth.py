"""Client authentication for calls this API makes to its authorization server
(the introspection endpoint): what goes into the headers and the form.

* ``client_secret_basic``: ``Authorization: Basic`` with the client id and
  secret, each form-urlencoded first (RFC 6749 §2.3.1).
* ``client_secret_post``: ``client_id`` and ``client_secret`` in the form.
* ``private_key_jwt``: a client assertion (RFC 7523 §2.2, §3) signed with
  the configured private key: ``iss`` and ``sub`` are the client id, ``aud``
  the authorization server's issuer identifier, a fresh ``jti``, valid for
  one minute. A new assertion is signed for every call, so the server's
  replay detection never refuses one.

Signing uses ``cryptography`` directly; python-jose stays the verification
engine only.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from jwt_guard._introspection import Introspection
from jwt_guard._token import b64url_encode

__all__ = ["ASSERTION_TYPE", "ClientAuth"]

#: RFC 7523 §2.2.
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: How long a client assertion is valid (RFC 7523 §3: short-lived).
ASSERTION_LIFETIME = 60

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_EC_SIZES = {"ES256": 32, "ES384": 48, "ES512": 66}


def _sign(key: Any, alg: str, data: bytes) -> bytes:
    """The raw JWS signature of *data* (RFC 7518 §3.3 to §3.5, RFC 8037 §3.1)."""
    if alg == "EdDSA":
        return key.sign(data)  # type: ignore[no-any-return]
    digest = _HASHES[alg[2:]]()
    if alg.startswith("RS"):
        return key.sign(data, padding.PKCS1v15(), digest)  # type: ignore[no-any-return]
    if alg.startswith("PS"):
        return key.sign(data, padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size), digest)  # type: ignore[no-any-return]
    # ES*: JWS carries r and s as fixed-size big-endian integers, not DER.
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(digest)))
    size = _EC_SIZES[alg]
    return r.to_bytes(size, "big") + s.to_bytes(size, "big")


class ClientAuth:
    """Headers and form fields authenticating *options*' client."""

    __slots__ = ("_audience", "_clock", "_options")

    def __init__(self, options: Introspection, *, audience: str, clock: Callable[[], float]) -> None:
        self._options = options
        self._audience = audience
        self._clock = clock

    @property
    def method(self) -> str:
        return self._options.auth

    def apply(self, form: dict[str, str]) -> tuple[tuple[str, str], ...]:
        """Add the client's credentials to *form*; return the extra headers."""
        options = self._options
        if options.auth == "client_secret_basic":
            assert options.client_secret is not None
            pair = f"{quote_plus(options.client_id)}:{quote_plus(options.client_secret)}"
            return (("authorization", "Basic " + base64.b64encode(pair.encode()).decode("ascii")),)
        if options.auth == "client_secret_post":
            assert options.client_secret is not None
            form["client_id"] = options.client_id
            form["client_secret"] = options.client_secret
            return ()
        form["client_id"] = options.client_id
        form["client_assertion_type"] = ASSERTION_TYPE
        form["client_assertion"] = self.assertion()
        return ()

    def assertion(self) -> str:
        """A freshly signed client assertion (``private_key_jwt``)."""
        options = self._options
        assert options.signer is not None
        key, alg = options.signer
        now = int(self._clock())
        header: dict[str, str] = {"alg": alg, "typ": "JWT"}
        if options.private_key_id is not None:
            header["kid"] = options.private_key_id
        claims = {
            "iss": options.client_id,
            "sub": options.client_id,
            "aud": self._audience,
            "jti": secrets.token_urlsafe(24),
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        }
        signing_input = ".".join(
            b64url_encode(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        return f"{signing_input}.{b64url_encode(_sign(key, alg, signing_input.encode('ascii')))}"
