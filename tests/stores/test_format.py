"""Reading records back from Redis: every malformed shape is skipped with a reason (no Redis needed)."""

from __future__ import annotations

import pytest

from jwt_guard.stores._redis_format import Keys, decode_entry, decode_packed, parse_seq

ISS = b"https://idp.example.test/"


def packed(kind: bytes, at: bytes, issuer: bytes, value: bytes) -> bytes:
    return b"|".join([kind, at, str(len(issuer)).encode(), issuer + value])


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(packed(b"token", b"1700000000000", ISS, b"j"), ("token", ISS.decode(), "j", 1700000000000)),
        pytest.param(packed(b"subject", b"5", ISS, "é".encode()), ("subject", ISS.decode(), "é", 5), id="utf8"),
        pytest.param(packed(b"client", b"5", ISS, b"a|b"), ("client", ISS.decode(), "a|b", 5), id="bar-in-value"),
        pytest.param(b"!wrongtype", "wrong_type", id="wrong-type"),
        pytest.param(b"!large", "too_large", id="large"),
        pytest.param(b"!truncated", "truncated", id="truncated"),
        pytest.param(b"token|5", "truncated", id="short"),
        pytest.param(b"token|5|999|abc", "truncated", id="length-beyond"),
        pytest.param(b"token|5|x|abc", "truncated", id="length-not-digits"),
        pytest.param(packed(b"all", b"5", ISS, b"j"), "unknown_kind", id="kind"),
        pytest.param(packed(b"token", b"-5", ISS, b"j"), "bad_time", id="negative"),
        pytest.param(packed(b"token", b"1e10", ISS, b"j"), "bad_time", id="exponent"),
        pytest.param(packed(b"token", b"9" * 17, ISS, b"j"), "bad_time", id="too-many-digits"),
        pytest.param(packed(b"token", b"999999999999999", ISS, b"j"), "bad_time", id="beyond-9999"),
        pytest.param(packed(b"token", b"5", ISS, b""), "bad_text", id="empty-value"),
        pytest.param(packed(b"token", b"5", b"", b"j"), "bad_text", id="empty-issuer"),
        pytest.param(packed(b"token", b"5", ISS, b"\xff"), "bad_text", id="not-utf8"),
        pytest.param(packed(b"token", b"5", ISS, b"x" * 1025), "bad_text", id="value-too-long"),
        pytest.param(packed(b"token", b"5", b"i" * 2049, b"j"), "bad_text", id="issuer-too-long"),
        pytest.param(None, "bad_reply", id="nil"),
        pytest.param(12, "bad_reply", id="integer"),
    ],
)
def test_decode_packed(item, expected):
    assert decode_packed(item) == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {b"seq": b"7", b"k": b"token", b"iss": ISS, b"id": b"j", b"t": b"5"},
            (7, ("token", ISS.decode(), "j", 5)),
            id="good",
        ),
        pytest.param({b"seq": b"7", b"k": b"token"}, (7, "truncated"), id="truncated"),
        pytest.param({b"k": b"token", b"iss": ISS, b"id": b"j", b"t": b"5"}, (None, ("token", ISS.decode(), "j", 5))),
        pytest.param([1, 2], (None, "truncated"), id="not-a-mapping"),
    ],
)
def test_decode_entry(fields, expected):
    assert decode_entry(fields) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(b"0", 0), (b"42", 42), (b"-1", None), (b"4 2", None), (b"", None), ("42", None), (None, None)],
)
def test_parse_seq(raw, expected):
    assert parse_seq(raw) == expected


def test_scan_pattern_matches_the_prefix_literally():
    assert Keys("app[1]*:").pattern == "app\\[1\\]\\*:rv:*"
    assert Keys("jwt_guard:").log == "jwt_guard:rv-log"
