"""Step-up authentication (RFC 9470) with jwt_guard.asgi.require_auth on
Starlette endpoints: HTTP functions (sync and async), endpoint classes and
WebSockets, combined with require_scopes, and claims of every odd type."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from jwt_guard._auth_syntax import parse_challenges
from jwt_guard.asgi import JWTGuardMiddleware, require_auth, require_scopes
from jwt_guard.testing import LocalIssuer
from tests.asgi.conftest import asgi_client, bearer, run_websocket
from tests.conftest import make_issuer

pytestmark = pytest.mark.anyio

MFA = "urn:example:mfa"


@require_auth(acr_values=[MFA, "hwk"], max_age=600)
async def transfer(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@require_auth(max_age=60)
def fresh(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@require_scopes("pay")
@require_auth(acr_values=[MFA])
async def stacked(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@require_auth(scopes=["pay"], acr_values=[MFA])
async def combined(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@require_auth()
async def any_token(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


class Account(HTTPEndpoint):
    async def get(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @require_auth(acr_values=[MFA])
    async def delete(self, request: Request) -> JSONResponse:
        return JSONResponse({"deleted": True})


@require_auth(acr_values=[MFA])
async def secure_ws(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("in")
    await websocket.close()


ROUTES = [
    Route("/transfer", transfer, methods=["POST"]),
    Route("/fresh", fresh),
    Route("/stacked", stacked),
    Route("/combined", combined),
    Route("/any", any_token),
    Route("/account", Account),
    WebSocketRoute("/ws", secure_ws),
]


@pytest.fixture
def app(make_verifier) -> Starlette:
    return Starlette(
        routes=ROUTES, middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier(), optional=True)]
    )


def challenge(response: Any) -> dict[str, str]:
    [(scheme, params)] = parse_challenges(response.headers["www-authenticate"])
    assert scheme == "Bearer"
    return params


async def test_listed_acr_and_recent_auth_time_pass(app, issuer, clock):
    now = int(clock())
    async with asgi_client(app) as client:
        for acr in (MFA, "hwk"):
            response = await client.post("/transfer", headers=bearer(issuer.token(acr=acr, auth_time=now - 600)))
            assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("claims", "description"),
    [
        pytest.param({"acr": "pwd", "auth_time": 0}, "a different authentication level is required", id="weak-acr"),
        pytest.param({"auth_time": 0}, "a different authentication level is required", id="no-acr"),
        pytest.param({"acr": MFA, "auth_time": -661}, "a more recent authentication is required", id="too-old"),
        pytest.param({"acr": MFA}, "a more recent authentication is required", id="no-auth-time"),
        pytest.param({"acr": MFA, "auth_time": 61}, "a more recent authentication is required", id="future"),
    ],
)
async def test_step_up_refusals(app, issuer, clock, claims, description):
    claims = dict(claims)
    if "auth_time" in claims:
        claims["auth_time"] += int(clock())
    async with asgi_client(app) as client:
        response = await client.post("/transfer", headers=bearer(issuer.token(**claims)))
    assert response.status_code == 401
    assert challenge(response) == {
        "error": "insufficient_user_authentication",
        "error_description": description,
        "acr_values": f"{MFA} hwk",
        "max_age": "600",
    }
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {"error": "insufficient_user_authentication", "error_description": description}


async def test_max_age_alone_names_only_max_age(app, issuer, clock):
    async with asgi_client(app) as client:
        response = await client.get("/fresh", headers=bearer(issuer.token(auth_time=int(clock()) - 200)))
        ok = await client.get("/fresh", headers=bearer(issuer.token(auth_time=int(clock()) - 100)))
    assert challenge(response)["max_age"] == "60" and "acr_values" not in challenge(response)
    assert ok.status_code == 200  # 100 s: within 60 s and the default leeway of 60 s


async def test_anonymous_requests_get_a_plain_401(app):
    async with asgi_client(app) as client:
        response = await client.post("/transfer")
        any_response = await client.get("/any")
    assert response.status_code == any_response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


async def test_require_auth_without_demands_requires_a_token(app, issuer):
    async with asgi_client(app) as client:
        response = await client.get("/any", headers=bearer(issuer.token()))
    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/stacked", "/combined"])
async def test_combined_with_scopes(app, issuer, path):
    async with asgi_client(app) as client:
        no_scope = await client.get(path, headers=bearer(issuer.token(acr=MFA)))
        weak = await client.get(path, headers=bearer(issuer.token(scope="pay", acr="pwd")))
        ok = await client.get(path, headers=bearer(issuer.token(scope="pay", acr=MFA)))
    assert no_scope.status_code == 403 and challenge(no_scope)["scope"] == "pay"
    assert weak.status_code == 401 and challenge(weak)["acr_values"] == MFA
    assert ok.status_code == 200


async def test_endpoint_class_method(app, issuer):
    async with asgi_client(app) as client:
        read = await client.get("/account", headers=bearer(issuer.token()))
        refused = await client.delete("/account", headers=bearer(issuer.token()))
        deleted = await client.delete("/account", headers=bearer(issuer.token(acr=MFA)))
    assert read.status_code == 200
    assert refused.status_code == 401 and challenge(refused)["error"] == "insufficient_user_authentication"
    assert deleted.json() == {"deleted": True}


async def test_websocket_step_up(app, issuer):
    refused = await run_websocket(app, "/ws", headers=[("authorization", f"Bearer {issuer.token()}")])
    assert refused.denial is not None and refused.denial[0] == 401
    assert 'error="insufficient_user_authentication"' in refused.denial[1]["www-authenticate"]
    closed = await run_websocket(app, "/ws", headers=[("authorization", f"Bearer {issuer.token()}")], denial=False)
    assert closed.close is not None and closed.close["code"] == 1008 and not closed.accepted
    admitted = await run_websocket(app, "/ws", headers=[("authorization", f"Bearer {issuer.token(acr=MFA)}")])
    assert admitted.accepted and admitted.texts() == ["in"]


async def test_without_middleware_every_request_is_refused(issuer, caplog):
    app = Starlette(routes=ROUTES)
    async with asgi_client(app) as client:
        response = await client.post("/transfer", headers=bearer(issuer.token(acr=MFA)))
    assert response.status_code == 401
    assert "did not run" in caplog.text


def test_decoration_time_mistakes():
    async def view(request: Request) -> JSONResponse:  # pragma: no cover - never called
        return JSONResponse({})

    with pytest.raises(TypeError, match="keyword arguments"):
        require_auth(view)
    with pytest.raises(TypeError, match="not a string"):
        require_auth(acr_values=MFA)
    with pytest.raises(ValueError, match="max_age"):
        require_auth(max_age=-5)
    with pytest.raises(TypeError, match="no 'request' or 'websocket' parameter"):
        require_auth(acr_values=[MFA])(lambda: None)


# -- claims of any type: a 200 or a 401, never a 500 ---------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=8,
)
ISSUER: LocalIssuer = make_issuer("RS256")
FIXED_NOW = 1_800_000_000


@given(
    acr=st.sampled_from([MFA, "hwk", "pwd", MFA.upper()]) | JSON_VALUES,
    auth_time=st.integers(FIXED_NOW - 700, FIXED_NOW + 100) | st.floats(FIXED_NOW - 700, FIXED_NOW + 100) | JSON_VALUES,
)
async def test_any_acr_and_auth_time_are_answered(acr, auth_time):
    from jwt_guard import Verifier

    ISSUER.clock = lambda: FIXED_NOW
    verifier = Verifier(issuer=ISSUER.issuer, audience=ISSUER.audience, keys=ISSUER.jwks(), clock=lambda: FIXED_NOW)
    app = Starlette(routes=ROUTES, middleware=[Middleware(JWTGuardMiddleware, verifier=verifier)])
    token = ISSUER.token(acr=acr, auth_time=auth_time)
    async with asgi_client(app) as client:
        response = await client.post("/transfer", headers=bearer(token))
    accepted = (
        acr in (MFA, "hwk") and type(auth_time) in (int, float) and FIXED_NOW - 660 <= auth_time <= FIXED_NOW + 60
    )
    assert response.status_code == (200 if accepted else 401), response.text
    if not accepted:
        assert challenge(response)["error"] in ("insufficient_user_authentication", "invalid_token")
