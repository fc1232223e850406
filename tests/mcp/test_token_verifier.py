"""jwt_guard.mcp: the SDK's TokenVerifier protocol backed by a jwt_guard
Verifier, the SDK settings helper, and 503 instead of 500 during outages."""

from __future__ import annotations

import importlib
import json
import socket
import sys
import warnings

import httpx
import pytest

pytest.importorskip(
    "mcp.server.auth.provider", reason="the MCP Python SDK is not installed: pip install 'jwt-guard[mcp]'"
)

from mcp.server.auth.provider import AccessToken as SDKAccessToken
from mcp.server.auth.settings import AuthSettings

from jwt_guard import ConfigurationError, KeySetUnavailable, ProtectedResource, StoreUnavailable, Verifier
from jwt_guard.mcp import ServiceUnavailableMiddleware, TokenVerifier, auth_settings, to_sdk_token
from jwt_guard.stores import MemoryStore, RedisStore
from jwt_guard.testing import LocalIssuer, mock_transport
from tests.mcp.conftest import load_example

pytestmark = pytest.mark.anyio

RESOURCE = "https://api.example.test/mcp"
IDP = "https://idp.example.test/"


@pytest.fixture
def issuer(clock) -> LocalIssuer:
    issuer = LocalIssuer(IDP, audience=RESOURCE, clock=clock)
    return issuer


@pytest.fixture
def resource() -> ProtectedResource:
    return ProtectedResource(resource=RESOURCE, authorization_servers=[IDP], scopes_supported=["mcp:tools"])


@pytest.fixture
def verifier(issuer, clock) -> Verifier:
    return issuer.verifier(clock=clock)


async def test_valid_token_becomes_the_sdk_access_token(issuer, verifier, resource):
    raw = issuer.token(scope="mcp:tools read", sub="alice", client_id="cli", exp=1_800_000_300.9)
    token = await TokenVerifier(verifier, resource=resource).verify_token(raw)
    assert isinstance(token, SDKAccessToken)
    assert token.token == raw
    assert token.client_id == "cli"
    assert token.scopes == ["mcp:tools", "read"]
    assert token.expires_at == 1_800_000_300
    assert token.resource == RESOURCE
    assert token.subject == "alice"
    assert token.claims is not None and token.claims["iss"] == IDP and token.claims["aud"] == RESOURCE


@pytest.mark.parametrize(
    ("claims", "headers"),
    [
        pytest.param({"expires_in": -3600}, None, id="expired"),
        pytest.param({"aud": "https://other.example.test/mcp"}, None, id="other-audience"),
        pytest.param({"aud": RESOURCE + "/"}, None, id="audience-with-trailing-slash"),
        pytest.param({"aud": None}, None, id="no-audience"),
        pytest.param({"iss": "https://evil.example.test/"}, None, id="other-issuer"),
        pytest.param({}, {"kid": "unknown"}, id="unknown-key"),
        pytest.param({}, {"alg": "HS256"}, id="algorithm-swap"),
    ],
)
async def test_unacceptable_tokens_are_none(issuer, verifier, claims, headers):
    raw = issuer.token(headers=headers, **claims)
    assert await TokenVerifier(verifier).verify_token(raw) is None


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("not-a-jwt", id="garbage"),
        pytest.param("a.b.c", id="three-bad-segments"),
        pytest.param(" " + "x" * 20_000, id="huge"),
        pytest.param("é.é.é", id="non-ascii"),
    ],
)
async def test_malformed_tokens_are_none(verifier, raw):
    assert await TokenVerifier(verifier).verify_token(raw) is None


async def test_forged_signature_is_none(issuer, verifier):
    head, body, _ = issuer.token().split(".")
    other = LocalIssuer(IDP, audience=RESOURCE, kid=issuer.signing_key.kid)
    forged = ".".join([head, body, other.token().split(".")[2]])
    assert await TokenVerifier(verifier).verify_token(forged) is None


async def test_key_server_outage_is_raised_not_a_401(issuer, clock):
    """No keys at all is a 503 situation: never report the token as invalid."""
    keys = issuer.key_server()
    keys.set_fault("status", target="any", status=500)
    transport = mock_transport(keys)
    verifier = Verifier(issuer=IDP, audience=RESOURCE, clock=clock, transport=transport, async_transport=transport)
    with pytest.raises(KeySetUnavailable):
        await TokenVerifier(verifier).verify_token(issuer.token())
    await verifier.aclose()


async def test_resource_selects_the_audience(issuer, clock):
    verifier = issuer.verifier(audience=[RESOURCE, "https://other.example.test"], clock=clock)
    both = issuer.token(aud=["https://other.example.test", RESOURCE])
    other = issuer.token(aud="https://other.example.test")
    pinned = TokenVerifier(verifier, resource=RESOURCE)
    assert (await pinned.verify_token(both)).resource == RESOURCE
    assert await pinned.verify_token(other) is None, "a token for another audience of the verifier"
    loose = TokenVerifier(verifier)
    assert (await loose.verify_token(other)).resource == "https://other.example.test"
    assert (await loose.verify_token(both)).resource == "https://other.example.test"


async def test_token_without_client_has_an_empty_client_id(issuer, verifier):
    token = await TokenVerifier(verifier).verify_token(issuer.token(client_id=None, scope=None))
    assert token.client_id == "" and token.scopes == []
    azp = await TokenVerifier(verifier).verify_token(issuer.token(client_id=None, azp="web"))
    assert azp.client_id == "web"


async def test_to_sdk_token_without_expiry(issuer, clock):
    verified = issuer.verifier(clock=clock, require_exp=False).verify(issuer.token(expires_in=None))
    assert to_sdk_token(verified, resource=None).expires_at is None


@pytest.mark.parametrize(
    ("audience", "resource", "message"),
    [
        pytest.param(None, None, "audience=None", id="audience-check-off"),
        pytest.param(RESOURCE, "https://api.example.test/other", "not one of", id="resource-not-an-audience"),
        pytest.param(RESOURCE, RESOURCE + "/", "trailing slash", id="trailing-slash"),
    ],
)
def test_configuration_errors(issuer, clock, audience, resource, message):
    verifier = issuer.verifier(audience=audience, clock=clock)
    with pytest.raises(ConfigurationError, match=message):
        TokenVerifier(verifier, resource=resource)


def test_needs_a_jwt_guard_verifier():
    with pytest.raises(ConfigurationError, match=r"jwt_guard\.Verifier"):
        TokenVerifier(object())  # type: ignore[arg-type]


def test_repr_and_verifier(verifier):
    token_verifier = TokenVerifier(verifier, resource=RESOURCE)
    assert token_verifier.verifier is verifier
    assert RESOURCE in repr(token_verifier)


def test_auth_settings(resource):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        settings = auth_settings(resource)
    assert isinstance(settings, AuthSettings)
    assert str(settings.issuer_url) == IDP
    assert str(settings.resource_server_url) == RESOURCE
    assert settings.validate_token_resource is True
    assert settings.required_scopes == ["mcp:tools"]
    assert auth_settings(resource, required_scopes=["a"]).required_scopes == ["a"]
    bare = ProtectedResource(resource="http://127.0.0.1:8000", authorization_servers=["http://127.0.0.1:9000"])
    assert auth_settings(bare).required_scopes is None
    assert str(auth_settings(bare).resource_server_url) == "http://127.0.0.1:8000", "no trailing slash added"


# -- the SDK application in process ---------------------------------------------------


def sdk_app(verifier: Verifier, resource: ProtectedResource):
    return load_example("mcp_server").create_app(verifier, resource)


async def post_mcp(app, token: str | None, path: str = "/mcp") -> httpx.Response:
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.example.test") as http:
        return await http.post(path, json=body, headers=headers)


@pytest.mark.parametrize(
    "case",
    ["none", "expired", "other-audience", "garbage"],
)
async def test_sdk_answers_401_with_our_metadata_url(issuer, verifier, resource, case):
    token = {
        "none": None,
        "expired": issuer.token(scope="mcp:tools", expires_in=-3600),
        "other-audience": issuer.token(scope="mcp:tools", aud="https://other.example.test/mcp"),
        "garbage": "x.y.z",
    }[case]
    response = await post_mcp(sdk_app(verifier, resource), token)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert f'resource_metadata="{resource.metadata_url}"' in challenge


async def test_sdk_answers_403_for_missing_scope(issuer, verifier, resource):
    response = await post_mcp(sdk_app(verifier, resource), issuer.token(scope="read"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_sdk_metadata_agrees_with_the_protected_resource(verifier, resource):
    """The SDK serves the document at the same RFC 9728 §3.1 path, with the
    same members, as :class:`ProtectedResource` computes."""
    app = sdk_app(verifier, resource)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://api.example.test") as http:
        response = await http.get(resource.well_known_path)
    assert response.status_code == 200
    served = response.json()
    ours = resource.metadata()
    for member in ("resource", "authorization_servers", "scopes_supported", "bearer_methods_supported"):
        assert served[member] == ours[member], member


async def test_outage_is_a_503_with_retry_after(issuer, resource, clock):
    keys = issuer.key_server()
    keys.set_fault("status", target="any", status=500)
    transport = mock_transport(keys)
    verifier = Verifier(issuer=IDP, audience=RESOURCE, clock=clock, transport=transport, async_transport=transport)
    response = await post_mcp(sdk_app(verifier, resource), issuer.token(scope="mcp:tools"))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["error"] == "temporarily_unavailable"
    await verifier.aclose()


async def test_a_revoked_token_is_a_401_and_a_store_outage_a_503(issuer, resource, clock):
    """Revocation answers like any refused token; a store that cannot vouch (closed) like an outage."""
    store = MemoryStore()
    verifier = Verifier(issuer=IDP, audience=RESOURCE, clock=clock, keys=issuer.jwks(), revocation=store)
    token = issuer.token(scope="mcp:tools", jti="stolen")
    store.revoke_token("stolen", issuer=IDP, expires_at=clock() + 600)
    response = await post_mcp(sdk_app(verifier, resource), token)
    assert response.status_code == 401
    assert "resource_metadata=" in response.headers["www-authenticate"]

    # Nothing listens on this port: the store never finishes its first read.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    unreachable = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", store_failure="closed", connect_timeout=0.2)
    try:
        verifier = Verifier(issuer=IDP, audience=RESOURCE, clock=clock, keys=issuer.jwks(), revocation=unreachable)
        with pytest.raises(StoreUnavailable):
            await TokenVerifier(verifier).verify_token(issuer.token(scope="mcp:tools"))
        response = await post_mcp(sdk_app(verifier, resource), issuer.token(scope="mcp:tools"))
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        assert "www-authenticate" not in response.headers
    finally:
        unreachable.close()


async def test_outage_after_the_response_started_is_reraised():
    sent: list[dict] = []

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise KeySetUnavailable()

    async def send(message):
        sent.append(message)

    with pytest.raises(KeySetUnavailable):
        await ServiceUnavailableMiddleware(app)({"type": "http"}, None, send)
    assert [m["status"] for m in sent] == [200]


async def test_other_errors_and_scopes_pass_through():
    calls: list[str] = []

    async def app(scope, receive, send):
        calls.append(scope["type"])
        if scope["type"] == "http":
            raise RuntimeError("a bug stays a bug")

    middleware = ServiceUnavailableMiddleware(app)
    await middleware({"type": "lifespan"}, None, None)
    with pytest.raises(RuntimeError, match="a bug"):
        await middleware({"type": "http"}, None, None)
    assert calls == ["lifespan", "http"]


def test_import_error_names_the_extra(monkeypatch):
    monkeypatch.delitem(sys.modules, "jwt_guard.mcp")
    monkeypatch.setitem(sys.modules, "mcp.server.auth.provider", None)
    with pytest.raises(ImportError, match=r"pip install 'jwt-guard\[mcp\]'"):
        importlib.import_module("jwt_guard.mcp")


async def test_sdk_token_serialises(issuer, verifier):
    """The SDK stores and compares these models: they must round-trip."""
    token = await TokenVerifier(verifier).verify_token(issuer.token(scope="a"))
    assert SDKAccessToken.model_validate(json.loads(token.model_dump_json())) == token
