"""Claim rules for access tokens (RFC 7519 §4.1, RFC 9068 §4), applied after
the signature verified. Pure: the current time is an argument.

python-jose's claim checks are not used: a token without ``aud`` passes its
audience check and ``exp`` is optional there. Every rule here is explicit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from jwt_guard._access_token import AccessToken
from jwt_guard._config import ScopeClaim, Settings
from jwt_guard._events import logger
from jwt_guard.errors import (
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidTokenType,
    MissingClaim,
    NotYetValid,
)

__all__ = ["ClaimRules", "extract_scopes"]

# Latest NumericDate accepted: 9999-12-31T23:59:59Z. Anything larger (or a
# float like 1e308) is refused before it can overflow a datetime conversion.
MAX_NUMERIC_DATE = 253402300799
_MISSING: Any = object()
_STRING_CLAIMS = ("sub", "jti", "client_id", "azp")


def _numeric_date(name: str, value: Any) -> float:
    kind = value.__class__
    if (kind is int or kind is float) and 0 <= value <= MAX_NUMERIC_DATE:
        return value  # type: ignore[no-any-return]
    # bool is an int subclass and NaN fails both comparisons: both end here.
    raise InvalidClaim(f"the {name} claim is not a valid NumericDate")


def _walk(claims: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = claims
    for part in path:
        if not isinstance(value, Mapping):
            return _MISSING
        value = value.get(part, _MISSING)
        if value is _MISSING:
            return _MISSING
    return value


def _scope_chars_only(text: str) -> bool:
    """True when *text* holds only scope-token characters and spaces: RFC
    6749 §3.3 NQCHAR (%x21 / %x23-5B / %x5D-7E) plus SP. Printable ASCII is
    %x20-7E; of that only ``"`` and ``\\`` are outside the grammar."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def _scope_token(item: str) -> bool:
    return _scope_chars_only(item) and " " not in item and item != ""


def _dropped(source: ScopeClaim) -> None:
    # Only the claim's name: its value is token content.
    logger.debug("jwt_guard: items of the %r claim that are not RFC 6749 scope-tokens were dropped", source.name)


def extract_scopes(claims: Mapping[str, Any], sources: tuple[ScopeClaim, ...]) -> frozenset[str]:
    """Collect scopes from every configured claim.

    Each claim is either a space-delimited string (RFC 8693 §4.2 ``scope``) or
    a list of strings (Okta/Entra ``scp``, Auth0 ``permissions``, Keycloak
    roles). A name is first looked up as a top-level claim, so namespaced
    claims containing dots still work, then as a dotted path.

    .. warning::
       Scope strings are split on the ASCII space (0x20) only (RFC 6749
       §3.3), never on other whitespace: ``"read\\u00a0admin"`` is one
       item. Items (of strings and lists alike) that are not RFC 6749
       scope-tokens (a character outside ``%x21 / %x23-5B / %x5D-7E``: a
       space inside a list item, control characters, non-ASCII, ``"`` or
       ``\\``) are dropped: they grant nothing, and the token's other
       scopes still count. Empty items are dropped too.
    """
    found: set[str] = set()
    for source in sources:
        value = claims.get(source.name, _MISSING)
        if value is _MISSING and len(source.path) > 1:
            value = _walk(claims, source.path)
        if value is _MISSING or value is None:
            continue
        if isinstance(value, str):
            # Printable ASCII holds no whitespace but the space: split() then
            # cuts at spaces only, and drops empty items.
            if _scope_chars_only(value):
                found.update(value.split())
            else:
                found.update(item for item in value.split(" ") if _scope_token(item))
                _dropped(source)
        elif isinstance(value, list):
            for item in value:
                if item.__class__ is not str:
                    raise InvalidClaim(f"the {source.name} claim must hold strings")
            # One check for the whole list: valid characters throughout, and
            # exactly the joining spaces (no item holds a space).
            joined = " ".join(value)
            if _scope_chars_only(joined) and joined.count(" ") == len(value) - 1:
                found.update(value)
                found.discard("")
            else:
                found.update(item for item in value if _scope_token(item))
                _dropped(source)
        else:
            raise InvalidClaim(f"the {source.name} claim must be a string or a list of strings")
    return frozenset(found)


def _check_client(claims: dict[str, Any], client_ids: frozenset[str]) -> None:
    """The token's client must be listed: ``client_id`` (RFC 9068 §2.2) and
    ``azp`` (OpenID Connect Core §2), each when present. Both are checked so
    that no reader of either claim can see another client than this check."""
    named = False
    for name in ("client_id", "azp"):
        value = claims.get(name, _MISSING)
        if value is _MISSING:
            continue
        if value.__class__ is not str or value not in client_ids:
            raise InvalidClaim("the access token was issued to another client")
        named = True
    if not named:
        raise MissingClaim("the access token names no client (client_id or azp)")


class ClaimRules:
    """The claim checks for one :class:`~jwt_guard._config.Settings`."""

    __slots__ = (
        "_audiences",
        "_client_ids",
        "_issuers",
        "_leeway",
        "_max_age",
        "_require_exp",
        "_required",
        "_scope_claims",
        "_strict_typ",
    )

    def __init__(self, settings: Settings) -> None:
        self._issuers = frozenset(settings.issuers)
        self._audiences = None if settings.audiences is None else frozenset(settings.audiences)
        self._client_ids = None if settings.client_ids is None else frozenset(settings.client_ids)
        self._leeway = settings.leeway
        self._max_age = settings.max_token_age
        self._require_exp = settings.require_exp
        self._required = settings.required_claims
        self._scope_claims = settings.scope_claims
        self._strict_typ = settings.strict_typ

    def check_type(self, header: Mapping[str, Any]) -> None:
        """RFC 9068 §4: ``typ`` is ``at+jwt``; ``JWT`` or absent are tolerated
        unless strict, since most providers still send those."""
        typ = header.get("typ")
        if typ is None:
            if self._strict_typ:
                raise InvalidTokenType("the token is not typed as an access token (at+jwt)")
            return
        if not isinstance(typ, str):
            raise InvalidTokenType()
        media = typ.lower()
        if media.startswith("application/"):
            media = media[12:]
        if media == "at+jwt" or (media == "jwt" and not self._strict_typ):
            return
        raise InvalidTokenType()

    def check_issuer(self, claims: Mapping[str, Any]) -> str:
        iss = claims.get("iss")
        if not isinstance(iss, str) or iss not in self._issuers:
            raise InvalidIssuer()
        return iss

    def check(self, claims: dict[str, Any], now: float) -> tuple[float, float]:
        """Apply every claim rule at time *now*.

        Returns ``(not_before, not_after)``: the window in which the token
        stays acceptable, for the verified-token cache.
        """
        leeway = self._leeway
        get = claims.get
        not_after = math.inf
        not_before = -math.inf

        exp = get("exp", _MISSING)
        if exp is _MISSING:
            if self._require_exp:
                raise MissingClaim("the access token has no expiry (exp)")
        else:
            not_after = _numeric_date("exp", exp) + leeway
            if now >= not_after:
                raise ExpiredToken()

        nbf = get("nbf", _MISSING)
        if nbf is not _MISSING:
            not_before = _numeric_date("nbf", nbf) - leeway
            if now < not_before:
                raise NotYetValid()

        iat = get("iat", _MISSING)
        if iat is not _MISSING:
            iat = _numeric_date("iat", iat)
            if iat - leeway > now:
                raise NotYetValid("the access token was issued in the future")
        if self._max_age is not None:
            if iat is _MISSING:
                raise MissingClaim("the access token has no issue time (iat)")
            not_after = min(not_after, iat + self._max_age + leeway)
            if now >= not_after:
                raise ExpiredToken("the access token is too old")

        iss = get("iss")
        if iss.__class__ is not str or iss not in self._issuers:
            raise InvalidIssuer()

        audiences = self._audiences
        if audiences is not None:
            aud = get("aud")
            if aud.__class__ is str:
                if aud not in audiences:
                    raise InvalidAudience()
            elif aud.__class__ is list and aud and all(item.__class__ is str for item in aud):
                if audiences.isdisjoint(aud):
                    raise InvalidAudience()
            else:
                # A missing aud fails here; python-jose would let it pass.
                raise InvalidAudience()

        if self._client_ids is not None:
            _check_client(claims, self._client_ids)

        for name in self._required:
            if get(name) is None:  # absent, or null: JSON null carries nothing
                raise MissingClaim()
        for name in _STRING_CLAIMS:
            value = get(name, _MISSING)
            if value is not _MISSING and value.__class__ is not str:
                raise InvalidClaim(f"the {name} claim must be a string")
        return not_before, not_after

    def build(self, claims: dict[str, Any], header: dict[str, Any], raw: str) -> AccessToken:
        """The :class:`AccessToken` for claims that passed :meth:`check`."""
        return AccessToken(
            claims=claims,
            header=header,
            scopes=extract_scopes(claims, self._scope_claims),
            raw=raw,
        )
