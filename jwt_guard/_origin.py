"""Origins (RFC 6454) and the public URL of an API: which site a request came
from, and which site the API is.

An origin is ``scheme://host[:port]`` (RFC 6454 §6.2, the ASCII
serialisation browsers send in ``Origin``): scheme and host in lower case,
the scheme's default port left out. :func:`parse_origin` turns a header
value or a configured entry into that form, or says it is not one;
two origins are the same when their serialisations are equal.

The request's own origin is what an ``Origin`` header is compared with.
Behind a proxy or a mount prefix the API does not see the URL its clients
use: the proxy may end TLS (the server sees ``http``) or rewrite ``Host``.
:class:`PublicURL` is the URL clients use, configured once
(``public_url=`` on the middlewares); when it is given, it defines the own
origin (and the URL that DPoP proofs name), otherwise :func:`own_origin`
takes the request's scheme and ``Host``. Both faces of the request layer read
it through :func:`own_origin` only. DPoP's ``htu`` check (RFC 9449 §4.3) asks
:meth:`PublicURL.request_url` for the whole URL the same way.

``X-Forwarded-*`` and ``Forwarded`` headers are never read here: any client
can send them. Let the server rewrite the request from a proxy it trusts
(uvicorn ``--proxy-headers --forwarded-allow-ips``, gunicorn
``forwarded_allow_ips``, Werkzeug's ``ProxyFix``), or configure
``public_url``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from jwt_guard._url import normalize_url
from jwt_guard.errors import ConfigurationError

__all__ = ["PublicURL", "check_trusted_origin", "own_origin", "parse_origin"]

# Web origins only: a page served over http or https. A WebSocket handshake
# comes from such a page, so ws and wss map to the origin of its scheme.
_ORIGIN_SCHEMES = frozenset({"http", "https"})
_WEBSOCKET_SCHEMES = {"ws": "http", "wss": "https"}
# A normalised origin's authority: a host name (RFC 3986 unreserved characters
# only: no "*" or other sub-delims, which no DNS name holds) or an IPv6
# literal, then an optional port.
_AUTHORITY = re.compile(r"(?:[a-z0-9\-._~]+|\[[0-9a-f:.]+\])(?::[0-9]+)?")


def parse_origin(value: str) -> str | None:
    """The serialised origin *value* names, normalised; ``None`` unless it is
    exactly ``http(s)://host[:port]`` (no path, query, fragment or user
    information; ``null`` is not an origin that can match anything)."""
    scheme, sep, rest = value.partition("://")
    if not sep or scheme.lower() not in _ORIGIN_SCHEMES or not rest:
        return None
    if "/" in rest or "?" in rest or "#" in rest:
        return None
    url = normalize_url(value)  # host syntax, port range, IPv6, case: "scheme://host[:port]/"
    if url is None or not _AUTHORITY.fullmatch(url, url.index("//") + 2, len(url) - 1):
        return None
    return url[:-1]


def check_trusted_origin(entry: object) -> str:
    """*entry* of ``trusted_origins``, normalised; :class:`ConfigurationError`
    with the reason when it is not ``scheme://host[:port]``."""
    if not isinstance(entry, str):
        raise ConfigurationError(f"trusted_origins entries must be strings, not {type(entry).__name__}")
    origin = parse_origin(entry)
    if origin is not None:
        return origin
    if entry.strip().lower() == "null" or "*" in entry:
        raise ConfigurationError(
            f"trusted_origins entry {entry!r}: only concrete origins such as 'https://app.example.com' can be trusted"
        )
    scheme, sep, rest = entry.partition("://")
    if sep and scheme.lower() in _ORIGIN_SCHEMES:
        host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        suggestion = parse_origin(f"{scheme}://{host}")
        if suggestion is not None:
            raise ConfigurationError(
                f"trusted_origins entry {entry!r} has a path, query or fragment: an origin is "
                f"scheme://host[:port] (did you mean {suggestion!r}?)"
            )
    raise ConfigurationError(
        f"trusted_origins entry {entry!r} is not an origin: expected http(s)://host[:port], "
        "with an ASCII host (IDNA A-label)"
    )


class _Addressed(Protocol):
    """What :func:`own_origin` reads of a request (a
    :class:`~jwt_guard._request.Request`, which itself reads this module)."""

    @property
    def scheme(self) -> str: ...

    @property
    def host(self) -> str: ...


@dataclass(frozen=True)
class PublicURL:
    """The URL clients use to reach the API (through proxies and mount
    prefixes), given as ``public_url=``.

    :attr:`url` is normalised as :func:`~jwt_guard._url.normalize_url` does
    (its path kept, ``/`` when empty); :attr:`origin` is its origin.
    """

    url: str
    origin: str

    @classmethod
    def parse(cls, value: object) -> PublicURL:
        """Check *value*; :class:`ConfigurationError` unless it is an absolute
        http(s) URL with a host and no query, fragment or user information."""
        if not isinstance(value, str):
            raise ConfigurationError(f"public_url must be a URL string, not {type(value).__name__}")
        url = None if "?" in value or "#" in value else normalize_url(value)
        if url is None or not url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"public_url {value!r} must be an absolute http(s) URL such as 'https://api.example.com' "
                "(no query, fragment or user information)"
            )
        end = url.index("/", len("https://") if url.startswith("https") else len("http://"))
        return cls(url=url, origin=url[:end])

    def request_url(self, target_path: str, *, websocket: bool = False) -> str:
        """The URL a client used for *target_path* (the whole path the server
        received, percent-encoded): this URL's path is put in front of it, so
        a proxy that strips ``/v1`` is answered with ``public_url=".../v1"``;
        ``ws``/``wss`` for a WebSocket handshake (RFC 6455 §3)."""
        prefix = self.url[len(self.origin) :].rstrip("/")
        origin = self.origin
        if websocket:
            origin = "ws" + origin[4:]  # http -> ws, https -> wss
        return f"{origin}{prefix}{target_path}"


def own_origin(request: _Addressed, public_url: PublicURL | None) -> str | None:
    """The origin *request* was sent to: *public_url*'s when configured, else
    the request's scheme and ``Host`` (``None`` when those do not form one).

    The ``Host`` header is the client's word, but a browser always sends the
    host it is talking to, which is all a cross-origin check needs.
    """
    if public_url is not None:
        return public_url.origin
    scheme = request.scheme
    return parse_origin(f"{_WEBSOCKET_SCHEMES.get(scheme, scheme)}://{request.host}")
