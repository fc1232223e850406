"""The token cookie through ``jwt_guard.django`` (``JWT_GUARD["COOKIE"]``), under Django's WSGI and
ASGI handlers: the cross-origin table of the other adapters, excluded paths included. The cookie
rides in each test client's own jar (``jwt_guard.testing.set_token_cookie``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from django.test import AsyncClient, Client

from jwt_guard.testing import set_token_cookie
from tests.support.cookies import CASES, COOKIE, TRUSTED


def send(kind: str, method: str, path: str, token: str | None, headers: dict[str, str]) -> Any:
    """One https request to Django's test server ("testserver") under *kind*, with the token cookie."""
    client = Client() if kind == "wsgi" else AsyncClient()
    client.cookies["theme"] = "dark"
    if token is not None:
        set_token_cookie(client, token, name=COOKIE)
    if kind == "wsgi":
        return client.generic(method, path, headers=headers, secure=True)
    return asyncio.run(client.generic(method, path, headers=headers, secure=True))


def at_testserver(headers: list[tuple[str, str]]) -> dict[str, str]:
    """The table's headers with its API host replaced by Django's test host."""
    replaced = {}
    for name, value in headers:
        replaced[name] = value.replace("api.example.test", "testserver").replace("API.EXAMPLE.TEST", "TESTSERVER")
    return replaced


@pytest.fixture(params=["wsgi", "asgi"])
def kind(request) -> str:
    return request.param


@pytest.mark.parametrize(("method", "headers", "passes"), [case for case in CASES if case.values[0].isupper()])
def test_the_table_through_the_django_middleware(kind, django_settings, issuer, method, headers, passes):
    django_settings(COOKIE=COOKIE, TRUSTED_ORIGINS=[TRUSTED])
    response = send(kind, method, "/whoami", issuer.token(sub="alice"), at_testserver(headers))
    if passes:
        assert response.status_code == 200
        if method != "HEAD":
            assert json.loads(response.content)["sub"] == "alice"
    else:
        assert response.status_code == 403
        assert json.loads(response.content)["error"] == "cross_origin_request"


def test_excluded_paths_check_requests_carrying_the_cookie(kind, django_settings, issuer):
    django_settings(COOKIE=COOKIE, EXCLUDE_PATHS=["/health"])
    token = issuer.token()
    assert send(kind, "POST", "/health", token, {"Sec-Fetch-Site": "cross-site"}).status_code == 403
    assert send(kind, "POST", "/health", token, {"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert send(kind, "POST", "/health", None, {"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_header_wins_and_a_missing_cookie_is_a_missing_token(kind, django_settings, issuer):
    django_settings(COOKIE=COOKIE)
    header = {"Authorization": f"Bearer {issuer.token(sub='header')}"}
    assert json.loads(send(kind, "GET", "/whoami", issuer.token(sub="cookie"), header).content)["sub"] == "header"
    missing = send(kind, "GET", "/whoami", None, {})
    assert missing.status_code == 401 and missing["WWW-Authenticate"] == "Bearer"


def test_trusted_origins_are_checked_when_the_settings_are_read(django_settings):
    from jwt_guard.django import SettingsError
    from jwt_guard.django._settings import guard_settings

    django_settings(COOKIE=COOKIE, TRUSTED_ORIGINS=["https://app.example.test/"])
    with pytest.raises(SettingsError, match="did you mean"):
        guard_settings()
