"""``jwt-guard check --resource URL``: does a live protected resource describe itself consistently?

An RFC 9728 client learns everything from two answers: the 401 challenge of
a request without a token (whose ``resource_metadata`` names the metadata
URL, §5.1) and the metadata document (whose ``resource`` must be the URL it
asked about, §3.3, and whose ``authorization_servers`` say where tokens
come from). This check fetches both from a running server and reports,
item by item, whether they agree with each other and with the configuration
the API verifies tokens with: the resource must be one of its audiences
(or every token a client obtains is refused) and its issuer must be listed.

The fetches go through the library's own HTTP plumbing (total deadline,
size cap, no redirects followed, https except on loopback). Nothing the
server sends is printed unescaped.

The functions here are shared: :func:`check_resource` builds the report,
:func:`add_resource_arguments` and :func:`run_resource` are what a ``check``
command needs to offer the mode. Until the configuration diagnosis of
``jwt-guard check`` lives in its own module, :func:`add_parser` registers
``check`` with this mode alone; that module then calls
:func:`add_resource_arguments` on its parser, hands ``args.resource`` to
:func:`run_resource`, and this :func:`add_parser` leaves the command list.
:func:`run_resource` reads the options that command shares (``--issuer``,
``--audience``, ``--require-scope``, ``--timeout``, ``--env-prefix``,
``--json``).
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from jwt_guard._auth_syntax import parse_challenges
from jwt_guard._config import KeyCacheOptions, check_url, is_local_http
from jwt_guard._resource import metadata_url
from jwt_guard.cli._common import (
    EXIT_INVALID,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    CommandError,
    Streams,
    quote,
    split_words,
    to_json,
)
from jwt_guard.errors import ConfigurationError

if TYPE_CHECKING:
    import httpx

__all__ = ["ResourceReport", "add_resource_arguments", "check_resource", "run_resource"]

Status = Literal["ok", "warning", "problem", "skipped"]


_WELL_KNOWN_CORS = "access-control-allow-origin"
# Failures of the exchange itself (exit 3); any other failure is the server's answer (exit 1).
_UNREACHABLE = frozenset({"connect", "timeout", "busy", "transport", "internal"})


@dataclass
class Item:
    """One finding of the report."""

    name: str
    status: Status
    detail: str
    fix: str | None = None


@dataclass
class ResourceReport:
    """What :func:`check_resource` found."""

    resource: str
    metadata_url: str
    items: list[Item] = field(default_factory=list)
    #: The metadata document as received (a JSON object), or ``None``.
    document: dict[str, Any] | None = None
    #: The ``WWW-Authenticate`` value of the 401, as received.
    challenge: str | None = None
    #: Set when a fetch failed at the transport level (unreachable, timeout).
    unreachable: str | None = None

    def add(self, name: str, status: Status, detail: str, fix: str | None = None) -> None:
        self.items.append(Item(name, status, detail, fix))

    @property
    def exit_code(self) -> int:
        if self.unreachable is not None:
            return EXIT_UNAVAILABLE
        return EXIT_INVALID if any(item.status == "problem" for item in self.items) else EXIT_OK


def _slash_hint(value: str, candidates: Sequence[str]) -> str:
    near = [c for c in candidates if c != value and c.rstrip("/") == value.rstrip("/")]
    return f" ({quote(near[0])} differs only by a trailing slash)" if near else ""


def _fetch(clients: Any, url: str, accept: str) -> Any:
    from jwt_guard._http import exchange_sync
    from jwt_guard._wire import Request

    # Plain http only for a URL the user gave on a loopback host (check_url
    # allowed no other), never for a redirect elsewhere.
    request = Request(url, (("accept", accept),), purpose="resource-check", allow_http=is_local_http(url))
    return exchange_sync(clients, request)


def _failed(report: ResourceReport, reply: Any, name: str, what: str) -> bool:
    """Report a failed exchange (True), or nothing for a reply (False)."""
    from jwt_guard._wire import Failure

    if not isinstance(reply, Failure):
        return False
    if reply.reason in _UNREACHABLE:
        report.unreachable = reply.description
    report.add(name, "problem", f"{what} could not be fetched: {reply.description}")
    return True


def _document(report: ResourceReport, reply: Any) -> dict[str, Any] | None:
    if _failed(report, reply, "metadata", "the metadata"):
        return None
    if reply.status != 200:
        fix = "serve the metadata there (JWTGuardMiddleware(..., resource=ProtectedResource(...)))"
        if 300 <= reply.status < 400:
            fix = "serve the document at this exact URL: RFC 9728 clients do not follow redirects for it"
        report.add("metadata", "problem", f"answered {reply.status}, not 200", fix)
        return None
    try:
        document = json.loads(reply.body)
    except (ValueError, RecursionError):
        report.add("metadata", "problem", "the answer is not JSON")
        return None
    if not isinstance(document, dict):
        report.add("metadata", "problem", "the answer is not a JSON object")
        return None
    report.add("metadata", "ok", "200, a JSON object")
    content_type = reply.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        report.add("content-type", "warning", f"{quote(content_type)} instead of application/json")
    if _WELL_KNOWN_CORS not in reply.headers:
        report.add(
            "cors",
            "warning",
            "no Access-Control-Allow-Origin: browser-based clients cannot read the metadata",
            "answer the metadata with Access-Control-Allow-Origin: * (jwt_guard's middleware does)",
        )
    return document


def _check_document(
    report: ResourceReport, document: dict[str, Any], issuers: Sequence[str], audiences: Sequence[str]
) -> list[str] | None:
    """Check the document's members; return its scopes_supported (``[]`` if
    none, ``None`` when it is malformed and reported)."""
    resource = document.get("resource")
    if resource == report.resource:
        report.add("resource", "ok", f"{quote(resource)}, the URL asked about")
    else:
        hint = _slash_hint(report.resource, [resource]) if isinstance(resource, str) else ""
        report.add(
            "resource",
            "problem",
            f"{quote(resource)} is not {quote(report.resource)}{hint}; clients must refuse this metadata (§3.3)",
            "advertise the exact URL clients use as the resource identifier",
        )
    if audiences and isinstance(resource, str):
        if resource in audiences:
            report.add("audience", "ok", f"{quote(resource)} is a configured audience")
        else:
            report.add(
                "audience",
                "problem",
                f"{quote(resource)} is not among the configured audiences {quote(list(audiences))}"
                f"{_slash_hint(resource, audiences)}: tokens issued for it will be refused",
                "make the verifier's audience the resource identifier, character for character",
            )
    elif not audiences:
        report.add("audience", "skipped", "no audience configured (--audience or JWT_GUARD_AUDIENCE)")
    servers = document.get("authorization_servers")
    if not isinstance(servers, list) or not servers or not all(isinstance(s, str) for s in servers):
        report.add(
            "authorization_servers",
            "problem",
            "missing or not a non-empty list of issuer URLs: clients cannot find where to get a token",
        )
    elif issuers:
        listed = [issuer for issuer in issuers if issuer in servers]
        if listed:
            report.add("authorization_servers", "ok", f"lists the configured issuer {quote(listed[0])}")
        else:
            hint = next((_slash_hint(i, servers) for i in issuers if _slash_hint(i, servers)), "")
            report.add(
                "authorization_servers",
                "problem",
                f"{quote(servers)} does not list the configured issuer {quote(list(issuers))}{hint}: clients "
                "will get tokens from an issuer this API does not accept",
                "list the issuer exactly as the verifier is configured with it",
            )
    else:
        report.add("authorization_servers", "skipped", f"{quote(servers)}; no issuer configured to compare")
    scopes = document.get("scopes_supported")
    if scopes is None:
        return []
    if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
        report.add("scopes_supported", "problem", "not a list of strings")
        return None
    return list(scopes)


def _check_challenge(report: ResourceReport, reply: Any) -> list[str]:
    """Check the 401; return the scopes its challenge names."""
    if _failed(report, reply, "challenge", "the resource"):
        return []
    if reply.status != 401:
        detail = f"a request without a token got {reply.status}, not 401"
        fix = "protect the resource URL: without a token, clients must get 401 with resource_metadata"
        report.add("challenge", "problem", detail, fix)
        return []
    value = reply.headers.get("www-authenticate")
    report.challenge = value
    if value is None:
        report.add("challenge", "problem", "401 without WWW-Authenticate")
        return []
    try:
        challenges = parse_challenges(value)
    except ValueError as exc:
        report.add("challenge", "problem", f"WWW-Authenticate does not parse ({exc})")
        return []
    bearer = [params for scheme, params in challenges if scheme.lower() in ("bearer", "dpop")]
    if not bearer:
        report.add("challenge", "problem", "401 without a Bearer or DPoP challenge")
        return []
    named = next((params["resource_metadata"] for params in bearer if "resource_metadata" in params), None)
    if named is None:
        report.add(
            "resource_metadata",
            "problem",
            "the 401 challenge has no resource_metadata: clients cannot discover the metadata (RFC 9728 §5.1)",
            "JWTGuardMiddleware(..., resource=ProtectedResource(...)) adds it to every challenge",
        )
    elif named == report.metadata_url:
        report.add("resource_metadata", "ok", f"the 401 names {quote(named)}")
    else:
        report.add(
            "resource_metadata",
            "problem",
            f"the 401 names {quote(named)}, but the metadata of this URL lives at {quote(report.metadata_url)}",
            "the resource identifier and the middleware's resource must be the same URL",
        )
    scope = next((params["scope"] for params in bearer if "scope" in params), "")
    return scope.split()


def check_resource(
    url: str,
    *,
    issuers: Sequence[str] = (),
    audiences: Sequence[str] = (),
    required_scopes: Sequence[str] = (),
    timeout: float = 5.0,
    transport: httpx.BaseTransport | None = None,
) -> ResourceReport:
    """Fetch *url*'s metadata and its 401 challenge and report (see the module docstring).

    Raises :class:`~jwt_guard.ConfigurationError` for a URL the library
    would not fetch (plain http off loopback, credentials, a fragment).
    """
    from jwt_guard._http import HTTPClients

    check_url(url, "--resource", allow_http=False)
    if "?" in url:
        raise ConfigurationError(f"--resource must not have a query (RFC 9728 §1.2): {url!r}")
    options = KeyCacheOptions(timeout=timeout, connect_timeout=min(timeout, KeyCacheOptions.connect_timeout))
    report = ResourceReport(url, metadata_url(url))
    clients = HTTPClients(options, transport, None, max_connections=2)
    try:
        document = _document(report, _fetch(clients, report.metadata_url, "application/json"))
        scopes: list[str] | None = None
        if document is not None:
            report.document = document
            scopes = _check_document(report, document, issuers, audiences)
        challenge_scopes = _check_challenge(report, _fetch(clients, url, "application/json, text/event-stream"))
    finally:
        clients.close()
    _check_scopes(report, document, scopes, challenge_scopes, required_scopes)
    return report


def _check_scopes(
    report: ResourceReport,
    document: Mapping[str, Any] | None,
    scopes: list[str] | None,
    challenge_scopes: list[str],
    required: Sequence[str],
) -> None:
    if document is None or scopes is None:
        return
    wanted = list(dict.fromkeys([*challenge_scopes, *required]))
    if not wanted:
        detail = f"{quote(scopes)}" if scopes else "none advertised"
        report.add("scopes_supported", "ok" if scopes else "skipped", detail)
        return
    missing = [scope for scope in wanted if scope not in scopes]
    if missing:
        report.add(
            "scopes_supported",
            "problem" if "scopes_supported" in document else "warning",
            f"{quote(missing)} needed (by the challenge or --require-scope) but not in {quote(scopes)}",
            "list every scope the API requires in scopes_supported so that clients ask for them",
        )
    else:
        report.add("scopes_supported", "ok", f"{quote(scopes)} covers {quote(wanted)}")


# -- output --------------------------------------------------------------------------------------

_MARKS = {"ok": "ok", "warning": "WARN", "problem": "FAIL", "skipped": "--"}


def render_text(report: ResourceReport) -> str:
    """The report for a terminal (every server value escaped)."""
    lines = [f"resource      {quote(report.resource)}", f"metadata URL  {quote(report.metadata_url)}", ""]
    for item in report.items:
        lines.append(f"[{_MARKS[item.status]:>4}] {item.name}: {item.detail}")
        if item.fix:
            lines.append(f"       fix: {item.fix}")
    problems = sum(item.status == "problem" for item in report.items)
    lines.append("")
    lines.append("the answers agree" if not problems else f"{problems} problem{'s' * (problems != 1)} found")
    return "\n".join(lines)


def render_json(report: ResourceReport) -> dict[str, Any]:
    """The report as one JSON document."""
    return {
        "resource": report.resource,
        "metadata_url": report.metadata_url,
        "items": [
            {"name": item.name, "status": item.status, "detail": item.detail, "fix": item.fix} for item in report.items
        ],
        "metadata": report.document,
        "challenge": report.challenge,
        "unreachable": report.unreachable,
        "exit_code": report.exit_code,
    }


# -- the command-line face -------------------------------------------------------------------------


def add_resource_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``--resource`` option (for a ``check`` parser that has the others)."""
    parser.add_argument(
        "--resource",
        metavar="URL",
        help="check a running protected resource: its RFC 9728 metadata and 401 challenge agree",
    )


def _configured(values: Sequence[str] | None, variable: str, environ: Mapping[str, str]) -> list[str]:
    words = split_words(values)
    if words:
        return words
    return split_words([environ[variable]]) if environ.get(variable) else []


def run_resource(args: argparse.Namespace, streams: Streams, environ: Mapping[str, str] | None = None) -> int:
    """Run the ``--resource`` mode with parsed *args*; return the exit code.

    Reads ``args.resource``, ``args.issuer``, ``args.audience``,
    ``args.require_scope``, ``args.timeout``, ``args.env_prefix`` and
    ``args.json`` (each may be absent).
    """
    environ = os.environ if environ is None else environ
    prefix = getattr(args, "env_prefix", None) or "JWT_GUARD_"
    issuer = getattr(args, "issuer", None)
    issuers = _configured([issuer] if isinstance(issuer, str) else issuer, f"{prefix}ISSUER", environ)
    audiences = _configured(getattr(args, "audience", None), f"{prefix}AUDIENCE", environ)
    timeout = getattr(args, "timeout", None)
    if timeout is None:
        timeout = 5.0
    elif timeout <= 0:
        raise CommandError("--timeout must be above 0 seconds")
    try:
        report = check_resource(
            args.resource,
            issuers=issuers,
            audiences=audiences,
            required_scopes=split_words(getattr(args, "require_scope", None)),
            timeout=timeout,
        )
    except ConfigurationError as exc:
        raise CommandError(exc.description) from None
    streams.out(to_json(render_json(report)) if getattr(args, "json", False) else render_text(report))
    return report.exit_code
