"""Plain HTTP values exchanged between the pure policies and the I/O drivers.

A policy *yields* a :class:`Request` and receives a :class:`Reply` (a
:class:`Response`, or a :class:`Failure` when the exchange itself failed);
it never touches a socket. :mod:`jwt_guard._http` carries requests out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Failure", "Reply", "Request", "Response"]


@dataclass(frozen=True)
class Request:
    """An HTTP request a policy needs (GET, or a form POST when ``form`` is set)."""

    url: str
    headers: tuple[tuple[str, str], ...]
    purpose: str  # "discovery", "jwks", ...
    #: Whether plain http is acceptable for this URL and every redirect hop.
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


Reply = Response | Failure
