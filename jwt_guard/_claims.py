"""Claim rules for access tokens (RFC 7519 §4.1, RFC 9068 §4), applied after
the signature verified. Pure: the current time is an argument.

python-jose's claim checks are not used: a token without ``aud`` passes its
audience check and ``exp`` is optional there. Every rule here is explicit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jwt_guard._access_token import AccessToken
from jwt_guard._config import ScopeClaim, Settings
from jwt_guard._events import logger
from jwt_guard._reasons import details_of, reason_code, shown, with_details
from jwt_guard.errors import (
    ExpiredToken,
    InsufficientScope,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidToken,
    InvalidTokenType,
    MissingClaim,
    NotYetValid,
)

__all__ = ["Check", "ClaimRules", "extract_scopes"]

# Latest NumericDate accepted: 9999-12-31T23:59:59Z. Anything larger (or a
# float like 1e308) is refused before it can overflow a datetime conversion.
MAX_NUMERIC_DATE = 253402300799
_MISSING: Any = object()
_STRING_CLAIMS = ("sub", "jti", "client_id", "azp")
#: The registered claims :meth:`ClaimRules.report` lists, in order.
_REPORTED = ("exp", "nbf", "iat", "iss", "aud")


def _numeric_date(name: str, value: Any) -> float:
    kind = value.__class__
    if (kind is int or kind is float) and 0 <= value <= MAX_NUMERIC_DATE:
        return value  # type: ignore[no-any-return]
    # bool is an int subclass and NaN fails both comparisons: both end here.
    raise with_details(InvalidClaim(f"the {name} claim is not a valid NumericDate"), claim=name, received=shown(value))


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
                    raise with_details(InvalidClaim(f"the {source.name} claim must hold strings"), claim=source.name)
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
            error = InvalidClaim(f"the {source.name} claim must be a string or a list of strings")
            raise with_details(error, claim=source.name, received=shown(value))
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
            error = InvalidClaim("the access token was issued to another client")
            raise with_details(error, claim=name, expected=sorted(client_ids), received=shown(value))
        named = True
    if not named:
        raise with_details(MissingClaim("the access token names no client (client_id or azp)"), claim="client_id")


@dataclass(frozen=True)
class Check:
    """One rule applied to a token, as diagnostics report it (``jwt-guard check``).

    ``expected`` says what the configuration asks for, ``received`` what the
    token holds (bounded by :func:`~jwt_guard._reasons.shown`; never the
    token itself). A failed check names its reason code and the description
    an API would answer with.
    """

    name: str
    passed: bool
    expected: Any
    received: Any
    reason: str | None = None
    description: str | None = None


class ClaimRules:
    """The claim checks for one :class:`~jwt_guard._config.Settings`.

    :meth:`check` applies them all and raises at the first failure (the
    verification path, kept in one function: it runs for every token).
    :meth:`report` says how each rule went, by running :meth:`check` again
    and again with the claim at fault replaced by a passing value, so that
    diagnostics can never disagree with verification.
    """

    __slots__ = (
        "_audience_list",
        "_audiences",
        "_client_ids",
        "_issuer_list",
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
        self._issuer_list = list(settings.issuers)
        self._audiences = None if settings.audiences is None else frozenset(settings.audiences)
        self._audience_list = None if settings.audiences is None else list(settings.audiences)
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
                error = InvalidTokenType("the token is not typed as an access token (at+jwt)")
                raise with_details(error, claim="typ", expected="at+jwt", received=None)
            return
        if not isinstance(typ, str):
            raise with_details(InvalidTokenType(), claim="typ", received=shown(typ))
        media = typ.lower()
        if media.startswith("application/"):
            media = media[12:]
        if media == "at+jwt" or (media == "jwt" and not self._strict_typ):
            return
        raise with_details(InvalidTokenType(), claim="typ", expected=self._typ_expected(), received=shown(typ))

    def _typ_expected(self) -> str:
        return "at+jwt" if self._strict_typ else "at+jwt, JWT or none"

    def check_issuer(self, claims: Mapping[str, Any]) -> str:
        """The token's ``iss`` if it is a configured issuer, else :class:`InvalidIssuer`."""
        iss = claims.get("iss")
        if iss.__class__ is not str or iss not in self._issuers:
            raise self._wrong_issuer(iss)
        return iss

    def _wrong_issuer(self, iss: Any) -> InvalidIssuer:
        return with_details(InvalidIssuer(), claim="iss", expected=self._issuer_list, received=shown(iss))

    def check(self, claims: dict[str, Any], now: float) -> tuple[float, float]:
        """Apply every claim rule at time *now*.

        Returns ``(not_before, not_after)``: the window in which the token
        stays acceptable, for the verified-token cache. Raises the
        :class:`InvalidToken` of the first rule that fails, its details
        naming the claim at fault.
        """
        leeway = self._leeway
        get = claims.get
        not_after = math.inf
        not_before = -math.inf

        exp = get("exp", _MISSING)
        if exp is _MISSING:
            if self._require_exp:
                raise with_details(MissingClaim("the access token has no expiry (exp)"), claim="exp")
        else:
            not_after = _numeric_date("exp", exp) + leeway
            if now >= not_after:
                raise with_details(ExpiredToken(), claim="exp", received=exp, now=int(now), leeway=leeway)

        nbf = get("nbf", _MISSING)
        if nbf is not _MISSING:
            not_before = _numeric_date("nbf", nbf) - leeway
            if now < not_before:
                raise with_details(NotYetValid(), claim="nbf", received=nbf, now=int(now), leeway=leeway)

        iat = get("iat", _MISSING)
        if iat is not _MISSING:
            iat = _numeric_date("iat", iat)
            if iat - leeway > now:
                future = NotYetValid("the access token was issued in the future")
                raise with_details(future, claim="iat", received=iat, now=int(now), leeway=leeway)
        if self._max_age is not None:
            if iat is _MISSING:
                raise with_details(MissingClaim("the access token has no issue time (iat)"), claim="iat")
            not_after = min(not_after, iat + self._max_age + leeway)
            if now >= not_after:
                old = ExpiredToken("the access token is too old")
                raise with_details(old, claim="iat", received=iat, now=int(now), max_token_age=self._max_age)

        iss = get("iss")
        if iss.__class__ is not str or iss not in self._issuers:
            raise self._wrong_issuer(iss)

        audiences = self._audiences
        if audiences is not None:
            aud = get("aud")
            if aud.__class__ is str:
                if aud not in audiences:
                    raise self._wrong_audience(aud)
            elif aud.__class__ is list and aud and all(item.__class__ is str for item in aud):
                if audiences.isdisjoint(aud):
                    raise self._wrong_audience(aud)
            else:
                # A missing aud fails here; python-jose would let it pass.
                raise self._wrong_audience(aud)

        if self._client_ids is not None:
            _check_client(claims, self._client_ids)

        for name in self._required:
            if get(name) is None:  # absent, or null: JSON null carries nothing
                raise with_details(MissingClaim(), claim=name)
        for name in _STRING_CLAIMS:
            value = get(name, _MISSING)
            if value is not _MISSING and value.__class__ is not str:
                error = InvalidClaim(f"the {name} claim must be a string")
                raise with_details(error, claim=name, received=f"<{type(value).__name__}>")
        return not_before, not_after

    def _wrong_audience(self, aud: Any) -> InvalidAudience:
        return with_details(InvalidAudience(), claim="aud", expected=self._audience_list, received=shown(aud))

    def build(self, claims: dict[str, Any], header: dict[str, Any], raw: str) -> AccessToken:
        """The :class:`AccessToken` for claims that passed :meth:`check`."""
        return AccessToken(
            claims=claims,
            header=header,
            scopes=extract_scopes(claims, self._scope_claims),
            raw=raw,
        )

    # -- diagnostics -----------------------------------------------------------

    def _passing(self, claim: str, now: float) -> Any:
        """A value of *claim* that passes :meth:`check` at *now*."""
        if claim == "exp":
            return int(now) + 3600
        if claim in ("nbf", "iat"):
            return int(now)
        if claim == "iss":
            return self._issuer_list[0]
        if claim == "aud":
            return self._audience_list[0] if self._audience_list else "-"
        if claim in ("client_id", "azp") and self._client_ids:
            return min(self._client_ids)
        return "-"

    def _failures(self, claims: Mapping[str, Any], now: float) -> dict[str, InvalidToken]:
        """Each claim that :meth:`check` refuses, with its error: the claim at
        fault is given a passing value and the check runs again."""
        trial = dict(claims)
        failures: dict[str, InvalidToken] = {}
        # Every rule names one claim, so the loop ends after at most one
        # round per rule.
        for _ in range(len(_REPORTED) + len(self._required) + len(_STRING_CLAIMS) + 3):
            try:
                self.check(trial, now)
            except InvalidToken as error:
                claim = details_of(error).get("claim")
                if not isinstance(claim, str) or claim in failures:
                    break
                failures[claim] = error
                trial[claim] = self._passing(claim, now)
            else:
                break
        return failures

    def report(
        self,
        claims: Mapping[str, Any],
        header: Mapping[str, Any],
        now: float,
        required_scopes: Iterable[str] = (),
    ) -> list[Check]:
        """Every claim rule applied to *claims* at *now*, one :class:`Check`
        each, whatever fails first; then the scopes, against
        *required_scopes*. Never raises for a bad token."""
        failures = self._failures(claims, now)
        leeway = f"leeway {self._leeway:g} s"
        iat_expected = f"absent, or not in the future ({leeway})"
        if self._max_age is not None:
            iat_expected = f"not in the future ({leeway}) and at most {self._max_age:g} s old"
        expected: dict[str, Any] = {
            "exp": f"in the future ({leeway})" + ("" if self._require_exp else ", or absent"),
            "nbf": f"absent, or in the past ({leeway})",
            "iat": iat_expected,
            "iss": self._issuer_list[0] if len(self._issuer_list) == 1 else self._issuer_list,
        }
        if self._audience_list is not None:
            expected["aud"] = self._audience_list[0] if len(self._audience_list) == 1 else self._audience_list

        def check(name: str, label: str, want: Any, received: Any) -> Check:
            error = failures.get(name)
            if error is None:
                return Check(label, True, want, received)
            return Check(label, False, want, received, reason_code(error), error.description)

        checks: list[Check] = []
        try:
            self.check_type(header)
            checks.append(Check("typ", True, self._typ_expected(), shown(header.get("typ"))))
        except InvalidToken as error:
            typ = shown(header.get("typ"))
            checks.append(Check("typ", False, self._typ_expected(), typ, reason_code(error), error.description))
        for name, want in expected.items():
            checks.append(check(name, name, want, shown(claims.get(name))))
        if self._audience_list is None:
            checks.append(Check("aud", True, "not checked (audience=None)", shown(claims.get("aud"))))
        if self._client_ids is not None:
            clients = sorted(self._client_ids)
            for name in ("client_id", "azp"):
                if name in claims or (name == "client_id" and "azp" not in claims):
                    checks.append(check(name, f"client ({name})", clients, shown(claims.get(name))))
        for name in self._required:
            present = "present" if claims.get(name) is not None else "absent"
            checks.append(check(name, f"claim {name}", "present", present))
        for name in _STRING_CLAIMS:
            if name in claims and not (self._client_ids is not None and name in ("client_id", "azp")):
                kind = "a string" if claims[name].__class__ is str else f"<{type(claims[name]).__name__}>"
                checks.append(check(name, name, "a string", kind))
        checks.append(self._scope_check(claims, tuple(required_scopes)))
        return checks

    def _scope_check(self, claims: Mapping[str, Any], required: tuple[str, ...]) -> Check:
        expected: Any = list(required) if required else "none required"
        try:
            scopes = extract_scopes(claims, self._scope_claims)
        except InvalidClaim as error:
            return Check("scopes", False, expected, None, reason_code(error), error.description)
        received = sorted(scopes)
        missing = [scope for scope in required if scope not in scopes]
        if missing:
            code = reason_code(InsufficientScope(required))
            return Check("scopes", False, expected, received, code, f"missing: {' '.join(missing)}")
        return Check("scopes", True, expected, received)
