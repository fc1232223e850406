"""``jwt-guard inspect``: decode a token, UNVERIFIED, and warn about dangerous shapes."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field
from typing import Any

from jwt_guard._config import ASYMMETRIC_ALGORITHMS, DEFAULT_MAX_TOKEN_SIZE, HMAC_ALGORITHMS
from jwt_guard._token import UNIQUE_MEMBERS_DECODER, b64url_decode, decode_json_object
from jwt_guard.cli._common import (
    EXIT_OK,
    CommandError,
    Streams,
    format_span,
    format_time,
    formatter,
    is_number,
    quote,
    read_input,
    strip_bearer,
    to_json,
)

__all__ = ["Inspection", "add_parser", "inspect_token", "run"]

_HEADER_KEY_SOURCES = ("jku", "x5u", "jwk", "x5c")
_TIME_CLAIMS = ("iat", "nbf", "exp", "auth_time")

_EPILOG = f"""\
Prints the header and the claims, the times (exp, iat, nbf, auth_time) as UTC
dates with "expires in ..." / "expired ... ago", and warnings for dangerous
shapes: alg none, HS* algorithms, a missing exp, jku/x5u/jwk/x5c headers, a
token over {DEFAULT_MAX_TOKEN_SIZE} bytes, ID tokens used as access tokens.
Nothing is verified: the output is marked UNVERIFIED.

A pasted "Bearer <token>" or "Authorization: Bearer <token>" is accepted.

examples:
  jwt-guard inspect eyJhbGciOiJSUzI1NiIs...
  pbpaste | jwt-guard inspect -
  jwt-guard inspect --json "$TOKEN" | jq .claims.scope

exit codes:
  0  decoded (warnings do not change the exit code)
  2  not a decodable JWT: wrong number of segments, bad base64url, not JSON
"""


@dataclass
class Inspection:
    """What ``inspect`` learned from a token, without trusting any of it."""

    header: dict[str, Any]
    claims: dict[str, Any]
    size: int
    signed: bool
    warnings: list[str] = field(default_factory=list)
    #: The segments ("header", "claims") that name a member twice.
    duplicates: tuple[str, ...] = ()


def _segment(data: str, what: str) -> bytes:
    try:
        return b64url_decode(data.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CommandError(f"the {what} segment is not valid base64url (RFC 7515 §2: no padding)") from None


def inspect_token(raw: str, now: float) -> Inspection:
    """Decode *raw* without verifying anything; raise :class:`CommandError`
    (exit 2) for input that is not a compact JWS carrying JSON claims."""
    token = strip_bearer(raw)
    if not token:
        raise CommandError("no token given (empty input)")
    if any(char.isspace() for char in token):
        raise CommandError("the input holds more than one word; pass exactly one token")
    dots = token.count(".")
    if dots == 4:
        raise CommandError("this is an encrypted token (JWE, five segments): its claims cannot be read")
    if dots != 2:
        raise CommandError(f"a JWT has three dot-separated segments; this input has {dots + 1}")
    header_part, claims_part, signature_part = token.split(".")
    header_bytes = _segment(header_part, "header")
    header = decode_json_object(header_bytes)
    if header is None:
        raise CommandError("the header segment is not a JSON object")
    claims_bytes = _segment(claims_part, "claims")
    claims = decode_json_object(claims_bytes)
    if claims is None:
        raise CommandError("the claims segment is not a JSON object (is this a JWT?)")
    signature = _segment(signature_part, "signature") if signature_part else b""
    duplicates = tuple(
        name
        for name, data in (("header", header_bytes), ("claims", claims_bytes))
        if decode_json_object(data, UNIQUE_MEMBERS_DECODER) is None
    )
    result = Inspection(header=header, claims=claims, size=len(token), signed=bool(signature), duplicates=duplicates)
    result.warnings = _warnings(result, now)
    return result


def _warnings(token: Inspection, now: float) -> list[str]:
    header, claims = token.header, token.claims
    warnings: list[str] = []
    for segment in token.duplicates:
        warnings.append(
            f"the {segment} names a member twice (shown: the last value); another parser may keep the first, "
            "so jwt_guard refuses this token"
        )
    alg = header.get("alg")
    if not isinstance(alg, str):
        warnings.append("the header names no algorithm (alg): no verifier can accept this token")
    elif alg.lower() == "none":
        warnings.append('alg "none": the token is unsigned and anyone can forge it; never accept it')
    elif alg in HMAC_ALGORITHMS:
        warnings.append(
            f"alg {quote(alg)} is symmetric: whoever can verify it can also mint tokens; "
            "jwt_guard accepts HS* only with a configured shared secret"
        )
    elif alg not in ASYMMETRIC_ALGORITHMS:
        warnings.append(f"alg {quote(alg)} is not an algorithm jwt_guard accepts")
    if isinstance(alg, str) and alg.lower() != "none" and not token.signed:
        warnings.append("the signature segment is empty")
    for name in _HEADER_KEY_SOURCES:
        if name in header:
            warnings.append(
                f"header {quote(name)} names its own key: verifiers must never trust it "
                "(jwt_guard takes keys only from its configuration)"
            )
    if "crit" in header:
        warnings.append("header 'crit' demands extensions a verifier must understand")
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower().removeprefix("application/") not in ("at+jwt", "jwt"):
        warnings.append(f"typ {quote(typ)} is not an access-token type (at+jwt, RFC 9068)")
    if token.size > DEFAULT_MAX_TOKEN_SIZE:
        warnings.append(
            f"the token is {token.size} bytes, over jwt_guard's default limit of "
            f"{DEFAULT_MAX_TOKEN_SIZE} (max_token_size)"
        )
    exp = claims.get("exp")
    if "exp" not in claims:
        warnings.append("no expiry (exp): the token never expires; jwt_guard refuses it")
    elif isinstance(exp, (int, float)) and not isinstance(exp, bool) and exp <= now:
        warnings.append("the token has expired")
    iat = claims.get("iat")
    if is_number(exp) and is_number(iat) and exp - iat > 86400:
        warnings.append(f"long-lived token ({format_span(exp - iat)}): access tokens should live minutes")
    nbf = claims.get("nbf")
    if is_number(nbf) and nbf > now:
        warnings.append("the token is not valid yet (nbf is in the future)")
    if is_number(iat) and iat > now:
        warnings.append("the token claims to be issued in the future (iat)")
    for name in ("iss", "aud"):
        if name not in claims:
            warnings.append(
                f"no {name} claim: jwt_guard refuses it" + (" unless audience=None" if name == "aud" else "")
            )
    if "nonce" in claims or "at_hash" in claims or claims.get("token_use") == "id":
        warnings.append("this looks like an OpenID Connect ID token, not an access token: do not use it for APIs")
    return warnings


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard inspect`` with parsed *args*; return the exit code."""
    now = time.time()
    result = inspect_token(read_input(args.token, streams), now)
    if args.json:
        times = {name: format_time(name, result.claims[name], now) for name in _TIME_CLAIMS if name in result.claims}
        document = {
            "verified": False,
            "header": result.header,
            "claims": result.claims,
            "times": times,
            "size": result.size,
            "warnings": result.warnings,
        }
        streams.out(to_json(document))
        return EXIT_OK
    streams.out("UNVERIFIED: decoded only. The signature, issuer, audience and expiry were NOT checked;")
    streams.out("do not trust these claims (use `jwt-guard verify` for that).")
    streams.out()
    streams.out("header:")
    streams.out(to_json(result.header))
    streams.out()
    streams.out("claims:")
    streams.out(to_json(result.claims))
    present = [(name, result.claims[name]) for name in _TIME_CLAIMS if name in result.claims]
    if present:
        streams.out()
        streams.out("times (UTC):")
        for name, value in present:
            streams.out(f"  {name:<9} {format_time(name, value, now)}")
    streams.out()
    if result.warnings:
        streams.out("warnings:")
        for warning in result.warnings:
            streams.out(f"  ! {warning}")
    else:
        streams.out("warnings: none")
    return EXIT_OK


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``inspect`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "inspect",
        help="decode a token and show its header and claims (UNVERIFIED)",
        description="Decode a JWT without verifying it, and warn about dangerous shapes.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("token", metavar="TOKEN", help="the JWT, or - to read it from stdin")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.set_defaults(handler=run)
