"""HTTP target URIs compared the way RFC 3986 compares them.

A DPoP proof names the URL it was made for (``htu``, RFC 9449 §4.2) and the
server compares it with the URL of the request it received (§4.3, step 9)
after syntax-based (RFC 3986 §6.2.2) and scheme-based (§6.2.3)
normalisation of both sides:

* scheme and host are case-insensitive and compared in lower case;
* percent-encodings use upper-case hex digits, and encoded unreserved
  characters (``%7E`` for ``~``, ``%41`` for ``A``) are decoded;
* ``.`` and ``..`` path segments are removed (§5.2.4), after decoding, so
  ``%2E%2E`` is a dot segment too;
* the default port of the scheme and an empty port are dropped, an empty path
  becomes ``/``;
* query and fragment take no part (RFC 9449 §4.3).

Anything that is not an absolute ``http``, ``https``, ``ws`` or ``wss`` URI
with a host is refused rather than guessed at: user information, characters
outside RFC 3986, malformed percent-encodings, IPv6 zone identifiers. Pure
and bounded: every step is linear in the length of the input.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

__all__ = ["DEFAULT_PORTS", "MAX_URL_LENGTH", "normalize_url"]

#: Longest URL (without query and fragment) that is compared at all.
MAX_URL_LENGTH = 8192

#: Schemes a target URI may have, with their default ports (RFC 9110 §4.2,
#: RFC 6455 §3). ``ws``/``wss`` serve WebSocket handshakes.
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}

# RFC 3986 §2: every character a URI may contain (reserved, unreserved, "%").
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/\[\]@!$&'()*+,;=%]*")
# §3: scheme "://" authority path-abempty (query and fragment already cut off).
_ABSOLUTE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://([^/]*)(.*)", re.DOTALL)
# §3.2.2 reg-name and §3.3 path-abempty, with well-formed percent-encodings.
_REG_NAME = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_PATH = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
_PORT = re.compile(r"[0-9]{0,5}")
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _decode_unreserved(match: re.Match[str]) -> str:
    # §6.2.2.2: decode unreserved characters; §6.2.2.1: upper-case hex digits.
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _decode_unreserved_host(match: re.Match[str]) -> str:
    # The host is case-insensitive (§3.2.2): a decoded letter is lower-cased.
    char = chr(int(match.group(1), 16))
    return char.lower() if char in _UNRESERVED else "%" + match.group(1).upper()


def _normalize_percent(text: str) -> str:
    return _PERCENT.sub(_decode_unreserved, text) if "%" in text else text


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path (it starts with ``/``)."""
    segments = path.split("/")
    if "." not in segments and ".." not in segments:
        return path
    output: list[str] = []
    for segment in segments[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    if segments[-1] in (".", ".."):
        output.append("")  # "/a/b/.." is "/a/": the last segment stays a directory
    return "/" + "/".join(output)


def _host(authority: str) -> tuple[str, str] | None:
    """(normalised host, port text) of an authority without user information."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            return None
        literal, rest = authority[1:end], authority[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        if "%" in literal:
            return None  # RFC 6874 zone identifiers name a local interface: never a target
        try:
            # IPvFuture is refused too; an IPv6 address is written one way only.
            host = "[" + ipaddress.IPv6Address(literal).compressed + "]"
        except ValueError:
            return None
        return host, rest[1:]
    host, _, port = authority.partition(":")
    if not _REG_NAME.fullmatch(host):
        return None
    host = host.lower()
    return (_PERCENT.sub(_decode_unreserved_host, host) if "%" in host else host), port


@lru_cache(maxsize=256)
def _normalize(url: str) -> str | None:
    if not url.isascii() or not _URI_CHARS.fullmatch(url):
        return None
    match = _ABSOLUTE.fullmatch(url)
    if match is None:
        return None
    scheme, authority, path = match.groups()
    scheme = scheme.lower()
    default_port = DEFAULT_PORTS.get(scheme)
    if default_port is None or "@" in authority:
        return None  # RFC 9110 §4.2.4: no user information in an http(s) URI
    parsed = _host(authority)
    if parsed is None:
        return None
    host, port = parsed
    if not _PORT.fullmatch(port) or not _PATH.fullmatch(path):
        return None
    if port:
        number = int(port)
        if number > 65535:
            return None
        if number != default_port:
            host = f"{host}:{number}"
    path = _remove_dot_segments(_normalize_percent(path)) if path else "/"
    return f"{scheme}://{host}{path}"


def normalize_url(url: str) -> str | None:
    """*url* without query and fragment, normalised for comparison; ``None``
    when it is not an absolute http(s)/ws(s) URI with a host.

    Two URLs name the same DPoP target when their normalised forms are equal.
    """
    # Query and fragment are ignored (RFC 9449 §4.3), whatever they contain.
    end = len(url)
    for delimiter in "?#":
        found = url.find(delimiter, 0, end)
        if found >= 0:
            end = found
    url = url[:end]
    if len(url) > MAX_URL_LENGTH:
        return None
    # Short URLs repeat (a server sees the same few; a client reuses its own),
    # so they are memoised; a long one is worked out each time.
    return _normalize(url) if len(url) <= 512 else _normalize.__wrapped__(url)
