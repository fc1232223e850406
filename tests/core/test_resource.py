"""Protected resource metadata (jwt_guard._resource, RFC 9728): validation,
path insertion, the document, and what each request to the well-known
location gets."""

from __future__ import annotations

import json

import pytest

from jwt_guard import ConfigurationError, ProtectedResource
from jwt_guard._resource import (
    WELL_KNOWN_PATH,
    MetadataEndpoint,
    check_resource_audience,
    metadata_url,
    well_known_path,
)

IDP = "https://idp.example.com/"


def make(resource: str = "https://api.example.com/mcp", **options) -> ProtectedResource:
    options.setdefault("authorization_servers", [IDP])
    return ProtectedResource(resource=resource, **options)


# -- construction ------------------------------------------------------------------


@pytest.mark.parametrize(
    "resource",
    [
        pytest.param("https://api.example.com", id="origin"),
        pytest.param("https://api.example.com/", id="origin-slash"),
        pytest.param("https://api.example.com/mcp", id="path"),
        pytest.param("https://api.example.com/mcp/", id="path-trailing-slash"),
        pytest.param("https://api.example.com:8443/v1/mcp", id="port-and-deep-path"),
        pytest.param("https://api.example.com/a%20b/~x", id="percent-encoded"),
        pytest.param("http://127.0.0.1:8000/mcp", id="loopback-http"),
        pytest.param("http://localhost/mcp", id="localhost-http"),
        pytest.param("http://[::1]:9000/mcp", id="ipv6-loopback-http"),
    ],
)
def test_valid_resources_are_kept_verbatim(resource):
    assert make(resource).resource == resource


@pytest.mark.parametrize(
    ("resource", "message"),
    [
        pytest.param("", "non-empty", id="empty"),
        pytest.param(None, "non-empty", id="none"),
        pytest.param(42, "non-empty", id="not-a-string"),
        pytest.param("api.example.com/mcp", "absolute", id="relative"),
        pytest.param("ftp://api.example.com/mcp", "absolute", id="other-scheme"),
        pytest.param("http://api.example.com/mcp", "https", id="plain-http-public-host"),
        pytest.param("https://api.example.com/mcp#frag", "fragment", id="fragment"),
        pytest.param("https://api.example.com/mcp#", "fragment", id="empty-fragment"),
        pytest.param("https://api.example.com/mcp?tenant=1", "query", id="query"),
        pytest.param("https://api.example.com/mcp?", "query", id="empty-query"),
        pytest.param("https://user:pw@api.example.com/mcp", "credentials", id="userinfo"),
        pytest.param("HTTPS://api.example.com/mcp", "lowercase", id="uppercase-scheme"),
        pytest.param("https://API.example.com/mcp", "lowercase", id="uppercase-host"),
        pytest.param("https://api.example.com:443/mcp", "default port", id="default-https-port"),
        pytest.param("http://127.0.0.1:80/mcp", "default port", id="default-http-port"),
        pytest.param("https://api.example.com:/mcp", "default port", id="empty-port"),
        pytest.param("https://api.example.com:99999/mcp", "valid URL", id="bad-port"),
        pytest.param("https://api.example.com/a/../mcp", "dot segments", id="dot-dot"),
        pytest.param("https://api.example.com/./mcp", "dot segments", id="dot"),
        pytest.param("https://api.example.com/%2e%2e/mcp", "dot segments", id="encoded-dot-dot"),
        pytest.param("https://api.example.com/a%2Fb", "encoded slash", id="encoded-slash"),
        pytest.param("https://api.example.com//mcp", "empty path segments", id="double-slash"),
        pytest.param("https://api.example.com/a//b", "empty path segments", id="inner-double-slash"),
        pytest.param("https://api.example.com/a b", "ASCII URL without spaces", id="space"),
        pytest.param("https://api.example.com/a\nb", "ASCII URL without spaces", id="newline"),
        pytest.param("https://bücher.example/mcp", "punycode", id="unicode-host"),
        pytest.param("https://api.example.com/a%zz", "cannot carry", id="bad-percent-escape"),
        pytest.param("https://api.example.com/a[b]", "cannot carry", id="bracket-in-path"),
    ],
)
def test_invalid_resources_are_refused(resource, message):
    with pytest.raises(ConfigurationError, match=message):
        make(resource)


@pytest.mark.parametrize(
    ("servers", "message"),
    [
        pytest.param([], "at least one", id="empty"),
        pytest.param(None, "list of strings", id="none"),
        pytest.param([""], "non-empty strings", id="empty-string"),
        pytest.param(["idp.example.com"], "absolute", id="relative"),
        pytest.param(["http://idp.example.com/"], "https", id="plain-http"),
        pytest.param(["https://idp.example.com/?x=1"], "query", id="query"),
        pytest.param(["https://idp.example.com/#x"], "fragment", id="fragment"),
    ],
)
def test_invalid_authorization_servers_are_refused(servers, message):
    with pytest.raises(ConfigurationError, match=message):
        make(authorization_servers=servers)


def test_authorization_servers_accept_one_string_and_drop_duplicates():
    assert make(authorization_servers=IDP).authorization_servers == (IDP,)
    other = "http://127.0.0.1:9000/issuer"
    assert make(authorization_servers=[IDP, other, IDP]).authorization_servers == (IDP, other)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"scopes_supported": []}, "must not be empty", id="empty-scopes"),
        pytest.param({"scopes_supported": ["a b"]}, "scope token", id="scope-with-space"),
        pytest.param({"scopes_supported": ['a"b']}, "scope token", id="scope-with-quote"),
        pytest.param({"scopes_supported": [3]}, "non-empty strings", id="scope-not-string"),
        pytest.param({"resource_name": ""}, "single-line", id="empty-name"),
        pytest.param({"resource_name": "a\nb"}, "single-line", id="multi-line-name"),
        pytest.param({"resource_documentation": "docs"}, "absolute", id="relative-documentation"),
        pytest.param({"resource_policy_uri": "http://example.com/p"}, "https", id="http-policy"),
        pytest.param({"resource_tos_uri": "https://example.com/t#x"}, "fragment", id="tos-fragment"),
        pytest.param({"cache_max_age": -1}, "non-negative", id="negative-cache"),
        pytest.param({"cache_max_age": True}, "non-negative", id="bool-cache"),
    ],
)
def test_invalid_options_are_refused(options, message):
    with pytest.raises(ConfigurationError, match=message):
        make(**options)


def test_keyword_only_and_immutable():
    with pytest.raises(TypeError):
        ProtectedResource("https://api.example.com", [IDP])  # type: ignore[misc]
    resource = make()
    with pytest.raises(AttributeError, match="read-only"):
        resource.resource = "https://evil.example"  # type: ignore[misc]
    assert resource == make() and hash(resource) == hash(make())
    assert resource != make("https://api.example.com/mcp/")
    assert "https://api.example.com/mcp" in repr(resource)


# -- path insertion (RFC 9728 §3.1) ------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "path"),
    [
        pytest.param("https://api.example.com", WELL_KNOWN_PATH, id="origin"),
        pytest.param("https://api.example.com/", WELL_KNOWN_PATH, id="origin-slash-removed"),
        pytest.param("https://api.example.com/mcp", f"{WELL_KNOWN_PATH}/mcp", id="path"),
        pytest.param("https://api.example.com/mcp/", f"{WELL_KNOWN_PATH}/mcp/", id="trailing-slash-kept"),
        pytest.param("https://api.example.com/v1/mcp", f"{WELL_KNOWN_PATH}/v1/mcp", id="deep"),
        pytest.param("https://api.example.com/a%20b", f"{WELL_KNOWN_PATH}/a%20b", id="encoded-stays-encoded"),
        pytest.param("http://127.0.0.1:8000/mcp", f"{WELL_KNOWN_PATH}/mcp", id="port-is-not-in-path"),
    ],
)
def test_path_insertion(resource, path):
    declared = make(resource)
    assert well_known_path(resource) == declared.well_known_path == path
    origin = resource.split("/", 3)
    assert metadata_url(resource) == declared.metadata_url == f"{origin[0]}//{origin[2]}{path}"


def test_metadata_url_of_the_example_in_the_issue():
    assert make().metadata_url == "https://api.example.com/.well-known/oauth-protected-resource/mcp"


# -- the document (RFC 9728 §2) ----------------------------------------------------


def test_minimal_document():
    assert make().metadata() == {
        "resource": "https://api.example.com/mcp",
        "authorization_servers": [IDP],
        "bearer_methods_supported": ["header"],
    }


def test_full_document():
    resource = make(
        scopes_supported=["read", "write", "read"],
        resource_name="Notes API",
        resource_documentation="https://docs.example.com/notes",
        resource_policy_uri="https://example.com/policy",
        resource_tos_uri="https://example.com/tos",
    )
    document = resource.metadata(bearer_methods=["header", "query"], dpop_required=True, dpop_algorithms=["ES256"])
    assert document == {
        "resource": "https://api.example.com/mcp",
        "authorization_servers": [IDP],
        "scopes_supported": ["read", "write"],
        "bearer_methods_supported": ["header", "query"],
        "resource_name": "Notes API",
        "resource_documentation": "https://docs.example.com/notes",
        "resource_policy_uri": "https://example.com/policy",
        "resource_tos_uri": "https://example.com/tos",
        "dpop_signing_alg_values_supported": ["ES256"],
        "dpop_bound_access_tokens_required": True,
    }


@pytest.mark.parametrize(
    ("declared", "derived", "expected"),
    [
        pytest.param(None, None, None, id="neither"),
        pytest.param(None, ["b", "a"], ["b", "a"], id="derived-from-routes"),
        pytest.param(None, [], None, id="routes-name-none"),
        pytest.param(["x"], ["b", "a"], ["x"], id="explicit-wins"),
    ],
)
def test_scopes_supported_explicit_or_derived(declared, derived, expected):
    document = make(scopes_supported=declared).metadata(scopes_supported=derived)
    assert document.get("scopes_supported") == expected


def test_no_bearer_methods_is_an_empty_list():
    """RFC 9728 §2: ``[]`` says no bearer method is supported (a DPoP-only API)."""
    assert make().metadata(bearer_methods=[])["bearer_methods_supported"] == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"bearer_methods": ["cookie"]}, "unknown", id="cookie-is-not-rfc6750"),
        pytest.param({"bearer_methods": "header"}, None, id="one-string-is-one-method"),
        pytest.param({"dpop_algorithms": []}, "JWS algorithm names", id="no-dpop-algorithms"),
        pytest.param({"dpop_algorithms": ["none"]}, "JWS algorithm names", id="dpop-none"),
        pytest.param({"dpop_algorithms": ["ES 256"]}, "JWS algorithm names", id="dpop-garbage"),
        pytest.param({"scopes_supported": ["a b"]}, "scope token", id="derived-scope-garbage"),
    ],
)
def test_document_arguments_are_validated(options, message):
    if message is None:
        assert make().metadata(**options)["bearer_methods_supported"] == ["header"]
        return
    with pytest.raises(ConfigurationError, match=message):
        make().metadata(**options)


# -- the endpoint --------------------------------------------------------------------

MCP_PATH = f"{WELL_KNOWN_PATH}/mcp"


@pytest.fixture
def endpoint() -> MetadataEndpoint:
    return make(scopes_supported=["read"]).endpoint()


def headers_of(answer) -> dict[str, str]:
    names = [name for name, _ in answer.headers]
    assert len(names) == len(set(names)), "a header appears twice"
    assert all(name == name.lower() for name in names)
    return dict(answer.headers)


def test_get_serves_the_document(endpoint):
    answer = endpoint.answer("GET", MCP_PATH)
    assert answer is not None and answer.status_code == 200
    assert json.loads(answer.body) == endpoint.document == make(scopes_supported=["read"]).metadata()
    assert headers_of(answer) == {
        "content-type": "application/json",
        "cache-control": "public, max-age=3600",
        "access-control-allow-origin": "*",
        "content-length": str(len(answer.body)),
    }
    assert answer.header("Content-Type") == "application/json"
    assert answer.header("access-control-allow-credentials") is None


def test_head_has_the_get_headers_and_no_body(endpoint):
    get, head = endpoint.answer("GET", MCP_PATH), endpoint.answer("HEAD", MCP_PATH)
    assert head is not None and get is not None
    assert head.status_code == 200 and head.body == b""
    assert head.headers == get.headers


def test_options_is_a_cors_preflight(endpoint):
    answer = endpoint.answer("OPTIONS", MCP_PATH)
    assert answer is not None and answer.status_code == 204 and answer.body == b""
    assert headers_of(answer) == {
        "allow": "GET, HEAD, OPTIONS",
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, HEAD, OPTIONS",
        "access-control-allow-headers": "*",
        "access-control-max-age": "86400",
        "cache-control": "public, max-age=3600",
    }


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "get", "Get", "BREW", ""])
def test_other_methods_get_405_with_allow(endpoint, method):
    answer = endpoint.answer(method, MCP_PATH)
    assert answer is not None and answer.status_code == 405
    headers = headers_of(answer)
    assert headers["allow"] == "GET, HEAD, OPTIONS"
    assert headers["access-control-allow-origin"] == "*"
    assert headers["cache-control"] == "no-store"
    assert json.loads(answer.body) == {"error": "method_not_allowed"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param(MCP_PATH, 200, id="exact"),
        pytest.param(MCP_PATH.encode(), 200, id="exact-bytes"),
        pytest.param(f"{MCP_PATH}?x=1", 200, id="query-ignored"),
        pytest.param(f"{MCP_PATH}/", 404, id="trailing-slash"),
        pytest.param(WELL_KNOWN_PATH, 404, id="root-document-of-another-resource"),
        pytest.param(f"{WELL_KNOWN_PATH}/", 404, id="root-trailing-slash"),
        pytest.param(f"{WELL_KNOWN_PATH}/../x", 404, id="dot-dot"),
        pytest.param(f"{WELL_KNOWN_PATH}/./mcp", 404, id="dot"),
        pytest.param(f"{WELL_KNOWN_PATH}%2Fmcp", 404, id="encoded-slash"),
        pytest.param(f"{WELL_KNOWN_PATH}%2fmcp", 404, id="encoded-slash-lowercase"),
        pytest.param("/.well-known%2Foauth-protected-resource/mcp", 404, id="encoded-slash-earlier"),
        pytest.param(f"{WELL_KNOWN_PATH}//mcp", 404, id="double-slash"),
        pytest.param(f"/{WELL_KNOWN_PATH}/mcp", 404, id="leading-double-slash"),
        pytest.param(f"{WELL_KNOWN_PATH}/%6Dcp", 404, id="encoded-unreserved"),
        pytest.param(f"{WELL_KNOWN_PATH}/MCP", 404, id="other-case"),
        pytest.param(f"{WELL_KNOWN_PATH}/other", 404, id="other-resource"),
        pytest.param(f"{WELL_KNOWN_PATH}/mcp/x", 404, id="below"),
        pytest.param(f"{WELL_KNOWN_PATH}/%ff%fe", 404, id="undecodable-escape"),
        pytest.param(b"/.well-known/oauth-protected-resource/\xff", 404, id="raw-non-ascii-bytes"),
        pytest.param(f"{WELL_KNOWN_PATH}x", None, id="longer-name-is-not-ours"),
        pytest.param("/.well-known/oauth-authorization-server", None, id="other-well-known"),
        pytest.param("/mcp", None, id="the-api"),
        pytest.param("/", None, id="root"),
        pytest.param("", None, id="empty"),
        pytest.param("*", None, id="asterisk-form"),
        pytest.param("/" + "a" * 100_000, None, id="very-long"),
    ],
)
def test_paths(endpoint, path, status):
    """Only the exact path is served; any other spelling in the well-known
    namespace is a 404; everything else belongs to the application."""
    for method in ("GET", "HEAD", "OPTIONS", "POST"):
        answer = endpoint.answer(method, path)
        if status is None:
            assert answer is None
            assert not endpoint.owns(path)
        elif status == 404:
            assert answer is not None and answer.status_code == 404, method
            assert json.loads(answer.body) == {"error": "not_found"}
            assert answer.header("access-control-allow-origin") == "*"
        else:
            assert answer is not None and answer.status_code in (200, 204, 405)


def test_root_resource_serves_the_bare_path():
    endpoint = make("https://api.example.com").endpoint()
    assert endpoint.path == WELL_KNOWN_PATH
    assert endpoint.answer("GET", WELL_KNOWN_PATH).status_code == 200
    assert endpoint.answer("GET", f"{WELL_KNOWN_PATH}/").status_code == 404
    assert endpoint.answer("GET", f"{WELL_KNOWN_PATH}/mcp").status_code == 404


def test_trailing_slash_resource_serves_only_its_own_path():
    endpoint = make("https://api.example.com/mcp/").endpoint()
    assert endpoint.answer("GET", f"{MCP_PATH}/").status_code == 200
    assert endpoint.answer("GET", MCP_PATH).status_code == 404


def test_cache_max_age_zero_means_no_cache():
    endpoint = make(cache_max_age=0).endpoint()
    assert endpoint.answer("GET", MCP_PATH).header("cache-control") == "no-cache"


def test_endpoint_takes_the_adapter_facts():
    endpoint = make().endpoint(scopes_supported=["a"], bearer_methods=["header", "body"], dpop_required=True)
    document = json.loads(endpoint.answer("GET", MCP_PATH).body)
    assert document["scopes_supported"] == ["a"]
    assert document["bearer_methods_supported"] == ["header", "body"]
    assert document["dpop_bound_access_tokens_required"] is True
    assert repr(endpoint) == f"MetadataEndpoint(path={MCP_PATH!r})"


# -- resource versus the verifier's audiences (RFC 9728 §3.3) -----------------------


@pytest.mark.parametrize(
    ("resource", "audiences", "message"),
    [
        pytest.param("https://api.example.com/mcp", ("https://api.example.com/mcp",), None, id="equal"),
        pytest.param("https://api.example.com/mcp", ("other", "https://api.example.com/mcp"), None, id="one-of"),
        pytest.param("https://api.example.com/mcp", ("https://api.example.com/mcp/",), "trailing slash", id="slash"),
        pytest.param("https://api.example.com/mcp/", ("https://api.example.com/mcp",), "trailing slash", id="no-slash"),
        pytest.param("https://api.example.com", ("https://api.example.com/",), "trailing slash", id="origin-slash"),
        pytest.param("https://api.example.com/mcp", ("https://API.example.com/mcp",), "not one of", id="case"),
        pytest.param("https://api.example.com/mcp", ("https://api.example.com",), "not one of", id="parent"),
        pytest.param("https://api.example.com/mcp", (), "not one of", id="no-audiences"),
        pytest.param("https://api.example.com/mcp", None, "audience=None", id="audience-check-off"),
    ],
)
def test_resource_must_be_an_audience(resource, audiences, message):
    declared = make(resource)
    if message is None:
        check_resource_audience(resource, audiences)
        check_resource_audience(declared, audiences)
        declared.check_audiences(audiences)
        return
    for call in (
        lambda: check_resource_audience(resource, audiences),
        lambda: check_resource_audience(declared, audiences),
        lambda: declared.check_audiences(audiences),
    ):
        with pytest.raises(ConfigurationError, match=message):
            call()
