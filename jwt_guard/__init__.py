"""jwt_guard: protect HTTP APIs with OAuth 2.0 / OpenID Connect access tokens.

The core (this package's top level) has no framework imports. Adapters live
in :mod:`jwt_guard.asgi`, :mod:`jwt_guard.wsgi` and :mod:`jwt_guard.fastapi`;
the local test issuer in :mod:`jwt_guard.testing`.
"""

from jwt_guard._access_token import AccessToken
from jwt_guard._challenge import Challenge, render_error
from jwt_guard._config import DEFAULT_ALGORITHMS, KeyCacheOptions
from jwt_guard._dpop_errors import (
    DPoPProofReplayed,
    DPoPRequired,
    DPoPTokenAsBearer,
    InvalidDPoPBinding,
    InvalidDPoPProof,
    UseDPoPNonce,
)
from jwt_guard._dpop_flow import DPoPContext
from jwt_guard._dpop_options import DPoPOptions
from jwt_guard._endpoint import Requirement
from jwt_guard._events import Event, EventKind
from jwt_guard._introspection import InactiveToken, Introspection, IntrospectionUnavailable
from jwt_guard._reasons import reason_code
from jwt_guard._resource import ProtectedResource
from jwt_guard._responder import RESPONDER_KEY, TOKEN_KEY, Responder
from jwt_guard._verifier import Verifier
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

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ALGORITHMS",
    "RESPONDER_KEY",
    "TOKEN_KEY",
    "AccessToken",
    "AuthError",
    "Challenge",
    "ConfigurationError",
    "CrossOriginRequest",
    "DPoPContext",
    "DPoPOptions",
    "DPoPProofReplayed",
    "DPoPRequired",
    "DPoPTokenAsBearer",
    "Event",
    "EventKind",
    "ExpiredToken",
    "InactiveToken",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "Introspection",
    "IntrospectionUnavailable",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidDPoPBinding",
    "InvalidDPoPProof",
    "InvalidIssuer",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidToken",
    "InvalidTokenType",
    "JWTGuardError",
    "KeyCacheOptions",
    "KeySetUnavailable",
    "MalformedToken",
    "MissingClaim",
    "MissingToken",
    "NotYetValid",
    "ProtectedResource",
    "Requirement",
    "Responder",
    "StoreUnavailable",
    "TemporarilyUnavailable",
    "TokenRevoked",
    "TokenTooLarge",
    "UnknownKey",
    "UnsupportedAlgorithm",
    "UseDPoPNonce",
    "Verifier",
    "__version__",
    "reason_code",
    "render_error",
]
