"""examples/cookie_app.py in process: the page, login through the issuer's token endpoint, the
cookie-authenticated notes API, and the cross-origin check on it (tests/asgi/test_cookie_browser.py
drives the same app in a real browser)."""

from __future__ import annotations

import httpx
import pytest

from jwt_guard.testing import KeyServer
from tests.asgi.test_examples import load

pytestmark = pytest.mark.anyio

ORIGIN = "http://127.0.0.1:8000"
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN}
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}


@pytest.fixture
def example():
    return load("cookie_app")


@pytest.fixture
def token_server(issuer) -> KeyServer:
    return issuer.key_server()


@pytest.fixture
def app(example, issuer, make_verifier, token_server):
    return example.create_app(
        make_verifier(),
        token_url=issuer.issuer.rstrip("/") + "/oauth/token",
        transport=issuer.mock_transport(token_server),
    )


def client_for(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)


async def test_the_page_and_its_script(app):
    async with client_for(app) as client:
        page = await client.get("/")
        script = await client.get("/app.js")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert '<script src="/app.js"' in page.text and "<script>" not in page.text
    assert script.status_code == 200 and "fetch(path, options)" in script.text


async def test_login_then_notes_with_the_cookie(app, issuer):
    async with client_for(app) as client:
        login = await client.post("/login", headers=SAME_ORIGIN)
        assert login.status_code == 200
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("access_token=")
        assert "; HttpOnly;" in cookie and cookie.endswith("SameSite=Lax")
        assert f"; Max-Age={issuer.token_lifetime};" in cookie
        assert "Secure" not in cookie  # plain http on a loopback host
        added = await client.post("/notes", json={"text": "hi"}, headers=SAME_ORIGIN)
        assert added.status_code == 201 and added.json() == {"by": "demo-user", "text": "hi"}
        assert (await client.get("/notes")).json() == {"notes": [{"by": "demo-user", "text": "hi"}]}
        refused = await client.post("/notes", json={"text": "forged"}, headers=CROSS_SITE)
        assert refused.status_code == 403 and refused.json()["error"] == "cross_origin_request"
        # Logging out from another site is refused too (an excluded path, but the cookie rides along).
        assert (await client.post("/logout", headers=CROSS_SITE)).status_code == 403
        assert (await client.get("/notes")).status_code == 200
        logout = await client.post("/logout", headers=SAME_ORIGIN)
        assert logout.headers["set-cookie"].startswith("access_token=; Max-Age=0;")
        assert (await client.get("/notes")).status_code == 401
    assert app.state.notes == [{"by": "demo-user", "text": "hi"}]


async def test_login_when_the_issuer_fails(app, token_server):
    token_server.token_endpoint = False  # the token endpoint answers 404
    async with client_for(app) as client:
        response = await client.post("/login")
    assert response.status_code == 502
    assert "set-cookie" not in response.headers


async def test_notes_as_json_form_or_text(app):
    """The endpoint takes forms and plain text too, as many do: only the check stops forged ones."""
    async with client_for(app) as client:
        await client.post("/login")
        assert (await client.post("/notes", data={"text": "form"}, headers=SAME_ORIGIN)).status_code == 201
        assert (await client.post("/notes", content=b"plain", headers=SAME_ORIGIN)).status_code == 201
        bad_json = {**SAME_ORIGIN, "Content-Type": "application/json"}
        assert (await client.post("/notes", content=b"not json", headers=bad_json)).status_code == 400
        assert (await client.post("/notes", json={"text": 3}, headers=SAME_ORIGIN)).status_code == 400
        assert (await client.post("/notes", content=b"", headers=SAME_ORIGIN)).status_code == 400
        forged = await client.post("/notes", data={"text": "forged"}, headers=CROSS_SITE)
        assert forged.status_code == 403
    assert [note["text"] for note in app.state.notes] == ["form", "plain"]
