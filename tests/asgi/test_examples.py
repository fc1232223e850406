"""The runnable examples, tested through their app objects with a local issuer."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from jwt_guard import Verifier
from tests.asgi.conftest import asgi_client, bearer, run_websocket

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"jwt_guard_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(params=["starlette_app", "fastapi_app"])
def example(request) -> ModuleType:
    return load(request.param)


@pytest.mark.parametrize(
    ("method", "path", "scope", "status"),
    [
        pytest.param("GET", "/", None, 200, id="public"),
        pytest.param("GET", "/me", None, 401, id="me-anonymous"),
        pytest.param("GET", "/me", "", 200, id="me-any-token"),
        pytest.param("GET", "/messages", None, 401, id="messages-anonymous"),
        pytest.param("GET", "/messages", "write:messages", 403, id="messages-wrong-scope"),
        pytest.param("GET", "/messages", "read:messages", 200, id="messages-scoped"),
        pytest.param("POST", "/messages", "read:messages", 403, id="post-needs-write"),
        pytest.param("POST", "/messages", "read:messages write:messages", 201, id="post-scoped"),
    ],
)
async def test_routes(example, issuer, make_verifier, method, path, scope, status):
    app = example.create_app(make_verifier())
    headers = bearer(issuer.token(scope=scope or None, sub="alice")) if scope is not None else {}
    async with asgi_client(app) as client:
        response = await client.request(method, path, headers=headers)
    assert response.status_code == status, response.text
    if path == "/messages" and status == 200:
        assert response.json() == {"messages": ["hello, alice"]}
    if status in (401, 403):
        assert response.json()["error"] in ("unauthorized", "insufficient_scope")


async def test_starlette_example_websocket(issuer, make_verifier):
    app = load("starlette_app").create_app(make_verifier())
    run = await run_websocket(app, headers=[("Authorization", f"Bearer {issuer.token(scope='read:messages')}")])
    assert run.accepted and run.close is not None and run.close["code"] == 1000
    refused = await run_websocket(app, headers=[("Authorization", f"Bearer {issuer.token()}")], denial=False)
    assert refused.close is not None and refused.close["code"] == 1008


async def test_fastapi_example_documents_scopes(make_verifier):
    app = load("fastapi_app").create_app(make_verifier(), token_url="https://idp.test/oauth/token")
    async with asgi_client(app) as client:
        document = (await client.get("/openapi.json")).json()
    scheme = document["components"]["securitySchemes"]["JWTBearer"]
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == "https://idp.test/oauth/token"
    assert document["paths"]["/messages"]["get"]["security"] == [{"JWTBearer": ["read:messages"]}]
    assert sorted(document["paths"]["/messages"]["post"]["security"][0]["JWTBearer"]) == [
        "read:messages",
        "write:messages",
    ]


def test_configured_from_environment(example, monkeypatch):
    monkeypatch.setenv("JWT_GUARD_ISSUER", "https://idp.example.test/")
    monkeypatch.setenv("JWT_GUARD_AUDIENCE", "https://api.example.test")
    monkeypatch.delenv("JWT_GUARD_JWKS_URI", raising=False)
    verifier = example.verifier_from_env()
    assert isinstance(verifier, Verifier)
    assert verifier.issuers == ("https://idp.example.test/",)
    assert verifier.audiences == ("https://api.example.test",)
    example.create_app()  # builds without network


def test_missing_environment_is_a_clear_exit(example, monkeypatch):
    monkeypatch.delenv("JWT_GUARD_ISSUER", raising=False)
    monkeypatch.delenv("JWT_GUARD_AUDIENCE", raising=False)
    with pytest.raises(SystemExit, match="JWT_GUARD_ISSUER"):
        example.create_app()
