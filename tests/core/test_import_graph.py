"""No import cycles in jwt_guard, read from the source with ``ast``.

The package-wide graph holds the imports that run when a module is loaded:
module level, including ``if``/``try`` blocks and class bodies, but not
imports inside functions and not those under ``if TYPE_CHECKING:``. The
``jwt_guard.cli`` and ``jwt_guard.testing`` packages are held to a stricter
rule: no cycle through them even counting every import, deferred or
type-only, so their modules stay layered.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

import jwt_guard

PACKAGE = Path(jwt_guard.__file__).parent
#: Packages whose modules must be layered whatever kind of import is counted.
LAYERED = ("jwt_guard.cli", "jwt_guard.testing")
#: The request layer and the adapters over it: layered whatever kind of import is counted.
REQUEST_LAYER = (
    "jwt_guard.errors",
    "jwt_guard._auth_syntax",
    "jwt_guard._challenge",
    "jwt_guard._request",
    "jwt_guard._origin",
    "jwt_guard._csrf",
    "jwt_guard._cookie",
    "jwt_guard._responder",
    "jwt_guard._guard",
    "jwt_guard._metadata",
    "jwt_guard._endpoint",
    "jwt_guard._step_up",
    "jwt_guard.asgi",
    "jwt_guard._asgi_lifecycle",
    "jwt_guard._asgi_cookies",
    "jwt_guard._asgi_routes",
    "jwt_guard.wsgi",
    "jwt_guard._wsgi_cookies",
    "jwt_guard.fastapi",
    "jwt_guard.django",
    "jwt_guard.django._settings",
    "jwt_guard.django._request",
    "jwt_guard.django._middleware",
    "jwt_guard.django._user",
    "jwt_guard.django._views",
    "jwt_guard.django.rest_framework",
)


def module_names(root: Path, package: str) -> dict[str, Path]:
    """``{dotted name: path}`` for every module under *root* (a package directory)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST, *, every: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run at import time (or all of them, with *every*)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif not every and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        elif not every and isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from _import_nodes(ast.Module(body=[child], type_ignores=[]), every=every)
        else:
            yield from _import_nodes(node, every=every)


def _resolve(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: Iterable[str]) -> set[str]:
    """The modules of *modules* that *node*, in module *importer*, names."""
    known = set(modules)
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        base = importer.split(".")
        if not is_package:
            base.pop()
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, node.module] if node.module else base)
    else:
        module = node.module or ""
    targets = set()
    for alias in node.names:
        # ``from package import module`` names the submodule itself.
        submodule = f"{module}.{alias.name}"
        if submodule in known:
            targets.add(submodule)
        elif module in known:
            targets.add(module)
    return targets


def import_graph(root: Path, package: str, *, every: bool = False) -> dict[str, set[str]]:
    """``{module: modules it imports}`` within *package* (see the module docstring)."""
    modules = module_names(root, package)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in _import_nodes(tree, every=every):
            edges |= _resolve(node, name, path.name == "__init__.py", modules)
        edges.discard(name)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_package_has_no_import_cycle():
    graph = import_graph(PACKAGE, "jwt_guard")
    assert {"jwt_guard", "jwt_guard.cli", "jwt_guard.testing", "jwt_guard.testing._issuer"} <= set(graph)
    assert cycles(graph) == []


@pytest.mark.parametrize("package", LAYERED)
def test_layered_packages_have_no_cycle_even_through_deferred_imports(package):
    """Counting imports inside functions and under TYPE_CHECKING too."""
    graph = import_graph(PACKAGE, "jwt_guard", every=True)
    involved = [cycle for cycle in cycles(graph) if any(m == package or m.startswith(f"{package}.") for m in cycle)]
    assert involved == []


def test_the_request_layer_has_no_cycle_even_through_deferred_imports():
    graph = import_graph(PACKAGE, "jwt_guard", every=True)
    assert set(REQUEST_LAYER) <= set(graph)
    assert [cycle for cycle in cycles(graph) if set(cycle) & set(REQUEST_LAYER)] == []


def test_errors_import_only_the_header_syntax():
    """The error tree builds its challenges from the leaf syntax module, never from _challenge."""
    graph = import_graph(PACKAGE, "jwt_guard", every=True)
    assert graph["jwt_guard._auth_syntax"] == set()
    assert graph["jwt_guard.errors"] == {"jwt_guard._auth_syntax"}


def test_the_issuer_imports_what_it_returns_at_module_level():
    """LocalIssuer's key_server/mock_transport/serve/verifier have real types without a cycle."""
    edges = import_graph(PACKAGE, "jwt_guard")["jwt_guard.testing._issuer"]
    assert {"jwt_guard.testing._keyserver", "jwt_guard.testing._network", "jwt_guard._verifier"} <= edges


# -- the checker itself ------------------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return root


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"__init__.py": "", "a.py": "import pkg.b\n", "b.py": "from pkg import a\n"},
            [["pkg.a", "pkg.b"]],
            id="two-modules",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "a.py": "from . import b\n",
                "b.py": "from .c import x\n",
                "c.py": "from .a import y\n",
            },
            [["pkg.a", "pkg.b", "pkg.c"]],
            id="relative-three",
        ),
        pytest.param(
            {"__init__.py": "from pkg.a import f\n", "a.py": "from pkg import VERSION\n"},
            [["pkg", "pkg.a"]],
            id="through-the-package",
        ),
        pytest.param(
            {"__init__.py": "", "sub/__init__.py": "from .m import x\n", "sub/m.py": "from .. import sub\n"},
            [["pkg.sub", "pkg.sub.m"]],
            id="subpackage-relative",
        ),
        pytest.param(
            {"__init__.py": "", "a.py": "class A:\n    from pkg import b\n", "b.py": "import pkg.a\n"},
            [["pkg.a", "pkg.b"]],
            id="class-body-runs-at-import",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "a.py": "try:\n    import pkg.b\nexcept ImportError:\n    pass\n",
                "b.py": "import pkg.a\n",
            },
            [["pkg.a", "pkg.b"]],
            id="try-block",
        ),
        pytest.param(
            {"__init__.py": "", "a.py": "def f():\n    import pkg.b\n", "b.py": "import pkg.a\n"},
            [],
            id="deferred-in-a-function",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import pkg.b\n",
                "b.py": "import pkg.a\n",
            },
            [],
            id="type-checking-only",
        ),
        pytest.param(
            {
                "__init__.py": "",
                "a.py": "import typing\nif typing.TYPE_CHECKING:\n    pass\nelse:\n    import pkg.b\n",
                "b.py": "import pkg.a\n",
            },
            [["pkg.a", "pkg.b"]],
            id="type-checking-else-runs",
        ),
        pytest.param(
            {"__init__.py": "from pkg import a\n", "a.py": "import os\nimport pkg.b\n", "b.py": "import json\n"},
            [],
            id="a-tree-is-fine",
        ),
    ],
)
def test_the_checker_finds_cycles(tmp_path, files, expected):
    assert cycles(import_graph(_package(tmp_path, files), "pkg")) == expected


def test_every_import_mode_sees_deferred_and_type_only_cycles(tmp_path):
    root = _package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "def f():\n    from pkg import b\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n",
        },
    )
    assert cycles(import_graph(root, "pkg")) == []
    assert cycles(import_graph(root, "pkg", every=True)) == [["pkg.a", "pkg.b"]]
