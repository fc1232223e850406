"""``jwt-guard dev-issuer``: a local identity provider on 127.0.0.1.

.. warning::
   For development only: it mints a token for anyone who asks.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import urlunsplit

from jwt_guard._config import ASYMMETRIC_ALGORITHMS, is_loopback_host, url_allowed
from jwt_guard.cli._common import (
    DEV_AUDIENCE,
    DEV_ISSUER_PORT,
    DEV_ISSUER_URL,
    EXIT_INVALID,
    EXIT_OK,
    CommandError,
    Streams,
    formatter,
    lifetime_type,
    port_type,
    split_url,
)

if TYPE_CHECKING:
    from jwt_guard.testing import LocalServer

__all__ = ["Address", "add_parser", "dev_issuer_address", "run", "serve_dev_issuer"]

_EPILOG = f"""\
A local identity provider for developing protected APIs without a cloud
identity provider. It listens on 127.0.0.1 only and serves:

  <issuer>/.well-known/openid-configuration   discovery (OpenID Connect)
  /.well-known/jwks.json                       its public signing key (JWKS)
  <issuer>/oauth/token                         client_credentials token endpoint:
                                               form POST with scope, audience,
                                               client_id (no secret checked), and
                                               the development extension sub;
                                               a DPoP proof header (RFC 9449) or
                                               dpop_jkt binds the token to a key

It runs until Ctrl-C (or SIGTERM) and exits 0. Its key is generated at start.
After a restart, an API that is already running still accepts tokens from the
earlier run until it fetches the new key set: at its next refresh (within 5
minutes), or at once when a token from the new run reaches it.

FOR DEVELOPMENT ONLY, NOT FOR PRODUCTION: it mints tokens for anyone who asks.

examples:
  jwt-guard dev-issuer                                   # http://127.0.0.1:{DEV_ISSUER_PORT}
  jwt-guard dev-issuer --port 0                          # any free port (printed)
  jwt-guard dev-issuer --issuer http://localhost:9100/realms/dev --audience my-api
  curl -s -d grant_type=client_credentials -d scope="read write" \\
      http://127.0.0.1:{DEV_ISSUER_PORT}/oauth/token

exit codes:
  0  stopped with Ctrl-C or SIGTERM
  1  the port is taken
  2  usage error
"""

_NOTICE = """\
**********************************************************************
*  jwt-guard dev-issuer: FOR DEVELOPMENT ONLY, NOT FOR PRODUCTION.   *
*  It mints a token for anyone who asks, checks no client secret,    *
*  and keeps its signing key in memory (a new key at every start).   *
**********************************************************************"""


class Address(NamedTuple):
    """Where the development issuer lives, from ``--issuer`` and ``--port``."""

    #: The host name of the issuer URL, as the user wrote it.
    host: str
    #: The address to listen on (``localhost`` names listen on 127.0.0.1).
    bind: str
    port: int
    #: The issuer URL's path ("" or "/realms/dev", trailing slash kept).
    path: str


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def dev_issuer_address(url: str | None, port: int | None) -> Address:
    """The :class:`Address` of ``--issuer`` *url* and ``--port`` *port*:
    plain http on an IPv4 loopback address or ``localhost``, with a path.

    The URL rules are the library's (``url_allowed``, ``is_loopback_host``);
    the development issuer adds plain http, no IPv6 and no query.
    """
    if url is None:
        return Address("127.0.0.1", "127.0.0.1", DEV_ISSUER_PORT if port is None else port, "")
    parts = split_url(url, "--issuer")
    host = parts.hostname
    if parts.scheme != "http" or not host:
        raise CommandError(f"--issuer must be a plain http URL on 127.0.0.1 or localhost, got {url!r}")
    if not is_loopback_host(host) or ":" in host:
        raise CommandError(f"--issuer must name 127.0.0.1 (or another 127.x address) or localhost, got {host!r}")
    if parts.query or not url_allowed(url, allow_http=False):
        raise CommandError("--issuer must not carry a query, fragment or credentials")
    if parts.port is not None and port is not None and parts.port != port:
        raise CommandError(f"--issuer names port {parts.port} but --port says {port}")
    chosen = parts.port if parts.port is not None else (DEV_ISSUER_PORT if port is None else port)
    return Address(host, host if _is_address(host) else "127.0.0.1", chosen, parts.path)


def serve_dev_issuer(
    *,
    issuer_url: str | None,
    port: int | None,
    audience: str,
    algorithm: str,
    lifetime: int,
    streams: Streams,
    stop: threading.Event,
    on_ready: Callable[[LocalServer], None] | None = None,
) -> int:
    """Run the development issuer until *stop* is set (or Ctrl-C)."""
    from jwt_guard.testing import LocalIssuer, LocalServer

    host, bind, chosen_port, path = dev_issuer_address(issuer_url, port)
    if not 0 <= chosen_port <= 65535:
        raise CommandError(f"--port must be between 0 and 65535, got {chosen_port}")
    if lifetime <= 0:
        raise CommandError("--lifetime must be a positive number of seconds")
    issuer = LocalIssuer(f"http://{bind}{path}", audience=audience, algorithm=algorithm, token_lifetime=lifetime)
    server = LocalServer(issuer, host=bind, port=chosen_port, max_age=300)
    try:
        server.start()
    except OSError as exc:
        raise CommandError(f"cannot listen on {bind}:{chosen_port}: {exc.strerror or exc}", EXIT_INVALID) from None
    try:
        # The issuer string is exactly what the user asked for (host name,
        # trailing slash), with the port actually bound.
        netloc = f"{host}:{server.port}"
        issuer.issuer = urlunsplit(("http", netloc, path, "", ""))
        base = issuer.issuer.rstrip("/")
        document = issuer.discovery(jwks_uri=f"http://{netloc}{server.keys.jwks_path}")
        streams.err(_NOTICE)
        streams.out(f"issuer:          {issuer.issuer}")
        streams.out(f"discovery:       {base}/.well-known/openid-configuration")
        streams.out(f"jwks_uri:        {document['jwks_uri']}")
        streams.out(f"token endpoint:  {document['token_endpoint']}")
        streams.out(f"audience:        {audience}  (default for minted tokens)")
        streams.out(f"signing:         {algorithm}, kid {issuer.signing_key.kid}, tokens live {lifetime} s")
        streams.out()
        streams.out("get a token:")
        streams.out(f"  jwt-guard token --issuer {issuer.issuer} --scope read")
        streams.out(f"  curl -s -d grant_type=client_credentials -d scope=read {document['token_endpoint']}")
        streams.out(f"  jwt-guard token --issuer {issuer.issuer} --dpop --url <API URL>   # DPoP-bound, with a proof")
        streams.out("protect your API with:")
        streams.out(f"  JWT_GUARD_ISSUER={issuer.issuer} JWT_GUARD_AUDIENCE={audience}")
        streams.out("press Ctrl-C to stop.")
        if on_ready is not None:
            on_ready(server)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    finally:
        server.stop()
    streams.out("dev-issuer stopped.")
    return EXIT_OK


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard dev-issuer`` with parsed *args* until Ctrl-C or SIGTERM."""
    stop = threading.Event()
    restore: list[tuple[int, Any]] = []
    if threading.current_thread() is threading.main_thread():
        # Ctrl-C and SIGTERM (docker stop, kill) both end it cleanly, even
        # when the shell started it with SIGINT ignored (a background job).
        for signum in (signal.SIGINT, signal.SIGTERM):
            restore.append((signum, signal.signal(signum, lambda signum, frame: stop.set())))
    try:
        return serve_dev_issuer(
            issuer_url=args.issuer,
            port=args.port,
            audience=args.audience,
            algorithm=args.algorithm,
            lifetime=args.lifetime,
            streams=streams,
            stop=stop,
        )
    finally:
        for number, previous in restore:
            signal.signal(number, previous)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``dev-issuer`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "dev-issuer",
        help="run a local development identity provider (NOT for production)",
        description="Run a local OAuth 2.0 / OpenID Connect issuer on 127.0.0.1 for development.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument(
        "--port",
        type=port_type,
        default=None,
        metavar="N",
        help=f"port on 127.0.0.1 (default {DEV_ISSUER_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--issuer",
        metavar="URL",
        help=f"issuer URL, http on 127.0.0.1 or localhost, optionally with a path (default {DEV_ISSUER_URL})",
    )
    parser.add_argument(
        "--audience",
        default=DEV_AUDIENCE,
        metavar="AUD",
        help=f"audience of tokens requested without one (default {DEV_AUDIENCE})",
    )
    parser.add_argument(
        "--algorithm",
        default="RS256",
        choices=sorted(ASYMMETRIC_ALGORITHMS),
        metavar="ALG",
        help="signing algorithm (default RS256; any of RS*, PS*, ES*, EdDSA)",
    )
    parser.add_argument(
        "--lifetime", type=lifetime_type, default=600, metavar="SECONDS", help="token lifetime (default 600)"
    )
    parser.set_defaults(handler=run)
