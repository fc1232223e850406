"""jwt_guard.django.require_auth: step-up authentication (RFC 9470) on every
shape of Django view, sync and async, under Django's WSGI and ASGI handlers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View

from jwt_guard import InsufficientScope, InsufficientUserAuthentication, MissingToken
from jwt_guard._auth_syntax import parse_challenges
from jwt_guard._endpoint import requirements_of
from jwt_guard.django import require_auth, require_scopes
from tests.django.conftest import bearer
from tests.django.test_middleware import assert_answer

# As in tests.django.urls (not imported here: REST framework's views must be
# defined under the tests' settings, at the first request).
MFA = "urn:example:mfa"

VIEWS = [
    pytest.param("/step-up/function", id="function"),
    pytest.param("/step-up/async-function", id="async-function"),
    pytest.param("/step-up/method", id="method"),
    pytest.param("/step-up/method-decorator", id="method-decorator"),
    pytest.param("/step-up/async-method-decorator", id="async-method-decorator"),
    pytest.param("/step-up/rest-framework", id="rest-framework-method"),
]


def params(response: Any) -> dict[str, str]:
    [(scheme, values)] = parse_challenges(response.headers["WWW-Authenticate"])
    assert scheme == "Bearer"
    return values


@pytest.mark.parametrize("path", VIEWS)
@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param({"acr": MFA, "auth_time": -300}, 200, id="ok-at-max-age"),
        pytest.param({"acr": "hwk", "auth_time": 0}, 200, id="second-acr"),
        pytest.param({"acr": "pwd", "auth_time": 0}, 401, id="weak-acr"),
        pytest.param({"auth_time": 0}, 401, id="no-acr"),
        pytest.param({"acr": MFA, "auth_time": -301}, 401, id="too-old"),
        pytest.param({"acr": MFA}, 401, id="no-auth-time"),
        pytest.param({"acr": MFA, "auth_time": 1}, 401, id="auth-time-in-the-future"),
        pytest.param({"acr": MFA, "auth_time": "yesterday"}, 401, id="auth-time-string"),
        pytest.param({"acr": MFA, "auth_time": 10**300}, 401, id="auth-time-huge"),
        pytest.param({"acr": [MFA], "auth_time": 0}, 401, id="acr-list"),
    ],
)
def test_every_view_shape(send, django_settings, make_verifier, issuer, clock, path, claims, status):
    """The verifier's clock (with no leeway here) judges auth_time."""
    django_settings(VERIFIER=make_verifier(leeway=0), REALM="api")
    claims = dict(claims)
    if type(claims.get("auth_time")) is int and abs(claims["auth_time"]) < 10**6:
        claims["auth_time"] += int(clock())
    response = send.get(path, bearer(issuer.token(scope="pay", sub="ada", **claims)))
    assert response.status_code == status, response.content
    if status == 200:
        assert json.loads(response.content) == {"sub": "ada", "scopes": ["pay"], "access_token": "ada"}
        return
    weak = claims.get("acr") not in (MFA, "hwk")
    description = "a different authentication level is required" if weak else "a more recent authentication is required"
    assert_answer(
        response, InsufficientUserAuthentication(description, acr_values=(MFA, "hwk"), max_age=300), realm="api"
    )
    assert params(response) == {
        "realm": "api",
        "error": "insufficient_user_authentication",
        "error_description": description,
        "acr_values": f"{MFA} hwk",
        "max_age": "300",
    }


@pytest.mark.parametrize("path", VIEWS)
def test_scopes_come_first_and_anonymous_requests_get_401(send, django_settings, issuer, clock, path):
    django_settings(OPTIONAL=True)
    good_user = {"acr": MFA, "auth_time": int(clock())}
    assert_answer(send.get(path, bearer(issuer.token(scope="read", **good_user))), InsufficientScope(["pay"]))
    assert_answer(send.get(path), MissingToken())


def test_leeway_of_the_configured_verifier(send, django_settings, make_verifier, issuer, clock):
    """max_age is judged with the leeway of the verifier in settings.JWT_GUARD."""
    django_settings(VERIFIER=make_verifier(leeway=30))
    assert (
        send.get(
            "/step-up/function", bearer(issuer.token(scope="pay", acr=MFA, auth_time=int(clock()) + 30))
        ).status_code
        == 200
    )
    in_leeway = issuer.token(scope="pay", acr=MFA, auth_time=int(clock()) - 320)
    beyond = issuer.token(scope="pay", acr=MFA, auth_time=int(clock()) - 340)
    assert send.get("/step-up/function", bearer(in_leeway)).status_code == 200
    assert send.get("/step-up/function", bearer(beyond)).status_code == 401


def test_stacked_with_require_scopes(send, django_settings, make_verifier, issuer, clock):
    django_settings(VERIFIER=make_verifier(leeway=0))
    recent = int(clock()) - 10
    assert send.get("/step-up/stacked", bearer(issuer.token(scope="pay", auth_time=recent))).status_code == 200
    refused = send.get("/step-up/stacked", bearer(issuer.token(scope="pay", auth_time=recent - 60)))
    assert refused.status_code == 401
    assert params(refused) == {
        "error": "insufficient_user_authentication",
        "error_description": "a more recent authentication is required",
        "max_age": "60",
    }
    assert send.get("/step-up/stacked", bearer(issuer.token(auth_time=recent))).status_code == 403


def test_on_error_renders_step_up_refusals(send, django_settings, issuer):
    def on_error(error, request):
        return HttpResponse(f"refused: {error.error}", status=error.status_code)

    django_settings(ON_ERROR=on_error)
    response = send.get("/step-up/function", bearer(issuer.token(scope="pay", acr="pwd")))
    assert response.status_code == 401
    assert response.content == b"refused: insufficient_user_authentication"


def test_the_requirement_is_recorded_on_the_view():
    """As in the other adapters: the decorators say what a view needs."""

    @require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=300)
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("in")

    [requirement] = requirements_of(view)
    assert requirement.scopes == ("pay",) and requirement.acr_values == (MFA, "hwk")
    assert requirement.max_age == 300


def test_method_decorator_keeps_the_view_async():
    from asgiref.sync import iscoroutinefunction

    @method_decorator(require_auth(acr_values=[MFA]), name="get")
    class Async(View):
        async def get(self, request: HttpRequest) -> HttpResponse:
            return HttpResponse("in")

    assert iscoroutinefunction(Async.as_view())


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        pytest.param(lambda: require_auth(lambda request: None), TypeError, "keyword arguments", id="no-parens"),
        pytest.param(lambda: require_auth("pay"), TypeError, "keyword arguments", id="positional-scope"),
        pytest.param(lambda: require_auth(acr_values=MFA), TypeError, "not a string", id="acr-string"),
        pytest.param(lambda: require_auth(acr_values=[]), ValueError, "must not be empty", id="acr-empty"),
        pytest.param(lambda: require_auth(acr_values=["a b"]), ValueError, "space", id="acr-space"),
        pytest.param(lambda: require_auth(max_age=-1), ValueError, "between", id="negative-max-age"),
        pytest.param(lambda: require_auth(max_age=1.5), TypeError, "whole number", id="float-max-age"),
        pytest.param(lambda: require_auth(scopes="pay"), TypeError, "one by one", id="scopes-string"),
        pytest.param(lambda: require_auth(max_age=60)(View), TypeError, "method_decorator", id="on-a-class"),
        pytest.param(lambda: require_auth(max_age=60)(lambda: None), TypeError, "no request", id="no-request"),
    ],
)
def test_decoration_mistakes(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_require_scopes_and_require_auth_record_separately():
    @require_auth(max_age=5)
    @require_scopes("read")
    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("in")

    assert [(r.scopes, r.max_age) for r in requirements_of(view)] == [(("read",), None), ((), 5)]
