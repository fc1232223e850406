"""How revocation records are laid out in Redis, and how they are read back. Pure: no I/O.

Layout (``P`` is the store's prefix)::

    P rv:<id>   hash  k (kind), iss, id (jti/sub/client_id), t (epoch ms);
                      expires on its own (PEXPIREAT) when the record lapses
    P rv-seq    string  a counter, one step per change
    P rv-log    stream  one entry per change: seq, k, iss, id, t
    P once:<h>  string  a replay record (SET NX PX), h = SHA-256 of the key

A write is one Lua script, so the record, the counter and the log entry
change together: a reader that saw counter value n and follows the log from
there misses nothing, and a gap in ``seq`` (log trimmed while it was away,
data flushed) tells it to read everything again. A later cutoff always wins
over an earlier one (the script keeps the larger ``t``), so a revocation can
never be narrowed by another write.

Everything read back is checked: a value of the wrong type, a missing or
oversized field, a time that is not a plain integer, text that is not UTF-8
is skipped and counted, never trusted and never fatal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from jwt_guard.stores._records import (
    KINDS,
    MAX_EPOCH_MS,
    MAX_ISSUER_LENGTH,
    MAX_VALUE_LENGTH,
    Revocation,
    RevocationKind,
    record_id,
)

Decoded = tuple[RevocationKind, str, str, int]  # kind, issuer, value, t in ms

__all__ = ["READ_SCRIPT", "WRITE_SCRIPT", "Keys", "decode_entry", "decode_fields", "parse_seq"]

# Entries kept in the log; a reader further behind than this resyncs.
LOG_LENGTH = 10_000
# Largest field (bytes) the read script returns; UTF-8 may take 4 bytes a character.
MAX_FIELD_BYTES = 4 * max(MAX_ISSUER_LENGTH, MAX_VALUE_LENGTH)

# KEYS: record, log, seq. ARGV: kind, issuer, value, t (ms), lapse (ms), log length.
WRITE_SCRIPT = """
local t = tonumber(ARGV[4])
local current = redis.call('TYPE', KEYS[1]).ok
if current == 'hash' then
  local old = redis.call('HMGET', KEYS[1], 'k', 'iss', 'id', 't')
  if old[1] == ARGV[1] and old[2] == ARGV[2] and old[3] == ARGV[3] and old[4] then
    local old_t = tonumber(old[4])
    if old_t and old_t >= t then
      return 0
    end
  end
end
if current ~= 'none' then
  redis.call('DEL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'k', ARGV[1], 'iss', ARGV[2], 'id', ARGV[3], 't', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
local seq_type = redis.call('TYPE', KEYS[3]).ok
if seq_type ~= 'none' and (seq_type ~= 'string' or not tonumber(redis.call('GET', KEYS[3]))) then
  redis.call('DEL', KEYS[3])
end
local log_type = redis.call('TYPE', KEYS[2]).ok
if log_type ~= 'none' and log_type ~= 'stream' then
  redis.call('DEL', KEYS[2])
end
local seq = redis.call('INCR', KEYS[3])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*',
           'seq', seq, 'k', ARGV[1], 'iss', ARGV[2], 'id', ARGV[3], 't', ARGV[4])
return 1
"""

# KEYS: records found by SCAN. ARGV: largest field in bytes. For each key:
# its four fields, or a word saying why not (its type, or "large").
READ_SCRIPT = """
local out = {}
local limit = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local kind = redis.call('TYPE', key).ok
  if kind ~= 'hash' then
    out[i] = kind
  else
    local large = false
    for _, field in ipairs({'k', 'iss', 'id', 't'}) do
      if redis.call('HSTRLEN', key, field) > limit then
        large = true
      end
    end
    if large then
      out[i] = 'large'
    else
      out[i] = redis.call('HMGET', key, 'k', 'iss', 'id', 't')
    end
  end
end
return out
"""

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_DIGITS = re.compile(rb"[0-9]{1,16}")


class Keys:
    """The Redis key names of one store prefix."""

    __slots__ = ("log", "pattern", "prefix", "seq")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.log = f"{prefix}rv-log"
        self.seq = f"{prefix}rv-seq"
        # SCAN MATCH is a glob: the prefix is matched literally.
        self.pattern = _GLOB_SPECIAL.sub(r"\\\1", prefix) + "rv:*"

    def record(self, record: Revocation) -> str:
        return f"{self.prefix}rv:{record_id(record.kind, record.issuer, record.value)}"

    def claim(self, digest: bytes) -> str:
        return f"{self.prefix}once:{digest.hex()}"


def write_args(record: Revocation, log_length: int = LOG_LENGTH) -> list[str | int]:
    """ARGV of :data:`WRITE_SCRIPT` for *record*."""
    return [record.kind, record.issuer, record.value, record.at_ms, math.ceil(record.expires_at * 1000), log_length]


def _text(raw: object, limit: int) -> str | None:
    if not isinstance(raw, bytes) or not raw or len(raw) > 4 * limit:
        return None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return value if len(value) <= limit else None


def parse_seq(raw: object) -> int | None:
    """A counter value, or ``None`` if *raw* is not a plain non-negative integer."""
    if isinstance(raw, bytes) and _DIGITS.fullmatch(raw):
        return int(raw)
    return None


def decode_fields(kind: object, issuer: object, value: object, at: object) -> Decoded | str:
    """(kind, issuer, value, t in ms) from raw Redis fields, or why they were skipped."""
    if kind is None or issuer is None or value is None or at is None:
        return "truncated"
    name = kind.decode("ascii", "replace") if isinstance(kind, bytes) else ""
    found = [known for known in KINDS if known == name]
    if not found:
        return "unknown_kind"
    issuer_text = _text(issuer, MAX_ISSUER_LENGTH)
    value_text = _text(value, MAX_VALUE_LENGTH)
    if issuer_text is None or value_text is None:
        return "bad_text"
    milliseconds = parse_seq(at)
    if milliseconds is None or milliseconds > MAX_EPOCH_MS:
        return "bad_time"
    return found[0], issuer_text, value_text, milliseconds


def decode_entry(fields: object) -> tuple[int | None, Decoded | str]:
    """(seq, record or why it was skipped) of one log entry."""
    if not isinstance(fields, Mapping):
        return None, "truncated"
    seq = parse_seq(fields.get(b"seq"))
    return seq, decode_fields(fields.get(b"k"), fields.get(b"iss"), fields.get(b"id"), fields.get(b"t"))
