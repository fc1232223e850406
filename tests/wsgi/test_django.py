"""Django function views behind JWTGuardMiddleware (Django's WSGI handler,
driven through werkzeug.test.Client), and the decorator on its own.

Django's settings are configured once per process (tests.support.django_setup);
this module is the URLconf while its tests run.
"""

from __future__ import annotations

import asyncio

import pytest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory
from django.urls import path
from werkzeug.test import Client

from jwt_guard import ProtectedResource
from jwt_guard.wsgi import (
    TOKEN_KEY,
    JWTGuardMiddleware,
    get_access_token,
    require_any_scope,
    require_auth,
    require_scopes,
)
from tests.support.django_setup import configure_django
from tests.wsgi.conftest import bearer


@require_scopes("read:messages")
def messages(request: HttpRequest) -> JsonResponse:
    token = get_access_token(request)
    assert token is not None
    return JsonResponse({"sub": token.subject, "scopes": sorted(token.scopes)})


@require_any_scope("write:messages", "admin")
def unannotated(request, item: int):
    return JsonResponse({"item": item})


@require_scopes("read:messages")
async def async_messages(request: HttpRequest) -> HttpResponse:
    await asyncio.sleep(0)
    return HttpResponse("async", content_type="text/plain")


def public(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"token": get_access_token(request) is not None})


@require_auth(scopes=["pay"], acr_values=["urn:example:mfa"], max_age=300)
def step_up(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"paid": True})


urlpatterns = [
    path("messages", messages),
    path("items/<int:item>", unannotated),
    path("async", async_messages),
    path("public", public),
    path("step-up", step_up),
]


@pytest.fixture(scope="module")
def django_app():
    configure_django()
    from django.core.wsgi import get_wsgi_application
    from django.test import override_settings

    with override_settings(ROOT_URLCONF=__name__, MIDDLEWARE=[]):
        yield get_wsgi_application()


@pytest.fixture
def client(django_app, make_verifier):
    return Client(JWTGuardMiddleware(django_app, verifier=make_verifier(), realm="api", exclude_paths=["/public"]))


@pytest.mark.parametrize(
    ("path", "scope", "status", "body"),
    [
        pytest.param("/public", None, 200, {"token": False}, id="excluded"),
        pytest.param("/messages", None, 401, {"error": "unauthorized"}, id="no-token"),
        pytest.param("/messages", "other", 403, {"error": "insufficient_scope", "scope": "read:messages"}, id="scope"),
        pytest.param("/messages", "read:messages", 200, {"sub": "grace", "scopes": ["read:messages"]}, id="granted"),
        pytest.param("/items/3", "read:messages", 403, {"scope": "write:messages admin"}, id="any-of-missing"),
        pytest.param("/items/3", "admin", 200, {"item": 3}, id="any-of-granted"),
        pytest.param("/async", "read:messages", 200, None, id="async-view"),
        pytest.param("/async", "other", 403, {"error": "insufficient_scope"}, id="async-view-refused"),
    ],
)
def test_django_views(client, issuer, path, scope, status, body):
    headers = bearer(issuer.token(scope=scope, sub="grace")) if scope else {}
    response = client.get(path, headers=headers)
    assert response.status_code == status
    if body is None:
        assert response.text == "async"
    else:
        assert {key: response.json[key] for key in body} == body
    if status in (401, 403):
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api"')
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Type"] == "application/json"


def test_django_404_is_djangos(client, issuer):
    response = client.get("/nowhere", headers=bearer(issuer.token()))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("token_value", "status"),
    [
        pytest.param(None, 401, id="no-middleware"),
        pytest.param("forged", 401, id="not-an-access-token"),
    ],
)
def test_decorator_alone_answers_an_httpresponse(django_app, token_value, status):
    request = RequestFactory().get("/messages", HTTP_AUTHORIZATION="Bearer a.b.c")
    if token_value is not None:
        request.META[TOKEN_KEY] = token_value
    response = messages(request)
    assert isinstance(response, HttpResponse)
    assert response.status_code == status
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Cache-Control"] == "no-store"


def test_decorator_with_a_verified_token(django_app, issuer, make_verifier):
    request = RequestFactory().get("/messages")
    request.META[TOKEN_KEY] = make_verifier().verify(issuer.token(scope="read:messages", sub="heidi"))
    response = messages(request)
    assert response.status_code == 200
    assert response.content == b'{"sub": "heidi", "scopes": ["read:messages"]}'


def test_django_step_up_and_resource_metadata(django_app, make_verifier, issuer, clock):
    """require_auth on a Django view, and the middleware's resource= in front of Django."""
    resource = ProtectedResource(resource="https://api.example.test", authorization_servers=[issuer.issuer])
    client = Client(JWTGuardMiddleware(django_app, verifier=make_verifier(), resource=resource))
    metadata = client.get("/.well-known/oauth-protected-resource")
    assert metadata.status_code == 200 and metadata.json["resource"] == "https://api.example.test"
    assert client.get("/.well-known/oauth-protected-resource/").status_code == 404
    weak = client.get("/step-up", headers=bearer(issuer.token(scope="pay", acr="pwd", auth_time=int(clock()))))
    assert weak.status_code == 401
    assert weak.headers["WWW-Authenticate"] == (
        'Bearer error="insufficient_user_authentication", '
        'error_description="a different authentication level is required", '
        'acr_values="urn:example:mfa", max_age="300", '
        'resource_metadata="https://api.example.test/.well-known/oauth-protected-resource"'
    )
    no_scope = client.get("/step-up", headers=bearer(issuer.token(acr="urn:example:mfa", auth_time=int(clock()))))
    assert no_scope.status_code == 403 and no_scope.json["scope"] == "pay"
    token = issuer.token(scope="pay", acr="urn:example:mfa", auth_time=int(clock()) - 100)
    assert client.get("/step-up", headers=bearer(token)).json == {"paid": True}
