"""Diagnostics: every check a token passes or fails, not just the first.

:meth:`Verifier.verify` stops at the first failure, which is what an API
needs. Someone debugging a configuration needs the whole picture: the
algorithm, the key, the signature, and each claim rule with the expected and
the received value. :func:`token_checks` gives that, applying the very rules
of the verification path (:mod:`jwt_guard._token`, :mod:`jwt_guard._keys`,
:class:`~jwt_guard._claims.ClaimRules`). Pure: keys come from key sources
already filled (``Verifier.prefetch``), time is an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jwt_guard._claims import Check, ClaimRules
from jwt_guard._config import Settings
from jwt_guard._jose import verify_signature
from jwt_guard._keys import KeySet
from jwt_guard._keysource import KeySource, no_key_error
from jwt_guard._reasons import reason_code, shown
from jwt_guard._token import ParsedToken, parse
from jwt_guard.errors import InvalidToken, MalformedToken

__all__ = ["token_checks"]

#: At most this many kids are listed as "expected" in a failed kid check.
_MAX_KIDS_SHOWN = 20


class _AnyAlgorithm(frozenset[str]):
    """Contains every name: the structure is parsed whatever the ``alg``,
    which is then judged against the allowlist as a check of its own."""

    def __contains__(self, item: object) -> bool:
        return True


_ANY_ALGORITHM = _AnyAlgorithm()


def _failed(name: str, expected: Any, received: Any, error: InvalidToken) -> Check:
    return Check(name, False, expected, received, reason_code(error), error.description)


def _key_source(parsed: ParsedToken, sources: Mapping[str, KeySource]) -> KeySource | None:
    """The key source verification would use: the token's issuer's, or the
    only one there is."""
    iss = parsed.claims().get("iss")
    if isinstance(iss, str) and iss in sources:
        return sources[iss]
    distinct = {id(source): source for source in sources.values()}
    return next(iter(distinct.values())) if len(distinct) == 1 else None


def _key_checks(parsed: ParsedToken, keyset: KeySet | None, alg_allowed: bool) -> list[Check]:
    kid = shown(parsed.kid)
    if keyset is None:
        reason = "no key set could be obtained for the token's issuer"
        return [Check("kid", False, "a key of the issuer's key set", kid, "keys_unavailable", reason)]
    kids = sorted(keyset.kids)
    expected: Any = kids[:_MAX_KIDS_SHOWN] if kids else "the key set's only key for the alg"
    key = keyset.find(parsed.kid, parsed.alg) if alg_allowed else None
    if key is None:
        if not alg_allowed:
            return [Check("kid", False, expected, kid, "unsupported_algorithm", "not looked up: alg not allowed")]
        return [_failed("kid", expected, kid, no_key_error(parsed.kid, keyset))]
    checks = [Check("kid", True, expected, kid)]
    signed = f"a valid {key.alg} signature by key {key.kid!r}" if key.kid else f"a valid {key.alg} signature"
    if verify_signature(key.key, parsed.signing_input, parsed.signature):
        checks.append(Check("signature", True, signed, "valid"))
    else:
        checks.append(
            Check("signature", False, signed, "invalid", "invalid_signature", "the signature does not verify")
        )
    return checks


def token_checks(
    token: str | bytes,
    *,
    settings: Settings,
    sources: Mapping[str, KeySource],
    now: float,
    required_scopes: Iterable[str] = (),
) -> list[Check]:
    """Every check *token* passes or fails under *settings*, keys from
    *sources* (per issuer, as cached now), at time *now*.

    A token that is not a compact JWS carrying JSON claims yields a single
    failed ``structure`` check: nothing else can be read from it.
    """
    try:
        parsed = parse(token, max_size=settings.max_token_size, algorithms=_ANY_ALGORITHM)
        claims = parsed.claims()
    except MalformedToken as error:  # TokenTooLarge included
        return [_failed("structure", "a compact JWS (three base64url segments) carrying JSON claims", None, error)]
    checks = [Check("structure", True, "a compact JWS carrying JSON claims", "a compact JWS carrying JSON claims")]
    allowed = sorted(settings.algorithms)
    alg_allowed = parsed.alg in settings.algorithms
    if alg_allowed:
        checks.append(Check("alg", True, allowed, parsed.alg))
    else:
        checks.append(Check("alg", False, allowed, shown(parsed.alg), "unsupported_algorithm", "not in the allowlist"))
    source = _key_source(parsed, sources)
    if source is None:
        reason = "not looked up: the token's issuer is not a configured issuer"
        checks.append(Check("kid", False, "a key of a configured issuer", shown(parsed.kid), "invalid_issuer", reason))
    else:
        checks.extend(_key_checks(parsed, source.current_keyset(), alg_allowed))
    checks.extend(ClaimRules(settings).report(claims, parsed.header, now, required_scopes))
    return checks
