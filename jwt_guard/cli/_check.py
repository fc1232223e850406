"""``jwt-guard check``: the diagnosis a bug report about a jwt_guard setup needs.

It reads the configuration the application reads (the variables of
``Verifier.from_env()``, or the options of ``verify``), fetches discovery
and keys through the library's own fetch path, and reports the issuer as
configured and as discovered, the JWKS URL, each key and whether the
allowlist can use it, the clock skew against the key server's ``Date``, and
with ``--token`` every check the token passes or fails. Neither the token
nor key material is ever printed (RFC 7638 thumbprints name keys).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from jwt_guard._keys import KeyDescription
from jwt_guard._reasons import with_details
from jwt_guard.cli._check_report import KeySetReport, Report, render_json, render_text
from jwt_guard.cli._check_resource import add_resource_arguments, run_resource
from jwt_guard.cli._common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    CommandError,
    Setting,
    Streams,
    advice,
    flag_setting,
    formatter,
    quiet_library,
    read_input,
    split_words,
    strip_bearer,
    to_json,
    variable_setting,
)
from jwt_guard.cli._verify import add_verifier_arguments, verifier_options
from jwt_guard.errors import ConfigurationError, InvalidAudience, InvalidIssuer, KeySetUnavailable

if TYPE_CHECKING:
    import httpx

    from jwt_guard._keysource import RemoteKeys, StaticKeys
    from jwt_guard._verifier import Verifier
    from jwt_guard.cli._recording import Exchange, RecordingTransport

__all__ = ["add_parser", "diagnose", "run"]

_EPILOG = """\
Without --issuer, the configuration comes from the JWT_GUARD_* variables that
Verifier.from_env() reads (another prefix with --env-prefix); with --issuer,
from the options below, as for `jwt-guard verify`. It then fetches discovery
and keys as your API would, and prints:

  the issuer as configured and as its discovery document names it
  the JWKS URL and each key: kid, type, size or curve, alg, use, RFC 7638
  thumbprint, and which allowed algorithms it serves (or why it is left out)
  the clock skew between this machine and the key server (its Date header)
  with --token: every check the token passes or fails, expected vs received

Paste the output into a bug report: it never shows the token or key material.

examples:
  jwt-guard check                                  # JWT_GUARD_ISSUER, JWT_GUARD_AUDIENCE, ...
  jwt-guard check --token "$TOKEN"
  jwt-guard check --issuer http://127.0.0.1:9000 --audience https://api.example.test --json
  jwt-guard check --resource https://api.example.com/mcp

With --resource URL, it checks a running protected resource instead: it
fetches, without a token, the URL's RFC 9728 metadata and the 401 challenge
the URL answers, and reports whether they agree with each other, with the
configured audience and issuer, and whether browsers can read the metadata
(exit 1 when they disagree, 3 when the server cannot be reached).

exit codes:
  0  keys obtained, and the token (if given) passes every check
  1  the token fails a check
  2  usage error or a configuration error (a bad variable, an issuer its
     discovery document names differently)
  3  the key server could not be reached or gave no usable keys
"""

#: Fixes for failures that are not configuration errors, by failure reason.
_FIXES = {
    "connect": "check that the issuer URL is right and that this machine can reach it (DNS, proxy, firewall)",
    "timeout": "the key server did not answer in time: check the URL and the network, or raise the timeout",
    "discovery_http_status": "check the issuer URL: no discovery document was found for it",
    "no_usable_keys": "no key of the set serves an allowed algorithm: see the keys above and the allowlist",
}
#: Options that configure the verifier from the command line (need --issuer).
_FLAG_OPTIONS = (
    "audience",
    "no_audience",
    "jwks_uri",
    "key",
    "secret_file",
    "algorithm",
    "scope_claim",
    "leeway",
    "client_id",
    "introspection_client_id",
    "introspection_secret_file",
    "introspection_private_key",
    "introspection_key_id",
    "introspection_auth",
    "introspection_endpoint",
)


# -- building the report ---------------------------------------------------------


def _skew(exchange: Exchange | None) -> tuple[str | None, float | None]:
    date = exchange.headers.get("date") if exchange is not None else None
    if exchange is None or date is None:
        return None, None
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return date, None
    return date, round(exchange.received_at - server)


def _remote(source: RemoteKeys, recorder: RecordingTransport, verifier: Verifier) -> tuple[KeySetReport, Any]:
    from jwt_guard._discovery import discovery_urls
    from jwt_guard._keys import describe_jwks
    from jwt_guard._keysource import run_sync
    from jwt_guard._token import decode_json_object

    mark = len(recorder.exchanges)
    error: KeySetUnavailable | None = None
    try:
        run_sync(source.keyset_flow())
    except KeySetUnavailable as exc:
        error = exc
    snapshot = source.snapshot()
    exchanges = recorder.exchanges[mark:]
    report = KeySetReport(source.label, snapshot.issuer, discovered_issuer=snapshot.discovered_issuer)
    report.requests = [{"url": e.url, "status": e.status, "error": e.error} for e in exchanges]
    discovery = set(discovery_urls(snapshot.issuer)) if snapshot.issuer else set()
    fetched = [e for e in exchanges if e.url not in discovery]
    jwks = fetched[-1] if fetched else None
    report.jwks_uri = snapshot.jwks_uri or (jwks.url if jwks is not None else None)
    if jwks is not None and jwks.status == 200:
        document = decode_json_object(bytes(jwks.body))
        try:
            report.keys = describe_jwks(document, verifier.algorithms, max_keys=verifier.settings.key_cache.max_keys)
        except ValueError:
            report.keys_problem = "the key set is not a JWK Set (a JSON object with a 'keys' array)"
    report.server_date, report.skew = _skew(jwks or (exchanges[-1] if exchanges else None))
    if snapshot.failure is not None and error is not None:
        report.failure = {
            "reason": snapshot.failure.reason,
            "description": snapshot.failure.description,
            # What the logs show besides: the status a server answered, the
            # issuer a discovery document named.
            "detail": snapshot.failure.detail,
            "configuration": snapshot.configuration_error,
        }
    return report, error


def _static(source: StaticKeys, keys: Any, verifier: Verifier, *, secret: bool) -> KeySetReport:
    from jwt_guard._keys import describe_jwks

    report = KeySetReport("static keys", None, static=True)
    if isinstance(keys, Mapping):
        document = keys if "keys" in keys else {"keys": [dict(keys)]}
        report.keys = describe_jwks(document, verifier.algorithms, allow_symmetric=True, max_keys=10_000)
        return report
    keyset = source.current_keyset()
    algorithms = tuple(alg for alg in sorted(verifier.algorithms) if keyset.find(None, alg) is not None)
    kind = "shared secret" if secret or isinstance(keys, (bytes, bytearray)) else "PEM"
    report.keys = [KeyDescription(0, None, kind, None, None, None, None, algorithms, None)]
    return report


def _problems(report: Report, errors: Sequence[Any], setting: Setting, leeway: float) -> None:
    for key_set, error in zip(report.key_sets, errors, strict=True):
        if key_set.failure is not None:
            fix = advice(error, setting) if error is not None else None
            failure = key_set.failure
            problem = failure["detail"] if failure["configuration"] and failure["detail"] else failure["description"]
            if failure["detail"] and not failure["configuration"]:
                problem = f"{problem} ({failure['detail']})"
            report.problems.append({"problem": problem, "fix": fix or _FIXES.get(failure["reason"])})
        if key_set.skew is not None and abs(key_set.skew) > leeway:
            ahead = "ahead of" if key_set.skew > 0 else "behind"
            report.problems.append(
                {
                    "problem": f"this machine's clock is {abs(key_set.skew):.0f} s {ahead} the key server's, "
                    f"more than the leeway ({leeway:g} s)",
                    "fix": "synchronise the clocks (NTP); tokens will look expired or not yet valid",
                }
            )
    keys_failed = any(key_set.failure is not None for key_set in report.key_sets)
    for check in report.token or ():
        if check.passed or (keys_failed and check.reason == "keys_unavailable"):
            continue  # the key set's own problem above says why
        fix = None
        if check.name == "iss":
            fix = advice(with_details(InvalidIssuer(), received=check.received), setting)
        elif check.name == "aud":
            fix = advice(with_details(InvalidAudience(), received=check.received), setting)
        elif check.name == "kid" and check.reason == "unknown_key":
            fix = "the key set has no such key: is the token from this issuer (tenant, environment)?"
        report.problems.append({"problem": f"token {check.name}: {check.description}", "fix": fix})


def _exit_code(report: Report) -> int:
    failures = [key_set.failure for key_set in report.key_sets if key_set.failure is not None]
    if any(failure["configuration"] for failure in failures):
        return EXIT_USAGE
    if failures:
        return EXIT_UNAVAILABLE
    if report.token is not None and not all(check.passed for check in report.token):
        return EXIT_INVALID
    return EXIT_OK


def diagnose(
    options: dict[str, Any],
    *,
    origin: str,
    setting: Setting,
    token: str | None = None,
    required_scopes: Sequence[str] = (),
    transport: httpx.BaseTransport | None = None,
    clock: Callable[[], float] = time.time,
) -> Report:
    """Build the verifier of *options* (Verifier keyword arguments), fetch its
    keys through *transport* (default: the network) and report.

    *origin* says where the options came from; *setting* phrases fixes in
    that vocabulary. Raises :class:`~jwt_guard.ConfigurationError`.
    """
    import httpx

    from jwt_guard._diagnosis import token_checks
    from jwt_guard._keysource import RemoteKeys
    from jwt_guard._verifier import Verifier, key_sources
    from jwt_guard.cli._recording import RecordingTransport

    inner = transport if transport is not None else httpx.HTTPTransport(trust_env=False)
    recorder = RecordingTransport(inner, clock)
    verifier = Verifier(**options, transport=recorder, clock=clock)
    settings = verifier.settings
    configuration = {
        "origin": origin,
        "issuers": list(settings.issuers),
        "audiences": None if settings.audiences is None else list(settings.audiences),
        "jwks_uri": settings.jwks_uri,
        "static_keys": "keys" in options or "secret" in options,
        "algorithms": sorted(settings.algorithms),
        "leeway": settings.leeway,
        "scope_claims": [claim.name for claim in settings.scope_claims],
    }
    try:
        sources = key_sources(verifier)
        key_sets: list[KeySetReport] = []
        errors: list[Any] = []
        for source in {id(source): source for source in sources.values()}.values():
            if isinstance(source, RemoteKeys):
                key_set, error = _remote(source, recorder, verifier)
            else:
                static = options.get("keys", options.get("secret"))
                key_set, error = _static(source, static, verifier, secret="secret" in options), None  # type: ignore[arg-type]
            key_sets.append(key_set)
            errors.append(error)
        checks = None
        if token is not None:
            checks = token_checks(
                token, settings=settings, sources=sources, now=clock(), required_scopes=required_scopes
            )
        report = Report(configuration, key_sets, checks, [], EXIT_OK)
        _problems(report, errors, setting, settings.leeway)
        report.exit_code = _exit_code(report)
        return report
    finally:
        verifier.close()


# -- the command -------------------------------------------------------------------


def _options(args: argparse.Namespace, environ: Mapping[str, str]) -> tuple[dict[str, Any], str, Setting]:
    from jwt_guard._config import KeyCacheOptions
    from jwt_guard._env import options_from_env

    if args.issuer:
        options = verifier_options(args, environ)
        options.pop("result_cache_size", None)
        return options, "command line", flag_setting
    given = [name for name in _FLAG_OPTIONS if getattr(args, name) not in (None, False)]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise CommandError(f"{flags} need --issuer: without --issuer the configuration comes from {args.env_prefix}*")
    try:
        options = options_from_env(args.env_prefix, environ)
    except ConfigurationError as exc:
        raise CommandError(f"{exc.description} (or configure with --issuer and --audience)") from None
    if args.timeout is not None:
        base = options.get("key_cache") or KeyCacheOptions()
        options["key_cache"] = dataclasses.replace(
            base, timeout=args.timeout, connect_timeout=min(args.timeout, base.connect_timeout)
        )
    return options, f"environment ({args.env_prefix}*)", variable_setting(args.env_prefix)


def run(args: argparse.Namespace, streams: Streams) -> int:
    """Run ``jwt-guard check`` with parsed *args*; return the exit code."""
    if getattr(args, "resource", None):
        return run_resource(args, streams)
    token = strip_bearer(read_input(args.token, streams)) if args.token is not None else None
    try:
        options, origin, setting = _options(args, os.environ)
        with quiet_library():
            report = diagnose(
                options, origin=origin, setting=setting, token=token, required_scopes=split_words(args.require_scope)
            )
    except ConfigurationError as exc:
        raise CommandError(exc.description) from None
    streams.out(to_json(render_json(report)) if args.json else render_text(report))
    return report.exit_code


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``check`` on the ``jwt-guard`` subcommand parsers."""
    parser = commands.add_parser(
        "check",
        help="diagnose a configuration: issuer, discovery, keys, clock, and a token",
        description="Check a jwt_guard configuration against its issuer, and optionally a token.",
        epilog=_EPILOG,
        formatter_class=formatter,
    )
    parser.add_argument("--token", metavar="TOKEN", help="also check this JWT (- reads it from stdin)")
    parser.add_argument(
        "--env-prefix", default="JWT_GUARD_", metavar="PREFIX", help="variable prefix (default JWT_GUARD_)"
    )
    add_verifier_arguments(parser, required=False)
    add_resource_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    parser.set_defaults(handler=run)
