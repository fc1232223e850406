"""Protecting MCP servers built with the official MCP Python SDK.

The SDK leaves token verification to a ``TokenVerifier`` the application
supplies. :class:`TokenVerifier` is that verifier, backed by a
:class:`jwt_guard.Verifier`: strict JWT checks, the resilient key-set cache,
and an audience check that cannot be switched off::

    from mcp.server.mcpserver import MCPServer
    from jwt_guard import ProtectedResource, Verifier
    from jwt_guard.mcp import ServiceUnavailableMiddleware, TokenVerifier, auth_settings

    resource = ProtectedResource(resource="https://api.example.com/mcp",
                                 authorization_servers=["https://idp.example.com/"])
    verifier = Verifier(issuer="https://idp.example.com/", audience=resource.resource)
    server = MCPServer("notes", token_verifier=TokenVerifier(verifier, resource=resource),
                       auth=auth_settings(resource))
    app = server.streamable_http_app(host="api.example.com")
    app.add_middleware(ServiceUnavailableMiddleware)   # 503, not 500, during a key-server outage

The SDK then serves the protected resource metadata (RFC 9728) and answers
requests without a valid token with 401 and ``resource_metadata``.

Outages. The SDK's ``TokenVerifier`` protocol has two outcomes, an access
token or ``None``, and the SDK turns ``None`` into a 401 that tells the client
to obtain a new token. A key server that cannot be reached is not the
client's fault, so :meth:`TokenVerifier.verify_token` does not return
``None`` then: it raises :class:`jwt_guard.TemporarilyUnavailable` (keys,
introspection or a store unavailable). Left alone,
the SDK's Starlette application answers that with a 500;
:class:`ServiceUnavailableMiddleware` turns it into ``503 Service
Unavailable`` with ``Retry-After``, as jwt_guard's own middlewares answer.
"""

from __future__ import annotations

from collections.abc import Sequence

try:
    from mcp.server.auth.provider import AccessToken as SDKAccessToken
    from mcp.server.auth.settings import AuthSettings
except ImportError as exc:  # pragma: no cover - exercised in an environment without the SDK
    raise ImportError(
        "jwt_guard.mcp needs the MCP Python SDK (mcp>=2.3): pip install 'jwt-guard[mcp]'",
        name=exc.name,
    ) from exc

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jwt_guard import (
    AccessToken,
    AuthError,
    ConfigurationError,
    ProtectedResource,
    TemporarilyUnavailable,
    Verifier,
    render_error,
)
from jwt_guard._resource import check_resource_audience

__all__ = ["ServiceUnavailableMiddleware", "TokenVerifier", "auth_settings", "to_sdk_token"]


def to_sdk_token(token: AccessToken, *, resource: str | None) -> SDKAccessToken:
    """The SDK's ``AccessToken`` for a verified jwt_guard token.

    ``client_id`` is the token's ``client_id`` (or ``azp``), or ``""`` when
    it names no client (the SDK's field is a required string); ``scopes``
    are sorted; ``expires_at`` is ``exp`` in whole seconds; ``claims`` holds
    every verified claim, so the SDK's principal (client, ``iss``, ``sub``)
    is complete.
    """
    exp = token.claims.get("exp")
    expires_at = int(exp) if isinstance(exp, (int, float)) and not isinstance(exp, bool) else None
    return SDKAccessToken(
        token=token.raw,
        client_id=token.client_id or "",
        scopes=sorted(token.scopes),
        expires_at=expires_at,
        resource=resource,
        subject=token.subject,
        claims=dict(token.claims),
    )


class TokenVerifier:
    """The MCP SDK's ``TokenVerifier`` protocol, implemented by a jwt_guard
    :class:`~jwt_guard.Verifier`.

    :param verifier: verifies every token (with ``verify_async``). It must
        check the audience: the MCP authorization specification requires
        servers to accept only tokens issued for them, so a verifier built
        with ``audience=None`` is a :class:`~jwt_guard.ConfigurationError`.
    :param resource: this server's resource identifier (a string or a
        :class:`~jwt_guard.ProtectedResource`). It must be one of the
        verifier's audiences, compared exactly (RFC 9728 §3.3); tokens whose
        ``aud`` does not contain it are refused even when they name another
        of the verifier's audiences. ``None``: any accepted audience will do.

    ``AccessToken.resource`` is the ``aud`` entry the token was accepted for
    (the configured resource when given), so the SDK's own
    ``validate_token_resource`` check agrees with jwt_guard's.

    Every :class:`~jwt_guard.AuthError` (expired, forged, wrong audience …)
    returns ``None``, which the SDK answers with 401 and ``resource_metadata``.
    :class:`~jwt_guard.TemporarilyUnavailable` is raised, never turned into a 401:
    see :class:`ServiceUnavailableMiddleware`.
    """

    def __init__(self, verifier: Verifier, *, resource: str | ProtectedResource | None = None) -> None:
        if not isinstance(verifier, Verifier):
            raise ConfigurationError(f"verifier must be a jwt_guard.Verifier, got {type(verifier).__name__}")
        audiences = verifier.audiences
        if audiences is None:
            raise ConfigurationError(
                "an MCP server must check that tokens were issued for it: build the Verifier with audience="
                "<this server's resource URL>, not audience=None"
            )
        value = resource.resource if isinstance(resource, ProtectedResource) else resource
        if value is not None:
            check_resource_audience(value, audiences)
        self._verifier = verifier
        self._audiences = audiences
        self._resource = value

    @property
    def verifier(self) -> Verifier:
        """The jwt_guard verifier doing the work."""
        return self._verifier

    async def verify_token(self, token: str) -> SDKAccessToken | None:
        """Verify *token*; ``None`` when it is not acceptable.

        Raises :class:`~jwt_guard.TemporarilyUnavailable` when no signing keys
        (or introspection answer) can be obtained (a 503 situation, not the
        client's fault).
        """
        try:
            verified = await self._verifier.verify_async(token)
        except AuthError:
            return None
        audience = verified.audience
        if self._resource is not None:
            if self._resource not in audience:
                return None
            resource: str | None = self._resource
        else:
            resource = next((aud for aud in audience if aud in self._audiences), None)
        return to_sdk_token(verified, resource=resource)

    def __repr__(self) -> str:
        return f"TokenVerifier({self._verifier!r}, resource={self._resource!r})"


def auth_settings(resource: ProtectedResource, *, required_scopes: Sequence[str] | None = None) -> AuthSettings:
    """The SDK's ``AuthSettings`` for a resource server described by *resource*.

    The SDK advertises one authorization server (the first of
    ``resource.authorization_servers``), serves the metadata at the RFC 9728
    §3.1 location of ``resource.resource``, and, with
    ``validate_token_resource`` on, refuses tokens that
    :class:`TokenVerifier` reports as issued for another resource.
    *required_scopes* (default: ``resource.scopes_supported``) are required
    on every MCP request and advertised as ``scopes_supported``.

    The SDK's document has ``resource``, ``authorization_servers``,
    ``scopes_supported`` and ``bearer_methods_supported``; it has no setting
    for ``resource_name`` or the other optional members.
    """
    scopes = list(required_scopes) if required_scopes is not None else list(resource.scopes_supported or ()) or None
    return AuthSettings(
        issuer_url=resource.authorization_servers[0],  # type: ignore[arg-type]  # pydantic parses the string
        resource_server_url=resource.resource,  # type: ignore[arg-type]
        required_scopes=scopes,
        validate_token_resource=True,
    )


class ServiceUnavailableMiddleware:
    """ASGI middleware answering :class:`~jwt_guard.TemporarilyUnavailable` with
    ``503 Service Unavailable`` and ``Retry-After``.

    Add it to the SDK's Starlette application (``app.add_middleware(...)``,
    which places it outside the SDK's authentication middleware). An outage
    that strikes after the response has started is re-raised unchanged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except TemporarilyUnavailable as error:
            if started:
                raise
            answer = render_error(error)
            headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in answer.headers]
            await send({"type": "http.response.start", "status": answer.status_code, "headers": headers})
            await send({"type": "http.response.body", "body": answer.body, "more_body": False})
