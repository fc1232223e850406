"""The ``jwt-guard`` command line (also ``python -m jwt_guard``).

Commands::

    jwt-guard inspect TOKEN|-         decode a token, UNVERIFIED, with warnings
    jwt-guard verify TOKEN|- ...      run the real Verifier on a token
    jwt-guard dev-issuer              a local identity provider for development
    jwt-guard token --scope ...       get a token from a running dev-issuer
    jwt-guard demo                    a protected API plus a local issuer

Exit codes are the same for every command: 0 success, 1 invalid token or
insufficient scope (or a refused token request, or a port already taken), 2
usage error or malformed input, 3 keys or the issuer unobtainable. Errors
are one line on stderr, never a traceback.

This module imports no web framework: the demo's are imported when the
``demo`` command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any, TypeGuard, TypeVar
from urllib.parse import urlsplit, urlunsplit

from jwt_guard._config import (
    ASYMMETRIC_ALGORITHMS,
    DEFAULT_ALGORITHMS,
    DEFAULT_MAX_TOKEN_SIZE,
    HMAC_ALGORITHMS,
    is_loopback_host,
)
from jwt_guard._token import b64url_decode, decode_json_object
from jwt_guard.errors import AuthError, ConfigurationError, JWTGuardError, KeySetUnavailable

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken

__all__ = [
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "build_parser",
    "main",
]

#: The token (or whatever was asked) is fine.
EXIT_OK = 0
#: The token is invalid or lacks a required scope, a token request was
#: refused, or a server command could not listen on its port.
EXIT_INVALID = 1
#: Bad arguments, unreadable files, malformed input, invalid configuration.
EXIT_USAGE = 2
#: Keys (or the development issuer) could not be reached.
EXIT_UNAVAILABLE = 3
# 128 + SIGPIPE, what a shell reports for a process killed by a closed pipe.
EXIT_BROKEN_PIPE = 141

#: Default port of ``dev-issuer`` (8000 is left to the API under development).
DEV_ISSUER_PORT = 9000
DEV_ISSUER_URL = f"http://127.0.0.1:{DEV_ISSUER_PORT}"
DEV_AUDIENCE = "https://api.example.test"
#: ``demo`` picks a free port unless told otherwise: it must start anywhere.
DEMO_PORT = 0

# ``inspect`` refuses input larger than this outright: it is not a token.
_MAX_INPUT = 1024 * 1024
_HEADER_KEY_SOURCES = ("jku", "x5u", "jwk", "x5c")
_TIME_CLAIMS = ("iat", "nbf", "exp", "auth_time")

_EXIT_CODES = """\
exit codes:
  0  success
  1  invalid token or insufficient scope; a refused token request; a port already taken
  2  usage error, malformed input or invalid configuration
  3  signing keys (or the development issuer) could not be reached"""


class CommandError(Exception):
    """A one-line failure with its exit code; printed without a traceback."""

    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class _Streams:
    stdin: IO[str]
    stdout: IO[str]
    stderr: IO[str]

    def out(self, text: str = "") -> None:
        print(text, file=self.stdout, flush=True)

    def err(self, text: str) -> None:
        print(text, file=self.stderr, flush=True)


# -- formatting helpers (pure) ---------------------------------------------


def _json(value: Any, *, indent: int | None = 2) -> str:
    # ensure_ascii: claims come from an untrusted token; escaping every
    # non-ASCII character means no terminal control or bidi sequence is printed.
    return json.dumps(value, indent=indent, ensure_ascii=True, sort_keys=False)


def _quote(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True)


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
        return f"not a NumericDate: {_quote(value)}"
    try:
        when = datetime.fromtimestamp(value, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        return f"out of range: {_quote(value)}"
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


# -- inspect ----------------------------------------------------------------


@dataclass
class Inspection:
    """What ``inspect`` learned from a token, without trusting any of it."""

    header: dict[str, Any]
    claims: dict[str, Any]
    size: int
    signed: bool
    warnings: list[str] = field(default_factory=list)


def _strip_bearer(text: str) -> str:
    """The token in a pasted ``[Authorization:] [Bearer] <token>``."""
    text = text.strip()
    if text[:14].lower() == "authorization:":
        text = text[14:].strip()
    scheme, _, rest = text.partition(" ")
    if scheme.lower() == "bearer":
        text = rest.strip()
    return text


def _segment(data: str, what: str) -> bytes:
    try:
        return b64url_decode(data.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise CommandError(f"the {what} segment is not valid base64url (RFC 7515 §2: no padding)") from None


def inspect_token(raw: str, now: float) -> Inspection:
    """Decode *raw* without verifying anything; raise :class:`CommandError`
    (exit 2) for input that is not a compact JWS carrying JSON claims."""
    token = _strip_bearer(raw)
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
    header = decode_json_object(_segment(header_part, "header"))
    if header is None:
        raise CommandError("the header segment is not a JSON object")
    claims = decode_json_object(_segment(claims_part, "claims"))
    if claims is None:
        raise CommandError("the claims segment is not a JSON object (is this a JWT?)")
    signature = _segment(signature_part, "signature") if signature_part else b""
    result = Inspection(header=header, claims=claims, size=len(token), signed=bool(signature))
    result.warnings = _warnings(result, now)
    return result


def _warnings(token: Inspection, now: float) -> list[str]:
    header, claims = token.header, token.claims
    warnings: list[str] = []
    alg = header.get("alg")
    if not isinstance(alg, str):
        warnings.append("the header names no algorithm (alg): no verifier can accept this token")
    elif alg.lower() == "none":
        warnings.append('alg "none": the token is unsigned and anyone can forge it; never accept it')
    elif alg in HMAC_ALGORITHMS:
        warnings.append(
            f"alg {_quote(alg)} is symmetric: whoever can verify it can also mint tokens; "
            "jwt_guard accepts HS* only with a configured shared secret"
        )
    elif alg not in ASYMMETRIC_ALGORITHMS:
        warnings.append(f"alg {_quote(alg)} is not an algorithm jwt_guard accepts")
    if isinstance(alg, str) and alg.lower() != "none" and not token.signed:
        warnings.append("the signature segment is empty")
    for name in _HEADER_KEY_SOURCES:
        if name in header:
            warnings.append(
                f"header {_quote(name)} names its own key: verifiers must never trust it "
                "(jwt_guard takes keys only from its configuration)"
            )
    if "crit" in header:
        warnings.append("header 'crit' demands extensions a verifier must understand")
    typ = header.get("typ")
    if isinstance(typ, str) and typ.lower().removeprefix("application/") not in ("at+jwt", "jwt"):
        warnings.append(f"typ {_quote(typ)} is not an access-token type (at+jwt, RFC 9068)")
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
    if _is_number(exp) and _is_number(iat) and exp - iat > 86400:
        warnings.append(f"long-lived token ({format_span(exp - iat)}): access tokens should live minutes")
    nbf = claims.get("nbf")
    if _is_number(nbf) and nbf > now:
        warnings.append("the token is not valid yet (nbf is in the future)")
    if _is_number(iat) and iat > now:
        warnings.append("the token claims to be issued in the future (iat)")
    for name in ("iss", "aud"):
        if name not in claims:
            warnings.append(
                f"no {name} claim: jwt_guard refuses it" + (" unless audience=None" if name == "aud" else "")
            )
    if "nonce" in claims or "at_hash" in claims or claims.get("token_use") == "id":
        warnings.append("this looks like an OpenID Connect ID token, not an access token: do not use it for APIs")
    return warnings


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _read_input(value: str, streams: _Streams) -> str:
    data = streams.stdin.read(_MAX_INPUT + 1) if value == "-" else value
    if len(data) > _MAX_INPUT:
        raise CommandError(f"the input is larger than {_MAX_INPUT} bytes: not a token")
    return data


def _cmd_inspect(args: argparse.Namespace, streams: _Streams) -> int:
    now = time.time()
    result = inspect_token(_read_input(args.token, streams), now)
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
        streams.out(_json(document))
        return EXIT_OK
    streams.out("UNVERIFIED: decoded only. The signature, issuer, audience and expiry were NOT checked;")
    streams.out("do not trust these claims (use `jwt-guard verify` for that).")
    streams.out()
    streams.out("header:")
    streams.out(_json(result.header))
    streams.out()
    streams.out("claims:")
    streams.out(_json(result.claims))
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


# -- verify -----------------------------------------------------------------


def _split_words(values: Sequence[str] | None) -> list[str]:
    words: list[str] = []
    for value in values or ():
        words.extend(part for part in value.replace(",", " ").split() if part)
    return words


def _load_cli_keys(path: str, algorithms: Sequence[str]) -> Any:
    from jwt_guard._env import load_key_file

    if algorithms and all(alg in HMAC_ALGORITHMS for alg in algorithms):
        try:
            with open(path, "rb") as handle:
                secret = handle.read()
        except OSError as exc:
            raise CommandError(f"--key: cannot read {path!r}: {exc.strerror}") from None
        stripped = secret.strip()
        if stripped.startswith(b"{"):
            return load_key_file(path, what="--key")
        return secret.rstrip(b"\r\n")
    return load_key_file(path, what="--key")


def _verify_options(args: argparse.Namespace) -> dict[str, Any]:
    issuers = _split_words(args.issuer)
    options: dict[str, Any] = {
        "issuer": issuers[0] if len(issuers) == 1 else issuers,
        "result_cache_size": 0,
    }
    if args.no_audience:
        options["audience"] = None
    else:
        audiences = _split_words(args.audience)
        options["audience"] = audiences[0] if len(audiences) == 1 else audiences
    algorithms = _split_words(args.algorithm)
    if algorithms:
        options["algorithms"] = algorithms
    if args.jwks_uri:
        options["jwks_uri"] = args.jwks_uri
    if args.key:
        options["keys"] = _load_cli_keys(args.key, algorithms)
    scope_claims = _split_words(args.scope_claim)
    if scope_claims:
        options["scope_claims"] = scope_claims
    if args.leeway is not None:
        options["leeway"] = args.leeway
    if args.timeout is not None:
        from jwt_guard._config import KeyCacheOptions

        options["key_cache"] = KeyCacheOptions(timeout=args.timeout, connect_timeout=min(args.timeout, 2.0))
    return options


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
    return [(name, value.encode("ascii", "backslashreplace").decode()) for name, value in rows]


@contextlib.contextmanager
def _library_logging(verbose: bool, streams: _Streams) -> Iterator[None]:
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
    authenticate = challenge.header("www-authenticate")
    if authenticate is not None:
        document["www_authenticate"] = authenticate
    retry_after = challenge.header("retry-after")
    if retry_after is not None:
        document["retry_after"] = int(retry_after)
    return document


def _cmd_verify(args: argparse.Namespace, streams: _Streams) -> int:
    from jwt_guard._guard import check_scopes
    from jwt_guard._verifier import Verifier

    raw = _strip_bearer(_read_input(args.token, streams))
    required = _split_words(args.require_scope)
    try:
        options = _verify_options(args)
        verifier = Verifier(**options)
    except ConfigurationError as exc:
        raise CommandError(exc.description) from None
    try:
        with _library_logging(args.verbose, streams):
            token = verifier.verify(raw)
        check_scopes(token, required)
    except (AuthError, KeySetUnavailable) as error:
        document = _error_document(error)
        if args.json:
            streams.out(_json(document))
        else:
            streams.err(f"INVALID: {document['error']}: {document['error_description']} ({document['reason']})")
            if "www_authenticate" in document:
                streams.err(
                    f"  an API would answer {document['status']} with WWW-Authenticate: {document['www_authenticate']}"
                )
            else:
                streams.err(f"  an API would answer {document['status']} with Retry-After: {document['retry_after']}")
        return EXIT_UNAVAILABLE if isinstance(error, KeySetUnavailable) else EXIT_INVALID
    finally:
        verifier.close()
    now = time.time()
    if args.json:
        streams.out(
            _json(
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
    checked = (
        "signature, issuer, audience and expiry" if options["audience"] is not None else "signature, issuer and expiry"
    )
    streams.out(f"VALID: the {checked} check out" + (f"; scopes {' '.join(required)} granted." if required else "."))
    for name, value in _describe(token, now):
        streams.out(f"  {name:<9} {value}")
    streams.out()
    streams.out("claims:")
    streams.out(_json(dict(token.claims)))
    return EXIT_OK


# -- dev-issuer ------------------------------------------------------------

_DEV_NOTICE = """\
**********************************************************************
*  jwt-guard dev-issuer: FOR DEVELOPMENT ONLY, NOT FOR PRODUCTION.   *
*  It mints a token for anyone who asks, checks no client secret,    *
*  and keeps its signing key in memory (a new key at every start).   *
**********************************************************************"""


def _dev_issuer_address(url: str | None, port: int | None) -> tuple[str, str, int, str]:
    """(host for the issuer URL, host to bind, port, path) from ``--issuer``
    and ``--port``."""
    if url is None:
        return "127.0.0.1", "127.0.0.1", DEV_ISSUER_PORT if port is None else port, ""
    try:
        parts = urlsplit(url)
        url_port = parts.port
    except ValueError:
        raise CommandError(f"--issuer is not a valid URL: {url!r}") from None
    host = parts.hostname
    if parts.scheme != "http" or not host:
        raise CommandError(f"--issuer must be a plain http URL on 127.0.0.1 or localhost, got {url!r}")
    if not is_loopback_host(host) or ":" in host:
        raise CommandError(f"--issuer must name 127.0.0.1 (or another 127.x address) or localhost, got {host!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise CommandError("--issuer must not carry a query, fragment or credentials")
    if url_port is not None and port is not None and url_port != port:
        raise CommandError(f"--issuer names port {url_port} but --port says {port}")
    chosen = url_port if url_port is not None else (DEV_ISSUER_PORT if port is None else port)
    bind = "127.0.0.1" if host == "localhost" or host.endswith(".localhost") else host
    return host, bind, chosen, parts.path


def serve_dev_issuer(
    *,
    issuer_url: str | None,
    port: int | None,
    audience: str,
    algorithm: str,
    lifetime: int,
    streams: _Streams,
    stop: threading.Event,
    on_ready: Callable[[Any], None] | None = None,
) -> int:
    """Run the development issuer until *stop* is set (or Ctrl-C)."""
    from jwt_guard.testing import LocalIssuer, LocalServer

    host, bind, chosen_port, path = _dev_issuer_address(issuer_url, port)
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
        streams.err(_DEV_NOTICE)
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


def _cmd_dev_issuer(args: argparse.Namespace, streams: _Streams) -> int:
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


# -- token ------------------------------------------------------------------


def _cmd_token(args: argparse.Namespace, streams: _Streams) -> int:
    import httpx

    issuer = args.issuer
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise CommandError(f"--issuer is not a valid URL: {issuer!r}") from None
    if parts.scheme not in ("http", "https") or not is_loopback_host(host):
        raise CommandError(
            "jwt-guard token only talks to a local development issuer (a loopback URL such as "
            f"{DEV_ISSUER_URL}); ask your identity provider for real tokens"
        )
    discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    form = {"grant_type": "client_credentials", "client_id": args.client_id}
    scopes = _split_words(args.scope)
    if scopes:
        form["scope"] = " ".join(scopes)
    if args.audience:
        form["audience"] = args.audience
    if args.sub:
        form["sub"] = args.sub
    unreachable = f"cannot reach a development issuer at {issuer} (is `jwt-guard dev-issuer` running?)"
    try:
        with httpx.Client(timeout=args.timeout, trust_env=False) as client:
            response = client.get(discovery_url)
            document = _json_object(response) if response.status_code == 200 else None
            endpoint = document.get("token_endpoint") if document else None
            if not isinstance(endpoint, str):
                raise CommandError(f"{unreachable}: no discovery document at {discovery_url}", EXIT_UNAVAILABLE)
            try:
                endpoint_host = urlsplit(endpoint).hostname
            except ValueError:
                endpoint_host = None
            if not is_loopback_host(endpoint_host):
                raise CommandError(f"the issuer's token endpoint is not on loopback: {endpoint!r}")
            response = client.post(endpoint, data=form)
    except httpx.HTTPError as exc:
        raise CommandError(f"{unreachable}: {type(exc).__name__}", EXIT_UNAVAILABLE) from None
    answer = _json_object(response)
    if response.status_code != 200 or answer is None or not isinstance(answer.get("access_token"), str):
        error = answer.get("error", "") if answer else ""
        raise CommandError(
            f"the token endpoint refused the request: HTTP {response.status_code} {_quote(error)}", EXIT_INVALID
        )
    streams.out(_json(answer) if args.json else answer["access_token"])
    return EXIT_OK


def _json_object(response: Any) -> dict[str, Any] | None:
    return decode_json_object(response.content)


# -- demo -------------------------------------------------------------------


def _cmd_demo(args: argparse.Namespace, streams: _Streams) -> int:
    try:
        from jwt_guard._demo import run_demo
    except ModuleNotFoundError as exc:
        raise CommandError(f"the demo needs {exc.name}: pip install 'jwt-guard[demo]'") from None
    try:
        return run_demo(host="127.0.0.1", port=args.port)
    except ModuleNotFoundError as exc:
        raise CommandError(f"the demo needs {exc.name}: pip install 'jwt-guard[demo]'") from None
    except KeyboardInterrupt:
        return EXIT_OK


# -- the parser --------------------------------------------------------------


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


_N = TypeVar("_N", int, float)


def _convert(convert: Callable[[str], _N], value: str, expected: str) -> _N:
    """*value* as a number, or the argparse error "not *expected*"."""
    try:
        return convert(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not {expected}: {value!r}") from None


def _port(value: str) -> int:
    port = _convert(int, value, "a port number")
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is between 0 and 65535, got {port}")
    return port


def _seconds(value: str) -> float:
    number = _convert(float, value, "a number of seconds")
    if not math.isfinite(number) or number < 0:
        raise argparse.ArgumentTypeError(f"a duration is a finite number >= 0, got {value!r}")
    return number


def _lifetime(value: str) -> int:
    number = _convert(int, value, "a whole number of seconds")
    if number <= 0:
        raise argparse.ArgumentTypeError("a token lifetime is a positive number of seconds")
    return number


_MAIN_EPILOG = f"""\
examples:
  jwt-guard demo                                   # a protected API and a local issuer
  jwt-guard inspect eyJhbGciOi...                  # decode a token (UNVERIFIED)
  jwt-guard verify "$TOKEN" --issuer https://idp.example.com/ --audience https://api.example.com
  jwt-guard dev-issuer                             # local identity provider on port {DEV_ISSUER_PORT}
  TOKEN=$(jwt-guard token --scope read)            # a token from that dev-issuer

Run `jwt-guard COMMAND --help` for each command's options and examples.

{_EXIT_CODES}
"""

_INSPECT_EPILOG = f"""\
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

_VERIFY_EPILOG = f"""\
Runs the same Verifier your API uses: signature with keys from the issuer's
discovery document (or --jwks-uri, or --key), algorithm allowlist, issuer,
audience, expiry, and the scopes of --require-scope. On failure it prints the
RFC 6750 error code and description an API would answer with.

Keys come from exactly one place: the issuer's OpenID Connect discovery
document (default), --jwks-uri, or --key (a PEM public key or certificate, a
JWKS/JWK JSON file, or for HS256/384/512 a file holding the shared secret).
Plain http issuer and JWKS URLs are accepted on loopback hosts only.

examples:
  jwt-guard verify "$TOKEN" --issuer https://tenant.eu.auth0.com/ --audience https://api.example.com \\
      --scope-claim permissions --require-scope read:messages
  jwt-guard verify - --issuer http://127.0.0.1:{DEV_ISSUER_PORT} --audience {DEV_AUDIENCE} < token.txt
  jwt-guard verify "$TOKEN" --issuer https://idp.example.com/ --audience api --key public.pem
  jwt-guard verify "$TOKEN" --issuer https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example \\
      --no-audience --json

exit codes:
  0  valid (and every --require-scope granted)
  1  invalid token, or valid but missing a required scope
  2  usage error or invalid configuration
  3  signing keys could not be obtained (the API would answer 503)
"""

_DEV_ISSUER_EPILOG = f"""\
A local identity provider for developing protected APIs without a cloud
identity provider. It listens on 127.0.0.1 only and serves:

  <issuer>/.well-known/openid-configuration   discovery (OpenID Connect)
  /.well-known/jwks.json                       its public signing key (JWKS)
  <issuer>/oauth/token                         client_credentials token endpoint:
                                               form POST with scope, audience,
                                               client_id (no secret checked), and
                                               the development extension sub

It runs until Ctrl-C (or SIGTERM) and exits 0. Its key is generated at start,
so tokens from an earlier run stop verifying after a restart.

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

_TOKEN_EPILOG = f"""\
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

exit codes:
  0  printed a token
  1  the token endpoint refused the request
  2  usage error (e.g. a non-loopback issuer)
  3  no development issuer answered at --issuer
"""

_DEMO_EPILOG = """\
Starts a small protected API together with a local development issuer, both
on 127.0.0.1, and prints the commands to try it (no outside network needed).
It runs until Ctrl-C. Needs the demo extra: pip install 'jwt-guard[demo]'.

examples:
  jwt-guard demo
  jwt-guard demo --port 8080
  jwt-guard demo --port 0          # any free port (printed)

exit codes:
  0  stopped with Ctrl-C
  1  the port is taken
  2  usage error, or a missing dependency
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``jwt-guard`` argument parser (every command, with help and examples)."""
    from jwt_guard import __version__

    parser = argparse.ArgumentParser(
        prog="jwt-guard",
        description="Verify, inspect and mint OAuth 2.0 access tokens (JWTs) while developing protected APIs.",
        epilog=_MAIN_EPILOG,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"jwt-guard {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")

    inspect = commands.add_parser(
        "inspect",
        help="decode a token and show its header and claims (UNVERIFIED)",
        description="Decode a JWT without verifying it, and warn about dangerous shapes.",
        epilog=_INSPECT_EPILOG,
        formatter_class=_formatter,
    )
    inspect.add_argument("token", metavar="TOKEN", help="the JWT, or - to read it from stdin")
    inspect.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    inspect.set_defaults(handler=_cmd_inspect)

    verify = commands.add_parser(
        "verify",
        help="verify a token with the real Verifier",
        description="Verify a JWT access token exactly as a jwt_guard-protected API would.",
        epilog=_VERIFY_EPILOG,
        formatter_class=_formatter,
    )
    verify.add_argument("token", metavar="TOKEN", help="the JWT, or - to read it from stdin")
    verify.add_argument(
        "--issuer",
        action="append",
        required=True,
        metavar="URL",
        help="accepted issuer (iss); repeat for several",
    )
    audience = verify.add_mutually_exclusive_group(required=True)
    audience.add_argument(
        "--audience", action="append", metavar="AUD", help="this API's audience (aud); repeat for several"
    )
    audience.add_argument(
        "--no-audience",
        action="store_true",
        help="skip the audience check explicitly (Amazon Cognito access tokens have no aud)",
    )
    keys = verify.add_mutually_exclusive_group()
    keys.add_argument("--jwks-uri", metavar="URL", help="fetch keys here instead of using discovery")
    keys.add_argument("--key", metavar="FILE", help="static keys: PEM, JWKS/JWK JSON, or an HS* secret file")
    verify.add_argument(
        "--algorithm",
        action="append",
        metavar="ALG",
        help=f"allowed algorithm; repeat for several (default: {', '.join(DEFAULT_ALGORITHMS)})",
    )
    verify.add_argument(
        "--require-scope",
        action="append",
        metavar="SCOPE",
        help="a scope the token must grant; repeat, or separate with spaces",
    )
    verify.add_argument(
        "--scope-claim",
        action="append",
        metavar="CLAIM",
        help="claim holding scopes, dotted paths allowed (default: scope scp)",
    )
    verify.add_argument("--leeway", type=_seconds, metavar="SECONDS", help="clock skew tolerated (default 60)")
    verify.add_argument("--timeout", type=_seconds, metavar="SECONDS", help="timeout of each key fetch (default 5)")
    verify.add_argument("--json", action="store_true", help="print one JSON document (valid or not) on stdout")
    verify.add_argument(
        "-v", "--verbose", action="store_true", help="log key fetches and failures (discovery, JWKS) to stderr"
    )
    verify.set_defaults(handler=_cmd_verify)

    dev = commands.add_parser(
        "dev-issuer",
        help="run a local development identity provider (NOT for production)",
        description="Run a local OAuth 2.0 / OpenID Connect issuer on 127.0.0.1 for development.",
        epilog=_DEV_ISSUER_EPILOG,
        formatter_class=_formatter,
    )
    dev.add_argument(
        "--port",
        type=_port,
        default=None,
        metavar="N",
        help=f"port on 127.0.0.1 (default {DEV_ISSUER_PORT}; 0 picks a free one)",
    )
    dev.add_argument(
        "--issuer",
        metavar="URL",
        help=f"issuer URL, http on 127.0.0.1 or localhost, optionally with a path (default {DEV_ISSUER_URL})",
    )
    dev.add_argument(
        "--audience",
        default=DEV_AUDIENCE,
        metavar="AUD",
        help=f"audience of tokens requested without one (default {DEV_AUDIENCE})",
    )
    dev.add_argument(
        "--algorithm",
        default="RS256",
        choices=sorted(ASYMMETRIC_ALGORITHMS),
        metavar="ALG",
        help="signing algorithm (default RS256; any of RS*, PS*, ES*, EdDSA)",
    )
    dev.add_argument("--lifetime", type=_lifetime, default=600, metavar="SECONDS", help="token lifetime (default 600)")
    dev.set_defaults(handler=_cmd_dev_issuer)

    token = commands.add_parser(
        "token",
        help="get a token from a running dev-issuer",
        description="Mint an access token from a running `jwt-guard dev-issuer`.",
        epilog=_TOKEN_EPILOG,
        formatter_class=_formatter,
    )
    token.add_argument(
        "--scope", action="append", metavar="SCOPE", help="scope(s) to grant; repeat, or separate with spaces"
    )
    token.add_argument(
        "--issuer", default=DEV_ISSUER_URL, metavar="URL", help=f"the dev-issuer's URL (default {DEV_ISSUER_URL})"
    )
    token.add_argument("--audience", metavar="AUD", help="the token's audience (default: the dev-issuer's)")
    token.add_argument("--sub", metavar="SUBJECT", help="the token's subject (default: the client id)")
    token.add_argument("--client-id", default="dev-client", metavar="ID", help="client_id (default dev-client)")
    token.add_argument("--timeout", type=_seconds, default=10.0, metavar="SECONDS", help="HTTP timeout (default 10)")
    token.add_argument("--json", action="store_true", help="print the whole token response as JSON")
    token.set_defaults(handler=_cmd_token)

    demo = commands.add_parser(
        "demo",
        help="run a protected demo API with a local issuer",
        description="Run a protected API and a local development issuer on 127.0.0.1.",
        epilog=_DEMO_EPILOG,
        formatter_class=_formatter,
    )
    demo.add_argument(
        "--port", type=_port, default=DEMO_PORT, metavar="N", help="port on 127.0.0.1 (default: a free port)"
    )
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``jwt-guard`` console script; returns the exit code."""
    streams = _Streams(sys.stdin, sys.stdout, sys.stderr)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Callable[[argparse.Namespace, _Streams], int] | None = getattr(args, "handler", None)
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


if __name__ == "__main__":
    raise SystemExit(main())
