"""HTTP freshness (RFC 9111 §4.2.1): how long a fetched document stays fresh.

Pure; never raises, whatever the header values.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime

from jwt_guard._config import KeyCacheOptions

__all__ = ["freshness_lifetime", "http_date"]

_DELTA_SECONDS = re.compile(r"[0-9]+")
# RFC 9111 §1.2.2: a delta-seconds too large to represent counts as 2**31.
_DELTA_MAX = 2**31


def _delta_seconds(value: str) -> int | None:
    """RFC 9111 §1.2.2 ``delta-seconds`` (ASCII digits only), else None."""
    value = value.strip()
    if not value.isascii() or not _DELTA_SECONDS.fullmatch(value):
        return None
    return _DELTA_MAX if len(value) > 10 else min(int(value), _DELTA_MAX)


def _cache_control_max_age(value: str) -> float | None:
    max_age: float | None = None
    for directive in value.split(","):
        name, _, arg = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            return 0.0
        if name == "max-age":
            # RFC 9111 §4.2.1: invalid freshness information means stale.
            seconds = _delta_seconds(arg.strip().strip('"'))
            max_age = 0.0 if seconds is None else float(seconds)
    return max_age


def http_date(value: str) -> float:
    """Epoch seconds of an HTTP-date; raises ValueError/TypeError if invalid."""
    parsed = parsedate_to_datetime(value)
    if parsed.tzinfo is None:  # "-0000" zones parse naive; HTTP dates are UTC
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def freshness_lifetime(headers: Mapping[str, str], options: KeyCacheOptions, now: float) -> float:
    """Seconds a reply stays fresh (RFC 9111 §4.2.1), clamped by *options*.

    Never raises, whatever the header values.
    """
    lifetime: float | None = None
    cache_control = headers.get("cache-control")
    if cache_control:
        lifetime = _cache_control_max_age(cache_control)
        if lifetime is not None:
            age = _delta_seconds(headers.get("age", "0"))
            if age is not None:
                lifetime -= age
    if lifetime is None and headers.get("expires"):
        try:
            expires = http_date(headers["expires"])
            date_header = headers.get("date")
            date = http_date(date_header) if date_header else now
            lifetime = expires - date
        except (TypeError, ValueError, OverflowError, IndexError):
            lifetime = 0.0  # RFC 9111 §5.3: an invalid Expires means "already expired"
    if lifetime is None:
        lifetime = options.ttl
    return min(options.max_ttl, max(options.min_ttl, lifetime))
