"""A Flask application behind JWTGuardMiddleware, through Flask's test client."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, abort, jsonify, request
from werkzeug.wrappers import Response

from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token, require_any_scope, require_scopes
from tests.wsgi.conftest import bearer


def create_app(verifier: Any, **options: Any) -> Flask:
    app = Flask(__name__)

    @app.get("/public")
    def public():
        return {"token": get_access_token() is not None}

    @app.get("/me")
    def me():
        token = get_access_token()
        assert token is get_access_token(request) is get_access_token(request.environ)
        return {"sub": token.subject if token else None}

    @app.get("/messages/<int:message_id>")
    @require_scopes("read:messages")
    def message(message_id: int):
        return {"id": message_id, "sub": get_access_token().subject}

    @app.post("/messages")
    @require_any_scope("write:messages", "admin")
    def post_message():
        return {"created": True}, 201

    @app.get("/async")
    @require_scopes("read:messages")
    async def async_view():
        return {"async": True}

    @app.get("/teapot")
    @require_scopes("read:messages")
    def teapot():
        abort(418)

    @app.get("/boom")
    def boom():
        raise RuntimeError("bug")

    @app.errorhandler(404)
    def not_found(error):
        return jsonify(handler="not found"), 404

    @app.errorhandler(418)
    def teapot_handler(error):
        return jsonify(handler="teapot"), 418

    @app.errorhandler(500)
    def server_error(error):
        return jsonify(handler="server error"), 500

    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=verifier, **options)  # type: ignore[method-assign]
    return app


@pytest.fixture
def client(make_verifier):
    return create_app(make_verifier(), realm="api", exclude_paths=["/public"]).test_client()


@pytest.mark.parametrize(
    ("method", "path", "scope", "status", "body"),
    [
        pytest.param("get", "/public", None, 200, {"token": False}, id="excluded-path"),
        pytest.param("get", "/me", None, 401, {"error": "unauthorized"}, id="no-token"),
        pytest.param("get", "/me", "", 200, {"sub": "erin"}, id="token-without-scopes"),
        pytest.param("get", "/messages/7", "", 403, {"error": "insufficient_scope"}, id="scope-missing"),
        pytest.param("get", "/messages/7", "read:messages", 200, {"id": 7, "sub": "erin"}, id="scope-granted"),
        pytest.param("post", "/messages", "read:messages", 403, {"error": "insufficient_scope"}, id="any-of-missing"),
        pytest.param("post", "/messages", "admin", 201, {"created": True}, id="any-of-granted"),
        pytest.param("get", "/async", "nothing", 403, {"error": "insufficient_scope"}, id="async-view-refused"),
        pytest.param("get", "/async", "read:messages", 200, {"async": True}, id="async-view-granted"),
    ],
)
def test_routes(client, issuer, method, path, scope, status, body):
    headers = {} if scope is None else bearer(issuer.token(scope=scope or None, sub="erin"))
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == status
    assert {key: response.json[key] for key in body} == body
    if status in (401, 403):
        assert response.headers["WWW-Authenticate"].startswith('Bearer realm="api"')
        assert response.headers["Cache-Control"] == "no-store"
    if status == 403:
        assert response.json["scope"] in ("read:messages", "write:messages admin")


@pytest.mark.parametrize(
    ("path", "status", "handler"),
    [
        pytest.param("/nowhere", 404, "not found", id="404-handler"),
        pytest.param("/teapot", 418, "teapot", id="abort-in-decorated-view"),
        pytest.param("/boom", 500, "server error", id="500-handler"),
    ],
)
def test_flask_error_handlers_are_untouched(client, issuer, path, status, handler):
    """Non-auth errors still go through the application's own handlers."""
    response = client.get(path, headers=bearer(issuer.token(scope="read:messages")))
    assert response.status_code == status
    assert response.json == {"handler": handler}


def test_auth_errors_precede_routing(client):
    """An unknown path without a token is 401: the middleware answers first."""
    assert client.get("/nowhere").status_code == 401


def test_the_decorator_returns_the_apps_response_class(make_verifier, issuer):
    class AppResponse(Response):
        pass

    app = Flask(__name__)
    app.response_class = AppResponse
    seen: list[Any] = []

    @require_scopes("admin")
    def view():
        return "ok"

    @app.after_request
    def record(response):
        seen.append(response)
        return response

    app.add_url_rule("/", view_func=view)
    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=make_verifier())  # type: ignore[method-assign]
    assert app.test_client().get("/", headers=bearer(issuer.token(scope="read"))).status_code == 403
    assert type(seen[0]) is AppResponse


def test_query_token_with_flask(make_verifier, issuer):
    client = create_app(make_verifier(), allow_query_token=True).test_client()
    response = client.get("/me", query_string={"access_token": issuer.token(sub="frank")})
    assert response.json == {"sub": "frank"}


def test_optional_mode_with_flask(make_verifier):
    client = create_app(make_verifier(), optional=True).test_client()
    assert client.get("/me").json == {"sub": None}
    response = client.get("/messages/1")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_get_access_token_needs_a_request_context():
    with pytest.raises(RuntimeError, match="Flask request context"):
        get_access_token()


def test_get_access_token_rejects_other_objects():
    with pytest.raises(TypeError, match="expected a WSGI environ"):
        get_access_token(42)


def test_decorated_flask_view_outside_a_request_is_a_programming_error():
    @require_scopes("read")
    def view():
        return "ok"

    with pytest.raises(RuntimeError, match="Flask request context"):
        view()


def test_require_access_token_with_flask(make_verifier, issuer):
    """The token in a view; for a request without one, MissingToken, which
    Flask answers with the middleware's 401 challenge (not a 500)."""
    from jwt_guard import MissingToken
    from jwt_guard.wsgi import TokenRequired, require_access_token

    app = Flask(__name__)

    @app.get("/me")
    def me() -> dict[str, Any]:
        return {"sub": require_access_token().subject}

    @app.get("/me-by-request")
    def me_by_request() -> dict[str, Any]:
        return {"sub": require_access_token(request).subject}

    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=make_verifier(), realm="api", optional=True)
    client = app.test_client()
    for path in ("/me", "/me-by-request"):
        assert client.get(path, headers=bearer(issuer.token(sub="ada"))).json == {"sub": "ada"}
        anonymous = client.get(path)
        assert anonymous.status_code == 401
        assert anonymous.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert anonymous.headers["Cache-Control"] == "no-store"
        assert anonymous.json == {"error": "unauthorized", "error_description": MissingToken.description}
    with pytest.raises(MissingToken) as raised:
        require_access_token({})
    assert isinstance(raised.value, TokenRequired)
    assert raised.value.get_response().status_code == 401
