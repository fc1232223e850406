"""Django's settings for the test run: configured once per process.

Django settings are process-wide, so every test module that needs Django
calls :func:`configure_django` and then overrides what it needs
(``ROOT_URLCONF``, ``MIDDLEWARE``, ``JWT_GUARD``) with
``django.test.override_settings``.
"""

from __future__ import annotations

import django
from django.conf import settings

#: The URLconf before a test names its own.
urlpatterns: list[object] = []


def configure_django() -> None:
    """Configure Django for the tests (once) and load its apps."""
    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="jwt-guard-tests-only",
            ROOT_URLCONF=__name__,
            ALLOWED_HOSTS=["localhost", "testserver", "127.0.0.1"],
            MIDDLEWARE=[],
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "rest_framework"],
            DATABASES={},
            USE_TZ=True,
        )
    django.setup()
