"""The request layer (jwt_guard._guard): bearer extraction, the header memo, exclusions, anonymity, options."""

from __future__ import annotations

import pytest

from jwt_guard import AccessToken, Responder
from jwt_guard._guard import Guard, check_scopes, check_verifier, middleware_layer, parse_authorization
from jwt_guard._request import Credentials, EnvironRequest, Request, ScopeRequest
from jwt_guard.errors import ConfigurationError, InsufficientScope, InvalidRequest, MissingToken

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"


# -- parse_authorization (RFC 6750 §2.1) -----------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(f"Bearer {TOKEN}", TOKEN, id="canonical"),
        pytest.param(f"bearer {TOKEN}", TOKEN, id="lower-case-scheme"),
        pytest.param(f"BEARER {TOKEN}", TOKEN, id="upper-case-scheme"),
        pytest.param(f"BeArEr {TOKEN}", TOKEN, id="mixed-case-scheme"),
        pytest.param(f"Bearer  {TOKEN}", TOKEN, id="two-spaces"),
        pytest.param(f"Bearer     {TOKEN}", TOKEN, id="many-spaces"),
        pytest.param(f" Bearer {TOKEN} ", TOKEN, id="surrounding-spaces"),
        pytest.param("Bearer abc==", "abc==", id="token68-padding"),
        pytest.param("Bearer a-b._~+/c", "a-b._~+/c", id="token68-all-symbols"),
        pytest.param("Bearer x", "x", id="one-character"),
    ],
)
def test_parse_authorization(value, expected):
    assert parse_authorization(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("Basic dXNlcjpwYXNz", id="basic"),
        pytest.param(f"DPoP {TOKEN}", id="dpop"),
        pytest.param(f"Token {TOKEN}", id="token"),
        pytest.param(f"Bearer{TOKEN}", id="no-space"),
        pytest.param(f"Bearer-{TOKEN}", id="scheme-lookalike"),
        pytest.param(TOKEN, id="bare-token"),
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
    ],
)
def test_other_schemes_are_not_bearer_credentials(value):
    """A non-Bearer Authorization header simply carries no bearer token."""
    assert parse_authorization(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("Bearer", "no bearer token", id="scheme-only"),
        pytest.param("Bearer ", "no bearer token", id="scheme-and-space"),
        pytest.param("Bearer    ", "no bearer token", id="scheme-and-spaces"),
        pytest.param(f"Bearer {TOKEN} {TOKEN}", "exactly one", id="two-tokens"),
        pytest.param(f"Bearer {TOKEN}  extra", "exactly one", id="trailing-word"),
        pytest.param(f"Bearer {TOKEN},{TOKEN}", "exactly one", id="comma-list"),
        pytest.param('Bearer "quoted"', "exactly one", id="quoted"),
        pytest.param("Bearer a=b", "exactly one", id="equals-inside"),
        pytest.param("Bearer ===", "exactly one", id="padding-only"),
        pytest.param("Bearer a\tb", "exactly one", id="tab-inside"),
        pytest.param(f"Bearer\t{TOKEN}", "Bearer <token>", id="tab-as-separator"),
        pytest.param(f"bearer\n{TOKEN}", "Bearer <token>", id="newline-as-separator"),
        pytest.param("Bearer tök", "exactly one", id="non-ascii"),
        pytest.param("Bearer a;b", "exactly one", id="semicolon"),
        pytest.param('Bearer realm="x"', "exactly one", id="auth-param-syntax"),
    ],
)
def test_malformed_bearer_header(value, message):
    with pytest.raises(InvalidRequest, match=message):
        parse_authorization(value)


# -- Guard.credentials, through both request views ----------------------------------------------------


def asgi_request(headers: list[str], query: str | bytes | None = None, path: str = "/") -> Request:
    raw = query.encode("latin-1") if isinstance(query, str) else query
    scope = {
        "type": "http",
        "path": path,
        "query_string": raw or b"",
        "headers": [(b"authorization", value.encode("latin-1")) for value in headers],
    }
    return ScopeRequest(scope)


def wsgi_request(headers: list[str], query: str | bytes | None = None, path: str = "/") -> Request:
    # WSGI servers join repeated headers with a comma.
    environ = {"PATH_INFO": path, "QUERY_STRING": query.decode("latin-1") if isinstance(query, bytes) else query or ""}
    if headers:
        environ["HTTP_AUTHORIZATION"] = ",".join(headers)
    return EnvironRequest(environ)


REQUESTS = [pytest.param(asgi_request, id="asgi"), pytest.param(wsgi_request, id="wsgi")]


def token_of(credentials: Credentials | None) -> str | None:
    return None if credentials is None else credentials.token


@pytest.mark.parametrize("make_request", REQUESTS)
@pytest.mark.parametrize(
    ("options", "headers", "query", "expected"),
    [
        pytest.param({}, [f"Bearer {TOKEN}"], None, TOKEN, id="header"),
        pytest.param({}, [], None, None, id="nothing"),
        pytest.param({}, [], "", None, id="empty-query"),
        pytest.param({}, ["Basic dXNlcjpwYXNz"], None, None, id="other-scheme"),
        pytest.param({}, [], f"access_token={TOKEN}", None, id="query-ignored-by-default"),
        pytest.param({}, [f"Bearer {TOKEN}"], "access_token=other", TOKEN, id="query-ignored-with-header"),
        pytest.param({"allow_query_token": True}, [], f"access_token={TOKEN}", TOKEN, id="query-allowed"),
        pytest.param({"allow_query_token": True}, [], f"a=1&access_token={TOKEN}&b=2", TOKEN, id="query-among-others"),
        pytest.param({"allow_query_token": True}, [], f"access_token={TOKEN}".encode(), TOKEN, id="query-bytes"),
        pytest.param({"allow_query_token": True}, [], "a=1", None, id="query-without-token"),
        pytest.param({"allow_query_token": True}, [], "my_access_token=x", None, id="query-similar-name"),
        pytest.param(
            {"allow_query_token": True}, [], f"access%5Ftoken={TOKEN}", TOKEN, id="query-name-percent-encoded"
        ),
        pytest.param({"allow_query_token": True}, [f"Bearer {TOKEN}"], "a=1", TOKEN, id="header-with-unrelated-query"),
        pytest.param(
            {"allow_query_token": True}, ["Basic dXNlcjpwYXNz"], f"access_token={TOKEN}", TOKEN, id="basic-and-query"
        ),
    ],
)
def test_credentials(make_request, options, headers, query, expected):
    guard = Guard(**options)
    request = make_request(headers, query)
    assert token_of(guard.credentials(request)) == expected
    assert token_of(guard.credentials(request)) == expected  # and again, from the memo


@pytest.mark.parametrize("make_request", REQUESTS)
def test_credentials_carry_their_scheme_and_source(make_request):
    guard = Guard(allow_query_token=True)
    assert guard.credentials(make_request([f"Bearer {TOKEN}"])) == Credentials("Bearer", TOKEN, "header")
    assert guard.credentials(make_request([], f"access_token={TOKEN}")) == Credentials("Bearer", TOKEN, "query")


@pytest.mark.parametrize("make_request", REQUESTS)
@pytest.mark.parametrize(
    ("options", "headers", "query", "message"),
    [
        pytest.param({}, [f"Bearer {TOKEN}", f"Bearer {TOKEN}"], None, "more than one", id="two-headers"),
        pytest.param({}, [f"Bearer {TOKEN}", "Basic dXNlcjpwYXNz"], None, "more than one", id="bearer-and-basic"),
        pytest.param({}, ["Bearer"], None, "no bearer token", id="malformed-header"),
        pytest.param(
            {"allow_query_token": True},
            [f"Bearer {TOKEN}"],
            f"access_token={TOKEN}",
            "more than one place",
            id="header-and-query",
        ),
        pytest.param(
            {"allow_query_token": True},
            [],
            f"access_token={TOKEN}&access_token={TOKEN}",
            "more than one place",
            id="repeated-param",
        ),
        pytest.param(
            {"allow_query_token": True},
            [],
            "access_token=a&x=1&access_token=b",
            "more than one place",
            id="repeated-different",
        ),
        pytest.param({"allow_query_token": True}, [], "access_token=", "empty", id="empty-param"),
        pytest.param({"allow_query_token": True}, [], "access_token", "empty", id="param-without-value"),
    ],
)
def test_credentials_invalid_request(make_request, options, headers, query, message):
    guard = Guard(**options)
    for _ in range(2):  # a refusal is never memoised into an acceptance
        with pytest.raises(InvalidRequest, match=message):
            guard.credentials(make_request(headers, query))
        with pytest.raises(InvalidRequest, match=message):
            guard.authenticate(make_request(headers, query))


# -- the memo of parsed Authorization values -----------------------------------------------------------


@pytest.mark.parametrize("make_request", REQUESTS)
def test_a_repeated_header_gives_the_same_credentials_object(make_request):
    """The token string is the same object each time: the verifier's cache keeps its hash."""
    guard = Guard()
    first = guard.authenticate(make_request([f"Bearer {TOKEN}"]))
    second = guard.authenticate(make_request([f"Bearer {TOKEN}"]))
    assert first is second
    assert first is not None and first.token == TOKEN


def test_alternating_clients_each_get_their_own_credentials():
    """The last-seen entry is only a shortcut: another value never reuses it."""
    guard = Guard()
    tokens = [f"tok{index}" for index in range(5)]
    for _ in range(3):
        for token in tokens:
            assert token_of(guard.authenticate(asgi_request([f"Bearer {token}"]))) == token
            assert token_of(guard.authenticate(wsgi_request([f"Bearer {token}"]))) == token


@pytest.mark.parametrize(
    ("options", "header_only"),
    [
        pytest.param({}, True, id="default"),
        pytest.param({"optional": True}, True, id="optional"),
        pytest.param({"exclude_paths": ["/health"]}, False, id="excluded-paths"),
        pytest.param({"allow_query_token": True}, False, id="query-token"),
    ],
)
def test_header_only_says_when_the_authorization_values_are_enough(options, header_only):
    assert Guard(**options).header_only is header_only


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param([], MissingToken, id="none"),
        pytest.param([f"Bearer {TOKEN}"], TOKEN, id="str"),
        pytest.param([f"Bearer {TOKEN}".encode()], TOKEN, id="bytes"),
        pytest.param(["Basic dXNlcjpwYXNz"], MissingToken, id="other-scheme"),
        pytest.param([f"Bearer {TOKEN}", f"Bearer {TOKEN}"], InvalidRequest, id="two"),
        pytest.param([b"Bearer"], InvalidRequest, id="malformed"),
    ],
)
def test_authenticate_header_answers_as_authenticate(values, expected):
    """The adapters' shortcut and the general entry decide alike."""
    request = asgi_request([v.decode("latin-1") if isinstance(v, bytes) else v for v in values])
    for run in (lambda: Guard().authenticate_header(values), lambda: Guard().authenticate(request)):
        if isinstance(expected, str):
            assert token_of(run()) == expected
        else:
            with pytest.raises(expected):
                run()


def test_values_sharing_their_tail_are_told_apart():
    """The memo is keyed by the value's last characters; a hit still compares the whole value."""
    tail = "x" * 40
    guard = Guard()
    assert token_of(guard.authenticate(asgi_request([f"Bearer a{tail}"]))) == f"a{tail}"
    assert token_of(guard.authenticate(asgi_request([f"Bearer b{tail}"]))) == f"b{tail}"
    assert token_of(guard.authenticate(asgi_request([f"Bearer a{tail}"]))) == f"a{tail}"
    assert guard.credentials(asgi_request([f"Basic {tail}"])) is None
    with pytest.raises(MissingToken):
        guard.authenticate(asgi_request([f"Basic {tail}"]))


def test_str_and_bytes_values_do_not_mix():
    """One guard fed by both request views: equal text, different types, same answer."""
    guard = Guard()
    assert token_of(guard.authenticate(asgi_request([f"Bearer {TOKEN}"]))) == TOKEN
    assert token_of(guard.authenticate(wsgi_request([f"Bearer {TOKEN}"]))) == TOKEN
    assert len(guard._memo) == 2


def test_the_memo_is_bounded():
    guard = Guard()
    for index in range(1000):
        assert token_of(guard.authenticate(asgi_request([f"Bearer token{index:05d}"]))) == f"token{index:05d}"
        assert len(guard._memo) <= 256


def test_long_values_are_parsed_but_not_kept():
    guard = Guard()
    token = "a" * 10_000
    assert token_of(guard.authenticate(asgi_request([f"Bearer {token}"]))) == token
    assert guard._memo == {}


# -- authenticate: anonymous requests ----------------------------------------------------------------


@pytest.mark.parametrize("make_request", REQUESTS)
def test_anonymous_when_required(make_request):
    with pytest.raises(MissingToken):
        Guard().authenticate(make_request([]))
    with pytest.raises(MissingToken):
        Guard().authenticate(make_request(["Basic dXNlcjpwYXNz"]))


@pytest.mark.parametrize("make_request", REQUESTS)
def test_anonymous_when_optional(make_request):
    guard = Guard(optional=True)
    assert guard.optional is True
    assert guard.authenticate(make_request([])) is None
    with pytest.raises(InvalidRequest):
        guard.authenticate(make_request(["Bearer"]))  # present but malformed: still refused


# -- exclude_paths ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exclude", "path", "excluded"),
    [
        pytest.param(["/health"], "/health", True, id="exact"),
        pytest.param(["/health"], "/health/", False, id="exact-not-trailing-slash"),
        pytest.param(["/health"], "/healthz", False, id="exact-not-prefix"),
        pytest.param(["/health"], "/health/deep", False, id="exact-not-subpath"),
        pytest.param(["/health"], "/HEALTH", False, id="case-sensitive"),
        pytest.param("/health", "/health", True, id="single-string"),
        pytest.param(["/docs/"], "/docs/", True, id="prefix-itself"),
        pytest.param(["/docs/"], "/docs", True, id="prefix-without-slash"),
        pytest.param(["/docs/"], "/docs/openapi.json", True, id="prefix-subpath"),
        pytest.param(["/docs/"], "/docsx", False, id="prefix-needs-slash"),
        pytest.param(["/docs/"], "/api/docs/", False, id="prefix-anchored"),
        pytest.param(["/static*"], "/static", True, id="star-itself"),
        pytest.param(["/static*"], "/static/app.js", True, id="star-subpath"),
        pytest.param(["/static*"], "/staticfiles", True, id="star-any-suffix"),
        pytest.param(["/static*"], "/stati", False, id="star-shorter"),
        pytest.param(["/"], "/", True, id="root-exact"),
        pytest.param(["/"], "/anything", False, id="root-is-exact-only"),
        pytest.param(["/*"], "/anything", True, id="everything"),
        pytest.param([], "/health", False, id="none"),
        pytest.param(["/a", "/b/"], "/b/c", True, id="several"),
    ],
)
def test_exclude_paths(exclude, path, excluded):
    guard = Guard(exclude_paths=exclude)
    assert guard.excluded(path) is excluded
    assert guard.exempt(asgi_request([], path=path)) is excluded
    assert guard.exempt(wsgi_request([], path=path)) is excluded


@pytest.mark.parametrize(
    "exclude",
    [
        pytest.param(["health"], id="relative"),
        pytest.param([""], id="empty"),
        pytest.param(["*"], id="bare-star"),
        pytest.param([5], id="number"),
        pytest.param(["https://api.example.test/health"], id="absolute-url"),
    ],
)
def test_exclude_paths_must_be_paths(exclude):
    with pytest.raises(ConfigurationError, match="exclude_paths"):
        Guard(exclude_paths=exclude)


# -- check_scopes ------------------------------------------------------------------------------------------


def token_with(*scopes: str) -> AccessToken:
    return AccessToken(claims={"iss": "i"}, header={"alg": "RS256"}, scopes=frozenset(scopes), raw="a.b.c")


@pytest.mark.parametrize(
    ("granted", "required", "any_of", "ok"),
    [
        pytest.param({"read", "write"}, ["read"], False, True, id="all-one"),
        pytest.param({"read", "write"}, ["read", "write"], False, True, id="all-both"),
        pytest.param({"read"}, ["read", "write"], False, False, id="all-one-missing"),
        pytest.param(set(), ["read"], False, False, id="all-none-granted"),
        pytest.param({"read"}, [], False, True, id="all-nothing-required"),
        pytest.param({"read"}, ["read", "write"], True, True, id="any-one-held"),
        pytest.param({"admin"}, ["read", "write"], True, False, id="any-none-held"),
        pytest.param(set(), [], True, True, id="any-nothing-required"),
        pytest.param({"Read"}, ["read"], False, False, id="case-sensitive"),
    ],
)
def test_check_scopes(granted, required, any_of, ok):
    token = token_with(*granted)
    if ok:
        assert check_scopes(token, required, any_of=any_of) is None
    else:
        with pytest.raises(InsufficientScope) as info:
            check_scopes(token, required, any_of=any_of)
        assert info.value.required_scopes == tuple(required)
        assert info.value.status_code == 403


# -- middleware_layer: the options both middlewares check -----------------------------------------------


def _plain_on_error(error, request):
    return None


async def _async_on_error(error, request):
    return None


def middleware_options(verifier, **overrides):
    options = {
        "on_error": None,
        "on_error_returns": "a Response or None",
        "realm": None,
        "optional": False,
        "exclude_paths": (),
        "allow_query_token": False,
    }
    return {**options, **overrides, "verifier": verifier}


def test_middleware_layer_returns_the_configured_guard_and_responder(make_verifier):
    """The settings come through unchanged; the responder names the verifier."""
    verifier = make_verifier()
    options = middleware_options(
        verifier, realm="api", optional=True, exclude_paths=["/health"], on_error=_plain_on_error
    )
    guard, responder = middleware_layer(**options)
    assert (guard.optional, guard.allow_query_token) == (True, False)
    assert guard.excluded("/health")
    assert not guard.excluded("/api")
    assert isinstance(responder, Responder)
    assert (responder.realm, responder.on_error, responder.verifier) == ("api", _plain_on_error, verifier)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        pytest.param({"on_error": "nope"}, "on_error must be a plain function returning X or None", id="not-callable"),
        pytest.param(
            {"on_error": _async_on_error}, "on_error must be a plain function returning X or None", id="async-def"
        ),
        pytest.param({"realm": 'a"b'}, "realm must be printable ASCII", id="realm"),
        pytest.param({"exclude_paths": ["health"]}, "exclude_paths entries must start with '/'", id="exclude-paths"),
        pytest.param(
            {"on_error": "nope", "realm": 'a"b'}, "on_error must be", id="on-error-checked-before-guard-settings"
        ),
        pytest.param(
            {"realm": 'a"b', "exclude_paths": ["health"]}, "realm must be", id="realm-checked-before-exclude-paths"
        ),
    ],
)
def test_middleware_layer_refuses(make_verifier, overrides, message):
    options = middleware_options(make_verifier(), on_error_returns="X or None", **overrides)
    with pytest.raises(ConfigurationError) as info:
        middleware_layer(**options)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("verifier", [pytest.param(object(), id="object"), pytest.param("verifier", id="str")])
def test_verifier_is_checked_first(verifier):
    """Even with every other option wrong, the verifier's type is what is reported."""
    options = middleware_options(verifier, on_error="nope", realm='a"b')
    message = f"verifier must be a jwt_guard.Verifier, not {type(verifier).__name__}"
    with pytest.raises(ConfigurationError) as info:
        middleware_layer(**options)
    assert str(info.value) == message
    with pytest.raises(ConfigurationError) as info:
        check_verifier(verifier)
    assert str(info.value) == message
