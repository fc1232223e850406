"""The HTTP semantics table (:mod:`tests.support.http_semantics`) through the
ASGI faces: a Starlette app behind ``JWTGuardMiddleware`` and a FastAPI app
whose route depends on ``JWTBearer``, each in process (``httpx.ASGITransport``)
and served by uvicorn on 127.0.0.1 with keys fetched over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Security
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwt_guard import AccessToken, Verifier
from jwt_guard.asgi import JWTGuardMiddleware, get_access_token, require_scopes
from jwt_guard.fastapi import JWTBearer, install_error_handler
from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer
from tests.asgi.conftest import serve
from tests.conftest import make_issuer
from tests.support.http_semantics import PATH, REALM, ROWS, SCOPE, WIRE_ROWS, Answer, Row, joined_headers, problems

pytestmark = pytest.mark.anyio

FACES = ("starlette", "fastapi")


def starlette_app(verifier: Verifier) -> Starlette:
    @require_scopes(SCOPE)
    async def read(request: Request) -> JSONResponse:
        token = get_access_token(request)
        return JSONResponse({"sub": token.subject if token else None})

    middleware = Middleware(JWTGuardMiddleware, verifier=verifier, realm=REALM, allow_query_token=True)
    return Starlette(routes=[Route(PATH, read)], middleware=[middleware])


def fastapi_app(verifier: Verifier) -> FastAPI:
    bearer = JWTBearer(verifier=verifier, realm=REALM, allow_query_token=True)
    app = FastAPI()
    install_error_handler(app)

    @app.get(PATH)
    async def read(token: AccessToken = Security(bearer, scopes=[SCOPE])) -> dict[str, Any]:
        return {"sub": token.subject}

    return app


BUILD = {"starlette": starlette_app, "fastapi": fastapi_app}


async def send(client: httpx.AsyncClient, issuer: LocalIssuer, row: Row) -> Answer:
    headers, query = row.request(issuer)
    reply = await client.get(f"{PATH}?{query}" if query else PATH, headers=headers)
    return Answer(reply.status_code, joined_headers(reply.headers.multi_items()), reply.content)


@pytest.fixture(scope="module")
def in_process() -> Iterator[tuple[LocalIssuer, dict[str, Any]]]:
    """Both apps over one static-key verifier on a fake clock."""
    issuer = make_issuer("ES256", clock=FakeClock(1_800_000_000))
    with issuer.verifier(clock=issuer.clock) as verifier:
        yield issuer, {face: build(verifier) for face, build in BUILD.items()}


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[LocalIssuer, dict[str, str]]]:
    """Both apps served by uvicorn, their verifier fetching keys from a
    LocalServer over HTTP (real clock)."""
    issuer = make_issuer("RS256")
    with LocalServer(issuer) as server, Verifier(issuer=server.issuer_url, audience=issuer.audience) as verifier:
        issuer.issuer = server.issuer_url
        with serve(starlette_app(verifier)) as starlette, serve(fastapi_app(verifier)) as fastapi:
            yield issuer, {"starlette": starlette.url, "fastapi": fastapi.url}


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("row", ROWS)
async def test_in_process(in_process, face, row):
    issuer, apps = in_process
    transport = httpx.ASGITransport(app=apps[face])
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer = await send(client, issuer, row)
    assert problems(row, answer) == []


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("row", WIRE_ROWS)
async def test_over_loopback(live, face, row):
    issuer, urls = live
    async with httpx.AsyncClient(base_url=urls[face], timeout=30) as client:
        answer = await send(client, issuer, row)
    assert problems(row, answer) == []
