"""A Starlette API whose revocations hold across every worker and host.

Each worker process keeps the revocation records of a shared Redis in
memory, so a token revoked once (``jwt-guard revoke``, or
``store.revoke_*`` from your own code) is refused by every worker within
milliseconds, without a Redis round trip per request.

Configuration comes from the environment, read by ``Verifier.from_env()``:

``JWT_GUARD_ISSUER``, ``JWT_GUARD_AUDIENCE``
    the issuer and this API's audience (required).
``JWT_GUARD_JWKS_URI`` or ``JWT_GUARD_KEYS_FILE``
    optional: where keys come from (default: the issuer's discovery document).
``JWT_GUARD_REVOCATION_REDIS_URL``
    the Redis that holds the revocations (required here).
``JWT_GUARD_REVOCATION_STORE_FAILURE``
    ``closed`` (default: 503 while the local copy cannot be trusted) or ``open``.
``JWT_GUARD_REVOCATION_FAILURE_GRACE``
    seconds the local copy stays trusted without hearing from Redis (default 5).

Run it with four workers::

    uvicorn --workers 4 --factory --app-dir examples revocation_app:create_app

then revoke, once, for all of them::

    jwt-guard revoke --sub alice            # uses the same JWT_GUARD_* variables

Routes: ``GET /me`` needs a valid token, ``GET /health`` is public and says
whether this worker's copy of the revocations is current. Every answer,
refusals included, names the worker that gave it (``X-Worker-Pid``), so you
can watch a revocation reach each of them.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jwt_guard import Verifier
from jwt_guard.asgi import JWTGuardMiddleware, get_access_token
from jwt_guard.stores import RedisStore


def verifier_from_env() -> Verifier:
    """The verifier described by ``JWT_GUARD_*`` variables, with its Redis revocation store."""
    if not os.environ.get("JWT_GUARD_REVOCATION_REDIS_URL"):
        raise SystemExit("set JWT_GUARD_REVOCATION_REDIS_URL (see the module docstring)")
    return Verifier.from_env()


class WorkerHeader:
    """Pure ASGI middleware: every HTTP answer names this worker process."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.header = (b"x-worker-pid", str(os.getpid()).encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_pid(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), self.header]}
            await send(message)

        await self.app(scope, receive, send_with_pid)


def create_app(verifier: Verifier | None = None) -> Starlette:
    """The application; *verifier* defaults to :func:`verifier_from_env`.

    A verifier built here owns its store and closes it at shutdown; one
    passed in is left to its owner.
    """
    owned = verifier is None
    guard = verifier if verifier is not None else verifier_from_env()
    store = guard.revocation

    async def me(request: Request) -> JSONResponse:
        token = get_access_token(request)
        assert token is not None  # the middleware admitted a verified token
        return JSONResponse({"sub": token.subject, "pid": os.getpid()})

    async def health(request: Request) -> JSONResponse:
        ready = store.ready if isinstance(store, RedisStore) else store is not None
        return JSONResponse({"pid": os.getpid(), "revocation_ready": ready})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if owned:
            await guard.aclose()

    middleware = [
        Middleware(WorkerHeader),  # outermost: it sees jwt_guard's refusals too
        # prefetch: at startup, fetch keys and wait for the store's first read.
        Middleware(JWTGuardMiddleware, verifier=guard, exclude_paths=["/health"], prefetch=True),
    ]
    return Starlette(
        routes=[Route("/me", me), Route("/health", health)],
        middleware=middleware,
        lifespan=lifespan,
    )


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        "revocation_app:create_app",
        factory=True,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "8000")),
        workers=int(os.environ.get("WORKERS", "4")),
    )
