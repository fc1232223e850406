"""RFC 9728 metadata and RFC 9470 step-up with FastAPI: scopes_supported
from ``Security`` scopes, ``resource_metadata`` in the dependency's
challenges, and ``JWTBearer(acr_values=…, max_age=…)``."""

# No "from __future__ import annotations": FastAPI must evaluate the route
# annotations, which refer to local names.

import math
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI, Security

from jwt_guard import AccessToken, ConfigurationError, ProtectedResource
from jwt_guard._auth_syntax import parse_challenges
from jwt_guard.asgi import JWTGuardMiddleware
from jwt_guard.fastapi import JWTBearer, install_error_handler
from tests.asgi.conftest import asgi_client, bearer

pytestmark = pytest.mark.anyio

RESOURCE = "https://api.example.test/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
METADATA_URL = "https://api.example.test" + METADATA_PATH
ISSUER = "https://issuer.example.test/"


def resource(**options: Any) -> ProtectedResource:
    return ProtectedResource(resource=RESOURCE, authorization_servers=[ISSUER], **options)


def params(response: Any) -> dict[str, str]:
    [(scheme, values)] = parse_challenges(response.headers["www-authenticate"])
    assert scheme == "Bearer"
    return values


def build(verifier: Any, *, middleware: bool = True, scheme: JWTBearer | None = None) -> FastAPI:
    """An API whose routes need scopes in every way FastAPI can say it."""
    bearer_scheme = scheme or JWTBearer(verifier=verifier)
    step_up = JWTBearer(verifier=verifier, acr_values=["mfa"], max_age=300)
    app = FastAPI()
    install_error_handler(app)
    if middleware:
        app.add_middleware(JWTGuardMiddleware, verifier=verifier, resource=resource(), optional=True)

    def reader(token: Annotated[AccessToken, Security(bearer_scheme, scopes=["read"])]) -> str:
        return token.subject or ""

    @app.get("/read")
    async def read(token: Annotated[AccessToken, Security(bearer_scheme, scopes=["read"])]) -> dict[str, Any]:
        return {"sub": token.subject}

    @app.get("/merged")
    async def merged(who: Annotated[str, Security(reader, scopes=["admin"])]) -> dict[str, Any]:
        return {"who": who}

    @app.get("/plain")
    async def plain(token: Annotated[AccessToken, Depends(bearer_scheme)]) -> dict[str, Any]:
        return {"sub": token.subject}

    @app.post("/transfer")
    async def transfer(token: Annotated[AccessToken, Security(step_up, scopes=["pay"])]) -> dict[str, Any]:
        return {"sub": token.subject}

    router = APIRouter(prefix="/reports", dependencies=[Security(bearer_scheme, scopes=["reports"])])

    @router.get("/daily")
    async def daily() -> dict[str, Any]:
        return {}

    app.include_router(router)

    audit = APIRouter(prefix="/audit")

    @audit.get("/log")
    async def log() -> dict[str, Any]:
        return {}

    app.include_router(audit, dependencies=[Security(bearer_scheme, scopes=["audit"])])
    return app


@pytest.fixture
def verifier(make_verifier) -> Any:
    return make_verifier(audience=RESOURCE)


# -- scopes_supported ---------------------------------------------------------------------------


async def test_scopes_supported_come_from_security_scopes(verifier):
    async with asgi_client(build(verifier)) as client:
        response = await client.get(METADATA_PATH)
    assert response.status_code == 200
    # /merged needs admin and read (FastAPI merges them); the routers add reports and audit.
    assert response.json()["scopes_supported"] == ["read", "admin", "pay", "reports", "audit"]


async def test_security_scopes_of_other_schemes_are_not_ours(verifier):
    from fastapi.security import OAuth2PasswordBearer

    other = OAuth2PasswordBearer(tokenUrl="/token", scopes={"foreign": "x"})
    app = FastAPI()
    app.add_middleware(JWTGuardMiddleware, verifier=verifier, resource=resource())

    @app.get("/other")
    async def other_route(token: Annotated[str, Security(other, scopes=["foreign"])]) -> dict[str, Any]:
        return {}

    async with asgi_client(app) as client:
        response = await client.get(METADATA_PATH)
    assert "scopes_supported" not in response.json()


# -- resource_metadata in the dependency's challenges -------------------------------------------


async def test_dependency_challenges_carry_the_middlewares_metadata_url(verifier, issuer):
    """The middleware (optional mode) lets anonymous requests through; the
    dependency's 401 and 403 still point to the metadata."""
    token = issuer.token(aud=RESOURCE, scope="read")
    async with asgi_client(build(verifier)) as client:
        missing = await client.get("/read")
        forbidden = await client.get("/merged", headers=bearer(token))
        router_forbidden = await client.get("/reports/daily", headers=bearer(token))
        include_forbidden = await client.get("/audit/log", headers=bearer(token))
        ok = await client.get("/read", headers=bearer(token))
    assert missing.status_code == 401 and params(missing) == {"resource_metadata": METADATA_URL}
    assert forbidden.status_code == 403
    assert params(forbidden)["resource_metadata"] == METADATA_URL
    # Only the scopes of this operation: the merged admin + read, not scopes_supported.
    assert params(forbidden)["scope"] == "admin read"
    assert params(router_forbidden)["scope"] == "reports"
    assert params(include_forbidden)["scope"] == "audit"
    assert ok.status_code == 200


async def test_dependency_with_its_own_resource(verifier, issuer):
    scheme = JWTBearer(verifier=verifier, resource=resource())
    async with asgi_client(build(verifier, middleware=False, scheme=scheme)) as client:
        missing = await client.get("/read")
        invalid = await client.get("/read", headers=bearer("x.y.z"))
        forbidden = await client.get("/read", headers=bearer(issuer.token(aud=RESOURCE, scope="other")))
    for response, status in ((missing, 401), (invalid, 401), (forbidden, 403)):
        assert response.status_code == status
        assert params(response)["resource_metadata"] == METADATA_URL


async def test_dependency_of_another_verifier_does_not_borrow_the_url(verifier, make_verifier, issuer):
    """A dependency verifying for another audience is another resource: no borrowed metadata URL."""
    other = JWTBearer(verifier=make_verifier(audience="https://other.example.test"))
    app = build(verifier)

    @app.get("/other")
    async def other_route(token: Annotated[AccessToken, Security(other)]) -> dict[str, Any]:
        return {}

    async with asgi_client(app) as client:
        response = await client.get("/other", headers=bearer(issuer.token(aud=RESOURCE)))
    assert response.status_code == 401
    assert "resource_metadata" not in params(response)


def test_dependency_resource_must_be_an_audience(make_verifier):
    with pytest.raises(ConfigurationError, match="trailing slash"):
        JWTBearer(verifier=make_verifier(audience=RESOURCE + "/"), resource=resource())
    with pytest.raises(ConfigurationError, match="ProtectedResource"):
        JWTBearer(verifier=make_verifier(audience=RESOURCE), resource=RESOURCE)  # type: ignore[arg-type]


# -- step-up -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "status", "description"),
    [
        pytest.param({"acr": "mfa", "auth_time": 0}, 200, None, id="ok"),
        pytest.param({"acr": "pwd", "auth_time": 0}, 401, "a different authentication level", id="weak"),
        pytest.param({"acr": "mfa", "auth_time": -361}, 401, "a more recent authentication", id="old"),
        pytest.param({"acr": "mfa"}, 401, "a more recent authentication", id="no-auth-time"),
        pytest.param({"acr": "mfa", "auth_time": "0"}, 401, "a more recent authentication", id="auth-time-str"),
        pytest.param({"acr": "mfa", "auth_time": True}, 401, "a more recent authentication", id="auth-time-bool"),
        pytest.param({"acr": "mfa", "auth_time": 10**30}, 401, "a more recent authentication", id="auth-time-huge"),
        pytest.param({"acr": "x" * 4000, "auth_time": 0}, 401, "a different authentication", id="acr-long"),
        pytest.param({"acr": ["mfa"], "auth_time": 0}, 401, "a different authentication", id="acr-list"),
        pytest.param({"auth_time": 0}, 401, "a different authentication", id="no-acr"),
    ],
)
async def test_step_up_dependency(verifier, issuer, clock, claims, status, description):
    claims = dict(claims)
    if type(claims.get("auth_time")) is int and abs(claims["auth_time"]) < 10**6:
        claims["auth_time"] += int(clock())
    token = issuer.token(aud=RESOURCE, scope="pay", **claims)
    async with asgi_client(build(verifier)) as client:
        response = await client.post("/transfer", headers=bearer(token))
    assert response.status_code == status, response.text
    if description is not None:
        values = params(response)
        assert values["error"] == "insufficient_user_authentication"
        assert values["error_description"].startswith(description)
        assert values["acr_values"] == "mfa" and values["max_age"] == "300"
        assert values["resource_metadata"] == METADATA_URL
        assert response.json()["error"] == "insufficient_user_authentication"


async def test_step_up_after_scopes(verifier, issuer, clock):
    """The route's scopes are checked first: a weak token without the scope gets 403."""
    token = issuer.token(aud=RESOURCE, scope="read", acr="pwd", auth_time=int(clock()))
    async with asgi_client(build(verifier)) as client:
        response = await client.post("/transfer", headers=bearer(token))
    assert response.status_code == 403 and params(response)["scope"] == "pay"


async def test_step_up_nan_auth_time(verifier, issuer):
    """A NaN auth_time (JSON with an extension some encoders emit) never
    reaches the step-up rule: the verifier refuses such a payload as malformed."""
    token = issuer.token(aud=RESOURCE, scope="pay", acr="mfa", auth_time=math.nan)
    async with asgi_client(build(verifier)) as client:
        response = await client.post("/transfer", headers=bearer(token))
    assert response.status_code == 401
    assert params(response)["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("options", "exception"),
    [
        pytest.param({"acr_values": "mfa"}, TypeError, id="acr-string"),
        pytest.param({"acr_values": []}, ValueError, id="acr-empty"),
        pytest.param({"max_age": -1}, ValueError, id="max-age-negative"),
        pytest.param({"max_age": 1.5}, TypeError, id="max-age-float"),
    ],
)
def test_step_up_options_are_checked_at_construction(verifier, options, exception):
    with pytest.raises(exception):
        JWTBearer(verifier=verifier, **options)


# -- odd metadata paths through a FastAPI application ----------------------------------------------


@pytest.mark.parametrize(
    ("raw_path", "status"),
    [
        pytest.param(METADATA_PATH.encode(), 200, id="exact"),
        pytest.param(METADATA_PATH.encode() + b"/", 404, id="trailing-slash"),
        pytest.param(b"/.well-known/oauth-protected-resource/../x", 404, id="dot-dot"),
        pytest.param(b"/.well-known/oauth-protected-resource%2Fmcp", 404, id="encoded-slash"),
        pytest.param(b"/.well-known//oauth-protected-resource/mcp", 404, id="double-slash"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
async def test_odd_paths_through_fastapi(verifier, raw_path, status, method):
    from tests.asgi.test_resource import call

    code, headers, _ = await call(build(verifier), method, raw_path)
    if status == 200:
        assert code == {"GET": 200, "HEAD": 200, "OPTIONS": 204, "POST": 405}[method]
        assert headers["access-control-allow-origin"] == "*"
    else:
        assert code == 404
