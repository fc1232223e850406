"""End to end: a real uvicorn server on 127.0.0.1 in front of the middleware,
and the local issuer serving discovery and JWKS over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from jwt_guard import Verifier
from jwt_guard.testing import LocalIssuer, LocalServer, SigningKey
from tests.asgi.conftest import bearer, protected_app, serve
from tests.conftest import make_issuer

pytestmark = pytest.mark.anyio


@pytest.fixture
def live_issuer(clock) -> Iterator[tuple[LocalIssuer, LocalServer]]:
    issuer = make_issuer("RS256", clock=clock)
    issuer.issuer = "http://127.0.0.1/issuer"
    with LocalServer(issuer) as server:
        yield issuer, server


@pytest.fixture
def live_verifier(live_issuer, clock) -> Iterator[Verifier]:
    issuer, server = live_issuer
    verifier = Verifier(issuer=server.issuer_url, audience=issuer.audience, clock=clock)
    yield verifier
    verifier.close()


# The HTTP semantics table runs over uvicorn in tests/asgi/test_semantics.py.


async def test_key_server_down_is_503_then_recovers(live_issuer, clock):
    """No keys and none cached: 503 + Retry-After; once the key server is back
    (and the backoff has passed), the same token is accepted."""
    issuer, key_server = live_issuer
    key_server.stop()
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, clock=clock)
    try:
        with serve(protected_app(verifier)) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                token = issuer.token()
                down = await client.get("/me", headers=bearer(token))
                assert down.status_code == 503
                assert int(down.headers["retry-after"]) >= 1
                assert "error=" not in down.headers.get("www-authenticate", "")
                key_server.start()
                clock.advance(int(down.headers["retry-after"]) + 1)
                up = await client.get("/me", headers=bearer(issuer.token()))
                assert up.status_code == 200
    finally:
        verifier.close()


async def test_websocket_accept_and_denial_response(live_issuer, live_verifier):
    issuer, _ = live_issuer
    with serve(protected_app(live_verifier)) as server:
        async with connect(f"{server.ws_url}/ws", additional_headers=bearer(issuer.token(sub="alice"))) as ws:
            seen = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert seen["authenticated"] is True and seen["sub"] == "alice"
            await ws.send("ping")
            assert await asyncio.wait_for(ws.recv(), 10) == "ping"
        for headers, status in (({}, 401), ({"Authorization": "Bearer"}, 400), (bearer("a.b.c"), 401)):
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"{server.ws_url}/ws", additional_headers=headers, open_timeout=10):
                    pass
            response = refused.value.response
            assert response.status_code == status
            assert response.headers["www-authenticate"].startswith('Bearer realm="api"')
            assert json.loads(response.body)["error_description"]


async def test_lifespan_fail_fast_stops_uvicorn_startup(live_issuer, clock):
    issuer, key_server = live_issuer
    key_server.stop()
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, clock=clock)
    try:
        with (
            pytest.raises(RuntimeError, match="did not start"),
            serve(protected_app(verifier, prefetch=True, fail_fast=True)),
        ):
            pass
    finally:
        verifier.close()


async def test_lifespan_prefetch_warning_lets_uvicorn_start(live_issuer, clock, caplog):
    issuer, key_server = live_issuer
    key_server.stop()
    verifier = Verifier(issuer=issuer.issuer, audience=issuer.audience, clock=clock)
    try:
        with serve(protected_app(verifier, prefetch=True)) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
                assert (await client.get("/me", headers=bearer(issuer.token()))).status_code == 503
    finally:
        verifier.close()
    assert any("prefetch" in record.getMessage() for record in caplog.records)


async def test_many_concurrent_requests_during_a_key_rotation(live_issuer, live_verifier):
    """Old-key, new-key and forged tokens at once, right after a rotation:
    every answer is right, and the new key is fetched exactly once."""
    issuer, server_keys = live_issuer
    old = issuer.signing_key
    with serve(protected_app(live_verifier)) as server:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
            warm = await client.get("/me", headers=bearer(issuer.token(key=old)))
            assert warm.status_code == 200
            assert server_keys.keys.jwks_requests == 1

            new = issuer.rotate()  # new signing key; the old one stays published
            jobs: list[tuple[str, int]] = []
            for index in range(60):
                jobs.append((issuer.token(key=new, sub=f"new-{index}"), 200))
                jobs.append((issuer.token(key=old, sub=f"old-{index}"), 200))
                if index % 3 == 0:
                    impostor = SigningKey("RS256", kid=new.kid if index % 2 else old.kid)
                    jobs.append((issuer.token(key=impostor, sub=f"forged-{index}"), 401))

            async def call(token: str) -> tuple[int, Any]:
                response = await client.get("/me", headers=bearer(token))
                return response.status_code, response.json()

            results = await asyncio.gather(*(call(token) for token, _ in jobs))

    wrong = [
        (expected, status, body)
        for (token, expected), (status, body) in zip(jobs, results)
        if status != expected or (status == 200 and not body["sub"].startswith(("new-", "old-")))
    ]
    assert wrong == []
    assert server_keys.keys.jwks_requests == 2  # the warm-up fetch and one refetch for the new kid
