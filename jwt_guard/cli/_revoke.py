"""``jwt-guard revoke``: refuse a stolen token, or every token of a subject or
client issued until now, on every host that shares the Redis store."""

from __future__ import annotations

import argparse
import os
import time

from jwt_guard.cli._common import EXIT_OK, CommandError, Streams, formatter, quiet_library, quote, split_words, to_json
from jwt_guard.cli._store import (
    ENV_ISSUER,
    ENV_REDIS_URL,
    add_store_options,
    describe,
    format_instant,
    instant_type,
    open_store,
    record_document,
    unavailable,
)
from jwt_guard.errors import StoreUnavailable

__all__ = ["add_parser", "run"]

_EPILOG = f"""\
Writes one revocation record to the Redis that the API's RedisStore uses
(Verifier(revocation=RedisStore.from_url(...))). It returns once Redis has
stored the record; every API process then refuses the token(s) as soon as
its mirror hears of it, typically within milliseconds.

What to revoke:
  --jti J --exp T   one stolen token (its jti and exp); kept until T
  --sub S           every token of subject S issued at or before --before
                    ("log out everywhere", a password change)
  --client C        every token of OAuth client C (client_id or azp)
                    issued at or before --before (a leaked client secret)
--before defaults to now; it may lie at most the clock skew (60 s, or
$JWT_GUARD_LEEWAY) in the future. Times are epoch seconds or ISO 8601 with
a UTC offset (2026-01-31T12:00:00Z). Tokens issued later are accepted again:
a fresh login works.

The record belongs to one issuer (--issuer, or ${ENV_ISSUER}) and matches
only tokens whose iss is exactly that string.

examples:
  jwt-guard revoke --redis redis://127.0.0.1:6379/0 --issuer https://idp.example.com/ \\
      --jti 5f1c0c1e-stolen --exp 1767225600
  jwt-guard revoke --sub auth0|5f7c8ec7c33c          # ${ENV_REDIS_URL} and {ENV_ISSUER} set
  jwt-guard revoke --client mobile-app --before 2026-01-31T12:00:00Z --json

exit codes:
  0  the record is in Redis (or the token has expired already: nothing to do)
  2  usage error (a missing --exp or --issuer, a malformed time, a cutoff too far ahead)
  3  Redis could not be reached; nothing was revoked
"""


def _issuer(args: argparse.Namespace, streams: Streams) -> str:
    configured = split_words([os.environ.get(ENV_ISSUER, "")])
    if args.issuer is None:
        if not configured:
            raise CommandError(f"--issuer is required (or set {ENV_ISSUER}): a record applies to one issuer")
        if len(configured) > 1:
            raise CommandError(f"{ENV_ISSUER} names several issuers; choose one with --issuer")
        return configured[0]
    if configured and args.issuer not in configured:
        # Issuers match exactly: "https://idp.example.com" never matches
        # tokens from "https://idp.example.com/".
        streams.err(
            f"jwt-guard revoke: warning: --issuer {quote(args.issuer)} is not one of {ENV_ISSUER} "
            f"({', '.join(quote(item) for item in configured)}); the record matches only tokens with exactly this iss"
        )
    return str(args.issuer)


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard revoke`` with parsed *args*; return the exit code."""
    if args.jti is not None:
        if args.exp is None:
            raise CommandError("--jti needs --exp: the token's exp, until which the record is kept")
        if args.before is not None:
            raise CommandError("--before applies to --sub and --client; a --jti record lasts until --exp")
    elif args.exp is not None:
        raise CommandError("--exp applies to --jti; use --before with --sub or --client")
    issuer = _issuer(args, streams)
    store = open_store(args)
    try:
        with quiet_library():
            if args.jti is not None:
                record = store.revoke_token(args.jti, issuer=issuer, expires_at=args.exp)
            elif args.sub is not None:
                record = store.revoke_subject(args.sub, issuer=issuer, before=args.before)
            else:
                record = store.revoke_client(args.client, issuer=issuer, before=args.before)
    except StoreUnavailable:
        raise unavailable(args) from None
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    # A record that would already have lapsed is not written (see Store.revoke_token).
    written = record.expires_at > time.time()
    if args.json:
        streams.out(to_json({"revoked": written, **record_document(record)}))
    elif written:
        streams.out(f"revoked: {describe(record)}")
        streams.out(f"  issuer: {quote(record.issuer)}")
    elif record.kind == "token":
        streams.out(
            f"nothing to revoke: the token expired at {format_instant(record.at)} "
            f"({format_instant(record.expires_at)} with the clock skew); every host refuses it already"
        )
    else:
        streams.out(
            f"nothing to revoke: tokens issued at or before {format_instant(record.at)} have all expired "
            f"by {format_instant(record.expires_at)} (the longest token lifetime and the clock skew later)"
        )
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``revoke`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "revoke",
        help="revoke a token, a subject's or a client's tokens, on every host",
        description="Revoke a stolen token, or every token of a subject or client, in the shared Redis store.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--jti", metavar="JTI", help="revoke the one token with this jti (needs --exp)")
    what.add_argument("--sub", metavar="SUBJECT", help="revoke the subject's tokens issued until --before")
    what.add_argument("--client", metavar="CLIENT_ID", help="revoke the client's tokens issued until --before")
    parser.add_argument("--exp", type=instant_type, metavar="TIME", help="with --jti: the token's exp")
    parser.add_argument(
        "--before", type=instant_type, metavar="TIME", help="with --sub/--client: the cutoff (default now)"
    )
    parser.add_argument("--issuer", metavar="ISS", help=f"the tokens' issuer, exactly as iss (default: ${ENV_ISSUER})")
    add_store_options(parser)
    parser.add_argument("--json", action="store_true", help="print the record as JSON")
    parser.set_defaults(handler=run)
