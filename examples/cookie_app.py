"""A browser app whose API keeps the access token in an httpOnly cookie.

One origin serves both the page and the API: the page's scripts never see
the token (``HttpOnly``), the browser sends it with every same-origin
``fetch``, and jwt_guard refuses requests that other sites' pages make the
browser send (the cross-origin check; see docs/cookies.md).

Routes:

``GET /`` and ``GET /app.js``
    the page and its script (public; a strict Content-Security-Policy).
``POST /login``
    asks the issuer's token endpoint for a token and stores it in the
    cookie. A real backend-for-frontend runs the authorization code flow
    (with PKCE) here and keeps the refresh token on the server; the
    development issuer simply mints a token for ``demo-user``.
``POST /logout``
    clears the cookie.
``GET /notes`` (scope ``notes:read``) and ``POST /notes`` (``notes:write``)
    the API the page calls with ``fetch`` (a note as JSON, a form field or
    plain text).

Configuration comes from the environment: ``JWT_GUARD_ISSUER``,
``JWT_GUARD_AUDIENCE`` and ``JWT_GUARD_TOKEN_URL`` (the issuer's token
endpoint, default ``<issuer>/oauth/token``, where ``jwt-guard dev-issuer``
serves it). Without ``JWT_GUARD_ISSUER``, ``python examples/cookie_app.py``
starts a development issuer in the same process. ``PORT`` picks the port
(8000). Open http://127.0.0.1:8000/ — plain http is fine on a loopback
host; anywhere else the cookie is ``Secure`` and needs https.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jwt_guard import Verifier
from jwt_guard.asgi import JWTGuardMiddleware, clear_token_cookie, get_access_token, require_scopes, set_token_cookie

COOKIE = "access_token"
SCOPES = "notes:read notes:write"
PUBLIC = ["/", "/app.js", "/login", "/logout"]

# No inline script: the policy below lets the page run only its own files,
# and frame-ancestors keeps other sites from framing it (clickjacking).
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>jwt_guard cookie example</title>
  <script src="/app.js" defer></script>
  <style>
    body { font: 16px system-ui, sans-serif; margin: 2rem auto; max-width: 40rem; color: #222; }
    button, input { font: inherit; padding: .3rem .6rem; }
    pre { background: #f4f4f4; padding: .8rem; white-space: pre-wrap; }
  </style>
</head>
<body>
  <h1>Notes</h1>
  <p>The access token lives in an <code>HttpOnly</code> cookie: this page's scripts cannot read it,
     and the browser sends it with this page's own requests only.</p>
  <p><button id="login">Log in</button> <button id="logout">Log out</button></p>
  <p><input id="text" value="hello from the page" size="30"> <button id="add">Add note</button>
     <button id="list">List notes</button></p>
  <p>Cookies this page's scripts can see: <code id="cookies"></code></p>
  <pre id="output">Not logged in yet.</pre>
</body>
</html>
"""

SCRIPT = """"use strict";
async function call(method, path, body) {
  const options = { method };
  if (body !== undefined) {
    options.headers = { "Content-Type": "application/json" };
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);  // same origin: the cookie goes along
  const text = await response.text();
  document.getElementById("output").textContent = `${method} ${path} -> ${response.status} ${text}`;
  document.getElementById("cookies").textContent = JSON.stringify(document.cookie);
  return response;
}
document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("cookies").textContent = JSON.stringify(document.cookie);
  document.getElementById("login").addEventListener("click", () => call("POST", "/login"));
  document.getElementById("logout").addEventListener("click", () => call("POST", "/logout"));
  document.getElementById("list").addEventListener("click", () => call("GET", "/notes"));
  document.getElementById("add").addEventListener("click",
    () => call("POST", "/notes", { text: document.getElementById("text").value }));
});
"""


async def page(request: Request) -> Response:
    return Response(PAGE, media_type="text/html", headers=SECURITY_HEADERS)


async def script(request: Request) -> Response:
    return Response(SCRIPT, media_type="text/javascript", headers=SECURITY_HEADERS)


async def login(request: Request) -> Response:
    settings = request.app.state
    form = {"grant_type": "client_credentials", "scope": SCOPES, "client_id": "cookie-example", "sub": "demo-user"}
    try:
        async with httpx.AsyncClient(transport=settings.transport, timeout=10) as client:
            reply = await client.post(settings.token_url, data=form)
        document = reply.json()
        token = document["access_token"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return JSONResponse({"error": "the issuer did not give a token"}, status_code=502)
    response = JSONResponse({"logged_in": True})
    # HttpOnly, SameSite=Lax, Secure unless plain http on a loopback host, Max-Age = the token's lifetime.
    set_token_cookie(response, token, name=COOKIE, request=request, expires_in=document.get("expires_in"))
    return response


async def logout(request: Request) -> Response:
    response = JSONResponse({"logged_in": False})
    clear_token_cookie(response, name=COOKIE, request=request)
    return response


@require_scopes("notes:read")
async def list_notes(request: Request) -> Response:
    return JSONResponse({"notes": request.app.state.notes})


@require_scopes("notes:write")
async def add_note(request: Request) -> Response:
    token = get_access_token(request)
    assert token is not None  # require_scopes admitted a verified token
    text = await note_text(request)
    if text is None:
        return JSONResponse({"error": "send JSON {'text': ...}, a form field 'text' or plain text"}, status_code=400)
    note = {"by": token.subject, "text": text[:200]}
    request.app.state.notes.append(note)
    return JSONResponse(note, status_code=201)


async def note_text(request: Request) -> str | None:
    """The note in a JSON body, a form or plain text. Like many real endpoints this one takes
    forms too: a content-type rule is no defence against forged requests, the cross-origin check is."""
    body = (await request.body()).decode("utf-8", "replace")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            value = json.loads(body)["text"]
        except (ValueError, KeyError, TypeError):
            return None
        return value if isinstance(value, str) else None
    if kind == "application/x-www-form-urlencoded":
        values = parse_qs(body).get("text")
        return values[0] if values else None
    return body or None


def create_app(
    verifier: Verifier | None = None,
    *,
    token_url: str | None = None,
    trusted_origins: Sequence[str] = (),
    transport: httpx.AsyncBaseTransport | None = None,
) -> Starlette:
    """The application; *verifier* and *token_url* default to the environment's.

    *transport* is the httpx transport of the token request (tests).
    """
    if verifier is None:
        verifier = verifier_from_env()
    if token_url is None:
        token_url = os.environ.get("JWT_GUARD_TOKEN_URL") or str(verifier.issuers[0]).rstrip("/") + "/oauth/token"
    routes = [
        Route("/", page),
        Route("/app.js", script),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/notes", list_notes, methods=["GET"]),
        Route("/notes", add_note, methods=["POST"]),
    ]
    middleware = [
        Middleware(
            JWTGuardMiddleware,
            verifier=verifier,
            cookie=COOKIE,
            trusted_origins=list(trusted_origins),
            exclude_paths=PUBLIC,  # still checked: an unsafe request carrying the cookie
        )
    ]
    app = Starlette(routes=routes, middleware=middleware)
    app.state.token_url = token_url
    app.state.transport = transport
    app.state.notes = []
    return app


def verifier_from_env() -> Verifier:
    """The verifier described by ``JWT_GUARD_ISSUER`` and ``JWT_GUARD_AUDIENCE``."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    audience = os.environ.get("JWT_GUARD_AUDIENCE")
    if not issuer or not audience:
        raise SystemExit("set JWT_GUARD_ISSUER and JWT_GUARD_AUDIENCE (see the module docstring)")
    return Verifier(issuer=issuer, audience=audience)


def main() -> None:
    import uvicorn

    port = int(os.environ.get("PORT", "8000"))
    if os.environ.get("JWT_GUARD_ISSUER"):
        uvicorn.run(create_app(), host="127.0.0.1", port=port)
        return
    from jwt_guard.testing import LocalIssuer, LocalServer

    # DEVELOPMENT ONLY: this issuer mints a token for anyone who asks.
    issuer = LocalIssuer(audience="https://notes.example.test", token_lifetime=600)
    with LocalServer(issuer) as server:
        print(f"development issuer (for development only) at {server.issuer_url}")
        verifier = Verifier(issuer=server.issuer_url, audience=issuer.audience)
        uvicorn.run(create_app(verifier, token_url=server.token_url), host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
