"""Errors rendered as HTTP answers (jwt_guard._challenge): quoting, statuses, headers, bodies."""

from __future__ import annotations

import json
import re

import pytest

from jwt_guard._auth_syntax import add_auth_param, bearer_challenge, parse_challenges, quote_param, safe_param
from jwt_guard._challenge import Challenge, render_error
from jwt_guard.errors import (
    ConfigurationError,
    ExpiredToken,
    InsufficientScope,
    InvalidRequest,
    InvalidSignature,
    InvalidToken,
    KeySetUnavailable,
    MalformedToken,
    MissingToken,
    StoreUnavailable,
)

# RFC 9110 §5.6.4 quoted-string: DQUOTE *( qdtext / quoted-pair ) DQUOTE
QUOTED_STRING = re.compile(r'"(?:[\t\x20\x21\x23-\x5b\x5d-\x7e]|\\[\t\x20-\x7e])*"')
# RFC 6750 §3: error_description characters, and scope tokens separated by single spaces.
DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
SCOPE = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+(?: [\x21\x23-\x5b\x5d-\x7e]+)*")


def params_of(challenge: str) -> dict[str, str]:
    """Parse ``Bearer a="b", c="d"`` back into unquoted values (strictly)."""
    assert challenge.startswith("Bearer")
    rest = challenge[len("Bearer") :]
    result: dict[str, str] = {}
    pattern = re.compile(r'(?:^ |, )([a-z_]+)=("(?:[^"\\]|\\.)*")')
    position = 0
    while position < len(rest):
        match = pattern.match(rest, position)
        assert match is not None, f"unparsable challenge {challenge!r} at {position}"
        assert QUOTED_STRING.fullmatch(match.group(2))
        result[match.group(1)] = re.sub(r"\\(.)", r"\1", match.group(2)[1:-1])
        position = match.end()
    return result


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("api", '"api"', id="plain"),
        pytest.param("", '""', id="empty"),
        pytest.param('say "hi"', r'"say \"hi\""', id="double-quotes"),
        pytest.param("back\\slash", r'"back\\slash"', id="backslash"),
        pytest.param('\\"', r'"\\\""', id="backslash-then-quote"),
        pytest.param("tab\there", '"tab\there"', id="tab-kept"),
        pytest.param("cr\r\nlf", '"crlf"', id="crlf-dropped"),
        pytest.param("nul\x00bell\x07del\x7f", '"nulbelldel"', id="controls-dropped"),
        pytest.param("café ü", '"caf "', id="non-ascii-dropped"),
        pytest.param("x\u2028y", '"xy"', id="unicode-line-separator-dropped"),
    ],
)
def test_quote_param(value, expected):
    quoted = quote_param(value)
    assert quoted == expected
    assert QUOTED_STRING.fullmatch(quoted)


@pytest.mark.parametrize(
    "realm",
    [
        pytest.param("api", id="plain"),
        pytest.param('a"b', id="quote"),
        pytest.param("a\\b", id="backslash"),
        pytest.param('\\"\\', id="escapes-only"),
        pytest.param("a\r\nX-Injected: 1", id="header-injection"),
        pytest.param("日本", id="non-ascii"),
    ],
)
def test_realm_quoting_round_trips_printable_ascii(realm):
    """Whatever the realm, the header stays one valid challenge and keeps every printable ASCII character."""
    header = bearer_challenge(realm, [("error", "invalid_token")])
    assert "\r" not in header
    assert "\n" not in header
    params = params_of(header)
    assert params["realm"] == "".join(ch for ch in realm if "\x20" <= ch <= "\x7e" or ch == "\t")
    assert params["error"] == "invalid_token"


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        pytest.param("plain words", "plain words", id="plain"),
        pytest.param('has "quotes"', "has ?quotes?", id="quotes-replaced"),
        pytest.param("back\\slash", "back?slash", id="backslash-replaced"),
        pytest.param("line\r\nbreak", "line??break", id="crlf-replaced"),
        pytest.param("tab\tx", "tab?x", id="tab-replaced"),
        pytest.param("café", "caf?", id="non-ascii-replaced"),
        pytest.param("\x00\x7f", "??", id="controls-replaced"),
    ],
)
def test_error_description_characters(description, expected):
    """RFC 6750 §3: error_description allows %x20-21 / %x23-5B / %x5D-7E only."""
    header = bearer_challenge(None, [("error", "invalid_token"), ("error_description", description)])
    value = params_of(header)["error_description"]
    assert value == expected
    assert DESCRIPTION.fullmatch(value)


@pytest.mark.parametrize(
    ("scopes", "expected"),
    [
        pytest.param(["read"], "read", id="one"),
        pytest.param(["read", "write"], "read write", id="two"),
        pytest.param(["api:read", "https://api.example/x"], "api:read https://api.example/x", id="urls"),
        pytest.param(['a"b', "c\\d"], "ab cd", id="quote-backslash-dropped"),
        pytest.param(["caf\u00e9", "x"], "caf x", id="non-ascii-dropped"),
        pytest.param(["ok", "\u00e9", "next"], "ok next", id="no-empty-token-left"),
        pytest.param(["a\tb"], "ab", id="tab-dropped"),
    ],
)
def test_scope_characters(scopes, expected):
    """RFC 6750 §3: scope is space-delimited scope-tokens of %x21 / %x23-5B / %x5D-7E."""
    header = InsufficientScope(scopes).www_authenticate()
    value = params_of(header)["scope"]
    assert value == expected
    assert SCOPE.fullmatch(value)


@pytest.mark.parametrize(
    ("realm", "params", "expected"),
    [
        pytest.param(None, [], "Bearer", id="bare"),
        pytest.param("r", [], 'Bearer realm="r"', id="realm-only"),
        pytest.param(None, [("error", "invalid_token")], 'Bearer error="invalid_token"', id="no-realm"),
        pytest.param(
            "r",
            [("error", "invalid_token"), ("error_description", "d"), ("scope", "s")],
            'Bearer realm="r", error="invalid_token", error_description="d", scope="s"',
            id="order-kept",
        ),
    ],
)
def test_bearer_challenge_layout(realm, params, expected):
    assert bearer_challenge(realm, params) == expected


# (error, status, error code in the challenge or None, body "error")
RENDER_TABLE = [
    pytest.param(MissingToken(), 401, None, "unauthorized", id="missing-token"),
    pytest.param(InvalidRequest(), 400, "invalid_request", "invalid_request", id="invalid-request"),
    pytest.param(InvalidToken(), 401, "invalid_token", "invalid_token", id="invalid-token"),
    pytest.param(MalformedToken(), 401, "invalid_token", "invalid_token", id="malformed"),
    pytest.param(ExpiredToken(), 401, "invalid_token", "invalid_token", id="expired"),
    pytest.param(InvalidSignature(), 401, "invalid_token", "invalid_token", id="bad-signature"),
    pytest.param(InsufficientScope(["read"]), 403, "insufficient_scope", "insufficient_scope", id="scope"),
]


@pytest.mark.parametrize(("error", "status", "code", "body_error"), RENDER_TABLE)
def test_render_auth_errors(error, status, code, body_error):
    challenge = render_error(error, realm="api")
    assert isinstance(challenge, Challenge)
    assert challenge.status_code == status
    params = params_of(challenge.header("WWW-Authenticate"))
    assert params["realm"] == "api"
    assert params.get("error") == code
    if code is None:
        assert "error_description" not in params
    else:
        assert params["error_description"] == error.description
    assert challenge.header("Retry-After") is None
    body = json.loads(challenge.body)
    assert body["error"] == body_error
    assert body["error_description"] == error.description


@pytest.mark.parametrize(("error", "status", "code", "body_error"), RENDER_TABLE)
def test_render_common_headers(error, status, code, body_error):
    """Every answer is uncacheable JSON with an exact content-length."""
    challenge = render_error(error)
    assert challenge.header("Content-Type") == "application/json"
    assert challenge.header("cache-control") == "no-store"
    assert challenge.header("Content-Length") == str(len(challenge.body))
    names = [name for name, _ in challenge.headers]
    assert all(name == name.lower() for name in names)
    assert len(names) == len(set(names))


def test_render_without_realm_has_no_realm_attribute():
    challenge = render_error(InvalidToken())
    assert "realm" not in params_of(challenge.header("www-authenticate"))


def test_render_insufficient_scope_body_lists_scopes():
    challenge = render_error(InsufficientScope(["read", "write"]))
    assert challenge.status_code == 403
    assert json.loads(challenge.body) == {
        "error": "insufficient_scope",
        "error_description": "the access token lacks a required scope",
        "scope": "read write",
    }
    assert params_of(challenge.header("www-authenticate"))["scope"] == "read write"


def test_render_insufficient_scope_without_scopes_has_no_scope():
    challenge = render_error(InsufficientScope())
    assert "scope" not in json.loads(challenge.body)
    assert "scope" not in params_of(challenge.header("www-authenticate"))


@pytest.mark.parametrize(
    ("retry_after", "header"),
    [
        pytest.param(30, "30", id="default"),
        pytest.param(7, "7", id="seven"),
        pytest.param(0, "1", id="at-least-one"),
    ],
)
def test_render_key_set_unavailable(retry_after, header):
    """503 with Retry-After and no bearer challenge: the outage is not the client's fault."""
    challenge = render_error(KeySetUnavailable(retry_after=retry_after), realm="api")
    assert challenge.status_code == 503
    assert challenge.header("Retry-After") == header
    assert challenge.header("WWW-Authenticate") is None
    assert challenge.header("cache-control") == "no-store"
    assert challenge.header("content-length") == str(len(challenge.body))
    assert json.loads(challenge.body) == {
        "error": "temporarily_unavailable",
        "error_description": "signing keys are temporarily unavailable",
    }


def test_render_store_unavailable():
    """A store that cannot be trusted answers like an unreachable key server: 503, Retry-After."""
    challenge = render_error(StoreUnavailable(retry_after=5), realm="api")
    assert challenge.status_code == 503
    assert challenge.header("Retry-After") == "5"
    assert challenge.header("WWW-Authenticate") is None
    assert json.loads(challenge.body) == {
        "error": "temporarily_unavailable",
        "error_description": "revocation status is temporarily unavailable",
    }


def test_render_other_errors_are_server_errors():
    challenge = render_error(ConfigurationError("bad"))
    assert challenge.status_code == 500
    assert challenge.header("WWW-Authenticate") is None
    assert challenge.header("Retry-After") is None
    assert json.loads(challenge.body)["error"] == "server_error"


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        pytest.param("plain", "plain", id="plain"),
        pytest.param('a "quoted" \\ thing', "a ?quoted? ? thing", id="quotes"),
        pytest.param("caf\u00e9\n", "caf??", id="non-ascii-newline"),
    ],
)
def test_render_body_description_matches_header_rules(description, expected):
    """The JSON body carries the same sanitised description as the header."""
    challenge = render_error(InvalidToken(description))
    assert json.loads(challenge.body)["error_description"] == expected
    assert params_of(challenge.header("www-authenticate"))["error_description"] == expected


def test_render_body_shape():
    challenge = render_error(InvalidToken())
    assert challenge.body == b'{"error":"invalid_token","error_description":"the access token is invalid"}'


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("content-type", "application/json", id="lower"),
        pytest.param("CONTENT-TYPE", "application/json", id="upper"),
        pytest.param("x-absent", None, id="absent"),
    ],
)
def test_challenge_header_lookup(name, expected):
    assert render_error(InvalidToken()).header(name) == expected


def test_challenge_is_frozen():
    challenge = render_error(InvalidToken())
    with pytest.raises(AttributeError):
        challenge.status_code = 200


# -- resource_metadata (RFC 9728 §5.1) ------------------------------------------------------------

METADATA_URL = "https://api.example.test/.well-known/oauth-protected-resource/mcp"


@pytest.mark.parametrize(
    ("error", "realm", "expected"),
    [
        pytest.param(MissingToken(), None, f'Bearer resource_metadata="{METADATA_URL}"', id="no-params"),
        pytest.param(MissingToken(), "api", f'Bearer realm="api", resource_metadata="{METADATA_URL}"', id="realm-only"),
        pytest.param(
            InvalidToken(),
            None,
            'Bearer error="invalid_token", error_description="the access token is invalid", '
            f'resource_metadata="{METADATA_URL}"',
            id="invalid-token",
        ),
        pytest.param(
            InsufficientScope(["read"]),
            "api",
            'Bearer realm="api", error="insufficient_scope", '
            'error_description="the access token lacks a required scope", scope="read", '
            f'resource_metadata="{METADATA_URL}"',
            id="insufficient-scope",
        ),
        pytest.param(
            InvalidRequest(),
            None,
            'Bearer error="invalid_request", error_description="malformed authorization request", '
            f'resource_metadata="{METADATA_URL}"',
            id="invalid-request",
        ),
    ],
)
def test_resource_metadata_is_the_last_auth_param(error, realm, expected):
    challenge = render_error(error, realm=realm, resource_metadata=METADATA_URL)
    assert challenge.header("www-authenticate") == expected
    assert params_of(expected)["resource_metadata"] == METADATA_URL
    without = render_error(error, realm=realm)
    assert challenge.body == without.body and challenge.status_code == without.status_code


def test_resource_metadata_is_not_added_to_503():
    challenge = render_error(KeySetUnavailable(), resource_metadata=METADATA_URL)
    assert challenge.header("www-authenticate") is None


def test_add_auth_param_quotes():
    assert add_auth_param("Bearer", "x", 'a"b') == 'Bearer x="a\\"b"'
    assert add_auth_param('DPoP algs="ES256"', "resource_metadata", "u") == 'DPoP algs="ES256", resource_metadata="u"'


# -- parse_challenges: the way back -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("Bearer", [("Bearer", {})], id="scheme-alone"),
        pytest.param('Bearer realm="api"', [("Bearer", {"realm": "api"})], id="one-param"),
        pytest.param("Bearer error=invalid_token", [("Bearer", {"error": "invalid_token"})], id="token-value"),
        pytest.param(
            'Bearer  realm = "a,b" ,  scope = "x y"', [("Bearer", {"realm": "a,b", "scope": "x y"})], id="whitespace"
        ),
        pytest.param(
            'Bearer realm="r", DPoP algs="ES256 EdDSA", error="use_dpop_nonce"',
            [("Bearer", {"realm": "r"}), ("DPoP", {"algs": "ES256 EdDSA", "error": "use_dpop_nonce"})],
            id="two-challenges",
        ),
        pytest.param("Basic abc==, Bearer", [("Basic", {"": "abc=="}), ("Bearer", {})], id="token68"),
        pytest.param("Bearer, Basic", [("Bearer", {}), ("Basic", {})], id="two-bare-schemes"),
        pytest.param(
            'Bearer error_description="say \\"hi\\" \\\\o/"',
            [("Bearer", {"error_description": 'say "hi" \\o/'})],
            id="quoted-pairs",
        ),
        pytest.param('Bearer REALM="a", realm="b"', [("Bearer", {"realm": "a"})], id="first-repeated-name-wins"),
        pytest.param(", ,Bearer ,", [("Bearer", {})], id="empty-list-elements"),
    ],
)
def test_parse_challenges(value, expected):
    assert parse_challenges(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param('Bearer realm="open', id="unterminated"),
        pytest.param('"Bearer"', id="quoted-scheme"),
        pytest.param("Bearer a=b c=d", id="missing-comma"),
        pytest.param('Bearer realm="x", a=', id="empty-value"),
        pytest.param("=x", id="starts-with-equals"),
        pytest.param("Bearer realm=\x00", id="control-character"),
    ],
)
def test_parse_challenges_refuses_malformed_values(value):
    with pytest.raises(ValueError):
        parse_challenges(value)


def test_parse_challenges_round_trips_every_rendered_error():
    for error in (MissingToken(), InvalidToken('a "quoted" \\ phrase'), InsufficientScope(["a", "b:c"])):
        header = render_error(error, realm='r "x"', resource_metadata=METADATA_URL).header("www-authenticate")
        [(scheme, params)] = parse_challenges(header)
        assert scheme == "Bearer"
        assert params.pop("realm") == 'r "x"' and params.pop("resource_metadata") == METADATA_URL
        assert params == {name: safe_param(name, value) for name, value in error.challenge_params()}


def test_parse_challenges_is_linear_on_long_input():
    """A long header (a hostile server's) is read in one pass, not backtracked."""
    value = "Bearer " + ", ".join(f'p{i}="{"x" * 50}"' for i in range(2000))
    [(_, params)] = parse_challenges(value)
    assert len(params) == 2000
