"""``jwt-guard token``: a token from a running development issuer."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator

import pytest

from jwt_guard import DPoPContext, DPoPOptions, Verifier
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard.testing import KeyServer, LocalIssuer, LocalServer
from jwt_guard.testing._keyserver import Reply
from tests.conftest import signing_key

AUDIENCE = "https://api.example.test"


def _server(**options: object) -> LocalServer:
    issuer = LocalIssuer("http://127.0.0.1/dev", audience=AUDIENCE, keys=[signing_key("ES256")])
    return LocalServer(issuer, keys=KeyServer(issuer, **options))


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with _server() as running:
        yield running


def test_prints_only_the_token(run, server):
    result = run("token", "--issuer", server.issuer_url, "--scope", "read", "--scope", "write delete")
    assert result.code == 0, result.err
    token = result.out.strip()
    assert result.out == token + "\n"
    with Verifier(issuer=server.issuer_url, audience=AUDIENCE) as verifier:
        verified = verifier.verify(token)
    assert verified.scopes == {"read", "write", "delete"}
    assert verified.subject == "dev-client"


def test_options_reach_the_token_endpoint(run, server):
    result = run(
        "token", "--issuer", server.issuer_url, "--audience", "my-api", "--sub", "alice", "--client-id", "cli", "--json"
    )
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["token_type"] == "Bearer"
    assert "scope" not in answer
    with Verifier(issuer=server.issuer_url, audience="my-api") as verifier:
        verified = verifier.verify(answer["access_token"])
    assert (verified.subject, verified.client_id, verified.scopes) == ("alice", "cli", frozenset())
    form = [request for request in server.keys.requests if request.method == "POST"]
    assert len(form) == 1


@pytest.mark.parametrize(
    ("issuer", "message"),
    [
        pytest.param("https://idp.example.test/", "only talks to a local development issuer", id="remote"),
        pytest.param("ftp://127.0.0.1/", "only talks to a local development issuer", id="scheme"),
        pytest.param("http://127.0.0.1:99999/", "not a valid URL", id="bad-port"),
        pytest.param("http://dev:pw@127.0.0.1:9000/", "only talks to a local development issuer", id="credentials"),
    ],
)
def test_refuses_non_loopback_issuers(run, issuer, message):
    result = run("token", "--issuer", issuer)
    assert result.code == 2
    assert message in result.err


def test_nothing_listening_exits_3(run):
    with _server() as stopped:
        url = stopped.issuer_url
    result = run("token", "--issuer", url, "--timeout", "5")
    assert result.code == 3
    assert "is `jwt-guard dev-issuer` running?" in result.err
    assert "Traceback" not in result.err


def test_no_discovery_document_exits_3(run, server):
    result = run("token", "--issuer", server.url + "/elsewhere")
    assert result.code == 3
    assert "no discovery document" in result.err


def test_refused_request_exits_1(run):
    with _server(token_endpoint=False) as running:
        result = run("token", "--issuer", running.issuer_url, "--scope", "read")
    assert result.code == 1
    assert 'the token endpoint refused the request: HTTP 404 "not_found"' in result.err


def test_token_endpoint_must_be_on_loopback(run, server, monkeypatch):
    original = server.issuer.discovery

    def elsewhere(**options: object) -> dict:
        document = original(**options)
        document["token_endpoint"] = "https://tokens.example.test/oauth/token"
        return document

    monkeypatch.setattr(server.issuer, "discovery", elsewhere)
    result = run("token", "--issuer", server.issuer_url)
    assert result.code == 2
    assert "not on loopback" in result.err


# -- --dpop: a DPoP-bound token and a proof for one request ---------------------------------

API_URL = "https://api.example.test/items"


def _verify_dpop(server: LocalServer, token: str, proof: str, method: str = "GET", url: str = API_URL) -> DPoPContext:
    context = DPoPContext(proof, method, url)
    with Verifier(issuer=server.issuer_url, audience=AUDIENCE, dpop=DPoPOptions()) as verifier:
        verifier.verify(token, dpop=context)
    return context


def test_dpop_prints_two_header_lines_for_curl(run, server):
    result = run("token", "--issuer", server.issuer_url, "--dpop", "--url", API_URL + "?q=1", "--scope", "read")
    assert result.code == 0, result.err
    authorization, dpop = result.out.splitlines()
    assert authorization.startswith("Authorization: DPoP ") and dpop.startswith("DPoP: ")
    token, proof = authorization.removeprefix("Authorization: DPoP "), dpop.removeprefix("DPoP: ")
    context = _verify_dpop(server, token, proof)
    assert context.result is not None
    # The token endpoint saw a proof of the same key (RFC 9449 §5).
    posted = [request for request in server.keys.requests if request.method == "POST"]
    assert len(posted) == 1 and "dpop" in posted[0].headers


def test_dpop_json_and_method(run, server):
    result = run("token", "--issuer", server.issuer_url, "--dpop", "--method", "DELETE", "--url", API_URL, "--json")
    assert result.code == 0, result.err
    answer = json.loads(result.out)
    assert answer["token_type"] == "DPoP"
    assert answer["dpop"]["method"] == "DELETE" and answer["dpop"]["url"] == API_URL
    context = _verify_dpop(server, answer["access_token"], answer["dpop"]["proof"], "DELETE")
    assert context.result is not None and context.result.thumbprint == answer["dpop"]["jkt"]


def test_dpop_with_a_nonce(run, server):
    nonces = DPoPNonces(b"k" * 32)
    nonce = nonces.issue(time.time())
    result = run("token", "--issuer", server.issuer_url, "--dpop", "--url", API_URL, "--nonce", nonce, "--json")
    answer = json.loads(result.out)
    context = DPoPContext(answer["dpop"]["proof"], "GET", API_URL)
    options = DPoPOptions(nonce_secret=b"k" * 32)
    with Verifier(issuer=server.issuer_url, audience=AUDIENCE, dpop=options) as verifier:
        verifier.verify(answer["access_token"], dpop=context)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        pytest.param(["--dpop"], "--dpop needs --url", id="no-url"),
        pytest.param(["--url", API_URL], "go with --dpop", id="url-without-dpop"),
        pytest.param(["--dpop", "--url", "/items"], "absolute http(s) or ws(s) URL", id="relative-url"),
        pytest.param(["--dpop", "--url", API_URL, "--method", "GET POST"], "HTTP method", id="bad-method"),
    ],
)
def test_dpop_usage_errors(run, server, arguments, message):
    result = run("token", "--issuer", server.issuer_url, *arguments)
    assert result.code == 2
    assert message in result.err


def test_dpop_with_an_issuer_that_does_not_bind(run, server):
    def unbound(method, url, headers, body):
        if method == "POST":
            document = {"access_token": server.issuer.token(), "token_type": "Bearer"}
            return Reply(200, {"content-type": "application/json"}, json.dumps(document).encode())
        return None

    server.keys.routes.append(unbound)
    result = run("token", "--issuer", server.issuer_url, "--dpop", "--url", API_URL)
    assert result.code == 1
    assert "did not bind" in result.err


def test_curl_sends_the_printed_headers(run, server, tmp_path):
    """The printed lines, handed to curl with -H @file, get through a DPoP-protected API."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from jwt_guard.asgi import JWTGuardMiddleware, get_access_token
    from tests.asgi.conftest import serve
    from tests.support.services import require_binary

    curl = require_binary("curl", "apt-get install curl")

    async def me(request):
        return PlainTextResponse(get_access_token(request).subject)

    verifier = Verifier(issuer=server.issuer_url, audience=AUDIENCE, dpop=DPoPOptions(required=True))
    app = JWTGuardMiddleware(Starlette(routes=[Route("/me", me)]), verifier=verifier)
    with serve(app, lifespan="off") as api:
        result = run("token", "--issuer", server.issuer_url, "--dpop", "--url", api.url + "/me", "--audience", AUDIENCE)
        assert result.code == 0, result.err
        headers = tmp_path / "headers.txt"
        headers.write_text(result.out)
        command = [curl, "-s", "-H", f"@{headers}", "-w", " %{http_code}", api.url + "/me"]
        first = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
        again = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    assert first.stdout == "dev-client 200"
    assert again.stdout.endswith(" 401") and "invalid_dpop_proof" in again.stdout  # a proof is good once
