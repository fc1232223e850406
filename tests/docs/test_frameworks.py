"""docs/frameworks.md: the Quart and Litestar recipes, run as written with
each framework's own test client; and ``require_scopes`` on their handlers
refused with a TypeError that says what to use."""

from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

import pytest
from litestar import Request as LitestarRequest

from jwt_guard import InsufficientScope, MissingToken, render_error
from tests.support.docs import DOCS, named_blocks

RECIPES = named_blocks(DOCS / "frameworks.md")
CASES = [
    pytest.param(None, 401, id="no-token"),
    pytest.param("profile", 403, id="without-the-scope"),
    pytest.param("read:messages", 200, id="with-the-scope"),
]


def load(tmp_path: Path, name: str) -> ModuleType:
    path = tmp_path / name
    path.write_text(RECIPES[name], encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"frameworks_recipe_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def expected_body(status: int) -> bytes:
    return render_error(MissingToken() if status == 401 else InsufficientScope(["read:messages"])).body


@pytest.fixture
def root_logger_kept():
    """Litestar configures the root logger when an application starts (INFO,
    its own handler): put it back, so other tests see the usual logging."""
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def test_the_page_has_both_recipes():
    assert {"quart_app.py", "litestar_app.py"} <= set(RECIPES)


@pytest.mark.parametrize(("scope", "status"), CASES)
@pytest.mark.anyio
async def test_quart_recipe(tmp_path, from_env, scope, status):
    app = load(tmp_path, "quart_app.py").create_app()
    try:
        response = await app.test_client().get("/messages", headers=from_env.headers(scope))
        body = await response.get_data()
    finally:
        for verifier in from_env.made:
            await verifier.aclose()
    assert response.status_code == status
    if status == 200:
        assert await response.get_json() == {"for": "alice"}
    else:
        assert body == expected_body(status)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(("scope", "status"), CASES)
def test_litestar_recipe(tmp_path, from_env, root_logger_kept, scope, status):
    from litestar.testing import TestClient

    app = load(tmp_path, "litestar_app.py").create_app()
    with TestClient(app=app) as client:
        response = client.get("/messages", headers=from_env.headers(scope))
        # The verifier's async client lives on the test client's event loop.
        client.blocking_portal.call(from_env.made[0].aclose)
    assert response.status_code == status
    if status == 200:
        assert response.json() == {"for": "alice"}
    else:
        assert response.content == expected_body(status)
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_require_scopes_on_a_litestar_handler_says_what_to_use():
    """Litestar's Request annotation (resolved from the module, as in an
    application module) is not a Starlette request."""
    from litestar import get

    from jwt_guard.asgi import require_scopes

    with pytest.raises(TypeError, match=r"takes a litestar\..*Request.*JWTGuardMiddleware.*scope_refusal"):

        @get("/messages")
        @require_scopes("read:messages")
        async def messages(request: LitestarRequest) -> dict[str, str]:
            return {}


def test_require_scopes_on_a_quart_view_says_what_to_use():
    from quart import Quart

    from jwt_guard.asgi import require_scopes

    app = Quart(__name__)
    with pytest.raises(TypeError, match=r"has no 'request'.*Quart, Litestar.*scope_refusal"):

        @app.get("/messages")
        @require_scopes("read:messages")
        async def messages() -> dict[str, str]:
            return {}
