"""jwt_guard.wsgi.JWTGuardMiddleware on a plain WSGI app, through
werkzeug.test.Client and direct WSGI calls."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from jwt_guard import (
    ConfigurationError,
    ExpiredToken,
    InvalidRequest,
    JWTGuardError,
    KeySetUnavailable,
    MissingToken,
)
from jwt_guard.wsgi import TOKEN_KEY, JWTGuardMiddleware, get_access_token
from tests.conftest import make_issuer
from tests.strategies import authorization_values, mutated_tokens
from tests.wsgi.conftest import BAD_TOKENS, BAD_TOKENS_ISSUER, bearer, call_wsgi, environ_for, probe_app

# Hypothesis tests cannot take function-scoped fixtures: one verifier for them.
_STATIC_ISSUER = make_issuer("ES256")
_STATIC_VERIFIER = _STATIC_ISSUER.verifier()
_VALID_TOKEN = _STATIC_ISSUER.token(scope="read", expires_in=10**6)

# The HTTP semantics table runs through this middleware (in process and behind
# Werkzeug's server) in tests/wsgi/test_semantics.py.


def test_valid_token_reaches_the_app(guarded, issuer):
    client = guarded(realm="api")
    response = client.get("/resource", headers=bearer(issuer.token(scope="read write", sub="alice")))
    assert response.status_code == 200
    assert response.json == {"path": "/resource", "has_key": True, "subject": "alice", "scopes": ["read", "write"]}


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param("Bearer {}", id="canonical"),
        pytest.param("bearer {}", id="lower-case-scheme"),
        pytest.param("BEARER {}", id="upper-case-scheme"),
        pytest.param("Bearer   {}", id="several-spaces"),
    ],
)
def test_scheme_is_case_insensitive(guarded, issuer, authorization):
    response = guarded().get("/", headers={"Authorization": authorization.format(issuer.token(sub="bob"))})
    assert response.status_code == 200
    assert response.json["subject"] == "bob"


def test_query_token_accepted_only_when_allowed(guarded, issuer):
    token = issuer.token(sub="carol")
    assert guarded(allow_query_token=True).get("/", query_string={"access_token": token}).json["subject"] == "carol"
    refused = guarded().get("/", query_string={"access_token": token})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("raise_error", "status", "extra"),
    [
        pytest.param(ExpiredToken(), 401, {}, id="expired"),
        pytest.param(KeySetUnavailable(retry_after=17), 503, {"Retry-After": "17"}, id="keys-unavailable"),
    ],
)
def test_verifier_errors_become_answers(guarded, make_verifier, monkeypatch, raise_error, status, extra):
    def verify(token: str) -> Any:
        raise raise_error

    verifier = make_verifier()
    monkeypatch.setattr(verifier, "verify", verify)
    response = guarded(verifier=verifier).get("/", headers=bearer("a.b.c"))
    assert response.status_code == status
    for name, value in extra.items():
        assert response.headers[name] == value
    if status == 503:
        assert "WWW-Authenticate" not in response.headers
        assert response.json["error"] == "temporarily_unavailable"


def test_keys_unobtainable_is_503_with_retry_after(guarded, issuer, remote_verifier, key_server):
    """A cold cache and a dead key server: not the client's fault."""
    key_server.set_fault("refuse", target="any")
    response = guarded(verifier=remote_verifier()).get("/", headers=bearer(issuer.token()))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert "WWW-Authenticate" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.json["error"] == "temporarily_unavailable"


def test_without_realm_the_challenge_is_bare(guarded):
    response = guarded().get("/")
    assert response.headers["WWW-Authenticate"] == "Bearer"


# -- duplicate headers joined by the server -----------------------------------


@pytest.mark.parametrize(
    ("joined", "status"),
    [
        pytest.param("Bearer {t},Bearer {t}", 400, id="bearer-bearer-werkzeug-style"),
        pytest.param("Bearer {t}, Bearer {t}", 400, id="bearer-bearer-with-space"),
        pytest.param("Basic dXNlcjpwYXNz,Bearer {t}", 400, id="basic-then-bearer"),
        pytest.param("Bearer {t},Basic dXNlcjpwYXNz", 400, id="bearer-then-basic"),
        pytest.param("Bearer {t},", 400, id="trailing-comma"),
        pytest.param('Digest username="a, b c", realm="x", nonce="y"', 401, id="one-digest-header-with-commas"),
        pytest.param("Bearer {t}", 200, id="single"),
    ],
)
def test_joined_authorization_headers(issuer, make_verifier, joined, status):
    """WSGI servers join repeated headers with a comma: that is two headers."""
    middleware = JWTGuardMiddleware(probe_app, verifier=make_verifier())
    environ = environ_for("/", authorization=joined.format(t=issuer.token()))
    line, _, body = call_wsgi(middleware, environ)
    assert int(line.split()[0]) == status
    if status == 400:
        assert json.loads(body)["error"] == "invalid_request"


# -- optional mode ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status", "subject"),
    [
        pytest.param(lambda t: {}, 200, None, id="anonymous-passes"),
        pytest.param(lambda t: {"Authorization": "Basic dXNlcjpwYXNz"}, 200, None, id="other-scheme-passes"),
        pytest.param(lambda t: bearer(t), 200, "dave", id="valid-token"),
        pytest.param(lambda t: bearer(t + "x"), 401, None, id="invalid-token-refused"),
        pytest.param(lambda t: {"Authorization": "Bearer"}, 400, None, id="malformed-header-refused"),
    ],
)
def test_optional_mode(guarded, issuer, headers, status, subject):
    response = guarded(optional=True).get("/", headers=headers(issuer.token(sub="dave")))
    assert response.status_code == status
    if status == 200:
        assert response.json["has_key"] is True
        assert response.json["subject"] == subject


def test_anonymous_environ_holds_none(make_verifier):
    middleware = JWTGuardMiddleware(probe_app, verifier=make_verifier(), optional=True)
    environ = environ_for("/")
    call_wsgi(middleware, environ)
    assert environ[TOKEN_KEY] is None


# -- excluded paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        pytest.param("/health", 200, id="exact"),
        pytest.param("/healthz", 401, id="exact-is-not-a-prefix"),
        pytest.param("/health/deep", 401, id="exact-has-no-children"),
        pytest.param("/public", 200, id="prefix-root-without-slash"),
        pytest.param("/public/", 200, id="prefix-root"),
        pytest.param("/public/a/b", 200, id="prefix-child"),
        pytest.param("/publicity", 401, id="prefix-needs-the-slash"),
        pytest.param("/static.css", 200, id="star-prefix"),
        pytest.param("/café/menu", 200, id="non-ascii-prefix"),
        pytest.param("/Health", 401, id="case-sensitive"),
        pytest.param("/api", 401, id="not-excluded"),
    ],
)
def test_excluded_paths(guarded, path, status):
    client = guarded(exclude_paths=["/health", "/public/", "/static*", "/café/"])
    response = client.get(path)
    assert response.status_code == status


@pytest.mark.parametrize(
    ("path_info", "status"),
    [
        pytest.param("/caf\u00c3\u00a9/menu", 200, id="pep-3333-latin-1"),
        pytest.param("/caf\u00e9/menu", 401, id="not-pep-3333-fails-closed"),
        pytest.param("/\u2603", 401, id="beyond-latin-1"),
        pytest.param("/\udcff", 401, id="lone-surrogate"),
        pytest.param("", 401, id="empty"),
    ],
)
def test_odd_path_info_never_breaks(make_verifier, path_info, status):
    middleware = JWTGuardMiddleware(probe_app, verifier=make_verifier(), exclude_paths=["/caf\u00e9/"])
    line, _, _ = call_wsgi(middleware, environ_for("/") | {"PATH_INFO": path_info})
    assert int(line.split()[0]) == status


def test_excluded_path_ignores_even_bad_credentials(guarded):
    response = guarded(exclude_paths=["/health"]).get("/health", headers={"Authorization": "Bearer"})
    assert response.status_code == 200
    assert response.json["subject"] is None


def test_excluded_paths_match_path_info_below_script_name(guarded):
    client = guarded(exclude_paths=["/health"])
    assert client.get("/health", environ_overrides={"SCRIPT_NAME": "/mounted"}).status_code == 200
    assert client.get("/mounted/health").status_code == 401


# -- on_error --------------------------------------------------------------------------


def test_on_error_renders_the_answer(guarded):
    seen: list[tuple[JWTGuardError, dict[str, Any]]] = []

    def on_error(error: JWTGuardError, environ: dict[str, Any]) -> Response:
        seen.append((error, environ))
        return Response(f"denied: {type(error).__name__}", status=error.status_code, mimetype="text/plain")

    client = guarded(on_error=on_error)
    response = client.get("/x")
    assert response.status_code == 401
    assert response.text == "denied: MissingToken"
    response = client.get("/x", headers={"Authorization": "Bearer"})
    assert (response.status_code, response.text) == (400, "denied: InvalidRequest")
    assert [type(error) for error, _ in seen] == [MissingToken, InvalidRequest]
    assert seen[0][1]["PATH_INFO"] == "/x"


def test_on_error_returning_none_keeps_the_default(guarded, caplog):
    def on_error(error: JWTGuardError, environ: dict[str, Any]) -> None:
        logging.getLogger("app").info("refused: %s", error.status_code)

    with caplog.at_level(logging.INFO, logger="app"):
        response = guarded(on_error=on_error, realm="api").get("/")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert "refused: 401" in caplog.text


# -- no 500, whatever the token -----------------------------------------------------


@pytest.mark.parametrize("raw", BAD_TOKENS)
def test_no_500_for_any_bad_token(raw):
    """Every malformed or attack token is answered 400 or 401: never 500, never 200."""
    verifier = BAD_TOKENS_ISSUER.verifier(clock=BAD_TOKENS_ISSUER.clock)
    response = Client(JWTGuardMiddleware(probe_app, verifier=verifier)).get("/", headers=bearer(raw))
    assert response.status_code in (400, 401)
    assert response.json["error"] in ("invalid_request", "invalid_token")
    assert response.headers["WWW-Authenticate"].startswith(f'Bearer error="{response.json["error"]}"')


@given(value=st.text(alphabet=st.characters(max_codepoint=255), max_size=300))
def test_no_500_for_any_header_value(value):
    middleware = JWTGuardMiddleware(probe_app, verifier=_STATIC_VERIFIER)
    for header in (value, f"Bearer {value}", f"Bearer a.{value}.b"):
        line, _, _ = call_wsgi(middleware, environ_for("/", authorization=header))
        assert int(line.split()[0]) in (400, 401), header


@given(value=authorization_values())
def test_no_500_for_hostile_authorization_values(value):
    middleware = JWTGuardMiddleware(probe_app, verifier=_STATIC_VERIFIER)
    line, _, body = call_wsgi(middleware, environ_for("/", authorization=value))
    assert int(line.split()[0]) in (400, 401)
    assert json.loads(body)["error"] in ("invalid_request", "invalid_token", "unauthorized")


@given(raw=mutated_tokens(_VALID_TOKEN))
def test_no_500_for_mutated_tokens(raw):
    """Structured mutations of a valid token (never re-signed) are all refused."""
    assume(raw.strip(" ") != _VALID_TOKEN)  # spaces around a header value are optional whitespace
    middleware = JWTGuardMiddleware(probe_app, verifier=_STATIC_VERIFIER, optional=True)
    line, _, _ = call_wsgi(middleware, environ_for("/", authorization=f"Bearer {raw}"))
    assert int(line.split()[0]) in (400, 401)


@given(query=st.text(alphabet=st.characters(max_codepoint=255), max_size=200))
def test_no_500_for_any_query_string(query):
    middleware = JWTGuardMiddleware(probe_app, verifier=_STATIC_VERIFIER, allow_query_token=True)
    line, _, _ = call_wsgi(middleware, environ_for("/", query="") | {"QUERY_STRING": query})
    assert int(line.split()[0]) in (400, 401)


# -- the WSGI contract ----------------------------------------------------------------


def test_the_app_iterable_is_passed_through(make_verifier, issuer):
    """close() and streaming stay the application's business."""
    sentinel = iter([b"a", b"b"])

    def app(environ, start_response):
        start_response("200 OK", [])
        return sentinel

    middleware = JWTGuardMiddleware(app, verifier=make_verifier())
    result = middleware(environ_for("/", authorization=f"Bearer {issuer.token()}"), lambda *a: None)
    assert result is sentinel


def test_environ_token_cannot_be_supplied_by_the_client(guarded):
    """A header named like the environ key is just an HTTP_ header."""
    response = guarded(optional=True).get("/", headers={"jwt_guard.token": "admin"})
    assert response.json["subject"] is None


async def _async_on_error(error, environ):
    return None


_ON_ERROR_MESSAGE = "on_error must be a plain function returning a WSGI application or None"


@pytest.mark.parametrize(
    ("kwargs", "exception", "message"),
    [
        pytest.param({"app": None}, TypeError, "app must be a WSGI application", id="app-not-callable"),
        pytest.param(
            {"verifier": object()},
            ConfigurationError,
            "verifier must be a jwt_guard.Verifier, not object",
            id="not-a-verifier",
        ),
        pytest.param({"on_error": "nope"}, ConfigurationError, _ON_ERROR_MESSAGE, id="on-error-not-callable"),
        pytest.param(
            {"on_error": _async_on_error}, ConfigurationError, _ON_ERROR_MESSAGE, id="on-error-coroutine-function"
        ),
        pytest.param({"realm": 'a"b'}, ConfigurationError, "realm must be", id="realm-with-quote"),
        pytest.param(
            {"exclude_paths": ["health"]}, ConfigurationError, "exclude_paths entries", id="exclude-path-without-slash"
        ),
    ],
)
def test_bad_configuration_fails_at_construction(make_verifier, kwargs, exception, message):
    options: dict[str, Any] = {"app": probe_app, "verifier": make_verifier(), **kwargs}
    app = options.pop("app")
    with pytest.raises(exception) as info:
        JWTGuardMiddleware(app, **options)
    assert str(info.value).startswith(message)


def test_repr_names_app_and_verifier(make_verifier):
    middleware = JWTGuardMiddleware(probe_app, verifier=make_verifier(), realm="api")
    assert "probe_app" in repr(middleware)
    assert middleware.realm == "api"


# -- get_access_token ------------------------------------------------------------------


class _DjangoLike:
    """Anything with a META mapping, as Django's HttpRequest."""

    def __init__(self, environ):
        self.META = environ


@pytest.mark.parametrize(
    "wrap",
    [
        pytest.param(lambda environ: environ, id="environ"),
        pytest.param(Request, id="werkzeug-request"),
        pytest.param(_DjangoLike, id="django-style-meta"),
    ],
)
def test_get_access_token_accepts_environ_and_requests(make_verifier, issuer, wrap):
    seen = []

    def app(environ, start_response):
        seen.append(get_access_token(wrap(environ)))
        start_response("204 No Content", [])
        return []

    client = Client(JWTGuardMiddleware(app, verifier=make_verifier(), optional=True))
    client.get("/", headers=bearer(issuer.token(sub="leo")))
    client.get("/")
    assert [token.subject if token else None for token in seen] == ["leo", None]


def test_get_access_token_ignores_anything_but_an_access_token():
    assert get_access_token({TOKEN_KEY: {"sub": "admin"}}) is None


# -- no framework needed -----------------------------------------------------------------

_WITHOUT_FRAMEWORKS = """
import sys
sys.modules["flask"] = None   # import flask -> ImportError
sys.modules["django"] = None
import jwt_guard.wsgi as wsgi
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

@wsgi.require_scopes("read")
def app(environ, start_response):
    start_response("200 OK", [])
    return [b"ok"]

@wsgi.require_scopes("read")
def view(request: Request) -> Response:
    return Response("ok")

try:
    @wsgi.require_scopes("read")
    def flask_view():
        return "ok"
except TypeError as exc:
    print("TypeError:", exc)
print(Client(app).get("/").status_code, view(Request({"REQUEST_METHOD": "GET"})).status_code)
try:
    wsgi.get_access_token()
except RuntimeError:
    print("RuntimeError")
"""


def test_wsgi_adapter_works_without_flask_and_django():
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", _WITHOUT_FRAMEWORKS], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("TypeError:") and "Flask is not installed" in lines[0]
    assert lines[1:] == ["401 401", "RuntimeError"]
