"""The ASGI, WSGI and FastAPI faces decide alike, because one request layer decides for them:
the same scope-validation errors, the same anonymous key semantics, answers through the
middleware's public responder, and no middleware object handed to endpoints."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Security
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from werkzeug.test import Client, EnvironBuilder
from werkzeug.wrappers import Response as WerkzeugResponse

import jwt_guard
import jwt_guard.asgi as asgi
import jwt_guard.wsgi as wsgi
from jwt_guard import RESPONDER_KEY, TOKEN_KEY, AccessToken, InsufficientScope, MissingToken, Responder, render_error
from jwt_guard.fastapi import JWTBearer
from tests.asgi.conftest import asgi_client, bearer

pytestmark = pytest.mark.anyio


def _view(request):
    return request


# -- one validation of scope names -------------------------------------------------------------------

MISUSE = [
    pytest.param((), id="no-scopes"),
    pytest.param((_view,), id="no-parentheses"),
    pytest.param((3,), id="not-a-string"),
    pytest.param((b"read",), id="bytes"),
    pytest.param(("",), id="empty"),
    pytest.param(("read write",), id="space"),
    pytest.param(('a"b',), id="quote"),
    pytest.param(("caf\u00e9",), id="non-ascii"),
    pytest.param(("read", "a\\b"), id="second-bad"),
]


def _raised(decorator: Any, args: tuple[Any, ...]) -> tuple[type[BaseException], str]:
    with pytest.raises((TypeError, ValueError)) as info:
        decorator(*args)
    return type(info.value), str(info.value)


@pytest.mark.parametrize("args", MISUSE)
@pytest.mark.parametrize("name", ["require_scopes", "require_any_scope"])
def test_asgi_and_wsgi_decorators_refuse_alike(name, args):
    """Same exception type and message: TypeError for misuse, ValueError for a bad scope string."""
    raised = _raised(getattr(asgi, name), args)
    assert raised == _raised(getattr(wsgi, name), args)
    expected = ValueError if args and all(isinstance(a, str) for a in args) else TypeError
    assert raised[0] is expected


async def test_fastapi_scope_names_are_checked_with_the_same_exception(make_verifier, issuer):
    """FastAPI hands the route's scopes over with the first request: a bad one raises ValueError there."""
    bearer_scheme = JWTBearer(verifier=make_verifier())
    app = FastAPI()

    @app.get("/bad")
    async def bad(token: AccessToken = Security(bearer_scheme, scopes=["read write"])) -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match="'read write' is not a scope token") as info:
        wsgi.require_scopes("read write")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with pytest.raises(ValueError) as fastapi_info:
            await client.get("/bad", headers=bearer(issuer.token(scope="read")))
    assert str(fastapi_info.value) == str(info.value).replace("require_scopes", "Security")


# -- what the key holds, in both adapters ------------------------------------------------------------


async def _asgi_seen(verifier: Any, headers: dict[str, str], path: str, *, middleware: bool) -> dict[str, Any]:
    async def probe(request: Request) -> JSONResponse:
        return JSONResponse(_describe(request.scope))

    options = {"verifier": verifier, "optional": True, "exclude_paths": ["/public"]}
    app = Starlette(
        routes=[Route("/me", probe), Route("/public", probe)],
        middleware=[Middleware(asgi.JWTGuardMiddleware, **options)] if middleware else [],
    )
    async with asgi_client(app) as client:
        response = await client.get(path, headers=headers)
    return {"status": response.status_code, **(response.json() if response.status_code == 200 else {})}


def _wsgi_seen(verifier: Any, headers: dict[str, str], path: str, *, middleware: bool) -> dict[str, Any]:
    def _json(environ: dict[str, Any], start_response: Any) -> Any:
        import json

        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(_describe(environ)).encode()]

    app = (
        wsgi.JWTGuardMiddleware(_json, verifier=verifier, optional=True, exclude_paths=["/public"])
        if middleware
        else _json
    )
    response = Client(app).get(path, headers=headers)
    return {"status": response.status_code, **(response.json if response.status_code == 200 else {})}


def _describe(values: dict[str, Any]) -> dict[str, Any]:
    token = values.get(TOKEN_KEY, "absent")
    kind = "absent" if token == "absent" else "none" if token is None else type(token).__name__
    responder = values.get(RESPONDER_KEY)
    return {
        "token": kind,
        "responder": type(responder).__name__ if responder is not None else None,
        "middleware_in_values": any(
            isinstance(value, (asgi.JWTGuardMiddleware, wsgi.JWTGuardMiddleware)) for value in values.values()
        ),
    }


SITUATIONS = [
    pytest.param("valid", "/me", True, {"status": 200, "token": "AccessToken"}, id="valid-token"),
    pytest.param(None, "/me", True, {"status": 200, "token": "none"}, id="anonymous-in-optional-mode"),
    pytest.param(None, "/public", True, {"status": 200, "token": "none"}, id="excluded-path"),
    pytest.param("valid", "/public", True, {"status": 200, "token": "none"}, id="excluded-path-with-a-token"),
    pytest.param("forged", "/me", True, {"status": 401}, id="invalid-token"),
    pytest.param("valid", "/me", False, {"status": 200, "token": "absent"}, id="no-middleware"),
]


@pytest.mark.parametrize(("token", "path", "middleware", "expected"), SITUATIONS)
async def test_the_token_key_means_the_same_in_both_adapters(issuer, make_verifier, token, path, middleware, expected):
    """After the middleware ran the key holds the AccessToken or None; without it the key is absent."""
    from tests.wsgi.conftest import forged_token

    raw = {"valid": lambda: issuer.token(scope="read"), "forged": lambda: forged_token(issuer), None: lambda: None}[
        token
    ]()
    headers = bearer(raw) if raw else {}
    verifier = make_verifier()
    seen_asgi = await _asgi_seen(verifier, headers, path, middleware=middleware)
    seen_wsgi = _wsgi_seen(verifier, headers, path, middleware=middleware)
    assert seen_asgi == seen_wsgi
    assert {key: seen_asgi[key] for key in expected} == expected
    if expected["status"] == 200:
        assert seen_asgi["responder"] == ("Responder" if middleware else None)
        assert seen_asgi["middleware_in_values"] is False


# -- decorators answer through the responder --------------------------------------------------------

REALM = "via-responder"


@asgi.require_scopes("admin")
async def asgi_view(request: Request) -> Response:
    return PlainTextResponse("ok")


@wsgi.require_scopes("admin")
def wsgi_view(environ: dict[str, Any], start_response: Any) -> Any:
    start_response("200 OK", [])
    return [b"ok"]


def _token(scope: str) -> AccessToken:
    return AccessToken(claims={"iss": "i", "scope": scope}, header={"alg": "RS256"}, scopes=frozenset({scope}), raw="")


async def test_decorators_answer_with_the_responder_they_find(caplog):
    """No middleware at all: a Responder under RESPONDER_KEY is enough to set the realm and on_error."""
    answers: list[tuple[str, Any]] = []

    def on_error(error: Any, request: Any) -> Any:
        answers.append((type(error).__name__, request))
        if isinstance(error, InsufficientScope):
            return (
                PlainTextResponse("custom", status_code=403)
                if isinstance(request, Request)
                else WerkzeugResponse("custom", status=403)
            )
        return None

    responder = Responder(realm=REALM, on_error=on_error)
    expected = render_error(MissingToken(), realm=REALM)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        # Anonymous: the default challenge with the responder's realm.
        scope = {"type": "http", "headers": [], TOKEN_KEY: None, RESPONDER_KEY: responder}
        response = await asgi_view(Request(scope))
        assert (response.status_code, response.body) == (401, expected.body)
        assert response.headers["www-authenticate"] == f'Bearer realm="{REALM}"'
        environ = {**EnvironBuilder().get_environ(), TOKEN_KEY: None, RESPONDER_KEY: responder}
        result = Client(lambda e, s: wsgi_view({**e, **environ}, s)).get("/")
        assert (result.status_code, result.data) == (401, expected.body)
        assert result.headers["WWW-Authenticate"] == f'Bearer realm="{REALM}"'

        # Lacking the scope: on_error's answer.
        scope[TOKEN_KEY] = environ[TOKEN_KEY] = _token("read")
        response = await asgi_view(Request(scope))
        assert (response.status_code, response.body) == (403, b"custom")
        result = Client(lambda e, s: wsgi_view({**e, **environ}, s)).get("/")
        assert (result.status_code, result.data) == (403, b"custom")
    assert [name for name, _ in answers] == ["MissingToken", "MissingToken", "InsufficientScope", "InsufficientScope"]
    assert isinstance(answers[0][1], Request)
    assert isinstance(answers[1][1], dict)  # the environ, as the WSGI middleware passes it
    assert caplog.records == []  # the key was there: the middleware counts as having run


async def test_decorators_answer_like_the_middleware_in_both_adapters(issuer, make_verifier):
    def asgi_error(error: Any, request: Any) -> Any:
        return PlainTextResponse(f"asgi {error.status_code}", status_code=error.status_code)

    def wsgi_error(error: Any, environ: Any) -> Any:
        return WerkzeugResponse(f"wsgi {error.status_code}", status=error.status_code)

    verifier = make_verifier()
    app = Starlette(
        routes=[Route("/", asgi_view)],
        middleware=[Middleware(asgi.JWTGuardMiddleware, verifier=verifier, on_error=asgi_error)],
    )
    async with asgi_client(app) as client:
        response = await client.get("/", headers=bearer(issuer.token(scope="read")))
    assert (response.status_code, response.text) == (403, "asgi 403")
    client = Client(wsgi.JWTGuardMiddleware(wsgi_view, verifier=verifier, on_error=wsgi_error))
    result = client.get("/", headers=bearer(issuer.token(scope="read")))
    assert (result.status_code, result.text) == (403, "wsgi 403")


# -- the missing middleware is reported once per view, in both adapters -------------------------------


async def test_a_missing_middleware_is_logged_once_per_view(issuer, caplog):
    @asgi.require_scopes("read")
    async def lonely_asgi(request: Request) -> Response:
        return PlainTextResponse("never")

    @wsgi.require_scopes("read")
    def lonely_wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        start_response("200 OK", [])
        return [b"never"]

    app = Starlette(routes=[Route("/", lonely_asgi)])
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        async with asgi_client(app) as client:
            for _ in range(3):
                response = await client.get("/", headers=bearer(issuer.token(scope="read")))
                assert response.status_code == 401
        for _ in range(3):
            assert Client(lonely_wsgi).get("/", headers=bearer(issuer.token(scope="read"))).status_code == 401
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert "lonely_asgi requires a token but JWTGuardMiddleware did not run" in messages[0]
    assert "lonely_wsgi requires a token but JWTGuardMiddleware did not run" in messages[1]


def test_one_name_for_each_request_key():
    """The adapters export the package's key names, not their own; the old names are aliases."""
    assert (jwt_guard.TOKEN_KEY, jwt_guard.RESPONDER_KEY) == ("jwt_guard.token", "jwt_guard.responder")
    for adapter in (asgi, wsgi):
        assert {"TOKEN_KEY", "RESPONDER_KEY"} <= set(adapter.__all__)
        assert adapter.TOKEN_KEY is jwt_guard.TOKEN_KEY
        assert adapter.RESPONDER_KEY is jwt_guard.RESPONDER_KEY
    assert asgi.TOKEN_SCOPE_KEY is jwt_guard.TOKEN_KEY
    assert wsgi.ENVIRON_KEY is jwt_guard.TOKEN_KEY
    assert "TOKEN_SCOPE_KEY" not in asgi.__all__
    assert "ENVIRON_KEY" not in wsgi.__all__
