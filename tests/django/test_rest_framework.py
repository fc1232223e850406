"""jwt_guard.django.rest_framework: JWTAuthentication and HasScopes, through
REST framework's APIClient and Django's ASGI handler, with and without the
middleware; DRF's conventions with RFC 6750 challenges."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from jwt_guard import InsufficientScope, InsufficientUserAuthentication, MissingToken, render_error
from jwt_guard.django import TokenUser
from jwt_guard.django.rest_framework import HasScopes, HasUserAuthentication, JWTAuthentication, JWTGuardAPIException
from tests.django.conftest import REST_FRAMEWORK, bearer
from tests.django.test_middleware import assert_answer

WITH_HANDLER = {**REST_FRAMEWORK, "EXCEPTION_HANDLER": "jwt_guard.django.rest_framework.exception_handler"}
#: The three ways to deploy: DRF alone, DRF behind the optional middleware, and
#: behind the (required) middleware.
SETUPS = [
    pytest.param({"middleware": []}, id="drf-alone"),
    pytest.param({"OPTIONAL": True}, id="behind-optional-middleware"),
]


def test_api_client_with_a_token(django_settings, issuer):
    """DRF's APIClient through the middleware: request.auth is the token,
    request.user a non-database user who is authenticated."""
    django_settings()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issuer.token(scope='read:items', sub='ada')}")
    response = client.get("/api/items")
    assert response.status_code == 200
    assert response.json() == {"user": "ada", "authenticated": True, "auth_sub": "ada", "token_sub": "ada"}


@pytest.mark.parametrize("setup", SETUPS)
@pytest.mark.parametrize(
    ("case", "status", "error"),
    [
        pytest.param("none", 401, None, id="anonymous"),
        pytest.param("bad", 401, "invalid_token", id="invalid-token"),
        pytest.param("malformed", 400, "invalid_request", id="malformed-header"),
        pytest.param("weak", 403, "insufficient_scope", id="missing-scope"),
        pytest.param("good", 200, None, id="granted"),
    ],
)
def test_drf_answers(send, django_settings, issuer, setup, case, status, error):
    """DRF renders the refusal ({"detail": ...}) with the RFC 6750 headers:
    401 with ``WWW-Authenticate: Bearer`` (never DRF's 403 for a missing
    login), 403 ``insufficient_scope`` naming the scopes."""
    django_settings(REALM="api", **setup)
    headers = {
        "none": {},
        "bad": bearer(issuer.token(expires_in=-3600)),
        "malformed": {"Authorization": "Bearer a b"},
        "weak": bearer(issuer.token(scope="other")),
        "good": bearer(issuer.token(scope="read:items", sub="ada")),
    }[case]
    response = send.get("/api/items", headers)
    assert response.status_code == status
    body = json.loads(response.content)
    if status == 200:
        assert body["auth_sub"] == "ada"
        return
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    if error is None:
        assert challenge == 'Bearer realm="api"'
    else:
        assert f'error="{error}"' in challenge
    if error == "insufficient_scope":
        assert challenge.endswith('scope="read:items"')
    if setup == {"OPTIONAL": True} and case in ("bad", "malformed"):
        assert body["error"] == error  # the middleware refused it first, with its own body
    else:
        assert set(body) == {"detail"}


@pytest.mark.parametrize("setup", SETUPS)
def test_exception_handler_sends_the_middlewares_answer(send, django_settings, issuer, setup):
    django_settings(rest_framework=WITH_HANDLER, **setup)
    assert_answer(send.get("/api/items"), MissingToken())
    weak = send.get("/api/items", bearer(issuer.token(scope="other")))
    assert_answer(weak, InsufficientScope(["read:items"]))
    assert json.loads(weak.content)["scope"] == "read:items"
    other = send.get("/api/nowhere-but-drf-404")
    assert other.status_code in (401, 404)


def test_without_required_scopes_any_token_passes(send, django_settings, issuer):
    django_settings(middleware=[])
    assert send.get("/api/any").status_code == 401
    assert send.get("/api/any", bearer(issuer.token(sub="bo"))).json() == {"sub": "bo"}


def test_classes_named_on_the_view(send, django_settings, issuer):
    """With DRF's own defaults in settings, the view's classes still apply."""
    django_settings(middleware=[], rest_framework={})
    assert send.get("/api/explicit").status_code == 401
    assert send.get("/api/explicit", bearer(issuer.token(scope="read"))).status_code == 403
    assert send.get("/api/explicit", bearer(issuer.token(scope="admin", sub="bo"))).json() == {"sub": "bo"}


def test_drf_own_permission_classes_get_a_401_challenge(send, django_settings):
    """``authenticate_header`` makes DRF answer 401 (not 403) when
    IsAuthenticated refuses an anonymous request."""
    drf = {**REST_FRAMEWORK, "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}
    django_settings(middleware=[], rest_framework=drf, REALM="api")
    response = send.get("/api/any")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_key_server_down_is_503_with_retry_after(send, django_settings, issuer, remote_verifier, key_server):
    key_server.set_fault("status", target="any", status=500)
    django_settings(middleware=[], VERIFIER=remote_verifier())
    response = send.get("/api/items", bearer(issuer.token(scope="read:items")))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response.headers


def test_authentication_reuses_the_middlewares_result(django_settings, issuer, make_verifier, rf):
    """Behind the middleware the token is verified once: JWTAuthentication
    takes the middleware's result and never calls the verifier."""
    from django.test import Client

    verifier = make_verifier()
    calls: list[str] = []
    original = verifier.verify

    def counted(raw):
        calls.append(raw)
        return original(raw)

    verifier.verify = counted
    django_settings(VERIFIER=verifier)
    response = Client().get("/api/items", headers=bearer(issuer.token(scope="read:items")))
    assert response.status_code == 200
    assert len(calls) == 1


def test_token_user():
    from jwt_guard.testing import LocalIssuer

    issuer = LocalIssuer()
    raw = issuer.token(sub="ada", scope="a b")
    user = TokenUser(issuer.verifier().verify(raw))
    assert (user.is_authenticated, user.is_anonymous, user.is_active) == (True, False, True)
    assert (user.pk, user.id, user.username, user.get_username(), str(user)) == ("ada",) * 5
    assert user.scopes == {"a", "b"}
    assert not user.has_perm("app.view_item") and not user.has_module_perms("app")
    assert user.has_perms([]) and not user.has_perms(["app.view_item"])
    with pytest.raises(ValueError):
        user.has_perms("app.view_item")
    assert raw not in repr(user)


def test_required_scopes_mistakes(django_settings, rf):
    django_settings(middleware=[])
    from rest_framework.request import Request

    request = Request(rf.get("/"))

    class View:
        required_scopes = "read write"

    with pytest.raises(TypeError, match="not a space-delimited string"):
        HasScopes().has_permission(request, View())
    View.required_scopes = ["read write"]
    with pytest.raises(ValueError, match="not a scope token"):
        HasScopes().has_permission(request, View())


def test_api_exception_carries_the_challenge():
    error = InsufficientScope(["read"])
    exc = JWTGuardAPIException(error, render_error(error, realm="r"))
    assert exc.status_code == 403 and exc.error is error
    assert exc.auth_header == render_error(error, realm="r").header("www-authenticate")
    assert exc.auth_header.startswith('Bearer realm="r", error="insufficient_scope"')
    assert exc.get_codes() == "insufficient_scope"
    assert exc.wait is None


def test_authenticate_header_without_the_middleware(django_settings, rf):
    django_settings(middleware=[], REALM="api")
    from rest_framework.request import Request

    assert JWTAuthentication().authenticate_header(Request(rf.get("/"))) == 'Bearer realm="api"'


MFA = "urn:example:mfa"


@pytest.mark.parametrize("setup", SETUPS)
def test_step_up_permission(send, django_settings, make_verifier, issuer, clock, setup):
    """HasUserAuthentication: RFC 9470 refusals as DRF exceptions carrying the challenge."""
    django_settings(VERIFIER=make_verifier(leeway=0), REALM="api", **setup)
    now = int(clock())
    good = issuer.token(scope="pay", sub="bo", acr="hwk", auth_time=now - 300)
    assert send.get("/api/step-up", bearer(good)).json() == {"sub": "bo"}
    weak = send.get("/api/step-up", bearer(issuer.token(scope="pay", acr="pwd", auth_time=now)))
    old = send.get("/api/step-up", bearer(issuer.token(scope="pay", acr=MFA, auth_time=now - 301)))
    for response, description in (
        (weak, "a different authentication level is required"),
        (old, "a more recent authentication is required"),
    ):
        expected = render_error(
            InsufficientUserAuthentication(description, acr_values=(MFA, "hwk"), max_age=300), realm="api"
        )
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == expected.header("www-authenticate")
        assert response.json() == {"detail": description}
    assert send.get("/api/step-up", bearer(issuer.token(scope="read", acr=MFA, auth_time=now))).status_code == 403
    anonymous = send.get("/api/step-up")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == 'Bearer realm="api"'


def test_step_up_permission_with_the_exception_handler(send, django_settings, issuer):
    django_settings(rest_framework=WITH_HANDLER, middleware=[])
    response = send.get("/api/step-up", bearer(issuer.token(scope="pay", acr="pwd")))
    expected = render_error(
        InsufficientUserAuthentication(
            "a different authentication level is required", acr_values=(MFA, "hwk"), max_age=300
        )
    )
    assert response.status_code == 401 and response.content == expected.body


def test_step_up_permission_without_requirements_lets_any_token_pass(django_settings, issuer, make_verifier, rf):
    django_settings()
    request = rf.get("/")
    request.auth = make_verifier().verify(issuer.token())
    assert HasUserAuthentication().has_permission(request, object()) is True


@pytest.mark.parametrize(
    ("acr_values", "max_age", "error"),
    [
        pytest.param(MFA, None, TypeError, id="acr-string"),
        pytest.param([], None, ValueError, id="acr-empty"),
        pytest.param(["a b"], None, ValueError, id="acr-space"),
        pytest.param(None, -1, ValueError, id="negative-max-age"),
        pytest.param(None, True, TypeError, id="bool-max-age"),
        pytest.param(None, "300", TypeError, id="string-max-age"),
    ],
)
def test_step_up_permission_mistakes(django_settings, issuer, make_verifier, clock, rf, acr_values, max_age, error):
    """Mistakes on the view are TypeError/ValueError, also after an equal
    valid value (``max_age = 1``; ``True == 1``) was seen."""

    class View:
        required_acr_values = acr_values
        required_max_age = max_age

    django_settings()
    request = rf.get("/")
    request.auth = make_verifier().verify(issuer.token(auth_time=int(clock())))
    assert HasUserAuthentication().has_permission(request, type("Fine", (), {"required_max_age": 1})()) is True
    with pytest.raises(error):
        HasUserAuthentication().has_permission(request, View())
