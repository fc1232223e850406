"""``public_url``: the URL under which clients reach an application.

Behind a reverse proxy, a load balancer that ends TLS, or a proxy that
strips a path prefix, the request an application server receives is not the
one the client sent: ``http://10.0.0.5:8000/items`` arrives for
``https://api.example.com/v1/items``. Two checks compare a request with what
the client saw, and both read it from here:

* DPoP: a proof names the URL it was made for (``htu``, RFC 9449 §4.3) —
  see :meth:`jwt_guard._request.Request.url`;
* the cross-origin check of cookie credentials: the request's own origin
  (RFC 6454) — see :meth:`jwt_guard._request.Request.origin`.

``public_url`` is one middleware option for both. It names where the
server's root path is reachable: its scheme and authority replace the
request's, and its path is put in front of the path the server received (so
a proxy that strips ``/v1`` is answered with ``public_url=".../v1"``; a
mount prefix that the server does see, such as Starlette's ``Mount`` or
``SCRIPT_NAME``, needs nothing). Without it, the request's own scheme and
``Host`` header count.

``X-Forwarded-*`` and ``Forwarded`` headers are never read here: any client
can send them. Let the server rewrite the request from a proxy it trusts
(uvicorn ``--proxy-headers --forwarded-allow-ips``, gunicorn
``forwarded_allow_ips``, Werkzeug's ``ProxyFix``), or configure
``public_url``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from jwt_guard._url import DEFAULT_PORTS, normalize_url
from jwt_guard.errors import ConfigurationError

__all__ = ["PublicURL", "origin_of"]

# A WebSocket handshake goes to the ws(s) twin of the http(s) URL (RFC 6455 §3).
_WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss"}
_HTTP_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


def origin_of(scheme: str, host: str) -> str:
    """The RFC 6454 §6.2 serialisation of an origin: lower-case scheme and
    host, the port only when it is not the scheme's default; a ``ws(s)``
    scheme counts as ``http(s)`` (a WebSocket handshake's origin is the
    page's)."""
    scheme = _HTTP_SCHEMES.get(scheme.lower(), scheme.lower())
    host = host.lower()
    if host.startswith("["):  # an IPv6 literal holds colons of its own
        end = host.find("]") + 1 or len(host)
        name, port = host[:end], host[end + 1 :] if host[end : end + 1] == ":" else ""
    else:
        name, _, port = host.partition(":")
    if not port or (port.isdigit() and int(port) == DEFAULT_PORTS.get(scheme)):
        return f"{scheme}://{name}"
    return f"{scheme}://{name}:{port}"


class PublicURL:
    """A validated ``public_url``: an absolute ``http`` or ``https`` URL
    without user information, query or fragment, with an optional path
    prefix (``https://example.com/api``).

    :raises ConfigurationError: for anything else.
    """

    __slots__ = ("base", "prefix", "scheme")

    def __init__(self, url: str) -> None:
        if not isinstance(url, str):
            raise ConfigurationError(f"public_url must be a string, not {type(url).__name__}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"public_url must be an absolute http(s) URL, got {url!r}")
        if parts.username is not None or parts.password is not None or parts.query or parts.fragment or "#" in url:
            raise ConfigurationError("public_url must not carry credentials, a query or a fragment")
        if normalize_url(url) is None:
            raise ConfigurationError(f"public_url is not a valid URL: {url!r}")
        #: ``http`` or ``https``.
        self.scheme = parts.scheme
        #: ``scheme://host[:port]`` as configured.
        self.base = f"{parts.scheme}://{parts.netloc}"
        #: The path in front of every request path, without a trailing ``/``.
        self.prefix = parts.path.rstrip("/")

    def url(self, path: str, *, websocket: bool = False) -> str:
        """The URL a client used to reach *path* (as the server received it,
        percent-encoded): ``ws``/``wss`` for a WebSocket handshake."""
        base = self.base
        if websocket:
            base = _WEBSOCKET_SCHEMES[self.scheme] + base[len(self.scheme) :]
        return f"{base}{self.prefix}{path}"

    def origin(self) -> str:
        """The origin clients reach the application at (RFC 6454)."""
        return origin_of(self.scheme, self.base[len(self.scheme) + 3 :])

    def __repr__(self) -> str:
        return f"PublicURL({self.base + self.prefix!r})"
