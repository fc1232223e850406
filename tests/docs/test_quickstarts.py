"""The README's quickstarts, run exactly as pasted: each module is taken from
README.md, imported, built with ``create_app()`` from the environment (a local
issuer on 127.0.0.1), and driven with its framework's test client; and the
typed ones pass ``mypy --strict``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.support.docs import quickstart, quickstart_blocks

#: (token scope or None for no token, status, body) as the README states them.
CASES = [
    pytest.param(None, 401, None, id="no-token"),
    pytest.param("profile", 403, None, id="without-the-scope"),
    pytest.param("read:messages", 200, {"for": "alice"}, id="with-the-scope"),
]


def load(tmp_path: Path, key: str) -> ModuleType:
    """Write the README's *key* quickstart to ``app.py`` and import it."""
    directory = tmp_path / key
    directory.mkdir()
    path = directory / "app.py"
    path.write_text(quickstart(key), encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"readme_quickstart_{key}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_readme_marks_each_quickstart():
    keys = {block.key for block in quickstart_blocks()}
    assert {"starlette", "fastapi", "flask", "django"} <= keys
    for key in ("starlette", "fastapi", "flask"):
        assert quickstart(key).startswith("# app.py\n")
        assert "def create_app(verifier: Verifier | None = None)" in quickstart(key)


@pytest.mark.parametrize("key", ["starlette", "fastapi"])
@pytest.mark.parametrize(("scope", "status", "body"), CASES)
@pytest.mark.anyio
async def test_asgi_quickstarts(tmp_path, from_env, key, scope, status, body):
    app = load(tmp_path, key).create_app()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            response = await client.get("/messages", headers=from_env.headers(scope))
    finally:
        for verifier in from_env.made:
            await verifier.aclose()
    assert len(from_env.made) == 1
    assert response.status_code == status, response.text
    if body is not None:
        assert response.json() == body
    else:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["error"] == ("unauthorized" if status == 401 else "insufficient_scope")


@pytest.mark.parametrize(("scope", "status", "body"), CASES)
def test_flask_quickstart(tmp_path, from_env, scope, status, body):
    app = load(tmp_path, "flask").create_app()
    response = app.test_client().get("/messages", headers=from_env.headers(scope))
    assert len(from_env.made) == 1
    assert response.status_code == status
    if body is not None:
        assert response.json == body
    else:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.one_interpreter
def test_typed_quickstarts_pass_mypy_strict(tmp_path):
    """``mypy --strict`` on the Starlette, FastAPI and Flask quickstarts (for
    Flask, minus ``method-assign``: Flask's documented way to add WSGI
    middleware assigns ``app.wsgi_app``)."""
    names = []
    for key in ("starlette", "fastapi", "flask"):
        (tmp_path / f"{key}_app.py").write_text(quickstart(key), encoding="utf-8")
        names.append(f"{key}_app.py")
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nstrict = True\n\n[mypy-flask_app]\ndisable_error_code = method-assign\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", str(tmp_path / "cache"), *names],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 3 source files" in result.stdout
