"""A Starlette API that accepts only DPoP-bound tokens (RFC 9449), on many workers.

A stolen DPoP-bound token is useless without the client's private key, and
a captured proof is good once: every worker records the proofs it accepts in
one shared Redis (an atomic ``SET NX PX``, one round trip per request), so a
proof replayed against any other worker or host is refused too.

Configuration comes from the environment:

``JWT_GUARD_ISSUER``, ``JWT_GUARD_AUDIENCE`` (and optionally ``JWT_GUARD_JWKS_URI`` or ``JWT_GUARD_KEYS_FILE``)
    read by ``Verifier.from_env()``, as everywhere.
``DPOP_REDIS_URL``
    the Redis where used proofs are recorded (required here).
``DPOP_NONCE_SECRET``
    optional: 64 hex digits (32 bytes, the same on every host) to require
    server nonces; a client then retries once with the ``DPoP-Nonce`` it gets.
``PUBLIC_URL``
    optional: the URL clients use, when a proxy stands in front
    (``https://api.example.com``); proofs name it, not the worker's address.

Run it with four workers::

    DPOP_REDIS_URL=redis://127.0.0.1:6379/0 JWT_GUARD_ISSUER=http://127.0.0.1:9000 \\
    JWT_GUARD_AUDIENCE=https://api.example.test \\
    uvicorn --workers 4 --factory --app-dir examples dpop_app:create_app

and call it with a bound token and a proof (``jwt-guard dev-issuer`` in another shell)::

    jwt-guard token --dpop --url http://127.0.0.1:8000/me > headers.txt
    curl -H @headers.txt http://127.0.0.1:8000/me      # 200
    curl -H @headers.txt http://127.0.0.1:8000/me      # 401: the proof was used

Routes: ``GET /me`` needs a DPoP-bound token and its proof; ``GET /health``
is public. Every answer, refusals included, names the worker that gave it
(``X-Worker-Pid``).
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

from jwt_guard import DPoPOptions, Verifier
from jwt_guard.asgi import JWTGuardMiddleware, get_access_token
from jwt_guard.stores import RedisStore


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


def verifier_from_env() -> tuple[Verifier, RedisStore]:
    """The verifier described by the environment, with its Redis replay store."""
    url = os.environ.get("DPOP_REDIS_URL")
    if not url:
        raise SystemExit("set DPOP_REDIS_URL (see the module docstring)")
    store = RedisStore.from_url(url, prefix=os.environ.get("DPOP_REDIS_PREFIX", "jwt_guard:"))
    secret = os.environ.get("DPOP_NONCE_SECRET")
    options = DPoPOptions(required=True, store=store, nonce_secret=bytes.fromhex(secret) if secret else None)
    return Verifier.from_env(dpop=options), store


def create_app(verifier: Verifier | None = None) -> Starlette:
    """The application; *verifier* defaults to :func:`verifier_from_env`.

    A verifier built here (and its store) is closed at shutdown; one passed
    in is left to its owner.
    """
    store = None
    if verifier is None:
        verifier, store = verifier_from_env()
    guard = verifier

    async def me(request: Request) -> JSONResponse:
        token = get_access_token(request)
        assert token is not None  # the middleware admitted a verified token
        return JSONResponse({"sub": token.subject, "jkt": token.claims["cnf"]["jkt"], "pid": os.getpid()})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"pid": os.getpid(), "ready": True})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        if store is not None:
            await guard.aclose()
            await store.aclose()

    middleware = [
        Middleware(WorkerHeader),  # outermost: it sees jwt_guard's refusals too
        Middleware(
            JWTGuardMiddleware,
            verifier=guard,
            exclude_paths=["/health"],
            public_url=os.environ.get("PUBLIC_URL") or None,
            prefetch=True,
        ),
    ]
    return Starlette(routes=[Route("/me", me), Route("/health", health)], middleware=middleware, lifespan=lifespan)


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        "dpop_app:create_app",
        factory=True,
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host="127.0.0.1",
        port=int(os.environ.get("PORT", "8000")),
        workers=int(os.environ.get("WORKERS", "4")),
    )
