"""JWTGuardMiddleware over HTTP, in process (httpx.ASGITransport)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from jwt_guard import (
    ConfigurationError,
    ExpiredToken,
    InsufficientScope,
    InvalidToken,
    JWTGuardError,
    KeySetUnavailable,
    MissingToken,
)
from jwt_guard.asgi import JWTGuardMiddleware, TokenUser, get_access_token
from jwt_guard.testing import b64url, encode_segments
from tests.asgi.conftest import asgi_client, assert_challenge, bearer, protected_app
from tests.conftest import make_issuer

pytestmark = pytest.mark.anyio


def _body(response: Any) -> dict[str, Any]:
    return json.loads(response.content)


# The HTTP semantics table runs through this middleware (in process and under
# uvicorn) in tests/asgi/test_semantics.py.


async def test_no_credentials_is_exactly_the_rendered_challenge(make_app):
    async with asgi_client(make_app()) as client:
        response = await client.get("/me")
    assert_challenge(response, MissingToken())
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


async def test_expired_token_is_exactly_the_rendered_challenge(issuer, make_app):
    async with asgi_client(make_app()) as client:
        response = await client.get("/me", headers=bearer(issuer.token(expires_in=-3600)))
    assert_challenge(response, ExpiredToken())


async def test_missing_scope_is_exactly_the_rendered_challenge(issuer, make_app):
    async with asgi_client(make_app()) as client:
        response = await client.get("/read", headers=bearer(issuer.token(scope="write")))
    assert_challenge(response, InsufficientScope(["read"]))


async def test_key_server_down_answers_503_with_retry_after(issuer, remote_verifier, key_server):
    """Keys unobtainable and none cached: 503 + Retry-After, no bearer error."""
    key_server.set_fault("status", target="any", status=500)
    app = protected_app(remote_verifier())
    async with asgi_client(app) as client:
        response = await client.get("/me", headers=bearer(issuer.token()))
    assert response.status_code == 503
    assert int(response.headers["retry-after"]) >= 1
    assert "error=" not in response.headers.get("www-authenticate", "")
    assert response.headers["cache-control"] == "no-store"
    assert _body(response)["error"] == "temporarily_unavailable"


async def test_realm_is_configurable(make_app):
    async with asgi_client(make_app(realm="my realm")) as client:
        response = await client.get("/me")
    assert response.headers["www-authenticate"] == 'Bearer realm="my realm"'


async def test_no_realm_by_default(make_verifier):
    app = Starlette(
        routes=[Route("/", lambda request: PlainTextResponse("ok"))],
        middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier())],
    )
    async with asgi_client(app) as client:
        response = await client.get("/")
    assert response.headers["www-authenticate"] == "Bearer"


# -- what the application sees ---------------------------------------------------


async def test_success_sets_starlette_user_and_auth(issuer, make_app):
    async with asgi_client(make_app()) as client:
        response = await client.get("/me", headers=bearer(issuer.token(scope="read write", sub="alice")))
    assert response.status_code == 200
    assert _body(response) == {
        "has_user": True,
        "has_auth": True,
        "authenticated": True,
        "identity": "alice",
        "display_name": "alice",
        "scopes": ["read", "write"],
        "sub": "alice",
    }


async def test_token_user_carries_the_access_token(issuer, make_verifier):
    seen: dict[str, Any] = {}

    async def endpoint(request: Request) -> Response:
        seen["user"] = request.user
        seen["token"] = get_access_token(request)
        seen["from_scope"] = get_access_token(request.scope)
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[Route("/", endpoint)], middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier())]
    )
    async with asgi_client(app) as client:
        await client.get("/", headers=bearer(issuer.token(scope="a", sub=None)))
    assert isinstance(seen["user"], TokenUser)
    assert seen["user"].access_token is seen["token"] is seen["from_scope"]
    assert seen["user"].identity == seen["user"].display_name == ""  # no sub
    assert seen["user"].scopes == {"a"}
    assert "eyJ" not in repr(seen["user"])  # the raw token never shows


async def test_get_access_token_without_middleware_is_none():
    assert get_access_token({"type": "http"}) is None
    assert get_access_token(HTTPConnection({"type": "http", "headers": []})) is None
    assert get_access_token({"jwt_guard.token": "forged"}) is None


# -- optional mode ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "status", "authenticated"),
    [
        pytest.param(None, 200, False, id="anonymous-passes"),
        pytest.param("good", 200, True, id="valid-token"),
        pytest.param("expired", 401, None, id="invalid-token-still-refused"),
        pytest.param("malformed-header", 400, None, id="malformed-header-still-refused"),
    ],
)
async def test_optional_mode(issuer, make_app, token, status, authenticated):
    headers = {
        None: {},
        "good": bearer(issuer.token(scope="read")),
        "expired": bearer(issuer.token(expires_in=-3600)),
        "malformed-header": {"Authorization": "Bearer"},
    }[token]
    async with asgi_client(make_app(optional=True)) as client:
        response = await client.get("/me", headers=headers)
    assert response.status_code == status
    if status == 200:
        body = _body(response)
        assert body["authenticated"] is authenticated
        if not authenticated:
            assert body["identity"] == "" and body["scopes"] == [] and body["sub"] is None


async def test_optional_mode_anonymous_still_meets_require_scopes_401(make_app):
    """An anonymous request reaching a scope-protected endpoint gets 401, not 403."""
    async with asgi_client(make_app(optional=True)) as client:
        response = await client.get("/read")
    assert_challenge(response, MissingToken())


# -- excluded paths -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "excluded"),
    [
        pytest.param("/health", True, id="exact"),
        pytest.param("/healthz", False, id="exact-is-not-a-prefix"),
        pytest.param("/public", True, id="prefix-root"),
        pytest.param("/public/docs/page", True, id="under-prefix"),
        pytest.param("/me", False, id="other-path"),
    ],
)
async def test_excluded_paths(make_app, path, excluded):
    app = make_app(exclude_paths=["/health", "/public/"])
    async with asgi_client(app) as client:
        response = await client.get(path)
    if excluded:
        assert response.status_code == 200
        # Untouched: no user, no auth, no token.
        assert _body(response) == {"has_user": False, "has_auth": False, "sub": None}
    else:
        assert_challenge(response, MissingToken())


async def test_star_prefix_exclusion(make_app):
    async with asgi_client(make_app(exclude_paths=["/pub*"])) as client:
        assert (await client.get("/public/x")).status_code == 200
        assert (await client.get("/me")).status_code == 401


# -- the access_token query parameter --------------------------------------------------


@pytest.mark.parametrize(
    ("allow", "where", "status"),
    [
        pytest.param(False, "query", 401, id="off-query-ignored"),
        pytest.param(True, "query", 200, id="on-query-accepted"),
        pytest.param(True, "both", 400, id="on-header-and-query"),
        pytest.param(True, "twice", 400, id="on-query-twice"),
        pytest.param(True, "empty", 400, id="on-empty-parameter"),
        pytest.param(False, "both", 200, id="off-header-wins-query-ignored"),
        pytest.param(True, "header", 200, id="on-header-only"),
    ],
)
async def test_query_token(issuer, make_app, allow, where, status):
    token = issuer.token(scope="read")
    query, headers = {
        "query": (f"access_token={token}", {}),
        "both": (f"access_token={token}", bearer(token)),
        "twice": (f"access_token={token}&access_token={token}", {}),
        "empty": ("access_token=", {}),
        "header": ("x=1", bearer(token)),
    }[where]
    async with asgi_client(make_app(allow_query_token=allow)) as client:
        response = await client.get(f"/read?{query}", headers=headers)
    assert response.status_code == status
    if status == 400:
        assert _body(response)["error"] == "invalid_request"


# -- Starlette's own @requires ---------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "optional", "status"),
    [
        pytest.param("read", False, 200, id="has-scope"),
        pytest.param("write", False, 403, id="lacks-scope"),
        pytest.param(None, True, 403, id="anonymous-in-optional-mode"),
    ],
)
async def test_starlette_requires_works(issuer, make_app, scope, optional, status):
    headers = bearer(issuer.token(scope=scope)) if scope else {}
    async with asgi_client(make_app(optional=optional)) as client:
        response = await client.get("/starlette-read", headers=headers)
    assert response.status_code == status
    if status == 403:
        # As the README says: Starlette's own answer, a plain 403 without an
        # RFC 6750 challenge (require_scopes answers 403 insufficient_scope, or 401).
        assert "www-authenticate" not in response.headers
        assert not response.headers["content-type"].startswith("application/json")


# -- on_error ---------------------------------------------------------------------------


async def test_on_error_renders_the_applications_response(issuer, make_app):
    calls: list[tuple[JWTGuardError, Any]] = []

    def on_error(error: JWTGuardError, connection: HTTPConnection) -> Response:
        calls.append((error, connection))
        return JSONResponse({"oops": type(error).__name__}, status_code=error.status_code)

    async with asgi_client(make_app(on_error=on_error)) as client:
        response = await client.get("/me", headers=bearer(issuer.token(expires_in=-3600)))
    assert response.status_code == 401
    assert _body(response) == {"oops": "ExpiredToken"}
    ((error, connection),) = calls
    assert isinstance(error, ExpiredToken)
    assert isinstance(connection, Request) and connection.url.path == "/me"


async def test_on_error_returning_none_keeps_the_default(make_app):
    async with asgi_client(make_app(on_error=lambda error, connection: None)) as client:
        response = await client.get("/me")
    assert_challenge(response, MissingToken())


async def test_on_error_also_renders_decorator_refusals(issuer, make_app):
    def on_error(error: JWTGuardError, connection: HTTPConnection) -> Response:
        return PlainTextResponse(f"custom {error.status_code}", status_code=error.status_code)

    async with asgi_client(make_app(on_error=on_error)) as client:
        response = await client.get("/read", headers=bearer(issuer.token(scope="other")))
    assert (response.status_code, response.text) == (403, "custom 403")


# -- configuration ----------------------------------------------------------------------


async def _async_on_error(error: JWTGuardError, connection: HTTPConnection) -> Response:
    return PlainTextResponse("")


_ON_ERROR_MESSAGE = "on_error must be a plain function returning a Response or None"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"fail_fast": True}, "fail_fast=True needs prefetch=True", id="fail-fast-without-prefetch"),
        pytest.param({"realm": 'bad"realm'}, "realm must be", id="realm-with-quote"),
        pytest.param({"exclude_paths": ["health"]}, "exclude_paths entries", id="exclude-path-without-slash"),
        pytest.param({"on_error": "not callable"}, _ON_ERROR_MESSAGE, id="on-error-not-callable"),
        pytest.param({"on_error": _async_on_error}, _ON_ERROR_MESSAGE, id="on-error-coroutine-function"),
        pytest.param({"verifier": object()}, "verifier must be a jwt_guard.Verifier, not object", id="not-a-verifier"),
    ],
)
def test_bad_configuration_fails_at_construction(make_verifier, options, message):
    options.setdefault("verifier", make_verifier())
    with pytest.raises(ConfigurationError) as info:
        JWTGuardMiddleware(PlainTextResponse("x"), **options)
    assert str(info.value).startswith(message)


# -- pass-through and no 500s -----------------------------------------------------------


async def test_other_scope_types_pass_through_untouched(make_verifier):
    seen: list[tuple[dict[str, Any], Any, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    middleware = JWTGuardMiddleware(app, verifier=make_verifier())
    for kind in ("lifespan", "custom"):
        scope = {"type": kind}

        async def receive() -> dict[str, Any]:
            return {}

        async def send(message: Any) -> None:
            pass

        await middleware(scope, receive, send)
        assert seen[-1] == ({"type": kind}, receive, send)


async def test_application_errors_are_not_turned_into_401(issuer, make_verifier):
    async def boom(request: Request) -> Response:
        raise RuntimeError("application bug")

    app = Starlette(routes=[Route("/", boom)], middleware=[Middleware(JWTGuardMiddleware, verifier=make_verifier())])
    async with asgi_client(app) as client:
        with pytest.raises(RuntimeError, match="application bug"):
            await client.get("/", headers=bearer(issuer.token()))


def _segments(header: Any, payload: Any, signature: str = "c2ln") -> str:
    return f"{encode_segments(header, payload)}.{signature}"


def _attack_tokens(issuer: Any) -> list[tuple[str, str]]:
    good = issuer.token(scope="read")
    head, payload, signature = good.split(".")
    claims = issuer.claims(scope="read")
    kid = issuer.signing_key.kid
    # RS256 key confusion: an HMAC made with the public key's PEM as the secret.
    confused_input = encode_segments({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims)
    secret = issuer.signing_key.public_pem().encode()
    confused = f"{confused_input}.{b64url(hmac.new(secret, confused_input.encode(), hashlib.sha256).digest())}"
    deep = b"[" * 5000 + b"]" * 5000
    huge_number = b'{"alg":"RS256","kid":1e999999}'
    lone_surrogate = b'{"alg":"\\ud800"}'
    return [
        ("alg-none", encode_segments({"alg": "none", "typ": "at+jwt"}, claims) + "."),
        ("alg-none-with-signature", _segments({"alg": "none"}, claims)),
        ("alg-None-case", _segments({"alg": "None"}, claims)),
        ("hs256-with-public-key-as-secret", confused),
        ("hs256-label-on-rs-signature", issuer.sign(claims, headers={"alg": "HS256"})),
        ("signature-stripped", f"{head}.{payload}."),
        ("signature-of-other-token", f"{head}.{payload}.{issuer.token().split('.')[2]}"),
        ("payload-swapped", f"{head}.{b64url(json.dumps({**claims, 'scope': 'admin'}))}.{signature}"),
        ("two-segments", f"{head}.{payload}"),
        ("four-segments", f"{good}.{signature}"),
        ("empty-segments", ".."),
        ("padding", f"{head}==.{payload}.{signature}"),
        ("header-not-json", f"{b64url(b'not json')}.{payload}.{signature}"),
        ("header-array", f"{b64url(b'[1,2]')}.{payload}.{signature}"),
        ("header-null", f"{b64url(b'null')}.{payload}.{signature}"),
        ("deep-json", f"{b64url(deep)}.{payload}.{signature}"),
        ("huge-number", f"{b64url(huge_number)}.{payload}.{signature}"),
        ("lone-surrogate", f"{b64url(lone_surrogate)}.{payload}.{signature}"),
        ("payload-not-utf8", f"{head}.{b64url(bytes([0xFF, 0xFE]))}.{signature}"),
        ("claims-array", f"{head}.{b64url(b'[]')}.{signature}"),
        ("kid-path-traversal", issuer.sign(claims, headers={"kid": "../../../../etc/passwd"})),
        ("kid-sql", issuer.sign(claims, headers={"kid": "' OR 1=1 --"})),
        ("kid-object", issuer.sign(claims, headers={"kid": {"a": 1}})),
        ("jku-header", issuer.sign(claims, headers={"jku": "http://evil.example/jwks.json", "kid": "evil"})),
        ("jwk-embedded", issuer.sign(claims, headers={"jwk": issuer.signing_key.public_jwk(), "kid": "x"})),
        ("x5u-header", issuer.sign(claims, headers={"x5u": "http://evil.example/cert", "kid": "x"})),
        ("alg-array", _segments({"alg": ["RS256"]}, claims)),
        ("exp-string", issuer.sign({**claims, "exp": "never"})),
        ("exp-huge", issuer.sign({**claims, "exp": 10**400})),
        ("exp-nan", issuer.sign(json.dumps({**claims, "exp": float("nan")}).encode())),
        ("iss-list", issuer.sign({**claims, "iss": [issuer.issuer]})),
        ("aud-object", issuer.sign({**claims, "aud": {"x": 1}})),
        ("very-long", "a" * 100_000 + ".b.c"),
        ("base64-standard-alphabet", good.replace("-", "+").replace("_", "/") + "+/"),
        ("forged-key-same-kid", forged_with(issuer)),
        ("single-char", "a"),
    ]


async def test_no_500_for_malformed_or_attack_tokens(issuer, make_app):
    """Every hostile token is answered 400 or 401 (never 500, never 200/403)."""
    app = make_app()
    async with asgi_client(app) as client:
        for name, token in _attack_tokens(issuer):
            response = await client.get("/read", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code in (400, 401), (name, response.status_code, response.text)
            assert response.headers["cache-control"] == "no-store", name
            assert token[:40] not in response.text or len(token) < 8, name  # never echoed
    # The hostile corpus did not poison anything: a good token still passes.
    async with asgi_client(app) as client:
        assert (await client.get("/read", headers=bearer(issuer.token(scope="read")))).status_code == 200


async def test_forged_token_with_the_scope_is_401_not_403(clock, issuer, make_app):
    """A forged token claiming the needed scope gets 401 on a scope-protected route."""
    other = make_issuer("ES256", clock=clock, kid=issuer.signing_key.kid)  # same kid, another key
    async with asgi_client(make_app()) as client:
        for token in (other.token(scope="read"), forged_with(issuer)):
            response = await client.get("/read", headers=bearer(token))
            assert response.status_code == 401
            assert _body(response)["error"] == "invalid_token"


def forged_with(issuer: Any) -> str:
    """A token whose signature was made with a fresh key claiming the issuer's kid."""
    from jwt_guard.testing import SigningKey

    impostor = SigningKey("RS256", kid=issuer.signing_key.kid)
    return issuer.token(scope="read", key=impostor)


async def test_verification_error_never_escapes_as_500(issuer, make_verifier, monkeypatch):
    """Whatever JWTGuardError the verifier raises becomes its rendered answer."""
    verifier = make_verifier()
    for error in (InvalidToken(), KeySetUnavailable(retry_after=7), MissingToken()):

        async def fail(raw: Any, error: JWTGuardError = error) -> Any:
            raise error

        monkeypatch.setattr(verifier, "verify_async", fail)
        async with asgi_client(protected_app(verifier)) as client:
            response = await client.get("/me", headers=bearer(issuer.token()))
        assert_challenge(response, error)


async def test_log_never_contains_the_token(issuer, make_verifier, caplog):
    """Rejections log reason codes only."""
    token = issuer.token(expires_in=-3600)
    with caplog.at_level(logging.DEBUG, logger="jwt_guard"):
        async with asgi_client(protected_app(make_verifier())) as client:
            await client.get("/me", headers=bearer(token))
    assert token.split(".")[2] not in caplog.text
    assert token.split(".")[1] not in caplog.text
