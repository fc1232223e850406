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

__all__ = [
    "READ_SCRIPT",
    "WRITE_SCRIPT",
    "Decoded",
    "Keys",
    "decode_entry",
    "decode_fields",
    "decode_packed",
    "parse_seq",
    "read_args",
    "write_args",
]

# Entries kept in the log; a reader further behind than this resyncs.
LOG_LENGTH = 10_000
# Largest field (bytes) the read script returns; UTF-8 may take 4 bytes a character.
MAX_FIELD_BYTES = 4 * max(MAX_ISSUER_LENGTH, MAX_VALUE_LENGTH)

# KEYS: log, seq, then one record key per record. ARGV: log length, then five
# per record: kind, issuer, value, t (ms), lapse (ms). Returns how many changed.
WRITE_SCRIPT = """
local seq_type = redis.call('TYPE', KEYS[2]).ok
if seq_type ~= 'none' and (seq_type ~= 'string' or not tonumber(redis.call('GET', KEYS[2]))) then
  redis.call('DEL', KEYS[2])
end
local log_type = redis.call('TYPE', KEYS[1]).ok
if log_type ~= 'none' and log_type ~= 'stream' then
  redis.call('DEL', KEYS[1])
end
local changed = 0
for i = 3, #KEYS do
  local key = KEYS[i]
  local a = 1 + (i - 3) * 5
  local kind, iss, id, t = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
  local current = redis.call('TYPE', key).ok
  local covered = false
  if current == 'hash' then
    local old = redis.call('HMGET', key, 'k', 'iss', 'id', 't')
    -- Only a well-formed record (what readers accept) can cover this one.
    if old[1] == kind and old[2] == iss and old[3] == id and old[4]
        and #old[4] <= 16 and string.match(old[4], '^%d+$') then
      covered = tonumber(old[4]) >= tonumber(t)
    end
  end
  if not covered then
    if current ~= 'none' then
      redis.call('DEL', key)
    end
    redis.call('HSET', key, 'k', kind, 'iss', iss, 'id', id, 't', t)
    redis.call('PEXPIREAT', key, ARGV[a + 5])
    local seq = redis.call('INCR', KEYS[2])
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'seq', seq, 'k', kind, 'iss', iss, 'id', id, 't', t)
    changed = changed + 1
  end
end
return changed
"""

# ARGV: SCAN cursor, MATCH pattern, COUNT, largest field in bytes. Returns the
# next cursor, then one string per record found: "kind|t|len(iss)|<iss><id>",
# or "!" and why it cannot be one ("wrongtype", "large", "truncated"). One
# string per record keeps the reply small and quick to parse; an oversized
# value never leaves the server.
READ_SCRIPT = """
local found = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
local out = {found[1]}
local limit = tonumber(ARGV[4])
for _, key in ipairs(found[2]) do
  local f = redis.pcall('HMGET', key, 'k', 'iss', 'id', 't')
  if f.err then
    out[#out + 1] = '!wrongtype'
  elseif not (f[1] or f[2] or f[3] or f[4]) then
    -- gone since SCAN saw it (lapsed), or a hash without our fields
    if redis.call('EXISTS', key) == 1 then
      out[#out + 1] = '!truncated'
    end
  elseif not (f[1] and f[2] and f[3] and f[4]) then
    out[#out + 1] = '!truncated'
  elseif #f[1] > limit or #f[2] > limit or #f[3] > limit or #f[4] > limit then
    out[#out + 1] = '!large'
  else
    out[#out + 1] = f[1] .. '|' .. f[4] .. '|' .. #f[2] .. '|' .. f[2] .. f[3]
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

    def write_keys(self, records: list[Revocation]) -> list[str]:
        """KEYS of :data:`WRITE_SCRIPT` for *records*."""
        return [self.log, self.seq, *(self.record(record) for record in records)]

    def record(self, record: Revocation) -> str:
        return f"{self.prefix}rv:{record_id(record.kind, record.issuer, record.value)}"

    def claim(self, digest: bytes) -> str:
        return f"{self.prefix}once:{digest.hex()}"


def write_args(records: list[Revocation], log_length: int = LOG_LENGTH) -> list[str | int]:
    """ARGV of :data:`WRITE_SCRIPT` for *records*."""
    args: list[str | int] = [log_length]
    for record in records:
        args += [record.kind, record.issuer, record.value, record.at_ms, math.ceil(record.expires_at * 1000)]
    return args


def read_args(cursor: object, keys: Keys, count: int = 1000) -> list[object]:
    """ARGV of :data:`READ_SCRIPT` for one SCAN step from *cursor*."""
    return [cursor, keys.pattern, count, MAX_FIELD_BYTES]


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


def decode_packed(item: object) -> Decoded | str:
    """A record from one string of :data:`READ_SCRIPT`'s answer, or why it was skipped."""
    if not isinstance(item, bytes):
        return "bad_reply"
    if item.startswith(b"!"):
        return {b"!large": "too_large", b"!truncated": "truncated"}.get(item, "wrong_type")
    parts = item.split(b"|", 3)
    if len(parts) != 4:
        return "truncated"
    kind, at, length, rest = parts
    size = parse_seq(length)
    if size is None or size > len(rest):
        return "truncated"
    return decode_fields(kind, rest[:size], rest[size:], at)


def decode_entry(fields: object) -> tuple[int | None, Decoded | str]:
    """(seq, record or why it was skipped) of one log entry."""
    if not isinstance(fields, Mapping):
        return None, "truncated"
    seq = parse_seq(fields.get(b"seq"))
    return seq, decode_fields(fields.get(b"k"), fields.get(b"iss"), fields.get(b"id"), fields.get(b"t"))
