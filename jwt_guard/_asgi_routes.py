"""The scopes an ASGI application's routes require, read from its route tree.

Used by :class:`jwt_guard.asgi.JWTGuardMiddleware` for the default
``scopes_supported`` of its RFC 9728 metadata, once, at the first request
for the metadata (every route exists by then). Nothing is registered at
import or decoration time: the scopes are those of the application this
middleware wraps, found by walking it:

- the chain of wrapped applications (each middleware's ``app``), down to
  whatever has ``routes`` (a Starlette or FastAPI application, a router);
- each route's endpoint: the requirements jwt_guard decorators recorded on
  it (:func:`~jwt_guard._endpoint.requirements_of`), on the methods of an
  ``HTTPEndpoint`` / ``WebSocketEndpoint`` class too;
- FastAPI routes' dependency trees: the ``Security(…, scopes=[…])`` scopes
  that reach a :class:`jwt_guard.fastapi.JWTBearer`, merged along the
  tree as FastAPI merges them;
- ``Mount`` and ``Host`` sub-applications and FastAPI's included routers,
  recursively.

Read by duck typing, never by importing a framework. The walk is bounded
(depth, and each object visited once), so a cyclic or very deep structure
cannot hang it.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from jwt_guard._endpoint import requirements_of

__all__ = ["route_scopes"]

# Deeper than any real application's middleware chain and mount nesting.
_MAX_DEPTH = 64


class _Walk:
    __slots__ = ("bearer_type", "scopes", "seen")

    def __init__(self) -> None:
        self.scopes: dict[str, None] = {}
        self.seen: set[int] = set()
        fastapi_adapter = sys.modules.get("jwt_guard.fastapi")  # loaded if any route uses JWTBearer
        self.bearer_type: type | None = getattr(fastapi_adapter, "JWTBearer", None)

    def first_visit(self, obj: object) -> bool:
        if id(obj) in self.seen:
            return False
        self.seen.add(id(obj))
        return True

    def add(self, scopes: Any) -> None:
        if isinstance(scopes, (list, tuple)):
            for scope in scopes:
                if isinstance(scope, str):
                    self.scopes.setdefault(scope)

    def app(self, app: object, depth: int) -> None:
        if depth > _MAX_DEPTH or app is None or not self.first_visit(app):
            return
        routes = getattr(app, "routes", None)
        if isinstance(routes, list):
            for route in routes:
                self.route(route, depth + 1)
        self.app(getattr(app, "app", None), depth + 1)
        # FastAPI's included routers (newer versions keep them unexpanded):
        # the router itself, and the dependencies given to include_router().
        self.app(getattr(app, "original_router", None), depth + 1)
        dependencies = getattr(getattr(app, "include_context", None), "dependencies", None)
        if isinstance(dependencies, list):
            for depends in dependencies:
                if self.bearer_type is not None and isinstance(getattr(depends, "dependency", None), self.bearer_type):
                    self.add(getattr(depends, "scopes", None))

    def route(self, route: object, depth: int) -> None:
        self.endpoint(getattr(route, "endpoint", None))
        self.dependant(getattr(route, "dependant", None), depth + 1)
        self.app(route, depth)  # Mount, Host: their routes and their app

    def endpoint(self, endpoint: object) -> None:
        while isinstance(endpoint, functools.partial):
            endpoint = endpoint.func
        for requirement in requirements_of(endpoint):
            self.add(requirement.scopes)
        if isinstance(endpoint, type):
            # HTTPEndpoint / WebSocketEndpoint: the decorated methods. vars()
            # reads the class dictionaries without running any descriptor.
            for klass in endpoint.__mro__:
                for member in list(vars(klass).values()):
                    for requirement in requirements_of(member):
                        self.add(requirement.scopes)

    def dependant(self, dependant: object, depth: int) -> None:
        if dependant is None or depth > _MAX_DEPTH or not self.first_visit(dependant):
            return
        call = getattr(dependant, "call", None)
        if self.bearer_type is not None and isinstance(call, self.bearer_type):
            own = getattr(dependant, "own_oauth_scopes", None)
            parent = getattr(dependant, "parent_oauth_scopes", None)
            if own is None and parent is None:
                # FastAPI before 0.120: the merged scopes of this point of the tree.
                self.add(getattr(dependant, "security_scopes", None))
            else:
                self.add(parent)
                self.add(own)
        else:
            self.endpoint(call)
        dependencies = getattr(dependant, "dependencies", None)
        if isinstance(dependencies, list):
            for child in dependencies:
                self.dependant(child, depth + 1)


def route_scopes(app: object) -> list[str]:
    """The scopes required by the routes of *app* (see the module docstring),
    each once, in the order the routes list them."""
    walk = _Walk()
    walk.app(app, 0)
    return list(walk.scopes)
