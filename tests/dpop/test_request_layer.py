"""DPoP in the framework-free request layer: the scheme, the one proof, the
URL and origin a client sees (``public_url``), and the challenges."""

from __future__ import annotations

from typing import Any

import pytest

from jwt_guard import (
    DPoPOptions,
    DPoPProofReplayed,
    DPoPRequired,
    DPoPTokenAsBearer,
    ExpiredToken,
    InsufficientScope,
    InvalidDPoPProof,
    InvalidRequest,
    MissingToken,
    UseDPoPNonce,
    render_error,
)
from jwt_guard._guard import Guard, parse_authorization, parse_dpop_authorization
from jwt_guard._origin import PublicURL, own_origin
from jwt_guard._request import EnvironRequest, ScopeRequest
from jwt_guard.errors import ConfigurationError, InvalidToken
from tests.support.challenges import parse_challenges

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
PROOF = "eyJ0eXAiOiJkcG9wK2p3dCJ9.eyJqdGkiOiJ4In0.c2ln"
OPTIONS = DPoPOptions(algorithms=["ES256", "EdDSA"])


def scope_for(
    headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    *,
    path: str = "/items",
    raw_path: bytes | None = None,
    root_path: str = "",
    scheme: str = "https",
    kind: str = "http",
    method: str = "GET",
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": kind,
        "scheme": scheme,
        "path": path,
        "root_path": root_path,
        "query_string": b"q=1",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers],
        "server": ("10.0.0.5", 8000),
    }
    if kind == "http":
        scope["method"] = method
    if raw_path is not None:
        scope["raw_path"] = raw_path
    return scope


def environ_for(headers: dict[str, str] | None = None, **values: str) -> dict[str, Any]:
    environ = {
        "REQUEST_METHOD": "GET",
        "wsgi.url_scheme": "https",
        "SERVER_NAME": "10.0.0.5",
        "SERVER_PORT": "8000",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/items",
        "QUERY_STRING": "q=1",
    }
    environ.update(values)
    for name, value in (headers or {}).items():
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


# -- the DPoP scheme (RFC 9449 §7.1) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(f"DPoP {TOKEN}", TOKEN, id="canonical"),
        pytest.param(f"dpop {TOKEN}", TOKEN, id="lower-case"),
        pytest.param(f"DPOP  {TOKEN} ", TOKEN, id="upper-case-spaces"),
        pytest.param(f"Bearer {TOKEN}", None, id="bearer"),
        pytest.param("Basic dXNlcjpwYXNz", None, id="basic"),
        pytest.param(f"DPoPx {TOKEN}", None, id="lookalike"),
    ],
)
def test_parse_dpop_authorization(value, expected):
    assert parse_dpop_authorization(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("DPoP", id="scheme-only"),
        pytest.param("DPoP ", id="scheme-and-space"),
        pytest.param(f"DPoP\t{TOKEN}", id="tab"),
        pytest.param(f"DPoP {TOKEN} {TOKEN}", id="two-tokens"),
        pytest.param("DPoP a,b", id="not-token68"),
    ],
)
def test_malformed_dpop_headers_are_invalid_requests_answered_with_dpop(value):
    with pytest.raises(InvalidRequest) as caught:
        parse_dpop_authorization(value)
    assert caught.value.scheme == "DPoP"


def test_without_dpop_options_the_scheme_is_just_another_one():
    guard = Guard(optional=True)
    assert guard.header_only
    assert guard.authenticate(ScopeRequest(scope_for([("Authorization", f"DPoP {TOKEN}")]))) is None
    assert parse_authorization(f"DPoP {TOKEN}") is None


@pytest.mark.parametrize("wsgi", [False, True], ids=["asgi", "wsgi"])
def test_dpop_credentials_carry_the_proof_method_and_url(wsgi):
    guard = Guard(dpop=OPTIONS)
    assert not guard.header_only
    if wsgi:
        request: Any = EnvironRequest(
            environ_for(
                {"Authorization": f"DPoP {TOKEN}", "DPoP": PROOF, "Host": "api.example.test"}, REQUEST_METHOD="PUT"
            )
        )
    else:
        headers = [("Authorization", f"DPoP {TOKEN}"), ("DPoP", PROOF), ("Host", "api.example.test")]
        request = ScopeRequest(scope_for(headers, method="PUT"))
    found = guard.authenticate(request)
    assert found is not None and (found.scheme, found.token, found.source) == ("DPoP", TOKEN, "header")
    assert found.dpop is not None
    assert (found.dpop.proof, found.dpop.method, found.dpop.url) == (PROOF, "PUT", "https://api.example.test/items")
    again = guard.authenticate(request)
    assert again is not None and again.dpop is not found.dpop  # a new context per request


def test_bearer_credentials_carry_no_context_and_their_dpop_header_plays_no_part():
    guard = Guard(dpop=OPTIONS)
    found = guard.authenticate(ScopeRequest(scope_for([("Authorization", f"Bearer {TOKEN}"), ("DPoP", PROOF)])))
    assert found is not None and found.scheme == "Bearer" and found.dpop is None


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param(
            ScopeRequest(scope_for([("Authorization", f"DPoP {TOKEN}"), ("DPoP", PROOF), ("DPoP", PROOF)])), id="asgi"
        ),
        pytest.param(
            EnvironRequest(environ_for({"Authorization": f"DPoP {TOKEN}", "DPoP": f"{PROOF},{PROOF}"})), id="wsgi"
        ),
        pytest.param(
            EnvironRequest(environ_for({"Authorization": f"DPoP {TOKEN}", "DPoP": f"{PROOF}, x"})), id="wsgi-2"
        ),
    ],
)
def test_two_dpop_headers_are_refused(request_):
    """RFC 9449 §4.3: exactly one DPoP header (WSGI servers join two with a comma)."""
    with pytest.raises(InvalidDPoPProof, match="exactly one"):
        Guard(dpop=OPTIONS).authenticate(request_)


def test_a_dpop_request_without_a_proof_gets_a_context_without_one():
    found = Guard(dpop=OPTIONS).authenticate(ScopeRequest(scope_for([("Authorization", f"DPoP {TOKEN}")])))
    assert found is not None and found.dpop is not None and found.dpop.proof is None


@pytest.mark.parametrize("optional", [False, True])
def test_a_proof_without_an_access_token_is_refused(optional):
    with pytest.raises(InvalidRequest, match="without an access token") as caught:
        Guard(dpop=OPTIONS, optional=optional).authenticate(ScopeRequest(scope_for([("DPoP", PROOF)])))
    assert caught.value.scheme == "DPoP"


def test_no_credentials_at_all_is_missing_token_or_anonymous():
    with pytest.raises(MissingToken):
        Guard(dpop=OPTIONS).authenticate(ScopeRequest(scope_for()))
    assert Guard(dpop=OPTIONS, optional=True).authenticate(ScopeRequest(scope_for())) is None


def test_a_dpop_token_and_a_query_token_are_two_places():
    request = ScopeRequest({**scope_for([("Authorization", f"DPoP {TOKEN}")]), "query_string": b"access_token=x"})
    with pytest.raises(InvalidRequest, match="more than one place"):
        Guard(dpop=OPTIONS, allow_query_token=True).authenticate(request)


# -- the URL and the origin a client sees ----------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        pytest.param(scope_for([("Host", "API.Example.test")]), "https://API.Example.test/items", id="host-header"),
        pytest.param(scope_for(), "https://10.0.0.5:8000/items", id="server-address"),
        pytest.param(
            scope_for([("Host", "a.test")], path="/v1/items", root_path="/v1"), "https://a.test/v1/items", id="mounted"
        ),
        pytest.param(
            scope_for([("Host", "a.test")], path="/a b/é", raw_path=b"/a%20b/%C3%A9?q=1"),
            "https://a.test/a%20b/%C3%A9",
            id="raw-path-kept",
        ),
        pytest.param(
            scope_for([("Host", "a.test")], path="/a/b", raw_path=b"/a%2Fb"), "https://a.test/a%2Fb", id="encoded-slash"
        ),
        pytest.param(
            scope_for([("Host", "a.test")], path="/x y", raw_path=b"/elsewhere"),
            "https://a.test/x%20y",
            id="raw-path-disagrees",
        ),
        pytest.param(scope_for([("Host", "a.test")], path="/x y"), "https://a.test/x%20y", id="no-raw-path"),
        pytest.param(
            scope_for([("Host", "a.test")], kind="websocket", scheme="wss"), "wss://a.test/items", id="websocket"
        ),
    ],
)
def test_asgi_url(scope, expected):
    assert ScopeRequest(scope).url() == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param(environ_for({"Host": "a.test"}), "https://a.test/items", id="host-header"),
        pytest.param(environ_for(), "https://10.0.0.5:8000/items", id="server-name"),
        pytest.param(environ_for({"Host": "a.test"}, SCRIPT_NAME="/v1"), "https://a.test/v1/items", id="script-name"),
        pytest.param(
            environ_for({"Host": "a.test"}, PATH_INFO="/a b/\xc3\xa9", REQUEST_URI="/a%20b/%c3%a9?q=1"),
            "https://a.test/a%20b/%c3%a9",
            id="request-uri-kept",
        ),
        pytest.param(
            environ_for({"Host": "a.test"}, PATH_INFO="/a b", RAW_URI="/elsewhere"),
            "https://a.test/a%20b",
            id="raw-uri-disagrees",
        ),
        pytest.param(
            environ_for({"Host": "a.test"}, PATH_INFO="/a/b", REQUEST_URI="/a%2Fb"), "https://a.test/a%2Fb", id="slash"
        ),
    ],
)
def test_wsgi_url(environ, expected):
    assert EnvironRequest(environ).url() == expected


def test_forwarded_headers_are_never_read():
    headers = [
        ("Host", "internal:8000"),
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "evil.test"),
        ("X-Forwarded-Prefix", "/x"),
        ("Forwarded", "host=evil.test;proto=https"),
    ]
    request = ScopeRequest(scope_for(headers, scheme="http"))
    assert request.url() == "http://internal:8000/items"
    assert own_origin(request, None) == "http://internal:8000"


@pytest.mark.parametrize(
    ("public", "websocket", "expected"),
    [
        pytest.param("https://api.example.com", False, "https://api.example.com/v1/items", id="host"),
        pytest.param("https://example.com/api/", False, "https://example.com/api/v1/items", id="prefix"),
        pytest.param("https://api.example.com:8443", True, "wss://api.example.com:8443/v1/items", id="websocket"),
        pytest.param("http://127.0.0.1:8000", True, "ws://127.0.0.1:8000/v1/items", id="ws"),
    ],
)
def test_public_url_replaces_scheme_and_host_and_prefixes_the_path(public, websocket, expected):
    scope = scope_for([("Host", "internal:8000")], path="/v1/items", root_path="/v1", scheme="http")
    if websocket:
        scope["type"] = "websocket"
    assert ScopeRequest(scope).url(PublicURL.parse(public)) == expected
    environ = environ_for({"Host": "internal:8000"}, SCRIPT_NAME="/v1", PATH_INFO="/items")
    if not websocket:
        assert EnvironRequest(environ).url(PublicURL.parse(public)) == expected


@pytest.mark.parametrize(
    ("scheme", "host", "origin"),
    [
        ("https", "API.example.test", "https://api.example.test"),
        ("https", "api.example.test:443", "https://api.example.test"),
        ("http", "api.example.test:80", "http://api.example.test"),
        ("http", "api.example.test:8080", "http://api.example.test:8080"),
        ("wss", "a.test:443", "https://a.test"),
        ("ws", "a.test:8000", "http://a.test:8000"),
        ("https", "[::1]:443", "https://[::1]"),
        ("https", "[::1]:8443", "https://[::1]:8443"),
        ("https", "[::1]", "https://[::1]"),
    ],
)
def test_origin_serialisation(scheme, host, origin):
    request = ScopeRequest(scope_for([("Host", host)], scheme=scheme))
    assert own_origin(request, None) == origin


def test_origin_under_public_url():
    request = ScopeRequest(scope_for([("Host", "internal:8000")], scheme="http"))
    assert own_origin(request, PublicURL.parse("https://Example.com:443/api")) == "https://example.com"
    assert own_origin(EnvironRequest(environ_for()), PublicURL.parse("https://example.com:8443")) == (
        "https://example.com:8443"
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("api.example.com", id="no-scheme"),
        pytest.param("ftp://api.example.com", id="ftp"),
        pytest.param("wss://api.example.com", id="ws-scheme"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://user:pw@api.example.com", id="credentials"),
        pytest.param("https://api.example.com/?a=1", id="query"),
        pytest.param("https://api.example.com/#x", id="fragment"),
        pytest.param("https://api.example.com:99999", id="port"),
        pytest.param("https://api example.com", id="space"),
        pytest.param(b"https://api.example.com", id="bytes"),
    ],
)
def test_public_url_is_checked_at_construction(value):
    with pytest.raises(ConfigurationError, match="public_url"):
        Guard(public_url=value)


def test_the_guard_keeps_one_public_url():
    guard = Guard(dpop=OPTIONS, public_url="https://api.example.com/base")
    assert guard.public_url is not None and guard.public_url.url == "https://api.example.com/base"
    found = guard.authenticate(ScopeRequest(scope_for([("Authorization", f"DPoP {TOKEN}"), ("DPoP", PROOF)])))
    assert found is not None and found.dpop is not None
    assert found.dpop.url == "https://api.example.com/base/items"


# -- challenges (RFC 9449 §7.1, §7.2; RFC 9110 §11.6.1) --------------------------------------------


def challenges(error: Exception, **options: Any) -> tuple[list[str], list[tuple[str, dict[str, str]]], Any]:
    answer = render_error(error, realm="api", **options)  # type: ignore[arg-type]
    fields = [value for name, value in answer.headers if name == "www-authenticate"]
    return fields, parse_challenges(fields), answer


ALGS = "ES256 EdDSA"


def test_without_dpop_options_only_bearer_is_named():
    _, parsed, _ = challenges(MissingToken())
    assert parsed == [("Bearer", {"realm": "api"})]


def test_no_credentials_names_both_schemes():
    fields, parsed, answer = challenges(MissingToken(), dpop=OPTIONS)
    assert answer.status_code == 401
    assert fields == ['Bearer realm="api"', f'DPoP realm="api", algs="{ALGS}"']
    assert parsed == [("Bearer", {"realm": "api"}), ("DPoP", {"realm": "api", "algs": ALGS})]


def test_a_bearer_error_goes_on_the_bearer_challenge():
    _, parsed, _ = challenges(ExpiredToken(), dpop=OPTIONS)
    assert parsed[0][0] == "Bearer" and parsed[0][1]["error"] == "invalid_token"
    assert parsed[1] == ("DPoP", {"realm": "api", "algs": ALGS})


def test_an_error_of_a_dpop_request_goes_on_the_dpop_challenge():
    error = ExpiredToken()
    error.scheme = "DPoP"
    _, parsed, _ = challenges(error, dpop=OPTIONS)
    assert parsed[0] == (
        "DPoP",
        {"realm": "api", "error": "invalid_token", "error_description": error.description, "algs": ALGS},
    )
    assert parsed[1] == ("Bearer", {"realm": "api"})


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(InvalidDPoPProof("the DPoP proof is too old", algorithms=["ES256", "EdDSA"]), id="proof"),
        pytest.param(DPoPProofReplayed(algorithms=["ES256", "EdDSA"]), id="replayed"),
        pytest.param(DPoPTokenAsBearer(algorithms=["ES256", "EdDSA"]), id="bound-token-as-bearer"),
    ],
)
def test_dpop_errors_go_on_the_dpop_challenge(error):
    _, parsed, answer = challenges(error, dpop=OPTIONS)
    assert answer.status_code == 401
    assert parsed[0][0] == "DPoP"
    assert parsed[0][1]["error"] == error.error and parsed[0][1]["algs"] == ALGS
    assert parsed[1] == ("Bearer", {"realm": "api"})


def test_required_names_only_dpop():
    options = DPoPOptions(required=True, algorithms=["ES256", "EdDSA"])
    for error in (MissingToken(), ExpiredToken(), DPoPRequired(algorithms=options.algorithms)):
        _, parsed, _ = challenges(error, dpop=options)
        assert [scheme for scheme, _ in parsed] == ["DPoP"]
        assert parsed[0][1]["algs"] == ALGS


def test_a_nonce_error_carries_the_nonce_header():
    _, parsed, answer = challenges(UseDPoPNonce("n-1", algorithms=OPTIONS.algorithms), dpop=OPTIONS)
    assert parsed[0][1]["error"] == "use_dpop_nonce"
    assert answer.header("dpop-nonce") == "n-1"
    assert answer.status_code == 401


def test_insufficient_scope_names_only_the_scheme_the_token_came_with():
    _, parsed, answer = challenges(InsufficientScope(["write"]), dpop=OPTIONS)
    assert answer.status_code == 403
    assert parsed == [
        (
            "Bearer",
            {
                "realm": "api",
                "error": "insufficient_scope",
                "error_description": parsed[0][1]["error_description"],
                "scope": "write",
            },
        )
    ]
    error = InsufficientScope(["write"])
    error.scheme = "DPoP"
    _, parsed, _ = challenges(error, dpop=OPTIONS)
    assert [scheme for scheme, _ in parsed] == ["DPoP"]
    assert parsed[0][1]["scope"] == "write"


def test_a_malformed_dpop_header_is_400_with_both_challenges():
    error = InvalidRequest("the Authorization header must be 'DPoP <token>'")
    error.scheme = "DPoP"
    _, parsed, answer = challenges(error, dpop=OPTIONS)
    assert answer.status_code == 400
    assert [scheme for scheme, _ in parsed] == ["DPoP", "Bearer"]


def test_one_field_or_two_say_the_same():
    """RFC 9110 §5.3/§11.6.1: what FastAPI's one-value headers send (joined)
    parses into exactly the challenges of the two fields."""
    fields, parsed, _ = challenges(
        InvalidDPoPProof("the DPoP proof is too old", algorithms=OPTIONS.algorithms), dpop=OPTIONS
    )
    assert len(fields) == 2
    assert parse_challenges([", ".join(fields)]) == parsed


def test_the_parser_reads_what_the_rfcs_show():
    """The test parser itself, on RFC 9449 §7.1's and RFC 6750 §3's examples."""
    assert parse_challenges(
        ['DPoP error="invalid_token", error_description="Invalid DPoP key binding", algs="ES256"']
    ) == [("DPoP", {"error": "invalid_token", "error_description": "Invalid DPoP key binding", "algs": "ES256"})]
    assert parse_challenges(['Bearer realm="example", DPoP algs="ES256 PS256", Basic']) == [
        ("Bearer", {"realm": "example"}),
        ("DPoP", {"algs": "ES256 PS256"}),
        ("Basic", {}),
    ]
    with pytest.raises(ValueError):
        parse_challenges(['="x"'])


def test_invalid_token_for_a_bound_token_without_dpop_is_a_bearer_answer():
    _, parsed, _ = challenges(
        InvalidToken("the access token is sender-constrained (cnf) and needs a proof of possession")
    )
    assert parsed[0][0] == "Bearer"
