"""examples/cookie_app.py in a real browser: headless Chromium against the app served by uvicorn on
127.0.0.1, with a development issuer on 127.0.0.1 and a second, hostile origin.

What it shows: the page loads, logs in and its same-origin ``fetch`` POST succeeds with the cookie;
page scripts cannot read the token (``document.cookie``); a page on another origin of the same site
(another port) that makes the browser POST to the API — a form and a ``fetch`` with
``credentials: "include"`` — is refused by the cross-origin check (403) although the browser sent
the cookie; from another site (``localhost`` against ``127.0.0.1``) ``SameSite=Lax`` keeps the
cookie home (401). The notes handler's side effect happens once, for the page's own request.
A screenshot of the page is kept (``$JWT_GUARD_TEST_ARTIFACTS``, default ``test-artifacts/``).
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from jwt_guard import Verifier
from jwt_guard.testing import LocalIssuer, LocalServer
from tests.asgi.conftest import serve
from tests.asgi.test_examples import load
from tests.support.browser import Chromium, keep_artifact

pytestmark = pytest.mark.one_interpreter  # see the marker in pyproject.toml

WAIT = 30  # seconds a browser step may take on a busy machine (a bound, not an expectation)
PNG = b"\x89PNG\r\n\x1a\n"


class Recorder:
    """Wraps the API: records every answer (method, path, status, whether the token cookie came,
    Sec-Fetch-Site), and closes the verifier when the server stops."""

    def __init__(self, app: Any, verifier: Verifier) -> None:
        self.app = app
        self.verifier = verifier
        self.seen: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def answers(self, method: str, path: str) -> list[dict[str, Any]]:
        with self.lock:
            return [entry for entry in self.seen if (entry["method"], entry["path"]) == (method, path)]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.verifier.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers = dict(scope.get("headers") or [])
        entry = {
            "method": scope.get("method"),
            "path": scope["path"],
            "cookie": b"access_token=" in headers.get(b"cookie", b""),
            "site": headers.get(b"sec-fetch-site", b"").decode(),
        }

        async def recording(message) -> None:
            if message["type"] == "http.response.start":
                with self.lock:
                    self.seen.append({**entry, "status": message["status"]})
            await send(message)

        await self.app(scope, receive, recording)


FORM = """<!doctype html><title>a page elsewhere</title>
<form method="POST" action="{target}"><input name="text" value="forged by a form"></form>
<script>document.forms[0].submit();</script>"""

FETCH = """<!doctype html><title>a page elsewhere</title>
<script>
fetch({target}, {{method: "POST", credentials: "include", body: "forged by fetch"}})
  .then(r => {{ document.title = "answered"; }}, e => {{ document.title = "blocked: " + e.name; }});
</script>"""


def hostile_app() -> Starlette:
    """Pages of another origin that make the visitor's browser POST to the API."""

    async def form(request: Request) -> HTMLResponse:
        return HTMLResponse(FORM.format(target=request.query_params["target"]))

    async def fetch(request: Request) -> HTMLResponse:
        return HTMLResponse(FETCH.format(target=json.dumps(request.query_params["target"])))

    return Starlette(routes=[Route("/form", form), Route("/fetch", fetch)])


def test_the_cookie_example_in_a_real_browser(tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium = Chromium(tmp_path)  # skips (or fails in CI) without chromium and chromedriver
    issuer = LocalIssuer(audience="https://notes.example.test", token_lifetime=600)
    with LocalServer(issuer) as idp:
        verifier = Verifier(issuer=idp.issuer_url, audience=issuer.audience)
        api = load("cookie_app").create_app(verifier, token_url=idp.token_url)
        recorder = Recorder(api, verifier)
        with serve(recorder) as server, serve(hostile_app()) as hostile, chromium as driver:
            wait = WebDriverWait(driver, WAIT)

            def output_shows(text: str) -> None:
                wait.until(lambda d: text in d.find_element(By.ID, "output").text)

            # The page loads and logs in: the login route asks the issuer and sets the cookie.
            driver.get(server.url + "/")
            assert driver.title == "jwt_guard cookie example"
            driver.find_element(By.ID, "login").click()
            output_shows("POST /login -> 200")
            stored = driver.get_cookie("access_token")
            assert stored is not None
            assert (stored["httpOnly"], stored["sameSite"], stored["secure"]) == (True, "Lax", False)
            token = stored["value"]
            assert verifier.verify(token).subject == "demo-user"

            # Its same-origin fetch POST succeeds with the cookie.
            text = driver.find_element(By.ID, "text")
            text.clear()
            text.send_keys("written in the browser")
            driver.find_element(By.ID, "add").click()
            output_shows("POST /notes -> 201")
            assert api.state.notes == [{"by": "demo-user", "text": "written in the browser"}]
            [own] = recorder.answers("POST", "/notes")
            assert (own["status"], own["cookie"], own["site"]) == (201, True, "same-origin")

            # Page scripts cannot read the token.
            visible = driver.execute_script("return document.cookie")
            assert token not in visible and "access_token" not in visible
            assert token not in driver.find_element(By.ID, "cookies").text

            driver.find_element(By.ID, "list").click()
            output_shows("GET /notes -> 200")
            screenshot = tmp_path / "cookie-example.png"
            assert driver.save_screenshot(str(screenshot))
            assert screenshot.read_bytes().startswith(PNG) and screenshot.stat().st_size > 5000
            keep_artifact(screenshot)

            target = quote(server.url + "/notes", safe="")
            attacks = [
                # Another port of 127.0.0.1: the same site, so SameSite=Lax lets the cookie go
                # and only the cross-origin check stands in the way.
                (f"http://127.0.0.1:{hostile.port}/form?target={target}", 403, True, "same-site"),
                (f"http://127.0.0.1:{hostile.port}/fetch?target={target}", 403, True, "same-site"),
                # localhost against 127.0.0.1: another site; the browser does not even send the cookie.
                (f"http://localhost:{hostile.port}/form?target={target}", 401, False, "cross-site"),
                (f"http://localhost:{hostile.port}/fetch?target={target}", 401, False, "cross-site"),
            ]
            for count, (url, status, cookie_sent, site) in enumerate(attacks, start=2):
                driver.get(url)
                wait.until(lambda d, count=count: len(recorder.answers("POST", "/notes")) >= count)
                attack = recorder.answers("POST", "/notes")[-1]
                assert (attack["status"], attack["cookie"], attack["site"]) == (status, cookie_sent, site), url
                if "/fetch" in url:  # the hostile script learns nothing either: no CORS grant
                    wait.until(lambda d: d.title.startswith(("blocked", "answered")))
                    assert driver.title == "blocked: TypeError"
                else:  # the form navigated to the API's answer
                    error = "cross_origin_request" if status == 403 else "unauthorized"
                    wait.until(lambda d, error=error: error in d.find_element(By.TAG_NAME, "body").text)
            assert len(recorder.answers("POST", "/notes")) == 5

            # The handler's side effect happened once: for the page's own request.
            assert api.state.notes == [{"by": "demo-user", "text": "written in the browser"}]
