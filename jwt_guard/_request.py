"""Plain request values for the request layer: what an HTTP request is, without a framework.

:class:`Request` is the one view of a request that the request layer
(:mod:`jwt_guard._guard`) decides on. It is read lazily: an adapter wraps
what its server handed over (:class:`ScopeRequest` an ASGI scope,
:class:`EnvironRequest` a WSGI environ) in O(1), and a value is computed
only when a decision asks for it — on the hot path, only the
``Authorization`` header. Both views are protocol-level (PEP 3333, the ASGI
specification), so every framework on a protocol shares one: Starlette,
FastAPI and Django's ASGI face use :class:`ScopeRequest`; Flask, Werkzeug
and Django's WSGI face :class:`EnvironRequest`.

:class:`Credentials` is what the layer found in a request: the token, its
scheme and where it came from.

The token cookie (:mod:`jwt_guard._cookie`) gives :attr:`Credentials.source`
``"cookie"``; its cross-origin check (:mod:`jwt_guard._csrf`) reads
:attr:`Request.method`, the ``Origin`` and ``Sec-Fetch-Site`` headers and
the request's own origin, which :func:`jwt_guard._origin.own_origin` alone
computes: the configured ``public_url``'s origin, else :attr:`Request.scheme`
and :attr:`Request.host`.

Seams for later features (nothing here implements them yet):

- DPoP (RFC 9449, checked by :mod:`jwt_guard._dpop`): :attr:`Credentials.scheme`
  becomes ``"DPoP"`` and the proof comes from ``header_values("dpop")``; the
  ``htm``/``htu`` check reads :attr:`Request.method` and :meth:`Request.url`.

The URL and the origin as the client sees them
----------------------------------------------
:meth:`Request.url` and :meth:`Request.origin` are the one place that says
which URL a request was sent to: DPoP's ``htu`` and the cross-origin check
of cookie credentials both ask them, with the middleware's ``public_url``
(:class:`~jwt_guard._origin.PublicURL`) when one is configured. The
path is the whole path the server received (ASGI ``path``, which includes
``root_path``; WSGI ``SCRIPT_NAME`` + ``PATH_INFO``), percent-encoded as
the client sent it when the server kept that (ASGI ``raw_path``, WSGI
``REQUEST_URI``/``RAW_URI``), re-encoded otherwise. ``X-Forwarded-*`` is
never read.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote, unquote_to_bytes

if TYPE_CHECKING:
    from jwt_guard._dpop_flow import DPoPContext
    from jwt_guard._origin import PublicURL

__all__ = [
    "Credentials",
    "EnvironRequest",
    "Request",
    "ScopeRequest",
    "environ_authorization",
    "scope_header_pair",
    "scope_header_values",
]

#: Where credentials were found (RFC 6750 §2.1, §2.3; or the token cookie).
Source = Literal["header", "query", "cookie"]


@dataclass(frozen=True, slots=True)
class Credentials:
    """The credentials a request carries.

    Immutable: the request layer hands out the same object for the same
    header value, so the token string keeps its hash across requests.
    """

    #: The authentication scheme, as RFC 6750 names it (``"Bearer"``).
    scheme: str
    #: The access token, as sent (verification has not happened yet).
    token: str
    #: Where the token was found.
    source: Source
    #: For the ``DPoP`` scheme: the request's proof, method and URL.
    dpop: DPoPContext | None = None


class Request:
    """The values of one HTTP request (or WebSocket handshake) the request
    layer may ask for, each read on first use.

    Subclasses implement :meth:`raw_header_values`, :meth:`header_values`
    and the five properties; :meth:`header`, :meth:`url` and
    :attr:`cookies` derive from them.
    """

    __slots__ = ("_cookies",)
    _cookies: dict[str, str]  # set on first use of cookies

    def header_values(self, name: str) -> list[str]:
        """Every value of the header *name* (case-insensitive), in order; ``[]`` when absent."""
        raise NotImplementedError

    def raw_header_values(self, name: str) -> Sequence[str | bytes]:
        """Like :meth:`header_values`, each value as the server handed it over
        (bytes under ASGI): the request layer decodes only what it must."""
        raise NotImplementedError

    @property
    def method(self) -> str:
        """The request method (``"GET"`` for a WebSocket handshake)."""
        raise NotImplementedError

    @property
    def scheme(self) -> str:
        """``http``, ``https``, ``ws`` or ``wss``, as the server saw it."""
        raise NotImplementedError

    @property
    def host(self) -> str:
        """The ``Host`` header, else the server's own name and port."""
        raise NotImplementedError

    @property
    def path(self) -> str:
        """The path the application routes, percent-decoded."""
        raise NotImplementedError

    @property
    def query_string(self) -> str:
        """The raw query string, without ``?`` (``""`` when there is none)."""
        raise NotImplementedError

    def header(self, name: str) -> str | None:
        """The first value of the header *name*, or ``None``."""
        values = self.header_values(name)
        return values[0] if values else None

    @property
    def target_path(self) -> str:
        """The whole path the server received (mount prefixes included),
        percent-encoded, without the query string."""
        raise NotImplementedError

    @property
    def websocket(self) -> bool:
        """True for a WebSocket handshake."""
        return False

    def url(self, public: PublicURL | None = None) -> str:
        """The URL the request was sent to, without the query string:
        ``scheme://host`` + :attr:`target_path`, or under *public* (the
        middleware's ``public_url``) when the application sits behind a
        proxy. ``ws``/``wss`` for a WebSocket handshake."""
        if public is not None:
            return public.request_url(self.target_path, websocket=self.websocket)
        return f"{self.scheme}://{self.host}{self.target_path}"

    @property
    def cookies(self) -> Mapping[str, str]:
        """The request's cookies (RFC 6265 §5.4 ``Cookie`` header), parsed
        on first use; the first of several cookies with one name wins."""
        try:
            return self._cookies
        except AttributeError:
            pass
        cookies: dict[str, str] = {}
        for value in self.header_values("cookie"):
            for pair in value.split(";"):
                name, sep, content = pair.partition("=")
                name = name.strip(" \t")
                if sep and name and name not in cookies:
                    cookies[name] = content.strip(" \t")
        self._cookies = cookies
        return cookies


def scope_header_values(scope: Mapping[str, Any], key: bytes) -> list[bytes]:
    """The values of the header *key* (lower-case bytes) in an ASGI scope, as sent."""
    values: list[bytes] = []
    for header, value in scope["headers"]:  # a plain loop: cheaper than a comprehension
        if header == key:
            values.append(value)
    return values


# RFC 3986 §3.3: what a path segment holds besides unreserved characters, and "/".
_PATH_SAFE = "/:@!$&'()*+,;="


def _encoded(raw: str, decoded: str) -> str:
    """*raw* (a path as sent, maybe with a query) if it is *decoded*
    percent-encoded, else *decoded* encoded afresh."""
    raw = raw.partition("?")[0]
    if raw.startswith("/") and unquote(raw) == decoded:
        return raw
    return quote(decoded, safe=_PATH_SAFE)


def scope_header_pair(scope: Mapping[str, Any], first: bytes, second: bytes) -> tuple[list[bytes], list[bytes]]:
    """The values of two headers (lower-case bytes) in an ASGI scope, in one pass."""
    ones: list[bytes] = []
    twos: list[bytes] = []
    for header, value in scope["headers"]:
        if header == first:
            ones.append(value)
        elif header == second:
            twos.append(value)
    return ones, twos


# Header names as ASGI scopes hold them, for the names the request layer asks for.
_SCOPE_KEYS = {name: name.encode("latin-1") for name in ("authorization", "cookie", "dpop", "host", "origin")}


class ScopeRequest(Request):
    """A :class:`Request` over an ASGI ``http`` or ``websocket`` scope.

    Header names in a scope are lower-case byte strings (ASGI specification);
    values are decoded as latin-1, byte for byte.
    """

    __slots__ = ("scope",)

    def __init__(self, scope: Mapping[str, Any]) -> None:
        self.scope = scope

    def header_values(self, name: str) -> list[str]:
        return [value.decode("latin-1") for value in self.raw_header_values(name)]

    def raw_header_values(self, name: str) -> list[bytes]:
        return scope_header_values(self.scope, _SCOPE_KEYS.get(name) or name.lower().encode("latin-1"))

    @property
    def method(self) -> str:
        method: str = self.scope.get("method", "GET")
        return method

    @property
    def scheme(self) -> str:
        default = "ws" if self.scope.get("type") == "websocket" else "http"
        scheme: str = self.scope.get("scheme") or default
        return scheme

    @property
    def host(self) -> str:
        host = self.header("host")
        if host is not None:
            return host
        server = self.scope.get("server")
        if not server:
            return ""
        name, port = server[0], server[1]
        return name if port is None else f"{name}:{port}"

    @property
    def path(self) -> str:
        path: str = self.scope["path"]
        return path

    @property
    def query_string(self) -> str:
        query: bytes = self.scope.get("query_string") or b""
        return query.decode("latin-1")

    @property
    def target_path(self) -> str:
        raw = self.scope.get("raw_path")
        path: str = self.scope["path"]
        return _encoded(raw.decode("latin-1") if isinstance(raw, bytes) else "", path)

    @property
    def websocket(self) -> bool:
        return self.scope.get("type") == "websocket"


# An auth-scheme (RFC 9110 §11.1) followed by whitespace and something that is
# not "=": the start of a set of credentials, as opposed to an auth-param.
_CREDENTIALS_START = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]+[^ \t=]")
# PEP 3333: these two headers arrive without the HTTP_ prefix.
_UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})


def _split_list(value: str) -> list[str]:
    """The elements of an RFC 9110 §5.6.1 comma-separated list, commas inside
    quoted strings (§5.6.4, with quoted-pairs) kept, whitespace trimmed."""
    elements: list[str] = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            elements.append(value[start:index].strip())
            start = index + 1
    elements.append(value[start:].strip())
    return [element for element in elements if element]


def _authorization_values(value: str) -> list[str]:
    """The ``Authorization`` headers behind one WSGI value.

    WSGI servers join repeated headers with ``,`` (Werkzeug, gunicorn). A
    bearer token68 never holds a comma; otherwise split the list and count
    the elements that open a new set of credentials: one Digest header with
    auth-params is one header, ``"Bearer a,Bearer b"`` two.
    """
    if "," not in value:
        return [value]
    parts = [part for part in _split_list(value) if _CREDENTIALS_START.match(part)]
    return parts if len(parts) > 1 else [value]


def environ_authorization(environ: Mapping[str, Any]) -> list[str]:
    """The ``Authorization`` headers of a WSGI environ (see :func:`_authorization_values`)."""
    value: str | None = environ.get("HTTP_AUTHORIZATION")
    return [] if value is None else _authorization_values(value)


class EnvironRequest(Request):
    """A :class:`Request` over a WSGI environ (or a Django ``request.META``).

    WSGI gives one value per header name, repeated headers joined with
    ``,``: :meth:`header_values` returns that one value, except for
    ``Authorization``, which is split back into its sets of credentials.
    Some servers drop ``Authorization`` unless told otherwise (mod_wsgi
    needs ``WSGIPassAuthorization On``): the request then looks anonymous.
    """

    __slots__ = ("environ",)

    def __init__(self, environ: Mapping[str, Any]) -> None:
        self.environ = environ

    def header_values(self, name: str) -> list[str]:
        key = name.upper().replace("-", "_")
        value = self.environ.get(key if key in _UNPREFIXED else "HTTP_" + key)
        if value is None:
            return []
        if key == "AUTHORIZATION":
            return _authorization_values(value)
        if key == "DPOP" and "," in value:
            # Joined repeated headers: a compact JWS holds no comma (RFC 7515 §7.1).
            return [part.strip() for part in value.split(",")]
        return [value]

    def raw_header_values(self, name: str) -> list[str]:
        return self.header_values(name)

    @property
    def method(self) -> str:
        method: str = self.environ.get("REQUEST_METHOD") or "GET"
        return method

    @property
    def scheme(self) -> str:
        scheme: str = self.environ.get("wsgi.url_scheme") or "http"
        return scheme

    @property
    def host(self) -> str:
        host: str | None = self.environ.get("HTTP_HOST")
        if host:
            return host
        name = self.environ.get("SERVER_NAME") or ""
        port = self.environ.get("SERVER_PORT")
        return f"{name}:{port}" if port else name

    @property
    def path(self) -> str:
        path: str = self.environ.get("PATH_INFO") or "/"
        if not path.isascii():
            # PEP 3333: the bytes of the path, decoded as latin-1 (a server that
            # already decoded UTF-8 sends characters latin-1 cannot hold).
            with contextlib.suppress(UnicodeEncodeError):
                path = path.encode("latin-1").decode("utf-8", "replace")
        return path

    @property
    def query_string(self) -> str:
        query: str = self.environ.get("QUERY_STRING") or ""
        return query

    @property
    def target_path(self) -> str:
        environ = self.environ
        # PEP 3333: the bytes of SCRIPT_NAME and PATH_INFO, as latin-1 text.
        path = (environ.get("SCRIPT_NAME") or "") + (environ.get("PATH_INFO") or "")
        try:
            data = path.encode("latin-1")
        except UnicodeEncodeError:
            data = path.encode("utf-8")
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
        raw = raw.partition("?")[0]
        if raw.startswith("/") and unquote_to_bytes(raw) == data:
            return str(raw)
        return quote(data, safe=_PATH_SAFE) or "/"
