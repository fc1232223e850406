"""DPoP (RFC 9449) through the WSGI middleware: Werkzeug and Flask in process,
SCRIPT_NAME mounts, ``public_url`` and ProxyFix, repeated headers joined by
the server, tokens from an independent issuer, and a real threaded server."""

from __future__ import annotations

import json
import time
from typing import Any

import flask
import httpx
import pytest
from jwcrypto import jwk as jwcrypto_jwk
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client

from jwt_guard import DPoPOptions, Verifier
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard.testing import DPoPAuth, DPoPKey, FakeClock, LocalIssuer, bound_token
from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token, require_scopes
from tests.support.challenges import parse_challenges
from tests.support.independent import API, AS, AS_KEY, jwcrypto_proof, jwcrypto_token
from tests.wsgi.conftest import call_wsgi, probe_app, serve

SECRET = b"w" * 32
BASE = "http://localhost"  # werkzeug.test.Client's default host
_CLIENT_KEY = DPoPKey("ES256")


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    return DPoPKey("ES256", private_key=_CLIENT_KEY.private_key, clock=clock)


@pytest.fixture
def token(issuer: LocalIssuer, key: DPoPKey) -> str:
    return bound_token(issuer, key, scope="read", sub="frank")


def proof_headers(key: DPoPKey, token: str, url: str, method: str = "GET", **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, access_token=token, **proof)}


def schemes(response: Any) -> list[str]:
    return [scheme for scheme, _ in parse_challenges(response.headers.getlist("WWW-Authenticate"))]


def test_a_bound_token_with_its_proof(make_verifier, key, token):
    client = Client(JWTGuardMiddleware(probe_app, verifier=make_verifier(dpop=DPoPOptions())))
    headers = proof_headers(key, token, BASE + "/items")
    response = client.get("/items?page=2", headers=headers)
    assert response.status_code == 200 and response.json["subject"] == "frank"
    replayed = client.get("/items", headers=headers)
    assert replayed.status_code == 401 and replayed.json["error"] == "invalid_dpop_proof"
    assert schemes(replayed) == ["DPoP", "Bearer"]
    wrong = client.post("/items", headers=proof_headers(key, token, BASE + "/items"))
    assert wrong.status_code == 401 and "not for this method" in wrong.json["error_description"]
    as_bearer = client.get("/items", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401 and as_bearer.json["error"] == "invalid_token"


def test_two_dpop_headers_joined_by_the_server_are_refused(make_verifier, key, token):
    """WSGI servers join repeated headers with a comma (PEP 3333): still two proofs."""
    app = JWTGuardMiddleware(probe_app, verifier=make_verifier(dpop=DPoPOptions()))
    proof = key.proof("GET", BASE + "/items", access_token=token)
    environ = {
        "REQUEST_METHOD": "GET",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "localhost",
        "PATH_INFO": "/items",
        "HTTP_AUTHORIZATION": f"DPoP {token}",
        "HTTP_DPOP": f"{proof},{proof}",
    }
    status, headers, body = call_wsgi(app, environ)
    assert status.startswith("401")
    assert "exactly one DPoP header" in json.loads(body)["error_description"]
    assert [name for name, _ in headers].count("www-authenticate") == 2


def test_a_renewed_nonce_is_added_to_the_applications_answer(make_verifier, key, token, clock):
    app = JWTGuardMiddleware(probe_app, verifier=make_verifier(dpop=DPoPOptions(nonce_secret=SECRET)))
    client = Client(app)
    missing = client.get("/items", headers=proof_headers(key, token, BASE + "/items"))
    assert missing.status_code == 401 and missing.json["error"] == "use_dpop_nonce"
    nonce = missing.headers["DPoP-Nonce"]
    fresh = client.get("/items", headers=proof_headers(key, token, BASE + "/items", nonce=nonce))
    assert fresh.status_code == 200 and "DPoP-Nonce" not in fresh.headers
    clock.advance(200)
    renewed = client.get("/items", headers=proof_headers(key, token, BASE + "/items", nonce=nonce))
    assert renewed.status_code == 200
    assert renewed.headers["Content-Type"] == "application/json"
    assert renewed.headers["DPoP-Nonce"] != nonce
    assert DPoPNonces(SECRET, lifetime=300).check(renewed.headers["DPoP-Nonce"], clock()).accepted


def test_a_mount_under_script_name_is_part_of_the_url(make_verifier, key, token):
    inner = JWTGuardMiddleware(probe_app, verifier=make_verifier(dpop=DPoPOptions()))
    client = Client(DispatcherMiddleware(probe_app, {"/v1": inner}))
    good = client.get("/v1/items", headers=proof_headers(key, token, BASE + "/v1/items"))
    assert good.status_code == 200 and good.json["path"] == "/items"
    assert client.get("/v1/items", headers=proof_headers(key, token, BASE + "/items")).status_code == 401


def test_public_url_behind_a_proxy(make_verifier, key, token):
    app = JWTGuardMiddleware(
        probe_app, verifier=make_verifier(dpop=DPoPOptions()), public_url="https://api.example.com/base"
    )
    client = Client(app)
    good = client.get("/items", headers=proof_headers(key, token, "https://api.example.com/base/items"))
    assert good.status_code == 200
    internal = client.get("/items", headers=proof_headers(key, token, BASE + "/items"))
    assert internal.status_code == 401
    forwarded = client.get(
        "/items",
        headers={
            **proof_headers(key, token, "https://evil.test/items"),
            "X-Forwarded-Host": "evil.test",
            "X-Forwarded-Proto": "https",
        },
    )
    assert forwarded.status_code == 401


def test_forwarded_headers_count_only_through_proxy_fix(make_verifier, key, token):
    """X-Forwarded-* is never read by jwt_guard; Werkzeug's ProxyFix, told to
    trust one proxy, rewrites the environ first, and that is what counts."""
    guarded = JWTGuardMiddleware(probe_app, verifier=make_verifier(dpop=DPoPOptions()))
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example.com", "X-Forwarded-Prefix": "/api"}
    url = "https://api.example.com/api/items"
    assert Client(guarded).get("/items", headers={**proof_headers(key, token, url), **forwarded}).status_code == 401
    trusted = ProxyFix(guarded, x_proto=1, x_host=1, x_prefix=1)
    assert Client(trusted).get("/items", headers={**proof_headers(key, token, url), **forwarded}).status_code == 200


def test_flask_views(make_verifier, key, token, issuer):
    app = flask.Flask(__name__)

    @app.get("/read")
    @require_scopes("read")
    def read() -> dict[str, Any]:
        return {"sub": get_access_token().subject}

    @app.get("/write")
    @require_scopes("write")
    def write() -> dict[str, Any]:
        return {}

    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=make_verifier(dpop=DPoPOptions()), realm="api")
    client = app.test_client()
    assert client.get("/read", headers=proof_headers(key, token, BASE + "/read")).json == {"sub": "frank"}
    forbidden = client.get("/write", headers=proof_headers(key, token, BASE + "/write"))
    assert forbidden.status_code == 403
    assert parse_challenges(forbidden.headers.getlist("WWW-Authenticate"))[0][0] == "DPoP"
    plain = client.get("/write", headers={"Authorization": f"Bearer {issuer.token(scope='read')}"})
    assert plain.status_code == 403 and schemes(plain) == ["Bearer"]


def test_a_token_bound_by_jwcrypto_with_a_jwcrypto_proof(clock):
    verifier = Verifier(
        issuer=AS, audience=API, keys={"keys": [AS_KEY.export_public(as_dict=True)]}, clock=clock, dpop=DPoPOptions()
    )
    client_key = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256")
    token = jwcrypto_token(client_key.thumbprint(), clock())
    client = Client(JWTGuardMiddleware(probe_app, verifier=verifier))
    headers = {
        "Authorization": f"DPoP {token}",
        "DPoP": jwcrypto_proof(client_key, token, "GET", BASE + "/x", clock(), "1"),
    }
    assert client.get("/x", headers=headers).json["subject"] == "carol"
    assert client.get("/x", headers=headers).status_code == 401


def test_over_a_real_socket(issuer):
    issuer.clock = time.time
    key = DPoPKey("ES256", private_key=_CLIENT_KEY.private_key)
    token = bound_token(issuer, key, scope="read", sub="gina")
    app = JWTGuardMiddleware(probe_app, verifier=issuer.verifier(dpop=DPoPOptions(nonce_secret=SECRET)))
    with serve(app) as url:
        auth = DPoPAuth(key, token)
        with httpx.Client(base_url=url, trust_env=False) as client:
            response = client.get("/items", auth=auth)
            assert response.status_code == 200 and response.json()["subject"] == "gina"
            assert auth.nonce is not None
            encoded = client.get("/a%20b/%C3%A9", auth=auth)  # the path as sent (REQUEST_URI)
            assert encoded.status_code == 200, encoded.text
            headers = proof_headers(key, token, url + "/items", nonce=auth.nonce)
            assert client.get("/items", headers=headers).status_code == 200
            assert client.get("/items", headers=headers).status_code == 401
