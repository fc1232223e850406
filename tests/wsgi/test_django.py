"""Django function views behind JWTGuardMiddleware (Django's WSGI handler,
driven through werkzeug.test.Client), and the decorator on its own.

Settings are configured here, once per process: this module is also the
URLconf.
"""

from __future__ import annotations

import asyncio

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.test import RequestFactory
from django.urls import path
from werkzeug.test import Client

from jwt_guard.wsgi import TOKEN_KEY, JWTGuardMiddleware, get_access_token, require_any_scope, require_scopes
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


urlpatterns = [
    path("messages", messages),
    path("items/<int:item>", unannotated),
    path("async", async_messages),
    path("public", public),
]


@pytest.fixture(scope="module")
def django_app():
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="jwt-guard-tests-only",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["localhost", "testserver"],
            MIDDLEWARE=[],
            INSTALLED_APPS=[],
            USE_TZ=True,
        )
    assert __name__ == settings.ROOT_URLCONF, "Django was configured elsewhere in this process"
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


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
