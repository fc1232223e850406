"""``jwt-guard token``: a token from a running ``jwt-guard dev-issuer``.

The command is an ordinary OAuth client of the development issuer (discovery,
then a client_credentials request): it never holds the issuer's signing key,
and it talks to loopback URLs only. With ``--dpop`` it is a DPoP client
(RFC 9449): it makes a throwaway key, proves it at the token endpoint (the
issuer binds the token to it), and prints the token with a proof for one
request, as headers for ``curl -H @file``.
"""

from __future__ import annotations

import argparse
import re
from typing import TYPE_CHECKING, Any

from jwt_guard._dpop_options import DEFAULT_PROOF_ALGORITHMS
from jwt_guard._token import decode_json_object
from jwt_guard._url import normalize_url
from jwt_guard.cli._common import (
    DEV_ISSUER_PORT,
    DEV_ISSUER_URL,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    CommandError,
    Streams,
    formatter,
    is_local_url,
    quote,
    seconds_type,
    split_url,
    split_words,
    to_json,
)

if TYPE_CHECKING:
    import httpx

    from jwt_guard.testing import DPoPKey

__all__ = ["add_parser", "run", "token_request"]

_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 §9.1: a token

_EPILOG = f"""\
Asks a running `jwt-guard dev-issuer` for a token: it reads the issuer's
discovery document, then POSTs a client_credentials request to its token
endpoint, and prints the access token (or the whole response with --json).
Only loopback issuers are contacted: for real tokens, ask your identity
provider.

examples:
  jwt-guard token --scope read                                  # dev-issuer on port {DEV_ISSUER_PORT}
  jwt-guard token --scope "read write" --sub alice --audience my-api
  TOKEN=$(jwt-guard token --issuer http://127.0.0.1:9100 --scope admin)
  curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8000/protected

  # a DPoP-bound token and a proof for one GET (a proof is good once):
  jwt-guard token --dpop --url http://127.0.0.1:8000/protected > headers.txt
  curl -H @headers.txt http://127.0.0.1:8000/protected

exit codes:
  0  printed a token
  1  the token endpoint refused the request
  2  usage error (e.g. a non-loopback issuer)
  3  no development issuer answered at --issuer
"""


def token_request(args: argparse.Namespace) -> dict[str, str]:
    """The client_credentials form (RFC 6749 §4.4.2) that *args* ask for."""
    form = {"grant_type": "client_credentials", "client_id": args.client_id}
    scopes = split_words(args.scope)
    if scopes:
        form["scope"] = " ".join(scopes)
    if args.audience:
        form["audience"] = args.audience
    if args.sub:
        form["sub"] = args.sub
    return form


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    return decode_json_object(response.content)


def _check_dpop_args(args: argparse.Namespace) -> None:
    if not args.dpop:
        if args.url or args.nonce or args.method != "GET":
            raise CommandError("--url, --method and --nonce go with --dpop")
        return
    if not args.url:
        raise CommandError("--dpop needs --url: the URL the proof is for")
    if normalize_url(args.url) is None:
        raise CommandError(f"--url must be an absolute http(s) or ws(s) URL, got {quote(args.url)}")
    if not _METHOD.fullmatch(args.method):
        raise CommandError(f"--method must be an HTTP method, got {quote(args.method)}")


def _dpop_output(args: argparse.Namespace, key: DPoPKey, answer: dict[str, Any]) -> str:
    """The token and a proof for ``--method`` ``--url``: two header lines, or JSON."""
    token = answer["access_token"]
    proof = key.proof(args.method, args.url, access_token=token, nonce=args.nonce)
    if args.json:
        return to_json(
            {**answer, "dpop": {"proof": proof, "method": args.method, "url": args.url, "jkt": key.thumbprint}}
        )
    return f"Authorization: DPoP {token}\nDPoP: {proof}"


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard token`` with parsed *args*; return the exit code."""
    import httpx

    issuer = args.issuer
    split_url(issuer, "--issuer")
    if not is_local_url(issuer):
        raise CommandError(
            "jwt-guard token only talks to a local development issuer (a loopback URL such as "
            f"{DEV_ISSUER_URL}); ask your identity provider for real tokens"
        )
    _check_dpop_args(args)
    discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    form = token_request(args)
    key: DPoPKey | None = None
    if args.dpop:
        from jwt_guard.testing import DPoPKey

        key = DPoPKey(args.dpop_alg)
    unreachable = f"cannot reach a development issuer at {issuer} (is `jwt-guard dev-issuer` running?)"
    try:
        with httpx.Client(timeout=args.timeout, trust_env=False) as client:
            response = client.get(discovery_url)
            document = _json_object(response) if response.status_code == 200 else None
            endpoint = document.get("token_endpoint") if document else None
            if not isinstance(endpoint, str):
                raise CommandError(f"{unreachable}: no discovery document at {discovery_url}", EXIT_UNAVAILABLE)
            if not is_local_url(endpoint):
                raise CommandError(f"the issuer's token endpoint is not on loopback: {endpoint!r}")
            # RFC 9449 §5: a proof of the key at the token endpoint binds the token to it.
            headers = {"DPoP": key.proof("POST", endpoint)} if key is not None else {}
            response = client.post(endpoint, data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise CommandError(f"{unreachable}: {type(exc).__name__}", EXIT_UNAVAILABLE) from None
    answer = _json_object(response)
    if response.status_code != 200 or answer is None or not isinstance(answer.get("access_token"), str):
        error = answer.get("error", "") if answer else ""
        raise CommandError(
            f"the token endpoint refused the request: HTTP {response.status_code} {quote(error)}", EXIT_INVALID
        )
    if key is not None:
        if answer.get("token_type", "").lower() != "dpop":
            raise CommandError(
                "the issuer did not bind the token to the DPoP key (token_type is not DPoP)", EXIT_INVALID
            )
        streams.out(_dpop_output(args, key, answer))
        return EXIT_OK
    streams.out(to_json(answer) if args.json else answer["access_token"])
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``token`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "token",
        help="get a token from a running dev-issuer",
        description="Mint an access token from a running `jwt-guard dev-issuer`.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument(
        "--scope", action="append", metavar="SCOPE", help="scope(s) to grant; repeat, or separate with spaces"
    )
    parser.add_argument(
        "--issuer", default=DEV_ISSUER_URL, metavar="URL", help=f"the dev-issuer's URL (default {DEV_ISSUER_URL})"
    )
    parser.add_argument("--audience", metavar="AUD", help="the token's audience (default: the dev-issuer's)")
    parser.add_argument("--sub", metavar="SUBJECT", help="the token's subject (default: the client id)")
    parser.add_argument("--client-id", default="dev-client", metavar="ID", help="client_id (default dev-client)")
    parser.add_argument(
        "--timeout", type=seconds_type, default=10.0, metavar="SECONDS", help="HTTP timeout (default 10)"
    )
    parser.add_argument("--json", action="store_true", help="print the whole token response as JSON")
    dpop = parser.add_argument_group("DPoP (RFC 9449)")
    dpop.add_argument(
        "--dpop",
        action="store_true",
        help="get a token bound to a new DPoP key; print it with a proof, as two header lines for curl -H @file",
    )
    dpop.add_argument("--url", metavar="URL", help="the URL the proof is for (htu), as the client sends it")
    dpop.add_argument("--method", default="GET", metavar="METHOD", help="the request method of the proof (default GET)")
    dpop.add_argument("--nonce", metavar="NONCE", help="a server nonce (DPoP-Nonce) to put in the proof")
    dpop.add_argument(
        "--dpop-alg",
        default="ES256",
        choices=DEFAULT_PROOF_ALGORITHMS,
        metavar="ALG",
        help="the DPoP key's algorithm (default ES256)",
    )
    parser.set_defaults(handler=run)
