"""Opaque tokens through the WSGI middleware (Flask): the same decorators and
HTTP answers as for JWTs, and 503 with Retry-After on an endpoint outage."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify, request
from werkzeug.test import Client

from jwt_guard import Introspection, Verifier
from jwt_guard.testing import IntrospectionEndpoint, LocalIssuer, mock_transport
from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token, require_scopes
from tests.wsgi.conftest import bearer


@pytest.fixture
def setup(issuer: LocalIssuer, clock):
    server = issuer.key_server(introspection=IntrospectionEndpoint(issuer, clients={"api": "secret"}))
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        clock=clock,
        transport=mock_transport(server),
        introspection=Introspection(client_id="api", client_secret="secret", auth="client_secret_post"),
    )
    app = Flask(__name__)

    @app.get("/read")
    @require_scopes("read")
    def read():
        token = get_access_token(request)
        return jsonify(sub=token.subject, scopes=sorted(token.scopes))

    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=verifier)
    yield Client(app), server
    verifier.close()


def test_opaque_tokens_with_flask(issuer, setup):
    client, _ = setup
    granted = client.get("/read", headers=bearer(issuer.opaque_token(scope="read", sub="bob")))
    assert granted.status_code == 200
    assert granted.json == {"sub": "bob", "scopes": ["read"]}
    assert client.get("/read", headers=bearer(issuer.opaque_token(scope="x"))).status_code == 403
    unknown = client.get("/read", headers=bearer("never-issued-token"))
    assert unknown.status_code == 401
    assert 'error="invalid_token"' in unknown.headers["www-authenticate"]


def test_an_endpoint_outage_is_503_with_retry_after(issuer, setup):
    client, server = setup
    server.set_fault("invalid_json", target="introspection")
    response = client.get("/read", headers=bearer(issuer.opaque_token(scope="read")))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
