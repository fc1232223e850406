"""Introspection over real sockets: LocalServer on 127.0.0.1 serving the test
kit's endpoint, reached through the verifier's own httpx clients (both faces).

A slow, hanging, oversized or vanished endpoint gives 503 within the key
fetch's timeout (1.5 s here: short of the test server's 3 s hang, long
enough for discovery on a loaded machine), never 401 and never a hang.
"""

from __future__ import annotations

import pytest

from jwt_guard import InactiveToken, Introspection, IntrospectionUnavailable, KeyCacheOptions, Verifier
from jwt_guard.testing import FakeClock, IntrospectionEndpoint, LocalIssuer, LocalServer
from tests.conftest import AUDIENCE, signing_key
from tests.core.conftest import Shell

pytestmark = pytest.mark.anyio


@pytest.fixture
def served(clock: FakeClock):
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE, clock=clock, keys=[signing_key("RS256")])
    endpoint = IntrospectionEndpoint(issuer, clients={"api": "secret"})
    with LocalServer(issuer, keys=issuer.key_server(introspection=endpoint), hang_limit=3.0) as server:
        yield issuer, endpoint, server


def make(shell: Shell, issuer: LocalIssuer, clock: FakeClock, **options) -> Verifier:
    return shell.track(
        Verifier(
            issuer=issuer.issuer,
            audience=AUDIENCE,
            clock=clock,
            key_cache=KeyCacheOptions(timeout=1.5, connect_timeout=1.5),
            introspection=Introspection(client_id="api", client_secret="secret", **options),
        )
    )


async def test_opaque_tokens_over_a_real_socket(served, clock, shell):
    issuer, endpoint, _ = served
    verifier = make(shell, issuer, clock)
    token = issuer.opaque_token(scope="read")
    assert (await shell.verify(verifier, token)).scopes == {"read"}
    issuer.revoke(token)
    verifier.clear_cache()
    with pytest.raises(InactiveToken):
        await shell.verify(verifier, token)
    assert endpoint.count == 2


@pytest.mark.parametrize("fault", ["hang", "slow_drip", "huge", "huge_declared", "refuse"])
async def test_a_failing_endpoint_is_503_within_the_timeout(served, clock, shell, fault):
    issuer, _, server = served
    verifier = make(shell, issuer, clock)
    await shell.prefetch(verifier)  # discovery done: only the introspection call fails
    server.keys.set_fault(fault, target="introspection", delay=0.2)
    with pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(verifier, issuer.opaque_token())
    assert caught.value.status_code == 503
    assert caught.value.retry_after >= 1


async def test_a_stopped_endpoint_is_503_and_recovery_follows(served, clock, shell):
    issuer, _, server = served
    verifier = make(shell, issuer, clock)
    cached = issuer.opaque_token()
    await shell.verify(verifier, cached)
    server.stop()
    with pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(verifier, issuer.opaque_token())
    assert (await shell.verify(verifier, cached)).raw == cached
    server.start()
    clock.advance(caught.value.retry_after)
    await shell.verify(verifier, issuer.opaque_token())
