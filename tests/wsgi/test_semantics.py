"""The HTTP semantics table (:mod:`tests.support.http_semantics`) through the
WSGI face: a Flask app behind ``JWTGuardMiddleware``, in process (Werkzeug's
test client) and served by Werkzeug's threaded server on 127.0.0.1 with keys
fetched over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify
from werkzeug.test import Client

from jwt_guard import Verifier
from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer
from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token, require_scopes
from tests.conftest import make_issuer
from tests.support.http_semantics import PATH, REALM, ROWS, SCOPE, WIRE_ROWS, Answer, joined_headers, problems
from tests.wsgi.conftest import serve


def flask_app(verifier: Verifier) -> Flask:
    app = Flask(__name__)

    @app.get(PATH)
    @require_scopes(SCOPE)
    def read() -> Any:
        token = get_access_token()
        return jsonify(sub=token.subject if token else None)

    app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=verifier, realm=REALM, allow_query_token=True)
    return app


@pytest.fixture(scope="module")
def in_process() -> Iterator[tuple[LocalIssuer, Client]]:
    issuer = make_issuer("ES256", clock=FakeClock(1_800_000_000))
    with issuer.verifier(clock=issuer.clock) as verifier:
        yield issuer, Client(flask_app(verifier))


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LocalIssuer, str]]:
    """The app served by Werkzeug, its verifier fetching keys from a LocalServer (real clock)."""
    issuer = make_issuer("RS256")
    with LocalServer(issuer) as server, Verifier(issuer=server.issuer_url, audience=issuer.audience) as verifier:
        issuer.issuer = server.issuer_url
        with serve(flask_app(verifier)) as url:
            yield issuer, url


@pytest.mark.parametrize("row", ROWS)
def test_in_process(in_process, row):
    issuer, client = in_process
    headers, query = row.request(issuer)
    headers = [(name, value.decode("latin-1") if isinstance(value, bytes) else value) for name, value in headers]
    response = client.get(PATH, headers=headers, query_string=query or None)
    answer = Answer(response.status_code, joined_headers(response.headers.items()), response.get_data())
    assert problems(row, answer, joined=True) == []


@pytest.mark.parametrize("row", WIRE_ROWS)
def test_over_loopback(live, row):
    issuer, url = live
    headers, query = row.request(issuer)
    with httpx.Client(base_url=url, timeout=30) as client:
        reply = client.get(f"{PATH}?{query}" if query else PATH, headers=headers)
    answer = Answer(reply.status_code, joined_headers(reply.headers.multi_items()), reply.content)
    assert problems(row, answer, joined=True) == []
