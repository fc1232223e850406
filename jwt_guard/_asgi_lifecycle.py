"""The ASGI middleware's work around a connection's life: prefetching keys
during lifespan startup, closing a WebSocket whose token expires, and adding
a renewed DPoP nonce to the application's answer.

Part of :mod:`jwt_guard.asgi` (it speaks ASGI messages); kept apart because
neither touches the request decisions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from jwt_guard._challenge import WS_POLICY_VIOLATION
from jwt_guard._events import logger
from jwt_guard.errors import JWTGuardError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from jwt_guard._access_token import AccessToken
    from jwt_guard._verifier import Verifier

__all__ = ["lifespan_with_prefetch", "run_until_expiry", "with_nonce"]


def with_nonce(send: Send, nonce: str) -> Send:
    """*send*, adding ``DPoP-Nonce: nonce`` to the application's answer
    (RFC 9449 §8.2): its response start, or a WebSocket's accept."""
    header = (b"dpop-nonce", nonce.encode("latin-1"))

    async def wrapped(message: Message) -> None:
        if message["type"] in ("http.response.start", "websocket.accept"):
            message = {**message, "headers": [*message.get("headers", ()), header]}
        await send(message)

    return wrapped


class _StartupAborted(Exception):
    """Raised into the application's lifespan to stop a fail-fast startup."""


async def run_until_expiry(
    app: ASGIApp, token: AccessToken, clock: Callable[[], float], scope: Scope, receive: Receive, send: Send
) -> None:
    """Run *app* on an accepted WebSocket, closing it with 1008 when *token*'s
    ``exp`` passes (per *clock*); without a numeric ``exp``, just run it."""
    exp = token.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        await app(scope, receive, send)
        return
    accepted = anyio.Event()
    state = {"expired": False, "closed": False}

    async def send_hook(message: Message) -> None:
        if state["expired"]:
            # ASGI 2.4: sending on a closed connection raises an OSError.
            raise OSError("the WebSocket was closed: its access token expired")
        kind = message["type"]
        if kind == "websocket.accept":
            accepted.set()
        elif kind in ("websocket.close", "websocket.http.response.start"):
            state["closed"] = True
        await send(message)

    async def watch() -> None:
        await accepted.wait()
        delay = float(exp) - clock()
        if delay > 0:
            await anyio.sleep(delay)
        if state["closed"]:
            return
        state["expired"] = True
        logger.debug("jwt_guard: closing a WebSocket whose access token expired")
        with contextlib.suppress(OSError):  # the client may have left meanwhile
            await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": "token expired"})

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(watch)
        try:
            await app(scope, receive, send_hook)
        finally:
            tasks.cancel_scope.cancel()


async def lifespan_with_prefetch(
    app: ASGIApp, verifier: Verifier, fail_fast: bool, scope: Scope, receive: Receive, send: Send
) -> None:
    """Run *app*'s lifespan, fetching *verifier*'s keys at ``lifespan.startup``.

    A failure is logged and startup goes on; with *fail_fast* it answers
    ``lifespan.startup.failed`` instead and the application's own startup
    is stopped.
    """
    aborted = False

    async def receive_hook() -> Message:
        nonlocal aborted
        message = await receive()
        if message["type"] == "lifespan.startup":
            failure = await _prefetch_keys(verifier, fail_fast)
            if failure is not None and fail_fast:
                aborted = True
                await send(
                    {
                        "type": "lifespan.startup.failed",
                        "message": f"jwt_guard: signing keys could not be prefetched: {failure.description}",
                    }
                )
                raise _StartupAborted
        return message

    async def send_hook(message: Message) -> None:
        if not aborted:
            await send(message)

    try:
        await app(scope, receive_hook, send_hook)
    except _StartupAborted:
        return


async def _prefetch_keys(verifier: Verifier, fail_fast: bool) -> JWTGuardError | None:
    try:
        await verifier.prefetch_async()
    except JWTGuardError as error:
        if fail_fast:
            logger.error("jwt_guard: signing keys could not be prefetched at startup: %s", error.description)
        else:
            logger.warning(
                "jwt_guard: signing keys could not be prefetched at startup (%s); requests will retry",
                error.description,
            )
        return error
    return None
