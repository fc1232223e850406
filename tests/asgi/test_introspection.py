"""Opaque tokens through the ASGI middleware: the same decorators and the same
HTTP answers as for JWTs (200, 401, 403), and 503 with Retry-After when the
introspection endpoint fails."""

from __future__ import annotations

import pytest

from jwt_guard import Introspection, Verifier
from jwt_guard.testing import IntrospectionEndpoint, LocalIssuer, mock_transport
from tests.asgi.conftest import asgi_client, bearer, protected_app

pytestmark = pytest.mark.anyio


@pytest.fixture
def setup(issuer: LocalIssuer, clock):
    server = issuer.key_server(introspection=IntrospectionEndpoint(issuer, clients={"api": "secret"}))
    transport = mock_transport(server)
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        clock=clock,
        transport=transport,
        async_transport=transport,
        introspection=Introspection(client_id="api", client_secret="secret"),
    )
    return verifier, server


async def test_opaque_tokens_pass_the_same_decorators(issuer, setup):
    verifier, _ = setup
    async with asgi_client(protected_app(verifier)) as client:
        granted = await client.get("/read", headers=bearer(issuer.opaque_token(scope="read", sub="alice")))
        assert granted.status_code == 200
        assert granted.json()["sub"] == "alice"
        assert granted.json()["scopes"] == ["read"]
        forbidden = await client.get("/read", headers=bearer(issuer.opaque_token(scope="write")))
        assert forbidden.status_code == 403
        assert 'error="insufficient_scope"' in forbidden.headers["www-authenticate"]
        revoked = issuer.opaque_token(scope="read")
        issuer.revoke(revoked)
        refused = await client.get("/read", headers=bearer(revoked))
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        assert refused.json()["error_description"] == "the access token is not active"


async def test_an_endpoint_outage_is_503_with_retry_after(issuer, setup):
    verifier, server = setup
    server.set_fault("status", target="introspection", status=502)
    async with asgi_client(protected_app(verifier)) as client:
        response = await client.get("/me", headers=bearer(issuer.opaque_token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers
