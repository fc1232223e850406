"""The ``jwt-guard`` command line (also ``python -m jwt_guard``).

Commands::

    jwt-guard inspect TOKEN|-         decode a token, UNVERIFIED, with warnings
    jwt-guard verify TOKEN|- ...      run the real Verifier on a token
    jwt-guard check [--token T]       diagnose a configuration against its issuer
    jwt-guard dev-issuer              a local identity provider for development
    jwt-guard token --scope ...       get a token from a running dev-issuer
    jwt-guard demo                    a protected API plus a local issuer
    jwt-guard revoke --jti|--sub|--client ...   revoke tokens in the shared Redis store
    jwt-guard revocations             list the active revocations

Exit codes are the same for every command: 0 success, 1 invalid token or
insufficient scope (or a refused token request, or a port already taken), 2
usage error or malformed input, 3 keys, the issuer, Redis or the checked server unobtainable. Errors
are one line on stderr, never a traceback.

Each command is one module (``_inspect``, ``_verify``, ``_check``,
``_dev_issuer``, ``_token``, ``_demo``, ``_revoke``, ``_revocations``) with an
``add_parser(commands)`` that registers its options and help, and a ``run(args, streams)`` that returns the exit code or
raises :class:`~jwt_guard.cli._common.CommandError`; what they share (exit
codes, streams, formatting, argparse types) is in ``_common``. A new command
is a new module listed in ``_COMMANDS``.

This package imports no web framework: the demo's are imported when the
``demo`` command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from jwt_guard.cli import _check, _demo, _dev_issuer, _inspect, _revocations, _revoke, _token, _verify
from jwt_guard.cli._common import (
    DEV_ISSUER_PORT,
    EXIT_BROKEN_PIPE,
    EXIT_CODES,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CommandError,
    Streams,
    formatter,
)

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

#: The commands in the order ``--help`` lists them.
_COMMANDS = (_inspect, _verify, _check, _dev_issuer, _token, _demo, _revoke, _revocations)

_MAIN_EPILOG = f"""\
examples:
  jwt-guard demo                                   # a protected API and a local issuer
  jwt-guard inspect eyJhbGciOi...                  # decode a token (UNVERIFIED)
  jwt-guard verify "$TOKEN" --issuer https://idp.example.com/ --audience https://api.example.com
  jwt-guard check --token "$TOKEN"                 # diagnose the JWT_GUARD_* configuration
  jwt-guard dev-issuer                             # local identity provider on port {DEV_ISSUER_PORT}
  TOKEN=$(jwt-guard token --scope read)            # a token from that dev-issuer
  jwt-guard revoke --redis redis://127.0.0.1:6379/0 --issuer https://idp.example.com/ --sub alice

Run `jwt-guard COMMAND --help` for each command's options and examples.

{EXIT_CODES}
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``jwt-guard`` argument parser (every command, with help and examples)."""
    from jwt_guard import __version__

    parser = argparse.ArgumentParser(
        prog="jwt-guard",
        description="Verify, inspect and mint OAuth 2.0 access tokens (JWTs) while developing protected APIs.",
        epilog=_MAIN_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"jwt-guard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in _COMMANDS:
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jwt-guard`` console script; returns the exit code."""
    streams = Streams(sys.stdin, sys.stdout, sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace, Streams], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args, streams)
    except CommandError as exc:
        streams.err(f"jwt-guard {args.command}: error: {exc.message}")
        return exc.code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as SIGPIPE would.
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (captured output)
        pass
