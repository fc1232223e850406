"""Plain request values (jwt_guard._request): the ASGI and WSGI views give the same answers, lazily."""

from __future__ import annotations

from typing import Any

import pytest

from jwt_guard._request import EnvironRequest, Request, ScopeRequest


def scope_for(
    *,
    method: str = "GET",
    scheme: str = "https",
    path: str = "/items",
    query: bytes = b"a=1",
    headers: list[tuple[str, str]] | None = None,
    server: tuple[str, int | None] | None = ("api.example.test", 443),
    kind: str = "http",
) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": kind,
        "path": path,
        "query_string": query,
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers or []],
        "server": server,
    }
    if kind == "http":
        scope["method"] = method
    if scheme:
        scope["scheme"] = scheme
    return scope


def environ_for(
    *,
    method: str = "GET",
    scheme: str = "https",
    path: str = "/items",
    query: str = "a=1",
    headers: list[tuple[str, str]] | None = None,
) -> dict[str, Any]:
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "wsgi.url_scheme": scheme,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "api.example.test",
        "SERVER_PORT": "443",
    }
    for name, value in headers or []:
        key = name.upper().replace("-", "_")
        key = key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key
        # WSGI servers join repeated headers with a comma.
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def both(**values: Any) -> list[Request]:
    query = values.pop("query", "a=1")
    return [
        ScopeRequest(scope_for(query=query.encode("latin-1"), **values)),
        EnvironRequest(environ_for(query=query, **values)),
    ]


HEADERS = [("Host", "api.example.test"), ("Content-Type", "application/json"), ("X-Trace", "abc")]


@pytest.mark.parametrize("request_", both(headers=HEADERS), ids=["asgi", "wsgi"])
def test_plain_values(request_):
    assert request_.method == "GET"
    assert request_.scheme == "https"
    assert request_.host == "api.example.test"
    assert request_.path == "/items"
    assert request_.query_string == "a=1"
    assert request_.url() == "https://api.example.test/items"


@pytest.mark.parametrize("request_", both(headers=HEADERS), ids=["asgi", "wsgi"])
@pytest.mark.parametrize("name", ["x-trace", "X-Trace", "X-TRACE"])
def test_header_names_are_case_insensitive(request_, name):
    assert request_.header_values(name) == ["abc"]
    assert request_.header(name) == "abc"


@pytest.mark.parametrize("request_", both(headers=HEADERS), ids=["asgi", "wsgi"])
def test_unprefixed_wsgi_headers_and_absent_ones(request_):
    assert request_.header_values("content-type") == ["application/json"]
    assert request_.header_values("dpop") == []
    assert request_.header("dpop") is None


def test_repeated_headers():
    """ASGI keeps every value; WSGI servers joined them into one."""
    headers = [("Accept", "a"), ("Accept", "b")]
    assert ScopeRequest(scope_for(headers=headers)).header_values("accept") == ["a", "b"]
    assert EnvironRequest(environ_for(headers=headers)).header_values("accept") == ["a,b"]


def test_asgi_raw_values_are_the_servers_bytes():
    request = ScopeRequest(scope_for(headers=[("Authorization", "Bearer t\u00e9")]))
    assert request.raw_header_values("authorization") == [b"Bearer t\xe9"]
    assert request.header_values("authorization") == ["Bearer t\u00e9"]  # latin-1, byte for byte


@pytest.mark.parametrize(
    ("joined", "expected"),
    [
        pytest.param("Bearer a", ["Bearer a"], id="one"),
        pytest.param("Bearer a,Bearer b", ["Bearer a", "Bearer b"], id="two-bearer"),
        pytest.param("Bearer a, Basic b", ["Bearer a", "Basic b"], id="bearer-and-basic"),
        pytest.param(
            'Digest username="u", realm="r,x", nonce="n"',
            ['Digest username="u", realm="r,x", nonce="n"'],
            id="one-digest-with-params",
        ),
        pytest.param('Digest realm="a,Bearer b"', ['Digest realm="a,Bearer b"'], id="credentials-inside-quotes"),
        pytest.param("Bearer a,", ["Bearer a,"], id="trailing-comma"),
    ],
)
def test_wsgi_authorization_is_split_into_sets_of_credentials(joined, expected):
    request = EnvironRequest({"HTTP_AUTHORIZATION": joined})
    assert request.header_values("authorization") == expected
    assert request.raw_header_values("authorization") == expected


@pytest.mark.parametrize("request_", both(headers=[("Cookie", "a=1; b=2;c = 3 ; a=4; junk; =5")]), ids=["asgi", "wsgi"])
def test_cookies_are_parsed_on_first_use(request_):
    assert request_.cookies == {"a": "1", "b": "2", "c": "3"}
    assert request_.cookies is request_.cookies  # parsed once


def test_asgi_defaults():
    """A WebSocket scope has no method; scheme and host fall back to the scope's own."""
    request = ScopeRequest(scope_for(kind="websocket", scheme="", server=("127.0.0.1", 8000), query=b""))
    assert (request.method, request.scheme, request.host, request.query_string) == ("GET", "ws", "127.0.0.1:8000", "")
    assert ScopeRequest(scope_for(server=("api.sock", None))).host == "api.sock"
    assert ScopeRequest(scope_for(server=None)).host == ""


def test_wsgi_defaults():
    request = EnvironRequest({})
    assert (request.method, request.scheme, request.host, request.path, request.query_string) == (
        "GET",
        "http",
        "",
        "/",
        "",
    )


def test_wsgi_path_is_decoded_as_pep_3333_says():
    """PATH_INFO holds the path's bytes as latin-1 characters: UTF-8 is recovered."""
    assert EnvironRequest({"PATH_INFO": "/caf\u00c3\u00a9"}).path == "/caf\u00e9"
    assert EnvironRequest({"PATH_INFO": "/\u20ac"}).path == "/\u20ac"  # already decoded by the server


def test_the_base_class_is_abstract():
    request = Request()
    for read in (
        lambda: request.header_values("x"),
        lambda: request.raw_header_values("x"),
        lambda: request.method,
        lambda: request.scheme,
        lambda: request.host,
        lambda: request.path,
        lambda: request.query_string,
    ):
        with pytest.raises(NotImplementedError):
            read()
