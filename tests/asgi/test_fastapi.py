"""jwt_guard.fastapi: the security dependency, its answers and its OpenAPI document."""

# No "from __future__ import annotations": FastAPI must evaluate the route
# annotations, which refer to local names.

import json
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Security, WebSocket
from fastapi.security import SecurityScopes

from jwt_guard import AccessToken, ConfigurationError, InsufficientScope, InvalidToken, MissingToken, render_error
from jwt_guard.asgi import JWTGuardMiddleware
from jwt_guard.fastapi import JWTBearer, JWTGuardHTTPException, install_error_handler
from tests.asgi.conftest import asgi_client, assert_challenge, bearer, run_websocket

pytestmark = pytest.mark.anyio


def build(bearer_scheme: JWTBearer, *, handler: bool = True, middleware: dict[str, Any] | None = None) -> FastAPI:
    app = FastAPI()
    if handler:
        install_error_handler(app)
    if middleware is not None:
        app.add_middleware(JWTGuardMiddleware, **middleware)

    def reader(token: Annotated[AccessToken, Security(bearer_scheme, scopes=["read"])]) -> str:
        return token.subject or ""

    def scopes_seen(security_scopes: SecurityScopes) -> list[str]:
        return security_scopes.scopes

    @app.get("/public")
    async def public() -> dict[str, bool]:
        return {"public": True}

    @app.get("/me")
    async def me(token: Annotated[AccessToken, Security(bearer_scheme)]) -> dict[str, Any]:
        return {"sub": token.subject, "scopes": sorted(token.scopes)}

    @app.get("/read")
    async def read(token: Annotated[AccessToken, Security(bearer_scheme, scopes=["read"])]) -> dict[str, Any]:
        return {"sub": token.subject}

    @app.get("/nested")
    def nested(
        who: Annotated[str, Depends(reader)],
        token: Annotated[AccessToken, Security(bearer_scheme, scopes=["write"])],
    ) -> dict[str, Any]:
        return {"who": who}

    @app.get("/merged")
    async def merged(who: Annotated[str, Security(reader, scopes=["admin"])]) -> dict[str, Any]:
        return {"who": who}

    optional_scheme = JWTBearer(verifier=bearer_scheme.verifier, auto_error=False)

    @app.get("/maybe")
    async def maybe(token: Annotated[AccessToken | None, Depends(optional_scheme)]) -> dict[str, Any]:
        return {"sub": token.subject if token else None}

    @app.get("/maybe-scoped")
    async def maybe_scoped(
        token: Annotated[AccessToken | None, Security(optional_scheme, scopes=["read"])],
    ) -> dict[str, Any]:
        return {"sub": token.subject if token else None}

    def optional_reader(token: Annotated[AccessToken | None, Depends(optional_scheme)]) -> str | None:
        return token.subject if token else None

    @app.get("/maybe-merged")
    async def maybe_merged(who: Annotated[str | None, Security(optional_reader, scopes=["admin"])]) -> dict[str, Any]:
        return {"who": who}

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, token: Annotated[AccessToken, Security(bearer_scheme, scopes=["read"])]) -> None:
        await websocket.accept()
        await websocket.send_text(token.subject or "")
        await websocket.close()

    return app


@pytest.fixture
def scheme(make_verifier) -> JWTBearer:
    return JWTBearer(verifier=make_verifier(), realm="api")


@pytest.mark.parametrize(
    ("path", "case", "status"),
    [
        pytest.param("/me", "none", 401, id="no-credentials"),
        pytest.param("/me", "malformed", 400, id="malformed-header"),
        pytest.param("/me", "two-headers", 400, id="two-headers"),
        pytest.param("/me", "expired", 401, id="invalid-token"),
        pytest.param("/me", "good", 200, id="valid"),
        pytest.param("/read", "good", 403, id="missing-scope"),
        pytest.param("/read", "read", 200, id="has-scope"),
        pytest.param("/nested", "read", 403, id="nested-needs-both-read-missing-write"),
        pytest.param("/nested", "write", 403, id="nested-needs-both-write-missing-read"),
        pytest.param("/nested", "read write", 200, id="nested-both"),
        pytest.param("/merged", "read", 403, id="merged-parent-scope-required"),
        pytest.param("/merged", "read admin", 200, id="merged-both"),
        pytest.param("/public", "none", 200, id="public-route"),
    ],
)
async def test_answers_match_the_middleware(issuer, scheme, path, case, status):
    good = issuer.token()
    headers: list[tuple[str, str]] = {
        "none": [],
        "malformed": [("Authorization", "Bearer")],
        "two-headers": [("Authorization", f"Bearer {good}")] * 2,
        "expired": [("Authorization", f"Bearer {issuer.token(expires_in=-3600)}")],
        "good": [("Authorization", f"Bearer {good}")],
        "read": [("Authorization", f"Bearer {issuer.token(scope='read')}")],
        "write": [("Authorization", f"Bearer {issuer.token(scope='write')}")],
        "read write": [("Authorization", f"Bearer {issuer.token(scope='read write')}")],
        "read admin": [("Authorization", f"Bearer {issuer.token(scope='read admin')}")],
    }[case]
    async with asgi_client(build(scheme)) as client:
        response = await client.get(path, headers=headers)
    assert response.status_code == status
    if status == 200:
        return
    body = json.loads(response.content)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["www-authenticate"].startswith('Bearer realm="api"')
    if case == "none":
        assert_challenge(response, MissingToken())
    elif status == 403:
        assert body["error"] == "insufficient_scope"
        assert 'scope="' in response.headers["www-authenticate"]


async def test_insufficient_scope_names_every_merged_scope(issuer, scheme):
    async with asgi_client(build(scheme)) as client:
        response = await client.get("/merged", headers=bearer(issuer.token(scope="none")))
    assert_challenge(response, InsufficientScope(["admin", "read"]))


async def test_body_is_byte_identical_to_the_middleware(issuer, make_verifier):
    """Same request, same bytes: the dependency (with the handler) and the middleware."""
    from tests.asgi.conftest import protected_app

    verifier = make_verifier()
    token = issuer.token(expires_in=-3600)
    async with asgi_client(build(JWTBearer(verifier=verifier, realm="api"))) as client:
        from_dependency = await client.get("/me", headers=bearer(token))
    async with asgi_client(protected_app(verifier)) as client:
        from_middleware = await client.get("/me", headers=bearer(token))
    assert from_dependency.status_code == from_middleware.status_code == 401
    assert from_dependency.content == from_middleware.content
    for name in ("www-authenticate", "cache-control", "content-type"):
        assert from_dependency.headers[name] == from_middleware.headers[name]


async def test_without_the_handler_fastapi_renders_detail_with_the_same_headers(issuer, scheme):
    async with asgi_client(build(scheme, handler=False)) as client:
        response = await client.get("/read", headers=bearer(issuer.token()))
    expected = render_error(InsufficientScope(["read"]), realm="api")
    assert response.status_code == 403
    assert response.json() == {"detail": InsufficientScope.description}
    assert response.headers["www-authenticate"] == expected.header("www-authenticate")
    assert response.headers["cache-control"] == "no-store"


async def test_key_server_down_is_503_with_retry_after(issuer, remote_verifier, key_server):
    key_server.set_fault("status", target="any", status=500)
    async with asgi_client(build(JWTBearer(verifier=remote_verifier()))) as client:
        response = await client.get("/me", headers=bearer(issuer.token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert json.loads(response.content)["error"] == "temporarily_unavailable"


async def test_auto_error_false_returns_none_without_credentials(issuer, scheme):
    async with asgi_client(build(scheme)) as client:
        assert (await client.get("/maybe")).json() == {"sub": None}
        assert (await client.get("/maybe", headers=bearer(issuer.token(sub="bob")))).json() == {"sub": "bob"}
        assert (await client.get("/maybe", headers=bearer("a.b.c"))).status_code == 401


@pytest.mark.parametrize("path", ["/maybe-scoped", "/maybe-merged"])
@pytest.mark.parametrize("with_middleware", [False, True], ids=["alone", "behind-optional-middleware"])
async def test_auto_error_false_with_scopes_refuses_anonymous_requests(issuer, scheme, path, with_middleware):
    """No token never gets further than a token lacking the scopes: a
    dependency that names scopes answers 401 to an anonymous request, whatever
    ``auto_error`` says (and whether or not an optional middleware ran)."""
    middleware = {"verifier": scheme.verifier, "optional": True} if with_middleware else None
    scope = "read" if path == "/maybe-scoped" else "admin"
    async with asgi_client(build(scheme, middleware=middleware)) as client:
        anonymous = await client.get(path)
        weak = await client.get(path, headers=bearer(issuer.token(sub="bob")))
        granted = await client.get(path, headers=bearer(issuer.token(sub="bob", scope=scope)))
    assert anonymous.status_code == 401
    assert_challenge(anonymous, MissingToken(), realm=None)
    assert weak.status_code == 403
    assert granted.status_code == 200
    assert granted.json() == ({"sub": "bob"} if path == "/maybe-scoped" else {"who": "bob"})


def test_exception_carries_error_and_challenge():
    error = InvalidToken()
    exc = JWTGuardHTTPException(error, render_error(error, realm="r"))
    assert exc.status_code == 401 and exc.error is error
    assert exc.headers is not None and "content-type" not in exc.headers
    assert exc.headers["www-authenticate"].startswith('Bearer realm="r", error="invalid_token"')


def test_scopes_without_flows_is_a_configuration_error(make_verifier):
    with pytest.raises(ConfigurationError):
        JWTBearer(verifier=make_verifier(), scopes={"read": "Read"})
    with pytest.raises(ConfigurationError):
        JWTBearer(verifier=object())  # type: ignore[arg-type]


# -- with the middleware ---------------------------------------------------------


def _counting(verifier: Any) -> list[str]:
    calls: list[str] = []
    original = verifier.verify_async

    async def counted(raw: Any) -> Any:
        calls.append(raw)
        return await original(raw)

    verifier.verify_async = counted
    return calls


async def test_reuses_the_middlewares_verification(issuer, make_verifier):
    verifier = make_verifier(result_cache_size=0)
    calls = _counting(verifier)
    app = build(JWTBearer(verifier=verifier), middleware={"verifier": verifier})
    async with asgi_client(app) as client:
        response = await client.get("/nested", headers=bearer(issuer.token(scope="read write")))
    assert response.status_code == 200
    assert len(calls) == 1  # the middleware's; the dependency (run twice) reused it


async def test_without_middleware_verifies_once_per_request(issuer, make_verifier):
    verifier = make_verifier(result_cache_size=0)
    calls = _counting(verifier)
    async with asgi_client(build(JWTBearer(verifier=verifier))) as client:
        response = await client.get("/nested", headers=bearer(issuer.token(scope="read write")))
    assert response.status_code == 200
    assert len(calls) == 1  # the second run of the dependency reuses the first's result


async def test_token_verified_by_another_verifier_is_verified_again(issuer, make_verifier):
    """The middleware accepts audience A; a dependency for audience B must not trust that."""
    lenient = make_verifier()
    strict = make_verifier(audience="https://other-api.test")
    app = build(JWTBearer(verifier=strict), middleware={"verifier": lenient})
    async with asgi_client(app) as client:
        response = await client.get("/me", headers=bearer(issuer.token()))
    assert response.status_code == 401
    assert json.loads(response.content)["error"] == "invalid_token"


async def test_middleware_refusal_comes_first(make_verifier):
    verifier = make_verifier()
    app = build(JWTBearer(verifier=verifier), middleware={"verifier": verifier, "exclude_paths": ["/public"]})
    async with asgi_client(app) as client:
        assert (await client.get("/me")).status_code == 401
        assert (await client.get("/public")).status_code == 200


# -- WebSockets ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "accepted"),
    [pytest.param("read", True, id="scoped"), pytest.param("other", False, id="missing-scope")],
)
async def test_websocket_route(issuer, scheme, scope, accepted):
    run = await run_websocket(build(scheme), headers=[("Authorization", f"Bearer {issuer.token(scope=scope)}")])
    assert run.accepted is accepted
    if accepted:
        assert run.texts() == ["user-1"]
    else:
        assert run.close is not None and run.close["code"] == 1008


async def test_websocket_without_token_closes_1008(scheme):
    run = await run_websocket(build(scheme), denial=False)
    assert not run.accepted
    assert run.close is not None and run.close["code"] == 1008


# -- OpenAPI ----------------------------------------------------------------------------


async def _openapi(app: FastAPI) -> dict[str, Any]:
    async with asgi_client(app) as client:
        return (await client.get("/openapi.json")).json()


async def test_openapi_bearer_scheme_and_per_route_scopes(scheme):
    document = await _openapi(build(scheme))
    assert document["components"]["securitySchemes"] == {
        "JWTBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    paths = document["paths"]
    assert paths["/me"]["get"]["security"] == [{"JWTBearer": []}]
    assert paths["/read"]["get"]["security"] == [{"JWTBearer": ["read"]}]
    assert sorted(paths["/nested"]["get"]["security"][0]["JWTBearer"]) == ["read", "write"]
    assert sorted(paths["/merged"]["get"]["security"][0]["JWTBearer"]) == ["admin", "read"]
    assert "security" not in paths["/public"]["get"]


@pytest.mark.parametrize(
    ("urls", "flow", "expected"),
    [
        pytest.param(
            {"token_url": "https://idp.test/token"},
            "clientCredentials",
            {"tokenUrl": "https://idp.test/token"},
            id="client-credentials",
        ),
        pytest.param(
            {"token_url": "https://idp.test/token", "authorization_url": "https://idp.test/authorize"},
            "authorizationCode",
            {"tokenUrl": "https://idp.test/token", "authorizationUrl": "https://idp.test/authorize"},
            id="authorization-code",
        ),
        pytest.param(
            {"authorization_url": "https://idp.test/authorize"},
            "implicit",
            {"authorizationUrl": "https://idp.test/authorize"},
            id="implicit",
        ),
    ],
)
async def test_openapi_oauth2_flows_when_urls_are_given(make_verifier, urls, flow, expected):
    scopes = {"read": "Read things", "write": "Write things"}
    oauth = JWTBearer(verifier=make_verifier(), scheme_name="idp", description="Our IdP", scopes=scopes, **urls)
    document = await _openapi(build(oauth))
    scheme_doc = document["components"]["securitySchemes"]["idp"]
    assert scheme_doc["type"] == "oauth2"
    assert scheme_doc["description"] == "Our IdP"
    assert list(scheme_doc["flows"]) == [flow]
    assert scheme_doc["flows"][flow] == {**expected, "scopes": scopes}
    assert document["paths"]["/read"]["get"]["security"] == [{"idp": ["read"]}]
