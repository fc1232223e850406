"""``jwt-guard verify`` with opaque tokens: introspection options, the secret
from a file or the environment, and the exit codes of each outcome."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jwt_guard.testing import IntrospectionEndpoint, LocalIssuer, LocalServer, SigningKey
from tests.conftest import signing_key

AUDIENCE = "https://api.example.test"
CLIENT_KEY = SigningKey("ES256", kid="cli-key")


@pytest.fixture
def served() -> Iterator[tuple[LocalIssuer, LocalServer]]:
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE, keys=[signing_key("RS256")])
    endpoint = IntrospectionEndpoint(
        issuer, clients={"cli": "cli-secret"}, key_clients={"cli-jwt": CLIENT_KEY.public_jwk()}
    )
    with LocalServer(issuer, keys=issuer.key_server(introspection=endpoint)) as server:
        yield issuer, server


@pytest.fixture
def secret_file(tmp_path: Path) -> str:
    path = tmp_path / "secret.txt"
    path.write_text("cli-secret\n")
    return str(path)


def base(issuer: LocalIssuer, *extra: str) -> list[str]:
    return ["--issuer", issuer.issuer, "--audience", AUDIENCE, "--introspection-client-id", "cli", *extra]


def test_an_opaque_token_is_valid(run, served, secret_file):
    issuer, _ = served
    token = issuer.opaque_token(scope="read", sub="alice")
    result = run("verify", token, *base(issuer, "--introspection-secret-file", secret_file), "--require-scope", "read")
    assert result.code == 0, result.err
    assert result.out.startswith("VALID: the introspection answer, issuer, audience and expiry check out")
    assert "alice" in result.out


def test_the_secret_can_come_from_the_environment(run, served, monkeypatch):
    issuer, _ = served
    monkeypatch.setenv("JWT_GUARD_INTROSPECTION_CLIENT_SECRET", "cli-secret")
    result = run("verify", issuer.opaque_token(), *base(issuer), "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["valid"] is True


def test_private_key_jwt_from_the_command_line(run, served, tmp_path):
    issuer, _ = served
    key = tmp_path / "client.pem"
    key.write_text(CLIENT_KEY.private_pem())
    argv = ["--issuer", issuer.issuer, "--audience", AUDIENCE, "--introspection-client-id", "cli-jwt"]
    result = run("verify", issuer.opaque_token(), *argv, "--introspection-private-key", str(key))
    assert result.code == 0, result.err


def test_a_revoked_token_is_invalid(run, served, secret_file):
    issuer, _ = served
    token = issuer.opaque_token()
    issuer.revoke(token)
    result = run("verify", token, *base(issuer, "--introspection-secret-file", secret_file), "--json")
    assert result.code == 1
    document = json.loads(result.out)
    assert document["reason"] == "InactiveToken"
    assert document["status"] == 401


def test_wrong_credentials_exit_unavailable(run, served, tmp_path):
    issuer, _ = served
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("nope")
    result = run("verify", issuer.opaque_token(), *base(issuer, "--introspection-secret-file", str(wrong)), "-v")
    assert result.code == 3
    assert "an API would answer 503" in result.err
    assert "refused client 'cli'" in result.err  # the log names the configuration error


def test_without_introspection_an_opaque_token_is_malformed(run, served):
    issuer, _ = served
    result = run("verify", issuer.opaque_token(), "--issuer", issuer.issuer, "--audience", AUDIENCE)
    assert result.code == 1
    assert "MalformedToken" in result.err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--introspection-secret-file", "x"], id="secret-without-client-id"),
        pytest.param(["--introspection-client-id", "cli", "--introspection-secret-file", "/nonexistent"], id="no-file"),
        pytest.param(["--introspection-client-id", "cli"], id="no-secret-at-all"),
    ],
)
def test_usage_errors(run, served, argv, monkeypatch):
    issuer, _ = served
    monkeypatch.delenv("JWT_GUARD_INTROSPECTION_CLIENT_SECRET", raising=False)
    result = run("verify", "opaque-token", "--issuer", issuer.issuer, "--audience", AUDIENCE, *argv)
    assert result.code == 2, result.err
