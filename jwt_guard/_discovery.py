"""Fetching an issuer's metadata document (OpenID Connect Discovery 1.0,
RFC 8414), as a generator of requests like every other fetch.

Pure: it yields :class:`~jwt_guard._wire.Request` values and receives
replies. What to take from the document (``jwks_uri``,
``introspection_endpoint``), and what an issuer mismatch means, is the
caller's decision.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from jwt_guard._token import decode_json_object
from jwt_guard._wire import Failure, Reply, Request

__all__ = ["DISCOVERY_STATUS", "Discovered", "discover", "discovery_urls"]

#: The fixed phrase of a metadata URL that answered an error status (the
#: status itself goes to the log only: 503 bodies never carry it).
DISCOVERY_STATUS = "discovery answered with an error status"
_ACCEPT = ("accept", "application/json")

#: ``(the URL that answered, the metadata document)``.
Discovered = tuple[str, dict[str, Any]]


def discovery_urls(issuer: str) -> tuple[str, ...]:
    """OpenID Connect discovery URL, then the RFC 8414 §3.1 form."""
    oidc = issuer.rstrip("/") + "/.well-known/openid-configuration"
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, "/.well-known/oauth-authorization-server" + path, "", ""))
    return (oidc, rfc8414) if rfc8414 != oidc else (oidc,)


def discover(issuer: str, *, allow_http: bool) -> Generator[Request, Reply, Discovered | Failure]:
    """The metadata document of *issuer*: the OpenID Connect form first,
    the RFC 8414 form when that answers 4xx. The caller checks the
    document's ``issuer`` (it must match exactly)."""
    failure = Failure("discovery_failed", "discovery failed")
    for url in discovery_urls(issuer):
        reply = yield Request(url, (_ACCEPT,), "discovery", allow_http=allow_http)
        if isinstance(reply, Failure):
            return reply
        if 400 <= reply.status < 500:
            # RFC 8414 §3.1: try the form with the well-known segment
            # inserted between host and path.
            failure = Failure("discovery_http_status", DISCOVERY_STATUS, f"HTTP {reply.status}")
            continue
        if reply.status != 200:
            return Failure("discovery_http_status", DISCOVERY_STATUS, f"HTTP {reply.status}")
        document = decode_json_object(reply.body)
        if document is None:
            return Failure("discovery_invalid_json", "the discovery document is not a JSON object")
        return url, document
    return failure
