"""Serving RFC 9728 metadata from the request layer (jwt_guard._metadata):
the audience rule, the document's derived members, route scopes read once
and lazily, and WSGI request paths."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from jwt_guard import ConfigurationError, ProtectedResource
from jwt_guard._dpop_options import DPoPOptions
from jwt_guard._guard import Guard, middleware_layer
from jwt_guard._metadata import MetadataService, bearer_methods, dpop_metadata, environ_path

RESOURCE = "https://api.example.test/mcp"
ISSUER = "https://issuer.example.test/"


def resource(**options) -> ProtectedResource:
    options.setdefault("resource", RESOURCE)
    options.setdefault("authorization_servers", [ISSUER])
    return ProtectedResource(**options)


def fake_verifier(audiences=(RESOURCE,), **attributes) -> SimpleNamespace:
    return SimpleNamespace(audiences=audiences, **attributes)


def service(res=None, *, verifier=None, guard=None, route_scopes=None) -> MetadataService:
    return MetadataService(
        res or resource(),
        verifier=verifier or fake_verifier(),
        guard=guard or Guard(),
        route_scopes=route_scopes,
    )


def served(svc: MetadataService) -> dict:
    answer = svc.answer("GET", svc.path)
    assert answer is not None and answer.status_code == 200
    return json.loads(answer.body)


# -- the audience rule (RFC 9728 §3.3: exact comparison) ------------------------------------------


@pytest.mark.parametrize(
    ("res", "audiences", "message"),
    [
        pytest.param(RESOURCE, ("https://api.example.test/mcp/",), "trailing slash", id="audience-has-slash"),
        pytest.param(RESOURCE + "/", (RESOURCE,), "trailing slash", id="resource-has-slash"),
        pytest.param(RESOURCE, ("https://api.example.test",), "not one of the verifier's audiences", id="origin-only"),
        pytest.param(RESOURCE, ("https://API.example.test/mcp",), "not one of", id="case-differs"),
        pytest.param(RESOURCE, None, "audience=None", id="audience-check-off"),
    ],
)
def test_resource_must_be_exactly_an_audience(res, audiences, message):
    with pytest.raises(ConfigurationError, match=message):
        service(resource(resource=res), verifier=fake_verifier(audiences))


def test_trailing_slash_resources_are_their_own_identifiers():
    """``…/mcp/`` is served at ``…/oauth-protected-resource/mcp/``, only there."""
    svc = service(resource(resource=RESOURCE + "/"), verifier=fake_verifier((RESOURCE + "/",)))
    assert svc.path == "/.well-known/oauth-protected-resource/mcp/"
    assert served(svc)["resource"] == RESOURCE + "/"
    assert svc.answer("GET", "/.well-known/oauth-protected-resource/mcp").status_code == 404


def test_a_root_resource_with_or_without_slash_lives_at_the_bare_well_known_path():
    for identifier in ("https://api.example.test", "https://api.example.test/"):
        svc = service(resource(resource=identifier), verifier=fake_verifier((identifier,)))
        assert svc.path == "/.well-known/oauth-protected-resource"
        assert served(svc)["resource"] == identifier


def test_one_audience_among_several_is_enough():
    svc = service(verifier=fake_verifier(("https://other.example.test", RESOURCE)))
    assert svc.metadata_url == "https://api.example.test/.well-known/oauth-protected-resource/mcp"


@pytest.mark.parametrize("value", [RESOURCE, {"resource": RESOURCE}, None])
def test_resource_must_be_a_protected_resource(value):
    with pytest.raises(ConfigurationError, match="ProtectedResource"):
        MetadataService(value, verifier=fake_verifier(), guard=Guard())


# -- derived members ----------------------------------------------------------------------------


def test_bearer_methods_follow_the_guard():
    assert bearer_methods(Guard()) == ["header"]
    assert bearer_methods(Guard(allow_query_token=True)) == ["header", "query"]
    assert served(service(guard=Guard(allow_query_token=True)))["bearer_methods_supported"] == ["header", "query"]


@pytest.mark.parametrize(
    ("verifier", "expected"),
    [
        pytest.param(fake_verifier(), (False, None), id="no-dpop-attribute"),
        pytest.param(fake_verifier(dpop=None), (False, None), id="dpop-none"),
        pytest.param(
            fake_verifier(dpop=DPoPOptions(required=True, algorithms=["ES256"])), (True, ("ES256",)), id="required"
        ),
        pytest.param(
            fake_verifier(dpop=DPoPOptions(algorithms=["EdDSA", "ES256"])), (False, ("EdDSA", "ES256")), id="optional"
        ),
        pytest.param(
            fake_verifier(settings=SimpleNamespace(dpop=DPoPOptions(required=True))),
            (True, DPoPOptions().algorithms),
            id="in-settings",
        ),
        pytest.param(fake_verifier(dpop=SimpleNamespace(required="yes")), (False, None), id="required-not-true"),
        pytest.param(
            fake_verifier(dpop=SimpleNamespace(required=True, algorithms="ES256")), (True, None), id="algorithms-str"
        ),
        pytest.param(
            fake_verifier(dpop=SimpleNamespace(required=True, algorithms=[1])), (True, None), id="algorithms-not-str"
        ),
    ],
)
def test_dpop_options_are_read_defensively(verifier, expected):
    assert dpop_metadata(verifier) == expected


def test_dpop_members_in_the_document():
    document = served(service(verifier=fake_verifier(dpop=DPoPOptions(required=True, algorithms=["ES256"]))))
    assert document["dpop_bound_access_tokens_required"] is True
    assert document["dpop_signing_alg_values_supported"] == ["ES256"]
    plain = served(service())
    assert "dpop_bound_access_tokens_required" not in plain and "dpop_signing_alg_values_supported" not in plain


# -- route scopes: once, lazily, never overriding explicit scopes --------------------------------


class Routes:
    def __init__(self, *scopes):
        self.scopes = list(scopes)
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return self.scopes


def test_route_scopes_are_read_at_the_first_metadata_request_only():
    routes = Routes("read", "write", "read")
    svc = service(route_scopes=routes)
    assert routes.calls == 0  # not at construction: routes may not exist yet
    assert svc.answer("GET", "/api/items") is None
    assert svc.answer("OPTIONS", svc.path).status_code == 204
    assert svc.answer("GET", svc.path + "/").status_code == 404
    assert routes.calls == 0
    routes.scopes.append("admin")  # a route added after the middleware was built
    assert served(svc)["scopes_supported"] == ["read", "write", "admin"]
    assert svc.answer("HEAD", svc.path).header("content-length") == str(
        len(json.dumps(svc.document, separators=(",", ":")))
    )
    assert served(svc)["scopes_supported"] == ["read", "write", "admin"]
    assert routes.calls == 1


def test_explicit_scopes_win_and_routes_are_never_read():
    routes = Routes("read")
    svc = service(resource(scopes_supported=["mcp:tools"]), route_scopes=routes)
    assert served(svc)["scopes_supported"] == ["mcp:tools"]
    assert routes.calls == 0


def test_no_route_scopes_leaves_the_member_out():
    assert "scopes_supported" not in served(service(route_scopes=Routes()))
    assert "scopes_supported" not in served(service())


def test_route_scopes_that_are_not_scope_tokens_are_left_out():
    assert served(service(route_scopes=Routes("ok", "not ok", 'q"', 3)))["scopes_supported"] == ["ok"]


def test_route_scopes_failure_serves_the_document_without_them(caplog):
    def broken():
        raise AttributeError("no routes here")

    svc = service(route_scopes=broken)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        document = served(svc)
    assert "scopes_supported" not in document and document["resource"] == RESOURCE
    assert "could not be read" in caplog.text


# -- the cheap path: other requests ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/api/items", None, id="app-path"),
        pytest.param("/", None, id="root"),
        pytest.param("/.well-known/openid-configuration", None, id="other-well-known"),
        pytest.param("/.well-known/oauth-protected-resource/mcp", 200, id="exact"),
        pytest.param("/.well-known/oauth-protected-resource/mcp?x=1", 200, id="query-ignored"),
        pytest.param(b"/.well-known/oauth-protected-resource/mcp", 200, id="bytes"),
        pytest.param("/%2Ewell-known/oauth-protected-resource/mcp", 404, id="encoded-dot"),
        pytest.param("/.%77ell-known/oauth-protected-resource/mcp", 404, id="encoded-letter"),
        pytest.param("/.well-known/oauth-protected-resource%2Fmcp", 404, id="encoded-slash"),
        pytest.param("//.well-known//oauth-protected-resource/mcp", 404, id="double-slashes"),
        pytest.param("/.well-known/oauth-protected-resource/../mcp", 404, id="dot-segment"),
        pytest.param("/.well-known/oauth-protected-resource", 404, id="bare-namespace"),
        pytest.param("/.well-known/oauth-protected-resource/other", 404, id="another-resource"),
        pytest.param("/%ZZ/.well-known", None, id="bad-escape-outside"),
        pytest.param("/.well-known/oauth-protected-resource/%ff%fe", 404, id="non-utf8-escape"),
    ],
)
def test_answer_by_path(path, status):
    answer = service().answer("GET", path)
    assert (answer.status_code if answer is not None else None) == status


# -- WSGI request paths -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({"RAW_URI": "/a%2Fb?x=1", "PATH_INFO": "/a/b"}, "/a%2Fb?x=1", id="raw-uri"),
        pytest.param({"REQUEST_URI": "/a%2Fb", "PATH_INFO": "/a/b"}, "/a%2Fb", id="request-uri"),
        pytest.param(
            {"RAW_URI": "http://proxy.example/a", "SCRIPT_NAME": "", "PATH_INFO": "/a"}, "/a", id="absolute-form"
        ),
        pytest.param({"SCRIPT_NAME": "/api", "PATH_INFO": "/x y"}, "/api/x%20y", id="script-name"),
        pytest.param({"PATH_INFO": "/caf\u00c3\u00a9"}, "/caf%C3%A9", id="latin-1-bytes"),
        pytest.param({"PATH_INFO": "/\u2603"}, "/%3F", id="not-latin-1"),
        pytest.param({}, "", id="nothing"),
    ],
)
def test_environ_path(environ, expected):
    assert environ_path(environ) == expected


# -- middleware_layer --------------------------------------------------------------------------


def test_middleware_layer_wires_the_service_and_the_responder(make_verifier):
    verifier = make_verifier(audience=RESOURCE)
    guard, responder = middleware_layer(
        verifier,
        None,
        on_error_returns="x",
        realm=None,
        optional=False,
        exclude_paths=(),
        allow_query_token=False,
        resource=resource(),
    )
    assert isinstance(guard.metadata, MetadataService)
    assert responder.resource_metadata == guard.metadata.metadata_url
    plain, plain_responder = middleware_layer(
        verifier, None, on_error_returns="x", realm=None, optional=False, exclude_paths=(), allow_query_token=False
    )
    assert plain.metadata is None and plain_responder.resource_metadata is None


def test_middleware_layer_refuses_a_resource_the_verifier_does_not_accept(make_verifier):
    with pytest.raises(ConfigurationError, match="not one of the verifier's audiences"):
        middleware_layer(
            make_verifier(),
            None,
            on_error_returns="x",
            realm=None,
            optional=False,
            exclude_paths=(),
            allow_query_token=False,
            resource=resource(),
        )


# -- protocol-level entry points: the decoded path decides first ----------------------------------


@pytest.mark.parametrize(
    ("path", "raw_path", "status"),
    [
        pytest.param("/.well-known/oauth-protected-resource/mcp", b"/.well-known/oauth-protected-resource/mcp", 200),
        pytest.param("/.well-known/oauth-protected-resource/mcp", b"/.well-known/oauth-protected-resource%2Fmcp", 404),
        pytest.param("/.well-known/oauth-protected-resource/mcp", b"/%2Ewell-known/oauth-protected-resource/mcp", 404),
        pytest.param("/.well-known/oauth-protected-resource/mcp", None, 200, id="no-raw-path"),
        pytest.param("/api/items", b"/api/items", None, id="application"),
        pytest.param("/api/%77ell-known", b"/api/%2577ell-known", None, id="double-encoded"),
    ],
)
def test_answer_scope(path, raw_path, status):
    scope = {"type": "http", "method": "GET", "path": path}
    if raw_path is not None:
        scope["raw_path"] = raw_path
    answer = service().answer_scope(scope)
    assert (answer.status_code if answer is not None else None) == status


@pytest.mark.parametrize(
    ("environ", "status"),
    [
        pytest.param({"PATH_INFO": "/.well-known/oauth-protected-resource/mcp"}, 200, id="path-info"),
        pytest.param(
            {"SCRIPT_NAME": "/.well-known", "PATH_INFO": "/oauth-protected-resource/mcp"}, 200, id="script-name"
        ),
        pytest.param(
            {"PATH_INFO": "/.well-known/oauth-protected-resource/mcp", "REQUEST_METHOD": "DELETE"}, 405, id="delete"
        ),
        pytest.param(
            {
                "PATH_INFO": "/.well-known/oauth-protected-resource/mcp",
                "REQUEST_URI": "/.well-known/oauth-protected-resource%2Fmcp",
            },
            404,
            id="raw-uri-decides",
        ),
        pytest.param({"PATH_INFO": "/api", "REQUEST_URI": "/api"}, None, id="application"),
        pytest.param({}, None, id="empty"),
    ],
)
def test_answer_environ(environ, status):
    answer = service().answer_environ(environ)
    assert (answer.status_code if answer is not None else None) == status
