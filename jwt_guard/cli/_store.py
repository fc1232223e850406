"""What ``jwt-guard revoke`` and ``jwt-guard revocations`` share: the Redis
store they open (configured like the API's, from the same variables),
instants on the command line, and how records are shown.

The commands only write and read records in Redis; they never start a
mirror, so they return as soon as Redis has answered.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from jwt_guard.cli._common import EXIT_UNAVAILABLE, CommandError, quote, seconds_type
from jwt_guard.errors import ConfigurationError

if TYPE_CHECKING:
    from jwt_guard.stores import RedisStore, Revocation

__all__ = [
    "ENV_ISSUER",
    "ENV_REDIS_URL",
    "add_store_options",
    "describe",
    "format_instant",
    "instant_type",
    "open_store",
    "record_document",
    "unavailable",
]

ENV_REDIS_URL = "JWT_GUARD_REVOCATION_REDIS_URL"
ENV_PREFIX = "JWT_GUARD_REVOCATION_PREFIX"
ENV_LIFETIME = "JWT_GUARD_REVOCATION_MAX_TOKEN_LIFETIME"
ENV_ISSUER = "JWT_GUARD_ISSUER"
ENV_LEEWAY = "JWT_GUARD_LEEWAY"
DEFAULT_PREFIX = "jwt_guard:"
# The store's default clock_skew: the verifier's default leeway.
_DEFAULT_SKEW = 60.0


def instant_type(value: str) -> float | datetime:
    """An argparse type: epoch seconds, or ISO 8601 with a UTC offset (``Z`` or ``+02:00``)."""
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number) or number < 0:
            raise argparse.ArgumentTypeError(f"not an instant: {value!r} (epoch seconds are finite and >= 0)")
        return number
    # Python 3.10's fromisoformat does not read a "Z" suffix.
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an instant: {value!r} (epoch seconds, or ISO 8601 such as 2026-01-31T12:00:00Z)"
        ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} has no UTC offset; add Z (UTC) or +hh:mm, so that every host reads the same instant"
        )
    return when


def format_instant(epoch: float) -> str:
    """An epoch instant as a UTC date, to the second (milliseconds when it has them)."""
    when = datetime.fromtimestamp(epoch, tz=timezone.utc)
    if when.microsecond:
        return when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d} UTC"
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--redis``, ``--prefix`` and ``--max-token-lifetime`` (defaults from the environment)."""
    parser.add_argument(
        "--redis", metavar="URL", help=f"the Redis the API's RedisStore uses (default: ${ENV_REDIS_URL})"
    )
    parser.add_argument(
        "--prefix", metavar="PREFIX", help=f"its key prefix (default: ${ENV_PREFIX}, else {DEFAULT_PREFIX})"
    )
    parser.add_argument(
        "--max-token-lifetime",
        metavar="SECONDS",
        type=seconds_type,
        help=f"how long a cutoff is kept: the API's setting (default: ${ENV_LIFETIME}, else 86400)",
    )


def _environ_seconds(environ: Mapping[str, str], name: str) -> float | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    try:
        number = float(value)
    except ValueError:
        raise CommandError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number):
        raise CommandError(f"{name} must be a finite number, got {value!r}")
    return number


def open_store(args: argparse.Namespace, on_event: Any = None) -> RedisStore:
    """The RedisStore the command writes to or reads from, configured as the
    API's would be from the same ``JWT_GUARD_*`` variables (records written
    here then lapse when the API's mirrors expect them to)."""
    environ = os.environ
    url = args.redis or environ.get(ENV_REDIS_URL, "").strip()
    if not url:
        raise CommandError(f"--redis URL is required (or set {ENV_REDIS_URL})")
    prefix = args.prefix if args.prefix is not None else environ.get(ENV_PREFIX, DEFAULT_PREFIX).strip()
    lifetime = args.max_token_lifetime
    if lifetime is None:
        lifetime = _environ_seconds(environ, ENV_LIFETIME)
    leeway = _environ_seconds(environ, ENV_LEEWAY)
    options: dict[str, Any] = {
        "prefix": prefix,
        "clock_skew": max(_DEFAULT_SKEW, leeway or 0.0),
        "on_event": on_event,
    }
    if lifetime is not None:
        options["max_token_lifetime"] = lifetime
    from jwt_guard.stores import RedisStore

    try:
        return RedisStore.from_url(url, **options)
    except ConfigurationError as exc:
        raise CommandError(exc.description) from None


def unavailable(args: argparse.Namespace) -> CommandError:
    """Redis did not answer: exit code 3, naming the server (without credentials)."""
    from jwt_guard.stores._redis import display_url

    url = args.redis or os.environ.get(ENV_REDIS_URL, "").strip()
    return CommandError(f"cannot reach Redis at {display_url(url)}", EXIT_UNAVAILABLE)


def describe(record: Revocation) -> str:
    """One line saying what *record* refuses, without its issuer."""
    value = quote(record.value)
    if record.kind == "token":
        what = f"token    jti {value}: refused until its exp, {format_instant(record.at)}"
    else:
        label = "subject" if record.kind == "subject" else "client "
        what = f"{label}  {value}: tokens issued at or before {format_instant(record.at)} are refused"
    return f"{what} (record lapses {format_instant(record.expires_at)})"


def record_document(record: Revocation) -> dict[str, Any]:
    """*record* as JSON values (instants as epoch seconds and ISO 8601)."""
    return {
        "kind": record.kind,
        "issuer": record.issuer,
        "value": record.value,
        "at": record.at,
        "at_iso": datetime.fromtimestamp(record.at, tz=timezone.utc).isoformat(),
        "expires_at": record.expires_at,
        "expires_at_iso": datetime.fromtimestamp(record.expires_at, tz=timezone.utc).isoformat(),
    }
