"""Django behind ``jwt_guard.django``: settings per test, and one way to send
a request through Django's WSGI handler (``django.test.Client``) or its ASGI
handler (``django.test.AsyncClient``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.django_setup import configure_django

configure_django()

from django.test import AsyncClient, Client, override_settings  # noqa: E402 - needs the settings

MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "jwt_guard.django.JWTGuardMiddleware"]
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["jwt_guard.django.rest_framework.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["jwt_guard.django.rest_framework.HasScopes"],
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Sender:
    """Requests through Django's WSGI (``"wsgi"``) or ASGI (``"asgi"``) handler."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, method: str, path: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
        if self.kind == "wsgi":
            return Client().generic(method, path, headers=headers or {}, **extra)
        return asyncio.run(AsyncClient().generic(method, path, headers=headers or {}, **extra))

    def get(self, path: str, headers: dict[str, str] | None = None) -> Any:
        return self(method="GET", path=path, headers=headers)


@pytest.fixture
def rf() -> Any:
    """Django's RequestFactory."""
    from django.test import RequestFactory

    return RequestFactory()


@pytest.fixture(params=["wsgi", "asgi"])
def send(request: pytest.FixtureRequest) -> Sender:
    """Send a request through Django under WSGI and, again, under ASGI."""
    return Sender(request.param)


@pytest.fixture
def django_settings(make_verifier: Callable[..., Any]) -> Iterator[Callable[..., None]]:
    """``django_settings(middleware=MIDDLEWARE, rest_framework=..., **jwt_guard)``:
    override Django's settings for this test (the URLconf is tests.django.urls);
    ``JWT_GUARD`` gets a static-key verifier unless ``VERIFIER`` is given."""
    active: list[override_settings] = []

    def apply(
        *, middleware: list[str] = MIDDLEWARE, rest_framework: dict[str, Any] | None = None, **jwt_guard: Any
    ) -> None:
        jwt_guard.setdefault("VERIFIER", make_verifier())
        override = override_settings(
            ROOT_URLCONF="tests.django.urls",
            MIDDLEWARE=middleware,
            JWT_GUARD=jwt_guard,
            REST_FRAMEWORK=rest_framework if rest_framework is not None else REST_FRAMEWORK,
        )
        override.enable()
        active.append(override)

    yield apply
    for override in reversed(active):
        override.disable()
