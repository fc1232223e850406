"""A Starlette API protected by jwt_guard.

Configuration comes from the environment:

``JWT_GUARD_ISSUER``
    the issuer URL (required); keys come from its discovery document.
``JWT_GUARD_AUDIENCE``
    this API's audience (required).
``JWT_GUARD_JWKS_URI``
    optional: fetch keys from here instead of discovering them.

Run it with ``python examples/starlette_app.py`` (``PORT`` picks the port,
8000 by default) or ``uvicorn --factory examples.starlette_app:create_app``.

Routes: ``GET /`` is public, ``GET /me`` needs any valid token, ``GET
/messages`` needs the ``read:messages`` scope, ``POST /messages`` needs
``write:messages``, and the ``/ws`` WebSocket needs ``read:messages``.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwt_guard import Verifier
from jwt_guard.asgi import JWTGuardMiddleware, get_access_token, require_scopes


def verifier_from_env() -> Verifier:
    """The verifier described by ``JWT_GUARD_*`` environment variables."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    audience = os.environ.get("JWT_GUARD_AUDIENCE")
    if not issuer or not audience:
        raise SystemExit("set JWT_GUARD_ISSUER and JWT_GUARD_AUDIENCE (see the module docstring)")
    return Verifier(issuer=issuer, audience=audience, jwks_uri=os.environ.get("JWT_GUARD_JWKS_URI") or None)


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "anyone", "docs": "GET /me or /messages with 'Authorization: Bearer <token>'"})


async def me(request: Request) -> JSONResponse:
    # request.user and request.auth follow Starlette's conventions.
    return JSONResponse({"sub": request.user.identity, "scopes": sorted(request.auth.scopes)})


@require_scopes("read:messages")
async def list_messages(request: Request) -> JSONResponse:
    token = get_access_token(request)
    assert token is not None  # require_scopes admitted a verified token
    return JSONResponse({"messages": [f"hello, {token.subject}"]})


@require_scopes("write:messages")
async def post_message(request: Request) -> JSONResponse:
    return JSONResponse({"created": True}, status_code=201)


@require_scopes("read:messages")
async def live(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_json({"messages": ["hello over a WebSocket"]})
    await websocket.close()


def create_app(verifier: Verifier | None = None) -> Starlette:
    """The application; *verifier* defaults to :func:`verifier_from_env`."""
    routes = [
        Route("/", index),
        Route("/me", me),
        Route("/messages", list_messages, methods=["GET"]),
        Route("/messages", post_message, methods=["POST"]),
        WebSocketRoute("/ws", live),
    ]
    middleware = [
        Middleware(
            JWTGuardMiddleware,
            verifier=verifier if verifier is not None else verifier_from_env(),
            exclude_paths=["/"],
            prefetch=True,  # fetch keys at startup; a failure only logs a warning
        )
    ]
    return Starlette(routes=routes, middleware=middleware)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
