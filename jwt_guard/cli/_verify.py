"""``jwt-guard verify``: run the real :class:`~jwt_guard.Verifier` on a token."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from jwt_guard._config import DEFAULT_ALGORITHMS
from jwt_guard._events import format_details
from jwt_guard._reasons import details_of, reason_code
from jwt_guard.cli._common import (
    DEV_AUDIENCE,
    DEV_ISSUER_PORT,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CommandError,
    Streams,
    advice,
    escape_text,
    flag_setting,
    format_time,
    formatter,
    read_input,
    seconds_type,
    split_words,
    strip_bearer,
    to_json,
)
from jwt_guard.errors import AuthError, ConfigurationError, JWTGuardError, TemporarilyUnavailable

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken

__all__ = ["add_parser", "add_verifier_arguments", "run", "verifier_options"]

_SECRET_VARIABLE = "JWT_GUARD_INTROSPECTION_CLIENT_SECRET"  # noqa: S105 - a variable name

_EPILOG = f"""\
Runs the same Verifier your API uses: signature with keys from the issuer's
discovery document (or --jwks-uri, or --key), algorithm allowlist, issuer,
audience, expiry, and the scopes of --require-scope. On failure it prints the
RFC 6750 error code and description an API would answer with.

Keys come from exactly one place: the issuer's OpenID Connect discovery
document (default), --jwks-uri, --key (a PEM public key or certificate, or a
JWKS/JWK JSON file), or for HS256/384/512 --secret-file (a file holding the
shared secret). A public key is never taken as a shared secret.
Plain http issuer and JWKS URLs are accepted on loopback hosts only.

Opaque (non-JWT) tokens are checked at the issuer's introspection endpoint
(RFC 7662) when --introspection-client-id is given; the secret comes from
--introspection-secret-file or JWT_GUARD_INTROSPECTION_CLIENT_SECRET, never
from the command line.

examples:
  jwt-guard verify "$TOKEN" --issuer https://tenant.eu.auth0.com/ --audience https://api.example.com \\
      --scope-claim permissions --require-scope read:messages
  jwt-guard verify - --issuer http://127.0.0.1:{DEV_ISSUER_PORT} --audience {DEV_AUDIENCE} < token.txt
  jwt-guard verify "$TOKEN" --issuer https://idp.example.com/ --audience api --key public.pem
  jwt-guard verify "$TOKEN" --issuer https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example \\
      --no-audience --json
  jwt-guard verify "$OPAQUE" --issuer https://idp.example.com/ --audience api \\
      --introspection-client-id my-api --introspection-secret-file secret.txt

exit codes:
  0  valid (and every --require-scope granted)
  1  invalid token, or valid but missing a required scope
  2  usage error or invalid configuration
  3  signing keys could not be obtained, or introspection failed (the API would answer 503)
"""


def verifier_options(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """The :class:`~jwt_guard.Verifier` keyword arguments of the options
    :func:`add_verifier_arguments` declares (``check`` shares them)."""
    issuers = split_words(args.issuer)
    options: dict[str, Any] = {
        "issuer": issuers[0] if len(issuers) == 1 else issuers,
        "result_cache_size": 0,
    }
    if args.no_audience:
        options["audience"] = None
    else:
        audiences = split_words(args.audience)
        options["audience"] = audiences[0] if len(audiences) == 1 else audiences
    client_ids = split_words(args.client_id)
    if client_ids:
        options["client_ids"] = client_ids
    algorithms = split_words(args.algorithm)
    if algorithms:
        options["algorithms"] = algorithms
    if args.jwks_uri:
        options["jwks_uri"] = args.jwks_uri
    if args.key:
        from jwt_guard._env import load_key_file

        options["keys"] = load_key_file(args.key, what="--key")
    if args.secret_file:
        from jwt_guard._env import load_secret_file

        options["secret"] = load_secret_file(args.secret_file, what="--secret-file")
    scope_claims = split_words(args.scope_claim)
    if scope_claims:
        options["scope_claims"] = scope_claims
    if args.leeway is not None:
        options["leeway"] = args.leeway
    if args.timeout is not None:
        from jwt_guard._config import KeyCacheOptions

        options["key_cache"] = KeyCacheOptions(timeout=args.timeout, connect_timeout=min(args.timeout, 2.0))
    introspection = _introspection(args, environ)
    if introspection is not None:
        options["introspection"] = introspection
    return options


def _read_text(path: str, flag: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().strip()
    except (OSError, UnicodeDecodeError):
        raise CommandError(f"{flag}: cannot read {path!r}") from None


def _introspection(args: argparse.Namespace, environ: Mapping[str, str]) -> Any:
    from jwt_guard._introspection import Introspection

    given = [args.introspection_secret_file, args.introspection_private_key, args.introspection_endpoint]
    if args.introspection_client_id is None:
        if any(value is not None for value in given) or args.introspection_auth or args.introspection_key_id:
            raise CommandError("the --introspection-* options need --introspection-client-id")
        return None
    options: dict[str, Any] = {"client_id": args.introspection_client_id, "endpoint": args.introspection_endpoint}
    if args.introspection_private_key is not None:
        options["private_key"] = _read_text(args.introspection_private_key, "--introspection-private-key")
        options["auth"] = "private_key_jwt"
        options["private_key_id"] = args.introspection_key_id
    elif args.introspection_secret_file is not None:
        options["client_secret"] = _read_text(args.introspection_secret_file, "--introspection-secret-file")
    elif environ.get(_SECRET_VARIABLE):
        options["client_secret"] = environ[_SECRET_VARIABLE]
    if args.introspection_auth:
        options["auth"] = args.introspection_auth
    return Introspection(**options)


def _describe(token: AccessToken, now: float) -> list[tuple[str, str]]:
    rows = [
        ("subject", token.subject or "-"),
        ("issuer", token.issuer),
        ("audience", " ".join(token.audience) or "-"),
        ("client", token.client_id or "-"),
        ("scopes", " ".join(sorted(token.scopes)) or "-"),
    ]
    exp = token.claims.get("exp")
    if exp is not None:
        rows.append(("expires", format_time("exp", exp, now)))
    if token.token_id:
        rows.append(("token id", token.token_id))
    return [(name, escape_text(value)) for name, value in rows]


@contextlib.contextmanager
def _library_logging(verbose: bool, streams: Streams) -> Iterator[None]:
    # The verdict already says why keys failed; the library's log lines
    # (fetch failures, retries) are shown only on request.
    logger = logging.getLogger("jwt_guard")
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(streams.stderr)
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    else:
        handler = logging.NullHandler()
    level = logger.level
    logger.addHandler(handler)
    if verbose:
        logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _error_document(error: JWTGuardError) -> dict[str, Any]:
    from jwt_guard._challenge import render

    challenge = render(error)
    document: dict[str, Any] = {"valid": False, "status": challenge.status_code}
    document.update(json.loads(challenge.body))
    document["reason"] = type(error).__name__
    document["reason_code"] = reason_code(error)
    details = details_of(error)
    if details:
        document["details"] = dict(details)
    fix = advice(error, flag_setting)
    if fix is not None:
        document["fix"] = fix
    authenticate = challenge.header("www-authenticate")
    if authenticate is not None:
        document["www_authenticate"] = authenticate
    retry_after = challenge.header("retry-after")
    if retry_after is not None:
        document["retry_after"] = int(retry_after)
    return document


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard verify`` with parsed *args*; return the exit code."""
    from jwt_guard._guard import check_scopes
    from jwt_guard._verifier import Verifier

    raw = strip_bearer(read_input(args.token, streams))
    required = split_words(args.require_scope)
    try:
        options = verifier_options(args, os.environ)
        with _library_logging(args.verbose, streams):
            verifier = Verifier(**options)
    except ConfigurationError as exc:
        raise CommandError(exc.description) from None
    try:
        with _library_logging(args.verbose, streams):
            token = verifier.verify(raw)
        check_scopes(token, required)
    except (AuthError, TemporarilyUnavailable) as error:
        document = _error_document(error)
        if args.json:
            streams.out(to_json(document))
        else:
            streams.err(f"INVALID: {document['error']}: {document['error_description']} ({document['reason']})")
            if "details" in document and not isinstance(error, TemporarilyUnavailable):
                streams.err(f"  {escape_text(format_details(document['details']))}")
            if "fix" in document:
                streams.err(f"  fix: {escape_text(document['fix'])}")
            if "www_authenticate" in document:
                streams.err(
                    f"  an API would answer {document['status']} with WWW-Authenticate: {document['www_authenticate']}"
                )
            else:
                streams.err(f"  an API would answer {document['status']} with Retry-After: {document['retry_after']}")
        if isinstance(error, TemporarilyUnavailable):
            # An issuer that its discovery document names differently is a
            # configuration error: retrying will not help.
            return EXIT_USAGE if details_of(error).get("configuration") else EXIT_UNAVAILABLE
        return EXIT_INVALID
    finally:
        verifier.close()
    now = time.time()
    if args.json:
        streams.out(
            to_json(
                {
                    "valid": True,
                    "subject": token.subject,
                    "issuer": token.issuer,
                    "audience": list(token.audience),
                    "client_id": token.client_id,
                    "scopes": sorted(token.scopes),
                    "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                    "header": dict(token.header),
                    "claims": dict(token.claims),
                }
            )
        )
        return EXIT_OK
    from jwt_guard._introspector import looks_like_jws

    parts = ["signature" if looks_like_jws(raw) else "introspection answer", "issuer"]
    if options["audience"] is not None:
        parts.append("audience")
    if "client_ids" in options:
        parts.append("client")
    checked = ", ".join(parts) + " and expiry"
    streams.out(f"VALID: the {checked} check out" + (f"; scopes {' '.join(required)} granted." if required else "."))
    for name, value in _describe(token, now):
        streams.out(f"  {name:<9} {value}")
    streams.out()
    streams.out("claims:")
    streams.out(to_json(dict(token.claims)))
    return EXIT_OK


def add_verifier_arguments(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """Declare the options that configure a :class:`~jwt_guard.Verifier`
    (``--issuer``, ``--audience``, keys, algorithms, scopes, leeway, timeout,
    introspection); *required*: ``--issuer`` and an audience option must be
    given."""
    parser.add_argument(
        "--issuer",
        action="append",
        required=required,
        metavar="URL",
        help="accepted issuer (iss); repeat for several",
    )
    audience = parser.add_mutually_exclusive_group(required=required)
    audience.add_argument(
        "--audience", action="append", metavar="AUD", help="this API's audience (aud); repeat for several"
    )
    audience.add_argument(
        "--no-audience",
        action="store_true",
        help="skip the audience check explicitly (Amazon Cognito access tokens have no aud)",
    )
    parser.add_argument(
        "--client-id",
        action="append",
        metavar="ID",
        help="accept only tokens issued to this client (client_id/azp); repeat for several",
    )
    keys = parser.add_mutually_exclusive_group()
    keys.add_argument("--jwks-uri", metavar="URL", help="fetch keys here instead of using discovery")
    keys.add_argument("--key", metavar="FILE", help="static public keys: a PEM or JWKS/JWK JSON file")
    keys.add_argument("--secret-file", metavar="FILE", help="a file holding the shared secret, for HS256/384/512")
    parser.add_argument(
        "--algorithm",
        action="append",
        metavar="ALG",
        help=f"allowed algorithm; repeat for several (default: {', '.join(DEFAULT_ALGORITHMS)})",
    )
    parser.add_argument(
        "--require-scope",
        action="append",
        metavar="SCOPE",
        help="a scope the token must grant; repeat, or separate with spaces",
    )
    parser.add_argument(
        "--scope-claim",
        action="append",
        metavar="CLAIM",
        help="claim holding scopes, dotted paths allowed (default: scope scp)",
    )
    parser.add_argument("--leeway", type=seconds_type, metavar="SECONDS", help="clock skew tolerated (default 60)")
    parser.add_argument("--timeout", type=seconds_type, metavar="SECONDS", help="timeout of each key fetch (default 5)")
    introspection = parser.add_argument_group("opaque tokens (RFC 7662 introspection)")
    introspection.add_argument(
        "--introspection-client-id", metavar="ID", help="introspect opaque tokens as this client"
    )
    secret = introspection.add_mutually_exclusive_group()
    secret.add_argument(
        "--introspection-secret-file",
        metavar="FILE",
        help=f"file holding the client secret (default: ${_SECRET_VARIABLE})",
    )
    secret.add_argument(
        "--introspection-private-key", metavar="FILE", help="PEM private key: authenticate with private_key_jwt"
    )
    introspection.add_argument("--introspection-key-id", metavar="KID", help="kid of the private key's assertions")
    introspection.add_argument(
        "--introspection-auth",
        choices=("client_secret_basic", "client_secret_post", "private_key_jwt"),
        help="client authentication (default: client_secret_basic, or private_key_jwt with a private key)",
    )
    introspection.add_argument(
        "--introspection-endpoint", metavar="URL", help="the endpoint (default: from the issuer's metadata)"
    )


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``verify`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "verify",
        help="verify a token with the real Verifier",
        description="Verify a JWT access token exactly as a jwt_guard-protected API would.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("token", metavar="TOKEN", help="the JWT, or - to read it from stdin")
    add_verifier_arguments(parser, required=True)
    parser.add_argument("--json", action="store_true", help="print one JSON document (valid or not) on stdout")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log key fetches and failures (discovery, JWKS) to stderr"
    )
    parser.set_defaults(handler=run)
