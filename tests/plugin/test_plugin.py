"""The pytest plugin (``jwt_issuer``, ``make_token``, ``jwt_verifier``,
``auth_header``), exercised by test suites run with pytester.

The framework examples are the code blocks of docs/testing.md, run as they
are written: the documentation cannot drift from what works.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.docs import quickstart

pytest_plugins = ["pytester"]

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
_BLOCK = re.compile(r"```python\n# (?P<name>[\w.]+\.py)\n(?P<code>.*?)```", re.DOTALL)
STRICT_INI = "[pytest]\naddopts = --strict-markers -p no:cacheprovider\nfilterwarnings = error\nxfail_strict = true\n"


def documented_files() -> dict[str, str]:
    """``{file name: code}`` for every python block of docs/testing.md that
    starts with a ``# <name>.py`` line."""
    files: dict[str, str] = {}
    for match in _BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        assert match["name"] not in files, f"docs/testing.md shows {match['name']} twice"
        files[match["name"]] = match["code"]
    return files


def test_the_documentation_has_an_example_per_framework():
    names = set(documented_files())
    for framework in ("starlette", "fastapi", "flask", "django"):
        assert f"test_{framework}_app.py" in names


#: The framework examples test the README's quickstarts (``app.py``, or the
#: Django project: tests/docs/test_django_quickstart.py runs that one).
QUICKSTART_TESTS = {f"test_{key}_app.py": key for key in ("starlette", "fastapi", "flask", "django")}


def run_examples(pytester, files: dict[str, str]) -> None:
    """Run the test modules of *files* (with any other files beside them) in
    one fresh pytest (a subprocess), warnings as errors; every test passes."""
    pytester.makeini(STRICT_INI)
    for name, code in files.items():
        pytester.makepyfile(**{name.removesuffix(".py"): code})
    result = pytester.runpytest_subprocess("-v")
    outcomes = result.parseoutcomes()
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    tests = {name: code for name, code in files.items() if name.startswith("test_")}
    expected = sum(len(re.findall(r"^(?:async )?def test_", code, re.MULTILINE)) for code in tests.values())
    assert outcomes == {"passed": expected}
    for name, code in tests.items():
        for test in re.findall(r"^(?:async )?def (test_\w+)", code, re.MULTILINE):
            result.stdout.fnmatch_lines([f"{name}::{test}*PASSED*"])


@pytest.mark.one_interpreter
def test_every_documented_example_passes(pytester):
    """The examples that need no application of their own run in one fresh
    pytest (a subprocess: Django settings are process-wide)."""
    files = {
        name: code
        for name, code in documented_files().items()
        if name.startswith("test_") and name not in QUICKSTART_TESTS
    }
    run_examples(pytester, files)


@pytest.mark.one_interpreter
@pytest.mark.parametrize("key", ["starlette", "fastapi", "flask"])
def test_framework_examples_test_the_readme_quickstart(pytester, key):
    """docs/testing.md's tests for *key* pass against the README's quickstart
    ``app.py``, taken from README.md unchanged."""
    run_examples(pytester, {"app.py": quickstart(key), f"test_{key}_app.py": documented_files()[f"test_{key}_app.py"]})


def test_documented_conftest_override_moves_every_fixture(pytester):
    pytester.makeconftest(documented_files()["conftest.py"])
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        """
        import base64
        import json

        def claims(token):
            payload = token.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

        def test_override(make_token, jwt_verifier, auth_header):
            token = make_token(scope="read")
            assert claims(token)["iss"] == "https://login.example.com/"
            assert claims(token)["aud"] == "https://api.example.com"
            assert jwt_verifier.issuers == ("https://login.example.com/",)
            assert jwt_verifier.verify(token).has_scopes("read")
            assert auth_header(token) == {"Authorization": "Bearer " + token}
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


FIXTURE_SUITE = """
import asyncio
import pytest
from jwt_guard import AccessToken, ExpiredToken, InvalidAudience, Verifier
from jwt_guard.testing import LocalIssuer
from jwt_guard.testing.pytest_plugin import AUDIENCE, ISSUER

SEEN = []


def test_defaults(jwt_issuer, make_token, jwt_verifier):
    assert (jwt_issuer.issuer, jwt_issuer.audience) == (ISSUER, AUDIENCE)
    token = jwt_verifier.verify(make_token())
    assert isinstance(token, AccessToken)
    assert (token.subject, token.scopes, token.audience) == ("user-1", frozenset(), (AUDIENCE,))
    assert token.header["alg"] == "RS256"


def test_make_token_arguments(make_token, jwt_verifier):
    token = jwt_verifier.verify(make_token(scope=["read", "write"], sub="alice", permissions=["x"]))
    assert (token.subject, token.scopes, token["permissions"]) == ("alice", {"read", "write"}, ["x"])
    assert jwt_verifier.verify(make_token("read", "bob")).subject == "bob"
    with pytest.raises(ExpiredToken):
        jwt_verifier.verify(make_token(expires_in=-120))
    with pytest.raises(InvalidAudience):
        jwt_verifier.verify(make_token(aud="https://other.example"))


def test_auth_header(auth_header, make_token, jwt_verifier):
    header = auth_header(scope="read", sub="carol")
    scheme, raw = header["Authorization"].split(" ")
    assert scheme == "Bearer"
    assert jwt_verifier.verify(raw).subject == "carol"
    token = make_token()
    assert auth_header(token) == {"Authorization": f"Bearer {token}"}
    with pytest.raises(TypeError):
        auth_header(token, scope="read")


def test_async_verification(jwt_verifier, make_token):
    async def verify():
        return await jwt_verifier.verify_async(make_token(scope="read"))

    assert asyncio.run(verify()).has_scopes("read")


@pytest.mark.parametrize("round", [1, 2])
def test_function_scope_and_session_key(round, jwt_issuer, jwt_verifier):
    SEEN.append((id(jwt_issuer), id(jwt_verifier), jwt_issuer.signing_key.kid))
    if round == 2:
        (issuer1, verifier1, kid1), (issuer2, verifier2, kid2) = SEEN
        assert issuer1 != issuer2 and verifier1 != verifier2
        assert kid1 == kid2


def test_tokens_of_another_key_are_refused(jwt_issuer, jwt_verifier):
    forger = LocalIssuer(jwt_issuer.issuer, audience=jwt_issuer.audience, algorithm="ES256")
    with pytest.raises(Exception) as caught:
        jwt_verifier.verify(forger.token())
    assert type(caught.value).__name__ in {"UnknownKey", "InvalidSignature", "UnsupportedAlgorithm"}


def test_the_plugin_is_registered(request):
    assert request.config.pluginmanager.has_plugin("jwt_guard")
"""


def test_fixtures_in_a_fresh_suite(pytester):
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(test_fixtures=FIXTURE_SUITE)
    pytester.runpytest().assert_outcomes(passed=8)


def test_plugin_can_be_disabled(pytester):
    pytester.makepyfile("def test_uses(make_token):\n    pass\n")
    result = pytester.runpytest("-p", "no:jwt_guard")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'make_token' not found*"])


def test_fixtures_are_documented(pytester):
    result = pytester.runpytest("--fixtures")
    for name in ("jwt_issuer", "make_token", "jwt_verifier", "auth_header"):
        result.stdout.fnmatch_lines([f"{name} -- *pytest_plugin.py*", "    *"])


def test_loading_the_plugin_imports_no_web_framework():
    code = (
        "import sys, jwt_guard.testing.pytest_plugin\n"
        "bad = [m for m in ('starlette', 'werkzeug', 'flask', 'fastapi', 'django') if m in sys.modules]\n"
        "sys.exit(f'imported: {bad}' if bad else 0)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
