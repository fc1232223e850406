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
    "_auth_syntax",
    "_cache",
    "_challenge",
    "_claims",
    "_client_auth",
    "_config",
    "_cookie",
    "_csrf",
    "_discovery",
    "_diagnosis",
    "_dpop",
    "_dpop_errors",
    "_dpop_flow",
    "_dpop_nonce",
    "_dpop_options",
    "_endpoint",
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
    "_metadata",
    "_observe",
    "_origin",
    "_policy",
    "_reasons",
    "_request",
    "_resource",
    "_responder",
    "_singleflight",
    "_sources",
    "_static",
    "_step_up",
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
            from jwt_guard import render_error, InvalidToken
            from jwt_guard.testing import LocalIssuer
            issuer = LocalIssuer(algorithm="EdDSA")
            verifier = issuer.verifier()
            assert asyncio.run(verifier.verify_async(issuer.token())).subject == "user-1"
            render_error(InvalidToken())
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
    adapters = {
        "asgi",
        "_asgi_lifecycle",
        "_asgi_access",
        "_asgi_answer",
        "_asgi_cookies",
        "_asgi_decorators",
        "_asgi_routes",
        "wsgi",
        "_wsgi_access",
        "_wsgi_cookies",
        "_wsgi_decorators",
        "fastapi",
        "mcp",
        "otel",
        "__main__",
    }
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    assert modules - adapters == set(CORE_MODULES)


# -- no module reads another's private names ----------------------------------------------------------

# Reads that predate this check, each a (module, expression) pair; a new one fails the test.
KNOWN_PRIVATE_READS = {
    ("jwt_guard/_dpop.py", "options._algorithm_set"),
}


def _package_modules() -> dict[str, Path]:
    """``{dotted name: path}`` of every module of the package, subpackages included."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["jwt_guard", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _owned_names(tree: ast.AST) -> set[str]:
    """Names a module defines for itself: functions, classes, assigned names and
    attributes, annotated and ``__slots__`` attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            names.update(
                element.value
                for element in getattr(node.value, "elts", ())
                if isinstance(element, ast.Constant) and isinstance(element.value, str)
            )
    return names


def _foreign_modules(tree: ast.AST) -> set[str]:
    """Local names bound to modules outside jwt_guard (``import argparse``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not alias.name.startswith("jwt_guard"):
                    names.add(alias.asname or alias.name.partition(".")[0])
    return names


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reads(source: str, modules: set[str]) -> list[str]:
    """Where *source* uses a private name it does not define itself: ``obj._name`` on
    anything but ``self``/``cls``/``super()`` or a module from outside jwt_guard, and
    ``from jwt_guard.x import _name`` unless ``_name`` is a module of *modules*."""
    tree = ast.parse(source)
    owned = _owned_names(tree)
    foreign = _foreign_modules(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in owned:
            receiver = node.value
            if isinstance(receiver, ast.Name) and receiver.id in ({"self", "cls"} | foreign):
                continue
            if isinstance(receiver, ast.Call) and getattr(receiver.func, "id", None) == "super":
                continue
            found.append(ast.unparse(node))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("jwt_guard"):
            for alias in node.names:
                if _is_private(alias.name) and f"{node.module}.{alias.name}" not in modules:
                    found.append(f"from {node.module} import {alias.name}")
    return found


def test_no_module_reads_another_modules_private_names():
    """Decorators never reach into a middleware, adapters never import another adapter's
    private names: what modules share is public (the responder, the request keys)."""
    modules = _package_modules()
    reads = {
        (str(path.relative_to(PACKAGE.parent)), read)
        for path in modules.values()
        for read in private_reads(path.read_text(encoding="utf-8"), set(modules))
    }
    assert reads - KNOWN_PRIVATE_READS == set()
    assert reads >= KNOWN_PRIVATE_READS, "a known read is gone: drop it from KNOWN_PRIVATE_READS"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param("def f(middleware):\n    return middleware._on_error\n", ["middleware._on_error"], id="attr"),
        pytest.param(
            "from jwt_guard.asgi import _MIDDLEWARE_KEY\n", ["from jwt_guard.asgi import _MIDDLEWARE_KEY"], id="import"
        ),
        pytest.param("x = scope.get(asgi._VERIFIER_KEY)\n", ["asgi._VERIFIER_KEY"], id="module-attr"),
        pytest.param("class A:\n    def f(self):\n        return self._x\n", [], id="self"),
        pytest.param("class A:\n    __slots__ = ('_x',)\ndef f(a):\n    return a._x\n", [], id="own-slot"),
        pytest.param("def f(a):\n    a._y = 1\n    return a._y\n", [], id="own-attribute"),
        pytest.param("import argparse\nx: argparse._SubParsersAction\n", [], id="outside-module"),
        pytest.param("from jwt_guard import _forks\n", [], id="private-module"),
        pytest.param("class B(A):\n    def f(self):\n        return super()._g()\n", [], id="super"),
        pytest.param("def f(a):\n    return a.__class__\n", [], id="dunder"),
    ],
)
def test_private_read_scanner(source, expected):
    assert private_reads(source, {"jwt_guard._forks"}) == expected
