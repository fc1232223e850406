"""The README's Django quickstart, as pasted: a project made by
``django-admin startproject`` plus the README's blocks, configured from the
environment (a local issuer on 127.0.0.1), driven by Django's test client,
its WSGI application imported the way gunicorn imports it, and its ASGI
application served by a real uvicorn. Django's settings are process-wide, so
each of these runs in a child interpreter."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.docs import DOCS, build_project, named_blocks
from tests.support.services import free_port

pytestmark = pytest.mark.one_interpreter  # see the marker in pyproject.toml

STRICT_INI = "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nfilterwarnings = error\nxfail_strict = true\n"
#: (path, token scope or None for no token, status) as the README states them.
EXPECTED = [
    ("/messages", None, 401),
    ("/messages", "profile", 403),
    ("/messages", "read:messages", 200),
    ("/api/messages", None, 401),
    ("/api/messages", "profile", 403),
    ("/api/messages", "read:messages", 200),
    ("/admin/", None, 302),  # excluded: Django's admin sends the browser to its login page
]

TEST_CLIENT = """
import json, os, sys
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
results = []
for path, header in json.loads(sys.argv[1]):
    response = Client().get(path, headers=header)
    results.append([response.status_code, response.headers.get("WWW-Authenticate"), response.content.decode()])
print(json.dumps(results))
"""

WSGI_AS_GUNICORN_LOADS_IT = """
import json, os, sys
assert "DJANGO_SETTINGS_MODULE" not in os.environ
from mysite.wsgi import application
from werkzeug.test import Client
client = Client(application)
results = []
for path, header in json.loads(sys.argv[1]):
    response = client.get(path, headers=header, environ_overrides={"HTTP_HOST": "localhost"})
    results.append([response.status_code, response.headers.get("WWW-Authenticate"), response.get_data(as_text=True)])
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """``django-admin startproject mysite`` with the README's blocks added."""
    root = tmp_path_factory.mktemp("django-quickstart")
    subprocess.run([sys.executable, "-m", "django", "startproject", "mysite"], cwd=root, check=True, timeout=120)
    project = root / "mysite"
    build_project(project, "django")
    return project


def child_environ(from_env) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path.cwd()), environ.get("PYTHONPATH")]))
    return environ


def requests_for(from_env) -> list[list[object]]:
    return [[path, from_env.headers(scope)] for path, scope, _ in EXPECTED]


def check(results: list[list[object]]) -> None:
    for (path, scope, status), (got, challenge, body) in zip(EXPECTED, results, strict=True):
        assert got == status, (path, scope, body)
        if status == 200:
            assert json.loads(body) == {"for": "alice"}, path
        elif status in (401, 403):
            assert challenge.startswith("Bearer"), path
            if status == 403:
                assert 'error="insufficient_scope"' in challenge
        else:
            assert challenge is None


def run_child(project: Path, from_env, script: str) -> list[list[object]]:
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(requests_for(from_env))],
        cwd=project,
        env=child_environ(from_env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_project_has_the_readme_blocks(project):
    settings = (project / "mysite" / "settings.py").read_text()
    assert 'MIDDLEWARE.insert(1, "jwt_guard.django.JWTGuardMiddleware")' in settings
    assert '"EXCLUDE_PATHS": ["/admin/"]' in settings
    assert (project / "mysite" / "views.py").exists() and (project / "mysite" / "api.py").exists()
    # startproject's line that gunicorn and uvicorn rely on is still there.
    for module in ("wsgi.py", "asgi.py"):
        text = (project / "mysite" / module).read_text().replace("'", '"')
        assert 'os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")' in text


def test_django_test_client(project, from_env):
    check(run_child(project, from_env, TEST_CLIENT))


def test_wsgi_application_as_gunicorn_imports_it(project, from_env):
    check(run_child(project, from_env, WSGI_AS_GUNICORN_LOADS_IT))


def test_asgi_application_under_uvicorn(project, from_env, tmp_path):
    port = free_port()
    log = tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "mysite.asgi:application", "--port", str(port), "--lifespan", "off"]
    with (
        log.open("w") as output,
        subprocess.Popen(
            command, cwd=project, env=child_environ(from_env), stdout=output, stderr=subprocess.STDOUT
        ) as server,
    ):
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(base + "/admin/", timeout=2)
                    break
                except httpx.TransportError:
                    assert server.poll() is None, log.read_text()
                    assert time.monotonic() < deadline, "uvicorn did not start"
                    time.sleep(0.1)
            results = []
            with httpx.Client(base_url=base, timeout=10) as client:
                for path, header in requests_for(from_env):
                    response = client.get(path, headers=header)
                    results.append([response.status_code, response.headers.get("www-authenticate"), response.text])
            check(results)
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_the_documented_django_tests_pass_in_the_project(project):
    """docs/testing.md's Django tests, dropped next to manage.py, pass against
    the README's project unchanged (the pytest plugin provides the fixtures)."""
    code = named_blocks(DOCS / "testing.md")["test_django_app.py"]
    (project / "test_django_app.py").write_text(code, encoding="utf-8")
    (project / "pytest.ini").write_text(STRICT_INI, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-v", "test_django_app.py"],
        cwd=project,
        env={key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "JWT_GUARD_"))},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    expected = len(re.findall(r"^def test_", code, re.MULTILINE))
    assert f"{expected} passed" in result.stdout
