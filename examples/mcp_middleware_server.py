"""An MCP server (streamable HTTP) behind jwt_guard's own middleware.

The alternative to ``examples/mcp_server.py``. There the MCP Python SDK does
the resource-server plumbing with jwt_guard's ``TokenVerifier`` plugged in;
here the SDK's application runs without auth settings and
``JWTGuardMiddleware(resource=...)`` in front of it does everything:

- it serves the protected resource metadata (RFC 9728) at
  ``/.well-known/oauth-protected-resource/mcp``, to anyone, readable
  cross-origin, with ``resource_name`` and any other member
  :class:`~jwt_guard.ProtectedResource` knows;
- it answers a request without a valid token with 401 and
  ``resource_metadata="…"``, so MCP clients discover the authorization
  server and fetch a token by themselves;
- it verifies tokens (signature, issuer, expiry, and an audience that must be
  this server's resource URL: a mismatch is refused when the app is built);
- a key-server outage is a 503 with ``Retry-After``, no extra middleware.

The tool reads the verified token from the HTTP request the SDK hands it
(``ctx.request_context.request``) with :func:`jwt_guard.asgi.get_access_token`.

Configuration comes from the environment, as for ``examples/mcp_server.py``:
``JWT_GUARD_ISSUER`` (required), ``MCP_RESOURCE`` (default
``http://127.0.0.1:8000/mcp``) and optionally ``JWT_GUARD_JWKS_URI``. Run it
with ``python examples/mcp_middleware_server.py`` (needs ``pip install
'jwt-guard[mcp,demo]'``), then check it from another terminal with
``jwt-guard check --resource http://127.0.0.1:8000/mcp``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from starlette.applications import Starlette

from jwt_guard import ProtectedResource, Verifier
from jwt_guard.asgi import JWTGuardMiddleware, get_access_token

DEFAULT_RESOURCE = "http://127.0.0.1:8000/mcp"
SCOPE = "mcp:tools"


def resource_from_env() -> ProtectedResource:
    """This server's :class:`ProtectedResource`, from ``JWT_GUARD_ISSUER`` and ``MCP_RESOURCE``."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    if not issuer:
        raise SystemExit("set JWT_GUARD_ISSUER (see the module docstring)")
    return ProtectedResource(
        resource=os.environ.get("MCP_RESOURCE") or DEFAULT_RESOURCE,
        authorization_servers=[issuer],
        # The SDK's routes are not decorated: name the scopes clients should ask for.
        scopes_supported=[SCOPE],
        resource_name="jwt_guard example MCP server (middleware)",
    )


def create_server() -> MCPServer:
    """The MCP server: one tool, no auth settings (the middleware does it)."""
    server = MCPServer("jwt-guard-example-middleware")

    @server.tool()
    def whoami(ctx: Context) -> dict[str, Any]:
        """Who the access token of this request was issued to, and for what."""
        token = get_access_token(ctx.request_context.request)  # type: ignore[arg-type]
        if token is None:  # not reached behind the middleware: it refuses anonymous requests
            raise ToolError("no verified access token")
        if not token.has_scopes(SCOPE):
            raise ToolError(f"the access token lacks the {SCOPE} scope")
        return {
            "subject": token.subject,
            "client_id": token.client_id,
            "scopes": sorted(token.scopes),
            "aud": list(token.audience),
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
    app = create_server().streamable_http_app(host=host)
    app.add_middleware(JWTGuardMiddleware, verifier=verifier, resource=resource)
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

    uvicorn.run(create_app(), host="127.0.0.1", port=urlsplit(resource_from_env().resource).port or 8000)
