"""Opaque tokens for the in-process issuer, and an RFC 7662 introspection
endpoint that a :class:`~jwt_guard.testing.KeyServer` serves.

::

    issuer = LocalIssuer()
    endpoint = IntrospectionEndpoint(issuer, clients={"my-api": "s3cret"})
    server = issuer.key_server(introspection=endpoint)
    token = issuer.opaque_token(scope="read")      # a random string, no JWT
    issuer.revoke(token)                           # answered inactive from now on

The endpoint authenticates its callers like an authorization server:
``client_secret_basic`` and ``client_secret_post`` for *clients*,
``private_key_jwt`` (RFC 7523) for *key_clients*, and answers 401
``invalid_client`` otherwise. With ``signed=True`` it answers requests that
accept ``application/token-introspection+jwt`` with a JWT signed by the
issuer's signing key (RFC 9701).

.. warning::
   For tests and local development only.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote_plus, urlsplit

from jwt_guard._jose import verify_signature
from jwt_guard._keys import keyset_from_jwks
from jwt_guard._token import parse
from jwt_guard.errors import JWTGuardError
from jwt_guard.testing._keyserver import Reply, json_reply

__all__ = ["IntrospectingIssuer", "IntrospectionCall", "IntrospectionEndpoint", "OpaqueTokens"]

_JWT_TYPE = "application/token-introspection+jwt"
_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})


class OpaqueTokens:
    """Random reference tokens and the claims behind them."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._claims: dict[str, dict[str, Any]] = {}
        self._revoked: set[str] = set()

    def issue(self, claims: Mapping[str, Any]) -> str:
        """A new opaque token standing for *claims*."""
        # A prefix, as many providers use: the token never starts with "-"
        # (which a command line would read as an option).
        token = "opaque_" + secrets.token_urlsafe(32)
        with self._lock:
            self._claims[token] = dict(claims)
        return token

    def revoke(self, token: str) -> None:
        """Answer *token* as inactive from now on (RFC 7009)."""
        with self._lock:
            self._revoked.add(token)

    def answer(self, token: str) -> dict[str, Any]:
        """The RFC 7662 §2.2 answer for *token*."""
        with self._lock:
            claims = self._claims.get(token)
            revoked = token in self._revoked
        exp = None if claims is None else claims.get("exp")
        if claims is None or revoked or (isinstance(exp, (int, float)) and exp <= self._clock()):
            return {"active": False}
        return {"active": True, "token_type": "Bearer", **claims}


class IntrospectingIssuer(Protocol):
    """What the endpoint needs of its issuer (a :class:`~jwt_guard.testing.LocalIssuer`)."""

    issuer: str
    clock: Callable[[], float]

    def introspect(self, token: str) -> dict[str, Any]: ...

    def sign(self, payload: Mapping[str, Any] | bytes, *, headers: Mapping[str, Any] | None = None) -> str: ...


@dataclass(frozen=True)
class IntrospectionCall:
    """One call the endpoint received: who called, how, and the verdict."""

    client_id: str | None
    method: str | None
    authenticated: bool
    signed: bool


def _form(body: bytes) -> dict[str, list[str]]:
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def _basic(headers: Mapping[str, str]) -> tuple[str, str] | None:
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


class IntrospectionEndpoint:
    """``POST <issuer>/oauth/introspect`` for *issuer*'s opaque tokens.

    :param clients: ``{client_id: secret}`` accepted with
        ``client_secret_basic`` or ``client_secret_post``.
    :param key_clients: ``{client_id: public JWK}`` accepted with
        ``private_key_jwt`` (RFC 7523; ``aud`` must be the issuer or the
        endpoint URL, each ``jti`` is accepted once).
    :param signed: answer with an RFC 9701 signed JWT when the caller
        accepts ``application/token-introspection+jwt``.
    """

    #: Where the endpoint lives, below the issuer URL.
    suffix = "/oauth/introspect"

    def __init__(
        self,
        issuer: IntrospectingIssuer,
        *,
        clients: Mapping[str, str] | None = None,
        key_clients: Mapping[str, Mapping[str, Any]] | None = None,
        signed: bool = False,
    ) -> None:
        self.issuer = issuer
        self.clients = dict(clients if clients is not None else {"resource-server": "resource-server-secret"})
        self.key_clients = dict(key_clients or {})
        self.signed = signed
        self.calls: list[IntrospectionCall] = []
        self._seen_jti: set[str] = set()
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The endpoint's URL (follows the issuer URL, e.g. after ``LocalServer`` binds)."""
        return self.issuer.issuer.rstrip("/") + self.suffix

    def matches(self, path: str) -> bool:
        return path == urlsplit(self.url).path

    @property
    def count(self) -> int:
        """Calls received so far."""
        with self._lock:
            return len(self.calls)

    def __call__(self, headers: Mapping[str, str], body: bytes) -> Reply:
        form = {name: values[-1] for name, values in _form(body).items()}
        client_id, method = self._authenticate(headers, form)
        accepts_jwt = _JWT_TYPE in headers.get("accept", "")
        signed = self.signed and accepts_jwt and client_id is not None
        with self._lock:
            self.calls.append(IntrospectionCall(client_id, method, client_id is not None, signed))
        if client_id is None:
            return json_reply(
                {"error": "invalid_client"}, status=401, headers={"www-authenticate": 'Basic realm="introspection"'}
            )
        token = form.get("token")
        if not token:
            return json_reply({"error": "invalid_request"}, status=400)
        answer = self.issuer.introspect(token)
        headers_out = {"cache-control": "no-store"}
        if not signed:
            return json_reply(answer, headers=headers_out)
        claims = {
            "iss": self.issuer.issuer,
            "aud": client_id,
            "iat": int(self.issuer.clock()),
            "token_introspection": answer,
        }
        jwt = self.issuer.sign(claims, headers={"typ": "token-introspection+jwt"})
        return Reply(200, {"content-type": _JWT_TYPE, **headers_out}, jwt.encode())

    def _authenticate(self, headers: Mapping[str, str], form: Mapping[str, str]) -> tuple[str | None, str | None]:
        basic = _basic(headers)
        if basic is not None:
            client_id, secret = basic
            ok = secrets.compare_digest(self.clients.get(client_id, "\0").encode(), secret.encode())
            return (client_id if ok else None), "client_secret_basic"
        if "client_assertion" in form:
            return self._assertion(form), "private_key_jwt"
        if "client_secret" in form:
            client_id = form.get("client_id", "")
            ok = secrets.compare_digest(self.clients.get(client_id, "\0").encode(), form["client_secret"].encode())
            return (client_id if ok else None), "client_secret_post"
        return None, None

    def _assertion(self, form: Mapping[str, str]) -> str | None:
        if form.get("client_assertion_type") != _ASSERTION_TYPE:
            return None
        try:
            parsed = parse(form["client_assertion"], max_size=16 * 1024, algorithms=_ASSERTION_ALGS)
            claims = parsed.claims()
        except JWTGuardError:
            return None
        client_id = claims.get("iss")
        jwk = self.key_clients.get(client_id) if isinstance(client_id, str) else None
        if jwk is None or claims.get("sub") != client_id or form.get("client_id", client_id) != client_id:
            return None
        keyset, _ = keyset_from_jwks({"keys": [dict(jwk)]}, _ASSERTION_ALGS)
        key = keyset.find(parsed.kid, parsed.alg) or keyset.find(None, parsed.alg)
        if key is None or not verify_signature(key.key, parsed.signing_input, parsed.signature):
            return None
        aud = claims.get("aud")
        audiences: Iterable[Any] = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not {self.issuer.issuer, self.url} & {item for item in audiences if isinstance(item, str)}:
            return None
        exp, jti = claims.get("exp"), claims.get("jti")
        if not isinstance(exp, (int, float)) or exp <= self.issuer.clock() or not isinstance(jti, str):
            return None
        with self._lock:
            if jti in self._seen_jti:
                return None  # RFC 7523 §3: a jti is used once
            self._seen_jti.add(jti)
        return client_id
