"""Origins and the public URL (jwt_guard._origin): what an Origin header names, what the API's own origin is."""

from __future__ import annotations

import pytest

from jwt_guard._origin import PublicURL, check_trusted_origin, own_origin, parse_origin
from jwt_guard.errors import ConfigurationError
from tests.core.test_request import environ_for, scope_for


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("https://app.example.com", "https://app.example.com", id="https"),
        pytest.param("http://127.0.0.1:8000", "http://127.0.0.1:8000", id="loopback-port"),
        pytest.param("HTTPS://App.Example.COM", "https://app.example.com", id="case"),
        pytest.param("https://app.example.com:443", "https://app.example.com", id="default-port"),
        pytest.param("http://app.example.com:80", "http://app.example.com", id="http-default-port"),
        pytest.param("https://app.example.com:8443", "https://app.example.com:8443", id="other-port"),
        pytest.param("http://[::1]:8000", "http://[::1]:8000", id="ipv6"),
        pytest.param("http://[0:0::1]", "http://[::1]", id="ipv6-compressed"),
        pytest.param("null", None, id="null"),
        pytest.param("", None, id="empty"),
        pytest.param("https://", None, id="no-host"),
        pytest.param("https://app.example.com/", None, id="slash"),
        pytest.param("https://app.example.com/path", None, id="path"),
        pytest.param("https://app.example.com?x", None, id="query"),
        pytest.param("https://app.example.com#x", None, id="fragment"),
        pytest.param("https://user@app.example.com", None, id="userinfo"),
        pytest.param("https://app.example.com:99999", None, id="port-out-of-range"),
        pytest.param("https://app.example.com:x", None, id="port-not-a-number"),
        pytest.param("ftp://app.example.com", None, id="other-scheme"),
        pytest.param("wss://app.example.com", None, id="websocket-scheme"),
        pytest.param("chrome-extension://abcdef", None, id="extension"),
        pytest.param("https://bücher.example", None, id="non-ascii-host"),
        pytest.param("https://app example.com", None, id="space"),
        pytest.param("app.example.com", None, id="no-scheme"),
    ],
)
def test_parse_origin(value, expected):
    assert parse_origin(value) == expected


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param("https://app.example.com/", "did you mean 'https://app.example.com'", id="trailing-slash"),
        pytest.param("https://app.example.com/spa", "did you mean 'https://app.example.com'", id="path"),
        pytest.param("https://app.example.com:8443/?a", "did you mean 'https://app.example.com:8443'", id="query"),
        pytest.param("null", "only concrete origins", id="null"),
        pytest.param("*", "only concrete origins", id="wildcard"),
        pytest.param("https://*.example.com", "only concrete origins", id="wildcard-subdomains"),
        pytest.param("app.example.com", "is not an origin", id="no-scheme"),
        pytest.param("ftp://app.example.com", "is not an origin", id="other-scheme"),
        pytest.param("https://bücher.example", "IDNA A-label", id="non-ascii"),
        pytest.param(b"https://app.example.com", "must be strings", id="bytes"),
        pytest.param(None, "must be strings", id="none"),
    ],
)
def test_trusted_origins_are_checked(entry, message):
    with pytest.raises(ConfigurationError, match=message.replace("*", r"\*").replace("?", r"\?")):
        check_trusted_origin(entry)


def test_trusted_origins_are_normalised():
    assert check_trusted_origin("HTTPS://App.Example.com:443") == "https://app.example.com"


@pytest.mark.parametrize(
    ("value", "url", "origin"),
    [
        pytest.param("https://api.example.com", "https://api.example.com/", "https://api.example.com", id="origin"),
        pytest.param(
            "https://API.example.com:443/v1/", "https://api.example.com/v1/", "https://api.example.com", id="prefix"
        ),
        pytest.param("http://127.0.0.1:8000/api", "http://127.0.0.1:8000/api", "http://127.0.0.1:8000", id="port"),
    ],
)
def test_public_url(value, url, origin):
    parsed = PublicURL.parse(value)
    assert (parsed.url, parsed.origin) == (url, origin)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("api.example.com", id="no-scheme"),
        pytest.param("https://api.example.com/?a=1", id="query"),
        pytest.param("https://api.example.com/#top", id="fragment"),
        pytest.param("https://user@api.example.com", id="userinfo"),
        pytest.param("wss://api.example.com", id="websocket"),
        pytest.param("", id="empty"),
        pytest.param(None, id="none"),
    ],
)
def test_public_url_refuses(value):
    with pytest.raises(ConfigurationError, match="public_url"):
        PublicURL.parse(value)


def _views(scheme: str, host: str | None, kind: str = "http"):
    headers = [] if host is None else [("Host", host)]
    scope = scope_for(scheme=scheme, headers=headers, kind=kind)
    if kind == "http":
        from jwt_guard._request import EnvironRequest, ScopeRequest

        return [ScopeRequest(scope), EnvironRequest(environ_for(scheme=scheme, headers=headers))]
    from jwt_guard._request import ScopeRequest

    return [ScopeRequest(scope)]


@pytest.mark.parametrize(
    ("scheme", "host", "kind", "expected"),
    [
        pytest.param("https", "api.example.test", "http", "https://api.example.test", id="host-header"),
        pytest.param("http", "API.example.test:80", "http", "http://api.example.test", id="normalised"),
        pytest.param("http", "127.0.0.1:8000", "http", "http://127.0.0.1:8000", id="port"),
        pytest.param("https", None, "http", "https://api.example.test", id="server-name-without-host"),
        pytest.param("wss", "api.example.test", "websocket", "https://api.example.test", id="websocket-secure"),
        pytest.param("ws", "api.example.test:8080", "websocket", "http://api.example.test:8080", id="websocket"),
        pytest.param("https", "api.example.test/evil", "http", None, id="host-with-path"),
        pytest.param("https", "a b", "http", None, id="host-garbage"),
    ],
)
def test_own_origin_from_the_request(scheme, host, kind, expected):
    for request in _views(scheme, host, kind):
        assert own_origin(request, None) == expected


def test_own_origin_is_the_public_urls_when_configured():
    """A proxy ending TLS: the server sees http and an internal Host; clients use the public URL."""
    public = PublicURL.parse("https://api.example.com/v1")
    for request in _views("http", "10.0.0.7:8000"):
        assert own_origin(request, public) == "https://api.example.com"
