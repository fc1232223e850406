"""The token cookie (jwt_guard._cookie): which credentials a request carries, the check on every
request that carries the cookie, and the Set-Cookie values the adapters' helpers send."""

from __future__ import annotations

import base64
import json

import pytest

from jwt_guard._cookie import (
    CookieAuth,
    check_cookie_name,
    clear_cookie_header,
    cookie_max_age,
    cookie_values,
    secure_by_default,
    set_cookie_header,
    token_cookie,
    token_cookie_removal,
)
from jwt_guard._guard import Guard, middleware_layer
from jwt_guard._request import Credentials, EnvironRequest, ScopeRequest
from jwt_guard.errors import ConfigurationError, CrossOriginRequest, InvalidRequest, MissingToken
from tests.core.test_request import environ_for, scope_for
from tests.support.cookies import API_HOST, TRUSTED

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"
OTHER = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ2In0.c2ln"


def requests(method="GET", headers=(), path="/items", query="a=1", scheme="https"):
    headers = [("Host", API_HOST), *headers]
    return [
        ScopeRequest(scope_for(method=method, headers=headers, path=path, query=query.encode(), scheme=scheme)),
        EnvironRequest(environ_for(method=method, headers=headers, path=path, query=query, scheme=scheme)),
    ]


def cookie_guard(**options):
    options.setdefault("cookie", "access_token")
    options.setdefault("trusted_origins", [TRUSTED])
    return Guard(**options)


# -- reading the Cookie header ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(["access_token=abc"], ["abc"], id="alone"),
        pytest.param(["theme=dark; access_token=abc; lang=en"], ["abc"], id="among-others"),
        pytest.param(["theme=dark;access_token=abc"], ["abc"], id="no-space"),
        pytest.param([" access_token = abc "], ["abc"], id="whitespace"),
        pytest.param(['access_token="abc"'], ["abc"], id="quoted"),
        pytest.param(["access_token=abc; access_token=def"], ["abc", "def"], id="twice"),
        pytest.param(["access_token=abc", "access_token=def"], ["abc", "def"], id="two-headers"),
        pytest.param([b"theme=dark; access_token=abc"], ["abc"], id="bytes"),
        pytest.param(["access_token="], [], id="empty"),
        pytest.param(['access_token=""'], [], id="empty-quoted"),
        pytest.param(["xaccess_token=abc; access_tokens=def"], [], id="other-names"),
        pytest.param(["Access_Token=abc"], [], id="names-are-case-sensitive"),
        pytest.param(["access_token"], [], id="no-equals"),
        pytest.param([], [], id="no-header"),
    ],
)
def test_cookie_values(raw, expected):
    assert cookie_values(raw, "access_token") == expected


@pytest.mark.parametrize("name", ["access_token", "__Host-access_token", "at", "a.b-c"])
def test_cookie_names(name):
    assert check_cookie_name(name) == name


@pytest.mark.parametrize("name", ["", "a b", "a=b", "a;b", "tök", None, 3])
def test_cookie_names_are_tokens(name):
    with pytest.raises(ConfigurationError, match="cookie must be a cookie name"):
        check_cookie_name(name)


# -- which credentials ------------------------------------------------------------------------------


def test_the_cookie_is_the_credential_without_a_header():
    guard = cookie_guard()
    for request in requests(headers=[("Cookie", f"theme=dark; access_token={TOKEN}")]):
        assert guard.authenticate(request) == Credentials("Bearer", TOKEN, "cookie")


def test_the_header_wins():
    guard = cookie_guard()
    headers = [("Authorization", f"Bearer {OTHER}"), ("Cookie", f"access_token={TOKEN}")]
    for request in requests(headers=headers):
        assert guard.authenticate(request) == Credentials("Bearer", OTHER, "header")


def test_an_allowed_query_token_wins_too():
    guard = cookie_guard(allow_query_token=True)
    for request in requests(headers=[("Cookie", f"access_token={TOKEN}")], query=f"access_token={OTHER}"):
        assert guard.authenticate(request) == Credentials("Bearer", OTHER, "query")


def test_another_authorization_scheme_leaves_the_cookie_as_the_credential():
    """Basic credentials (a staging proxy's) carry no bearer token: the cookie still counts."""
    guard = cookie_guard()
    headers = [("Authorization", "Basic dXNlcjpwYXNz"), ("Cookie", f"access_token={TOKEN}")]
    for request in requests(headers=headers):
        assert guard.authenticate(request) == Credentials("Bearer", TOKEN, "cookie")


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(None, id="no-cookie-header"),
        pytest.param("theme=dark", id="other-cookies"),
        pytest.param("access_token=", id="empty"),
    ],
)
def test_a_missing_cookie_is_a_missing_token(cookie):
    headers = [] if cookie is None else [("Cookie", cookie)]
    for request in requests(method="POST", headers=[*headers, ("Sec-Fetch-Site", "cross-site")]):
        with pytest.raises(MissingToken):
            cookie_guard().authenticate(request)
        assert cookie_guard(optional=True).authenticate(request) is None


@pytest.mark.parametrize(
    ("cookie", "message"),
    [
        pytest.param(f"access_token={TOKEN}; access_token={OTHER}", "sent more than once", id="twice"),
        pytest.param("access_token=a,b", "malformed", id="not-a-token"),
        pytest.param("access_token=a=b", "malformed", id="equals-inside"),
    ],
)
def test_a_cookie_that_cannot_be_the_credential(cookie, message):
    for request in requests(headers=[("Cookie", cookie)]):
        with pytest.raises(InvalidRequest, match=message):
            cookie_guard().authenticate(request)
        with pytest.raises(InvalidRequest, match=message):
            cookie_guard(optional=True).authenticate(request)


def test_a_duplicated_cookie_does_not_matter_when_the_header_authenticates():
    headers = [("Authorization", f"Bearer {OTHER}"), ("Cookie", f"access_token={TOKEN}; access_token={TOKEN}")]
    for request in requests(headers=headers):
        assert cookie_guard().authenticate(request).source == "header"


def test_header_only_is_off_with_a_cookie():
    assert Guard().header_only
    assert not cookie_guard().header_only
    assert cookie_guard().cookie == "access_token"
    assert Guard().cookie is None


def test_a_repeated_cookie_header_gives_the_same_credentials_object():
    guard = cookie_guard()
    cookie = f"access_token={TOKEN}; theme=dark"
    first = guard.authenticate(requests(headers=[("Cookie", cookie)])[0])
    assert guard.authenticate(requests(headers=[("Cookie", cookie)])[0]) is first
    # A different header is read afresh.
    assert guard.authenticate(requests(headers=[("Cookie", f"access_token={OTHER}")])[0]).token == OTHER


def test_a_repeated_malformed_cookie_is_refused_every_time():
    guard = cookie_guard()
    for _ in range(3):
        with pytest.raises(InvalidRequest):
            guard.authenticate(requests(headers=[("Cookie", f"access_token={TOKEN}; access_token={OTHER}")])[0])


# -- the cross-origin check on every request that carries the cookie -----------------------------


CROSS_SITE = ("Sec-Fetch-Site", "cross-site")


def test_an_unsafe_cookie_request_from_another_site_is_refused():
    for request in requests(method="POST", headers=[("Cookie", f"access_token={TOKEN}"), CROSS_SITE]):
        with pytest.raises(CrossOriginRequest):
            cookie_guard().authenticate(request)
        with pytest.raises(CrossOriginRequest):
            cookie_guard(optional=True).authenticate(request)


def test_a_header_never_bypasses_the_check():
    """The cookie rides along with a bearer header: still refused from another site, because the
    application behind could read the cookie itself."""
    headers = [("Authorization", f"Bearer {OTHER}"), ("Cookie", f"access_token={TOKEN}"), CROSS_SITE]
    for request in requests(method="POST", headers=headers):
        with pytest.raises(CrossOriginRequest):
            cookie_guard().authenticate(request)


def test_a_malformed_header_is_refused_whatever_the_cookie():
    """Either way the application never runs: 400 for the header, before the cookie is looked at."""
    headers = [("Authorization", "Bearer a b"), ("Cookie", f"access_token={TOKEN}"), CROSS_SITE]
    for request in requests(method="POST", headers=headers):
        with pytest.raises(InvalidRequest):
            cookie_guard().authenticate(request)


def test_requests_without_the_cookie_are_not_checked():
    """Header tokens from other origins keep their RFC 6750 answers."""
    headers = [("Authorization", f"Bearer {OTHER}"), ("Cookie", "theme=dark"), CROSS_SITE]
    for request in requests(method="POST", headers=headers):
        assert cookie_guard().authenticate(request).source == "header"
    for request in requests(method="POST", headers=[CROSS_SITE]):
        with pytest.raises(MissingToken):
            cookie_guard().authenticate(request)


def test_a_malformed_or_duplicated_cookie_is_still_checked_first():
    cookie = ("Cookie", f"access_token={TOKEN}; access_token={OTHER}")
    for request in requests(method="DELETE", headers=[cookie, CROSS_SITE]):
        with pytest.raises(CrossOriginRequest):
            cookie_guard().authenticate(request)


def test_excluded_paths_check_requests_that_carry_the_cookie():
    """An excluded path authenticates nothing, but the application could read the cookie there."""
    guard = cookie_guard(exclude_paths=["/login"])
    for request in requests(method="POST", path="/login", headers=[("Cookie", f"access_token={TOKEN}"), CROSS_SITE]):
        assert guard.exempt(request)
        assert isinstance(guard.exempt_refusal(request), CrossOriginRequest)
    passing = [
        ("GET", [("Cookie", f"access_token={TOKEN}"), CROSS_SITE]),  # safe
        ("POST", [CROSS_SITE]),  # no cookie
        ("POST", [("Cookie", "access_token="), CROSS_SITE]),  # an empty cookie grants nothing
        ("POST", [("Cookie", f"access_token={TOKEN}"), ("Sec-Fetch-Site", "same-origin")]),
        ("POST", [("Cookie", f"access_token={TOKEN}"), ("Origin", TRUSTED), CROSS_SITE]),
    ]
    for method, headers in passing:
        for request in requests(method=method, path="/login", headers=headers):
            assert guard.exempt_refusal(request) is None
    assert Guard(exclude_paths=["/login"]).exempt_refusal(requests(method="POST", path="/login")[0]) is None


def test_configuration():
    with pytest.raises(ConfigurationError, match="give cookie= as well"):
        Guard(trusted_origins=[TRUSTED])
    with pytest.raises(ConfigurationError, match="did you mean"):
        Guard(cookie="at", trusted_origins=["https://app.example.test/"])
    with pytest.raises(ConfigurationError, match="cookie must be a cookie name"):
        Guard(cookie="a b")
    with pytest.raises(ConfigurationError, match="public_url"):
        Guard(public_url="api.example.test")
    guard = Guard(public_url="https://api.example.test/v1")
    assert guard.public_url is not None and guard.public_url.origin == "https://api.example.test"
    assert repr(CookieAuth("at", str.isascii)).startswith("CookieAuth('at', CrossOriginCheck(")


def test_middleware_layer_passes_the_cookie_options(make_verifier):
    guard, _ = middleware_layer(
        make_verifier(),
        None,
        on_error_returns="X",
        realm=None,
        optional=False,
        exclude_paths=(),
        allow_query_token=False,
        cookie="access_token",
        trusted_origins=[TRUSTED],
        public_url="https://api.example.test",
    )
    assert guard.cookie == "access_token" and not guard.header_only
    assert guard.public_url is not None and guard.public_url.origin == "https://api.example.test"


# -- Set-Cookie -------------------------------------------------------------------------------------


def _jwt(claims: dict) -> str:
    def segment(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{segment({'alg': 'RS256'})}.{segment(claims)}.c2ln"


def test_set_cookie_header_defaults():
    value = set_cookie_header("access_token", TOKEN, max_age=300, secure=True)
    assert value == f"access_token={TOKEN}; Max-Age=300; Path=/; Secure; HttpOnly; SameSite=Lax"


def test_set_cookie_header_options():
    value = set_cookie_header(
        "at", TOKEN, max_age=None, secure=False, same_site="Strict", path="/api", domain="example.test"
    )
    assert value == f"at={TOKEN}; Path=/api; Domain=example.test; HttpOnly; SameSite=Strict"
    assert "SameSite=None" in set_cookie_header("at", TOKEN, max_age=1, secure=True, same_site="none")


def test_clear_cookie_header():
    assert clear_cookie_header("access_token", secure=True) == (
        "access_token=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/; Secure; HttpOnly; SameSite=Lax"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"token": "a;b"}, "cannot be a cookie value", id="semicolon-in-token"),
        pytest.param({"token": ""}, "cannot be a cookie value", id="empty-token"),
        pytest.param({"token": 'a"b'}, "cannot be a cookie value", id="quote-in-token"),
        pytest.param({"same_site": "sometimes"}, "same_site must be", id="same-site"),
        pytest.param({"same_site": "none", "secure": False}, "needs a Secure cookie", id="none-without-secure"),
        pytest.param({"path": "api"}, "path must be", id="relative-path"),
        pytest.param({"path": "/a;b"}, "path must be", id="path-semicolon"),
        pytest.param({"domain": ""}, "domain must be", id="empty-domain"),
        pytest.param({"domain": "a;b"}, "domain must be", id="domain-semicolon"),
        pytest.param({"name": "__Host-at", "secure": False}, "__Host- cookie", id="host-prefix-insecure"),
        pytest.param({"name": "__Host-at", "path": "/api"}, "__Host- cookie", id="host-prefix-path"),
        pytest.param({"name": "__Host-at", "domain": "example.test"}, "__Host- cookie", id="host-prefix-domain"),
        pytest.param({"name": "__Secure-at", "secure": False}, "__Secure- cookie", id="secure-prefix"),
        pytest.param({"name": "a b"}, "cookie must be a cookie name", id="name"),
    ],
)
def test_set_cookie_header_refuses(options, message):
    arguments = {"name": "at", "token": TOKEN, "max_age": 1, "secure": True, **options}
    name, token = arguments.pop("name"), arguments.pop("token")
    with pytest.raises(ValueError, match=message):
        set_cookie_header(name, token, **arguments)


@pytest.mark.parametrize(
    ("token", "expires_in", "expected"),
    [
        pytest.param(_jwt({"exp": 1_000_300}), None, 300, id="from-exp"),
        pytest.param(_jwt({"exp": 1_000_300.9}), None, 300, id="float-exp"),
        pytest.param(_jwt({"exp": 999_000}), None, 0, id="already-expired"),
        pytest.param(_jwt({"exp": 1_000_300}), 60, 60, id="expires-in-wins"),
        pytest.param(_jwt({"exp": 1_000_300}), -5, 0, id="negative-expires-in"),
        pytest.param(_jwt({"sub": "u"}), None, None, id="no-exp"),
        pytest.param(_jwt({"exp": "soon"}), None, None, id="exp-not-a-number"),
        pytest.param(_jwt({"exp": True}), None, None, id="exp-boolean"),
        pytest.param("opaque-reference-token", None, None, id="opaque"),
        pytest.param("a.!!!.c", None, None, id="not-base64url"),
        pytest.param("a.bm90LWpzb24.c", None, None, id="not-json"),
    ],
)
def test_cookie_max_age(token, expires_in, expected):
    assert cookie_max_age(token, expires_in, now=1_000_000) == expected


@pytest.mark.parametrize(
    ("scheme", "host", "secure"),
    [
        pytest.param("https", "api.example.test", True, id="https"),
        pytest.param("http", "api.example.test", True, id="http-elsewhere"),
        pytest.param("http", "127.0.0.1:8000", False, id="http-loopback"),
        pytest.param("http", "localhost", False, id="http-localhost"),
        pytest.param("http", "[::1]:8000", False, id="http-ipv6-loopback"),
        pytest.param("http", "[::1]", False, id="http-ipv6-loopback-no-port"),
        pytest.param("https", "127.0.0.1", True, id="https-loopback"),
        pytest.param("http", "10.0.0.7", True, id="http-private-address"),
    ],
)
def test_secure_by_default(scheme, host, secure):
    assert secure_by_default(scheme, host) is secure


def test_token_cookie_reads_the_request_and_the_token():
    loopback = ScopeRequest(scope_for(scheme="http", headers=[("Host", "127.0.0.1:8000")]))
    public = ScopeRequest(scope_for(scheme="https", headers=[("Host", API_HOST)]))
    token = _jwt({"exp": 4_000_000_000})
    assert "Secure" not in token_cookie(token, name="at", request=loopback).split("; ")
    assert "Secure" in token_cookie(token, name="at", request=public).split("; ")
    assert "Secure" in token_cookie(token, name="at", request=None).split("; ")
    assert "Secure" in token_cookie(token, name="__Host-at", request=loopback).split("; ")
    assert "Secure" not in token_cookie(token, name="at", request=public, secure=False).split("; ")
    assert "Max-Age=60;" in token_cookie(token, name="at", request=public, expires_in=60)
    assert token_cookie_removal(name="at", request=loopback).startswith("at=; Max-Age=0;")
    assert "Secure" not in token_cookie_removal(name="at", request=loopback).split("; ")


# -- the values-only path (what the adapters call for a guard with a cookie and nothing else) ------


def _no_request(source):
    raise AssertionError("a Request was built for a request that needs none")


def test_values_only_says_when_the_values_are_enough():
    assert cookie_guard().values_only
    assert not cookie_guard(exclude_paths=["/health"]).values_only
    assert not cookie_guard(allow_query_token=True).values_only
    assert not Guard().values_only


@pytest.mark.parametrize(
    ("authorization", "cookie", "method", "expected"),
    [
        pytest.param([], [f"access_token={TOKEN}"], "GET", ("cookie", TOKEN), id="cookie"),
        pytest.param([b"Bearer " + OTHER.encode()], [f"access_token={TOKEN}"], "GET", ("header", OTHER), id="header"),
        pytest.param([f"Bearer {OTHER}"], [], "POST", ("header", OTHER), id="header-post-no-cookie"),
        pytest.param([], [b"theme=dark"], "DELETE", None, id="no-token-cookie"),
        pytest.param([], [], "GET", None, id="nothing"),
    ],
)
def test_authenticate_values_builds_no_request_unless_the_check_runs(authorization, cookie, method, expected):
    guard = cookie_guard(optional=True)
    for _ in range(2):  # and again, from the memo
        found = guard.authenticate_values(authorization, cookie, method, _no_request, None)
        assert (None if found is None else (found.source, found.token)) == expected


def test_authenticate_values_answers_as_authenticate():
    cases = [
        ("GET", [("Cookie", f"access_token={TOKEN}")]),
        ("POST", [("Cookie", f"access_token={TOKEN}"), CROSS_SITE]),
        ("POST", [("Cookie", f"access_token={TOKEN}"), ("Sec-Fetch-Site", "same-origin")]),
        ("PUT", [("Cookie", f"access_token={TOKEN}; access_token={OTHER}")]),
        ("GET", [("Authorization", f"Bearer {OTHER}"), ("Authorization", f"Bearer {OTHER}")]),
        ("GET", []),
    ]
    for method, headers in cases:
        for request in requests(method=method, headers=headers):
            outcomes = []
            for call in (
                lambda: cookie_guard().authenticate(request),
                lambda: cookie_guard().authenticate_values(
                    request.raw_header_values("authorization"),
                    request.raw_header_values("cookie"),
                    request.method,
                    lambda source: source,
                    request,
                ),
            ):
                try:
                    outcomes.append(call())
                except Exception as error:  # the type is what must agree
                    outcomes.append(type(error))
            assert outcomes[0] == outcomes[1], (method, headers)


def test_a_websocket_handshake_is_checked_on_the_values_path():
    """No method (a WebSocket scope has none): checked like an unsafe request."""
    handshake = ScopeRequest(
        scope_for(scheme="wss", kind="websocket", headers=[("Host", API_HOST), ("Origin", "https://evil.example")])
    )
    with pytest.raises(CrossOriginRequest):
        cookie_guard().authenticate_values([], [f"access_token={TOKEN}"], None, lambda source: source, handshake)
    with pytest.raises(CrossOriginRequest):
        cookie_guard().authenticate(
            ScopeRequest(
                scope_for(
                    scheme="wss",
                    kind="websocket",
                    headers=[
                        ("Host", API_HOST),
                        ("Origin", "https://evil.example"),
                        ("Cookie", f"access_token={TOKEN}"),
                    ],
                )
            )
        )
