"""The token cookie through the WSGI middleware: the cross-origin table sent for real (the application
never runs when refused), excluded paths, public_url, Flask with the Werkzeug cookie helpers, and
jwt_guard.testing's helpers on Werkzeug, Flask and Django test clients."""

from __future__ import annotations

import json
from typing import Any

import flask
import pytest
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Response

from jwt_guard import CrossOriginRequest, render_error
from jwt_guard.testing import clear_token_cookie as clear_client_cookie
from jwt_guard.testing import set_token_cookie as set_client_cookie
from jwt_guard.wsgi import JWTGuardMiddleware, clear_token_cookie, get_access_token, set_token_cookie
from tests.support.cookies import API_HOST, CASES, COOKIE, TRUSTED
from tests.wsgi.conftest import call_wsgi

REFUSED = render_error(CrossOriginRequest())


class Counter:
    """A WSGI app counting the requests that reach it."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, environ, start_response):
        token = get_access_token(environ)
        self.calls.append({"method": environ["REQUEST_METHOD"], "sub": token.subject if token else None})
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]


def environ(method: str, path: str, headers: list[tuple[str, str]], scheme: str = "https") -> dict[str, Any]:
    """A WSGI environ with the method as spelled (EnvironBuilder would upper-case it)."""
    built = EnvironBuilder(path=path, base_url=f"{scheme}://{API_HOST}/").get_environ()
    built["REQUEST_METHOD"] = method
    for name, value in headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        built[key] = f"{built[key]},{value}" if key in built and name.lower() != "host" else value
    return built


def guarded(make_verifier, **options):
    options.setdefault("cookie", COOKIE)
    options.setdefault("trusted_origins", [TRUSTED])
    counter = Counter()
    return counter, JWTGuardMiddleware(counter, verifier=make_verifier(), **options)


@pytest.mark.parametrize(("method", "headers", "passes"), CASES)
def test_the_table_through_the_middleware(issuer, make_verifier, method, headers, passes):
    counter, app = guarded(make_verifier)
    cookie = ("Cookie", f"theme=dark; {COOKIE}={issuer.token(sub='alice')}")
    status, response_headers, body = call_wsgi(app, environ(method, "/notes", [cookie, *headers]))
    if passes:
        assert (status, body) == ("200 OK", b"done")
        assert counter.calls == [{"method": method, "sub": "alice"}]
    else:
        assert (status, body) == ("403 Forbidden", REFUSED.body)
        assert tuple(response_headers) == REFUSED.headers
        assert counter.calls == []


@pytest.mark.parametrize(("method", "headers", "passes"), CASES)
def test_the_table_on_an_excluded_path(issuer, make_verifier, method, headers, passes):
    counter, app = guarded(make_verifier, exclude_paths=["/login"])
    cookie = ("Cookie", f"{COOKIE}={issuer.token()}")
    status, _, _ = call_wsgi(app, environ(method, "/login", [cookie, *headers]))
    assert status == ("200 OK" if passes else "403 Forbidden")
    assert counter.calls == ([{"method": method, "sub": None}] if passes else [])


def test_a_header_never_bypasses_the_check(issuer, make_verifier):
    counter, app = guarded(make_verifier)
    headers = [
        ("Authorization", f"Bearer {issuer.token(sub='mallory')}"),
        ("Cookie", f"{COOKIE}={issuer.token(sub='alice')}"),
        ("Sec-Fetch-Site", "same-site"),
    ]
    assert call_wsgi(app, environ("POST", "/notes", headers))[0] == "403 Forbidden"
    assert counter.calls == []


def test_public_url_behind_a_proxy_that_ends_tls(issuer, make_verifier):
    headers = [("Cookie", f"{COOKIE}={issuer.token()}"), ("Origin", f"https://{API_HOST}")]
    _, plain = guarded(make_verifier)
    assert call_wsgi(plain, environ("POST", "/notes", headers, scheme="http"))[0] == "403 Forbidden"
    counter, behind = guarded(make_verifier, public_url=f"https://{API_HOST}")
    assert call_wsgi(behind, environ("POST", "/notes", headers, scheme="http"))[0] == "200 OK"
    assert len(counter.calls) == 1


def test_the_refusal_goes_through_on_error(issuer, make_verifier):
    seen: list[Any] = []

    def on_error(error, environ):
        seen.append(type(error))
        return Response(json.dumps({"refused": error.status_code}), status=error.status_code)

    _, app = guarded(make_verifier, on_error=on_error)
    headers = [("Cookie", f"{COOKIE}={issuer.token()}"), ("Sec-Fetch-Site", "cross-site")]
    status, _, body = call_wsgi(app, environ("DELETE", "/notes/1", headers))
    assert (status[:3], body, seen) == ("403", b'{"refused": 403}', [CrossOriginRequest])


def test_cookie_answers_follow_rfc_6750(issuer, make_verifier):
    _, app = guarded(make_verifier, realm="api")
    client = Client(app)
    set_client_cookie(client, issuer.token(expires_in=-3600), name=COOKIE)
    expired = client.get("/notes")
    assert expired.status_code == 401 and 'error="invalid_token"' in expired.headers["WWW-Authenticate"]
    clear_client_cookie(client, name=COOKIE)
    missing = client.get("/notes")
    assert missing.status_code == 401 and missing.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    set_client_cookie(client, issuer.token(sub="bob"), name=COOKIE)
    assert client.get("/notes").status_code == 200


# -- Flask and the Werkzeug helpers -------------------------------------------------------------------


def flask_app(verifier, token: str) -> flask.Flask:
    app = flask.Flask(__name__)
    app.config["notes"] = []

    @app.post("/login")
    def login() -> Response:
        response = flask.jsonify(ok=True)
        set_token_cookie(response, token, name=COOKIE, request=flask.request, expires_in=120)
        return response

    @app.post("/logout")
    def logout() -> Response:
        response = flask.jsonify(ok=True)
        clear_token_cookie(response, name=COOKIE, request=flask.request.environ)
        return response

    @app.route("/notes", methods=["GET", "POST"])
    def notes() -> Any:
        if flask.request.method == "POST":
            app.config["notes"].append(get_access_token().subject)
        return {"notes": app.config["notes"]}

    app.wsgi_app = JWTGuardMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, verifier=verifier, cookie=COOKIE, exclude_paths=["/login", "/logout"]
    )
    return app


@pytest.mark.parametrize(
    ("base_url", "secure"),
    [
        pytest.param("http://localhost", False, id="loopback-http"),
        pytest.param("https://api.example.test", True, id="https"),
    ],
)
def test_flask_login_sets_the_cookie_and_the_cookie_authenticates(issuer, make_verifier, base_url, secure):
    token = issuer.token(sub="alice")
    app = flask_app(make_verifier(), token)
    client = app.test_client()
    response = client.post("/login", base_url=base_url)
    flag = " Secure;" if secure else ""
    assert response.headers.getlist("Set-Cookie") == [
        f"{COOKIE}={token}; Max-Age=120; Path=/;{flag} HttpOnly; SameSite=Lax"
    ]
    host = base_url.split("://")[1]
    assert client.get_cookie(COOKIE, domain=host).http_only
    assert client.post("/notes", base_url=base_url).json == {"notes": ["alice"]}
    refused = client.post("/notes", base_url=base_url, headers={"Sec-Fetch-Site": "cross-site"})
    assert (refused.status_code, refused.data) == (403, REFUSED.body)
    assert app.config["notes"] == ["alice"]
    cleared = client.post("/logout", base_url=base_url)
    assert cleared.headers["Set-Cookie"].startswith(f"{COOKIE}=; Max-Age=0;")
    assert client.get("/notes", base_url=base_url).status_code == 401


def test_set_token_cookie_refuses_an_unknown_request_type(issuer):
    with pytest.raises(TypeError, match="WSGI environ or a Werkzeug/Flask request"):
        set_token_cookie(Response(), issuer.token(), name=COOKIE, request="GET /")
    response = Response()
    set_token_cookie(response, issuer.token(), name=COOKIE, expires_in=5)
    assert response.headers["Set-Cookie"].endswith("; Max-Age=5; Path=/; Secure; HttpOnly; SameSite=Lax")


def test_the_testing_helpers_on_a_flask_client(issuer, make_verifier):
    app = flask_app(make_verifier(), "unused")
    client = app.test_client()
    set_client_cookie(client, issuer.token(sub="carol"), name=COOKIE)
    assert client.post("/notes").json == {"notes": ["carol"]}
    clear_client_cookie(client, name=COOKIE)
    assert client.post("/notes").status_code == 401
