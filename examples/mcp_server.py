"""An MCP server (streamable HTTP) protected by jwt_guard.

The official MCP Python SDK does the protocol and the OAuth resource-server
plumbing: it serves the protected resource metadata (RFC 9728) at
``/.well-known/oauth-protected-resource/mcp`` and answers a request without a
valid token with 401 and ``resource_metadata``, so MCP clients discover the
authorization server and fetch a token by themselves. jwt_guard verifies the
tokens: signature, issuer, expiry, and an audience that must be this
server's resource URL.

Configuration comes from the environment:

``JWT_GUARD_ISSUER``
    the authorization server's issuer URL (required); keys come from its
    discovery document.
``MCP_RESOURCE``
    this server's resource URL, which tokens must carry as ``aud``
    (default ``http://127.0.0.1:8000/mcp``).
``JWT_GUARD_JWKS_URI``
    optional: fetch keys from here instead of discovering them.

Run it with ``python examples/mcp_server.py`` (needs ``pip install
'jwt-guard[mcp,demo]'``). Every MCP request needs the ``mcp:tools`` scope;
one tool, ``whoami``, reports what the token says.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette

from jwt_guard import ProtectedResource, Verifier
from jwt_guard.mcp import ServiceUnavailableMiddleware, TokenVerifier, auth_settings

DEFAULT_RESOURCE = "http://127.0.0.1:8000/mcp"


def resource_from_env() -> ProtectedResource:
    """This server's :class:`ProtectedResource`, from ``JWT_GUARD_ISSUER`` and ``MCP_RESOURCE``."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    if not issuer:
        raise SystemExit("set JWT_GUARD_ISSUER (see the module docstring)")
    return ProtectedResource(
        resource=os.environ.get("MCP_RESOURCE") or DEFAULT_RESOURCE,
        authorization_servers=[issuer],
        scopes_supported=["mcp:tools"],
        resource_name="jwt_guard example MCP server",
    )


def create_server(verifier: Verifier, resource: ProtectedResource) -> MCPServer:
    """The MCP server: one tool, tokens verified by *verifier* for *resource*."""
    server = MCPServer(
        "jwt-guard-example",
        token_verifier=TokenVerifier(verifier, resource=resource),
        auth=auth_settings(resource),
    )

    @server.tool()
    def whoami() -> dict[str, Any]:
        """Who the access token of this request was issued to, and for what."""
        token = get_access_token()
        assert token is not None  # the SDK admits only verified tokens
        return {
            "subject": token.subject,
            "client_id": token.client_id,
            "scopes": token.scopes,
            "resource": token.resource,
            "aud": (token.claims or {}).get("aud"),
        }

    return server


def create_app(verifier: Verifier | None = None, resource: ProtectedResource | None = None) -> Starlette:
    """The ASGI application; both arguments default to the environment."""
    resource = resource if resource is not None else resource_from_env()
    if verifier is None:
        verifier = Verifier(
            issuer=resource.authorization_servers[0],
            audience=resource.resource,
            jwks_uri=os.environ.get("JWT_GUARD_JWKS_URI") or None,
        )
    host = urlsplit(resource.resource).hostname or "127.0.0.1"
    # The SDK turns on DNS-rebinding protection for a loopback host.
    app = create_server(verifier, resource).streamable_http_app(host=host)
    # A key-server outage answers 503 with Retry-After, not 500.
    app.add_middleware(ServiceUnavailableMiddleware)
    sdk_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with sdk_lifespan(app):
            yield
        # The verifier's async HTTP client lives on the server's event loop.
        await verifier.aclose()

    app.router.lifespan_context = lifespan
    return app


if __name__ == "__main__":
    import uvicorn

    app = create_app()
    uvicorn.run(app, host="127.0.0.1", port=urlsplit(resource_from_env().resource).port or 8000)
