"""``jwt-guard inspect``: decode without verifying, warn about dangerous shapes."""

from __future__ import annotations

import json
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwt_guard.cli import main
from jwt_guard.cli._common import CommandError
from jwt_guard.cli._inspect import inspect_token
from jwt_guard.testing import LocalIssuer, b64url, encode_segments

NOW = 1_800_000_000


def unsigned(header: dict, claims: dict, signature: bytes = b"signature") -> str:
    """A compact JWS with an arbitrary header and claims (not really signed)."""
    return f"{encode_segments(header, claims)}.{b64url(signature) if signature else ''}"


GOOD_HEADER = {"alg": "RS256", "typ": "at+jwt", "kid": "k1"}
GOOD_CLAIMS = {"iss": "https://idp.example.test/", "aud": "api", "sub": "alice", "iat": NOW - 60, "exp": NOW + 240}


def test_prints_header_claims_and_times_marked_unverified(run):
    issuer = LocalIssuer(audience="api", algorithm="EdDSA")
    token = issuer.token(scope="read write", sub="alice", expires_in=3600)
    result = run("inspect", token)
    assert result.code == 0
    assert result.out.startswith("UNVERIFIED")
    assert '"sub": "alice"' in result.out
    assert '"kid": "' + issuer.signing_key.kid + '"' in result.out
    assert "times (UTC):" in result.out
    assert "expires in " in result.out
    assert "UTC" in result.out
    assert "warnings: none" in result.out


def test_expired_token_says_how_long_ago(run):
    token = LocalIssuer(algorithm="EdDSA").token(expires_in=-7200)
    result = run("inspect", token)
    assert result.code == 0
    assert "expired 2 hours" in result.out
    assert "the token has expired" in result.out


def test_reads_stdin_and_strips_a_pasted_authorization_header(run):
    token = LocalIssuer(algorithm="EdDSA").token(sub="bob")
    result = run("inspect", "-", stdin=f"Authorization: Bearer {token}\n")
    assert result.code == 0
    assert '"sub": "bob"' in result.out


def test_json_output(run):
    token = unsigned({"alg": "none"}, {"sub": "x", "exp": NOW}, signature=b"")
    result = run("inspect", "--json", token)
    assert result.code == 0
    document = json.loads(result.out)
    assert document["verified"] is False
    assert document["header"] == {"alg": "none"}
    assert document["claims"]["sub"] == "x"
    assert "exp" in document["times"]
    assert any("unsigned" in warning for warning in document["warnings"])


@pytest.mark.parametrize(
    ("header", "claims", "expected"),
    [
        pytest.param({"alg": "none"}, GOOD_CLAIMS, 'alg "none": the token is unsigned', id="alg-none"),
        pytest.param({"alg": "NONE"}, GOOD_CLAIMS, 'alg "none"', id="alg-none-uppercase"),
        pytest.param({"alg": "HS256"}, GOOD_CLAIMS, "is symmetric", id="hs256"),
        pytest.param({"alg": "XS999"}, GOOD_CLAIMS, "not an algorithm jwt_guard accepts", id="unknown-alg"),
        pytest.param({"typ": "JWT"}, GOOD_CLAIMS, "names no algorithm", id="no-alg"),
        pytest.param({**GOOD_HEADER, "jku": "https://evil.example/jwks"}, GOOD_CLAIMS, 'header "jku"', id="jku"),
        pytest.param({**GOOD_HEADER, "x5u": "https://evil.example/cert"}, GOOD_CLAIMS, 'header "x5u"', id="x5u"),
        pytest.param({**GOOD_HEADER, "jwk": {"kty": "RSA"}}, GOOD_CLAIMS, 'header "jwk"', id="jwk"),
        pytest.param({**GOOD_HEADER, "x5c": ["MIIB"]}, GOOD_CLAIMS, 'header "x5c"', id="x5c"),
        pytest.param({**GOOD_HEADER, "crit": ["exp"]}, GOOD_CLAIMS, "crit", id="crit"),
        pytest.param({**GOOD_HEADER, "typ": "id_token"}, GOOD_CLAIMS, "not an access-token type", id="typ"),
        pytest.param(GOOD_HEADER, {k: v for k, v in GOOD_CLAIMS.items() if k != "exp"}, "no expiry", id="no-exp"),
        pytest.param(GOOD_HEADER, {**GOOD_CLAIMS, "exp": NOW - 1}, "has expired", id="expired"),
        pytest.param(GOOD_HEADER, {**GOOD_CLAIMS, "exp": NOW + 7 * 86400}, "long-lived token (7 days", id="long"),
        pytest.param(GOOD_HEADER, {**GOOD_CLAIMS, "nbf": NOW + 60}, "not valid yet", id="nbf-future"),
        pytest.param(GOOD_HEADER, {**GOOD_CLAIMS, "iat": NOW + 60}, "issued in the future", id="iat-future"),
        pytest.param(GOOD_HEADER, {k: v for k, v in GOOD_CLAIMS.items() if k != "iss"}, "no iss claim", id="no-iss"),
        pytest.param(GOOD_HEADER, {k: v for k, v in GOOD_CLAIMS.items() if k != "aud"}, "no aud claim", id="no-aud"),
        pytest.param(GOOD_HEADER, {**GOOD_CLAIMS, "nonce": "n"}, "ID token", id="id-token-nonce"),
        pytest.param(GOOD_HEADER, {**GOOD_CLAIMS, "token_use": "id"}, "ID token", id="cognito-id-token"),
        pytest.param(GOOD_HEADER, {**GOOD_CLAIMS, "pad": "x" * 9000}, "over jwt_guard's default limit", id="large"),
    ],
)
def test_warnings(header, claims, expected):
    result = inspect_token(unsigned(header, claims), NOW)
    assert any(expected in warning for warning in result.warnings), result.warnings


def test_a_well_formed_token_has_no_warnings():
    assert inspect_token(unsigned(GOOD_HEADER, GOOD_CLAIMS), NOW).warnings == []


@pytest.mark.parametrize(
    ("header", "claims", "segment"),
    [
        pytest.param(b'{"alg":"RS256","alg":"none"}', json.dumps(GOOD_CLAIMS).encode(), "header", id="header"),
        pytest.param(
            json.dumps(GOOD_HEADER).encode(),
            json.dumps(GOOD_CLAIMS).encode()[:-1] + b',"sub":"root"}',
            "claims",
            id="claims",
        ),
        pytest.param(
            json.dumps(GOOD_HEADER).encode(),
            json.dumps(GOOD_CLAIMS).encode()[:-1] + b',"x":{"r":1,"r":2}}',
            "claims",
            id="nested",
        ),
    ],
)
def test_duplicate_names_are_flagged(header, claims, segment):
    """A duplicate member is shown last-wins, with a warning that jwt_guard refuses the token."""
    result = inspect_token(f"{b64url(header)}.{b64url(claims)}.{b64url(b'sig')}", NOW)
    assert any(f"the {segment} names a member twice" in warning for warning in result.warnings), result.warnings


def test_empty_signature_is_flagged():
    result = inspect_token(unsigned(GOOD_HEADER, GOOD_CLAIMS, signature=b""), NOW)
    assert "the signature segment is empty" in result.warnings


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("", "no token given", id="empty"),
        pytest.param("Bearer ", "no token given", id="bearer-only"),
        pytest.param("abc", "three dot-separated segments; this input has 1", id="one-segment"),
        pytest.param("a.b", "this input has 2", id="two-segments"),
        pytest.param("a.b.c.d.e", "encrypted token (JWE", id="jwe"),
        pytest.param("a b", "more than one word", id="two-words"),
        pytest.param("e30=.e30.c2ln", "header segment is not valid base64url", id="padding"),
        pytest.param("***.e30.c2ln", "header segment is not valid base64url", id="alphabet"),
        pytest.param(f"{b64url('[1]')}.e30.c2ln", "header segment is not a JSON object", id="header-array"),
        pytest.param(f"{b64url(b'{')}.e30.c2ln", "header segment is not a JSON object", id="header-bad-json"),
        pytest.param(f"e30.{b64url('null')}.c2ln", "claims segment is not a JSON object", id="claims-null"),
        pytest.param("e30.e30.***", "signature segment is not valid base64url", id="signature-alphabet"),
        pytest.param("e30.\u00e9.c2ln", "claims segment is not valid base64url", id="non-ascii"),
        pytest.param(b64url("[" * 5000) + ".e30.c2ln", "header segment is not a JSON object", id="deep-json"),
    ],
)
def test_malformed_input_is_one_line_and_exit_2(run, raw, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        inspect_token(raw, NOW)
    result = run("inspect", "-", stdin=raw)
    assert result.code == 2
    assert result.out == ""
    assert result.err.count("\n") == 1
    assert result.err.startswith("jwt-guard inspect: error: ")
    assert message.split(";")[0] in result.err


def test_oversized_input_is_refused(run):
    result = run("inspect", "-", stdin="a" * (1024 * 1024 + 10))
    assert result.code == 2
    assert "larger than" in result.err


def test_hostile_claims_cannot_reach_the_terminal_raw(run):
    """Control characters and bidi overrides from a token are printed escaped."""
    token = unsigned(GOOD_HEADER, {**GOOD_CLAIMS, "sub": "\x1b]0;pwned\x07\u202e"})
    result = run("inspect", token)
    assert result.code == 0
    assert "\x1b" not in result.out
    assert "\u202e" not in result.out
    assert "\\u001b" in result.out


@given(st.text(max_size=300))
def test_never_a_traceback_for_any_text(text):
    try:
        inspect_token(text, NOW)
    except CommandError as error:
        assert "\n" not in error.message


@given(st.lists(st.binary(max_size=40), min_size=3, max_size=3))
def test_never_a_traceback_for_any_segments(parts):
    try:
        inspect_token(".".join(b64url(part) for part in parts), NOW)
    except CommandError as error:
        assert "\n" not in error.message


def test_real_clock_is_used(run):
    """A token minted now reads as issued seconds ago, not in the future."""
    token = LocalIssuer(algorithm="EdDSA", clock=time.time).token()
    out = run("inspect", token).out
    assert "in the future" not in out


def test_inspect_needs_a_token_argument(capsys):
    assert main(["inspect"]) == 2
    assert "the following arguments are required: TOKEN" in capsys.readouterr().err
