"""Errors as HTTP answers: status, headers and JSON body, with no I/O.

Both adapters send exactly what :func:`render` returns, so the ASGI and WSGI
faces cannot drift apart.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from jwt_guard.errors import AuthError, JWTGuardError, TemporarilyUnavailable

__all__ = ["Challenge", "bearer_challenge", "quote_param", "render"]

# RFC 6750 §3: error and error_description values are limited to
# %x20-21 / %x23-5B / %x5D-7E, and scope tokens to %x21 / %x23-5B / %x5D-7E.
_NOT_DESCRIPTION_CHAR = re.compile(r"[^\x20\x21\x23-\x5b\x5d-\x7e]")
# RFC 9110 §5.6.4: quoted-string; backslash-escape the two special characters
# and drop anything a header value cannot carry.
_NOT_QDTEXT = re.compile(r"[^\t\x20-\x7e]")
_QUOTED_SPECIAL = re.compile(r'(["\\])')


def quote_param(value: str) -> str:
    """Render *value* as an RFC 9110 quoted-string."""
    return '"' + _QUOTED_SPECIAL.sub(r"\\\1", _NOT_QDTEXT.sub("", value)) + '"'


def _safe_value(name: str, value: str) -> str:
    if name == "error_description":
        return _NOT_DESCRIPTION_CHAR.sub("?", value)
    if name == "scope":
        # scope = scope-token *( SP scope-token ): no empty tokens left behind.
        return " ".join(token for token in (_NOT_DESCRIPTION_CHAR.sub("", part) for part in value.split(" ")) if token)
    return value


def bearer_challenge(realm: str | None, params: list[tuple[str, str]]) -> str:
    """Build a ``Bearer`` challenge (RFC 6750 §3) from ordered auth-params."""
    parts: list[str] = []
    if realm is not None:
        parts.append(f"realm={quote_param(realm)}")
    for name, value in params:
        parts.append(f"{name}={quote_param(_safe_value(name, value))}")
    return "Bearer " + ", ".join(parts) if parts else "Bearer"


@dataclass(frozen=True)
class Challenge:
    """What an adapter sends for an error: status line, headers, body."""

    status_code: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first header called *name* (case-insensitive), if any."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None


def render(error: JWTGuardError, *, realm: str | None = None) -> Challenge:
    """Turn *error* into the HTTP answer DESIGN.md's semantics table gives.

    401/400/403 answers carry ``WWW-Authenticate: Bearer …``; a 503 carries
    ``Retry-After`` and no bearer error, since an unreachable key server or
    revocation store is not the client's fault. Bodies are JSON and never cached.
    """
    headers: list[tuple[str, str]] = [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ]
    if isinstance(error, AuthError):
        headers.append(("www-authenticate", bearer_challenge(realm, error.challenge_params())))
        code = error.error or "unauthorized"
    elif isinstance(error, TemporarilyUnavailable):
        headers.append(("retry-after", str(error.retry_after)))
        code = "temporarily_unavailable"
    else:
        code = "server_error"
    body = {"error": code, "error_description": _NOT_DESCRIPTION_CHAR.sub("?", error.description)}
    if isinstance(error, AuthError) and error.status_code == 403:
        scopes = getattr(error, "required_scopes", ())
        if scopes:
            body["scope"] = " ".join(scopes)
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers.append(("content-length", str(len(payload))))
    return Challenge(error.status_code, tuple(headers), payload)
