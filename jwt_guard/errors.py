"""The jwt_guard error tree.

Every error a request can cause carries its HTTP meaning, so adapters never
have to guess::

    JWTGuardError
    ├── AuthError                 .status_code .error .description .www_authenticate()
    │   ├── MissingToken          401, no error code           (RFC 6750 §3.1)
    │   ├── InvalidRequest        400, "invalid_request"
    │   ├── InvalidToken          401, "invalid_token"
    │   │   ├── MalformedToken
    │   │   │   └── TokenTooLarge
    │   │   ├── UnsupportedAlgorithm
    │   │   ├── UnknownKey
    │   │   ├── InvalidSignature
    │   │   ├── ExpiredToken
    │   │   ├── NotYetValid
    │   │   ├── InvalidClaim
    │   │   │   ├── MissingClaim
    │   │   │   ├── InvalidIssuer
    │   │   │   ├── InvalidAudience
    │   │   │   └── InvalidTokenType
    │   │   └── TokenRevoked
    │   ├── InsufficientScope     403, "insufficient_scope"     .required_scopes
    │   └── InsufficientUserAuthentication
    │                             401, "insufficient_user_authentication"
    │                             .acr_values .max_age          (RFC 9470 step-up)
    ├── CrossOriginRequest        403, "cross_origin_request"   (cookie credentials, no challenge)
    ├── TemporarilyUnavailable    503 + Retry-After             .retry_after
    │   ├── KeySetUnavailable     no usable signing keys
    │   └── StoreUnavailable      the revocation/replay store cannot be trusted
    └── ConfigurationError        raised by constructors, never by a request

Descriptions are short, fixed phrases that are safe to send to clients: they
never contain the token, key material or anything else taken from the request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from jwt_guard._auth_syntax import challenge_value

__all__ = [
    "AuthError",
    "ConfigurationError",
    "CrossOriginRequest",
    "ExpiredToken",
    "InsufficientScope",
    "InsufficientUserAuthentication",
    "InvalidAudience",
    "InvalidClaim",
    "InvalidIssuer",
    "InvalidRequest",
    "InvalidSignature",
    "InvalidToken",
    "InvalidTokenType",
    "JWTGuardError",
    "KeySetUnavailable",
    "MalformedToken",
    "MissingClaim",
    "MissingToken",
    "NotYetValid",
    "StoreUnavailable",
    "TemporarilyUnavailable",
    "TokenRevoked",
    "TokenTooLarge",
    "UnknownKey",
    "UnsupportedAlgorithm",
]


class JWTGuardError(Exception):
    """Base class of every error jwt_guard raises."""

    #: HTTP status an adapter answers with.
    status_code: int = 500
    #: Short description, safe to show to clients.
    description: str = "internal error"

    def __init__(self, description: str | None = None) -> None:
        if description is not None:
            self.description = description
        super().__init__(self.description)


class AuthError(JWTGuardError):
    """The request is not authorised; the client can do something about it."""

    status_code = 401
    #: RFC 6750 §3.1 error code, or ``None`` when the request had no credentials.
    error: str | None = None
    description = "authentication required"
    #: The authentication scheme whose challenge answers this error: the
    #: scheme the request used (``"DPoP"`` for a DPoP request, RFC 9449 §7.1).
    scheme: str = "Bearer"

    def challenge_params(self) -> list[tuple[str, str]]:
        """The RFC 6750 auth-params of this error, in order (realm excluded)."""
        if self.error is None:
            return []
        return [("error", self.error), ("error_description", self.description)]

    def www_authenticate(self, realm: str | None = None) -> str:
        """The ``WWW-Authenticate`` header value answering this error."""
        return challenge_value(self.scheme, realm, self.challenge_params())


class MissingToken(AuthError):
    """The request carried no access token (RFC 6750 §3.1: no error code)."""

    status_code = 401
    error = None
    description = "an access token is required"


class InvalidRequest(AuthError):
    """The credentials could not be read: malformed header, token sent twice."""

    status_code = 400
    error = "invalid_request"
    description = "malformed authorization request"


class InvalidToken(AuthError):
    """The access token is not acceptable (RFC 6750 ``invalid_token``)."""

    status_code = 401
    error = "invalid_token"
    description = "the access token is invalid"


class MalformedToken(InvalidToken):
    """The token is not a well-formed compact JWS carrying a JWT."""

    description = "the access token is malformed"


class TokenTooLarge(MalformedToken):
    """The token is larger than the configured size cap."""

    description = "the access token is too large"


class UnsupportedAlgorithm(InvalidToken):
    """The token's ``alg`` is not in the configured allowlist."""

    description = "the token's signing algorithm is not accepted"


class UnknownKey(InvalidToken):
    """No configured key matches the token's ``kid`` and ``alg``."""

    description = "no key matches the token"


class InvalidSignature(InvalidToken):
    """The signature does not verify with the selected key."""

    description = "the token's signature is invalid"


class ExpiredToken(InvalidToken):
    """The token is past its ``exp`` (or older than ``max_token_age``)."""

    description = "the access token has expired"


class NotYetValid(InvalidToken):
    """The token's ``nbf`` or ``iat`` lies in the future."""

    description = "the access token is not yet valid"


class InvalidClaim(InvalidToken):
    """A claim is missing, has the wrong type, or was refused by a validator."""

    description = "the access token has an invalid claim"


class MissingClaim(InvalidClaim):
    """A required claim is absent."""

    description = "the access token lacks a required claim"


class InvalidIssuer(InvalidClaim):
    """``iss`` is not one of the configured issuers."""

    description = "the access token has an unexpected issuer"


class InvalidAudience(InvalidClaim):
    """``aud`` does not name this API."""

    description = "the access token is not meant for this audience"


class InvalidTokenType(InvalidClaim):
    """The ``typ`` header is not an accepted access-token type (RFC 9068)."""

    description = "the token is not an access token"


class TokenRevoked(InvalidToken):
    """An application validator reports the token as revoked."""

    description = "the access token has been revoked"


class InsufficientScope(AuthError):
    """The token is valid but lacks a scope the resource needs (403)."""

    status_code = 403
    error = "insufficient_scope"
    description = "the access token lacks a required scope"

    def __init__(
        self,
        required_scopes: Iterable[str] = (),
        description: str | None = None,
    ) -> None:
        #: The scopes the resource asked for, in their declared order.
        self.required_scopes: tuple[str, ...] = tuple(required_scopes)
        super().__init__(description)

    def challenge_params(self) -> list[tuple[str, str]]:
        params = super().challenge_params()
        if self.required_scopes:
            params.append(("scope", " ".join(self.required_scopes)))
        return params


class InsufficientUserAuthentication(AuthError):
    """The token is valid but its user authentication is not strong or
    recent enough for the resource (RFC 9470 step-up, 401).

    The challenge names what the resource needs, so that the client can send
    the user back to the authorization server with those values:
    ``acr_values`` (the acceptable ``acr`` claims, in order of preference)
    and/or ``max_age`` (seconds since the user last authenticated actively).
    """

    status_code = 401
    error = "insufficient_user_authentication"
    description = "a different or more recent user authentication is required"

    def __init__(
        self,
        description: str | None = None,
        *,
        acr_values: Iterable[str] = (),
        max_age: int | None = None,
    ) -> None:
        #: The acceptable ``acr`` values, in order of preference (empty: any).
        self.acr_values: tuple[str, ...] = tuple(acr_values)
        #: The longest time in seconds since the last authentication, or ``None``.
        self.max_age: int | None = max_age
        super().__init__(description)

    def challenge_params(self) -> list[tuple[str, str]]:
        # RFC 9470 §3: acr_values is space-separated, max_age a number of seconds.
        params = super().challenge_params()
        if self.acr_values:
            params.append(("acr_values", " ".join(self.acr_values)))
        if self.max_age is not None:
            params.append(("max_age", str(self.max_age)))
        return params


class CrossOriginRequest(JWTGuardError):
    """A request with an unsafe method that carries the token cookie came
    from another origin (a possible cross-site request forgery): 403.

    Not an :class:`AuthError`: the credentials may be fine, the page that
    sent them is not trusted, so the answer has no ``WWW-Authenticate``
    challenge (authenticating again cannot help). The body is JSON with
    ``error="cross_origin_request"``.
    """

    status_code = 403
    #: The ``error`` member of the JSON body.
    error = "cross_origin_request"
    description = "cross-origin request refused"


class TemporarilyUnavailable(JWTGuardError):
    """A dependency of verification is unavailable for now (503).

    Not the client's fault: adapters answer ``503 Service Unavailable`` with
    ``Retry-After`` and no bearer error.
    """

    status_code = 503
    description = "authentication is temporarily unavailable"

    def __init__(self, description: str | None = None, *, retry_after: float = 30) -> None:
        #: Whole seconds after which a retry may succeed (``Retry-After``).
        self.retry_after: int = max(1, math.ceil(retry_after))
        super().__init__(description)


class KeySetUnavailable(TemporarilyUnavailable):
    """Signing keys could not be obtained and none usable are cached (503).

    A key-server outage is not the client's fault: adapters answer
    ``503 Service Unavailable`` with ``Retry-After`` and no bearer error.
    """

    description = "signing keys are temporarily unavailable"


class StoreUnavailable(TemporarilyUnavailable):
    """The revocation or replay store cannot be trusted right now (503).

    Raised with ``store_failure="closed"`` while a store's local mirror is
    not (or no longer) known to be current, or a store operation failed.
    """

    description = "revocation status is temporarily unavailable"


class ConfigurationError(JWTGuardError, ValueError):
    """Invalid configuration; raised at construction, never per request."""

    status_code = 500
    description = "invalid configuration"
