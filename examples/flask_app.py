"""A Flask API protected by jwt_guard.

Configuration comes from the environment:

``JWT_GUARD_ISSUER``
    the issuer URL (required); keys come from its discovery document.
``JWT_GUARD_AUDIENCE``
    this API's audience (required).
``JWT_GUARD_JWKS_URI``
    optional: fetch keys from here instead of discovering them.

Run it with ``python examples/flask_app.py`` (``PORT`` picks the port, 5000
by default) or ``flask --app examples/flask_app.py run``; any WSGI server
works (``gunicorn --threads 8 'examples.flask_app:create_app()'``).

Routes: ``GET /`` is public, ``GET /me`` needs any valid token, ``GET
/messages`` needs the ``read:messages`` scope, ``POST /messages`` needs
``write:messages`` or ``admin``.
"""

from __future__ import annotations

import os

from flask import Flask

from jwt_guard import Verifier
from jwt_guard.wsgi import JWTGuardMiddleware, get_access_token, require_any_scope, require_scopes


def verifier_from_env() -> Verifier:
    """The verifier described by ``JWT_GUARD_*`` environment variables."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    audience = os.environ.get("JWT_GUARD_AUDIENCE")
    if not issuer or not audience:
        raise SystemExit("set JWT_GUARD_ISSUER and JWT_GUARD_AUDIENCE (see the module docstring)")
    return Verifier(issuer=issuer, audience=audience, jwks_uri=os.environ.get("JWT_GUARD_JWKS_URI") or None)


def create_app(verifier: Verifier | None = None) -> Flask:
    """The application; *verifier* defaults to :func:`verifier_from_env`."""
    app = Flask(__name__)

    @app.get("/")
    def index() -> dict[str, str]:
        return {"hello": "anyone", "docs": "GET /me or /messages with 'Authorization: Bearer <token>'"}

    @app.get("/me")
    def me() -> dict[str, object]:
        # Every path but "/" passed the middleware: a verified token is here.
        token = get_access_token()
        assert token is not None
        return {"sub": token.subject, "scopes": sorted(token.scopes)}

    @app.get("/messages")
    @require_scopes("read:messages")
    def list_messages() -> dict[str, object]:
        token = get_access_token()
        assert token is not None  # require_scopes admitted a verified token
        return {"messages": [f"hello, {token.subject}"]}

    @app.post("/messages")
    @require_any_scope("write:messages", "admin")
    def post_message() -> tuple[dict[str, bool], int]:
        return {"created": True}, 201

    # Wrap wsgi_app, not app: Flask's own features (test client, CLI) keep working.
    app.wsgi_app = JWTGuardMiddleware(  # type: ignore[method-assign]
        app.wsgi_app,
        verifier=verifier if verifier is not None else verifier_from_env(),
        exclude_paths=["/"],
    )
    return app


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
