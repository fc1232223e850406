"""Errors as answers: HTTP status, headers and JSON body, or a WebSocket close, with no I/O.

Every adapter sends exactly what :func:`render_error` (or, for a WebSocket
that cannot get an HTTP denial, :func:`websocket_close`) returns, so the
ASGI, WSGI and FastAPI faces cannot drift apart. The header syntax (quoting,
allowed characters) lives in :mod:`jwt_guard._auth_syntax`.

Each error renders the challenge of its own scheme
(:meth:`~jwt_guard.AuthError.www_authenticate`: ``Bearer``, or ``DPoP`` for
the errors of :mod:`jwt_guard._dpop_errors`). Where the middlewares' DPoP
support joins: a ``DPoP`` challenge next to the ``Bearer`` one when both
schemes are accepted (RFC 9449 §7.2) and the ``DPoP-Nonce`` header are more
values from :func:`_challenges`, and ``resource_metadata`` (RFC 9728 §5.1)
one more auth-param of each; all are settings of the
:class:`~jwt_guard.Responder` that calls :func:`render_error`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jwt_guard._auth_syntax import add_auth_param, safe_description
from jwt_guard._dpop_errors import scheme_headers
from jwt_guard.errors import AuthError, CrossOriginRequest, JWTGuardError, TemporarilyUnavailable

if TYPE_CHECKING:
    from jwt_guard._dpop_options import DPoPOptions

__all__ = ["WS_POLICY_VIOLATION", "WS_TRY_AGAIN_LATER", "Challenge", "render_error", "websocket_close"]

#: RFC 6455 §7.4.1: 1008 "policy violation" closes a WebSocket whose
#: credentials were refused; 1013 "try again later" when verification is
#: temporarily unavailable (not the client's fault).
WS_POLICY_VIOLATION = 1008
WS_TRY_AGAIN_LATER = 1013
# RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 of them the code.
_CLOSE_REASON_BYTES = 123


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


def _challenges(error: AuthError, realm: str | None, resource_metadata: str | None = None) -> list[str]:
    """The ``WWW-Authenticate`` values answering *error*: the challenge of
    its own scheme (``Bearer``, or ``DPoP`` for the DPoP errors), with
    ``resource_metadata`` (RFC 9728 §5.1) when given."""
    challenge = error.www_authenticate(realm)
    if resource_metadata is not None:
        challenge = add_auth_param(challenge, "resource_metadata", resource_metadata)
    return [challenge]


def render_error(
    error: JWTGuardError,
    *,
    realm: str | None = None,
    resource_metadata: str | None = None,
    dpop: DPoPOptions | None = None,
) -> Challenge:
    """Turn *error* into its HTTP answer (the table in the README, "HTTP semantics").

    401/400/403 answers carry ``WWW-Authenticate: Bearer …`` (with *realm*
    when given, and *resource_metadata*, the URL of the API's RFC 9728
    metadata, last); a 503 carries ``Retry-After`` and no bearer error, since an
    unreachable key server or revocation store is not the client's fault. Bodies are JSON
    ``{"error", "error_description"[, "scope"]}`` and never cached.

    With *dpop* (the verifier's :class:`~jwt_guard.DPoPOptions`), the
    challenges name every scheme the API accepts: ``DPoP algs="…"`` and,
    unless DPoP is required, ``Bearer``, one header field each, the error on
    the scheme the request used; a nonce error adds ``DPoP-Nonce``.
    """
    headers: list[tuple[str, str]] = [
        ("content-type", "application/json"),
        ("cache-control", "no-store"),
    ]
    if isinstance(error, AuthError) and dpop is not None:
        for name, value in scheme_headers(error, realm, algorithms=dpop.algorithms, bearer=not dpop.required):
            if name == "www-authenticate" and resource_metadata is not None:
                value = add_auth_param(value, "resource_metadata", resource_metadata)
            headers.append((name, value))
        code = error.error or "unauthorized"
    elif isinstance(error, AuthError):
        headers.extend(("www-authenticate", value) for value in _challenges(error, realm, resource_metadata))
        code = error.error or "unauthorized"
    elif isinstance(error, TemporarilyUnavailable):
        headers.append(("retry-after", str(error.retry_after)))
        code = "temporarily_unavailable"
    elif isinstance(error, CrossOriginRequest):
        code = error.error  # 403 without a challenge: new credentials would not help
    else:
        code = "server_error"
    body = {"error": code, "error_description": safe_description(error.description)}
    if isinstance(error, AuthError) and error.status_code == 403:
        scopes = getattr(error, "required_scopes", ())
        if scopes:
            body["scope"] = " ".join(scopes)
    payload = json.dumps(body, separators=(",", ":")).encode()
    headers.append(("content-length", str(len(payload))))
    return Challenge(error.status_code, tuple(headers), payload)


# The name render_error had before it was exported as jwt_guard.render_error.
render = render_error


def websocket_close(error: JWTGuardError) -> tuple[int, str]:
    """The close code and reason refusing a WebSocket that cannot get an HTTP
    denial response (RFC 6455 §7.4.1): 1013 when verification is temporarily
    unavailable (keys, revocation store), else 1008."""
    code = WS_TRY_AGAIN_LATER if isinstance(error, TemporarilyUnavailable) else WS_POLICY_VIOLATION
    reason = error.description.encode("utf-8")[:_CLOSE_REASON_BYTES].decode("utf-8", "ignore")
    return code, reason
