"""A development OAuth 2.1 authorization server on top of a :class:`LocalIssuer`.

Enough of an authorization server for real OAuth clients (the MCP SDK's
among them) to run their whole flow against it on 127.0.0.1:
authorization-server metadata (RFC 8414, and the OpenID discovery document
with the same members), dynamic client registration (RFC 7591), an
authorization endpoint that approves every request at once, PKCE with S256
only (RFC 7636), the ``authorization_code`` and ``refresh_token`` grants,
resource indicators (RFC 8707: the token's ``aud`` is the requested
resource) and the ``iss`` authorization-response parameter (RFC 9207).

.. warning::
   Development and tests only: there is no login and no consent. Anyone who
   can reach the authorization endpoint gets a code for :attr:`subject`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit

from jwt_guard._token import b64url_encode
from jwt_guard.testing._issuer import LocalIssuer
from jwt_guard.testing._keyserver import KeyServer, Reply
from jwt_guard.testing._network import LocalServer

__all__ = ["AuthorizationServer"]

_AUTH_METHODS = ("none", "client_secret_basic", "client_secret_post")
_GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SCOPE_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {'"', "\\"}


class _Refused(Exception):
    """An OAuth error answer (RFC 6749 §4.1.2.1, §5.2; RFC 7591 §3.2.2)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class _Client:
    client_id: str
    secret: str | None
    auth_method: str
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]


@dataclass(frozen=True)
class _Grant:
    """What an authorization code or a refresh token stands for."""

    client_id: str
    scope: tuple[str, ...]
    resource: str | None
    subject: str
    expires_at: float
    redirect_uri: str = ""
    code_challenge: str = ""


def _json(document: Any, status: int = 200) -> Reply:
    body = json.dumps(document).encode()
    # RFC 6749 §5.1: token responses must not be cached; nothing here should be.
    return Reply(status, {"content-type": "application/json", "cache-control": "no-store"}, body)


def _error(refused: _Refused) -> Reply:
    reply = _json({"error": refused.error, "error_description": refused.description}, refused.status)
    if refused.status == 401:
        reply.headers["www-authenticate"] = 'Basic realm="token endpoint"'
    return reply


def _single(pairs: list[tuple[str, str]]) -> dict[str, str]:
    # RFC 6749 §3.1/§3.2: parameters must not be sent more than once.
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params:
            raise _Refused("invalid_request", f"parameter {name!r} sent more than once")
        params[name] = value
    return params


def _scopes(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    scopes = tuple(dict.fromkeys(value.split(" ")))
    if any(not scope or not set(scope) <= _SCOPE_CHARS for scope in scopes):
        raise _Refused("invalid_scope", "malformed scope")
    return scopes


def _resource(value: str | None) -> str | None:
    # RFC 8707 §2: an absolute URI without a fragment.
    if value is None:
        return None
    parts = urlsplit(value)
    if not parts.scheme or not parts.netloc or "#" in value:
        raise _Refused("invalid_target", "resource must be an absolute URI without a fragment")
    return value


def _redirect_uri(value: Any) -> str:
    if not isinstance(value, str) or "#" in value:
        raise _Refused("invalid_redirect_uri", "redirect URIs must be absolute URIs without a fragment")
    parts = urlsplit(value)
    if not parts.scheme or not (parts.netloc or parts.scheme not in ("http", "https")):
        raise _Refused("invalid_redirect_uri", "redirect URIs must be absolute URIs without a fragment")
    return value


def _basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    # RFC 6749 §2.3.1: form-urlencoded id and secret in ``Authorization: Basic``.
    scheme, _, credentials = headers.get("authorization", "").partition(" ")
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return (unquote_plus(client_id), unquote_plus(secret)) if scheme.lower() == "basic" else None


def _s256(verifier: str) -> str:
    return b64url_encode(hashlib.sha256(verifier.encode("ascii")).digest())


class AuthorizationServer:
    """A development authorization server for a :class:`LocalIssuer`.

    ::

        issuer = LocalIssuer()
        auth = AuthorizationServer(issuer, subject="alice")
        with auth.serve() as server:          # LocalServer on 127.0.0.1
            ...                               # point an OAuth client at server.issuer_url
        auth.issued                           # claims of every access token minted

    Endpoints live under the issuer URL: ``/oauth/authorize``,
    ``/oauth/token`` (also ``client_credentials``, as
    :class:`KeyServer` answers it), ``/oauth/register``; the metadata at
    ``/.well-known/oauth-authorization-server`` + issuer path (RFC 8414 §3)
    and at the issuer's ``/.well-known/openid-configuration``.

    :param subject: the ``sub`` of tokens from the code flow (every request
        is approved as this user).
    :param scopes_supported: advertised scopes; when given, requests for
        other scopes are refused with ``invalid_scope``.
    :param extra_claims: claims added to every token of the code flow
        (``acr``, ``auth_time`` …).
    :param refresh_tokens: issue refresh tokens to clients registered for
        the ``refresh_token`` grant (rotated on every use).
    :param code_lifetime: seconds an authorization code stays valid.
    :param max_records: bound on registered clients, codes and refresh
        tokens each (the oldest are forgotten first).

    A token request without ``resource`` (in neither the authorization nor
    the token request) gets the issuer's default ``audience``.
    """

    def __init__(
        self,
        issuer: LocalIssuer,
        *,
        subject: str = "dev-user",
        scopes_supported: list[str] | None = None,
        extra_claims: Mapping[str, Any] | None = None,
        refresh_tokens: bool = True,
        code_lifetime: int = 60,
        refresh_token_lifetime: int = 86400,
        max_records: int = 1000,
    ) -> None:
        self.issuer = issuer
        self.subject = subject
        self.scopes_supported = list(scopes_supported) if scopes_supported is not None else None
        self.extra_claims = dict(extra_claims or {})
        self.refresh_tokens = refresh_tokens
        self.code_lifetime = code_lifetime
        self.refresh_token_lifetime = refresh_token_lifetime
        self.max_records = max_records
        #: Claims of every access token issued through the code or refresh flow.
        self.issued: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._clients: OrderedDict[str, _Client] = OrderedDict()
        self._codes: OrderedDict[str, _Grant] = OrderedDict()
        self._refresh: OrderedDict[str, _Grant] = OrderedDict()
        self._keys: KeyServer | None = None

    def install(self, keys: KeyServer) -> KeyServer:
        """Answer this server's endpoints through *keys* (returned)."""
        self._keys = keys
        keys.routes.append(self.respond)
        return keys

    def key_server(self, **options: Any) -> KeyServer:
        """A :class:`KeyServer` for the issuer with these endpoints installed."""
        return self.install(KeyServer(self.issuer, **options))

    def serve(self, **options: Any) -> LocalServer:
        """A :class:`LocalServer` on 127.0.0.1 serving the issuer and these endpoints."""
        keys = self.key_server(max_age=options.pop("max_age", 600))
        return LocalServer(self.issuer, keys=keys, **options)

    @property
    def _base(self) -> str:
        return self.issuer.issuer.rstrip("/")

    @property
    def authorization_endpoint(self) -> str:
        return self._base + "/oauth/authorize"

    @property
    def token_endpoint(self) -> str:
        return self._base + "/oauth/token"

    @property
    def registration_endpoint(self) -> str:
        return self._base + "/oauth/register"

    def metadata(self) -> dict[str, Any]:
        """The authorization-server metadata (RFC 8414 §2)."""
        keys = self._keys
        base = urlsplit(self.issuer.issuer)
        jwks_uri = None
        if keys is not None:
            jwks_uri = keys.advertised_jwks_uri or f"{base.scheme}://{base.netloc}{keys.jwks_path}"
        document = self.issuer.discovery(jwks_uri=jwks_uri)
        document.update(
            authorization_endpoint=self.authorization_endpoint,
            token_endpoint=self.token_endpoint,
            registration_endpoint=self.registration_endpoint,
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=list(_GRANT_TYPES),
            token_endpoint_auth_methods_supported=list(_AUTH_METHODS),
            code_challenge_methods_supported=["S256"],
            authorization_response_iss_parameter_supported=True,
        )
        if self.scopes_supported is not None:
            document["scopes_supported"] = list(self.scopes_supported)
        return document

    def respond(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Reply | None:
        """The reply to a request for one of these endpoints; ``None`` otherwise."""
        parts = urlsplit(url)
        path = parts.path or "/"
        issuer_path = urlsplit(self.issuer.issuer).path.rstrip("/")
        if method == "GET" and path in (
            f"/.well-known/oauth-authorization-server{issuer_path}",
            f"{issuer_path}/.well-known/openid-configuration",
        ):
            return _json(self.metadata())
        endpoint = path[len(issuer_path) :] if path.startswith(issuer_path + "/") else None
        try:
            if endpoint == "/oauth/authorize" and method == "GET":
                return self._authorize(parts.query)
            if endpoint == "/oauth/register" and method == "POST":
                return self._register(body)
            if endpoint == "/oauth/token" and method == "POST":
                return self._token(headers, body)
        except _Refused as refused:
            return _error(refused)
        return None

    def register(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """Register a client (RFC 7591 §3.1) and return its information (§3.2.1).

        Raises ``ValueError`` for metadata the server refuses.
        """
        try:
            return self._register_client(metadata)
        except _Refused as refused:
            raise ValueError(f"{refused.error}: {refused.description}") from None

    def _register(self, body: bytes) -> Reply:
        try:
            metadata = json.loads(body)
        except ValueError:
            raise _Refused("invalid_client_metadata", "the body must be a JSON object") from None
        if not isinstance(metadata, dict):
            raise _Refused("invalid_client_metadata", "the body must be a JSON object")
        return _json(self._register_client(metadata), 201)

    def _register_client(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        uris = metadata.get("redirect_uris")
        if not isinstance(uris, list) or not uris:
            raise _Refused("invalid_redirect_uri", "redirect_uris must be a non-empty list")
        redirect_uris = tuple(_redirect_uri(uri) for uri in uris)
        # RFC 7591 §2: the defaults when a member is omitted.
        method = metadata.get("token_endpoint_auth_method", "client_secret_basic")
        if method not in _AUTH_METHODS:
            raise _Refused("invalid_client_metadata", f"token_endpoint_auth_method must be one of {_AUTH_METHODS}")
        grant_types = metadata.get("grant_types", ["authorization_code"])
        if not isinstance(grant_types, list) or not grant_types or not set(grant_types) <= set(_GRANT_TYPES):
            raise _Refused("invalid_client_metadata", f"grant_types must be some of {_GRANT_TYPES}")
        if metadata.get("response_types", ["code"]) != ["code"]:
            raise _Refused("invalid_client_metadata", "response_types must be ['code']")
        client = _Client(
            client_id=secrets.token_urlsafe(16),
            secret=None if method == "none" else secrets.token_urlsafe(32),
            auth_method=method,
            redirect_uris=redirect_uris,
            grant_types=tuple(grant_types),
        )
        with self._lock:
            self._remember(self._clients, client.client_id, client)
        information: dict[str, Any] = {
            key: metadata[key] for key in ("client_name", "scope", "application_type") if key in metadata
        }
        information.update(
            client_id=client.client_id,
            client_id_issued_at=int(self.issuer.clock()),
            redirect_uris=list(redirect_uris),
            token_endpoint_auth_method=method,
            grant_types=list(grant_types),
            response_types=["code"],
        )
        if client.secret is not None:
            information.update(client_secret=client.secret, client_secret_expires_at=0)
        return information

    def _remember(self, records: OrderedDict[str, Any], key: str, value: Any) -> None:
        records[key] = value
        while len(records) > self.max_records:
            records.popitem(last=False)

    def _authorize(self, query: str) -> Reply:
        params = _single(parse_qsl(query, keep_blank_values=True))
        with self._lock:
            client = self._clients.get(params.get("client_id", ""))
        # RFC 6749 §4.1.2.1: with an unknown client or redirect URI, the
        # error goes to the user agent, never to an unverified redirect URI.
        if client is None:
            raise _Refused("invalid_client", "unknown client_id")
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None and len(client.redirect_uris) == 1:
            redirect_uri = client.redirect_uris[0]
        if redirect_uri is None or redirect_uri not in client.redirect_uris:
            raise _Refused("invalid_request", "redirect_uri is missing or not registered")
        try:
            code = self._issue_code(client, params, redirect_uri if "redirect_uri" in params else "")
        except _Refused as refused:
            answer = {"error": refused.error, "error_description": refused.description}
        else:
            answer = {"code": code}
        if "state" in params:
            answer["state"] = params["state"]
        answer["iss"] = self.issuer.issuer  # RFC 9207 §2
        separator = "&" if "?" in redirect_uri else "?"
        return Reply(302, {"location": f"{redirect_uri}{separator}{urlencode(answer)}", "cache-control": "no-store"})

    def _issue_code(self, client: _Client, params: Mapping[str, str], redirect_uri: str) -> str:
        if params.get("response_type") != "code":
            raise _Refused("unsupported_response_type", "only response_type=code is supported")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256":
            raise _Refused("invalid_request", "PKCE with code_challenge_method=S256 is required")
        # A SHA-256 digest in unpadded base64url is 43 characters (RFC 7636 §4.2).
        if len(challenge) != 43 or not set(challenge) <= _UNRESERVED:
            raise _Refused("invalid_request", "malformed code_challenge")
        scope = self._check_scopes(_scopes(params.get("scope")))
        grant = _Grant(
            client_id=client.client_id,
            scope=scope,
            resource=_resource(params.get("resource")),
            subject=self.subject,
            expires_at=self.issuer.clock() + self.code_lifetime,
            redirect_uri=redirect_uri,
            code_challenge=challenge,
        )
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._remember(self._codes, code, grant)
        return code

    def _check_scopes(self, scope: tuple[str, ...]) -> tuple[str, ...]:
        if self.scopes_supported is not None:
            unknown = [name for name in scope if name not in self.scopes_supported]
            if unknown:
                raise _Refused("invalid_scope", f"unknown scope {unknown[0]!r}")
        return scope

    def _authenticate(self, headers: Mapping[str, str], form: Mapping[str, str]) -> _Client | None:
        """The client of a token request, or ``None`` to let the key server
        answer (``client_credentials`` from clients it does not know)."""
        basic = _basic_credentials(headers)
        with self._lock:
            client = self._clients.get(basic[0] if basic else form.get("client_id", ""))
        if client is None:
            return None
        if client.auth_method == "client_secret_basic":
            secret = basic[1] if basic else None
        elif client.auth_method == "client_secret_post":
            secret = form.get("client_secret")
        else:
            secret = None
        if client.secret is not None and not (secret and secrets.compare_digest(secret, client.secret)):
            raise _Refused("invalid_client", "client authentication failed", 401)
        if client.secret is None and (basic or "client_secret" in form):
            raise _Refused("invalid_client", "this client authenticates with no secret", 401)
        return client

    def _token(self, headers: Mapping[str, str], body: bytes) -> Reply | None:
        form = _single(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        grant_type = form.get("grant_type")
        client = self._authenticate(headers, form)
        if grant_type not in ("authorization_code", "refresh_token"):
            return None  # client_credentials and errors: the key server answers
        if client is None:
            raise _Refused("invalid_client", "unknown client", 401)
        if grant_type not in client.grant_types:
            raise _Refused("unauthorized_client", f"the client is not registered for {grant_type}")
        if grant_type == "authorization_code":
            grant = self._redeem_code(client, form)
        else:
            grant = self._redeem_refresh(client, form)
        scope, resource = self._narrow(grant, form)
        return self._tokens(client, grant, scope, resource)

    def _redeem_code(self, client: _Client, form: Mapping[str, str]) -> _Grant:
        with self._lock:
            # Single use: a code is gone once presented, whatever happens next.
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or grant.expires_at < self.issuer.clock() or grant.client_id != client.client_id:
            raise _Refused("invalid_grant", "unknown, used or expired authorization code")
        if grant.redirect_uri and form.get("redirect_uri") != grant.redirect_uri:
            raise _Refused("invalid_grant", "redirect_uri does not match the authorization request")
        verifier = form.get("code_verifier", "")
        # RFC 7636 §4.1: 43 to 128 unreserved characters.
        if not 43 <= len(verifier) <= 128 or not set(verifier) <= _UNRESERVED:
            raise _Refused("invalid_grant", "missing or malformed code_verifier")
        if not secrets.compare_digest(_s256(verifier), grant.code_challenge):
            raise _Refused("invalid_grant", "code_verifier does not match the code_challenge")
        return grant

    def _redeem_refresh(self, client: _Client, form: Mapping[str, str]) -> _Grant:
        with self._lock:
            # Rotation (OAuth 2.1 §4.3.1): every refresh token works once.
            grant = self._refresh.pop(form.get("refresh_token", ""), None)
        if grant is None or grant.expires_at < self.issuer.clock() or grant.client_id != client.client_id:
            raise _Refused("invalid_grant", "unknown, used or expired refresh token")
        return grant

    @staticmethod
    def _narrow(grant: _Grant, form: Mapping[str, str]) -> tuple[tuple[str, ...], str | None]:
        """The scope and resource of the access token: the grant's, or a
        subset a token request asks for (RFC 6749 §6, RFC 8707 §2.2)."""
        requested = _scopes(form.get("scope"))
        if requested and not set(requested) <= set(grant.scope):
            raise _Refused("invalid_scope", "scope exceeds the original grant")
        resource = _resource(form.get("resource"))
        # RFC 8707 §2.2: a token request may name a resource of the grant, no other.
        if resource is not None and grant.resource is not None and resource != grant.resource:
            raise _Refused("invalid_target", "resource differs from the authorization request")
        return requested or grant.scope, resource or grant.resource

    def _tokens(self, client: _Client, grant: _Grant, scopes: tuple[str, ...], resource: str | None) -> Reply:
        scope = " ".join(scopes)
        audience = resource or self.issuer.audience
        claims = self.issuer.claims(scope=scope or None, sub=grant.subject, aud=audience, **self.extra_claims)
        claims["client_id"] = client.client_id
        access_token = self.issuer.sign(claims)
        document: dict[str, Any] = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": self.issuer.token_lifetime,
        }
        if scope:
            document["scope"] = scope
        if self.refresh_tokens and "refresh_token" in client.grant_types:
            refresh = secrets.token_urlsafe(32)
            # The refresh token keeps the whole grant, not the narrowed token's.
            kept = _Grant(
                client_id=client.client_id,
                scope=grant.scope,
                resource=grant.resource,
                subject=grant.subject,
                expires_at=self.issuer.clock() + self.refresh_token_lifetime,
            )
            with self._lock:
                self._remember(self._refresh, refresh, kept)
            document["refresh_token"] = refresh
        with self._lock:
            self.issued.append(claims)
            del self.issued[: -self.max_records]
        return _json(document)

    def __repr__(self) -> str:
        return f"AuthorizationServer(issuer={self.issuer.issuer!r}, subject={self.subject!r})"
