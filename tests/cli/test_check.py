"""``jwt-guard check``: the diagnosis of a configuration, against a real key
server on 127.0.0.1 and against a MockTransport, every exit code."""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jwt_guard.cli._check import diagnose
from jwt_guard.cli._check_report import render_json, render_text
from jwt_guard.cli._common import flag_setting, variable_setting
from jwt_guard.testing import KeyServer, LocalIssuer, LocalServer, SigningKey, mock_transport
from tests.conftest import signing_key

AUDIENCE = "https://api.example.test"


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch):
    """Set ``JWT_GUARD_*`` variables for an in-process run (none leak in)."""
    import os

    for name in list(os.environ):
        if name.startswith("JWT_GUARD_"):
            monkeypatch.delenv(name)

    def set_variables(**variables: str) -> None:
        for name, value in variables.items():
            monkeypatch.setenv(f"JWT_GUARD_{name}", value)

    return set_variables


@pytest.fixture
def issuer() -> LocalIssuer:
    """An issuer at the root of its host: the discovery document names it without a trailing slash."""
    return LocalIssuer("http://127.0.0.1", audience=AUDIENCE, keys=[signing_key("RS256")])


@pytest.fixture
def served(issuer: LocalIssuer) -> Iterator[LocalServer]:
    with LocalServer(issuer) as server:
        yield server


def no_secrets(text: str, token: str | None, issuer: LocalIssuer) -> None:
    """Neither the token nor key material appears in *text*."""
    if token is not None:
        for part in token.split("."):
            assert part not in text
    for key in issuer.keys:
        for name, value in key.public_jwk().items():
            if name in ("n", "e", "x", "y") and len(value) > 8:
                assert value not in text


# -- against a real key server on 127.0.0.1 ----------------------------------------------------------


def test_trailing_slash_is_a_configuration_error_that_says_what_to_set(run, environment, served, issuer):
    environment(ISSUER=served.issuer_url + "/", AUDIENCE=AUDIENCE)
    result = run("check")
    assert result.code == 2
    assert f"discovered issuer '{served.issuer_url}': DOES NOT MATCH the configured issuer" in result.out
    assert "(issuers must match exactly, trailing slash included)" in result.out
    assert f"     fix: set JWT_GUARD_ISSUER to '{served.issuer_url}'" in result.out
    assert result.out.rstrip().endswith("result: configuration error (exit 2)")
    assert served.keys.jwks_requests == 0
    assert result.err == ""


def test_trailing_slash_with_flags_says_which_flag(run, served):
    result = run("check", "--issuer", served.issuer_url + "/", "--audience", AUDIENCE, "--json")
    assert result.code == 2
    document = json.loads(result.out)
    assert document["result"] == "configuration_error"
    assert document["configuration"]["origin"] == "command line"
    (key_set,) = document["key_sets"]
    assert key_set["discovered_issuer"] == served.issuer_url
    assert key_set["failure"]["reason"] == "issuer_mismatch"
    assert key_set["failure"]["configuration"] is True
    assert document["problems"][0]["fix"].startswith(f"use --issuer '{served.issuer_url}'")


def test_a_healthy_setup_lists_keys_and_clock(run, environment, served, issuer):
    issuer.add_key("ES256", kid="ec-key")
    environment(ISSUER=served.issuer_url, AUDIENCE=AUDIENCE, ALGORITHMS="RS256")
    result = run("check")
    assert result.code == 0, result.out
    kid = issuer.signing_key.kid
    assert f"  discovered issuer '{served.issuer_url}': matches" in result.out
    assert f"  jwks_uri {served.jwks_uri}" in result.out
    assert "  keys: 2 published, 1 usable with the allowlist" in result.out
    assert f"[0]  kid '{kid}'  RSA  2048 bits  alg RS256  use sig  thumbprint " in result.out
    assert "        usable with RS256" in result.out
    assert "[1]  kid 'ec-key'  EC  P-256  alg ES256" in result.out
    assert "        NOT usable: key serves ES256, none of them in the allowlist" in result.out
    # Date has a resolution of one second.
    assert re.search(r"\(this machine's clock: [+-][01] s\)", result.out)
    assert "problems: none" in result.out
    no_secrets(result.out, None, issuer)


def test_a_token_for_another_audience_fails_with_expected_and_received(run, environment, served, issuer):
    environment(ISSUER=served.issuer_url, AUDIENCE=AUDIENCE)
    token = issuer.token(aud="https://other.example.test", scope="read")
    result = run("check", "--token", token, "--require-scope", "read")
    assert result.code == 1
    lines = result.out.splitlines()
    assert '  ok    signature  expected "a valid RS256 signature by key ' in result.out
    assert "  FAIL  aud        expected 'https://api.example.test'; received 'https://other.example.test'" in lines
    assert "                   invalid_audience: the access token is not meant for this audience" in lines
    assert "  ok    scopes     expected 'read'; received 'read'" in lines
    assert (
        "     fix: the token is meant for 'https://other.example.test': if that is this API, "
        "set JWT_GUARD_AUDIENCE to 'https://other.example.test'" in lines
    )
    assert result.out.rstrip().endswith("result: token invalid (exit 1)")
    no_secrets(result.out + result.err, token, issuer)


def test_every_check_of_a_good_token_passes(run, environment, served, issuer):
    environment(ISSUER=served.issuer_url, AUDIENCE=AUDIENCE)
    token = issuer.token(scope="read write")
    result = run("check", "--token", "-", "--require-scope", "write", "--json", stdin=f"Bearer {token}\n")
    assert result.code == 0, result.out
    document = json.loads(result.out)
    checks = {check["name"]: check for check in document["token"]}
    assert all(check["passed"] for check in checks.values())
    assert {"structure", "alg", "kid", "signature", "typ", "exp", "nbf", "iat", "iss", "aud", "scopes"} <= set(checks)
    assert checks["iss"]["expected"] == served.issuer_url
    assert checks["scopes"]["received"] == ["read", "write"]
    no_secrets(result.out, token, issuer)


def test_expired_and_foreign_tokens_fail_every_failing_check(run, environment, served, issuer):
    environment(ISSUER=served.issuer_url, AUDIENCE=AUDIENCE, LEEWAY="30")
    forged = issuer.token(
        iss="https://evil.example.test/",
        expires_in=-600,
        key=SigningKey("RS256", kid=issuer.signing_key.kid, private_key=signing_key("PS256").private_key),
    )
    result = run("check", "--token", forged, "--json")
    assert result.code == 1
    failed = {check["name"]: check for check in json.loads(result.out)["token"] if not check["passed"]}
    assert set(failed) == {"signature", "exp", "iss"}
    assert failed["exp"]["reason"] == "expired"
    assert failed["exp"]["expected"] == "in the future (leeway 30 s)"
    assert failed["iss"]["received"] == "https://evil.example.test/"
    assert failed["signature"]["reason"] == "invalid_signature"


def test_an_unreachable_issuer_exits_3(run, environment, served):
    url = served.issuer_url
    served.stop()
    environment(ISSUER=url, AUDIENCE=AUDIENCE)
    result = run("check", "--timeout", "5")
    assert result.code == 3
    assert f"  GET {url}/.well-known/openid-configuration -> failed (ConnectError)" in result.out
    assert "the server could not be reached" in result.out
    assert "fix: check that the issuer URL is right and that this machine can reach it" in result.out
    assert result.out.rstrip().endswith("result: keys unavailable (exit 3)")


def test_static_keys_from_a_keys_file(run, environment, issuer, tmp_path: Path):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(issuer.jwks()))
    environment(ISSUER=issuer.issuer, AUDIENCE=AUDIENCE, KEYS_FILE=str(path))
    token = issuer.token()
    result = run("check", "--token", token)
    assert result.code == 0, result.out
    assert "static keys (no network)" in result.out
    assert "        usable with RS256" in result.out
    no_secrets(result.out, token, issuer)


# -- usage ----------------------------------------------------------------------------------------


def test_missing_variables_say_what_to_set(run, environment):
    result = run("check")
    assert result.code == 2
    assert result.err.startswith("jwt-guard check: error: JWT_GUARD_ISSUER is not set")
    assert "(or configure with --issuer and --audience)" in result.err
    assert result.out == ""


def test_flags_that_configure_need_issuer(run, environment):
    environment(ISSUER="https://idp.example.test/", AUDIENCE=AUDIENCE)
    result = run("check", "--audience", "x", "--leeway", "5")
    assert result.code == 2
    assert "--audience, --leeway need --issuer" in result.err


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        pytest.param({"ISSUER": "https://idp.example.test/", "AUDIENCE": "a", "LEEWAY": "x"}, "JWT_GUARD_LEEWAY"),
        pytest.param({"ISSUER": "https://login.microsoftonline.com/{tenantid}/v2.0", "AUDIENCE": "a"}, "is a template"),
        pytest.param({"ISSUER": "https://idp.example.test/", "AUDIENCES": "a"}, "did you mean JWT_GUARD_AUDIENCE"),
    ],
)
def test_bad_variables_exit_2_naming_them(run, environment, variables, message):
    environment(**variables)
    result = run("check")
    assert result.code == 2
    assert message in result.err


def test_env_prefix(run, monkeypatch, served):
    monkeypatch.setenv("MYAPI_ISSUER", served.issuer_url)
    monkeypatch.setenv("MYAPI_AUDIENCE", AUDIENCE)
    result = run("check", "--env-prefix", "MYAPI_")
    assert result.code == 0, result.out + result.err
    assert "configuration from the environment (MYAPI_*)" in result.out


# -- against a MockTransport: clock skew, broken documents -----------------------------------------


def _transport_with_date(server: KeyServer, offset: float) -> httpx.MockTransport:
    inner = mock_transport(server)

    def handler(request: httpx.Request) -> httpx.Response:
        response = inner.handle_request(request)
        response.headers["date"] = email.utils.formatdate(time.time() + offset, usegmt=True)
        return response

    return httpx.MockTransport(handler)


def options_for(local: LocalIssuer, **extra):
    return {"issuer": local.issuer, "audience": AUDIENCE} | extra


@pytest.mark.parametrize(("offset", "problem"), [(-600, r"(599|600|601) s ahead of"), (300, r"(299|300|301) s behind")])
def test_clock_skew_beyond_the_leeway_is_a_problem(offset, problem):
    issuer = LocalIssuer("https://idp.example.test/", audience=AUDIENCE, keys=[signing_key("ES256")])
    transport = _transport_with_date(KeyServer(issuer), offset)
    report = diagnose(options_for(issuer), origin="test", setting=flag_setting, transport=transport)
    (key_set,) = report.key_sets
    assert key_set.skew is not None and abs(key_set.skew + offset) <= 2
    (found,) = report.problems
    assert re.match(f"this machine's clock is {problem} the key server's", found["problem"])
    assert "more than the leeway (60 s)" in found["problem"]
    assert found["fix"].startswith("synchronise the clocks")
    assert report.exit_code == 0  # keys are there; the skew is reported, not fatal


def test_small_skew_is_not_a_problem():
    issuer = LocalIssuer("https://idp.example.test/", audience=AUDIENCE, keys=[signing_key("ES256")])
    report = diagnose(
        options_for(issuer), origin="test", setting=flag_setting, transport=_transport_with_date(KeyServer(issuer), -20)
    )
    assert report.problems == []
    assert re.search(r"\(this machine's clock: \+(19|20|21) s\)", render_text(report))


def test_mock_trailing_slash_makes_no_jwks_request_and_phrases_the_fix_for_variables():
    issuer = LocalIssuer("https://idp.example.test", audience=AUDIENCE, keys=[signing_key("ES256")])
    server = KeyServer(issuer)
    report = diagnose(
        options_for(issuer, issuer="https://idp.example.test/"),
        origin="environment (APP_*)",
        setting=variable_setting("APP_"),
        transport=mock_transport(server),
    )
    assert report.exit_code == 2
    assert server.jwks_requests == 0
    assert report.problems[0]["fix"] == (
        "set APP_ISSUER to 'https://idp.example.test' (the issuer its discovery document names)"
    )
    assert render_json(report)["result"] == "configuration_error"


@pytest.mark.parametrize(
    ("fault", "code", "says"),
    [
        pytest.param("not_jwks", 3, "keys: the key set is not a JWK Set", id="not-jwks"),
        pytest.param("empty_keys", 3, "no key of the set serves an allowed algorithm", id="empty"),
        pytest.param("status", 3, "-> HTTP 500", id="jwks-500"),
    ],
)
def test_broken_key_sets_are_described(fault, code, says):
    issuer = LocalIssuer("https://idp.example.test/", audience=AUDIENCE, keys=[signing_key("ES256")])
    server = KeyServer(issuer)
    server.set_fault(fault, status=500)
    report = diagnose(options_for(issuer), origin="test", setting=flag_setting, transport=mock_transport(server))
    assert report.exit_code == code
    assert says in render_text(report)


def test_hostile_values_are_escaped_in_text_output():
    issuer = LocalIssuer("https://idp.example.test/", audience=AUDIENCE, keys=[signing_key("ES256")])
    issuer.publish_raw({"kty": "RSA", "kid": "\x1b[31mred\u202e", "n": "AQAB", "e": "AQAB"})
    token = issuer.token(aud="\x1b]0;owned\x07", sub="\u202eevil")
    report = diagnose(
        options_for(issuer),
        origin="test",
        setting=flag_setting,
        token=token,
        transport=mock_transport(KeyServer(issuer)),
    )
    text = render_text(report)
    assert text.isascii()
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;owned\\x07" in text
    no_secrets(text + json.dumps(render_json(report)), token, issuer)


def test_a_bad_timeout_is_a_usage_error(run, environment):
    environment(ISSUER="https://idp.example.test/", AUDIENCE=AUDIENCE)
    result = run("check", "--timeout", "0")
    assert result.code == 2
    assert result.err.startswith("jwt-guard check: error: ")
    assert "must be > 0" in result.err


def test_an_issuer_on_another_host_is_named_by_check_though_not_by_503_bodies():
    issuer = LocalIssuer("https://idp.example.test/", audience=AUDIENCE, keys=[signing_key("ES256")])
    server = KeyServer(issuer)
    server.set_fault("issuer_mismatch", target="discovery")
    report = diagnose(
        options_for(issuer),
        origin="environment",
        setting=variable_setting("JWT_GUARD_"),
        transport=mock_transport(server),
    )
    assert report.exit_code == 2
    (key_set,) = report.key_sets
    assert "impostor" not in key_set.failure["description"]  # what a 503 body says
    (problem,) = report.problems
    assert "names issuer 'https://impostor.example.net/', not 'https://idp.example.test/'" in problem["problem"]
    assert problem["fix"] == (
        "set JWT_GUARD_ISSUER to 'https://impostor.example.net/' (the issuer its discovery document names)"
    )
