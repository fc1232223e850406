"""OAuth 2.0 Protected Resource Metadata (RFC 9728), with no I/O and no framework.

:class:`ProtectedResource` is what an application declares about itself: its
resource identifier and the authorization servers that issue tokens for it.
From that this module derives the metadata document (§2), where it lives
(§3.1 path insertion), the ``resource_metadata`` URL that challenges point to
(§5.1), and the answer to any request that reaches the well-known location.
Adapters only translate their request into ``(method, path)`` and send the
:class:`MetadataAnswer` back.

Identifiers are compared as exact strings everywhere (RFC 9728 §3.3, RFC 8707
§2): ``https://api.example.com/mcp`` and ``https://api.example.com/mcp/`` are
two different resources, with two different metadata URLs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from jwt_guard._config import check_url
from jwt_guard.errors import ConfigurationError

__all__ = [
    "BEARER_METHODS",
    "WELL_KNOWN_PATH",
    "MetadataAnswer",
    "MetadataEndpoint",
    "ProtectedResource",
    "check_resource_audience",
    "metadata_url",
    "well_known_path",
]

#: The well-known URI suffix registered by RFC 9728 §3.1.
WELL_KNOWN_PATH = "/.well-known/oauth-protected-resource"
#: How a bearer token may be sent (RFC 6750 §2), as ``bearer_methods_supported`` names them.
BEARER_METHODS = frozenset({"header", "body", "query"})

_ALLOW = "GET, HEAD, OPTIONS"
_DEFAULT_PORTS = {"https": 443, "http": 80}
# RFC 3986 §3.3: path-abempty = *( "/" segment ), segment = *pchar.
_PATH = re.compile(r"(?:/(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})*)*")
# RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_JWS_ALG = re.compile(r"[A-Za-z0-9+\-._]{1,32}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLASHES = re.compile(r"/{2,}")


def _absolute_url(url: Any, what: str) -> str:
    """An absolute https URL (http only on loopback) with neither query nor fragment."""
    check_url(url, what, allow_http=False)
    if not url.isascii() or _CONTROL.search(url) or " " in url:
        raise ConfigurationError(f"{what} must be an ASCII URL without spaces (use the punycode host): {url!r}")
    if "#" in url:
        raise ConfigurationError(f"{what} must not have a fragment: {url!r}")
    if "?" in url:
        raise ConfigurationError(f"{what} must not have a query: {url!r}")
    return str(url)


def _check_resource(resource: Any) -> str:
    # RFC 9728 §1.2 and RFC 8707 §2: an https URL without fragment. A query
    # is allowed there but discouraged; it is refused here because the
    # metadata URL would have to carry it (§3.1) and adapters match paths.
    url = _absolute_url(resource, "resource")
    parts = urlsplit(url)
    # Clients and authorization servers normalise scheme and host case and
    # drop default ports before they put the identifier in a token's aud;
    # the exact comparison of §3.3 only works on the canonical spelling.
    canonical_netloc = parts.netloc.lower()
    # (urlsplit lowercases the scheme itself: look at the string.)
    if not url.startswith(f"{parts.scheme}://") or parts.netloc != canonical_netloc:
        raise ConfigurationError(f"resource must use a lowercase scheme and host: {url!r}")
    if parts.netloc.endswith(":") or parts.port == _DEFAULT_PORTS[parts.scheme]:
        raise ConfigurationError(f"resource must not spell out the default port: {url!r}")
    path = parts.path
    if not _PATH.fullmatch(path):
        raise ConfigurationError(f"resource has characters its path cannot carry unencoded: {url!r}")
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        decoded = unquote(segment)
        if decoded in (".", ".."):
            raise ConfigurationError(f"resource must not contain dot segments: {url!r}")
        if "/" in decoded:
            raise ConfigurationError(f"resource must not contain an encoded slash: {url!r}")
        if segment == "" and index != len(segments) - 1:
            raise ConfigurationError(f"resource must not contain empty path segments ('//'): {url!r}")
    return url


def _strings(name: str, value: Any) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    try:
        result = tuple(items)
    except TypeError:
        raise ConfigurationError(f"{name} must be a list of strings, got {value!r}") from None
    for item in result:
        if not isinstance(item, str) or not item:
            raise ConfigurationError(f"{name} entries must be non-empty strings, got {item!r}")
    return tuple(dict.fromkeys(result))


def _scopes(name: str, value: Any) -> tuple[str, ...]:
    scopes = _strings(name, value)
    for scope in scopes:
        if not _SCOPE_TOKEN.fullmatch(scope):
            raise ConfigurationError(f"{name}: {scope!r} is not a scope token (RFC 6749 §3.3)")
    return scopes


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or _CONTROL.search(value):
        raise ConfigurationError(f"{name} must be a non-empty single-line string, got {value!r}")
    return value


def _optional_url(name: str, value: Any) -> str | None:
    return None if value is None else _absolute_url(value, name)


def well_known_path(resource: str) -> str:
    """The path of *resource*'s metadata (RFC 9728 §3.1 path insertion).

    ``https://api.example.com/mcp`` → ``/.well-known/oauth-protected-resource/mcp``;
    a resource without a path (``https://api.example.com`` or ``…/``) →
    ``/.well-known/oauth-protected-resource``. A trailing slash on a longer
    path is kept (``…/mcp/`` → ``…/oauth-protected-resource/mcp/``): it is
    part of the identifier.
    """
    path = urlsplit(resource).path
    # §3.1: a terminating slash following the host component is removed.
    return WELL_KNOWN_PATH + ("" if path in ("", "/") else path)


def metadata_url(resource: str) -> str:
    """The absolute URL of *resource*'s metadata, as sent in ``resource_metadata`` (§5.1)."""
    parts = urlsplit(resource)
    return f"{parts.scheme}://{parts.netloc}{well_known_path(resource)}"


def check_resource_audience(resource: str | ProtectedResource, audiences: Sequence[str] | None) -> None:
    """Raise :class:`ConfigurationError` unless *resource* is one of *audiences*.

    A verifier's ``aud`` check and the advertised resource must never
    disagree: a client asks its authorization server for a token whose
    audience is the advertised identifier (RFC 8707), and the verifier
    accepts only its configured audiences. Strings are compared exactly
    (RFC 9728 §3.3): no case folding, no trailing-slash tolerance.
    ``audiences=None`` (the audience check switched off) is refused too.
    """
    value = resource.resource if isinstance(resource, ProtectedResource) else resource
    if audiences is None:
        raise ConfigurationError(
            f"resource {value!r} needs a verifier that checks the audience; the verifier was built with audience=None"
        )
    if value in audiences:
        return
    hint = ""
    near = [aud for aud in audiences if aud.rstrip("/") == value.rstrip("/")]
    if near:
        hint = f" ({near[0]!r} differs only by a trailing slash, and identifiers are compared exactly)"
    raise ConfigurationError(f"resource {value!r} is not one of the verifier's audiences {list(audiences)!r}{hint}")


@dataclass(frozen=True)
class MetadataAnswer:
    """What an adapter sends for a request to the well-known location."""

    status_code: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header called *name* (case-insensitive), if any."""
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)


# Readable from any origin (RFC 9728 §3: metadata is public; browser-based
# clients fetch it cross-origin). Never with credentials: the answer does not
# depend on cookies or Authorization.
_CORS = (("access-control-allow-origin", "*"),)


def _error_answer(status: int, error: str, extra: tuple[tuple[str, str], ...] = ()) -> MetadataAnswer:
    body = json.dumps({"error": error}, separators=(",", ":")).encode()
    headers = (
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
        *_CORS,
        *extra,
        ("content-length", str(len(body))),
    )
    return MetadataAnswer(status, headers, body)


class MetadataEndpoint:
    """The metadata document of one resource, rendered once, and the rule
    that decides what each request to the well-known location gets.

    Built by :meth:`ProtectedResource.endpoint`; adapters call :meth:`answer`
    for every request and pass the request on when it returns ``None``.
    """

    __slots__ = ("_get", "_head", "_not_allowed", "_not_found", "_options", "body", "document", "path")

    def __init__(self, path: str, document: dict[str, Any], cache_max_age: int) -> None:
        #: The exact request path served (RFC 9728 §3.1).
        self.path = path
        #: The metadata document (RFC 9728 §2).
        self.document = document
        #: The JSON body sent for GET.
        self.body = json.dumps(document, separators=(",", ":")).encode()
        cache = f"public, max-age={cache_max_age}" if cache_max_age else "no-cache"
        ok_headers = (
            ("content-type", "application/json"),
            ("cache-control", cache),
            *_CORS,
            ("content-length", str(len(self.body))),
        )
        self._get = MetadataAnswer(200, ok_headers, self.body)
        # RFC 9110 §9.3.2: HEAD gets GET's header fields (Content-Length included), no content.
        self._head = MetadataAnswer(200, ok_headers, b"")
        self._options = MetadataAnswer(
            204,
            (
                ("allow", _ALLOW),
                *_CORS,
                ("access-control-allow-methods", _ALLOW),
                # Browser clients send MCP-Protocol-Version and the like; the
                # wildcard covers any header on a request without credentials.
                ("access-control-allow-headers", "*"),
                ("access-control-max-age", "86400"),
                ("cache-control", cache),
            ),
            b"",
        )
        self._not_allowed = _error_answer(405, "method_not_allowed", (("allow", _ALLOW),))
        self._not_found = _error_answer(404, "not_found")

    def owns(self, path: str | bytes) -> bool:
        """True for any request path in the well-known namespace, in whatever
        spelling: percent-encoded (``%2F``), with doubled slashes, with dot
        segments or a trailing slash."""
        text = _request_path(path)
        loose = _SLASHES.sub("/", unquote(text, errors="replace"))
        return loose == WELL_KNOWN_PATH or loose.startswith(WELL_KNOWN_PATH + "/")

    def answer(self, method: str, path: str | bytes) -> MetadataAnswer | None:
        """The answer to *method* on *path*, or ``None`` when the request is
        not for the metadata namespace and belongs to the application.

        *path* is the request path as sent (percent-encoded; bytes are read
        as Latin-1; anything after ``?`` is ignored). The rule:

        - the exact metadata path: ``GET`` → 200 JSON, ``HEAD`` → 200 without
          content, ``OPTIONS`` → 204 with CORS preflight headers, any other
          method (methods are case-sensitive, RFC 9110 §9.1) → 405 with
          ``Allow: GET, HEAD, OPTIONS``;
        - any other spelling inside the namespace — trailing slash, ``..``,
          ``%2F``, ``//``, another resource's path — → 404, so odd paths never
          reach the application and never fall back to a neighbour's document;
        - everything else → ``None``.
        """
        text = _request_path(path)
        if text != self.path:
            return self._not_found if self.owns(text) else None
        if method == "GET":
            return self._get
        if method == "HEAD":
            return self._head
        if method == "OPTIONS":
            return self._options
        return self._not_allowed

    def __repr__(self) -> str:
        return f"MetadataEndpoint(path={self.path!r})"


def _request_path(path: str | bytes) -> str:
    text = path.decode("latin-1") if isinstance(path, bytes) else path
    return text.partition("?")[0]


class ProtectedResource:
    """An API's declaration of itself for OAuth 2.0 Protected Resource
    Metadata (RFC 9728).

    ::

        resource = ProtectedResource(
            resource="https://api.example.com/mcp",
            authorization_servers=["https://idp.example.com/"],
        )
        resource.metadata_url
        # 'https://api.example.com/.well-known/oauth-protected-resource/mcp'

    :param resource: the resource identifier: an https URL (plain http only
        on loopback hosts), without query or fragment, in canonical form
        (lowercase scheme and host, no default port, no dot segments, no
        empty segments). It must be one of the verifier's audiences
        (:func:`check_resource_audience`).
    :param authorization_servers: issuer identifiers of the authorization
        servers whose tokens this resource accepts (RFC 8414 issuers: https
        URLs without query or fragment). At least one.
    :param scopes_supported: scopes to advertise. ``None``: let the adapter
        supply them (the scopes its routes require), or leave them out.
    :param resource_name: a human-readable name.
    :param resource_documentation: a URL of documentation for developers.
    :param resource_policy_uri: a URL of the resource's data-use policy.
    :param resource_tos_uri: a URL of the resource's terms of service.
    :param cache_max_age: ``Cache-Control: max-age`` of the document in
        seconds (0: ``no-cache``).
    """

    __slots__ = (
        "authorization_servers",
        "cache_max_age",
        "resource",
        "resource_documentation",
        "resource_name",
        "resource_policy_uri",
        "resource_tos_uri",
        "scopes_supported",
    )

    def __init__(
        self,
        *,
        resource: str,
        authorization_servers: Sequence[str],
        scopes_supported: Sequence[str] | None = None,
        resource_name: str | None = None,
        resource_documentation: str | None = None,
        resource_policy_uri: str | None = None,
        resource_tos_uri: str | None = None,
        cache_max_age: int = 3600,
    ) -> None:
        self.resource: str = _check_resource(resource)
        servers = _strings("authorization_servers", authorization_servers)
        if not servers:
            raise ConfigurationError("authorization_servers must name at least one issuer")
        self.authorization_servers: tuple[str, ...] = tuple(
            _absolute_url(server, "authorization_servers entry") for server in servers
        )
        scopes = None
        if scopes_supported is not None:
            scopes = _scopes("scopes_supported", scopes_supported)
            if not scopes:
                raise ConfigurationError("scopes_supported must not be empty (pass None to derive it)")
        self.scopes_supported: tuple[str, ...] | None = scopes
        self.resource_name: str | None = _text("resource_name", resource_name)
        self.resource_documentation: str | None = _optional_url("resource_documentation", resource_documentation)
        self.resource_policy_uri: str | None = _optional_url("resource_policy_uri", resource_policy_uri)
        self.resource_tos_uri: str | None = _optional_url("resource_tos_uri", resource_tos_uri)
        if isinstance(cache_max_age, bool) or not isinstance(cache_max_age, int) or cache_max_age < 0:
            raise ConfigurationError(f"cache_max_age must be a non-negative integer, got {cache_max_age!r}")
        self.cache_max_age: int = cache_max_age

    @property
    def well_known_path(self) -> str:
        """Where the metadata is served (RFC 9728 §3.1 path insertion)."""
        return well_known_path(self.resource)

    @property
    def metadata_url(self) -> str:
        """The absolute metadata URL, for ``resource_metadata="…"`` in challenges (§5.1)."""
        return metadata_url(self.resource)

    def check_audiences(self, audiences: Sequence[str] | None) -> None:
        """:func:`check_resource_audience` for this resource."""
        check_resource_audience(self.resource, audiences)

    def metadata(
        self,
        *,
        scopes_supported: Iterable[str] | None = None,
        bearer_methods: Iterable[str] = ("header",),
        dpop_required: bool = False,
        dpop_algorithms: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """The metadata document (RFC 9728 §2).

        The keyword arguments are what the adapter knows and the declaration
        does not: *scopes_supported* is used only when the constructor got
        none (route scopes; empty: the member is left out); *bearer_methods*
        are the token sources the adapter reads (``header``, ``body``,
        ``query``); *dpop_required* adds ``dpop_bound_access_tokens_required``
        (RFC 9449 §5.2) and *dpop_algorithms* ``dpop_signing_alg_values_supported``.
        """
        methods = _strings("bearer_methods", bearer_methods)
        unknown = [method for method in methods if method not in BEARER_METHODS]
        if unknown:
            raise ConfigurationError(f"bearer_methods: unknown {unknown!r}; expected some of {sorted(BEARER_METHODS)}")
        scopes = self.scopes_supported
        if scopes is None and scopes_supported is not None:
            scopes = _scopes("scopes_supported", scopes_supported) or None
        document: dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": list(self.authorization_servers),
        }
        if scopes is not None:
            document["scopes_supported"] = list(scopes)
        document["bearer_methods_supported"] = list(methods)
        for name in ("resource_name", "resource_documentation", "resource_policy_uri", "resource_tos_uri"):
            value = getattr(self, name)
            if value is not None:
                document[name] = value
        if dpop_algorithms is not None:
            algorithms = _strings("dpop_algorithms", dpop_algorithms)
            bad = [alg for alg in algorithms if not _JWS_ALG.fullmatch(alg) or alg.lower() == "none"]
            if bad or not algorithms:
                raise ConfigurationError(f"dpop_algorithms must be JWS algorithm names, got {list(algorithms)!r}")
            document["dpop_signing_alg_values_supported"] = list(algorithms)
        if dpop_required:
            document["dpop_bound_access_tokens_required"] = True
        return document

    def endpoint(
        self,
        *,
        scopes_supported: Iterable[str] | None = None,
        bearer_methods: Iterable[str] = ("header",),
        dpop_required: bool = False,
        dpop_algorithms: Iterable[str] | None = None,
    ) -> MetadataEndpoint:
        """The :class:`MetadataEndpoint` serving :meth:`metadata` (same arguments)."""
        document = self.metadata(
            scopes_supported=scopes_supported,
            bearer_methods=bearer_methods,
            dpop_required=dpop_required,
            dpop_algorithms=dpop_algorithms,
        )
        return MetadataEndpoint(self.well_known_path, document, self.cache_max_age)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ProtectedResource):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.__slots__))

    def __setattr__(self, name: str, value: Any) -> None:
        # Immutable once built: the endpoint and challenges derive from it.
        if hasattr(self, name):
            raise AttributeError(f"ProtectedResource.{name} is read-only")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return (
            f"ProtectedResource(resource={self.resource!r}, authorization_servers={list(self.authorization_servers)!r})"
        )
