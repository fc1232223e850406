"""DPoP (RFC 9449) through the ASGI middleware: Starlette in process, mount
prefixes and ``public_url``, WebSockets, tokens and proofs from independent
implementations, and a real uvicorn server."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from joserfc.jwk import ECKey
from jwcrypto import jwk as jwcrypto_jwk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from jwt_guard import DPoPOptions, Verifier
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard.testing import DPoPAuth, DPoPKey, FakeClock, LocalIssuer, bound_token
from tests.asgi.conftest import asgi_client, protected_app, run_websocket, serve
from tests.support.challenges import parse_challenges
from tests.support.independent import API, AS, AS_KEY, joserfc_proof, jwcrypto_proof, jwcrypto_token

pytestmark = pytest.mark.anyio

BASE = "http://testserver"
SECRET = b"n" * 32
ALGS = "ES256 ES384 EdDSA PS256 RS256"


_CLIENT_KEY = DPoPKey("ES256")


@pytest.fixture
def key(clock: FakeClock) -> DPoPKey:
    """The client's key, its proofs issued on the tests' clock."""
    return DPoPKey("ES256", private_key=_CLIENT_KEY.private_key, clock=clock)


@pytest.fixture
def token(issuer: LocalIssuer, key: DPoPKey) -> str:
    return bound_token(issuer, key, scope="read", sub="alice")


@pytest.fixture
def dpop_app(make_verifier):
    def make(options: DPoPOptions | None = None, **middleware: Any) -> Starlette:
        return protected_app(make_verifier(dpop=options or DPoPOptions()), **middleware)

    return make


def dpop_headers(key: DPoPKey, token: str, url: str, method: str = "GET", **proof: Any) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, access_token=token, **proof)}


BYE = [{"type": "websocket.disconnect", "code": 1000}]


def challenges(response: httpx.Response) -> list[tuple[str, dict[str, str]]]:
    return parse_challenges(response.headers.get_list("www-authenticate"))


async def test_a_bound_token_with_its_proof_gets_through(dpop_app, key, token):
    async with asgi_client(dpop_app()) as client:
        response = await client.get("/read", auth=DPoPAuth(key, token))
    assert response.status_code == 200
    assert response.json()["sub"] == "alice" and response.json()["scopes"] == ["read"]
    assert "dpop-nonce" not in response.headers


async def test_a_replayed_proof_is_refused(dpop_app, key, token):
    headers = dpop_headers(key, token, BASE + "/me")
    async with asgi_client(dpop_app()) as client:
        assert (await client.get("/me", headers=headers)).status_code == 200
        replayed = await client.get("/me", headers=headers)
    assert replayed.status_code == 401
    assert challenges(replayed)[0] == (
        "DPoP",
        {
            "realm": "api",
            "error": "invalid_dpop_proof",
            "error_description": "the DPoP proof has already been used",
            "algs": ALGS,
        },
    )
    assert challenges(replayed)[1] == ("Bearer", {"realm": "api"})


@pytest.mark.parametrize(
    ("method", "url", "description"),
    [
        pytest.param("POST", BASE + "/me", "not for this method", id="method"),
        pytest.param("GET", BASE + "/other", "not for this URL", id="path"),
        pytest.param("GET", "https://testserver/me", "not for this URL", id="scheme"),
        pytest.param("GET", "http://elsewhere.test/me", "not for this URL", id="host"),
    ],
)
async def test_a_proof_for_another_request_is_refused(dpop_app, key, token, method, url, description):
    async with asgi_client(dpop_app()) as client:
        response = await client.get("/me?page=2", headers=dpop_headers(key, token, url, method))
    assert response.status_code == 401
    assert response.json() == {"error": "invalid_dpop_proof", "error_description": f"the DPoP proof is {description}"}


async def test_the_query_and_an_equivalent_spelling_do_not_matter(dpop_app, key, token):
    """RFC 9449 §4.3: htu without query and fragment, after RFC 3986 normalisation."""
    async with asgi_client(dpop_app()) as client:
        for url in ("HTTP://TestServer:80/me", "http://testserver/./me#frag", "http://testserver/%6De"):
            response = await client.get("/me?x=1", headers=dpop_headers(key, token, url))
            assert response.status_code == 200, (url, response.text)


async def test_two_dpop_headers_are_refused(dpop_app, key, token):
    headers = [
        ("Authorization", f"DPoP {token}"),
        ("DPoP", key.proof("GET", BASE + "/me", access_token=token)),
        ("DPoP", key.proof("GET", BASE + "/me", access_token=token)),
    ]
    async with asgi_client(dpop_app()) as client:
        response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert challenges(response)[0][1]["error"] == "invalid_dpop_proof"
    assert "exactly one DPoP header" in response.json()["error_description"]


async def test_a_dpop_token_without_a_proof_and_a_proof_without_a_token(dpop_app, key, token):
    async with asgi_client(dpop_app()) as client:
        no_proof = await client.get("/me", headers={"Authorization": f"DPoP {token}"})
        no_token = await client.get("/me", headers={"DPoP": key.proof("GET", BASE + "/me")})
    assert no_proof.status_code == 401 and no_proof.json()["error"] == "invalid_dpop_proof"
    assert no_token.status_code == 400 and no_token.json()["error"] == "invalid_request"
    assert [scheme for scheme, _ in challenges(no_token)] == ["DPoP", "Bearer"]


async def test_a_bound_token_sent_as_bearer_is_refused(dpop_app, make_verifier, key, token):
    async with asgi_client(dpop_app()) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert challenges(response)[0][0] == "DPoP" and challenges(response)[0][1]["error"] == "invalid_token"
    # Without dpop= the token is refused all the same, with a Bearer challenge only.
    async with asgi_client(protected_app(make_verifier())) as client:
        response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert challenges(response) == [
        (
            "Bearer",
            {
                "realm": "api",
                "error": "invalid_token",
                "error_description": "the access token is sender-constrained (cnf) and needs a proof of possession",
            },
        )
    ]


async def test_plain_bearer_tokens_pass_unless_dpop_is_required(dpop_app, issuer):
    plain = issuer.token(scope="read")
    async with asgi_client(dpop_app()) as client:
        assert (await client.get("/me", headers={"Authorization": f"Bearer {plain}"})).status_code == 200
        anonymous = await client.get("/me")
    assert challenges(anonymous) == [("Bearer", {"realm": "api"}), ("DPoP", {"realm": "api", "algs": ALGS})]
    async with asgi_client(dpop_app(DPoPOptions(required=True))) as client:
        refused = await client.get("/me", headers={"Authorization": f"Bearer {plain}"})
        anonymous = await client.get("/me")
    assert refused.status_code == 401
    assert [scheme for scheme, _ in challenges(refused)] == ["DPoP"]
    assert challenges(refused)[0][1]["error"] == "invalid_token"
    assert challenges(anonymous) == [("DPoP", {"realm": "api", "algs": ALGS})]


async def test_insufficient_scope_for_a_dpop_token_is_a_dpop_challenge(dpop_app, issuer, key):
    token = bound_token(issuer, key, scope="other")
    async with asgi_client(dpop_app()) as client:
        response = await client.get("/read", auth=DPoPAuth(key, token))
    assert response.status_code == 403
    assert challenges(response) == [
        (
            "DPoP",
            {
                "realm": "api",
                "error": "insufficient_scope",
                "error_description": "the access token lacks a required scope",
                "scope": "read",
                "algs": ALGS,
            },
        )
    ]


# -- nonces ---------------------------------------------------------------------------------------


async def test_nonces_a_client_retries_once_and_then_keeps_up(dpop_app, key, token, clock: FakeClock):
    app = dpop_app(DPoPOptions(nonce_secret=SECRET, nonce_lifetime=300))
    seen: list[httpx.Response] = []
    auth = DPoPAuth(key, token)
    async with asgi_client(app) as client:
        client.event_hooks["response"] = [lambda response: _record(seen, response)]
        first = await client.get("/me", auth=auth)
        assert first.status_code == 200
        assert [r.status_code for r in seen] == [401, 200]
        assert challenges(seen[0])[0][1]["error"] == "use_dpop_nonce"
        assert seen[0].headers["dpop-nonce"] == auth.nonce
        seen.clear()
        previous = auth.nonce
        clock.advance(200)  # past refresh_after: a good request gets the next nonce
        renewed = await client.get("/me", auth=auth)
        assert renewed.status_code == 200 and [r.status_code for r in seen] == [200]
        assert renewed.headers["dpop-nonce"] != previous
        assert auth.nonce == renewed.headers["dpop-nonce"]
        assert renewed.headers["content-type"] == "application/json"  # the app's own headers kept
        seen.clear()
        assert (await client.get("/me", auth=auth)).status_code == 200
        assert [r.status_code for r in seen] == [200]


async def _record(seen: list[httpx.Response], response: httpx.Response) -> None:
    seen.append(response)


async def test_a_renewed_nonce_joins_a_streamed_answer_and_a_websocket_accept(make_verifier, key, token, clock):
    async def stream(request: Request) -> Response:
        return Response(b"chunk", headers={"x-app": "1"})

    verifier = make_verifier(dpop=DPoPOptions(nonce_secret=SECRET))
    app = protected_app(verifier, routes=[Route("/stream", stream)])
    nonce = DPoPNonces(SECRET, lifetime=300).issue(clock() - 200)
    async with asgi_client(app) as client:
        response = await client.get("/stream", headers=dpop_headers(key, token, BASE + "/stream", nonce=nonce))
    assert response.status_code == 200 and response.headers["x-app"] == "1"
    assert DPoPNonces(SECRET, lifetime=300).check(response.headers["dpop-nonce"], clock()).accepted

    run = await run_websocket(
        app, headers=list(dpop_headers(key, token, "ws://testserver/ws", nonce=nonce).items()), client_messages=BYE
    )
    accept = next(message for message in run.sent if message["type"] == "websocket.accept")
    assert dict(accept["headers"])[b"dpop-nonce"]


# -- public_url and mount prefixes ---------------------------------------------------------------


async def test_behind_a_proxy_public_url_is_the_url_that_counts(dpop_app, key, token):
    app = dpop_app(public_url="https://api.example.com/base")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.5:8000") as client:
        good = await client.get("/me", headers=dpop_headers(key, token, "https://api.example.com/base/me"))
        internal = await client.get("/me", headers=dpop_headers(key, token, "http://10.0.0.5:8000/me"))
        forwarded = await client.get(
            "/me",
            headers={
                **dpop_headers(key, token, "https://evil.test/me"),
                "X-Forwarded-Host": "evil.test",
                "X-Forwarded-Proto": "https",
                "Forwarded": "host=evil.test;proto=https",
            },
        )
    assert good.status_code == 200
    assert internal.status_code == 401 and "not for this URL" in internal.json()["error_description"]
    assert forwarded.status_code == 401


async def test_without_public_url_forwarded_headers_do_not_change_the_url(dpop_app, key, token):
    async with asgi_client(dpop_app()) as client:
        response = await client.get(
            "/me",
            headers={**dpop_headers(key, token, "https://api.example.com/me"), "X-Forwarded-Host": "api.example.com"},
        )
    assert response.status_code == 401


async def test_a_mount_prefix_is_part_of_the_url(make_verifier, key, token):
    """Starlette's Mount keeps the full path in scope["path"] (ASGI: root_path
    is part of path): the proof names /v1/me, as the client sent it."""
    inner = protected_app(make_verifier(dpop=DPoPOptions()))
    app = Starlette(routes=[Mount("/v1", app=inner)])
    async with asgi_client(app) as client:
        assert (await client.get("/v1/me", auth=DPoPAuth(key, token))).status_code == 200
        wrong = await client.get("/v1/me", headers=dpop_headers(key, token, BASE + "/me"))
    assert wrong.status_code == 401


async def test_a_percent_encoded_path_is_compared_as_sent(make_verifier, key, token):
    async def any_path(request: Request) -> JSONResponse:
        return JSONResponse({"path": request.url.path})

    app = protected_app(make_verifier(dpop=DPoPOptions()), routes=[Route("/files/{name:path}", any_path)])
    async with asgi_client(app) as client:
        response = await client.get("/files/a%20b%2Fc", auth=DPoPAuth(key, token))
    assert response.status_code == 200, response.text


# -- WebSockets ----------------------------------------------------------------------------------


async def test_a_websocket_handshake_proves_get_and_the_ws_url(dpop_app, key, token):
    """The handshake's htm is GET and its htu the ws:// URL (wss:// over TLS)."""
    app = dpop_app()
    run = await run_websocket(
        app, headers=list(dpop_headers(key, token, "ws://testserver/ws").items()), client_messages=BYE
    )
    assert run.accepted
    assert json.loads(run.texts()[0])["sub"] == "alice"
    for url in ("http://testserver/ws", "ws://testserver/other"):
        run = await run_websocket(app, headers=list(dpop_headers(key, token, url).items()))
        assert not run.accepted and run.denial is not None
        status, _, body = run.denial
        assert status == 401 and json.loads(body)["error"] == "invalid_dpop_proof"
        start = next(message for message in run.sent if message["type"] == "websocket.http.response.start")
        fields = [value.decode() for name, value in start["headers"] if name == b"www-authenticate"]
        assert [scheme for scheme, _ in parse_challenges(fields)] == ["DPoP", "Bearer"]
    run = await run_websocket(
        app, headers=list(dpop_headers(key, token, "ws://testserver/ws").items()), denial=False, client_messages=BYE
    )
    assert run.accepted  # without the denial extension too


async def test_a_websocket_behind_a_proxy_proves_the_public_wss_url(dpop_app, key, token):
    app = dpop_app(public_url="https://api.example.com")
    run = await run_websocket(
        app, headers=list(dpop_headers(key, token, "wss://api.example.com/ws").items()), client_messages=BYE
    )
    assert run.accepted
    run = await run_websocket(app, headers=list(dpop_headers(key, token, "ws://testserver/ws").items()), denial=False)
    assert not run.accepted and run.close is not None and run.close["code"] == 1008


# -- independent implementations ----------------------------------------------------------------


@pytest.mark.parametrize("proof_library", ["joserfc", "jwcrypto"])
async def test_a_token_bound_by_jwcrypto_with_another_librarys_proof(clock, proof_library):
    """Issuer (jwcrypto), client (joserfc or jwcrypto) and this resource server
    are three implementations: end to end through the middleware."""
    verifier = Verifier(
        issuer=AS, audience=API, keys={"keys": [AS_KEY.export_public(as_dict=True)]}, clock=clock, dpop=DPoPOptions()
    )
    app = protected_app(verifier)
    if proof_library == "joserfc":
        client_key: Any = ECKey.generate_key("P-256")
        jkt, sign = client_key.thumbprint(), joserfc_proof
    else:
        client_key = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256")
        jkt, sign = client_key.thumbprint(), jwcrypto_proof
    token = jwcrypto_token(jkt, clock())
    async with asgi_client(app) as client:
        headers = {
            "Authorization": f"DPoP {token}",
            "DPoP": sign(client_key, token, "GET", BASE + "/read", clock(), "j-1"),
        }
        good = await client.get("/read", headers=headers)
        replayed = await client.get("/read", headers=headers)
        other = ECKey.generate_key("P-256")
        stolen = await client.get(
            "/read",
            headers={
                "Authorization": f"DPoP {token}",
                "DPoP": joserfc_proof(other, token, "GET", BASE + "/read", clock(), "j-2"),
            },
        )
        as_bearer = await client.get("/read", headers={"Authorization": f"Bearer {token}"})
    assert good.status_code == 200 and good.json()["sub"] == "carol"
    assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
    assert stolen.status_code == 401 and stolen.json()["error"] == "invalid_token"
    assert as_bearer.status_code == 401 and as_bearer.json()["error"] == "invalid_token"


# -- a real server ---------------------------------------------------------------------------------


def test_over_a_real_socket_with_nonces_and_a_websocket(issuer):
    """uvicorn on 127.0.0.1: httpx with the DPoP auth flow (nonce retry), a
    replay refused, and a WebSocket handshake proving its ws:// URL."""
    import websockets.sync.client

    issuer.clock = time.time
    key = DPoPKey("ES256", private_key=_CLIENT_KEY.private_key)
    token = bound_token(issuer, key, scope="read", sub="dave")
    verifier = issuer.verifier(dpop=DPoPOptions(nonce_secret=SECRET))
    with serve(protected_app(verifier)) as server:
        auth = DPoPAuth(key, token)
        with httpx.Client(base_url=server.url, trust_env=False) as client:
            response = client.get("/read", auth=auth)
            assert response.status_code == 200 and response.json()["sub"] == "dave"
            assert auth.nonce is not None
            headers = dpop_headers(key, token, server.url + "/me", nonce=auth.nonce)
            assert client.get("/me", headers=headers).status_code == 200
            replayed = client.get("/me", headers=headers)
            assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_dpop_proof"
        ws_headers = dpop_headers(key, token, server.ws_url + "/ws", nonce=auth.nonce)
        with websockets.sync.client.connect(server.ws_url + "/ws", additional_headers=ws_headers) as connection:
            assert json.loads(connection.recv(timeout=10))["sub"] == "dave"


def test_the_async_flow_over_a_real_socket(issuer):
    issuer.clock = time.time
    key = DPoPKey("ES256", private_key=_CLIENT_KEY.private_key)
    token = bound_token(issuer, key, scope="read")
    verifier = issuer.verifier(dpop=DPoPOptions())

    async def main() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, trust_env=False, auth=DPoPAuth(key, token)) as client:
            responses = await asyncio.gather(*(client.get("/me") for _ in range(20)))
        return [response.status_code for response in responses]

    with serve(protected_app(verifier)) as server:
        assert asyncio.run(main()) == [200] * 20


# -- with RFC 9728 metadata ---------------------------------------------------------------------


async def test_protected_resource_metadata_and_challenges_name_dpop(make_verifier, issuer):
    from jwt_guard import ProtectedResource

    resource = ProtectedResource(resource=issuer.audience, authorization_servers=[issuer.issuer])
    app = protected_app(
        make_verifier(dpop=DPoPOptions(required=True, algorithms=["ES256", "EdDSA"])), resource=resource
    )
    async with asgi_client(app) as client:
        document = (await client.get("/.well-known/oauth-protected-resource")).json()
        refused = await client.get("/me")
    assert document["dpop_bound_access_tokens_required"] is True
    assert document["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA"]
    assert challenges(refused) == [
        ("DPoP", {"realm": "api", "algs": "ES256 EdDSA", "resource_metadata": resource.metadata_url})
    ]
