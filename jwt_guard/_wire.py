"""Plain HTTP values exchanged between the pure policies and the I/O drivers.

A policy *yields* a :class:`Request` and receives a :class:`Reply` (a
:class:`Response`, or a :class:`Failure` when the exchange itself failed);
it never touches a socket. :mod:`jwt_guard._http` carries requests out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Failure", "Reply", "Request", "Response"]


@dataclass(frozen=True)
class Request:
    """An HTTP request a policy needs (GET, or a form POST when ``form`` is set)."""

    url: str
    headers: tuple[tuple[str, str], ...]
    purpose: str  # "discovery", "jwks", ...
    #: Whether plain http is acceptable for this URL and every redirect hop.
    #: Set from the operator's configuration (a loopback http issuer or
    #: jwks_uri, or ``allow_insecure_http``), never from a server's answer.
    allow_http: bool = False
    form: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Response:
    """A complete reply, its body already size-limited."""

    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


@dataclass(frozen=True)
class Failure:
    """An exchange (or a whole fetch) that produced nothing usable.

    ``reason`` is a stable machine-readable code; ``description`` a fixed
    phrase safe to show to clients (no URL, token or key material).
    """

    reason: str
    description: str
    #: What happened in detail (a status code, an exception name): for logs
    #: only, never shown to clients.
    detail: str = field(default="", compare=False)

    def logged(self) -> str:
        """The description with its detail, for log lines."""
        return f"{self.description} ({self.detail})" if self.detail else self.description


Reply = Response | Failure
