"""jwt_guard.django.require_scopes / require_any_scope on every shape of
Django view — function views, class-based view methods, method_decorator,
View.as_view(), REST framework views — sync and async, under WSGI and ASGI."""

from __future__ import annotations

import json

import pytest
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View

from jwt_guard import InsufficientScope, MissingToken
from jwt_guard.django import require_access_token, require_any_scope, require_scopes
from tests.django.conftest import bearer
from tests.django.test_middleware import assert_answer

VIEWS = [
    pytest.param("/function", id="function"),
    pytest.param("/async-function", id="async-function"),
    pytest.param("/direct", id="method"),
    pytest.param("/async-direct", id="async-method"),
    pytest.param("/method-decorator", id="method-decorator"),
    pytest.param("/async-method-decorator", id="async-method-decorator"),
    pytest.param("/wsgi-method-decorator", id="wsgi-adapter-method-decorator"),
    pytest.param("/api/decorated", id="rest-framework-method"),
]


@pytest.mark.parametrize("path", VIEWS)
@pytest.mark.parametrize(
    ("scope", "status"),
    [
        pytest.param(None, 200, id="granted"),
        pytest.param("other", 403, id="missing-scope"),
        pytest.param("", 401, id="anonymous"),
    ],
)
def test_every_view_shape(send, django_settings, issuer, path, scope, status):
    """The middleware is optional here, so that the decorator itself answers
    the anonymous request (401) as well as the weak token (403)."""
    django_settings(OPTIONAL=True, REALM="api")
    headers = {} if scope == "" else bearer(issuer.token(scope=scope or "read", sub="ada"))
    response = send.get(path, headers)
    assert response.status_code == status, response.content
    if status == 200:
        assert json.loads(response.content) == {"sub": "ada", "scopes": ["read"], "access_token": "ada"}
    elif status == 401:
        assert_answer(response, MissingToken(), realm="api")
    else:
        assert_answer(response, InsufficientScope(["read"]), realm="api")


@pytest.mark.parametrize(
    ("path", "scope", "status"),
    [
        pytest.param("/items/3", "admin", 200, id="function-any-of"),
        pytest.param("/items/3", "write", 403, id="function-none-of"),
        pytest.param("/as-view", "admin", 200, id="as-view-any-of"),
        pytest.param("/as-view", "write", 403, id="as-view-none-of"),
    ],
)
def test_require_any_scope(send, django_settings, issuer, path, scope, status):
    django_settings()
    response = send.get(path, bearer(issuer.token(scope=scope)))
    assert response.status_code == status
    if status == 403:
        assert 'scope="read admin"' in response.headers["WWW-Authenticate"]


def test_undecorated_methods_of_a_method_decorated_view_are_untouched(send, django_settings, issuer):
    django_settings()
    response = send("POST", "/method-decorator", bearer(issuer.token(scope="other")))
    assert response.status_code == 200
    assert response.json() == {"posted": True}


def test_on_error_answers_for_the_decorators_too(send, django_settings, issuer):
    def on_error(error, request):
        return HttpResponse(f"{type(error).__name__} at {request.path}", status=error.status_code)

    django_settings(ON_ERROR=on_error)
    response = send.get("/method-decorator", bearer(issuer.token(scope="other")))
    assert (response.status_code, response.content) == (403, b"InsufficientScope at /method-decorator")


def test_a_forged_token_in_meta_grants_nothing(django_settings, issuer, rf):
    """Only an AccessToken counts: anything else under the key is no token."""
    from tests.django.urls import function_view

    django_settings(middleware=[])
    request = rf.get("/function")
    request.META["jwt_guard.token"] = {"scope": "read"}
    request.access_token = "forged"
    response = function_view(request)
    assert response.status_code == 401


# -- mistakes fail at decoration time ----------------------------------------------


def test_decorating_a_class_says_what_to_use():
    with pytest.raises(TypeError, match=r"method_decorator\(require_scopes\(...\), name='get'\)"):

        @require_scopes("read")
        class Items(View):
            pass


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(lambda: require_scopes()(lambda request: None), "at least one scope", id="no-scopes"),
        pytest.param(lambda: require_scopes(lambda request: None), "needs parentheses", id="no-parentheses"),
        pytest.param(lambda: require_scopes("read write"), "not a scope token", id="space-in-scope"),
        pytest.param(lambda: require_scopes("read")(lambda: None), "takes no request", id="no-request-argument"),
        pytest.param(lambda: require_any_scope("read")("view"), "decorates callables", id="not-callable"),
    ],
)
def test_decoration_mistakes(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def test_method_without_a_request_argument_is_refused():
    with pytest.raises(TypeError, match="takes no request"):

        class Items(View):
            @require_scopes("read")
            def get(self):
                return HttpResponse()


def test_called_without_a_request(django_settings):
    django_settings()

    @require_scopes("read")
    def view(request):
        return HttpResponse()

    with pytest.raises(TypeError, match="was not called with a Django request"):
        view("not a request")


def test_method_decorator_keeps_the_view_async(django_settings):
    """Django runs an async method of a class-based view as async: the
    wrapper the decorator returns is a coroutine function."""
    from asgiref.sync import iscoroutinefunction

    from tests.django.urls import AsyncMethodDecorated

    assert AsyncMethodDecorated.view_is_async
    assert iscoroutinefunction(require_scopes("read")(AsyncMethodDecorated.get))


def test_require_access_token_outside_a_request(rf):
    request = rf.get("/")
    with pytest.raises(MissingToken):
        require_access_token(request)
    with pytest.raises(TypeError, match="expected a Django HttpRequest"):
        require_access_token({"jwt_guard.token": None})


def test_method_decorator_on_dispatch(send, django_settings, issuer):
    """``method_decorator(..., name="dispatch")`` guards every method of the view."""
    from django.test import override_settings
    from django.urls import path

    @method_decorator(require_scopes("read"), name="dispatch")
    class Guarded(View):
        def get(self, request):
            return HttpResponse("get")

        def post(self, request):
            return HttpResponse("post")

    class URLs:
        urlpatterns = [path("guarded", Guarded.as_view())]

    django_settings()
    with override_settings(ROOT_URLCONF=URLs):
        assert send("POST", "/guarded", bearer(issuer.token(scope="other"))).status_code == 403
        assert send("POST", "/guarded", bearer(issuer.token(scope="read"))).content == b"post"
