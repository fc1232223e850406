"""jwt_guard.wsgi.require_scopes / require_any_scope on plain WSGI callables
and Werkzeug-style views (Flask and Django views: test_flask.py, test_django.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Request, Response

from jwt_guard import JWTGuardError
from jwt_guard.wsgi import TOKEN_KEY, JWTGuardMiddleware, require_any_scope, require_scopes
from tests.wsgi.conftest import bearer


def _wsgi_ok(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


# -- mistakes fail at decoration time ----------------------------------------------


def _view(request):
    return Response("ok")


class _View:
    pass


async def _async_wsgi(environ, start_response):
    return [b"never"]


@pytest.mark.parametrize(
    ("decorate", "exception", "message"),
    [
        pytest.param(lambda: require_scopes(_view), TypeError, "needs parentheses", id="no-parentheses"),
        pytest.param(lambda: require_scopes(3), TypeError, "as strings", id="scope-not-a-string"),
        pytest.param(lambda: require_scopes(b"read"), TypeError, "as strings", id="scope-as-bytes"),
        pytest.param(lambda: require_scopes("read write"), ValueError, "not a scope token", id="space-in-scope"),
        pytest.param(lambda: require_scopes(""), ValueError, "not a scope token", id="empty-scope"),
        pytest.param(lambda: require_scopes('a"b'), ValueError, "not a scope token", id="quote-in-scope"),
        pytest.param(lambda: require_scopes("lecture\u00e9"), ValueError, "not a scope token", id="non-ascii-scope"),
        pytest.param(lambda: require_scopes(), TypeError, "at least one scope", id="no-scopes"),
        pytest.param(lambda: require_any_scope(), TypeError, "at least one scope", id="any-of-nothing"),
        pytest.param(lambda: require_scopes("read")(42), TypeError, "callables", id="not-callable"),
        pytest.param(lambda: require_scopes("read")(_View), TypeError, "not classes", id="a-class"),
        pytest.param(lambda: require_scopes("read")(_async_wsgi), TypeError, "coroutine", id="async-wsgi-app"),
    ],
)
def test_mistakes_raise_at_decoration(decorate, exception, message):
    with pytest.raises(exception, match=message):
        decorate()


def test_a_view_without_request_needs_flask(monkeypatch):
    monkeypatch.setattr("jwt_guard._wsgi_decorators._flask_installed", lambda: False)

    def view(item_id):
        return "ok"

    with pytest.raises(TypeError, match="Flask is not installed"):
        require_scopes("read")(view)


def test_wraps_keeps_the_view_identity():
    @require_scopes("read")
    def messages(request: Request) -> Response:
        """List messages."""
        return Response("ok")

    assert messages.__name__ == "messages"
    assert messages.__doc__ == "List messages."
    assert messages.__wrapped__.__name__ == "messages"


# -- plain WSGI callables ----------------------------------------------------------


class _ClassApp:
    @require_scopes("read")
    def __call__(self, environ, start_response):
        return _wsgi_ok(environ, start_response)


@pytest.mark.parametrize(
    "app",
    [
        pytest.param(require_scopes("read")(_wsgi_ok), id="function"),
        pytest.param(_ClassApp(), id="method"),
    ],
)
@pytest.mark.parametrize(
    ("scope", "status", "challenge"),
    [
        pytest.param(None, 401, 'Bearer realm="api"', id="anonymous"),
        pytest.param("write", 403, 'Bearer realm="api", error="insufficient_scope", error_description=', id="scope"),
        pytest.param("read write", 200, None, id="granted"),
    ],
)
def test_wsgi_callable(guarded, issuer, app, scope, status, challenge):
    client = guarded(app, optional=True, realm="api")
    headers = bearer(issuer.token(scope=scope)) if scope else {}
    response = client.get("/", headers=headers)
    assert response.status_code == status
    if challenge is None:
        assert response.text == "ok"
    else:
        assert response.headers["WWW-Authenticate"].startswith(challenge)
        assert response.headers["Cache-Control"] == "no-store"
    if status == 403:
        assert response.headers["WWW-Authenticate"].endswith('scope="read"')
        assert response.json == {
            "error": "insufficient_scope",
            "error_description": "the access token lacks a required scope",
            "scope": "read",
        }


# -- all-of and any-of -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decorator", "granted", "status"),
    [
        pytest.param(require_scopes("a", "b"), "a b c", 200, id="all-of-granted"),
        pytest.param(require_scopes("a", "b"), "a", 403, id="all-of-one-missing"),
        pytest.param(require_scopes("a", "b"), None, 403, id="all-of-no-scopes-at-all"),
        pytest.param(require_any_scope("a", "b"), "b", 200, id="any-of-one"),
        pytest.param(require_any_scope("a", "b"), "a b", 200, id="any-of-both"),
        pytest.param(require_any_scope("a", "b"), "c", 403, id="any-of-none"),
    ],
)
def test_scope_rules(guarded, issuer, decorator, granted, status):
    response = guarded(decorator(_wsgi_ok)).get("/", headers=bearer(issuer.token(scope=granted)))
    assert response.status_code == status


def test_challenge_names_every_required_scope_once(guarded, issuer):
    app = require_any_scope("read:a", "read:b", "read:a")(_wsgi_ok)
    response = guarded(app).get("/", headers=bearer(issuer.token(scope="other")))
    assert response.headers["WWW-Authenticate"].endswith('scope="read:a read:b"')
    assert response.json["scope"] == "read:a read:b"


# -- Werkzeug-style views ------------------------------------------------------------------


@require_scopes("read")
def _annotated(request: Request) -> Response:
    return Response(f"hello {request.path}")


@require_scopes("read")
def _named(request):
    return Response("named")


class _Resource:
    @require_scopes("read")
    def get(self, request: Request) -> Response:
        return Response("method")


@require_scopes("read")
async def _async_view(request: Request) -> Response:
    await asyncio.sleep(0)
    return Response("async")


def _run(view: Any, request: Request) -> Any:
    result = view(request)
    return asyncio.run(result) if asyncio.iscoroutine(result) else result


@pytest.mark.parametrize(
    ("view", "text"),
    [
        pytest.param(_annotated, "hello /r", id="annotated-request"),
        pytest.param(_named, "named", id="parameter-named-request"),
        pytest.param(lambda request: _Resource().get(request), "method", id="method"),
        pytest.param(_async_view, "async", id="async"),
    ],
)
@pytest.mark.parametrize(
    ("scope", "status"),
    [
        pytest.param(None, 401, id="anonymous"),
        pytest.param("write", 403, id="scope"),
        pytest.param("read", 200, id="granted"),
    ],
)
def test_werkzeug_view(issuer, make_verifier, view, text, scope, status):
    """The middleware verifies, the view's decorator answers with a Response."""
    captured: list[Request] = []

    def app(environ, start_response):
        request = Request(environ)
        captured.append(request)
        return _run(view, request)(environ, start_response)

    client = Client(JWTGuardMiddleware(app, verifier=make_verifier(), optional=True))
    response = client.get("/r", headers=bearer(issuer.token(scope=scope)) if scope else {})
    assert response.status_code == status
    if status == 200:
        assert response.text == text
    else:
        assert response.headers["Content-Type"] == "application/json"
        assert isinstance(_run(view, captured[0]), Response)


def test_werkzeug_request_application(guarded, issuer):
    """Request.application over a decorated view."""
    app = Request.application(_annotated)
    assert guarded(app).get("/x", headers=bearer(issuer.token(scope="read"))).text == "hello /x"
    assert guarded(app).get("/x", headers=bearer(issuer.token(scope="nope"))).status_code == 403


def test_request_parameter_must_be_a_request():
    with pytest.raises(TypeError, match="not dict"):
        _named({"REQUEST_METHOD": "GET"})


# -- trust: only what the middleware verified counts -----------------------------------


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"scope": "read", "sub": "admin"}, id="a-claims-dict"),
        pytest.param("read", id="a-string"),
        pytest.param(True, id="true"),
    ],
)
def test_anything_but_an_access_token_is_refused(value):
    environ = EnvironBuilder().get_environ()
    environ[TOKEN_KEY] = value
    response = _annotated(Request(environ))
    assert response.status_code == 401


def test_without_the_middleware_the_answer_is_401(caplog):
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        response = Client(require_scopes("read")(_wsgi_ok)).get("/", headers={"Authorization": "Bearer a.b.c"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "JWTGuardMiddleware did not run" in caplog.text


def test_a_forged_token_never_reaches_the_view(guarded, issuer):
    from tests.wsgi.conftest import forged_token

    called: list[bool] = []

    @require_scopes("admin")
    def app(environ, start_response):
        called.append(True)
        return _wsgi_ok(environ, start_response)

    response = guarded(app).get("/", headers=bearer(forged_token(issuer, scope="admin")))
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert called == []


# -- the middleware's realm and on_error apply -----------------------------------------


def test_decorator_answers_with_the_middlewares_realm_and_on_error(guarded, issuer):
    errors: list[JWTGuardError] = []

    def on_error(error, environ):
        errors.append(error)
        return Response(f"custom {error.status_code}", status=error.status_code)

    app = require_scopes("admin")(_wsgi_ok)
    response = guarded(app, on_error=on_error).get("/", headers=bearer(issuer.token(scope="read")))
    assert (response.status_code, response.text) == (403, "custom 403")
    assert errors[0].required_scopes == ("admin",)

    response = guarded(app, realm="api").get("/", headers=bearer(issuer.token(scope="read")))
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')
