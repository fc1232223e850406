"""What every ``jwt-guard`` command shares: exit codes, :class:`CommandError`,
the output streams, formatting helpers, input reading and the argparse
converters. Pure: no I/O beyond the streams it is handed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Any, TypeGuard, TypeVar
from urllib.parse import SplitResult, urlsplit

from jwt_guard._config import is_loopback_host, url_allowed
from jwt_guard._reasons import details_of
from jwt_guard.errors import InvalidAudience, InvalidIssuer, KeySetUnavailable

__all__ = [
    "DEV_AUDIENCE",
    "DEV_ISSUER_PORT",
    "DEV_ISSUER_URL",
    "EXIT_BROKEN_PIPE",
    "EXIT_CODES",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "CommandError",
    "Setting",
    "Streams",
    "advice",
    "escape_text",
    "flag_setting",
    "format_span",
    "format_time",
    "formatter",
    "is_local_url",
    "is_number",
    "lifetime_type",
    "port_type",
    "quiet_library",
    "quote",
    "read_input",
    "seconds_type",
    "split_url",
    "split_words",
    "strip_bearer",
    "to_json",
    "variable_setting",
]

#: The token (or whatever was asked) is fine.
EXIT_OK = 0
#: The token is invalid or lacks a required scope, a token request was
#: refused, or a server command could not listen on its port.
EXIT_INVALID = 1
#: Bad arguments, unreadable files, malformed input, invalid configuration.
EXIT_USAGE = 2
#: Keys, the development issuer or the revocation store's Redis could not be reached.
EXIT_UNAVAILABLE = 3
# 128 + SIGPIPE, what a shell reports for a process killed by a closed pipe.
EXIT_BROKEN_PIPE = 141

#: The exit codes as the main ``--help`` lists them.
EXIT_CODES = """\
exit codes:
  0  success
  1  invalid token or insufficient scope; a refused token request; a port already taken
  2  usage error, malformed input or invalid configuration
  3  signing keys, the development issuer or Redis could not be reached"""

#: Default port of ``dev-issuer`` (8000 is left to the API under development).
DEV_ISSUER_PORT = 9000
DEV_ISSUER_URL = f"http://127.0.0.1:{DEV_ISSUER_PORT}"
DEV_AUDIENCE = "https://api.example.test"

# Input larger than this is refused outright: it is not a token.
_MAX_INPUT = 1024 * 1024


class CommandError(Exception):
    """A one-line failure with its exit code; printed without a traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# C0 controls, DEL and C1 controls (ECMA-48): what a terminal acts on.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROLS_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _escaped(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def escape_text(value: str) -> str:
    """*value* (token content) as one printable ASCII line: backslashes
    doubled, control characters (line breaks included) and non-ASCII as
    ``\\xNN``/``\\uNNNN`` escapes. A claim can then neither drive the
    terminal (ESC, CSI, OSC sequences) nor fake a line of the output."""
    value = _CONTROLS.sub(_escaped, value.replace("\\", "\\\\"))
    return value.encode("ascii", "backslashreplace").decode("ascii")


@dataclass
class Streams:
    """Where a command reads and writes (``sys`` streams, or buffers in tests).

    Whatever is written passes through one last filter: C0 (but the line
    breaks the commands write), DEL and C1 control characters come out as
    ``\\xNN``. Values from tokens are escaped where they are formatted
    (:func:`escape_text`, or JSON); this is the net under every other string.
    """

    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]

    def out(self, text: str = "") -> None:
        print(_CONTROLS_BUT_NEWLINE.sub(_escaped, text), file=self.stdout, flush=True)

    def err(self, text: str) -> None:
        print(_CONTROLS_BUT_NEWLINE.sub(_escaped, text), file=self.stderr, flush=True)


# -- formatting (pure) -------------------------------------------------------


def to_json(value: Any, *, indent: int | None = 2) -> str:
    """*value* as JSON for the terminal."""
    # ensure_ascii: claims come from an untrusted token; escaping every
    # non-ASCII character means no terminal control or bidi sequence is printed.
    return json.dumps(value, indent=indent, ensure_ascii=True, sort_keys=False)


def quote(value: Any) -> str:
    """*value* as a one-line, ASCII-only JSON literal."""
    return json.dumps(value, ensure_ascii=True)


def is_number(value: Any) -> TypeGuard[float]:
    """A finite JSON number (``bool`` excluded)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def format_span(seconds: float) -> str:
    """A human duration: the two largest non-zero units (``"2 hours 5 minutes"``)."""
    remaining = int(abs(seconds))
    parts: list[str] = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, remaining = divmod(remaining, size)
        if count and len(parts) < 2:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
        elif parts:
            break
    return " ".join(parts) if parts else "0 seconds"


def format_time(name: str, value: Any, now: float) -> str:
    """``exp``/``iat``/``nbf``/``auth_time`` as a UTC date and a relative phrase."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return f"not a NumericDate: {quote(value)}"
    try:
        when = datetime.fromtimestamp(value, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"out of range: {quote(value)}"
    delta = value - now
    span = format_span(delta)
    if name == "exp":
        relative = f"expires in {span}" if delta > 0 else f"expired {span} ago"
    elif name == "nbf":
        relative = f"not valid for another {span}" if delta > 0 else f"valid since {span} ago"
    elif delta > 0:
        relative = f"in {span} (in the future)"
    else:
        relative = f"{span} ago"
    return f"{when}  ({relative})"


# -- advice ------------------------------------------------------------------

#: ``setting(option, value)``: how the reader sets a Verifier option, in the
#: words of where the configuration came from (a flag, a variable).
Setting = Callable[[str, str], str]


def flag_setting(option: str, value: str) -> str:
    """``use --issuer 'https://…'``."""
    return f"use --{option} {value!a}"


def variable_setting(prefix: str) -> Setting:
    """``set JWT_GUARD_ISSUER to 'https://…'`` for variables with *prefix*."""

    def setting(option: str, value: str) -> str:
        return f"set {prefix}{option.upper()} to {value!a}"

    return setting


def advice(error: BaseException, setting: Setting) -> str | None:
    """What to change about *error*, when the configuration may be at fault.

    An issuer that its discovery document names differently is a
    configuration error; a token from another issuer or for another audience
    may be the wrong token or the wrong configuration, and the advice says so.
    """
    details = details_of(error)
    if isinstance(error, KeySetUnavailable) and details.get("configuration"):
        found = details.get("discovered_issuer")
        if isinstance(found, str):
            return f"{setting('issuer', found)} (the issuer its discovery document names)"
        return "check the issuer URL: its discovery document names no usable issuer"
    received = details.get("received")
    if isinstance(received, list) and received and isinstance(received[0], str):
        received = received[0]
    if not isinstance(received, str):
        return None
    if isinstance(error, InvalidIssuer):
        return f"the token's issuer is {received!a}: if that is your identity provider, {setting('issuer', received)}"
    if isinstance(error, InvalidAudience):
        return f"the token is meant for {received!a}: if that is this API, {setting('audience', received)}"
    return None


# -- input -------------------------------------------------------------------


def read_input(value: str, streams: Streams) -> str:
    """The argument *value*, or stdin when it is ``-`` (bounded)."""
    data = streams.stdin.read(_MAX_INPUT + 1) if value == "-" else value
    if len(data) > _MAX_INPUT:
        raise CommandError(f"the input is larger than {_MAX_INPUT} bytes: not a token")
    return data


def strip_bearer(text: str) -> str:
    """The token in a pasted ``[Authorization:] [Bearer] <token>``."""
    text = text.strip()
    if text[:14].lower() == "authorization:":
        text = text[14:].strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        text = rest.strip()
    return text


def split_words(values: Sequence[str] | None) -> list[str]:
    """Repeated options whose values may also be space- or comma-separated."""
    words: list[str] = []
    for value in values or ():
        words.extend(part for part in value.replace(",", " ").split() if part)
    return words


def split_url(url: str, what: str) -> SplitResult:
    """*url* split into its parts; :class:`CommandError` naming *what* when it
    cannot be parsed (a bad port, a broken IPv6 literal)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise CommandError(f"{what} is not a valid URL: {url!r}") from None
    return parts


def is_local_url(url: str) -> bool:
    """True for a URL the library would fetch (``check_url``) on a loopback host."""
    # url_allowed first: it has parsed the URL, so urlsplit cannot raise below.
    return url_allowed(url, allow_http=False) and is_loopback_host(urlsplit(url).hostname)


# -- argparse ----------------------------------------------------------------


def formatter(prog: str) -> argparse.HelpFormatter:
    """Help text as written (examples keep their line breaks)."""
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


_N = TypeVar("_N", int, float)


def _convert(convert: Callable[[str], _N], value: str, expected: str) -> _N:
    """*value* as a number, or the argparse error "not *expected*"."""
    try:
        return convert(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {expected}: {value!r}") from None


def port_type(value: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) included."""
    number = _convert(int, value, "a port number")
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, got {number}")
    return number


def seconds_type(value: str) -> float:
    """An argparse type: a finite, non-negative duration."""
    number = _convert(float, value, "a number of seconds")
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"a duration is a finite number >= 0, got {value!r}")
    return number


def lifetime_type(value: str) -> int:
    """An argparse type: a positive whole number of seconds."""
    number = _convert(int, value, "a whole number of seconds")
    if number <= 0:
        raise argparse.ArgumentTypeError("a token lifetime is a positive number of seconds")
    return number


@contextlib.contextmanager
def quiet_library() -> Iterator[None]:
    """The command reports failures itself: the library's log lines would
    repeat them (a handler of its own keeps Python's last-resort one quiet)."""
    logger = logging.getLogger("jwt_guard")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
