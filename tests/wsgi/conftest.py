"""Fixtures for the WSGI adapter: a probe application, clients, a real
threaded WSGI server on 127.0.0.1, and a table of hostile tokens."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import Client

from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer, SigningKey, b64url, encode_segments
from jwt_guard.wsgi import TOKEN_KEY, JWTGuardMiddleware, get_access_token
from tests.conftest import make_issuer, signing_key


def probe_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """A WSGI app reporting what the middleware left in the environ."""
    token = get_access_token(environ)
    body = {
        "path": environ.get("PATH_INFO"),
        "has_key": TOKEN_KEY in environ,
        "subject": token.subject if token else None,
        "scopes": sorted(token.scopes) if token else None,
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def guarded(make_verifier: Callable[..., Any]) -> Callable[..., Client]:
    """``guarded(app=probe_app, verifier=None, **options)``: a werkzeug test
    client for *app* behind a JWTGuardMiddleware (static keys, fake clock)."""

    def make(app: Any = probe_app, *, verifier: Any = None, **options: Any) -> Client:
        middleware = JWTGuardMiddleware(app, verifier=verifier or make_verifier(), **options)
        return Client(middleware)

    return make


def call_wsgi(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Call a WSGI app directly with a hand-built environ."""
    captured: list[Any] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        captured[:] = [status, headers]
        return lambda data: None

    result = app(environ, start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured[0], captured[1], body


def environ_for(path: str = "/", *, authorization: str | None = None, query: str = "") -> dict[str, Any]:
    from werkzeug.test import EnvironBuilder

    environ = EnvironBuilder(path=path, query_string=query or None).get_environ()
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    return environ


# -- hostile tokens --------------------------------------------------------


def forged_token(issuer: LocalIssuer, **overrides: Any) -> str:
    """A token signed by a key the issuer never published, with its kid."""
    impostor = SigningKey("RS256", kid=issuer.signing_key.kid, private_key=signing_key("RS256", "impostor").private_key)
    return issuer.token(key=impostor, **overrides)


def bad_tokens(issuer: LocalIssuer) -> list[Any]:
    """Malformed and attack tokens; each must be answered 400 or 401."""
    good = issuer.token(scope="read")
    header, payload, signature = good.split(".")
    key = issuer.signing_key
    public_pem = key.public_pem().encode()
    hs = SigningKey("HS256", kid=key.kid, private_key=public_pem)
    none_input = encode_segments({"alg": "none", "typ": "at+jwt"}, issuer.claims(scope="admin"))
    return [
        pytest.param("abc", id="not-a-jwt"),
        pytest.param("a.b", id="two-segments"),
        pytest.param("a.b.c.d", id="four-segments"),
        pytest.param("a.b.c.d.e", id="five-segments-jwe-shape"),
        pytest.param("..", id="empty-segments"),
        pytest.param(f"{header}.{payload}.", id="empty-signature"),
        pytest.param(f"{header}.{payload}", id="signature-stripped"),
        pytest.param(f"{header}.{payload}.{signature[:-4]}", id="truncated-signature"),
        pytest.param(f"{header}.{payload}.{signature[::-1]}", id="reversed-signature"),
        pytest.param(f"{header}=.{payload}.{signature}", id="padded-base64"),
        pytest.param(f"{header}.{payload}x.{signature}", id="payload-tampered"),
        pytest.param(f"{none_input}.", id="alg-none"),
        pytest.param(f"{none_input}.{signature}", id="alg-none-with-signature"),
        pytest.param(issuer.token(key=hs, scope="admin"), id="alg-confusion-hs256-with-public-key"),
        pytest.param(forged_token(issuer, scope="admin"), id="forged-signature-known-kid"),
        pytest.param(issuer.token(headers={"kid": "../../../etc/passwd"}), id="kid-path-traversal"),
        pytest.param(issuer.token(headers={"kid": "x' OR '1'='1"}), id="kid-sql-injection"),
        pytest.param(issuer.token(headers={"kid": 12}), id="kid-not-a-string"),
        pytest.param(issuer.token(headers={"alg": "RS384"}), id="alg-swapped-in-header"),
        pytest.param(forged_token(issuer, headers={"jku": "http://127.0.0.1:9/jwks.json"}), id="jku-header"),
        pytest.param(forged_token(issuer, headers={"jwk": key.public_jwk()}), id="embedded-jwk"),
        pytest.param(issuer.token(headers={"crit": ["exp"]}), id="crit-header"),
        pytest.param(issuer.token(expires_in=-3600), id="expired"),
        pytest.param(issuer.token(nbf=int(issuer.clock()) + 3600), id="not-yet-valid"),
        pytest.param(issuer.token(aud="https://other.example.test"), id="wrong-audience"),
        pytest.param(issuer.token(iss="https://evil.example.test/"), id="wrong-issuer"),
        pytest.param(issuer.token(exp="tomorrow"), id="exp-not-a-number"),
        pytest.param(issuer.token(exp=10**400), id="exp-huge-integer"),
        pytest.param(issuer.token(expires_in=None), id="no-exp"),
        pytest.param(issuer.sign(b"[1, 2, 3]"), id="payload-is-an-array"),
        pytest.param(issuer.sign(b"not json"), id="payload-not-json"),
        pytest.param(issuer.sign(b"[" * 5000 + b"]" * 5000), id="payload-deep-nesting"),
        pytest.param(issuer.sign(b'{"iss": "\xff"}'), id="payload-invalid-utf8"),
        pytest.param(f"{b64url(b'[1]')}.{payload}.{signature}", id="header-is-an-array"),
        pytest.param(f"{b64url(b'{')}.{payload}.{signature}", id="header-not-json"),
        pytest.param("eyJ" + "A" * 20_000 + ".e30.sig", id="too-large"),
        pytest.param(f"{header}.{payload}.{signature}" + "~", id="trailing-token68-char"),
        pytest.param("é.é.é", id="non-ascii"),
        pytest.param("\x00.\x00.\x00", id="nul-bytes"),
        pytest.param(f"{header}.{payload}.{signature}, Bearer {good}", id="second-token-after-comma"),
    ]


#: The hostile tokens of one issuer on a fixed clock, for parametrized tests.
BAD_TOKENS_ISSUER = make_issuer("RS256", clock=FakeClock(1_800_000_000))
BAD_TOKENS = bad_tokens(BAD_TOKENS_ISSUER)


# -- a real server ---------------------------------------------------------


class QuietHandler(WSGIRequestHandler):
    """Werkzeug's request handler without per-request log lines."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve *app* with Werkzeug's threaded server on 127.0.0.1; yields its URL.

    The server stops when the block ends.
    """
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def idp() -> Iterator[tuple[LocalIssuer, LocalServer]]:
    """A local issuer (real clock) published by a real key server on 127.0.0.1."""
    issuer = LocalIssuer(audience="https://api.example.test", keys=[signing_key("RS256", "e2e-key")])
    with LocalServer(issuer) as server:
        yield issuer, server
