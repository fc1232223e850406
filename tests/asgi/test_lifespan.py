"""Lifespan: pass-through, and prefetching keys at startup (warn or fail fast)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message

from jwt_guard.asgi import JWTGuardMiddleware

pytestmark = pytest.mark.anyio


def app_with_lifespan(events: list[str], verifier: Any, **options: Any) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        events.append("app startup")
        yield
        events.append("app shutdown")

    return Starlette(lifespan=lifespan, middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, **options)])


async def run_lifespan(app: ASGIApp, *, shutdown: bool = True) -> list[Message]:
    """Drive the ASGI lifespan protocol: startup, then shutdown unless startup failed."""
    incoming: list[Message] = [{"type": "lifespan.startup"}]
    sent: list[Message] = []
    more = anyio.Event()

    async def receive() -> Message:
        while not incoming:
            await more.wait()
        return incoming.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "lifespan.startup.complete" and shutdown:
            incoming.append({"type": "lifespan.shutdown"})
            more.set()

    scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
    with anyio.move_on_after(5):
        await app(scope, receive, send)
    return sent


async def test_lifespan_passes_through_without_prefetch(remote_verifier, key_server):
    events: list[str] = []
    sent = await run_lifespan(app_with_lifespan(events, remote_verifier()))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["app startup", "app shutdown"]
    assert key_server.count() == 0  # nothing fetched


async def test_prefetch_fetches_discovery_and_keys_before_startup(remote_verifier, key_server):
    events: list[str] = []
    sent = await run_lifespan(app_with_lifespan(events, remote_verifier(), prefetch=True))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["app startup", "app shutdown"]
    assert key_server.count(key_server.discovery_path) == 1
    assert key_server.jwks_requests == 1


async def test_prefetch_failure_logs_a_warning_and_starts(remote_verifier, key_server, caplog):
    key_server.set_fault("status", target="any", status=500)
    events: list[str] = []
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        sent = await run_lifespan(app_with_lifespan(events, remote_verifier(), prefetch=True))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert events == ["app startup", "app shutdown"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "prefetch" in r.getMessage()]
    assert len(warnings) == 1


async def test_prefetch_failure_with_fail_fast_aborts_startup(remote_verifier, key_server, caplog):
    key_server.set_fault("status", target="any", status=500)
    events: list[str] = []
    with caplog.at_level(logging.ERROR, logger="jwt_guard"):
        sent = await run_lifespan(app_with_lifespan(events, remote_verifier(), prefetch=True, fail_fast=True))
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    assert "signing keys" in sent[0]["message"]
    assert events == []  # the application's own startup never ran
    assert any(r.levelno == logging.ERROR for r in caplog.records)


async def test_issuer_mismatch_with_fail_fast_aborts_startup_saying_what_to_configure(
    issuer, remote_verifier, key_server
):
    """The discovery document names the issuer without the configured trailing
    slash: startup stops at once with the issuer to configure."""
    configured = issuer.issuer
    named = issuer.issuer = configured.rstrip("/")
    events: list[str] = []
    verifier = remote_verifier(issuer=configured)
    sent = await run_lifespan(app_with_lifespan(events, verifier, prefetch=True, fail_fast=True))
    assert [m["type"] for m in sent] == ["lifespan.startup.failed"]
    message = sent[0]["message"]
    assert "(issuers must match exactly, trailing slash included)" in message
    assert message.endswith(f"configure issuer='{named}' (JWT_GUARD_ISSUER with Verifier.from_env)")
    assert events == []
    assert key_server.jwks_requests == 0


async def test_fail_fast_with_keys_available_starts(remote_verifier, key_server):
    events: list[str] = []
    sent = await run_lifespan(app_with_lifespan(events, remote_verifier(), prefetch=True, fail_fast=True))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert key_server.jwks_requests == 1


async def test_prefetch_with_static_keys_needs_no_network(make_verifier):
    events: list[str] = []
    sent = await run_lifespan(app_with_lifespan(events, make_verifier(), prefetch=True, fail_fast=True))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


async def test_prefetched_keys_serve_the_first_request(issuer, remote_verifier, key_server):
    """After a successful prefetch, a request needs no fetch of its own."""
    from tests.asgi.conftest import asgi_client, bearer, protected_app

    verifier = remote_verifier()
    app = protected_app(verifier, prefetch=True)
    await run_lifespan(app, shutdown=True)
    fetched = key_server.jwks_requests
    async with asgi_client(app) as client:
        response = await client.get("/me", headers=bearer(issuer.token()))
    assert response.status_code == 200
    assert key_server.jwks_requests == fetched == 1
