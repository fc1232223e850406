"""A FastAPI API protected by jwt_guard's security dependency.

Configuration comes from the environment:

``JWT_GUARD_ISSUER``
    the issuer URL (required); keys come from its discovery document.
``JWT_GUARD_AUDIENCE``
    this API's audience (required).
``JWT_GUARD_JWKS_URI``
    optional: fetch keys from here instead of discovering them.
``JWT_GUARD_TOKEN_URL``
    optional: the issuer's token endpoint; the docs page then offers an
    OAuth2 client-credentials "Authorize" button.

Run it with ``python examples/fastapi_app.py`` (``PORT`` picks the port, 8000
by default) or ``uvicorn --factory examples.fastapi_app:create_app``, then
open ``/docs`` to see which routes need which scopes.
"""

# No "from __future__ import annotations": FastAPI evaluates the annotations
# below, which refer to the local ``bearer``.

import os
from typing import Annotated

from fastapi import Depends, FastAPI, Security

from jwt_guard import AccessToken, Verifier
from jwt_guard.fastapi import JWTBearer, install_error_handler

SCOPES = {"read:messages": "Read messages", "write:messages": "Post messages"}


def verifier_from_env() -> Verifier:
    """The verifier described by ``JWT_GUARD_*`` environment variables."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    audience = os.environ.get("JWT_GUARD_AUDIENCE")
    if not issuer or not audience:
        raise SystemExit("set JWT_GUARD_ISSUER and JWT_GUARD_AUDIENCE (see the module docstring)")
    return Verifier(issuer=issuer, audience=audience, jwks_uri=os.environ.get("JWT_GUARD_JWKS_URI") or None)


def create_app(verifier: Verifier | None = None, *, token_url: str | None = None) -> FastAPI:
    """The application; *verifier* defaults to :func:`verifier_from_env`."""
    token_url = token_url or os.environ.get("JWT_GUARD_TOKEN_URL") or None
    bearer = JWTBearer(
        verifier=verifier if verifier is not None else verifier_from_env(),
        token_url=token_url,
        scopes=SCOPES if token_url else None,
    )
    app = FastAPI(title="jwt_guard example")
    install_error_handler(app)  # error bodies identical to the middleware's

    def reader(token: Annotated[AccessToken, Security(bearer, scopes=["read:messages"])]) -> str:
        # A nested dependency: its scopes merge with the route's.
        return token.subject or "someone"

    @app.get("/")
    async def index() -> dict[str, str]:
        return {"hello": "anyone"}

    @app.get("/me")
    async def me(token: Annotated[AccessToken, Security(bearer)]) -> dict[str, object]:
        return {"sub": token.subject, "scopes": sorted(token.scopes)}

    @app.get("/messages")
    async def list_messages(
        token: Annotated[AccessToken, Security(bearer, scopes=["read:messages"])],
    ) -> dict[str, list[str]]:
        return {"messages": [f"hello, {token.subject}"]}

    @app.post("/messages", status_code=201)
    async def post_message(
        author: Annotated[str, Depends(reader)],
        token: Annotated[AccessToken, Security(bearer, scopes=["write:messages"])],
    ) -> dict[str, object]:
        return {"created": True, "author": author}

    return app


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
