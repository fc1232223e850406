"""``jwt-guard verify``: the real Verifier from the command line, every exit code."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jwt_guard.testing import LocalIssuer, LocalServer, SigningKey, b64url, encode_segments
from tests.conftest import signing_key

ISSUER = "https://idp.example.test/"
AUDIENCE = "https://api.example.test"


@pytest.fixture
def issuer() -> LocalIssuer:
    """An RS256 issuer on the real clock (the command line reads the real time)."""
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[signing_key("RS256")])
    return issuer


@pytest.fixture
def pem(issuer: LocalIssuer, tmp_path: Path) -> str:
    path = tmp_path / "public.pem"
    path.write_text(issuer.signing_key.public_pem())
    return str(path)


def base(key_file: str, *extra: str) -> list[str]:
    return ["--issuer", ISSUER, "--audience", AUDIENCE, "--key", key_file, *extra]


def test_valid_token_prints_claims_and_scopes(run, issuer, pem):
    result = run("verify", issuer.token(scope="read write", sub="alice"), *base(pem))
    assert result.code == 0, result.err
    assert result.out.startswith("VALID: the signature, issuer, audience and expiry check out.")
    assert "subject   alice" in result.out
    assert "scopes    read write" in result.out
    assert "expires in " in result.out
    assert '"sub": "alice"' in result.out
    assert result.err == ""


def test_valid_token_json(run, issuer, pem):
    result = run("verify", issuer.token(scope="read", sub="alice"), *base(pem, "--json"))
    assert result.code == 0
    document = json.loads(result.out)
    assert document["valid"] is True
    assert document["subject"] == "alice"
    assert document["scopes"] == ["read"]
    assert document["audience"] == [AUDIENCE]
    assert document["claims"]["iss"] == ISSUER
    assert document["header"]["kid"] == issuer.signing_key.kid


@pytest.mark.parametrize("form", ["jwks", "jwk"])
def test_key_file_may_be_json(run, issuer, tmp_path, form):
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(issuer.jwks() if form == "jwks" else issuer.signing_key.public_jwk()))
    assert run("verify", issuer.token(), *base(str(path))).code == 0


@pytest.mark.parametrize(
    ("secret", "written"),
    [
        # A text secret: the newline an editor or echo leaves is not part of it.
        pytest.param(b"correct-horse-battery-staple-0123456789", b"\n", id="text"),
        # A binary secret is read byte for byte: its last byte is 0x0a here.
        pytest.param(bytes(range(0x80, 0xA0)) + b"\n", b"", id="binary-ending-in-0x0a"),
    ],
)
def test_shared_secret_file_with_hs256(run, tmp_path, secret, written):
    key = SigningKey("HS256", kid="shared", private_key=secret)
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[key])
    path = tmp_path / "secret"
    path.write_bytes(secret + written)
    args = ["--issuer", ISSUER, "--audience", AUDIENCE, "--secret-file", str(path), "--algorithm", "HS256"]
    result = run("verify", issuer.token(scope="read"), *args)
    assert result.code == 0, result.err


def test_key_never_reads_a_shared_secret(run, tmp_path):
    """--key takes public keys only: a secret file there is refused, not
    taken as an HMAC key (that was how a public key became one)."""
    key = SigningKey("HS256", kid="shared")
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[key])
    path = tmp_path / "secret"
    path.write_bytes(key.private_key)
    result = run("verify", issuer.token(), *base(str(path), "--algorithm", "HS256"))
    assert result.code == 2
    assert "--key" in result.err


@pytest.mark.parametrize("binary", [False, True], ids=["pem", "der"])
def test_secret_file_refuses_a_public_key(run, issuer, tmp_path, binary):
    """A public key offered as the shared secret is refused, naming what it
    is, with no hint towards HS256: with it, anyone could forge tokens."""
    from cryptography.hazmat.primitives import serialization

    path = tmp_path / "key"
    encoding = serialization.Encoding.DER if binary else serialization.Encoding.PEM
    path.write_bytes(
        issuer.signing_key.public_key.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    args = ["--issuer", ISSUER, "--audience", AUDIENCE, "--secret-file", str(path), "--algorithm", "HS256"]
    result = run("verify", issuer.token(), *args)
    assert result.code == 2
    assert "--secret-file" in result.err
    assert ("DER-encoded public key" if binary else "PEM text") in result.err
    assert "algorithm" not in result.err.split("error:", 1)[1].lower().replace("--algorithm", "")


def test_secret_file_excludes_key(run, tmp_path, pem):
    result = run("verify", "a.b.c", *base(pem, "--secret-file", pem))
    assert result.code == 2
    assert "not allowed with" in result.err


def test_client_id_binds_tokens_without_an_audience(run, issuer, pem):
    args = ["--issuer", ISSUER, "--no-audience", "--key", pem, "--client-id", "web-app"]
    accepted = run("verify", issuer.token(aud=None, client_id="web-app"), *args)
    assert accepted.code == 0, accepted.err
    assert "client    web-app" in accepted.out
    refused = run("verify", issuer.token(aud=None, client_id="another-app"), *args)
    assert refused.code == 1
    assert "invalid_token" in refused.err


def test_token_from_stdin(run, issuer, pem):
    result = run("verify", "-", *base(pem), stdin=f"Bearer {issuer.token(sub='stdin')}\n")
    assert result.code == 0
    assert "subject   stdin" in result.out


def test_required_scopes_granted(run, issuer, pem):
    result = run("verify", issuer.token(scope="read write"), *base(pem, "--require-scope", "read write"))
    assert result.code == 0
    assert "scopes read write granted" in result.out


def test_scope_claim_option(run, issuer, pem):
    token = issuer.token(permissions=["read:messages"])
    result = run(
        "verify", token, *base(pem, "--scope-claim", "permissions", "--require-scope", "read:messages", "--json")
    )
    assert result.code == 0
    assert json.loads(result.out)["scopes"] == ["read:messages"]


def test_no_audience_is_explicit(run, issuer, pem):
    token = issuer.token(aud=None, client_id="app")
    assert run("verify", token, *base(pem)).code == 1
    result = run("verify", token, "--issuer", ISSUER, "--no-audience", "--key", pem)
    assert result.code == 0
    assert "VALID: the signature, issuer and expiry check out." in result.out


def _other_key_token(issuer: LocalIssuer) -> str:
    impostor = SigningKey("RS256", kid=issuer.signing_key.kid, private_key=signing_key("PS256").private_key)
    return issuer.token(key=impostor)


TOKENS = {
    "expired": lambda issuer: issuer.token(expires_in=-3600),
    "wrong-audience": lambda issuer: issuer.token(aud="https://other.example.test"),
    "wrong-issuer": lambda issuer: issuer.token(iss="https://evil.example.test/"),
    "bad-signature": _other_key_token,
    "alg-none": lambda issuer: encode_segments({"alg": "none"}, issuer.claims()) + "." + b64url(b"sig"),
    "unsigned": lambda issuer: encode_segments({"alg": "none"}, issuer.claims()) + ".",
    "alg-hs256": lambda issuer: encode_segments({"alg": "HS256"}, issuer.claims()) + "." + b64url(b"x" * 32),
    "malformed": lambda issuer: "not-a-token",
    "no-exp": lambda issuer: issuer.token(expires_in=None),
    "scope-missing": lambda issuer: issuer.token(scope="read"),
}


@pytest.mark.parametrize(
    ("name", "reason", "error", "status"),
    [
        pytest.param("expired", "ExpiredToken", "invalid_token", 401, id="expired"),
        pytest.param("wrong-audience", "InvalidAudience", "invalid_token", 401, id="wrong-audience"),
        pytest.param("wrong-issuer", "InvalidIssuer", "invalid_token", 401, id="wrong-issuer"),
        pytest.param("bad-signature", "InvalidSignature", "invalid_token", 401, id="bad-signature"),
        pytest.param("alg-none", "UnsupportedAlgorithm", "invalid_token", 401, id="alg-none"),
        pytest.param("unsigned", "MalformedToken", "invalid_token", 401, id="unsigned"),
        pytest.param("alg-hs256", "UnsupportedAlgorithm", "invalid_token", 401, id="alg-confusion"),
        pytest.param("malformed", "MalformedToken", "invalid_token", 401, id="malformed"),
        pytest.param("no-exp", "MissingClaim", "invalid_token", 401, id="no-exp"),
        pytest.param("scope-missing", "InsufficientScope", "insufficient_scope", 403, id="insufficient-scope"),
    ],
)
def test_invalid_tokens_exit_1_with_the_rfc6750_error(run, issuer, pem, name, reason, error, status):
    token = TOKENS[name](issuer)
    args = base(pem, "--require-scope", "write")
    text = run("verify", token, *args)
    assert text.code == 1
    assert text.out == ""
    assert text.err.startswith(f"INVALID: {error}: ")
    assert f"({reason})" in text.err
    assert f'an API would answer {status} with WWW-Authenticate: Bearer error="{error}"' in text.err

    document = json.loads(run("verify", token, *args, "--json").out)
    assert document["valid"] is False
    assert document["status"] == status
    assert document["error"] == error
    assert document["reason"] == reason
    assert document["error_description"]
    assert document["www_authenticate"].startswith(f'Bearer error="{error}"')
    if status == 403:
        assert document["scope"] == "write"


def test_leeway_option(run, issuer, pem):
    token = issuer.token(exp=int(time.time()) - 5)
    assert run("verify", token, *base(pem, "--leeway", "0")).code == 1
    assert run("verify", token, *base(pem, "--leeway", "600")).code == 0


def test_errors_never_echo_the_token(run, issuer, pem):
    token = issuer.token(expires_in=-3600)
    result = run("verify", token, *base(pem, "--json"))
    assert token not in result.out + result.err
    assert token.split(".")[1] not in result.out + result.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--audience", AUDIENCE], "--issuer", id="no-issuer"),
        pytest.param(["--issuer", ISSUER], "one of the arguments --audience --no-audience is required", id="no-aud"),
        pytest.param(["--issuer", ISSUER, "--audience", "a", "--no-audience"], "not allowed with", id="aud-twice"),
        pytest.param(
            ["--issuer", ISSUER, "--audience", "a", "--key", "k", "--jwks-uri", "https://k.example.test/"],
            "not allowed with",
            id="key-and-jwks-uri",
        ),
        pytest.param(
            ["--issuer", ISSUER, "--audience", "a", "--key", "/nonexistent.pem"], "--key: cannot read", id="key-missing"
        ),
        pytest.param(
            ["--issuer", ISSUER, "--audience", "a", "--leeway", "soon"], "not a number of seconds", id="leeway"
        ),
        pytest.param(["--issuer", ISSUER, "--audience", "a", "--leeway", "-1"], "finite number >= 0", id="leeway-neg"),
        pytest.param(["--issuer", ISSUER, "--audience", "a", "--leeway", "nan"], "finite number >= 0", id="leeway-nan"),
        pytest.param(["--issuer", "http://idp.example.test/", "--audience", "a"], "must use https", id="plain-http"),
        pytest.param(["--issuer", ISSUER, "--audience", "a", "--algorithm", "none"], "'none' algorithm", id="alg-none"),
        pytest.param(["--issuer", ISSUER, "--audience", "a", "--algorithm", "HS256"], "shared secret", id="hs-no-key"),
        pytest.param(["--issuer", ISSUER, "--audience", "a", "--algorithm", "RS1"], "unknown or unsupported", id="alg"),
    ],
)
def test_usage_errors_exit_2(run, args, message):
    result = run("verify", "a.b.c", *args)
    assert result.code == 2
    assert message in result.err
    assert result.out == ""


def test_garbage_key_file_exits_2(run, issuer, tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("hello")
    result = run("verify", issuer.token(), *base(str(path)))
    assert result.code == 2
    assert "neither a JWKS document nor PEM text" in result.err


@pytest.fixture
def served() -> Iterator[LocalServer]:
    """A real key server on 127.0.0.1 (plain http is accepted on loopback)."""
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE, keys=[signing_key("ES256")])
    with LocalServer(issuer) as server:
        yield server


def test_keys_through_discovery(run, served):
    token = served.issuer.token(scope="read")
    result = run("verify", token, "--issuer", served.issuer_url, "--audience", AUDIENCE, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["scopes"] == ["read"]
    assert served.keys.discovery_requests == 1


def test_keys_through_jwks_uri(run, served):
    token = served.issuer.token()
    result = run("verify", token, "--issuer", served.issuer_url, "--audience", AUDIENCE, "--jwks-uri", served.jwks_uri)
    assert result.code == 0, result.err
    assert served.keys.discovery_requests == 0


def test_unobtainable_keys_exit_3(run, served):
    served.keys.set_fault("status", target="any", status=500)
    token = served.issuer.token()
    args = ["--issuer", served.issuer_url, "--audience", AUDIENCE]
    text = run("verify", token, *args)
    assert text.code == 3
    assert "\nINVALID: temporarily_unavailable: " in "\n" + text.err
    assert "(KeySetUnavailable)" in text.err
    assert "an API would answer 503 with Retry-After: " in text.err
    assert "jwt_guard: " not in text.err  # library log lines only with --verbose

    document = json.loads(run("verify", token, *args, "--json").out)
    assert document["status"] == 503
    assert document["error"] == "temporarily_unavailable"
    assert document["retry_after"] >= 1
    assert "www_authenticate" not in document


def test_verbose_logs_key_fetches(run, served):
    served.keys.set_fault("status", target="any", status=500)
    result = run("verify", served.issuer.token(), "--issuer", served.issuer_url, "--audience", AUDIENCE, "-v")
    assert result.code == 3
    assert "] jwt_guard: " in result.err


def test_stopped_key_server_exits_3(run, served):
    token = served.issuer.token()
    url = served.issuer_url
    served.stop()
    assert run("verify", token, "--issuer", url, "--audience", AUDIENCE, "--timeout", "5").code == 3


def test_refusals_show_expected_and_received_and_what_to_change(run, issuer, pem):
    token = issuer.token(iss="https://evil.example.test/")
    result = run("verify", token, *base(pem))
    assert result.code == 1
    lines = result.err.splitlines()
    assert lines[1] == "  iss: expected 'https://idp.example.test/', received 'https://evil.example.test/'"
    assert lines[2] == (
        "  fix: the token's issuer is 'https://evil.example.test/': if that is your identity provider, "
        "use --issuer 'https://evil.example.test/'"
    )
    document = json.loads(run("verify", token, *base(pem, "--json")).out)
    assert document["reason_code"] == "invalid_issuer"
    assert document["details"] == {
        "claim": "iss",
        "expected": ["https://idp.example.test/"],
        "received": "https://evil.example.test/",
    }
    assert document["fix"].endswith("use --issuer 'https://evil.example.test/'")


def test_wrong_audience_names_the_token_audience(run, issuer, pem):
    result = run("verify", issuer.token(aud="https://other.example.test"), *base(pem))
    assert result.code == 1
    assert "  aud: expected 'https://api.example.test', received 'https://other.example.test'" in result.err
    assert "if that is this API, use --audience 'https://other.example.test'" in result.err


def test_discovery_naming_another_issuer_is_a_configuration_error(run):
    """The provider is ``http://127.0.0.1:PORT``; --issuer adds a slash. A token
    that carries the configured iss reaches discovery, whose answer says what
    to pass instead: exit 2, not 3 (retrying will not help)."""
    issuer = LocalIssuer("http://127.0.0.1", audience=AUDIENCE, keys=[signing_key("ES256")])
    with LocalServer(issuer) as server:
        configured = server.issuer_url + "/"
        token = issuer.token(iss=configured)
        result = run("verify", token, "--issuer", configured, "--audience", AUDIENCE)
        assert result.code == 2
        assert "(issuers must match exactly, trailing slash included)" in result.err
        assert f"  fix: use --issuer '{server.issuer_url}' (the issuer its discovery document names)" in result.err
        assert "an API would answer 503 with Retry-After: " in result.err
        document = json.loads(run("verify", token, "--issuer", configured, "--audience", AUDIENCE, "--json").out)
        assert server.keys.jwks_requests == 0
    assert document["details"]["configuration"] is True
    assert document["details"]["discovered_issuer"] == server.issuer_url
    assert document["fix"].startswith(f"use --issuer '{server.issuer_url}'")


def test_trailing_slash_token_is_refused_before_any_fetch(run):
    issuer = LocalIssuer("http://127.0.0.1", audience=AUDIENCE, keys=[signing_key("ES256")])
    with LocalServer(issuer) as server:
        result = run("verify", issuer.token(), "--issuer", server.issuer_url + "/", "--audience", AUDIENCE)
        assert result.code == 1
        assert server.keys.requests == []
    assert f"  fix: the token's issuer is '{server.issuer_url}'" in result.err


# -- terminal safety: claims never reach the terminal as control characters ---------------------

#: C0 (ESC, BEL, CR, NUL, LF), DEL and C1 (CSI, OSC) characters an attacker
#: can put in claims a verifier accepts: with them a token could rewrite the
#: terminal (OSC 0 sets the window title, CSI 2J clears the screen) or forge
#: lines of the verdict.
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\r\x00\x7f\x9b31m\x9d0;x\x9c\nscopes    admin"


def _controls(text: str) -> list[str]:
    return [char for char in text if (ord(char) < 0x20 and char != "\n") or 0x7F <= ord(char) <= 0x9F]


def test_human_output_escapes_control_characters_in_claims(run, issuer, pem):
    token = issuer.token(sub=HOSTILE, client_id=HOSTILE, jti=HOSTILE, aud=[AUDIENCE, HOSTILE])
    result = run("verify", token, *base(pem))
    assert result.code == 0, result.err
    assert _controls(result.out) == []
    assert _controls(result.err) == []
    assert "\\x1b]0;pwned\\x07" in result.out  # shown, escaped
    # The newline in the claim cannot fake a verdict line.
    assert not any(line.startswith("scopes") for line in result.out.splitlines())
    subject = next(line for line in result.out.splitlines() if line.startswith("  subject"))
    assert "scopes    admin" in subject


def test_refusal_output_has_no_control_characters(run, issuer, pem):
    token = issuer.token(sub=HOSTILE, aud="https://other.example.test\x1b[2J")
    result = run("verify", token, *base(pem))
    assert result.code == 1
    assert _controls(result.out + result.err) == []


def test_inspect_escapes_control_characters(run, issuer):
    token = issuer.token(sub=HOSTILE, headers={"kid": HOSTILE, "typ": HOSTILE})
    result = run("inspect", token)
    assert result.code == 0, result.err
    assert _controls(result.out + result.err) == []
    assert "is not an access-token type" in result.out  # the hostile typ is quoted in a warning
