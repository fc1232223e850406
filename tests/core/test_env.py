"""Verifier.from_env and options_from_env: parsing, and errors that name the variable."""

from __future__ import annotations

import json
import os
import re
import secrets

import pytest

from jwt_guard import ConfigurationError, KeyCacheOptions, Verifier
from jwt_guard._env import ENV_VARIABLES, RESERVED_NAMES, load_key_file, options_from_env
from jwt_guard.testing import SigningKey
from tests.conftest import AUDIENCE, ISSUER

BASE = {"JWT_GUARD_ISSUER": ISSUER, "JWT_GUARD_AUDIENCE": AUDIENCE}


def env(**variables: str) -> dict[str, str]:
    """BASE plus JWT_GUARD_-prefixed *variables* (a value of "-" removes one)."""
    result = dict(BASE)
    for short, value in variables.items():
        if value == "-":
            result.pop(f"JWT_GUARD_{short}", None)
        else:
            result[f"JWT_GUARD_{short}"] = value
    return result


def test_minimal_environment_builds_a_verifier():
    with Verifier.from_env(environ=BASE) as verifier:
        assert verifier.issuers == (ISSUER,)
        assert verifier.audiences == (AUDIENCE,)


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        pytest.param({}, {"issuer": ISSUER, "audience": AUDIENCE}, id="minimal"),
        pytest.param(
            {"ISSUER": "https://a.example.test/, https://b.example.test/"},
            {"issuer": ["https://a.example.test/", "https://b.example.test/"], "audience": AUDIENCE},
            id="issuer-list-comma-space",
        ),
        pytest.param(
            {"AUDIENCE": "api-1\napi-2"},
            {"issuer": ISSUER, "audience": ["api-1", "api-2"]},
            id="audience-list-newline",
        ),
        pytest.param(
            {"AUDIENCE": "-", "AUDIENCE_DISABLED": "true"},
            {"issuer": ISSUER, "audience": None},
            id="audience-disabled-explicitly",
        ),
        pytest.param(
            {"AUDIENCE_DISABLED": "0"},
            {"issuer": ISSUER, "audience": AUDIENCE},
            id="audience-disabled-false-keeps-audience",
        ),
        pytest.param(
            {"ALGORITHMS": "rs256,ES256 eddsa"},
            {"issuer": ISSUER, "audience": AUDIENCE, "algorithms": ["RS256", "ES256", "EdDSA"]},
            id="algorithms-case-insensitive",
        ),
        pytest.param(
            {"LEEWAY": "30", "MAX_TOKEN_AGE": "3600.5", "RESULT_CACHE_TTL": "60", "RESULT_CACHE_SIZE": "0"},
            {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "leeway": 30.0,
                "max_token_age": 3600.5,
                "result_cache_ttl": 60.0,
                "result_cache_size": 0,
            },
            id="numbers",
        ),
        pytest.param(
            {"SCOPE_CLAIMS": "scope permissions realm_access.roles", "REQUIRED_CLAIMS": "sub,jti"},
            {
                "issuer": ISSUER,
                "audience": AUDIENCE,
                "scope_claims": ["scope", "permissions", "realm_access.roles"],
                "required_claims": ["sub", "jti"],
            },
            id="claim-lists",
        ),
        pytest.param(
            {"STRICT_TYP": "Yes", "MAX_TOKEN_SIZE": "16384"},
            {"issuer": ISSUER, "audience": AUDIENCE, "strict_typ": True, "max_token_size": 16384},
            id="bool-and-int",
        ),
        pytest.param(
            {"JWKS_URI": "https://keys.example.test/jwks.json"},
            {"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": "https://keys.example.test/jwks.json"},
            id="jwks-uri",
        ),
        pytest.param(
            {"ISSUER": "http://idp.internal/", "ALLOW_INSECURE_HTTP": "on"},
            {"issuer": "http://idp.internal/", "audience": AUDIENCE, "allow_insecure_http": True},
            id="insecure-http-opt-in",
        ),
        pytest.param(
            {"ISSUER": "http://127.0.0.1:8000/"},
            {"issuer": "http://127.0.0.1:8000/", "audience": AUDIENCE},
            id="loopback-http-needs-no-opt-in",
        ),
    ],
)
def test_options(variables, expected):
    assert options_from_env("JWT_GUARD_", env(**variables)) == expected


def test_key_set_options():
    options = options_from_env(
        "JWT_GUARD_",
        env(JWKS_TTL="300", JWKS_MAX_STALE="0", JWKS_UNKNOWN_KID_COOLDOWN="10", JWKS_TIMEOUT="2.5"),
    )
    assert options["key_cache"] == KeyCacheOptions(ttl=300, max_stale=0, unknown_kid_cooldown=10, timeout=2.5)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        pytest.param({"ISSUER": "-"}, "JWT_GUARD_ISSUER is not set", id="issuer-missing"),
        pytest.param({"ISSUER": " "}, "JWT_GUARD_ISSUER: is set but empty", id="issuer-blank"),
        pytest.param({"ISSUER": " , "}, "JWT_GUARD_ISSUER: holds no value", id="issuer-only-separators"),
        pytest.param({"ISSUER": "http://idp.example.test/"}, "JWT_GUARD_ISSUER: .*https", id="issuer-plain-http"),
        pytest.param({"ISSUER": "ftp://idp.example.test/"}, "JWT_GUARD_ISSUER: .*http", id="issuer-not-http"),
        pytest.param(
            {"AUDIENCE": "-"}, "JWT_GUARD_AUDIENCE is not set.*JWT_GUARD_AUDIENCE_DISABLED=true", id="audience-missing"
        ),
        pytest.param({"AUDIENCE": ""}, "JWT_GUARD_AUDIENCE: is set but empty", id="audience-empty"),
        pytest.param(
            {"AUDIENCE_DISABLED": "true"}, "JWT_GUARD_AUDIENCE and JWT_GUARD_AUDIENCE_DISABLED", id="audience-both"
        ),
        pytest.param(
            {"AUDIENCE": "-", "AUDIENCE_DISABLED": "maybe"},
            "JWT_GUARD_AUDIENCE_DISABLED: must be a boolean",
            id="audience-disabled-not-bool",
        ),
        pytest.param({"LEEWAY": "abc"}, "JWT_GUARD_LEEWAY: must be a number", id="leeway-not-number"),
        pytest.param({"LEEWAY": "nan"}, "JWT_GUARD_LEEWAY: must be a finite number", id="leeway-nan"),
        pytest.param({"LEEWAY": "-1"}, "JWT_GUARD_LEEWAY: leeway must be >= 0", id="leeway-negative"),
        pytest.param({"LEEWAY": "601"}, "JWT_GUARD_LEEWAY: leeway above 600", id="leeway-too-large"),
        pytest.param({"MAX_TOKEN_AGE": "0"}, "JWT_GUARD_MAX_TOKEN_AGE: ", id="max-age-zero"),
        pytest.param({"ALGORITHMS": "none"}, "JWT_GUARD_ALGORITHMS: the 'none' algorithm", id="alg-none"),
        pytest.param(
            {"ALGORITHMS": "RS256 RS257"}, "JWT_GUARD_ALGORITHMS: unknown algorithm 'RS257'", id="alg-unknown"
        ),
        pytest.param({"ALGORITHMS": "HS256,RS256"}, "JWT_GUARD_ALGORITHMS: .*must not mix", id="alg-mixed"),
        pytest.param({"JWKS_URI": "http://keys.example.test/"}, "JWT_GUARD_JWKS_URI: .*https", id="jwks-http"),
        pytest.param({"MAX_TOKEN_SIZE": "12.5"}, "JWT_GUARD_MAX_TOKEN_SIZE: must be a whole number", id="size-float"),
        pytest.param({"MAX_TOKEN_SIZE": "10"}, "JWT_GUARD_MAX_TOKEN_SIZE: max_token_size must be", id="size-small"),
        pytest.param({"RESULT_CACHE_SIZE": "-1"}, "JWT_GUARD_RESULT_CACHE_SIZE: ", id="cache-negative"),
        pytest.param({"STRICT_TYP": "2"}, "JWT_GUARD_STRICT_TYP: must be a boolean", id="strict-typ-not-bool"),
        pytest.param({"ALLOW_INSECURE_HTTP": "sure"}, "JWT_GUARD_ALLOW_INSECURE_HTTP: must be", id="insecure-not-bool"),
        pytest.param({"SCOPE_CLAIMS": "scope .roles"}, "JWT_GUARD_SCOPE_CLAIMS: scope_claims entries", id="scope-path"),
        pytest.param(
            {"ISSUER": "https://login.microsoftonline.com/{tenantid}/v2.0"},
            r"JWT_GUARD_ISSUER: issuer .* is a template: .*list the issuer of each tenant",
            id="issuer-template",
        ),
        pytest.param({"JWKS_MAX_STALE": "-5"}, "JWT_GUARD_JWKS_MAX_STALE: max_stale must be >= 0", id="stale-negative"),
        pytest.param({"JWKS_TIMEOUT": "soon"}, "JWT_GUARD_JWKS_TIMEOUT: must be a number", id="timeout-text"),
        pytest.param({"JWKS_MIN_TTL": "1e9"}, "JWT_GUARD_JWKS_MIN_TTL: min_ttl must not exceed", id="min-ttl-huge"),
        pytest.param(
            {"AUDIENCES": "x"}, r"JWT_GUARD_AUDIENCES is not .*\(did you mean JWT_GUARD_AUDIENCE\?\)", id="typo"
        ),
        pytest.param({"COLOUR": "blue"}, "JWT_GUARD_COLOUR is not a jwt_guard setting$", id="unknown"),
        pytest.param({"KEYS_FILE": "/nonexistent/keys.pem"}, "JWT_GUARD_KEYS_FILE: cannot read", id="keys-missing"),
    ],
)
def test_errors_name_the_variable(variables, message):
    with pytest.raises(ConfigurationError, match=message):
        Verifier.from_env(environ=env(**variables))


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_names_jwt_guard_itself_reads_are_not_refused(name):
    """CI sets JWT_GUARD_REQUIRE_SERVICES=1; the examples read JWT_GUARD_TOKEN_URL."""
    verifier = Verifier.from_env(environ=env(**{name: "1"}))
    assert verifier.issuers


def test_cross_option_errors_come_from_the_verifier():
    """HS* without a shared secret involves two options: the Verifier reports it."""
    with pytest.raises(ConfigurationError, match="shared secret"):
        Verifier.from_env(environ=env(ALGORITHMS="HS256"))


def test_custom_prefix_ignores_other_prefixes():
    environ = {"MYAPI_ISSUER": ISSUER, "MYAPI_AUDIENCE": "my-api", "JWT_GUARD_LEEWAY": "not read"}
    with Verifier.from_env("MYAPI_", environ=environ) as verifier:
        assert verifier.audiences == ("my-api",)


def test_overrides_win_over_the_environment():
    with Verifier.from_env(environ=env(AUDIENCE="from-env"), audience="from-code") as verifier:
        assert verifier.audiences == ("from-code",)


def test_provided_options_need_not_be_in_the_environment():
    """Options given in code (``provided``) are not required from the environment."""
    options = options_from_env("JWT_GUARD_", env(AUDIENCE="-", ISSUER="-"), provided={"issuer", "audience"})
    assert options == {}


def test_audience_none_given_in_code_needs_no_audience_variable():
    """``from_env(audience=None)`` disables the check without JWT_GUARD_AUDIENCE."""
    with Verifier.from_env(environ={"JWT_GUARD_ISSUER": ISSUER}, audience=None) as verifier:
        assert verifier.audiences is None


def test_library_never_reads_the_environment_unasked(monkeypatch):
    monkeypatch.setenv("JWT_GUARD_LEEWAY", "not a number")
    monkeypatch.setenv("JWT_GUARD_ISSUER", "ftp://nonsense")
    with Verifier(issuer=ISSUER, audience=AUDIENCE, secret=b"k" * 32, algorithms=["HS256"]) as verifier:
        assert verifier.issuers == (ISSUER,)


def test_from_env_reads_os_environ_by_default(monkeypatch):
    for name in [n for n in os.environ if n.startswith("JWT_GUARD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("JWT_GUARD_ISSUER", "https://env.example.test/")
    monkeypatch.setenv("JWT_GUARD_AUDIENCE_DISABLED", "1")
    with Verifier.from_env() as verifier:
        assert verifier.issuers == ("https://env.example.test/",)
        assert verifier.audiences is None


@pytest.mark.parametrize("form", ["pem", "jwks", "jwk"])
def test_keys_file_verifies_without_network(form, issuer, clock, tmp_path):
    key = issuer.signing_key
    text = {
        "pem": key.public_pem(),
        "jwks": json.dumps(issuer.jwks()),
        "jwk": json.dumps(key.public_jwk()),
    }[form]
    path = tmp_path / "keys"
    path.write_text(text)
    with Verifier.from_env(environ=env(KEYS_FILE=str(path)), clock=clock) as verifier:
        assert verifier.verify(issuer.token(scope="read")).scopes == {"read"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("just some text", "neither a JWKS document nor PEM", id="text"),
        pytest.param("{not json", "not valid JSON", id="bad-json"),
        pytest.param('{"hello": 1}', "neither a JWK Set nor a JWK", id="other-json"),
        pytest.param(b"\xff\xfe-----BEGIN", "not readable as UTF-8", id="binary"),
    ],
)
def test_bad_key_files(content, message, tmp_path):
    path = tmp_path / "keys"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        load_key_file(path, what="KEYS")


def test_key_material_is_never_echoed(tmp_path):
    path = tmp_path / "keys"
    path.write_text("secret-material-here")
    with pytest.raises(ConfigurationError) as caught:
        load_key_file(path)
    assert "secret-material-here" not in str(caught.value)


def test_secret_file_verifies_hs256_tokens(clock, tmp_path):
    """JWT_GUARD_SECRET_FILE is the environment's secret=: a file holding the
    shared secret (a trailing newline is not part of it)."""
    from jwt_guard.testing import LocalIssuer, SigningKey

    key = SigningKey("HS256", kid="shared", private_key=secrets.token_urlsafe(48).encode())
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[key], clock=clock)
    path = tmp_path / "secret"
    path.write_bytes(key.private_key + b"\r\n")
    with Verifier.from_env(environ=env(SECRET_FILE=str(path), ALGORITHMS="HS256"), clock=clock) as verifier:
        assert verifier.verify(issuer.token(scope="read")).scopes == {"read"}


@pytest.mark.parametrize("last", [b"\n", b"\r"])
def test_a_binary_secret_file_is_read_byte_for_byte(tmp_path, last):
    """Random bytes end in 0x0a or 0x0d once in 128 files; stripping that
    byte as a line break would make every token fail (or the secret short)."""
    from jwt_guard._env import load_secret_file

    secret = b"\xff" * 31 + last
    path = tmp_path / "secret"
    path.write_bytes(secret)
    assert load_secret_file(path) == secret
    path.write_bytes(b"a-text-secret-of-thirty-two-bytes" + last * 2)
    assert load_secret_file(path) == b"a-text-secret-of-thirty-two-bytes"


def _public_pem() -> bytes:
    from tests.conftest import signing_key

    return signing_key("RS256").public_pem().encode()


def _der() -> bytes:
    from cryptography.hazmat.primitives import serialization

    from tests.conftest import signing_key

    return signing_key("ES256").public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(_public_pem, "JWT_GUARD_SECRET_FILE: .*PEM text", id="pem"),
        pytest.param(_der, "JWT_GUARD_SECRET_FILE: .*DER-encoded public key", id="der"),
        pytest.param(lambda: b'{"keys": []}', "JWT_GUARD_SECRET_FILE: .*JSON", id="jwks"),
        pytest.param(lambda: b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "JWT_GUARD_SECRET_FILE: .*OpenSSH", id="ssh"),
        pytest.param(lambda: b"short", "JWT_GUARD_SECRET_FILE: .*32 bytes", id="short"),
        pytest.param(lambda: b"\n", "JWT_GUARD_SECRET_FILE: .*empty", id="empty"),
    ],
)
def test_secret_file_refuses_key_material(content, message, tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(content())
    with pytest.raises(ConfigurationError, match=message) as caught:
        options_from_env("JWT_GUARD_", env(SECRET_FILE=str(path), ALGORITHMS="HS256"))
    assert "HS256" not in caught.value.description or "32 bytes" in caught.value.description


@pytest.mark.parametrize("last", [b"\n", b"\r"])
def test_a_der_key_ending_in_a_line_break_byte_is_still_key_material(last, tmp_path):
    """Stripping the trailing line break must not turn a DER public key into a secret."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    while True:  # about one key in 128 ends in one of these bytes
        der = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        if der.endswith(last):
            break
    path = tmp_path / "secret"
    path.write_bytes(der)
    with pytest.raises(ConfigurationError, match=r"JWT_GUARD_SECRET_FILE: .*DER-encoded public key"):
        options_from_env("JWT_GUARD_", env(SECRET_FILE=str(path), ALGORITHMS="HS256"))


def test_secret_file_and_keys_file_exclude_each_other(tmp_path):
    secret, keys = tmp_path / "secret", tmp_path / "keys.pem"
    secret.write_bytes(b"s" * 32)
    keys.write_bytes(_public_pem())
    with pytest.raises(ConfigurationError, match=r"JWT_GUARD_KEYS_FILE.*JWT_GUARD_SECRET_FILE"):
        options_from_env("JWT_GUARD_", env(SECRET_FILE=str(secret), KEYS_FILE=str(keys)))


def test_secret_file_unreadable_names_the_variable(tmp_path):
    with pytest.raises(ConfigurationError, match="JWT_GUARD_SECRET_FILE: cannot read"):
        options_from_env("JWT_GUARD_", env(SECRET_FILE=str(tmp_path / "missing")))


def test_secret_is_never_echoed(tmp_path):
    path = tmp_path / "secret"
    path.write_bytes(b"tiny-secret")
    with pytest.raises(ConfigurationError) as caught:
        options_from_env("JWT_GUARD_", env(SECRET_FILE=str(path), ALGORITHMS="HS256"))
    assert "tiny-secret" not in str(caught.value)


def test_client_ids_from_the_environment():
    options = options_from_env("JWT_GUARD_", env(AUDIENCE="-", AUDIENCE_DISABLED="true", CLIENT_IDS="app-1, app-2"))
    assert options["client_ids"] == ["app-1", "app-2"]
    assert options["audience"] is None


def test_every_variable_has_a_unique_name_and_help():
    names = [variable.name for variable in ENV_VARIABLES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[A-Z_]+", name) for name in names)
    assert all(variable.help for variable in ENV_VARIABLES)


def test_scope_claims_variable_is_a_list_whatever_the_separator():
    """``JWT_GUARD_SCOPE_CLAIMS="scope permissions"`` means two claims (the
    trap of a spaced string passed to ``scope_claims=`` cannot happen here)."""
    for value in ("scope permissions", "scope,permissions", " scope ,  permissions "):
        options = options_from_env("JWT_GUARD_", env(SCOPE_CLAIMS=value))
        assert options["scope_claims"] == ["scope", "permissions"]


def test_spaced_scope_claims_given_to_from_env_in_code_is_refused():
    with pytest.raises(ConfigurationError, match=r"scope_claims=\['scope', 'permissions'\]"):
        Verifier.from_env(environ=env(), scope_claims="scope permissions")


# -- introspection (opaque tokens) ----------------------------------------------


def test_introspection_from_the_environment(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    options = options_from_env(
        "JWT_GUARD_",
        {
            "JWT_GUARD_ISSUER": "https://idp.example.test/",
            "JWT_GUARD_AUDIENCE": "api",
            "JWT_GUARD_INTROSPECTION_CLIENT_ID": "my-api",
            "JWT_GUARD_INTROSPECTION_CLIENT_SECRET_FILE": str(secret),
            "JWT_GUARD_INTROSPECTION_AUTH": "client_secret_post",
            "JWT_GUARD_INTROSPECTION_CACHE_TTL": "30",
            "JWT_GUARD_INTROSPECTION_RATE": "5",
        },
    )
    introspection = options["introspection"]
    assert (introspection.client_id, introspection.client_secret) == ("my-api", "s3cret")
    assert (introspection.auth, introspection.cache_ttl, introspection.rate) == ("client_secret_post", 30.0, 5.0)


def test_introspection_private_key_from_the_environment(tmp_path):
    key = tmp_path / "key.pem"
    key.write_text(SigningKey("ES256").private_pem())
    options = options_from_env(
        "JWT_GUARD_",
        {
            "JWT_GUARD_ISSUER": "https://idp.example.test/",
            "JWT_GUARD_AUDIENCE": "api",
            "JWT_GUARD_INTROSPECTION_CLIENT_ID": "my-api",
            "JWT_GUARD_INTROSPECTION_PRIVATE_KEY_FILE": str(key),
            "JWT_GUARD_INTROSPECTION_KEY_ID": "k1",
        },
    )
    assert options["introspection"].auth == "private_key_jwt"
    assert options["introspection"].signer[1] == "ES256"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({"JWT_GUARD_INTROSPECTION_CLIENT_SECRET": "x"}, "INTROSPECTION_CLIENT_ID is not set", id="no-id"),
        pytest.param(
            {"JWT_GUARD_INTROSPECTION_CLIENT_ID": "a", "JWT_GUARD_INTROSPECTION_RATE": "fast"},
            "JWT_GUARD_INTROSPECTION_RATE",
            id="bad-rate",
        ),
        pytest.param(
            {"JWT_GUARD_INTROSPECTION_CLIENT_ID": "a", "JWT_GUARD_INTROSPECTION_CLIENT_SECRET_FILE": "/nonexistent"},
            "cannot read",
            id="missing-file",
        ),
        pytest.param({"JWT_GUARD_INTROSPECTION_CLIENT_ID": "a"}, "client_secret", id="no-secret"),
    ],
)
def test_bad_introspection_variables_are_named(extra, message):
    environ = {"JWT_GUARD_ISSUER": "https://idp.example.test/", "JWT_GUARD_AUDIENCE": "api", **extra}
    with pytest.raises(ConfigurationError, match=message) as caught:
        options_from_env("JWT_GUARD_", environ)
    assert "x" * 3 not in str(caught.value)
