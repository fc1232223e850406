"""jwt_guard.fastapi with a verifier that accepts DPoP: the dependency takes
the DPoP scheme, answers with both challenges, renews nonces, and the
OpenAPI document lists the DPoP scheme."""

# No "from __future__ import annotations": FastAPI must evaluate the route annotations.

from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Security, WebSocket
from fastapi.responses import PlainTextResponse

from jwt_guard import AccessToken, DPoPOptions
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard.asgi import JWTGuardMiddleware
from jwt_guard.fastapi import JWTBearer, install_error_handler
from jwt_guard.testing import DPoPAuth, DPoPKey, FakeClock, bound_token
from tests.asgi.conftest import asgi_client, run_websocket
from tests.support.challenges import parse_challenges

pytestmark = pytest.mark.anyio

SECRET = b"f" * 32
BASE = "http://testserver"
_CLIENT_KEY = DPoPKey("ES256")


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    return DPoPKey("ES256", private_key=_CLIENT_KEY.private_key, clock=clock)


@pytest.fixture
def token(issuer, key) -> str:
    return bound_token(issuer, key, scope="read", sub="erin")


def build(scheme: JWTBearer, *, handler: bool = True, middleware: dict[str, Any] | None = None) -> FastAPI:
    app = FastAPI()
    if handler:
        install_error_handler(app)
    if middleware is not None:
        app.add_middleware(JWTGuardMiddleware, **middleware)

    @app.get("/read")
    async def read(token: Annotated[AccessToken, Security(scheme, scopes=["read"])]) -> dict[str, Any]:
        return {"sub": token.subject}

    @app.get("/plain")
    async def plain(token: Annotated[AccessToken, Security(scheme)]) -> PlainTextResponse:
        return PlainTextResponse(token.subject or "")

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, token: Annotated[AccessToken, Security(scheme)]) -> None:
        await websocket.accept()
        await websocket.send_text(token.subject or "")
        await websocket.close()

    return app


def proof_headers(key: DPoPKey, token: str, url: str, **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, access_token=token, **proof)}


async def test_the_dependency_takes_the_dpop_scheme(make_verifier, key, token, issuer):
    scheme = JWTBearer(verifier=make_verifier(dpop=DPoPOptions()))
    async with asgi_client(build(scheme)) as client:
        good = await client.get("/read", auth=DPoPAuth(key, token))
        headers = proof_headers(key, token, BASE + "/read")
        assert (await client.get("/read", headers=headers)).status_code == 200
        replayed = await client.get("/read", headers=headers)
        as_bearer = await client.get("/read", headers={"Authorization": f"Bearer {token}"})
        plain_bearer = await client.get("/read", headers={"Authorization": f"Bearer {issuer.token(scope='read')}"})
    assert good.status_code == 200 and good.json() == {"sub": "erin"}
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
    assert [scheme for scheme, _ in parse_challenges(replayed.headers.get_list("www-authenticate"))] == [
        "DPoP",
        "Bearer",
    ]
    assert as_bearer.status_code == 401 and as_bearer.json()["error"] == "invalid_token"
    assert plain_bearer.status_code == 200


async def test_without_the_error_handler_the_two_challenges_share_one_field(make_verifier, key, token):
    """FastAPI's HTTPException holds one value per header name: the challenges
    are joined, which RFC 9110 §5.3 makes the same as two fields."""
    scheme = JWTBearer(verifier=make_verifier(dpop=DPoPOptions()), realm="api")
    async with asgi_client(build(scheme, handler=False)) as client:
        response = await client.get("/read")
    fields = response.headers.get_list("www-authenticate")
    assert len(fields) == 1
    assert parse_challenges(fields) == [
        ("Bearer", {"realm": "api"}),
        ("DPoP", {"realm": "api", "algs": "ES256 ES384 EdDSA PS256 RS256"}),
    ]


async def test_a_renewed_nonce_reaches_a_data_answer(make_verifier, key, token, clock):
    scheme = JWTBearer(verifier=make_verifier(dpop=DPoPOptions(nonce_secret=SECRET)))
    nonces = DPoPNonces(SECRET, lifetime=300)
    async with asgi_client(build(scheme)) as client:
        missing = await client.get("/read", headers=proof_headers(key, token, BASE + "/read"))
        assert missing.status_code == 401 and missing.json()["error"] == "use_dpop_nonce"
        assert nonces.check(missing.headers["dpop-nonce"], clock()).accepted
        old = nonces.issue(clock() - 200)
        renewed = await client.get("/read", headers=proof_headers(key, token, BASE + "/read", nonce=old))
    assert renewed.status_code == 200
    assert renewed.headers["dpop-nonce"] != old and nonces.check(renewed.headers["dpop-nonce"], clock()).accepted


async def test_the_middlewares_dpop_verification_is_reused(make_verifier, key, token, clock):
    """Behind the middleware (same verifier) the proof is checked once: a
    second check would find it used."""
    verifier = make_verifier(dpop=DPoPOptions(nonce_secret=SECRET))
    scheme = JWTBearer(verifier=verifier)
    old = DPoPNonces(SECRET, lifetime=300).issue(clock() - 200)
    async with asgi_client(build(scheme, middleware={"verifier": verifier})) as client:
        response = await client.get("/plain", headers=proof_headers(key, token, BASE + "/plain", nonce=old))
    assert response.status_code == 200 and response.text == "erin"
    assert "dpop-nonce" in response.headers  # added by the middleware, whatever the endpoint returns


async def test_a_websocket_route(make_verifier, key, token):
    scheme = JWTBearer(verifier=make_verifier(dpop=DPoPOptions()))
    app = build(scheme)
    run = await run_websocket(app, headers=list(proof_headers(key, token, "ws://testserver/ws").items()))
    assert run.accepted and run.texts() == ["erin"]
    run = await run_websocket(app, headers=list(proof_headers(key, token, BASE + "/ws").items()), denial=False)
    assert not run.accepted and run.close is not None and run.close["code"] == 1008


async def _openapi(app: FastAPI) -> dict[str, Any]:
    async with asgi_client(app) as client:
        return (await client.get("/openapi.json")).json()


async def test_openapi_lists_dpop_as_the_alternative(make_verifier):
    document = await _openapi(build(JWTBearer(verifier=make_verifier(dpop=DPoPOptions()))))
    schemes = document["components"]["securitySchemes"]
    assert schemes["JWTBearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["JWTBearerDPoP"]["type"] == "http" and schemes["JWTBearerDPoP"]["scheme"] == "DPoP"
    # One entry per alternative (OpenAPI: any one of them will do), each with the route's scopes.
    assert document["paths"]["/read"]["get"]["security"] == [{"JWTBearer": ["read"]}, {"JWTBearerDPoP": ["read"]}]
    assert "dpop_scheme" not in str(document["paths"]["/read"]["get"].get("parameters", []))


async def test_openapi_lists_only_dpop_when_required(make_verifier):
    scheme = JWTBearer(verifier=make_verifier(dpop=DPoPOptions(required=True)), scheme_name="api")
    document = await _openapi(build(scheme))
    assert list(document["components"]["securitySchemes"]) == ["api"]
    assert document["components"]["securitySchemes"]["api"]["scheme"] == "DPoP"
    assert document["paths"]["/read"]["get"]["security"] == [{"api": ["read"]}]


async def test_openapi_without_dpop_is_unchanged(make_verifier):
    document = await _openapi(build(JWTBearer(verifier=make_verifier())))
    assert list(document["components"]["securitySchemes"]) == ["JWTBearer"]
    assert document["paths"]["/read"]["get"]["security"] == [{"JWTBearer": ["read"]}]
