"""End to end: a Flask application behind JWTGuardMiddleware, served by
Werkzeug's threaded server on 127.0.0.1, with keys fetched over HTTP from a
real local issuer (jwt_guard.testing.LocalServer)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from jwt_guard import KeyCacheOptions, Verifier
from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer, SigningKey
from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token, require_scopes
from tests.conftest import signing_key
from tests.wsgi.conftest import bad_tokens, forged_token, serve

ROOT = Path(__file__).resolve().parents[2]


def flask_app() -> Flask:
    app = Flask(__name__)

    @app.get("/health")
    def health():
        return {"ok": True}

    @app.get("/me")
    def me():
        token = get_access_token()
        return {"sub": token.subject if token else None}

    @app.get("/messages")
    @require_scopes("read:messages")
    def messages():
        return {"sub": get_access_token().subject}

    @app.get("/boom")
    def boom():
        raise RuntimeError("a bug in the application")

    @app.errorhandler(404)
    def not_found(error):
        return jsonify(handler="not found"), 404

    @app.errorhandler(500)
    def server_error(error):
        return jsonify(handler="server error"), 500

    return app


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def live(idp, refusing_port) -> Iterator[dict[str, Any]]:
    """The application served three ways: ``/`` (required, realm "api",
    ``/health`` excluded), ``/optional`` (optional mode, query tokens) and
    ``/down`` (a verifier whose key server refuses connections)."""
    issuer, server = idp
    with ExitStack() as stack:
        verifier = stack.enter_context(Verifier(issuer=server.issuer_url, audience=issuer.audience))
        dead = stack.enter_context(
            Verifier(
                issuer=server.issuer_url,
                audience=issuer.audience,
                jwks_uri=f"http://127.0.0.1:{refusing_port}/jwks.json",
            )
        )
        app = flask_app().wsgi_app
        dispatcher = DispatcherMiddleware(
            JWTGuardMiddleware(app, verifier=verifier, realm="api", exclude_paths=["/health"]),
            {
                "/optional": JWTGuardMiddleware(app, verifier=verifier, optional=True, allow_query_token=True),
                "/down": JWTGuardMiddleware(app, verifier=dead, realm="api"),
            },
        )
        url = stack.enter_context(serve(dispatcher))
        client = stack.enter_context(httpx.Client(base_url=url, timeout=30))
        yield {"client": client, "issuer": issuer, "server": server, "verifier": verifier}


def _auth(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# The HTTP semantics table runs behind this server in tests/wsgi/test_semantics.py;
# here the rows of the other two mounts: optional mode (no realm) and a
# verifier whose key server refuses connections.
# (issuer -> headers, path, query) -> status, WWW-Authenticate, body error
SEMANTICS = [
    pytest.param(
        lambda i: _auth(i.token()),
        "/optional/me",
        "access_token=abc",
        400,
        'Bearer error="invalid_request", error_description="the access token was sent in more than one place"',
        "invalid_request",
        id="token-in-two-places",
    ),
    pytest.param(
        lambda i: _auth(i.token()),
        "/down/me",
        "",
        503,
        None,
        "temporarily_unavailable",
        id="keys-unobtainable",
    ),
]


@pytest.mark.parametrize(("headers", "path", "query", "status", "challenge", "error"), SEMANTICS)
def test_semantics_table_over_http(live, headers, path, query, status, challenge, error):
    response = live["client"].get(path, headers=headers(live["issuer"]), params=query or None)
    assert response.status_code == status
    assert response.headers.get("WWW-Authenticate") == challenge
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == error
    if status == 503:
        assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    ("path", "token", "query", "status", "body"),
    [
        pytest.param("/me", "scoped", None, 200, {"sub": "kim"}, id="valid-token"),
        pytest.param("/messages", "scoped", None, 200, {"sub": "kim"}, id="valid-scope"),
        pytest.param("/health", None, None, 200, {"ok": True}, id="excluded-path"),
        pytest.param("/optional/me", None, None, 200, {"sub": None}, id="optional-anonymous"),
        pytest.param("/optional/me", None, "scoped", 200, {"sub": "kim"}, id="optional-query-token"),
        pytest.param(
            "/optional/messages",
            None,
            None,
            401,
            {"error": "unauthorized", "error_description": "an access token is required"},
            id="optional-decorated",
        ),
        pytest.param("/nowhere", "scoped", None, 404, {"handler": "not found"}, id="flask-404-handler"),
        pytest.param("/boom", "scoped", None, 500, {"handler": "server error"}, id="flask-500-handler"),
    ],
)
def test_requests_over_http(live, path, token, query, status, body):
    issuer = live["issuer"]
    scoped = issuer.token(scope="read:messages", sub="kim")
    headers = _auth(scoped) if token else []
    params = {"access_token": scoped} if query else None
    response = live["client"].get(path, headers=headers, params=params)
    assert response.status_code == status
    assert response.json() == body


def test_no_500_for_any_bad_token_over_http(live):
    """The hostile-token table, sent over a real connection."""
    for param in bad_tokens(live["issuer"]):
        (raw,) = param.values
        if not (raw.isascii() and raw.isprintable()):
            continue  # not sendable in an HTTP header; covered in process
        response = live["client"].get("/me", headers=_auth(raw))
        assert response.status_code in (400, 401), param.id
        assert response.json()["error"] in ("invalid_request", "invalid_token"), param.id


# -- concurrency during a key rotation -------------------------------------------------

THREADS = 24
REQUESTS_PER_PHASE = 6


def test_concurrent_requests_during_key_rotation(idp):
    """24 client threads, a threaded server, a key rotation between two
    phases (all new-key tokens arrive at once): zero wrong answers."""
    issuer, server = idp
    verifier = Verifier(issuer=server.issuer_url, audience=issuer.audience, result_cache_size=0)
    app = JWTGuardMiddleware(flask_app().wsgi_app, verifier=verifier)
    impostor = SigningKey("RS256", kid=issuer.signing_key.kid, private_key=signing_key("RS256", "impostor").private_key)

    def cases(key: SigningKey) -> list[tuple[str, str, int]]:
        return [
            ("/messages", issuer.token(key=key, scope="read:messages", sub="t"), 200),
            ("/messages", issuer.token(key=key, scope="other"), 403),
            ("/me", issuer.token(key=key), 200),
            ("/me", issuer.token(key=key, expires_in=-3600), 401),
            ("/me", issuer.token(key=impostor, scope="read:messages"), 401),
        ]

    old_key = issuer.signing_key
    phases: dict[str, list[tuple[str, str, int]]] = {"before": cases(old_key)}

    def rotate() -> None:  # run by one thread while all the others wait
        new_key = issuer.rotate()
        phases["after"] = cases(new_key) + cases(old_key)

    barrier = threading.Barrier(THREADS, action=rotate, timeout=120)
    wrong: list[tuple[str, str, int, int]] = []
    failures: list[BaseException] = []

    def worker(index: int, url: str) -> None:
        try:
            with httpx.Client(base_url=url, timeout=60) as client:
                for phase in ("before", "after"):
                    if phase == "after":
                        barrier.wait()
                    table = phases[phase]
                    for n in range(REQUESTS_PER_PHASE):
                        path, token, expected = table[(index + n) % len(table)]
                        status = client.get(path, headers=_auth(token)).status_code
                        if status != expected:
                            wrong.append((phase, path, expected, status))
        except BaseException as exc:  # reported below
            failures.append(exc)
            barrier.abort()

    with verifier, serve(app) as url:
        threads = [threading.Thread(target=worker, args=(i, url)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
    assert not failures
    assert not any(thread.is_alive() for thread in threads)
    assert wrong == []
    assert server.keys.jwks_requests >= 2  # the rotation was seen through a refetch


# -- key-server outages while keys are cached ---------------------------------------------


def _outage_cases(issuer: LocalIssuer) -> list[tuple[str, str, int]]:
    return [
        ("/messages", issuer.token(scope="read:messages"), 200),
        ("/messages", issuer.token(scope="other"), 403),
        ("/me", issuer.token(), 200),
        ("/me", issuer.token(expires_in=-3600), 401),
        ("/me", forged_token(issuer), 401),
        ("/me", issuer.token(key=signing_key("RS256", "never-published")), 401),
    ]


@pytest.mark.parametrize(
    "outage",
    [
        pytest.param(lambda server: server.stop(), id="server-stopped"),
        pytest.param(lambda server: server.keys.set_fault("status", target="any", status=500), id="http-500"),
        pytest.param(lambda server: server.keys.set_fault("invalid_json", target="any"), id="invalid-json"),
        pytest.param(lambda server: server.keys.set_fault("empty_keys"), id="empty-key-set"),
        pytest.param(lambda server: server.keys.set_fault("refuse", target="any"), id="connection-reset"),
    ],
)
def test_key_server_outage_changes_nothing(outage: Callable[[LocalServer], None]):
    """Warm the key cache, break the key server, and ask again: same answers,
    first while the keys are fresh, then past their expiry (stale serving).

    The one change is for a token naming a key nobody has seen: once the
    fetch that found it absent is old, whether it exists can no longer be
    checked, so it gets 503 (retry later) rather than a 401 that might be
    false: an outage is not the client's fault."""
    clock = FakeClock()
    issuer = LocalIssuer(audience="https://api.example.test", clock=clock, keys=[signing_key("RS256", "e2e-key")])
    with LocalServer(issuer) as server:
        verifier = Verifier(issuer=server.issuer_url, audience=issuer.audience, clock=clock, result_cache_size=0)
        app = JWTGuardMiddleware(flask_app().wsgi_app, verifier=verifier)
        with verifier, serve(app) as url, httpx.Client(base_url=url, timeout=30) as client:

            def answers() -> list[int]:
                return [client.get(path, headers=_auth(token)).status_code for path, token, _ in _outage_cases(issuer)]

            expected = [status for _, _, status in _outage_cases(issuer)]
            assert answers() == expected
            outage(server)
            assert answers() == expected
            clock.advance(KeyCacheOptions().ttl + 60)  # past expiry, well within max_stale
            assert answers() == [*expected[:-1], 503]


# -- fork after warming (gunicorn --preload) --------------------------------------------

_FORK_DRIVER = textwrap.dedent(
    """
    import json, os, sys
    from werkzeug.test import Client
    from jwt_guard import Verifier
    from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [get_access_token(environ).subject.encode()]

    issuer, audience, warm = sys.argv[1:4]
    verifier = Verifier(issuer=issuer, audience=audience, result_cache_size=0)
    middleware = JWTGuardMiddleware(app, verifier=verifier)

    def status(token):
        response = Client(middleware).get("/", headers={"Authorization": "Bearer " + token})
        return response.status_code

    assert status(warm) == 200
    print("warm", flush=True)
    rotated = sys.stdin.readline().strip()
    pid = os.fork()
    if pid == 0:
        try:
            answers = [status(warm), status(rotated), status(warm + "x")]
            os.write(1, (json.dumps({"child": answers}) + "\\n").encode())
        finally:
            os._exit(0)
    _, code = os.waitpid(pid, 0)
    print(json.dumps({"child_exit": code, "parent": [status(warm), status(rotated)]}), flush=True)
    """
)


def test_fork_after_warming_the_cache(idp):
    """A child forked after the key cache was warmed (gunicorn --preload)
    answers from the inherited keys and fetches over a fresh connection."""
    issuer, server = idp
    warm = issuer.token(sub="parent")
    with subprocess.Popen(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-c",
            _FORK_DRIVER,
            server.issuer_url,
            issuer.audience,
            warm,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    ) as child:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "warm", child.stderr.read() if child.stderr else ""
        assert (server.keys.count(server.keys.discovery_path), server.keys.jwks_requests) == (1, 1)
        rotated = issuer.token(key=issuer.rotate(), sub="rotated")
        out, err = child.communicate(rotated + "\n", timeout=120)
    assert child.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"child": [200, 200, 401]}, {"child_exit": 0, "parent": [200, 200]}]
    # One discovery ever: the child kept the parent's state. Three key-set
    # fetches: the warm-up, the child's and the parent's unknown-kid refetch.
    assert (server.keys.count(server.keys.discovery_path), server.keys.jwks_requests) == (1, 3)
