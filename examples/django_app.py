"""A single-file Django project protected by jwt_guard.

Configuration comes from the environment:

``JWT_GUARD_ISSUER``
    the issuer URL (required); keys come from its discovery document.
``JWT_GUARD_AUDIENCE``
    this API's audience (required).
``JWT_GUARD_JWKS_URI``
    optional: fetch keys from here instead of discovering them.
``DJANGO_SECRET_KEY``
    optional; a random key is made per process otherwise (this API keeps no
    sessions, so nothing depends on it).

Run it with ``python examples/django_app.py runserver`` (any ``manage.py``
command works), or serve ``examples.django_app:application`` with any WSGI
server (``asgi_application`` with an ASGI server). ``GET /messages`` needs
the ``read:messages`` scope. ``jwt_guard.django.JWTGuardMiddleware`` is in
``MIDDLEWARE``, configured by ``JWT_GUARD``: the README's Django quickstart
shows the same in a ``startproject`` layout.
"""

from __future__ import annotations

import os
import secrets
import sys

from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(32),
    ALLOWED_HOSTS=["127.0.0.1", "localhost", "testserver"],
    ROOT_URLCONF=__name__,
    WSGI_APPLICATION=f"{__name__}.application",
    INSTALLED_APPS=[],
    MIDDLEWARE=["jwt_guard.django.JWTGuardMiddleware"],
    JWT_GUARD={"VERIFIER": f"{__name__}.verifier"},
    USE_TZ=True,
)

from django.core.asgi import get_asgi_application  # noqa: E402 - needs the settings above
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

from jwt_guard import Verifier  # noqa: E402
from jwt_guard.django import require_access_token, require_scopes  # noqa: E402


@require_scopes("read:messages")
def messages(request: HttpRequest) -> JsonResponse:
    token = require_access_token(request)
    return JsonResponse({"messages": [f"hello, {token.subject}"]})


urlpatterns = [path("messages", messages)]


def verifier_from_env() -> Verifier:
    """The verifier described by ``JWT_GUARD_*`` environment variables."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    audience = os.environ.get("JWT_GUARD_AUDIENCE")
    if not issuer or not audience:
        raise SystemExit("set JWT_GUARD_ISSUER and JWT_GUARD_AUDIENCE (see the module docstring)")
    return Verifier(issuer=issuer, audience=audience, jwks_uri=os.environ.get("JWT_GUARD_JWKS_URI") or None)


# JWT_GUARD["VERIFIER"] names this object; the middleware answers
# 401/400/403/503 before (or, for scopes, instead of) the view.
verifier = verifier_from_env()
application = get_wsgi_application()
asgi_application = get_asgi_application()


if __name__ == "__main__":
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
