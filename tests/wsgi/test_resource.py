"""RFC 9728 metadata and RFC 9470 step-up through the WSGI middleware and
decorators: Flask, Werkzeug and plain WSGI views, in process and over a real
threaded server fed raw request targets."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask, jsonify
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from jwt_guard import ConfigurationError, ProtectedResource
from jwt_guard._auth_syntax import parse_challenges
from jwt_guard.wsgi import JWTGuardMiddleware, require_any_scope, require_auth, require_scopes
from tests.wsgi.conftest import bearer, call_wsgi, environ_for, serve

RESOURCE = "https://api.example.test/mcp"
METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"
METADATA_URL = "https://api.example.test" + METADATA_PATH
MFA = "urn:example:mfa"


def resource(**options: Any) -> ProtectedResource:
    options.setdefault("resource", RESOURCE)
    options.setdefault("authorization_servers", ["https://issuer.example.test/"])
    return ProtectedResource(**options)


def flask_app(verifier: Any, **options: Any) -> Flask:
    app = Flask(__name__)

    @app.get("/read")
    @require_scopes("read")
    def read() -> Any:
        return jsonify(ok=True)

    @app.post("/write")
    @require_any_scope("write", "admin")
    def write() -> Any:
        return jsonify(ok=True)

    @app.post("/transfer")
    @require_auth(scopes=["pay"], acr_values=[MFA, "hwk"], max_age=600)
    def transfer() -> Any:
        return jsonify(ok=True)

    @app.get("/open")
    def open_view() -> Any:
        return jsonify(ok=True)

    options.setdefault("resource", resource())
    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=verifier, **options)  # type: ignore[method-assign]
    return app


@pytest.fixture
def verifier(make_verifier) -> Any:
    return make_verifier(audience=RESOURCE)


@pytest.fixture
def client(verifier) -> Any:
    return flask_app(verifier).test_client()


def params(response: Any) -> dict[str, str]:
    [(scheme, values)] = parse_challenges(response.headers["WWW-Authenticate"])
    assert scheme == "Bearer"
    return values


# -- the document -------------------------------------------------------------------------------


def test_flask_serves_the_metadata_without_a_token(client):
    response = client.get(METADATA_PATH, headers={"Authorization": "Bearer not-even-a-jwt"})
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Content-Type"] == "application/json"
    # WSGI shows no routes: without scopes_supported the member is left out.
    assert response.get_json() == {
        "resource": RESOURCE,
        "authorization_servers": ["https://issuer.example.test/"],
        "bearer_methods_supported": ["header"],
    }


def test_explicit_scopes_and_query_tokens(verifier):
    app = flask_app(verifier, resource=resource(scopes_supported=["read", "write"]), allow_query_token=True)
    document = app.test_client().get(METADATA_PATH).get_json()
    assert document["scopes_supported"] == ["read", "write"]
    assert document["bearer_methods_supported"] == ["header", "query"]


def test_head_options_and_other_methods(client):
    get = client.get(METADATA_PATH)
    head = client.head(METADATA_PATH)
    options = client.options(
        METADATA_PATH, headers={"Origin": "https://x.example", "Access-Control-Request-Method": "GET"}
    )
    post = client.post(METADATA_PATH, data=b"{}")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len(get.data))
    assert options.status_code == 204 and options.headers["Access-Control-Allow-Methods"] == "GET, HEAD, OPTIONS"
    assert post.status_code == 405 and post.headers["Allow"] == "GET, HEAD, OPTIONS"
    assert post.get_json() == {"error": "method_not_allowed"}


ODD_PATHS = [
    pytest.param("/.well-known/oauth-protected-resource/mcp/", 404, id="trailing-slash"),
    pytest.param("/.well-known/oauth-protected-resource/../x", 404, id="dot-dot"),
    pytest.param("/.well-known/oauth-protected-resource/./mcp", 404, id="dot"),
    pytest.param("/.well-known/oauth-protected-resource%2Fmcp", 404, id="encoded-slash"),
    pytest.param("/.well-known/oauth-protected-resource%2fmcp", 404, id="encoded-slash-lowercase"),
    pytest.param("/%2Ewell-known/oauth-protected-resource/mcp", 404, id="encoded-dot"),
    pytest.param("/.well-known//oauth-protected-resource/mcp", 404, id="double-slash"),
    pytest.param("/.well-known/oauth-protected-resource", 404, id="namespace-root"),
    pytest.param("/.well-known/oauth-protected-resource/other", 404, id="another-resource"),
    pytest.param("/.well-known/oauth-protected-resource/%ff%00", 404, id="bad-bytes"),
    pytest.param("/.well-known/oauth-protected-resourcex", 401, id="longer-name-is-the-app"),
    pytest.param("/open", 401, id="app-route"),
]


@pytest.mark.parametrize(("path", "status"), ODD_PATHS)
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
def test_odd_paths_through_flask(client, path, status, method):
    response = client.open(path, method=method)
    assert response.status_code == status
    if status == 401:
        assert params(response) == {"resource_metadata": METADATA_URL}
    elif method != "HEAD":
        assert response.get_json() == {"error": "not_found"}


@pytest.mark.parametrize(("path", "status"), ODD_PATHS)
def test_odd_paths_through_werkzeug(verifier, path, status):
    def app(environ: Any, start_response: Any) -> Any:
        return Response("app")(environ, start_response)

    client = Client(JWTGuardMiddleware(app, verifier=verifier, resource=resource()))
    assert client.get(path).status_code == status


@pytest.mark.parametrize(
    ("environ_update", "status"),
    [
        pytest.param({"PATH_INFO": METADATA_PATH}, 200, id="path-info-only"),
        pytest.param({"SCRIPT_NAME": "/.well-known", "PATH_INFO": "/oauth-protected-resource/mcp"}, 200, id="split"),
        pytest.param({"PATH_INFO": "/.well-known/oauth-protected-resource/mcp/"}, 404, id="path-info-slash"),
        pytest.param({"RAW_URI": "http://api.example.test" + METADATA_PATH, "PATH_INFO": METADATA_PATH}, 200, id="abs"),
        pytest.param({"REQUEST_METHOD": ""}, 200, id="empty-method"),
    ],
)
def test_environs_without_a_raw_uri(verifier, environ_update, status):
    """Servers that give no RAW_URI/REQUEST_URI: SCRIPT_NAME + PATH_INFO re-encoded."""

    def app(environ: Any, start_response: Any) -> Any:  # pragma: no cover - never reached
        raise AssertionError

    environ = environ_for(METADATA_PATH)
    for key in ("RAW_URI", "REQUEST_URI"):
        environ.pop(key, None)
    environ.update(environ_update)
    status_line, _, _ = call_wsgi(JWTGuardMiddleware(app, verifier=verifier, resource=resource()), environ)
    assert int(status_line.split()[0]) == status


def raw_request(url: str, target: str, method: str = "GET") -> int:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return int(data.split(b" ", 2)[1])


def test_odd_paths_over_a_real_server(verifier):
    with serve(flask_app(verifier)) as url:
        assert raw_request(url, METADATA_PATH) == 200
        for target in (
            "/.well-known/oauth-protected-resource/../x",
            "/.well-known/oauth-protected-resource%2Fmcp",
            "/.well-known/oauth-protected-resource/mcp/",
            "/.well-known//oauth-protected-resource/mcp",
        ):
            for method in ("GET", "HEAD", "OPTIONS", "POST"):
                assert raw_request(url, target, method) == 404, (target, method)
        assert raw_request(url, METADATA_PATH, "POST") == 405
        assert raw_request(url, METADATA_PATH, "OPTIONS") == 204
        assert raw_request(url, "/open") == 401


# -- challenges ---------------------------------------------------------------------------------


def test_every_refusal_points_to_the_metadata(client, issuer):
    token = issuer.token(aud=RESOURCE, scope="read")
    responses = {
        "missing": client.get("/read"),
        "invalid": client.get("/read", headers=bearer("x.y.z")),
        "malformed": client.get("/read", headers={"Authorization": "Bearer a b"}),
        "forbidden": client.post("/write", headers=bearer(token)),
        "step-up": client.post("/transfer", headers=bearer(issuer.token(aud=RESOURCE, scope="pay", acr="pwd"))),
    }
    statuses = {name: response.status_code for name, response in responses.items()}
    assert statuses == {"missing": 401, "invalid": 401, "malformed": 400, "forbidden": 403, "step-up": 401}
    for response in responses.values():
        assert params(response)["resource_metadata"] == METADATA_URL
    assert params(responses["forbidden"])["scope"] == "write admin"
    assert params(responses["step-up"])["acr_values"] == f"{MFA} hwk"


def test_resource_must_be_one_of_the_audiences(make_verifier):
    with pytest.raises(ConfigurationError, match="differs only by a trailing slash"):
        flask_app(make_verifier(audience=RESOURCE), resource=resource(resource=RESOURCE + "/"))
    with pytest.raises(ConfigurationError, match="audience=None"):
        flask_app(make_verifier(audience=None), resource=resource())


def test_trailing_slash_resource(make_verifier):
    app = flask_app(make_verifier(audience=RESOURCE + "/"), resource=resource(resource=RESOURCE + "/"))
    client = app.test_client()
    assert client.get(METADATA_PATH + "/").get_json()["resource"] == RESOURCE + "/"
    assert client.get(METADATA_PATH).status_code == 404
    assert params(client.get("/read"))["resource_metadata"] == METADATA_URL + "/"


# -- step-up with each kind of view -----------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        pytest.param({"acr": MFA, "auth_time": -600}, 200, id="ok"),
        pytest.param({"acr": "hwk", "auth_time": 0}, 200, id="second-acr"),
        pytest.param({"acr": "pwd", "auth_time": 0}, 401, id="weak"),
        pytest.param({"acr": MFA, "auth_time": -661}, 401, id="old"),
        pytest.param({"acr": MFA, "auth_time": 61}, 401, id="future"),
        pytest.param({"acr": MFA}, 401, id="no-auth-time"),
        pytest.param({"acr": MFA, "auth_time": "yesterday"}, 401, id="auth-time-string"),
        pytest.param({"acr": MFA, "auth_time": False}, 401, id="auth-time-bool"),
        pytest.param({"acr": MFA, "auth_time": 10**300}, 401, id="auth-time-huge"),
        pytest.param({"acr": MFA, "auth_time": -(10**300)}, 401, id="auth-time-huge-negative"),
        pytest.param({"acr": "y" * 5000, "auth_time": 0}, 401, id="acr-long"),
        pytest.param({"acr": {"value": MFA}, "auth_time": 0}, 401, id="acr-object"),
    ],
)
def test_flask_step_up(client, issuer, clock, claims, status):
    claims = dict(claims)
    auth_time = claims.get("auth_time")
    if type(auth_time) is int and abs(auth_time) < 10**6:
        claims["auth_time"] = int(clock()) + auth_time
    response = client.post("/transfer", headers=bearer(issuer.token(aud=RESOURCE, scope="pay", **claims)))
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 401:
        values = params(response)
        assert values["error"] == "insufficient_user_authentication"
        assert values["max_age"] == "600" and values["resource_metadata"] == METADATA_URL


def test_werkzeug_and_plain_wsgi_views(make_verifier, issuer):
    @require_auth(acr_values=[MFA])
    def werkzeug_view(request: Request) -> Response:
        return Response("in")

    @require_auth(max_age=60)
    def wsgi_view(environ: Any, start_response: Any) -> Any:
        return Response("in")(environ, start_response)

    verifier = make_verifier()
    for view in (werkzeug_view, wsgi_view):
        if view is werkzeug_view:

            def app(environ: Any, start_response: Any, view: Any = view) -> Any:
                return view(Request(environ))(environ, start_response)

        else:
            app = view
        client = Client(JWTGuardMiddleware(app, verifier=verifier))
        refused = client.get("/", headers=bearer(issuer.token()))
        assert refused.status_code == 401
        assert 'error="insufficient_user_authentication"' in refused.headers["WWW-Authenticate"]
    assert werkzeug_view.jwt_guard_requirements[0].acr_values == (MFA,)
    assert wsgi_view.jwt_guard_requirements[0].max_age == 60
