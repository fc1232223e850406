"""The HTTP semantics table (:mod:`tests.support.http_semantics`) through
``jwt_guard.django.JWTGuardMiddleware``, under Django's WSGI handler
(Werkzeug's test client, which sends repeated header lines as a WSGI server
does) and under its ASGI handler (``httpx.ASGITransport``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.wsgi import WSGIHandler
from werkzeug.test import Client

from jwt_guard import MissingToken, render_error
from jwt_guard.testing import FakeClock
from tests.conftest import make_issuer
from tests.support.http_semantics import PATH, REALM, ROWS, Answer, joined_headers, problems

ISSUER = make_issuer("ES256", clock=FakeClock(1_800_000_000))


@pytest.fixture
def configured(django_settings) -> None:
    django_settings(VERIFIER=ISSUER.verifier(clock=ISSUER.clock), REALM=REALM, ALLOW_QUERY_TOKEN=True)


def send_wsgi(headers: list[tuple[str, Any]], query: str) -> Answer:
    text = [(name, value.decode("latin-1") if isinstance(value, bytes) else value) for name, value in headers]
    response = Client(WSGIHandler()).get(PATH, headers=text, query_string=query or None)
    return Answer(response.status_code, joined_headers(response.headers.items()), response.get_data())


async def _asgi(headers: list[tuple[str, Any]], query: str) -> Answer:
    transport = httpx.ASGITransport(app=ASGIHandler())
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        reply = await client.get(f"{PATH}?{query}" if query else PATH, headers=headers)
    return Answer(reply.status_code, joined_headers(reply.headers.multi_items()), reply.content)


def send_asgi(headers: list[tuple[str, Any]], query: str) -> Answer:
    return asyncio.run(_asgi(headers, query))


@pytest.mark.parametrize("row", ROWS)
def test_under_wsgi(configured, row):
    answer = send_wsgi(*row.request(ISSUER))
    assert problems(row, answer, joined=True) == []


@pytest.mark.parametrize("row", ROWS)
def test_under_asgi(configured, row):
    answer = send_asgi(*row.request(ISSUER))
    # Django's ASGI request keeps one META value per header name too.
    assert problems(row, answer, joined=True) == []


@pytest.mark.parametrize("send", [send_wsgi, send_asgi], ids=["wsgi", "asgi"])
def test_no_credentials_is_exactly_the_rendered_challenge(configured, send):
    expected = render_error(MissingToken(), realm=REALM)
    answer = send([], "")
    assert answer.status == expected.status_code
    assert answer.body == expected.body
    for name, value in expected.headers:
        assert answer.headers[name.lower()] == value, name
