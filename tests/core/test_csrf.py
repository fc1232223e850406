"""The cross-origin check (jwt_guard._csrf): one function, one table, both request views."""

from __future__ import annotations

import pytest

from jwt_guard._csrf import SAFE_METHODS, CrossOriginCheck, cross_origin_refusal
from jwt_guard._origin import PublicURL
from jwt_guard._request import EnvironRequest, ScopeRequest
from jwt_guard.errors import ConfigurationError, CrossOriginRequest
from tests.core.test_request import environ_for, scope_for
from tests.support.cookies import API_HOST, API_ORIGIN, CASES, TRUSTED


def _values(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name.lower()]


@pytest.mark.parametrize(("method", "headers", "passes"), CASES)
def test_the_table(method, headers, passes):
    """The pure function decides each case as the contract says."""
    reason = cross_origin_refusal(
        method,
        _values(headers, "Sec-Fetch-Site"),
        _values(headers, "Origin"),
        lambda: API_ORIGIN,
        frozenset({TRUSTED}),
    )
    assert (reason is None) == passes, reason


@pytest.mark.parametrize(("method", "headers", "passes"), CASES)
def test_both_request_views_decide_alike(method, headers, passes):
    check = CrossOriginCheck([TRUSTED])
    views = [
        ScopeRequest(scope_for(method=method, headers=[("Host", API_HOST), *headers])),
        EnvironRequest(environ_for(method=method, headers=[("Host", API_HOST), *headers])),
    ]
    for request in views:
        refusal = check.refusal(request)
        assert (refusal is None) == passes
        if refusal is not None:
            assert isinstance(refusal, CrossOriginRequest)
            assert refusal.status_code == 403


def _never() -> str:
    raise AssertionError("the own origin was computed although Sec-Fetch-Site decides")


@pytest.mark.parametrize("site", ["same-origin", "none", "same-site", "cross-site"])
def test_fetch_metadata_decides_without_the_own_origin(site):
    """With Sec-Fetch-Site present, Origin is only compared with the trusted origins."""
    cross_origin_refusal("POST", [site], [API_ORIGIN], _never, frozenset())


@pytest.mark.parametrize(
    ("site", "origin", "reason"),
    [
        pytest.param(["cross-site"], [], "Sec-Fetch-Site", id="fetch-metadata"),
        pytest.param(["same-origin", "same-origin"], [], "Sec-Fetch-Site", id="sent-twice"),
        pytest.param([], ["https://evil.example"], "Origin", id="origin"),
        pytest.param([], [API_ORIGIN, API_ORIGIN], "Origin", id="origin-sent-twice"),
        pytest.param([], [TRUSTED, TRUSTED], "Origin", id="trusted-origin-sent-twice"),
    ],
)
def test_the_reason_names_the_deciding_header(site, origin, reason):
    assert cross_origin_refusal("POST", site, origin, lambda: API_ORIGIN, frozenset({TRUSTED})) == reason


def test_an_unknown_own_origin_matches_nothing():
    """A Host that forms no origin: every Origin differs from it."""
    assert cross_origin_refusal("POST", [], ["https://evil.example"], lambda: None, frozenset()) == "Origin"


def test_websocket_handshakes_are_checked():
    """A WebSocket handshake is a GET, but checked: cross-site WebSocket hijacking."""
    assert cross_origin_refusal("GET", ["cross-site"], [], lambda: API_ORIGIN, frozenset(), websocket=True)
    assert cross_origin_refusal("GET", ["same-origin"], [], lambda: API_ORIGIN, frozenset(), websocket=True) is None
    check = CrossOriginCheck()
    wss = ScopeRequest(
        scope_for(scheme="wss", kind="websocket", headers=[("Host", API_HOST), ("Origin", "https://x.example")])
    )
    assert isinstance(check.refusal(wss), CrossOriginRequest)
    own = ScopeRequest(scope_for(scheme="wss", kind="websocket", headers=[("Host", API_HOST), ("Origin", API_ORIGIN)]))
    assert check.refusal(own) is None


def test_safe_methods_are_exactly_three():
    assert frozenset({"GET", "HEAD", "OPTIONS"}) == SAFE_METHODS


@pytest.mark.parametrize(
    ("public_url", "passes"),
    [
        pytest.param(None, False, id="without-public-url"),
        pytest.param("https://api.example.test", True, id="with-public-url"),
        pytest.param("https://api.example.test/mounted/api", True, id="with-a-mount-prefix"),
        pytest.param("https://other.example.test", False, id="public-url-elsewhere"),
    ],
)
def test_a_proxy_that_changes_the_scheme(public_url, passes):
    """TLS ends at a proxy: the server sees http; an old browser sends Origin https://… and no Sec-Fetch-Site."""
    check = CrossOriginCheck(public_url=None if public_url is None else PublicURL.parse(public_url))
    headers = [("Host", API_HOST), ("Origin", API_ORIGIN)]
    for request in (
        ScopeRequest(scope_for(method="POST", scheme="http", headers=headers)),
        EnvironRequest(environ_for(method="POST", scheme="http", headers=headers)),
    ):
        assert (check.refusal(request) is None) == passes


def test_trusted_origins_are_validated_at_construction():
    with pytest.raises(ConfigurationError, match="did you mean"):
        CrossOriginCheck(["https://app.example.test/"])
    with pytest.raises(ConfigurationError, match="must be a list of origins"):
        CrossOriginCheck(42)  # type: ignore[arg-type]
    assert CrossOriginCheck("https://App.example.test").trusted == frozenset({"https://app.example.test"})
    assert CrossOriginCheck(None).trusted == frozenset()


def test_refusals_are_logged_without_request_data(caplog):
    caplog.set_level("INFO", logger="jwt_guard")
    request = ScopeRequest(
        scope_for(
            method="POST", headers=[("Host", API_HOST), ("Sec-Fetch-Site", "cross-site"), ("Origin", "https://e\nvil")]
        )
    )
    assert CrossOriginCheck().refusal(request) is not None
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "jwt_guard: request rejected (cross_origin_request, 403): cross-origin request refused; header='Sec-Fetch-Site'"
    ]
    assert caplog.records[0].jwt_guard_reason == "cross_origin_request"


def test_the_answer_is_403_json_without_a_challenge():
    from jwt_guard import render_error

    answer = render_error(CrossOriginRequest(), realm="api")
    assert answer.status_code == 403
    assert answer.header("www-authenticate") is None
    assert answer.header("content-type") == "application/json"
    assert answer.header("cache-control") == "no-store"
    assert answer.body == b'{"error":"cross_origin_request","error_description":"cross-origin request refused"}'
