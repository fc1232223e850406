"""The report of ``jwt-guard check`` and how it is printed: text for people
and bug reports, JSON for scripts. Every value that came from a token or a
key server is ASCII-escaped (no terminal control sequences get through)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from jwt_guard._claims import Check
from jwt_guard._keys import KeyDescription
from jwt_guard.cli._common import EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, format_time

__all__ = ["KeySetReport", "Report", "render_json", "render_text"]


@dataclass
class KeySetReport:
    """What one key set (an issuer's, or an explicit ``jwks_uri``'s) looks like."""

    label: str
    issuer: str | None
    static: bool = False
    #: Each request made: ``url``, ``status`` (or ``None``) and transport ``error``.
    requests: list[dict[str, Any]] = field(default_factory=list)
    discovered_issuer: str | None = None
    jwks_uri: str | None = None
    keys: list[KeyDescription] = field(default_factory=list)
    keys_problem: str | None = None
    #: ``reason``, ``description`` (as a 503 body says it), ``detail`` (as
    #: the log says it) and ``configuration`` of a failed fetch.
    failure: dict[str, Any] | None = None
    server_date: str | None = None
    #: Seconds this machine's clock is ahead of the key server's ``Date``.
    skew: float | None = None


@dataclass
class Report:
    """The whole diagnosis."""

    configuration: dict[str, Any]
    key_sets: list[KeySetReport]
    token: list[Check] | None
    #: Each ``problem`` with its ``fix`` (or ``None``).
    problems: list[dict[str, str | None]]
    exit_code: int


_RESULTS = {
    EXIT_OK: "ok",
    EXIT_INVALID: "token_invalid",
    EXIT_USAGE: "configuration_error",
    EXIT_UNAVAILABLE: "keys_unavailable",
}
_TIMES = ("exp", "nbf", "iat")


def render_json(report: Report) -> dict[str, Any]:
    """The report as one JSON document."""
    return {
        "result": _RESULTS[report.exit_code],
        "exit_code": report.exit_code,
        "configuration": report.configuration,
        "key_sets": [dataclasses.asdict(key_set) for key_set in report.key_sets],
        "token": None if report.token is None else [dataclasses.asdict(check) for check in report.token],
        "problems": report.problems,
    }


def _value(value: Any) -> str:
    """A value quoted as a Python literal, ASCII only."""
    if value is None:
        return "(absent)"
    if isinstance(value, list):
        return ", ".join(_value(item) for item in value) or "(none)"
    if isinstance(value, str):
        return ascii(value)
    return _bare(str(value))


def _bare(text: str) -> str:
    """*text* unquoted, ASCII only."""
    return text.encode("ascii", "backslashreplace").decode()


def _key_line(key: KeyDescription) -> list[str]:
    parts = [f"[{key.index}]", f"kid {_value(key.kid)}"]
    parts += [_bare(value) for value in (key.kty, key.size) if value]
    parts += [f"{name} {_bare(value)}" for name, value in (("alg", key.alg), ("use", key.use)) if value]
    if key.thumbprint:
        parts.append(f"thumbprint {key.thumbprint}")
    verdict = f"usable with {', '.join(key.algorithms)}" if key.algorithms else f"NOT usable: {key.problem}"
    return ["    " + "  ".join(parts), "        " + verdict]


def _key_set(key_set: KeySetReport) -> list[str]:
    if key_set.static:
        lines = ["static keys (no network)"]
    elif key_set.issuer is not None:
        lines = [f"key set of issuer {_value(key_set.issuer)}"]
    else:
        lines = [f"key set at {_value(key_set.label)}"]
    for request in key_set.requests:
        answer = f"HTTP {request['status']}" if request["status"] is not None else f"failed ({request['error']})"
        lines.append(f"  GET {_bare(request['url'])} -> {answer}")
    if key_set.issuer is not None and (key_set.discovered_issuer or key_set.requests):
        found = key_set.discovered_issuer
        verdict = "matches" if found == key_set.issuer else "DOES NOT MATCH the configured issuer"
        lines.append(f"  discovered issuer {_value(found)}: {verdict}")
    if key_set.jwks_uri is not None:
        lines.append(f"  jwks_uri {_bare(key_set.jwks_uri)}")
    if key_set.keys_problem:
        lines.append(f"  keys: {key_set.keys_problem}")
    elif key_set.keys:
        usable = sum(1 for key in key_set.keys if key.algorithms)
        lines.append(f"  keys: {len(key_set.keys)} published, {usable} usable with the allowlist")
        for key in key_set.keys:
            lines.extend(_key_line(key))
    if key_set.server_date is not None:
        skew = "unreadable" if key_set.skew is None else f"{key_set.skew:+.0f} s"
        lines.append(f"  server time {_bare(key_set.server_date)} (this machine's clock: {skew})")
    if key_set.failure is not None:
        kind = "configuration error" if key_set.failure["configuration"] else "failed"
        lines.append(f"  {kind}: {key_set.failure['reason']}")
    return lines


def _check_lines(check: Check, now: float) -> list[str]:
    def shown(value: Any) -> str:
        if check.name in _TIMES and value is not None and not isinstance(value, str):
            return _bare(format_time(check.name, value, now))
        return _value(value)

    mark = "ok  " if check.passed else "FAIL"
    lines = [f"  {mark}  {check.name:<10} expected {_value(check.expected)}; received {shown(check.received)}"]
    if not check.passed:
        lines.append(f"        {'':<10} {check.reason}: {_bare(check.description or '')}")
    return lines


def render_text(report: Report, now: float | None = None) -> str:
    """The report as text: configuration, key sets, token checks, problems."""
    now = time.time() if now is None else now
    config = report.configuration
    lines = [f"configuration from the {config['origin']}"]
    lines.append(f"  issuer        {_value(config['issuers'])}")
    audiences = config["audiences"]
    lines.append(f"  audience      {'not checked' if audiences is None else _value(audiences)}")
    if config["jwks_uri"]:
        lines.append(f"  jwks_uri      {_value(config['jwks_uri'])}")
    lines.append(f"  algorithms    {' '.join(config['algorithms'])}")
    lines.append(f"  leeway        {config['leeway']:g} s")
    lines.append(f"  scope claims  {_value(config['scope_claims'])}")
    for key_set in report.key_sets:
        lines.append("")
        lines.extend(_key_set(key_set))
    if report.token is not None:
        lines.append("")
        lines.append("token (never shown; its checks:)")
        for check in report.token:
            lines.extend(_check_lines(check, now))
    lines.append("")
    if report.problems:
        lines.append("problems:")
        for number, problem in enumerate(report.problems, 1):
            lines.append(f"  {number}. {_bare(problem['problem'] or '')}")
            if problem["fix"]:
                lines.append(f"     fix: {_bare(problem['fix'])}")
    else:
        lines.append("problems: none")
    lines.append(f"result: {_RESULTS[report.exit_code].replace('_', ' ')} (exit {report.exit_code})")
    return "\n".join(lines)
