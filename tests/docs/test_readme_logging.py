"""The README's logging configuration, run as written: under uvicorn (a real
server), Flask and Django, each in a child interpreter (logging set up by an
application is process-wide), a refused token leaves its INFO line."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jwt_guard.testing import LocalIssuer
from tests.conftest import signing_key

README = Path(__file__).resolve().parents[2] / "README.md"
_BLOCK = re.compile(r"```python\n# logging: (?P<where>[^\n]+)\n(?P<code>.*?)```", re.DOTALL)
TIMEOUT = 60.0
AUDIENCE = "https://api.example.test"
LINE = (
    "INFO:jwt_guard:jwt_guard: request rejected (invalid_audience, 401): the access token is not meant for this "
    "audience; aud: expected 'https://api.example.test', received 'https://other.example.test'"
)


def readme_blocks() -> dict[str, str]:
    return {match["where"]: match["code"] for match in _BLOCK.finditer(README.read_text(encoding="utf-8"))}


@pytest.fixture
def issuer() -> LocalIssuer:
    return LocalIssuer("https://idp.example.test/", audience=AUDIENCE, keys=[signing_key("ES256")])


def _environment(issuer: LocalIssuer) -> dict[str, str]:
    return {**os.environ, "ISSUER": issuer.issuer, "KEYS": json.dumps(issuer.jwks()), "PYTHONUNBUFFERED": "1"}


VERIFIER = """
import json, os
from jwt_guard import Verifier
keys = json.loads(os.environ["KEYS"])
verifier = Verifier(issuer=os.environ["ISSUER"], audience="https://api.example.test", keys=keys)
"""


def test_the_readme_shows_both_forms():
    assert set(readme_blocks()) == {"uvicorn, gunicorn, Flask", "Django settings.py"}
    assert readme_blocks()["uvicorn, gunicorn, Flask"].strip().endswith("logging.basicConfig(level=logging.INFO)")


@pytest.fixture
def uvicorn_app(issuer, tmp_path) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str | None], str]]:
    """``uvicorn app:app`` with the README's line in app.py; yields the process,
    its stderr lines and its URL."""
    code = (
        readme_blocks()["uvicorn, gunicorn, Flask"]
        + VERIFIER
        + textwrap.dedent(
            """
        from starlette.applications import Starlette
        from starlette.middleware import Middleware
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route
        from jwt_guard.asgi import JWTGuardMiddleware

        async def home(request):
            return PlainTextResponse("hello")

        app = Starlette(routes=[Route("/", home)], middleware=[Middleware(JWTGuardMiddleware, verifier=verifier)])
        """
        )
    )
    (tmp_path / "app.py").write_text(code)
    argv = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(tmp_path), "--port", "0"]
    process = subprocess.Popen(
        argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=_environment(issuer)
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        running = wait_for(lines, "Uvicorn running on ")
        url = re.search(r"http://127\.0\.0\.1:\d+", running)
        assert url is not None, running
        yield process, lines, url.group(0)
    finally:
        process.terminate()
        process.wait(timeout=TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()


def wait_for(lines: queue.Queue[str | None], text: str) -> str:
    """The first line containing *text* (bounded wait; only to detect hangs)."""
    deadline = time.monotonic() + TIMEOUT
    seen = []
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no line with {text!r}; saw {seen!r}"
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        assert line is not None, f"the process ended before printing {text!r}; saw {seen!r}"
        seen.append(line)
        if text in line:
            return line


def test_uvicorn(uvicorn_app, issuer):
    _, lines, url = uvicorn_app
    token = issuer.token(aud="https://other.example.test")
    response = httpx.get(url + "/", headers={"Authorization": f"Bearer {token}"}, timeout=10, trust_env=False)
    assert response.status_code == 401
    assert wait_for(lines, "request rejected") == LINE


def _child(code: str, issuer: LocalIssuer) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT, env=_environment(issuer)
    )


def test_flask(issuer):
    token = issuer.token(aud="https://other.example.test")
    code = (
        readme_blocks()["uvicorn, gunicorn, Flask"]
        + VERIFIER
        + textwrap.dedent(
            f"""
        from flask import Flask
        from jwt_guard.wsgi import JWTGuardMiddleware

        app = Flask(__name__)
        app.wsgi_app = JWTGuardMiddleware(app.wsgi_app, verifier=verifier)
        print(app.test_client().get("/", headers={{"Authorization": "Bearer {token}"}}).status_code)
        """
        )
    )
    result = _child(code, issuer)
    assert result.stdout.strip() == "401", result.stderr
    assert LINE in result.stderr.splitlines()


def test_django(issuer):
    """Django's own logging setup (``django.setup()``) with the README's LOGGING."""
    code = (
        readme_blocks()["Django settings.py"]
        + textwrap.dedent(
            """
        import django
        from django.conf import settings

        settings.configure(DEBUG=False, LOGGING=LOGGING)
        django.setup()
        """
        )
        + VERIFIER
        + textwrap.dedent(
            f"""
        try:
            verifier.verify("{issuer.token(aud="https://other.example.test")}")
        except Exception as error:
            print(type(error).__name__)
        """
        )
    )
    result = _child(code, issuer)
    assert result.stdout.strip() == "InvalidAudience", result.stderr
    message = LINE.removeprefix("INFO:jwt_guard:")  # a plain StreamHandler prints the message alone
    assert message in result.stderr.splitlines()
