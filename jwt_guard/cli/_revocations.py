"""``jwt-guard revocations``: list the active revocation records in the shared Redis store."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from jwt_guard.cli._common import EXIT_OK, CommandError, Streams, formatter, quiet_library, quote, to_json
from jwt_guard.cli._store import (
    ENV_REDIS_URL,
    add_store_options,
    describe,
    open_store,
    record_document,
    unavailable,
)
from jwt_guard.errors import StoreUnavailable

__all__ = ["add_parser", "run"]

_EPILOG = f"""\
Reads every active record from the Redis that the API's RedisStore uses
(what each API process mirrors in memory), grouped by issuer. Records lapse
on their own: a token's at its exp (plus the clock skew), a subject's or
client's cutoff after the longest token lifetime (--max-token-lifetime).
Malformed entries under the prefix are skipped and counted on stderr.

examples:
  jwt-guard revocations --redis redis://127.0.0.1:6379/0
  jwt-guard revocations --issuer https://idp.example.com/ --json | jq '.[].value'   # ${ENV_REDIS_URL} set

exit codes:
  0  listed (possibly nothing)
  2  usage error
  3  Redis could not be reached
"""


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard revocations`` with parsed *args*; return the exit code."""
    skipped: Counter[str] = Counter()

    def on_event(event: Any) -> None:
        if event.kind == "store_record_skipped":
            skipped.update(event.details.get("reasons", {}))

    store = open_store(args, on_event=on_event)
    try:
        with quiet_library():
            records = store.revocations(args.issuer)
    except StoreUnavailable:
        raise unavailable(args) from None
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    finally:
        store.close()
    if skipped:
        reasons = ", ".join(f"{count} {reason}" for reason, count in sorted(skipped.items()))
        streams.err(f"jwt-guard revocations: warning: skipped malformed records in Redis ({reasons})")
    if args.json:
        streams.out(to_json([record_document(record) for record in records]))
        return EXIT_OK
    if not records:
        streams.out("no active revocations" + (f" for {quote(args.issuer)}" if args.issuer else ""))
        return EXIT_OK
    issuer = None
    for record in records:
        if record.issuer != issuer:
            issuer = record.issuer
            count = sum(1 for other in records if other.issuer == issuer)
            streams.out(f"{quote(issuer)}: {count} active record{'' if count == 1 else 's'}")
        streams.out(f"  {describe(record)}")
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``revocations`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "revocations",
        help="list the active revocations in the shared store",
        description="List the active revocation records in the shared Redis store.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--issuer", metavar="ISS", help="only this issuer's records (default: every issuer)")
    add_store_options(parser)
    parser.add_argument("--json", action="store_true", help="print the records as a JSON list")
    parser.set_defaults(handler=run)
