"""normalize_url: RFC 3986 §6.2.2 and §6.2.3 for DPoP ``htu`` comparison."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jwt_guard._url import MAX_URL_LENGTH, normalize_url


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        # §6.2.2.1 case: scheme and host lower case, hex digits upper case
        ("HTTPS://API.Example.Test/Path", "https://api.example.test/Path"),
        ("https://api.example.test/a%2fb", "https://api.example.test/a%2Fb"),
        ("https://EX%2dAMPLE.test/", "https://ex-ample.test/"),
        ("https://ex%C3%A9.test/", "https://ex%C3%A9.test/"),
        # §6.2.2.2 percent-encoding: unreserved characters decoded, others kept
        ("https://h.test/%7Euser", "https://h.test/~user"),
        ("https://h.test/%41%5a%30%2D%2E%5F", "https://h.test/AZ0-._"),
        ("https://h.test/%20%25%2F%3F%23", "https://h.test/%20%25%2F%3F%23"),
        ("https://h.test/%e2%82%ac", "https://h.test/%E2%82%AC"),
        # §6.2.2.3 dot segments, also when encoded
        ("https://h.test/a/b/c/./../../g", "https://h.test/a/g"),
        ("https://h.test/mid/content=5/../6", "https://h.test/mid/6"),
        ("https://h.test/a/b/..", "https://h.test/a/"),
        ("https://h.test/a/b/.", "https://h.test/a/b/"),
        ("https://h.test/../../x", "https://h.test/x"),
        ("https://h.test/..", "https://h.test/"),
        ("https://h.test/%2e%2E/x/%2E", "https://h.test/x/"),
        ("https://h.test/a//b/../c", "https://h.test/a//c"),
        ("https://h.test/..a/.b/c..", "https://h.test/..a/.b/c.."),
        # §6.2.3 scheme-based: default and empty ports, empty path
        ("https://h.test:443/x", "https://h.test/x"),
        ("http://h.test:80/x", "http://h.test/x"),
        ("ws://h.test:80/x", "ws://h.test/x"),
        ("wss://h.test:443/x", "wss://h.test/x"),
        ("https://h.test:/x", "https://h.test/x"),
        ("https://h.test:00443/x", "https://h.test/x"),
        ("https://h.test:80/x", "https://h.test:80/x"),
        ("http://h.test:443/x", "http://h.test:443/x"),
        ("https://h.test:8443", "https://h.test:8443/"),
        ("https://h.test", "https://h.test/"),
        # query and fragment are not compared (RFC 9449 §4.3)
        ("https://h.test/x?a=1&b=%zz", "https://h.test/x"),
        ("https://h.test/x#frag", "https://h.test/x"),
        ("https://h.test?x", "https://h.test/"),
        ("https://h.test/x?\u00e9 ", "https://h.test/x"),
        # IP literals: one spelling per address
        # IPv4-mapped: Python 3.13 writes the RFC 5952 mixed form, older ones hex.
        ("http://[::FFFF:127.0.0.1]:8080/", f"http://[{ipaddress.IPv6Address('::ffff:7f00:1').compressed}]:8080/"),
        ("http://[2001:DB8:0:0:0:0:0:1]/", "http://[2001:db8::1]/"),
        ("http://127.0.0.1:8000/x", "http://127.0.0.1:8000/x"),
        # path characters RFC 3986 allows as they are
        ("https://h.test/a:b@c!$&'()*+,;=", "https://h.test/a:b@c!$&'()*+,;="),
    ],
)
def test_normal_forms(url: str, normal: str) -> None:
    assert normalize_url(url) == normal
    assert normalize_url(normal) == normal


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/relative",
        "//h.test/x",
        "h.test/x",
        "https:/h.test/x",
        "https:h.test",
        "https://",
        "https:///x",
        "ftp://h.test/x",
        "file:///etc/passwd",
        "javascript://h.test/%0aalert(1)",
        "https://user@h.test/",
        "https://user:pass@h.test/",
        "https://@h.test/",
        "https://h.test:port/",
        "https://h.test:-1/",
        "https://h.test:65536/",
        "https://h.test:123456/",
        "https://h.test:1:2/",
        "https://h .test/",
        "https://h.test/a b",
        "https://h.test/a\tb",
        "https://h.test/a\nb",
        "https://h.test/a\\b",
        'https://h.test/a"b',
        "https://h.test/<x>",
        "https://h.test/{x}",
        "https://h.test/%",
        "https://h.test/%4",
        "https://h.test/%g0",
        "https://h.test/caf\u00e9",
        "https://h\u00e9.test/",
        "https://h.test/\x00",
        "https://h.test/\ud800",
        "https://[::1/",
        "https://[::1]x/",
        "https://[fe80::1%25eth0]/",
        "https://[v1.abc]/",
        "https://[127.0.0.1]/",
        "https://[::1::2]/",
        "https://h%zz.test/",
        "https://h.test/" + "a" * MAX_URL_LENGTH,
    ],
)
def test_not_an_absolute_http_uri(url: str) -> None:
    assert normalize_url(url) is None


def test_long_urls_work_without_the_memo() -> None:
    path = "/" + "a" * 1000
    assert normalize_url("HTTPS://H.TEST" + path + "/./") == "https://h.test" + path + "/"


_PIECES = st.sampled_from(
    ["/", ".", "..", "%2e", "%2E", "%7e", "%7E", "%2f", "%41", "a", "Z", "~", "%", ":", "@", "?", "#", "[", "]", "%C3"]
)


@given(
    scheme=st.sampled_from(["http", "HTTPS", "ws", "Wss", "ftp"]),
    host=st.sampled_from(["h.test", "H.Test", "[::1]", "127.0.0.1", "h%2Dx.test", ""]),
    port=st.sampled_from(["", ":", ":80", ":443", ":8080", ":099999"]),
    path=st.lists(_PIECES, max_size=12).map("".join),
)
def test_normalising_is_idempotent(scheme: str, host: str, port: str, path: str) -> None:
    """A normal form is its own normal form, so both sides can be normalised alike."""
    url = f"{scheme}://{host}{port}{path}"
    normal = normalize_url(url)
    if normal is not None:
        assert normalize_url(normal) == normal
        assert normal.split("://", 1)[0] in ("http", "https", "ws", "wss")


@given(st.text(max_size=200))
def test_any_text_gives_a_string_or_none(text: str) -> None:
    result = normalize_url(text)
    assert result is None or isinstance(result, str)
    result = normalize_url("https://h.test/" + text)
    assert result is None or result.startswith("https://h.test/")
