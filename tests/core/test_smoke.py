"""End-to-end smoke tests of the core: one token per algorithm."""

from __future__ import annotations

import pytest

from jwt_guard import AccessToken, ExpiredToken
from tests.conftest import ALGORITHMS, make_issuer


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_every_default_algorithm_verifies(alg, clock):
    issuer = make_issuer(alg, clock=clock)
    verifier = issuer.verifier(clock=clock)
    token = verifier.verify(issuer.token(scope="read write"))
    assert isinstance(token, AccessToken)
    assert token.scopes == {"read", "write"}


def test_expired_token_is_refused(issuer, make_verifier, clock):
    verifier = make_verifier()
    raw = issuer.token(expires_in=10)
    clock.advance(71)
    with pytest.raises(ExpiredToken):
        verifier.verify(raw)


@pytest.mark.anyio
async def test_remote_keys_async(issuer, remote_verifier, key_server):
    verifier = remote_verifier()
    token = await verifier.verify_async(issuer.token(scope="a"))
    assert token.has_scopes("a")
    assert key_server.jwks_requests == 1
