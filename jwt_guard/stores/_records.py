"""Revocation records and the checks on everything a caller writes. Pure: no I/O.

Times are absolute epoch instants chosen by the host that revokes (``before``
defaults to its clock) and stored as whole milliseconds, rounded up: every
rounding widens a revocation, never narrows it.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from jwt_guard.errors import ConfigurationError

__all__ = [
    "KINDS",
    "MAX_ISSUER_LENGTH",
    "MAX_VALUE_LENGTH",
    "Revocation",
    "RevocationKind",
    "claim_digest",
    "epoch_ms",
    "record_id",
    "seconds_option",
    "text",
]

#: What a record revokes: one token (by ``jti``), or every token of a subject
#: or client issued at or before a cutoff.
RevocationKind = Literal["token", "subject", "client"]
KINDS: tuple[RevocationKind, ...] = ("token", "subject", "client")

# Bounds on what a record may hold. Issuers are URLs; jti, sub and client_id
# are short identifiers in practice. Anything longer is refused on write and
# skipped when read back from a shared store.
MAX_ISSUER_LENGTH = 2048
MAX_VALUE_LENGTH = 1024
MAX_CLAIM_KEY_LENGTH = 4096
# 9999-12-31T23:59:59Z: the last instant a datetime can show.
MAX_EPOCH_MS = 253_402_300_799_000


@dataclass(frozen=True)
class Revocation:
    """One active revocation record.

    ``kind`` is ``"token"`` (``value`` is a ``jti``; ``at`` is the token's
    ``exp``), ``"subject"`` or ``"client"`` (``value`` is a ``sub`` or a
    ``client_id``; ``at`` is the cutoff: tokens issued at or before it are
    refused). ``issuer`` scopes the record to tokens whose ``iss`` is exactly
    that string. ``expires_at`` is when the record lapses on its own.
    Instants are epoch seconds.
    """

    kind: RevocationKind
    issuer: str
    value: str
    at: float
    expires_at: float

    @property
    def at_ms(self) -> int:
        return round(self.at * 1000)


def text(name: str, value: object, limit: int) -> str:
    """*value* as a non-empty ``str`` of at most *limit* characters."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value


def epoch_ms(name: str, value: object) -> int:
    """An aware ``datetime`` or epoch seconds as whole milliseconds (rounded up)."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"{name} must be a timezone-aware datetime (naive datetimes are ambiguous)")
        seconds = value.timestamp()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{name} must be an aware datetime or epoch seconds, not {type(value).__name__}")
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be a finite number of seconds")
    if seconds < 0:
        raise ValueError(f"{name} must not lie before 1970")
    milliseconds = math.ceil(seconds * 1000)
    if milliseconds > MAX_EPOCH_MS:
        raise ValueError(f"{name} lies beyond the year 9999")
    return milliseconds


def seconds_option(name: str, value: object, *, allow_zero: bool = False) -> float:
    """A store option given in seconds (number or ``timedelta``), checked at construction."""
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigurationError(f"{name} must be a number of seconds, not {type(value).__name__}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} finite number")
    return seconds


def record_id(kind: str, issuer: str, value: str) -> str:
    """A fixed-length, unambiguous name for the record of (*kind*, *issuer*, *value*)."""
    encoded = json.dumps([kind, issuer, value], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def claim_digest(key: object) -> bytes:
    """The fixed-size digest a replay record is kept under (keys may be attacker-chosen)."""
    key = text("key", key, MAX_CLAIM_KEY_LENGTH)
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
