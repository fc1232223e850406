"""DPoP (RFC 9449) through jwt_guard.django: the middleware under Django's
WSGI and ASGI handlers, and REST framework's JWTAuthentication alone."""

from __future__ import annotations

from typing import Any

import pytest

from jwt_guard import DPoPOptions
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard.testing import DPoPKey, FakeClock, bound_token
from tests.support.challenges import parse_challenges

SECRET = b"j" * 32
_CLIENT_KEY = DPoPKey("ES256")


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    return DPoPKey("ES256", private_key=_CLIENT_KEY.private_key, clock=clock)


def proof_headers(key: DPoPKey, token: str, url: str, **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, access_token=token, **proof)}


def test_the_middleware_checks_the_proof(send, django_settings, make_verifier, issuer, key):
    django_settings(VERIFIER=make_verifier(dpop=DPoPOptions()), REALM="api")
    token = bound_token(issuer, key, sub="ada")
    headers = proof_headers(key, token, "http://testserver/whoami")
    assert send.get("/whoami", headers).json()["sub"] == "ada"
    replayed = send.get("/whoami", headers)
    assert replayed.status_code == 401
    challenges = parse_challenges([replayed.headers["WWW-Authenticate"]])
    assert [scheme for scheme, _ in challenges] == ["DPoP", "Bearer"]
    assert challenges[0][1]["error"] == "invalid_dpop_proof"
    as_bearer = send.get("/whoami", {"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401 and as_bearer.json()["error"] == "invalid_token"
    other_url = send.get("/whoami", proof_headers(key, token, "http://testserver/function"))
    assert other_url.status_code == 401


def test_required_dpop_and_a_renewed_nonce(send, django_settings, make_verifier, issuer, key, clock):
    django_settings(VERIFIER=make_verifier(dpop=DPoPOptions(required=True, nonce_secret=SECRET)))
    token = bound_token(issuer, key, sub="ada")
    plain = send.get("/whoami", {"Authorization": f"Bearer {issuer.token()}"})
    assert plain.status_code == 401 and plain.json()["error"] == "invalid_token"
    missing = send.get("/whoami", proof_headers(key, token, "http://testserver/whoami"))
    assert missing.status_code == 401 and missing.json()["error"] == "use_dpop_nonce"
    old = DPoPNonces(SECRET).issue(clock() - 200)
    renewed = send.get("/whoami", proof_headers(key, token, "http://testserver/whoami", nonce=old))
    assert renewed.status_code == 200
    assert DPoPNonces(SECRET).check(renewed.headers["DPoP-Nonce"], clock()).accepted


def test_public_url_is_a_setting(send, django_settings, make_verifier, issuer, key):
    django_settings(VERIFIER=make_verifier(dpop=DPoPOptions()), PUBLIC_URL="https://api.example.com/base")
    token = bound_token(issuer, key, sub="ada")
    assert send.get("/whoami", proof_headers(key, token, "https://api.example.com/base/whoami")).status_code == 200
    assert send.get("/whoami", proof_headers(key, token, "http://testserver/whoami")).status_code == 401


def test_rest_framework_alone(send, django_settings, make_verifier, issuer, key, clock):
    django_settings(middleware=[], VERIFIER=make_verifier(dpop=DPoPOptions()))
    token = bound_token(issuer, key, sub="ada", scope="read:items")
    good = send.get("/api/items", proof_headers(key, token, "http://testserver/api/items"))
    assert good.status_code == 200 and good.json()["auth_sub"] == "ada"
    thief = DPoPKey("ES256", clock=clock)
    stolen = send.get("/api/items", proof_headers(thief, token, "http://testserver/api/items"))
    assert stolen.status_code == 401  # not bound to the thief's key: invalid_token on the DPoP challenge
    challenges = parse_challenges([stolen.headers["WWW-Authenticate"]])
    assert challenges[0][0] == "DPoP" and challenges[0][1]["error"] == "invalid_token"
