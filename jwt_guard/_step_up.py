"""Step-up authentication (RFC 9470): how a user must have authenticated, with no framework.

A resource may demand more than a valid token: that the user authenticated
with one of some authentication context classes (the token's ``acr`` claim)
and/or recently enough (its ``auth_time`` claim, seconds since the epoch).
When a token falls short, the answer is 401
``error="insufficient_user_authentication"`` with the ``acr_values`` and/or
``max_age`` the resource needs (:class:`~jwt_guard.InsufficientUserAuthentication`),
and the client sends the user back to the authorization server with them.

:class:`~jwt_guard._endpoint.Requirement` holds the demand (checked here at
decoration time) and calls :func:`step_up_refusal` after its scope check.

Claims come from a verified token but are still data: an ``acr`` that is
not a string (or not listed) and an ``auth_time`` that is not a finite
number (``bool``, string, NaN, infinity) count as absent, and an
``auth_time`` later than now plus the leeway proves nothing. Each is the
same 401, never an exception: comparisons only, no arithmetic on the claim,
so a huge integer cannot overflow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from jwt_guard._auth_syntax import is_scope_token
from jwt_guard.errors import InsufficientUserAuthentication

__all__ = ["check_acr_values", "check_max_age", "step_up_refusal"]

_WEAK = "a different authentication level is required"
_OLD = "a more recent authentication is required"
# About 68 years: any real max_age, and small enough for float arithmetic.
_MAX_AGE_CEILING = 2**31 - 1


def check_acr_values(acr_values: Iterable[Any] | None, name: str) -> tuple[str, ...]:
    """*acr_values* as a tuple (``()`` for ``None``), deduplicated in order.

    ``TypeError`` for a bare string or a value that is not a string;
    ``ValueError`` for an empty list or a value the challenge could not
    carry (RFC 9470 §3: a space-separated list, so no spaces; nor quotes,
    backslashes or non-ASCII characters).
    """
    if acr_values is None:
        return ()
    if isinstance(acr_values, str):
        raise TypeError(f"{name}(): acr_values must be a list of strings, not a string")
    try:
        values = tuple(acr_values)
    except TypeError:
        raise TypeError(f"{name}(): acr_values must be a list of strings") from None
    if not values:
        raise ValueError(f"{name}(): acr_values must not be empty (leave it out to accept any)")
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{name}(): acr_values takes strings, not {type(value).__name__}")
        if not is_scope_token(value):
            raise ValueError(f"{name}(): acr value {value!r} has a space, quote, backslash or non-ASCII character")
    return tuple(dict.fromkeys(values))


def check_max_age(max_age: Any, name: str) -> int | None:
    """*max_age* (whole seconds, at least 0) or ``None``; ``TypeError`` or ``ValueError`` otherwise."""
    if max_age is None:
        return None
    if isinstance(max_age, bool) or not isinstance(max_age, int):
        raise TypeError(f"{name}(): max_age must be a whole number of seconds, not {type(max_age).__name__}")
    if not 0 <= max_age <= _MAX_AGE_CEILING:
        raise ValueError(f"{name}(): max_age must be between 0 and {_MAX_AGE_CEILING} seconds")
    return max_age


def _auth_time(claims: Mapping[str, Any]) -> int | float | None:
    value = claims.get("auth_time")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def step_up_refusal(
    claims: Mapping[str, Any],
    acr_values: tuple[str, ...],
    max_age: int | None,
    *,
    now: float,
    leeway: float,
) -> InsufficientUserAuthentication | None:
    """The error refusing a token with *claims*, or ``None`` when its user
    authentication meets *acr_values* (``acr`` must be one of them; empty:
    any) and *max_age* (``auth_time`` at most that many seconds before
    *now*, give or take *leeway*; ``None``: any age).

    The error names everything the requirement demands, so that one new
    authentication satisfies it.
    """
    description = None
    if acr_values:
        acr = claims.get("acr")
        if not (isinstance(acr, str) and acr in acr_values):
            description = _WEAK
    if description is None and max_age is not None:
        auth_time = _auth_time(claims)
        # Comparisons only: an int too large for a float still compares exactly.
        if auth_time is None or auth_time < now - max_age - leeway or auth_time > now + leeway:
            description = _OLD
    if description is None:
        return None
    return InsufficientUserAuthentication(description, acr_values=acr_values, max_age=max_age)
