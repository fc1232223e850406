"""``jwt-guard demo``: a local development issuer and a protected API on
127.0.0.1, with a token and curl lines to try.

The web framework (Starlette) and server (uvicorn) are imported when the
demo runs, never when the command line starts.

.. warning::
   The demo issuer mints tokens for anyone who asks and keeps its private key
   in memory. It exists for local development only.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import sys
from collections.abc import AsyncIterator
from typing import TextIO

from jwt_guard._config import is_loopback_host
from jwt_guard.cli._common import EXIT_OK, CommandError, Streams, formatter, port_type
from jwt_guard.cli._summary import Summary

__all__ = ["add_parser", "run", "run_demo"]

AUDIENCE = "https://api.jwt-guard.demo"
#: The audience of the demo's "token for another API".
OTHER_AUDIENCE = "https://other-api.jwt-guard.demo"
SCOPE = "read:messages"
TOKEN_LIFETIME = 3600
#: Seconds between two summary lines (printed only when something changed).
SUMMARY_EVERY = 10.0
#: ``demo`` picks a free port unless told otherwise: it must start anywhere.
DEMO_PORT = 0

_EPILOG = """\
Starts a small protected API together with a local development issuer, both
on 127.0.0.1, and prints the commands to try it (no outside network needed).
Refused tokens are logged on stderr with the reason and the expected vs
received values; a summary line (verifications, refusals by reason, the key
set's state) follows every few seconds when it changed. It runs until Ctrl-C.
Needs the demo extra: pip install 'jwt-guard[demo]'.

examples:
  jwt-guard demo
  jwt-guard demo --port 8080
  jwt-guard demo --port 0          # any free port (printed)
  jwt-guard demo --summary 2       # a summary line every 2 seconds

exit codes:
  0  stopped with Ctrl-C
  1  the port is taken
  2  usage error, or a missing dependency
"""


def _banner(issuer_url: str, token_url: str, api: str, token: str, unscoped: str, foreign: str) -> str:
    rule = "!" * 78
    return f"""
{rule}
!!  jwt-guard demo: the issuer below is for DEVELOPMENT ONLY.
!!  It mints tokens for anyone who asks. Never trust it outside this demo.
{rule}

  development issuer  {issuer_url}
  protected API       {api}   (GET /  public,  GET /me  any token,
                                     GET /messages  scope "{SCOPE}")

  A token with scope "{SCOPE}", valid for {TOKEN_LIFETIME // 60} minutes:

    TOKEN={token}

  Try (expect 200, 401, 403, and 401 for a token meant for another API;
  refused tokens are logged below with the reason and expected vs received):

    curl -i -H "Authorization: Bearer {token}" {api}/messages
    curl -i {api}/messages
    curl -i -H "Authorization: Bearer {unscoped}" {api}/messages
    curl -i -H "Authorization: Bearer {foreign}" {api}/messages

  More tokens from the development issuer:

    curl -s -X POST {token_url} -d grant_type=client_credentials -d scope={SCOPE}

  Press Ctrl-C to stop.
"""


def run_demo(
    *, host: str = "127.0.0.1", port: int = 0, out: TextIO | None = None, summary_every: float = SUMMARY_EVERY
) -> int:
    """Run the demo until interrupted; return the exit code (0 on Ctrl-C).

    Starts a development issuer (:class:`~jwt_guard.testing.LocalServer`) on
    127.0.0.1 with an ephemeral port and a protected Starlette API with
    uvicorn on *host*:*port* (``0``: a free port), then prints a fresh token
    and ready-to-run curl lines. Needs no configuration and no outside
    network. Every *summary_every* seconds (``0``: never) it prints a summary
    line (verifications, refusals by reason, the key set's state) when it
    changed, and once more when it stops.
    """
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from jwt_guard._verifier import Verifier
    from jwt_guard.asgi import JWTGuardMiddleware, get_access_token, require_scopes
    from jwt_guard.testing import LocalIssuer, LocalServer

    out = out if out is not None else sys.stdout
    if not is_loopback_host(host):
        print(f"jwt-guard demo: warning: serving the demo API on {host}, beyond this machine", file=sys.stderr)

    issuer = LocalIssuer(audience=AUDIENCE, token_lifetime=TOKEN_LIFETIME)
    keys = LocalServer(issuer).start()
    # Show jwt_guard's INFO lines (rejections with their reason, key
    # fetches): what an application gets from one line of logging setup.
    library_log = logging.getLogger("jwt_guard")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
    level = library_log.level
    library_log.addHandler(handler)
    library_log.setLevel(logging.INFO)
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so;
        # without it, Nagle and delayed ACKs add 40 ms to every response.
        listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
        except OSError as exc:
            listener.close()
            print(f"jwt-guard demo: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
            return 1
        # Listen now: clients that connect before uvicorn accepts wait in the backlog.
        listener.listen(128)
        bound = listener.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        api = f"http://{shown}:{bound}"

        async def index(request: Request) -> JSONResponse:
            return JSONResponse({"hello": "anyone", "try": "/me, /messages"})

        async def me(request: Request) -> JSONResponse:
            return JSONResponse({"sub": request.user.identity, "scopes": sorted(request.auth.scopes)})

        @require_scopes(SCOPE)
        async def messages(request: Request) -> JSONResponse:
            token = get_access_token(request)
            subject = token.subject if token is not None else None
            return JSONResponse({"messages": [f"hello, {subject}"]})

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            # Runs once the middleware has prefetched the issuer's keys.
            token = issuer.token(scope=SCOPE, sub="demo-user")
            unscoped = issuer.token(sub="demo-user")
            foreign = issuer.token(scope=SCOPE, sub="demo-user", aud=OTHER_AUDIENCE)
            print(_banner(issuer.issuer, keys.token_url, api, token, unscoped, foreign), file=out, flush=True)
            reporter = asyncio.create_task(report()) if summary_every > 0 else None
            yield
            if reporter is not None:
                reporter.cancel()
            await verifier.aclose()  # its async client belongs to this event loop

        async def report() -> None:
            last = summary.line()
            while True:
                await asyncio.sleep(summary_every)
                line = summary.line()
                if line != last:
                    print(f"jwt-guard demo: {line}", file=out, flush=True)
                    last = line

        verifier = Verifier(issuer=issuer.issuer, audience=AUDIENCE)
        summary = Summary()
        verifier.add_event_hook(summary)
        app = Starlette(
            routes=[Route("/", index), Route("/me", me), Route("/messages", messages)],
            middleware=[
                Middleware(JWTGuardMiddleware, verifier=verifier, exclude_paths=["/"], prefetch=True, fail_fast=True)
            ],
            lifespan=lifespan,
        )
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
        server = uvicorn.Server(config)
        try:
            # uvicorn handles SIGINT/SIGTERM itself, shuts down gracefully,
            # then re-raises the signal: KeyboardInterrupt here.
            server.run(sockets=[listener])
        except KeyboardInterrupt:
            pass
        except SystemExit:  # uvicorn's answer to a failed startup
            pass
        finally:
            listener.close()
            verifier.close()
        if not server.started:
            print("jwt-guard demo: the API did not start", file=sys.stderr)
            return 1
        print(f"jwt-guard demo: {summary.line()}", file=out, flush=True)
        print("jwt-guard demo: stopped", file=out, flush=True)
        return 0
    finally:
        library_log.removeHandler(handler)
        library_log.setLevel(level)
        keys.stop()


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard demo`` with parsed *args* until Ctrl-C."""
    try:
        return run_demo(host="127.0.0.1", port=args.port, summary_every=args.summary)
    except ModuleNotFoundError as exc:
        raise CommandError(f"the demo needs {exc.name}: pip install 'jwt-guard[demo]'") from None
    except KeyboardInterrupt:
        return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``demo`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "demo",
        help="run a protected demo API with a local issuer",
        description="Run a protected API and a local development issuer on 127.0.0.1.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument(
        "--port", type=port_type, default=DEMO_PORT, metavar="N", help="port on 127.0.0.1 (default: a free port)"
    )
    parser.add_argument(
        "--summary",
        type=float,
        default=SUMMARY_EVERY,
        metavar="SECONDS",
        help=f"print a summary line this often when it changed (default: {SUMMARY_EVERY:g}; 0: only at the end)",
    )
    parser.set_defaults(handler=run)
