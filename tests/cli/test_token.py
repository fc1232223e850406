"""``jwt-guard token``: a token from a running development issuer."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from jwt_guard import Verifier
from jwt_guard.testing import KeyServer, LocalIssuer, LocalServer
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
