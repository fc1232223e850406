"""Claim rules for access tokens (RFC 7519 §4.1, RFC 9068 §4), applied after
the signature verified. Pure: the current time is an argument.

python-jose's claim checks are not used: a token without ``aud`` passes its
audience check and ``exp`` is optional there. Every rule here is explicit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jwt_guard._access_token import AccessToken
from jwt_guard._config import ScopeClaim, Settings
from jwt_guard._reasons import reason_code, shown, with_details
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


def extract_scopes(claims: Mapping[str, Any], sources: tuple[ScopeClaim, ...]) -> frozenset[str]:
    """Collect scopes from every configured claim.

    Each claim is either a space-delimited string (RFC 8693 §4.2 ``scope``) or
    a list of strings (Okta/Entra ``scp``, Auth0 ``permissions``, Keycloak
    roles). A name is first looked up as a top-level claim, so namespaced
    claims containing dots still work, then as a dotted path.
    """
    found: set[str] = set()
    for source in sources:
        value = claims.get(source.name, _MISSING)
        if value is _MISSING and len(source.path) > 1:
            value = _walk(claims, source.path)
        if value is _MISSING or value is None:
            continue
        if isinstance(value, str):
            found.update(value.split())
        elif isinstance(value, list):
            for item in value:
                if not isinstance(item, str):
                    raise with_details(InvalidClaim(f"the {source.name} claim must hold strings"), claim=source.name)
                if item:
                    found.add(item)
        else:
            error = InvalidClaim(f"the {source.name} claim must be a string or a list of strings")
            raise with_details(error, claim=source.name, received=shown(value))
    return frozenset(found)


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


Getter = Callable[..., Any]


class ClaimRules:
    """The claim checks for one :class:`~jwt_guard._config.Settings`.

    :meth:`check` applies them all and raises at the first failure (the
    verification path); :meth:`report` applies each one and says how it went
    (diagnostics). Both run the same rule methods.
    """

    __slots__ = (
        "_audience_list",
        "_audiences",
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
            raise with_details(InvalidIssuer(), claim="iss", expected=self._issuer_list, received=shown(iss))
        return iss

    def check(self, claims: dict[str, Any], now: float) -> tuple[float, float]:
        """Apply every claim rule at time *now*.

        Returns ``(not_before, not_after)``: the window in which the token
        stays acceptable, for the verified-token cache.
        """
        get = claims.get
        not_after = self._check_exp(get, now)
        not_before = self._check_nbf(get, now)
        not_after = min(not_after, self._check_iat(get, now))
        self.check_issuer(claims)
        self._check_audience(get)
        self._check_required(get)
        self._check_string_claims(get)
        return not_before, not_after

    # -- the rules, each raising at its first failure --------------------------

    def _check_exp(self, get: Getter, now: float) -> float:
        exp = get("exp", _MISSING)
        if exp is _MISSING:
            if self._require_exp:
                raise with_details(MissingClaim("the access token has no expiry (exp)"), claim="exp")
            return math.inf
        not_after = _numeric_date("exp", exp) + self._leeway
        if now >= not_after:
            raise with_details(ExpiredToken(), claim="exp", received=exp, now=int(now), leeway=self._leeway)
        return not_after

    def _check_nbf(self, get: Getter, now: float) -> float:
        nbf = get("nbf", _MISSING)
        if nbf is _MISSING:
            return -math.inf
        not_before = _numeric_date("nbf", nbf) - self._leeway
        if now < not_before:
            raise with_details(NotYetValid(), claim="nbf", received=nbf, now=int(now), leeway=self._leeway)
        return not_before

    def _check_iat(self, get: Getter, now: float) -> float:
        """``iat`` not in the future and, with ``max_token_age``, not too old;
        returns the end of the token's life that the age limit sets."""
        leeway = self._leeway
        iat = get("iat", _MISSING)
        if iat is not _MISSING:
            iat = _numeric_date("iat", iat)
            if iat - leeway > now:
                future = NotYetValid("the access token was issued in the future")
                raise with_details(future, claim="iat", received=iat, now=int(now), leeway=leeway)
        if self._max_age is None:
            return math.inf
        if iat is _MISSING:
            raise with_details(MissingClaim("the access token has no issue time (iat)"), claim="iat")
        not_after: float = iat + self._max_age + leeway
        if now >= not_after:
            old = ExpiredToken("the access token is too old")
            raise with_details(old, claim="iat", received=iat, now=int(now), max_token_age=self._max_age)
        return not_after

    def _check_audience(self, get: Getter) -> None:
        audiences = self._audiences
        if audiences is None:
            return
        aud = get("aud")
        if aud.__class__ is str:
            if aud in audiences:
                return
        elif aud.__class__ is list and aud and all(item.__class__ is str for item in aud):  # noqa: SIM102
            if not audiences.isdisjoint(aud):
                return
        # A missing aud fails here; python-jose would let it pass.
        raise with_details(InvalidAudience(), claim="aud", expected=self._audience_list, received=shown(aud))

    def _check_required(self, get: Getter) -> None:
        for name in self._required:
            if get(name) is None:  # absent, or null: JSON null carries nothing
                raise with_details(MissingClaim(), claim=name)

    def _check_string_claims(self, get: Getter) -> None:
        for name in _STRING_CLAIMS:
            value = get(name, _MISSING)
            if value is not _MISSING and value.__class__ is not str:
                error = InvalidClaim(f"the {name} claim must be a string")
                raise with_details(error, claim=name, received=f"<{type(value).__name__}>")

    # -- building the result, and diagnostics ------------------------------------

    def build(self, claims: dict[str, Any], header: dict[str, Any], raw: str) -> AccessToken:
        """The :class:`AccessToken` for claims that passed :meth:`check`."""
        return AccessToken(
            claims=claims,
            header=header,
            scopes=extract_scopes(claims, self._scope_claims),
            raw=raw,
        )

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
        get = claims.get
        leeway = f"leeway {self._leeway:g} s"
        checks: list[Check] = []

        def run(name: str, expected: Any, received: Any, rule: Callable[[], object]) -> None:
            try:
                rule()
            except InvalidToken as error:
                checks.append(Check(name, False, expected, received, reason_code(error), error.description))
            else:
                checks.append(Check(name, True, expected, received))

        run("typ", self._typ_expected(), shown(header.get("typ")), lambda: self.check_type(header))
        exp_expected = f"in the future ({leeway})" + ("" if self._require_exp else ", or absent")
        run("exp", exp_expected, shown(get("exp")), lambda: self._check_exp(get, now))
        run("nbf", f"absent, or in the past ({leeway})", shown(get("nbf")), lambda: self._check_nbf(get, now))
        iat_expected = f"absent, or not in the future ({leeway})"
        if self._max_age is not None:
            iat_expected = f"not in the future ({leeway}) and at most {self._max_age:g} s old"
        run("iat", iat_expected, shown(get("iat")), lambda: self._check_iat(get, now))
        iss_expected = self._issuer_list[0] if len(self._issuer_list) == 1 else self._issuer_list
        run("iss", iss_expected, shown(get("iss")), lambda: self.check_issuer(claims))
        if self._audience_list is None:
            checks.append(Check("aud", True, "not checked (audience=None)", shown(get("aud"))))
        else:
            aud_expected = self._audience_list[0] if len(self._audience_list) == 1 else self._audience_list
            run("aud", aud_expected, shown(get("aud")), lambda: self._check_audience(get))
        for name in self._required:
            present = "present" if get(name) is not None else "absent"
            run(f"claim {name}", "present", present, functools.partial(self._check_required_one, get, name))
        checks.extend(self._string_checks(get))
        checks.append(self._scope_check(claims, tuple(required_scopes)))
        return checks

    def _check_required_one(self, get: Getter, name: str) -> None:
        if get(name) is None:
            raise with_details(MissingClaim(), claim=name)

    def _string_checks(self, get: Getter) -> list[Check]:
        checks = []
        for name in _STRING_CLAIMS:
            value = get(name, _MISSING)
            if value is _MISSING:
                continue
            kind = type(value).__name__
            if value.__class__ is str:
                checks.append(Check(name, True, "a string", "a string"))
            else:
                error = InvalidClaim(f"the {name} claim must be a string")
                checks.append(Check(name, False, "a string", f"<{kind}>", reason_code(error), error.description))
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
