"""RFC 9728 protected resource metadata served by jwt_guard.django.JWTGuardMiddleware
(``JWT_GUARD["RESOURCE"]``), under Django's WSGI handler and its ASGI handler."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.test import AsyncClient, Client

from jwt_guard import ProtectedResource
from jwt_guard._auth_syntax import parse_challenges
from jwt_guard.django import SettingsError
from tests.django.conftest import bearer

RESOURCE = "https://api.example.test/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
METADATA_URL = "https://api.example.test" + METADATA_PATH
AUTHORIZATION_SERVER = "https://issuer.example.test/"


def resource(**options: Any) -> ProtectedResource:
    options.setdefault("resource", RESOURCE)
    options.setdefault("authorization_servers", [AUTHORIZATION_SERVER])
    return ProtectedResource(**options)


@pytest.fixture
def with_resource(django_settings, make_verifier):
    """``with_resource(**jwt_guard)``: settings whose verifier accepts RESOURCE and
    whose ``RESOURCE`` entry is ``resource()`` (unless given)."""

    def apply(**entries: Any) -> None:
        entries.setdefault("VERIFIER", make_verifier(audience=RESOURCE))
        entries.setdefault("RESOURCE", resource())
        django_settings(**entries)

    return apply


def params(response: Any) -> dict[str, str]:
    [(scheme, values)] = parse_challenges(response.headers["WWW-Authenticate"])
    assert scheme == "Bearer"
    return values


def test_the_document_is_served_without_credentials(send, with_resource):
    """A public document: even a bad Authorization header is not read."""
    with_resource(RESOURCE=resource(scopes_supported=["read", "pay"], resource_name="Example API"))
    for headers in ({}, {"Authorization": "Bearer not-even-a-jwt"}, {"Authorization": "Bearer a b"}):
        response = send.get(METADATA_PATH, headers)
        assert response.status_code == 200, response.content
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "WWW-Authenticate" not in response.headers
        assert json.loads(response.content) == {
            "resource": RESOURCE,
            "authorization_servers": [AUTHORIZATION_SERVER],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["read", "pay"],
            "resource_name": "Example API",
        }


def test_without_scopes_supported_the_document_has_none(send, with_resource):
    """Django's URLconf is not read: scopes are listed only when given."""
    with_resource(ALLOW_QUERY_TOKEN=True)
    document = json.loads(send.get(METADATA_PATH).content)
    assert "scopes_supported" not in document
    assert document["bearer_methods_supported"] == ["header", "query"]


def test_head_options_and_other_methods(send, with_resource):
    with_resource()
    get = send.get(METADATA_PATH)
    head = send("HEAD", METADATA_PATH)
    options = send(
        "OPTIONS", METADATA_PATH, {"Origin": "https://client.example", "Access-Control-Request-Method": "GET"}
    )
    post = send("POST", METADATA_PATH, bearer("x.y.z"), data=b"{}", content_type="application/json")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Length"] == str(len(get.content))
    assert head.headers["Access-Control-Allow-Origin"] == "*"
    assert options.status_code == 204 and options.content == b""
    assert options.headers["Access-Control-Allow-Origin"] == "*"
    assert options.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert "Content-Type" not in options.headers
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert json.loads(post.content) == {"error": "method_not_allowed"}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param(METADATA_PATH + "/", 404, id="trailing-slash"),
        pytest.param("/.well-known/oauth-protected-resource", 404, id="namespace-root"),
        pytest.param("/.well-known/oauth-protected-resource/other", 404, id="another-resource"),
        pytest.param("/.well-known//oauth-protected-resource/mcp", 404, id="double-slash"),
        pytest.param("/.well-known/oauth-protected-resource/./mcp", 404, id="dot"),
        pytest.param("/.well-known/oauth-protected-resourcex", 401, id="longer-name-is-the-app"),
        pytest.param("/whoami", 401, id="app-route"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_other_paths(send, with_resource, path, status, method):
    """Other spellings inside the namespace are 404 JSON from the middleware,
    never Django's page; the rest belongs to the application."""
    with_resource()
    response = send(method, path)
    assert response.status_code == status
    if status == 404:
        assert json.loads(response.content) == {"error": "not_found"}
        assert response.headers["Access-Control-Allow-Origin"] == "*"
    else:
        assert params(response) == {"resource_metadata": METADATA_URL}


def test_the_path_as_the_client_sent_it_decides(with_resource):
    """An encoded slash decodes to the metadata path, yet is another path:
    the WSGI environ's REQUEST_URI and the ASGI scope's raw_path are read."""
    with_resource()
    encoded = "/.well-known/oauth-protected-resource%2Fmcp"
    assert Client().get(METADATA_PATH, REQUEST_URI=encoded).status_code == 404
    assert Client().get(METADATA_PATH, REQUEST_URI=METADATA_PATH).status_code == 200

    async def asgi(raw_path: bytes) -> Any:
        return await AsyncClient().request(method="GET", path=METADATA_PATH, raw_path=raw_path)

    assert asyncio.run(asgi(encoded.encode())).status_code == 404
    assert asyncio.run(asgi(METADATA_PATH.encode())).status_code == 200


def test_challenges_point_to_the_served_document(send, with_resource, issuer):
    """The URL in every challenge is the one the middleware serves."""
    with_resource(REALM="api")
    token = issuer.token(aud=RESOURCE, scope="other")
    responses = {
        "missing": send.get("/function"),
        "invalid": send.get("/function", bearer("x.y.z")),
        "malformed": send.get("/function", {"Authorization": "Bearer a b"}),
        "forbidden": send.get("/function", bearer(token)),
        "step-up": send.get("/step-up/function", bearer(issuer.token(aud=RESOURCE, scope="pay", acr="pwd"))),
    }
    statuses = {name: response.status_code for name, response in responses.items()}
    assert statuses == {"missing": 401, "invalid": 401, "malformed": 400, "forbidden": 403, "step-up": 401}
    for response in responses.values():
        assert params(response)["resource_metadata"] == METADATA_URL
    served = send.get(METADATA_URL.removeprefix("https://api.example.test"))
    assert served.status_code == 200 and json.loads(served.content)["resource"] == RESOURCE


def test_excluded_and_optional_requests_reach_the_app_but_not_the_metadata_path(send, with_resource, issuer):
    with_resource(OPTIONAL=True, EXCLUDE_PATHS=["/.well-known/"])
    assert send.get(METADATA_PATH).status_code == 200
    assert send.get(METADATA_PATH + "/").status_code == 404
    assert send.get("/whoami").json()["sub"] is None


def test_without_resource_the_namespace_belongs_to_the_app(send, django_settings):
    django_settings(OPTIONAL=True)
    response = send.get(METADATA_PATH)
    assert response.status_code == 404
    assert b"not_found" not in response.content  # Django's own 404 page


def test_the_resource_must_be_an_audience(django_settings, make_verifier):
    from jwt_guard.django._settings import guard_settings

    django_settings(VERIFIER=make_verifier(audience=RESOURCE + "/"), RESOURCE=resource())
    with pytest.raises(SettingsError, match="differs only by a trailing slash"):
        guard_settings()
