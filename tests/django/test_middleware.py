"""jwt_guard.django.JWTGuardMiddleware in settings.MIDDLEWARE, under Django's
WSGI handler and its ASGI handler: the HTTP semantics of the other adapters,
``request.access_token``, excluded paths, optional mode and the settings."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from jwt_guard import InsufficientScope, InvalidToken, MissingToken, TemporarilyUnavailable, render_error
from jwt_guard.django import JWTGuardMiddleware
from tests.django.conftest import bearer
from tests.wsgi.conftest import BAD_TOKENS


def assert_answer(response, error, *, realm=None) -> None:
    """*response* carries exactly the middleware's rendering of *error*."""
    expected = render_error(error, realm=realm)
    assert response.status_code == expected.status_code
    assert response.content == expected.body
    for name, value in expected.headers:
        assert response.headers[name] == value, name


# The HTTP semantics table runs through this middleware, under both handlers,
# in tests/django/test_semantics.py.


@pytest.mark.parametrize("token", BAD_TOKENS)
def test_hostile_tokens_are_refused_never_a_500(django_settings, token):
    """The attack corpus of the WSGI tests, through Django's WSGI handler."""
    from tests.wsgi.conftest import BAD_TOKENS_ISSUER

    django_settings(VERIFIER=BAD_TOKENS_ISSUER.verifier(clock=BAD_TOKENS_ISSUER.clock))
    response = Client().get("/whoami", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code in (400, 401)
    assert json.loads(response.content)["error"] in ("invalid_request", "invalid_token")


def test_asgi_handler_runs_the_middleware_in_async_mode(django_settings, issuer, make_verifier):
    """Under ASGI the middleware verifies with verify_async (no thread hop):
    the sync verify is never called."""
    verifier = make_verifier()
    calls: list[str] = []
    original = verifier.verify_async

    def forbidden(raw):
        raise AssertionError("the sync verify ran under ASGI")

    async def counted(raw):
        calls.append("async")
        return await original(raw)

    verifier.verify = forbidden
    verifier.verify_async = counted
    django_settings(VERIFIER=verifier)
    from tests.django.conftest import Sender

    response = Sender("asgi").get("/whoami", bearer(issuer.token(sub="ada")))
    assert response.status_code == 200
    assert response.json()["sub"] == "ada"
    assert calls == ["async"]


def test_middleware_is_sync_and_async_capable(django_settings):
    django_settings()

    async def handler(request):
        return None

    assert JWTGuardMiddleware.sync_capable and JWTGuardMiddleware.async_capable
    from asgiref.sync import iscoroutinefunction

    assert iscoroutinefunction(JWTGuardMiddleware(handler))
    assert not iscoroutinefunction(JWTGuardMiddleware(lambda request: None))


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        pytest.param("/admin/", 200, b"admin login page", id="admin-prefix"),
        pytest.param("/admin/login/", 200, b"admin login page", id="below-admin"),
        pytest.param("/health", 200, b'{"sub": null, "scopes": null, "access_token": null}', id="exact"),
        pytest.param("/healthz", 401, None, id="not-a-prefix-of-health"),
        pytest.param("/whoami", 401, None, id="protected"),
    ],
)
def test_excluded_paths(send, django_settings, path, status, body):
    """``/admin/`` and everything below it, and ``/health`` exactly, are served
    without a token; any other path, routed or not, needs one."""
    django_settings(EXCLUDE_PATHS=["/admin/", "/health"])
    response = send.get(path)
    assert response.status_code == status
    if body is not None:
        assert response.content == body


def test_excluded_path_with_a_bad_token_is_not_verified(send, django_settings):
    django_settings(EXCLUDE_PATHS=["/admin/"])
    assert send.get("/admin/", bearer("not-a-jwt")).status_code == 200


@pytest.mark.parametrize(
    ("case", "status", "sub"),
    [
        pytest.param("none", 200, None, id="anonymous-passes"),
        pytest.param("good", 200, "ada", id="token-verified"),
        pytest.param("bad", 401, None, id="bad-token-still-refused"),
    ],
)
def test_optional_mode(send, django_settings, issuer, case, status, sub):
    django_settings(OPTIONAL=True)
    headers = {"none": {}, "good": bearer(issuer.token(sub="ada")), "bad": bearer("a.b.c")}[case]
    response = send.get("/whoami", headers)
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"sub": sub, "scopes": None if sub is None else [], "access_token": sub}


def test_query_token_only_when_allowed(send, django_settings, issuer):
    token = issuer.token(sub="ada")
    django_settings()
    assert send.get(f"/whoami?access_token={token}").status_code == 401
    django_settings(ALLOW_QUERY_TOKEN=True)
    assert send.get(f"/whoami?access_token={token}").json()["sub"] == "ada"
    both = send.get(f"/whoami?access_token={token}", bearer(token))
    assert both.status_code == 400


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/needs-token", 401, id="sync-view"),
        pytest.param("/async-needs-token", 401, id="async-view"),
    ],
)
def test_require_access_token_in_a_view_is_answered_401(send, django_settings, issuer, path, status):
    """``require_access_token`` raising MissingToken in a view (optional mode)
    is answered by the middleware's process_exception, not a 500."""
    django_settings(OPTIONAL=True, REALM="api")
    anonymous = send.get(path)
    assert_answer(anonymous, MissingToken(), realm="api")
    assert send.get(path, bearer(issuer.token(sub="ada"))).json() == {"sub": "ada"}


def test_process_exception_answers_only_request_errors(django_settings, rf):
    django_settings(REALM="api")
    middleware = JWTGuardMiddleware(lambda request: None)
    request = rf.get("/")
    assert middleware.process_exception(request, ValueError("bug")) is None
    from jwt_guard import ConfigurationError

    assert middleware.process_exception(request, ConfigurationError("bug")) is None
    unavailable = middleware.process_exception(request, TemporarilyUnavailable())
    assert unavailable is not None and unavailable.status_code == 503 and "Retry-After" in unavailable.headers
    refused = middleware.process_exception(request, InsufficientScope(["a", "b"]))
    assert_answer(refused, InsufficientScope(["a", "b"]), realm="api")


def test_on_error_renders_the_applications_answer(send, django_settings, issuer):
    from django.http import HttpResponse

    def on_error(error, request):
        if isinstance(error, InvalidToken):
            return HttpResponse(f"custom {request.path}", status=error.status_code)
        return None

    django_settings(ON_ERROR=on_error)
    custom = send.get("/whoami", bearer("a.b.c"))
    assert (custom.status_code, custom.content) == (401, b"custom /whoami")
    default = send.get("/whoami")
    assert_answer(default, MissingToken())


def test_on_error_by_dotted_path(send, django_settings, monkeypatch):
    from django.http import HttpResponse

    import tests.django.urls as urls

    monkeypatch.setattr(urls, "VERIFIER", lambda error, request: HttpResponse("teapot", status=418), raising=False)
    django_settings(ON_ERROR="tests.django.urls.VERIFIER")
    assert send.get("/whoami").status_code == 418


def test_key_server_down_is_503_with_retry_after(send, django_settings, issuer, remote_verifier, key_server):
    key_server.set_fault("status", target="any", status=500)
    django_settings(VERIFIER=remote_verifier())
    response = send.get("/whoami", bearer(issuer.token()))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert json.loads(response.content)["error"] == "temporarily_unavailable"
    assert "WWW-Authenticate" not in response.headers


def test_the_scheme_and_path_come_from_django(django_settings, rf):
    """The request view reads the path Django routes and Django's scheme
    (SECURE_PROXY_SSL_HEADER included), not raw META values."""
    from django.test import override_settings

    from jwt_guard.django._request import DjangoRequest

    request = rf.get("/caf%C3%A9/x", HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION="Bearer abc")
    view = DjangoRequest(request)
    assert view.path == "/café/x"
    assert view.scheme == "http"
    assert view.header_values("authorization") == ["Bearer abc"]
    with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
        assert DjangoRequest(request).scheme == "https"


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_decorated_view_without_the_middleware_answers_401_and_warns(django_settings, issuer, rf, caplog, kind):
    """A decorated view that no middleware served answers 401 and logs why, once."""
    import asyncio

    from django.http import HttpResponse

    from jwt_guard.django import require_scopes

    django_settings(middleware=[])
    if kind == "sync":

        @require_scopes("read")
        def view(request):
            return HttpResponse("ran")

        call = view
    else:

        @require_scopes("read")
        async def async_view(request):
            return HttpResponse("ran")

        def call(request):
            return asyncio.run(async_view(request))

    request = rf.get("/", HTTP_AUTHORIZATION=f"Bearer {issuer.token(scope='read')}")
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        first, second = call(request), call(request)
    assert first.status_code == second.status_code == 401
    assert_answer(first, MissingToken())
    assert caplog.text.count("JWTGuardMiddleware did not run") == 1
