"""End to end: the MCP SDK's own client, with its own OAuth provider, against
the example MCP server (uvicorn on 127.0.0.1) and the development
authorization server (LocalServer on 127.0.0.1): discovery → 401 →
metadata → registration → authorization → token → tool call."""

from __future__ import annotations

import json
import socket

import httpx
import pytest

pytest.importorskip("mcp.client.auth", reason="the MCP Python SDK is not installed: pip install 'jwt-guard[mcp]'")

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientMetadata, OAuthToken

from jwt_guard import ProtectedResource, Verifier
from jwt_guard.testing import LocalIssuer
from tests.mcp.conftest import (
    REDIRECT_URI,
    SCOPE,
    HeadlessBrowser,
    MemoryStorage,
    Recorder,
    bound_socket,
    load_example,
    uvicorn_on,
)

pytestmark = pytest.mark.anyio


def provider(url: str, browser: HeadlessBrowser, storage: MemoryStorage) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=url,
        client_metadata=OAuthClientMetadata(redirect_uris=[REDIRECT_URI], client_name="jwt_guard tests"),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )


async def call_whoami(url: str, oauth: OAuthClientProvider) -> dict:
    async with httpx2.AsyncClient(auth=oauth) as http, Client(streamable_http_client(url, http_client=http)) as client:
        result = await client.call_tool("whoami", {})
    assert not result.is_error, result
    assert result.structured_content is not None
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content


async def test_sdk_client_discovers_authorizes_and_calls_a_tool(mcp_stack):
    browser, storage = HeadlessBrowser(), MemoryStorage()
    seen = await call_whoami(mcp_stack.url, provider(mcp_stack.url, browser, storage))

    client_id = storage.client_info.client_id
    assert seen == {
        "subject": "alice",
        "client_id": client_id,
        "scopes": [SCOPE],
        "resource": mcp_stack.url,
        "aud": mcp_stack.url,
    }
    # The token the authorization server minted was for this resource (RFC 8707).
    [claims] = mcp_stack.auth.issued
    assert claims["aud"] == mcp_stack.url
    assert claims["scope"] == SCOPE and claims["client_id"] == client_id
    assert storage.tokens.scope == SCOPE and storage.tokens.refresh_token

    # The client found everything by itself: a 401 pointing at the metadata, ...
    mcp_seen = mcp_stack.recorder.seen
    assert mcp_seen[0] == ("POST", "/mcp", 401)
    assert ("GET", mcp_stack.resource.well_known_path, 200) in mcp_seen
    assert mcp_seen.index(("GET", "/.well-known/oauth-protected-resource/mcp", 200)) == 1
    assert ("POST", "/mcp", 200) in mcp_seen
    # ... then the authorization server's metadata, registration, the
    # authorization redirect with PKCE and the resource, and the token.
    as_paths = [(r.method, r.path) for r in mcp_stack.as_server.keys.requests]
    assert as_paths[:4] == [
        ("GET", "/.well-known/oauth-authorization-server/issuer"),
        ("POST", "/issuer/oauth/register"),
        ("GET", "/issuer/oauth/authorize"),
        ("POST", "/issuer/oauth/token"),
    ]
    [authorize] = browser.visited
    assert "code_challenge_method=S256" in authorize
    assert httpx.URL(authorize).params["resource"] == mcp_stack.url
    assert httpx.URL(authorize).params["scope"] == SCOPE
    assert browser.answer["iss"] == mcp_stack.as_server.issuer_url


async def test_stored_token_is_reused_without_a_new_flow(mcp_stack):
    browser, storage = HeadlessBrowser(), MemoryStorage()
    await call_whoami(mcp_stack.url, provider(mcp_stack.url, browser, storage))
    again = HeadlessBrowser()
    seen = await call_whoami(mcp_stack.url, provider(mcp_stack.url, again, storage))
    assert seen["resource"] == mcp_stack.url
    assert again.visited == [] and len(mcp_stack.auth.issued) == 1


async def test_token_for_another_audience_is_refused(mcp_stack):
    """A token the same issuer minted for another resource gets 401 with the
    metadata URL; the SDK client then fetches a token for this server."""
    issuer = mcp_stack.auth.issuer
    foreign = issuer.token(scope=SCOPE, aud="http://127.0.0.1:1/mcp", sub="alice")
    own = issuer.token(scope=SCOPE, aud=mcp_stack.url, sub="alice")
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    async with httpx.AsyncClient() as http:
        refused = await http.post(mcp_stack.url, json=body, headers={**headers, "authorization": f"Bearer {foreign}"})
        admitted = await http.post(mcp_stack.url, json=body, headers={**headers, "authorization": f"Bearer {own}"})
        metadata = await http.get(mcp_stack.resource.metadata_url)
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{mcp_stack.resource.metadata_url}"' in challenge
    assert admitted.status_code != 401 and admitted.status_code != 403, admitted.text
    assert metadata.json()["resource"] == mcp_stack.url
    assert metadata.json()["authorization_servers"] == [mcp_stack.as_server.issuer_url]

    browser = HeadlessBrowser()
    storage = MemoryStorage(OAuthToken(access_token=foreign, expires_in=300, scope=SCOPE))
    seen = await call_whoami(mcp_stack.url, provider(mcp_stack.url, browser, storage))
    assert seen["aud"] == mcp_stack.url and len(browser.visited) == 1
    assert storage.tokens.access_token != foreign


async def test_key_server_outage_is_a_503(auth_server):
    """With the authorization server's keys unreachable and none cached, the
    MCP server answers 503 with Retry-After: not a 401 that would send the
    client through a pointless new authorization."""
    auth, server = auth_server
    token_issuer: LocalIssuer = auth.issuer
    sock, port = bound_socket()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    dead = f"http://127.0.0.1:{closed.getsockname()[1]}/jwks.json"  # bound, never listening
    resource = ProtectedResource(resource=f"http://127.0.0.1:{port}/mcp", authorization_servers=[server.issuer_url])
    verifier = Verifier(issuer=server.issuer_url, audience=resource.resource, jwks_uri=dead)
    app = Recorder(load_example("mcp_server").create_app(verifier, resource))
    try:
        with uvicorn_on(sock, app):
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    resource.resource,
                    json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    headers={"authorization": f"Bearer {token_issuer.token(scope=SCOPE, aud=resource.resource)}"},
                )
    finally:
        closed.close()
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) >= 1
    assert "www-authenticate" not in response.headers
    assert app.seen == [("POST", "/mcp", 503)]


# -- the same flow against jwt_guard's own middleware (resource=) ----------------------------------


async def test_sdk_client_against_jwt_guards_middleware(middleware_stack):
    """examples/mcp_middleware_server.py: no SDK auth settings; jwt_guard's
    middleware serves the metadata and the 401, and the SDK client still
    finds its way: discovery → 401 → metadata → token → tool call."""
    stack = middleware_stack
    browser, storage = HeadlessBrowser(), MemoryStorage()
    seen = await call_whoami(stack.url, provider(stack.url, browser, storage))

    client_id = storage.client_info.client_id
    assert seen == {"subject": "alice", "client_id": client_id, "scopes": [SCOPE], "aud": [stack.url]}
    [claims] = stack.auth.issued
    assert claims["aud"] == stack.url and claims["scope"] == SCOPE

    # The 401 came from jwt_guard (the SDK has no auth here), then the metadata.
    assert stack.recorder.seen[:2] == [
        ("POST", "/mcp", 401),
        ("GET", "/.well-known/oauth-protected-resource/mcp", 200),
    ]
    assert ("POST", "/mcp", 200) in stack.recorder.seen
    as_paths = [(r.method, r.path) for r in stack.as_server.keys.requests]
    assert as_paths[:4] == [
        ("GET", "/.well-known/oauth-authorization-server/issuer"),
        ("POST", "/issuer/oauth/register"),
        ("GET", "/issuer/oauth/authorize"),
        ("POST", "/issuer/oauth/token"),
    ]
    [authorize] = browser.visited
    assert httpx.URL(authorize).params["resource"] == stack.url
    assert httpx.URL(authorize).params["scope"] == SCOPE


async def test_middleware_answers_what_the_sdk_client_reads(middleware_stack):
    stack = middleware_stack
    issuer = stack.auth.issuer
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    foreign = issuer.token(scope=SCOPE, aud="http://127.0.0.1:1/mcp", sub="alice")
    async with httpx.AsyncClient() as http:
        anonymous = await http.post(stack.url, json=body, headers=headers)
        refused = await http.post(stack.url, json=body, headers={**headers, "authorization": f"Bearer {foreign}"})
        metadata = await http.get(stack.resource.metadata_url, headers={"origin": "https://inspector.example"})
        preflight = await http.options(
            stack.resource.metadata_url,
            headers={"origin": "https://inspector.example", "access-control-request-method": "GET"},
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == f'Bearer resource_metadata="{stack.resource.metadata_url}"'
    assert refused.status_code == 401 and 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert metadata.json() == {
        "resource": stack.url,
        "authorization_servers": [stack.as_server.issuer_url],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
    }
    assert metadata.headers["access-control-allow-origin"] == "*"
    assert preflight.status_code == 204


def test_check_command_against_both_examples(mcp_stack, middleware_stack, capsys):
    """``jwt-guard check --resource`` passes against either way of protecting the server."""
    from jwt_guard.cli import main

    for stack in (mcp_stack, middleware_stack):
        code = main(
            [
                "check",
                "--resource",
                stack.url,
                "--issuer",
                stack.as_server.issuer_url,
                "--audience",
                stack.url,
                "--require-scope",
                SCOPE,
            ]
        )
        out = capsys.readouterr().out
        assert code == 0, out
        assert "[  ok] resource_metadata:" in out and "[  ok] authorization_servers:" in out
