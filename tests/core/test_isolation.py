"""The core imports no framework: checked in a fresh interpreter and in the source of each core module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import jwt_guard

FRAMEWORKS = frozenset({"starlette", "werkzeug", "fastapi", "flask", "django", "uvicorn", "mcp"})
PACKAGE = Path(jwt_guard.__file__).parent
CORE_MODULES = [
    "__init__",
    "errors",
    "_access_token",
    "_cache",
    "_challenge",
    "_claims",
    "_client_auth",
    "_config",
    "_diagnosis",
    "_dpop",
    "_dpop_errors",
    "_dpop_nonce",
    "_dpop_options",
    "_env",
    "_events",
    "_fetch",
    "_forks",
    "_freshness",
    "_guard",
    "_http",
    "_introspect_cache",
    "_introspect_response",
    "_introspection",
    "_introspector",
    "_jose",
    "_keys",
    "_keysource",
    "_policy",
    "_reasons",
    "_resource",
    "_singleflight",
    "_token",
    "_url",
    "_verifier",
    "_wire",
]
# Modules allowed to import an I/O or JOSE library at run time (DESIGN.md).
ALLOWED = {"jose": {"_jose"}, "httpx": {"_http"}}


def loaded_after(code: str) -> set[str]:
    """Top-level package names in sys.modules after running *code* in a fresh interpreter."""
    script = textwrap.dedent(code) + textwrap.dedent(
        """
        import json, sys
        print(json.dumps(sorted({name.partition(".")[0] for name in sys.modules})))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("import jwt_guard", id="jwt_guard"),
        pytest.param("import jwt_guard.testing", id="jwt_guard.testing"),
        pytest.param("from jwt_guard import *", id="star"),
        pytest.param(
            """
            from jwt_guard.testing import LocalIssuer
            issuer = LocalIssuer()
            verifier = issuer.verifier()
            assert verifier.verify(issuer.token()).subject == "user-1"
            """,
            id="verify-a-token",
        ),
        pytest.param(
            """
            import asyncio
            from jwt_guard import render, InvalidToken
            from jwt_guard.testing import LocalIssuer
            issuer = LocalIssuer(algorithm="EdDSA")
            verifier = issuer.verifier()
            assert asyncio.run(verifier.verify_async(issuer.token())).subject == "user-1"
            render(InvalidToken())
            """,
            id="verify-async-and-render",
        ),
    ],
)
def test_no_framework_is_imported(code):
    loaded = loaded_after(code)
    assert "jwt_guard" in loaded
    assert loaded.isdisjoint(FRAMEWORKS), sorted(loaded & FRAMEWORKS)


def test_the_check_can_fail():
    """The subprocess check sees a module imported next to jwt_guard (a stdlib one: no framework needed)."""
    assert "wave" not in loaded_after("import jwt_guard")
    assert "wave" in loaded_after("import jwt_guard, wave")


def _runtime_imports(tree: ast.Module) -> set[str]:
    """Top-level names of every import, at any depth, except under ``if TYPE_CHECKING:``."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _imports_of(module: str) -> set[str]:
    path = PACKAGE / f"{module}.py"
    return _runtime_imports(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_no_framework(module):
    imports = _imports_of(module)
    assert imports.isdisjoint(FRAMEWORKS), sorted(imports & FRAMEWORKS)


@pytest.mark.parametrize("module", CORE_MODULES)
def test_engine_and_network_libraries_stay_in_their_module(module):
    """python-jose lives only in _jose, httpx only in _fetch (type hints aside)."""
    imports = _imports_of(module)
    for library, owners in ALLOWED.items():
        if module not in owners:
            assert library not in imports, f"{module} imports {library}"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("import starlette.applications", {"starlette"}, id="import"),
        pytest.param("from werkzeug import Request", {"werkzeug"}, id="from-import"),
        pytest.param("def f():\n    import flask\n", {"flask"}, id="nested"),
        pytest.param(
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n", {"typing"}, id="typing-only"
        ),
        pytest.param("from . import x\n", set(), id="relative"),
    ],
)
def test_import_scanner(source, expected):
    assert _runtime_imports(ast.parse(source)) == expected


def test_core_list_covers_every_private_core_module():
    """A new private module must be classified here (core, or adapter/demo)."""
    adapters = {"asgi", "wsgi", "fastapi", "mcp", "__main__"}
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules - adapters == set(CORE_MODULES)
