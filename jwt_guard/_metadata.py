"""Serving a resource's RFC 9728 metadata from a middleware, with no I/O and no framework.

A middleware built with ``resource=ProtectedResource(...)`` asks
:meth:`MetadataService.answer` about every HTTP request *before* anything
else, and sends the :class:`~jwt_guard._resource.MetadataAnswer` when there
is one: the metadata document, a CORS preflight, a 404 for another spelling
inside the well-known namespace, a 405. Such requests never reach the
application and their credentials are never read, so the metadata is
public, as RFC 9728 §3 means it to be.

The document is built from three sources:

- the :class:`~jwt_guard.ProtectedResource` itself;
- what the request layer knows: ``bearer_methods_supported`` from the
  guard's token sources (:func:`bearer_methods`), and from the verifier's
  DPoP options ``dpop_bound_access_tokens_required`` and
  ``dpop_signing_alg_values_supported`` (:func:`dpop_metadata`);
- when the resource names no ``scopes_supported``, the scopes the
  application's routes require, from a ``route_scopes`` callable the
  adapter supplies where its framework lets it see the routes (Starlette,
  FastAPI). It is called once, at the first request for the metadata, when
  every route exists: there is no registry filled at import time.

Everything but the route scopes is computed at construction, so a bad
configuration fails there.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol
from urllib.parse import quote

from jwt_guard._auth_syntax import is_scope_token
from jwt_guard._events import logger
from jwt_guard._resource import MetadataAnswer, MetadataEndpoint, ProtectedResource, check_resource_audience
from jwt_guard.errors import ConfigurationError

__all__ = ["MetadataService", "RouteScopes", "TokenSources", "bearer_methods", "dpop_metadata", "environ_path"]

#: ``route_scopes()``: the scopes an application's routes require, in order.
RouteScopes = Callable[[], Iterable[str]]


class TokenSources(Protocol):
    """Where a guard reads tokens (:class:`~jwt_guard._guard.Guard` is one)."""

    @property
    def allow_query_token(self) -> bool: ...


# RFC 3986 §3.3 pchar plus "/", left unencoded when a WSGI path is re-encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def bearer_methods(guard: TokenSources) -> list[str]:
    """``bearer_methods_supported`` (RFC 9728 §2) for the token sources of *guard*:
    ``header`` always (RFC 6750 §2.1), ``query`` when ``allow_query_token``
    is on (§2.3). The one place that maps the guard's sources to the metadata.
    A token cookie (``cookie=``) is not listed: RFC 9728 takes RFC 6750's
    values, and the cookie is the API's own transport, set by its login,
    not a way for an OAuth client to present a token (docs/cookies.md)."""
    methods = ["header"]
    if guard.allow_query_token:
        methods.append("query")
    return methods


def dpop_metadata(verifier: object) -> tuple[bool, tuple[str, ...] | None]:
    """``(dpop_bound_access_tokens_required, dpop_signing_alg_values_supported)``
    from the verifier's DPoP options (RFC 9449 §5.2, RFC 9728 §2).

    Read defensively: a verifier without DPoP options (``dpop=None``, or a
    version without the option) gives ``(False, None)``; ``required`` counts
    only when it is ``True`` and algorithms only as a list of strings.
    """
    options = getattr(verifier, "dpop", None)
    if options is None:
        options = getattr(getattr(verifier, "settings", None), "dpop", None)
    if options is None:
        return False, None
    required = getattr(options, "required", False) is True
    algorithms = getattr(options, "algorithms", None)
    if not isinstance(algorithms, (tuple, list)) or not all(isinstance(alg, str) for alg in algorithms):
        return required, None
    return required, tuple(algorithms) or None


def environ_path(environ: Mapping[str, Any]) -> str:
    """The request path of a WSGI *environ* as the client sent it
    (percent-encoded), for :meth:`MetadataEndpoint.answer`.

    ``RAW_URI`` or ``REQUEST_URI`` (gunicorn, Werkzeug) when the server gives
    one in origin form; otherwise ``SCRIPT_NAME`` + ``PATH_INFO``
    re-encoded, in which an encoded slash can no longer be told apart.
    """
    for key in ("RAW_URI", "REQUEST_URI"):
        raw = environ.get(key)
        if isinstance(raw, str) and raw.startswith("/"):
            return raw
    path = f"{environ.get('SCRIPT_NAME') or ''}{environ.get('PATH_INFO') or ''}"
    # PEP 3333: the path's bytes as latin-1 characters.
    return quote(path.encode("latin-1", "replace"), safe=_PATH_SAFE)


class MetadataService:
    """What a middleware answers at the RFC 9728 well-known location.

    :param resource: the :class:`~jwt_guard.ProtectedResource`; it must be
        one of the verifier's audiences (:class:`~jwt_guard.ConfigurationError`
        otherwise, compared exactly: ``https://api.example.com/mcp`` and
        ``…/mcp/`` are different resources).
    :param verifier: the middleware's verifier (audiences, DPoP options).
    :param guard: the middleware's guard (token sources).
    :param route_scopes: see the module docstring; used only when the
        resource has no ``scopes_supported`` of its own.
    """

    __slots__ = ("_endpoint", "_lock", "_options", "_route_scopes", "resource")

    def __init__(
        self,
        resource: ProtectedResource,
        *,
        verifier: object,
        guard: TokenSources,
        route_scopes: RouteScopes | None = None,
    ) -> None:
        if not isinstance(resource, ProtectedResource):
            raise ConfigurationError(f"resource must be a jwt_guard.ProtectedResource, not {type(resource).__name__}")
        check_resource_audience(resource, getattr(verifier, "audiences", None))
        dpop_required, dpop_algorithms = dpop_metadata(verifier)
        #: The resource whose metadata is served.
        self.resource = resource
        self._options: dict[str, Any] = {
            "bearer_methods": bearer_methods(guard),
            "dpop_required": dpop_required,
            "dpop_algorithms": dpop_algorithms,
        }
        self._endpoint: MetadataEndpoint = resource.endpoint(**self._options)
        # Cleared once the route scopes are in the document.
        self._route_scopes = route_scopes if resource.scopes_supported is None else None
        self._lock = threading.Lock()

    @property
    def metadata_url(self) -> str:
        """The URL sent as ``resource_metadata`` in challenges (RFC 9728 §5.1)."""
        return self.resource.metadata_url

    @property
    def path(self) -> str:
        """The request path of the metadata (RFC 9728 §3.1)."""
        return self._endpoint.path

    def answer(self, method: str, path: str | bytes) -> MetadataAnswer | None:
        """The answer to a request for *path* (as sent: percent-encoded,
        query allowed), or ``None`` when the request belongs to the
        application. See :meth:`MetadataEndpoint.answer` for the rule."""
        # Every spelling of the namespace holds "well-known", or a "%" that
        # may encode part of it: other paths (nearly all) end here.
        if isinstance(path, bytes):
            if b"well-known" not in path and b"%" not in path:
                return None
            text = path.decode("latin-1")
        elif "well-known" not in path and "%" not in path:
            return None
        else:
            text = path
        if (
            self._route_scopes is not None
            and method in ("GET", "HEAD")
            and text.partition("?")[0] == self._endpoint.path
        ):
            self._add_route_scopes()
        return self._endpoint.answer(method, text)

    def answer_scope(self, scope: Mapping[str, Any]) -> MetadataAnswer | None:
        """:meth:`answer` for an ASGI ``http`` scope (``raw_path``, else ``path``)."""
        # The server's percent-decoded path holds "well-known" for every
        # spelling of the namespace: the common case costs one str search.
        if "well-known" not in scope["path"]:
            return None
        return self.answer(scope["method"], scope.get("raw_path") or scope["path"])

    def answer_environ(self, environ: Mapping[str, Any]) -> MetadataAnswer | None:
        """:meth:`answer` for a WSGI environ (the path of :func:`environ_path`)."""
        if "well-known" not in (environ.get("PATH_INFO") or "") and "well-known" not in (
            environ.get("SCRIPT_NAME") or ""
        ):
            return None  # as for answer_scope: the decoded path decides first
        return self.answer(environ.get("REQUEST_METHOD") or "GET", environ_path(environ))

    @property
    def document(self) -> dict[str, Any]:
        """The metadata document as served now (the route scopes join it at
        the first request for it)."""
        return self._endpoint.document

    def _add_route_scopes(self) -> None:
        with self._lock:
            collect = self._route_scopes
            if collect is None:
                return  # another thread did it
            try:
                scopes = [scope for scope in dict.fromkeys(collect()) if is_scope_token(scope)]
            except (AttributeError, TypeError, ValueError) as exc:
                logger.warning("jwt_guard: the scopes of the application's routes could not be read (%s)", exc)
                scopes = []
            if scopes:
                self._endpoint = self.resource.endpoint(scopes_supported=scopes, **self._options)
            self._route_scopes = None

    def __repr__(self) -> str:
        return f"MetadataService({self.resource!r})"
