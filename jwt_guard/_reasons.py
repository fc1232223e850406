"""Reason codes: one stable, low-cardinality name for each kind of refusal.

Log lines, ``token_rejected`` events and metrics all name the reason a
request was refused with :func:`reason_code`, so a dashboard, a log search
and an alert agree. The codes are fixed strings from :data:`REASON_CODES`;
an error class without an entry of its own takes the code of its nearest
listed base class, so the set of codes stays small whatever subclasses
appear.

Errors may also carry *details*: the expected and the received value of the
claim at fault (``iss``, ``aud``, ``exp`` …), never the token itself.
Received values come from an untrusted token: :func:`shown` bounds them
before they are stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from jwt_guard._dpop_errors import (
    DPoPProofReplayed,
    DPoPRequired,
    DPoPTokenAsBearer,
    InvalidDPoPBinding,
    InvalidDPoPProof,
    UseDPoPNonce,
)
from jwt_guard._introspection import InactiveToken, IntrospectionUnavailable
from jwt_guard.errors import (
    AuthError,
    ConfigurationError,
    CrossOriginRequest,
    ExpiredToken,
    InsufficientScope,
    InsufficientUserAuthentication,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidRequest,
    InvalidSignature,
    InvalidToken,
    InvalidTokenType,
    JWTGuardError,
    KeySetUnavailable,
    MalformedToken,
    MissingClaim,
    MissingToken,
    NotYetValid,
    StoreUnavailable,
    TemporarilyUnavailable,
    TokenRevoked,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
)

__all__ = ["REASON_CODES", "details_of", "reason_code", "shown", "with_details"]

#: The reason code of each error class. Subclasses not listed inherit the
#: code of their nearest listed base class.
REASON_CODES: Mapping[type[BaseException], str] = MappingProxyType(
    {
        TokenTooLarge: "too_large",
        MalformedToken: "malformed",
        UnsupportedAlgorithm: "unsupported_algorithm",
        UnknownKey: "unknown_key",
        InvalidSignature: "invalid_signature",
        ExpiredToken: "expired",
        NotYetValid: "not_yet_valid",
        MissingClaim: "missing_claim",
        InvalidIssuer: "invalid_issuer",
        InvalidAudience: "invalid_audience",
        InvalidTokenType: "invalid_token_type",
        InvalidClaim: "invalid_claim",
        TokenRevoked: "revoked",
        InactiveToken: "inactive",
        DPoPTokenAsBearer: "dpop_token_as_bearer",
        DPoPRequired: "dpop_required",
        InvalidDPoPBinding: "invalid_dpop_binding",
        DPoPProofReplayed: "dpop_proof_replayed",
        UseDPoPNonce: "use_dpop_nonce",
        InvalidDPoPProof: "invalid_dpop_proof",
        InvalidToken: "invalid_token",
        MissingToken: "missing_token",
        InvalidRequest: "invalid_request",
        InsufficientScope: "insufficient_scope",
        InsufficientUserAuthentication: "insufficient_user_authentication",
        AuthError: "unauthorized",
        CrossOriginRequest: "cross_origin_request",
        KeySetUnavailable: "keys_unavailable",
        StoreUnavailable: "store_unavailable",
        IntrospectionUnavailable: "introspection_unavailable",
        TemporarilyUnavailable: "temporarily_unavailable",
        ConfigurationError: "configuration_error",
        JWTGuardError: "error",
    }
)

_E = TypeVar("_E", bound=BaseException)
# The attribute holding an error's details. Assigned through a name, since
# the error classes do not declare it.
_DETAILS = "details"
_NO_DETAILS: Mapping[str, Any] = MappingProxyType({})
#: Longest string, and most list items, kept from a received value.
MAX_SHOWN_CHARS = 100
MAX_SHOWN_ITEMS = 10


def reason_code(error: BaseException) -> str:
    """The reason code of *error* (``"expired"``, ``"invalid_audience"`` …).

    One of the values of :data:`REASON_CODES`; ``"error"`` for anything
    that is not a jwt_guard error.
    """
    for cls in type(error).__mro__:
        code = REASON_CODES.get(cls)
        if code is not None:
            return code
    return "error"


def with_details(error: _E, **details: Any) -> _E:
    """Attach *details* (expected vs received values, never the token) to
    *error* and return it."""
    setattr(error, _DETAILS, MappingProxyType(details))
    return error


def details_of(error: BaseException) -> Mapping[str, Any]:
    """The details attached to *error* (empty when none were)."""
    details = getattr(error, _DETAILS, None)
    return details if isinstance(details, Mapping) else _NO_DETAILS


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else repr(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_SHOWN_CHARS else value[:MAX_SHOWN_CHARS] + "..."
    return f"<{type(value).__name__}>"


def shown(value: Any) -> Any:
    """A received *value* made safe to keep and print: strings cut at
    :data:`MAX_SHOWN_CHARS`, lists at :data:`MAX_SHOWN_ITEMS` items (their
    items scalars only), anything else named by its type."""
    if isinstance(value, list):
        items = [_scalar(item) for item in value[:MAX_SHOWN_ITEMS]]
        if len(value) > MAX_SHOWN_ITEMS:
            items.append(f"... ({len(value) - MAX_SHOWN_ITEMS} more)")
        return items
    return _scalar(value)
