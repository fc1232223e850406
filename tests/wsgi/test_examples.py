"""examples/flask_app.py and examples/django_app.py, configured from the
environment against a real local issuer on 127.0.0.1.

The Flask example runs in process; the Django example configures Django's
settings at import, so it runs in a child interpreter.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.wsgi.conftest import bearer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _environ(server, issuer, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "JWT_GUARD_ISSUER": server.issuer_url,
        "JWT_GUARD_AUDIENCE": issuer.audience,
        "PYTHONPATH": str(EXAMPLES.parent),
        **extra,
    }


@pytest.fixture
def flask_example():
    spec = importlib.util.spec_from_file_location("jwt_guard_flask_example", EXAMPLES / "flask_app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("method", "path", "scope", "status"),
    [
        pytest.param("get", "/", None, 200, id="public"),
        pytest.param("get", "/me", None, 401, id="me-anonymous"),
        pytest.param("get", "/me", "", 200, id="me-authenticated"),
        pytest.param("get", "/messages", "", 403, id="messages-without-scope"),
        pytest.param("get", "/messages", "read:messages", 200, id="messages-with-scope"),
        pytest.param("post", "/messages", "read:messages", 403, id="post-without-scope"),
        pytest.param("post", "/messages", "admin", 201, id="post-as-admin"),
    ],
)
def test_flask_example(flask_example, idp, monkeypatch, method, path, scope, status):
    issuer, server = idp
    monkeypatch.setenv("JWT_GUARD_ISSUER", server.issuer_url)
    monkeypatch.setenv("JWT_GUARD_AUDIENCE", issuer.audience)
    monkeypatch.delenv("JWT_GUARD_JWKS_URI", raising=False)
    app = flask_example.create_app()
    headers = {} if scope is None else bearer(issuer.token(scope=scope or None, sub="ivan"))
    try:
        response = getattr(app.test_client(), method)(path, headers=headers)
    finally:
        app.wsgi_app.verifier.close()
    assert response.status_code == status
    if path == "/me" and status == 200:
        assert response.json == {"sub": "ivan", "scopes": []}
    if status == 403:
        assert "insufficient_scope" in response.headers["WWW-Authenticate"]


def test_flask_example_needs_its_configuration(flask_example, monkeypatch):
    monkeypatch.delenv("JWT_GUARD_ISSUER", raising=False)
    with pytest.raises(SystemExit, match="JWT_GUARD_ISSUER"):
        flask_example.create_app()


def test_flask_example_runs_under_the_flask_command(idp):
    """``flask --app examples/flask_app.py`` finds the factory and builds the app."""
    issuer, server = idp
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", str(EXAMPLES / "flask_app.py"), "routes"],
        env=_environ(server, issuer),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "list_messages" in result.stdout
    assert "post_message" in result.stdout


_DJANGO_DRIVER = """
import json, sys
import django_app
from werkzeug.test import Client

client = Client(django_app.application)
answers = {}
for name, token in json.loads(sys.stdin.read()).items():
    response = client.get("/messages", headers={"Authorization": f"Bearer {token}"} if token else {})
    answers[name] = [response.status_code, response.get_data(as_text=True), response.headers.get("WWW-Authenticate")]
print(json.dumps(answers))
"""


def test_django_example(idp):
    issuer, server = idp
    tokens = {
        "anonymous": None,
        "no-scope": issuer.token(sub="judy"),
        "scope": issuer.token(scope="read:messages", sub="judy"),
        "forged": issuer.token(scope="read:messages")[:-4] + "AAAA",
    }
    result = subprocess.run(
        [sys.executable, "-c", _DJANGO_DRIVER],
        input=json.dumps(tokens),
        env=_environ(server, issuer, PYTHONPATH=str(EXAMPLES)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert answers["anonymous"][0] == 401
    assert answers["anonymous"][2] == "Bearer"
    assert answers["no-scope"][0] == 403
    assert answers["no-scope"][2].endswith('scope="read:messages"')
    assert answers["scope"][:2] == [200, '{"messages": ["hello, judy"]}']
    assert answers["forged"][0] == 401
    assert 'error="invalid_token"' in answers["forged"][2]


def test_django_example_passes_djangos_checks(idp):
    """``python examples/django_app.py check``: a runnable Django project."""
    issuer, server = idp
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "django_app.py"), "check"],
        env=_environ(server, issuer),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
