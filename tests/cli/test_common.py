"""What the commands share (``jwt_guard.cli._common``): durations and times
for humans, argument types, input handling and the loopback URL rule."""

from __future__ import annotations

import argparse
import io

import pytest

from jwt_guard.cli._common import (
    CommandError,
    Streams,
    escape_text,
    format_span,
    format_time,
    is_local_url,
    lifetime_type,
    port_type,
    read_input,
    seconds_type,
    split_url,
    split_words,
    strip_bearer,
)

NOW = 1_800_000_000


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(0, "0 seconds", id="zero"),
        pytest.param(1, "1 second", id="one-second"),
        pytest.param(59, "59 seconds", id="seconds"),
        pytest.param(61, "1 minute 1 second", id="minute-second"),
        pytest.param(3600, "1 hour", id="hour"),
        pytest.param(3660, "1 hour 1 minute", id="hour-minute"),
        pytest.param(3601, "1 hour", id="hour-drops-seconds"),
        pytest.param(2 * 86400 + 3 * 3600 + 5, "2 days 3 hours", id="days-hours"),
        pytest.param(-90, "1 minute 30 seconds", id="negative-is-absolute"),
    ],
)
def test_format_span(seconds, expected):
    assert format_span(seconds) == expected


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        pytest.param("exp", NOW + 300, "2027-01-15 08:05:00 UTC  (expires in 5 minutes)", id="exp-future"),
        pytest.param("exp", NOW - 300, "(expired 5 minutes ago)", id="exp-past"),
        pytest.param("exp", NOW, "(expired 0 seconds ago)", id="exp-now"),
        pytest.param("nbf", NOW + 60, "(not valid for another 1 minute)", id="nbf-future"),
        pytest.param("nbf", NOW - 60, "(valid since 1 minute ago)", id="nbf-past"),
        pytest.param("iat", NOW - 3600, "(1 hour ago)", id="iat-past"),
        pytest.param("iat", NOW + 5, "(in 5 seconds (in the future))", id="iat-future"),
        pytest.param("exp", "soon", 'not a NumericDate: "soon"', id="string"),
        pytest.param("exp", True, "not a NumericDate: true", id="bool"),
        pytest.param("exp", 1e300, "out of range", id="huge"),
    ],
)
def test_format_time(name, value, expected):
    assert expected in format_time(name, value, NOW)


@pytest.mark.parametrize(
    ("convert", "value", "expected"),
    [
        pytest.param(port_type, "0", 0, id="port-any"),
        pytest.param(port_type, "65535", 65535, id="port-max"),
        pytest.param(seconds_type, "0", 0.0, id="seconds-zero"),
        pytest.param(seconds_type, "2.5", 2.5, id="seconds-fraction"),
        pytest.param(lifetime_type, "60", 60, id="lifetime"),
    ],
)
def test_argument_types_accept(convert, value, expected):
    assert convert(value) == expected


@pytest.mark.parametrize(
    ("convert", "value", "message"),
    [
        pytest.param(port_type, "-1", "between 0 and 65535", id="port-negative"),
        pytest.param(port_type, "65536", "between 0 and 65535", id="port-high"),
        pytest.param(port_type, "80.5", "not a port number: '80.5'", id="port-fraction"),
        pytest.param(seconds_type, "-1", "finite number >= 0", id="seconds-negative"),
        pytest.param(seconds_type, "nan", "finite number >= 0", id="seconds-nan"),
        pytest.param(seconds_type, "inf", "finite number >= 0", id="seconds-inf"),
        pytest.param(seconds_type, "soon", "not a number of seconds: 'soon'", id="seconds-text"),
        pytest.param(lifetime_type, "0", "positive number of seconds", id="lifetime-zero"),
        pytest.param(lifetime_type, "1.5", "not a whole number of seconds", id="lifetime-fraction"),
    ],
)
def test_argument_types_refuse(convert, value, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        convert(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("  abc  ", "abc", id="bare"),
        pytest.param("Bearer abc", "abc", id="bearer"),
        pytest.param("bearer   abc", "abc", id="bearer-lowercase"),
        pytest.param("Authorization: Bearer abc\n", "abc", id="header-line"),
        pytest.param("Basic abc", "Basic abc", id="other-scheme-kept"),
    ],
)
def test_strip_bearer(text, expected):
    assert strip_bearer(text) == expected


def test_split_words_accepts_repeats_spaces_and_commas():
    assert split_words(["read write", "admin,audit", " "]) == ["read", "write", "admin", "audit"]
    assert split_words(None) == []


def test_read_input_reads_stdin_for_a_dash_and_bounds_it():
    streams = Streams(io.StringIO("from stdin"), io.StringIO(), io.StringIO())
    assert read_input("-", streams) == "from stdin"
    assert read_input("literal", streams) == "literal"
    flood = Streams(io.StringIO("x" * (1024 * 1024 + 1)), io.StringIO(), io.StringIO())
    with pytest.raises(CommandError, match="larger than 1048576 bytes"):
        read_input("-", flood)


@pytest.mark.parametrize(
    ("url", "local"),
    [
        pytest.param("http://127.0.0.1:9000", True, id="ipv4-loopback"),
        pytest.param("http://127.3.2.1/dev", True, id="other-127"),
        pytest.param("http://localhost:9000/realms/dev", True, id="localhost"),
        pytest.param("http://[::1]:9000", True, id="ipv6-loopback"),
        pytest.param("https://127.0.0.1", True, id="https-loopback"),
        pytest.param("https://idp.example.test/", False, id="remote-https"),
        pytest.param("http://192.0.2.1/", False, id="remote-http"),
        pytest.param("ftp://127.0.0.1/", False, id="scheme"),
        pytest.param("http://user:secret@127.0.0.1/", False, id="credentials"),
        pytest.param("http://127.0.0.1/#fragment", False, id="fragment"),
        pytest.param("http://127.0.0.1:99999/", False, id="bad-port"),
        pytest.param("/oauth/token", False, id="relative"),
    ],
)
def test_is_local_url_follows_the_library_url_rule(url, local):
    assert is_local_url(url) is local


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/", "http://[::1/", "http://127.0.0.1:port/"])
def test_split_url_names_the_option(url):
    with pytest.raises(CommandError, match=r"^--issuer is not a valid URL: "):
        split_url(url, "--issuer")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("alice", "alice", id="plain"),
        pytest.param("\x1b[2J", "\\x1b[2J", id="esc"),
        pytest.param("a\nb\rc\td", "a\\x0ab\\x0dc\\x09d", id="line-breaks-and-tab"),
        pytest.param("\x00\x7f", "\\x00\\x7f", id="nul-del"),
        pytest.param("\x9b\x9d", "\\x9b\\x9d", id="c1"),
        pytest.param("caf\u00e9 \u202e", "caf\\xe9 \\u202e", id="non-ascii"),
        pytest.param("back\\x1b", "back\\\\x1b", id="literal-backslash-stays-distinct"),
    ],
)
def test_escape_text(value, expected):
    assert escape_text(value) == expected


def test_streams_never_write_control_characters():
    out, err = io.StringIO(), io.StringIO()
    streams = Streams(io.StringIO(), out, err)
    streams.out("line one\nline \x1b]0;two\x07")
    streams.err("\x9b2J\x7f")
    assert out.getvalue() == "line one\nline \\x1b]0;two\\x07\n"
    assert err.getvalue() == "\\x9b2J\\x7f\n"
