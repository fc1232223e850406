"""The key-server fault matrix as data, and the runner for one cell.

Every fault of a real key server on 127.0.0.1 (:class:`~jwt_guard.testing.LocalServer`)
meets a :class:`~jwt_guard.Verifier` in four states, through both I/O shells:

``cold``
    nothing cached: the request must fail with ``KeySetUnavailable`` (503),
    never with a 401, within bounded time; a second request during the
    backoff fails at once without touching the server.
``cached``
    a good set is cached and fresh; the issuer has rotated in a key the
    verifier has not seen, so a token naming it forces an unknown-``kid``
    refetch straight into the fault. That token gets ``KeySetUnavailable``
    (503: its key may well exist, the outage is not the client's fault), so
    does a retry during the backoff (without a request), and tokens of the
    cached keys keep passing.
``expired``
    a good set is cached but past its freshness (the fake clock moved on,
    inside the stale window): valid tokens are served from the cache at once
    while one background refresh meets the fault.
``stale-exhausted``
    the cached set is past its freshness *and* the stale window: it may no
    longer be used, so the request waits for a fetch and, when the fault
    prevents it, fails with ``KeySetUnavailable`` (503), never with a 401.

:func:`cells` lists the matrix (the test parametrises over it, the report
script counts it); :func:`run_cell` plays one cell and returns what it saw,
including every deviation from the expected outcome.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jwt_guard import (
    AccessToken,
    Event,
    EventKind,
    JWTGuardError,
    KeyCacheOptions,
    KeySetUnavailable,
    UnknownKey,
    Verifier,
)
from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer, SigningKey

__all__ = ["STATES", "Cell", "CellResult", "Fault", "cells", "faults", "run_cell"]

#: Limits for faults that fail fast: far above what a healthy loopback
#: fetch needs, so no cell depends on timing to pass.
OPTIONS = {"timeout": 5.0, "connect_timeout": 2.0, "discovery_ttl": 60.0}
#: Faults that only a timeout ends get short limits, so the matrix runs in
#: seconds. With a hanging JWKS every fetch after priming meets the fault (and
#: priming retries), so these limits decide no outcome either.
_SHORT = (("timeout", 0.5), ("connect_timeout", 0.5))
#: Seconds the fake clock moves for the ``expired`` state: past the JWKS
#: freshness (max-age 600) and the discovery TTL, well inside the stale window.
EXPIRE_BY = 900.0
#: ... and for ``stale-exhausted``: past freshness plus the 6 h stale window.
EXHAUST_BY = 600.0 + KeyCacheOptions().max_stale + 100.0
#: Bound on any one request, only to detect hangs (never a performance check).
HANG_SLACK = 5.0

STATES = ("cold", "cached", "expired", "stale-exhausted")
SHELLS = ("sync", "async")

# Outcomes of the request under test.
UNAVAILABLE = "unavailable"  # KeySetUnavailable: 503 + Retry-After
ACCEPTED = "accepted"
UNKNOWN_KEY = "unknown_key"  # 401: the token's kid could not be had


@dataclass(frozen=True)
class Fault:
    """One way a key server can fail."""

    name: str
    #: KeyServer fault name, or "stopped" (the server stops listening).
    kind: str
    #: "jwks", "discovery" or "server" (every URL fails).
    target: str
    #: ``Event.reason`` of the failed fetch this fault causes.
    reason: str
    status: int = 500
    delay: float = 0.5
    #: KeyCacheOptions overrides for this fault.
    options: tuple[tuple[str, Any], ...] = ()


_FAULTS = (
    Fault("http-500", "status", "jwks", "http_status", status=500),
    Fault("http-404", "status", "jwks", "http_status", status=404),
    Fault("invalid-json", "invalid_json", "jwks", "invalid_json"),
    Fault("json-not-a-jwks", "not_jwks", "jwks", "not_jwks"),
    Fault("empty-key-set", "empty_keys", "jwks", "no_usable_keys"),
    Fault("body-5mib-declared", "huge_declared", "jwks", "too_large"),
    Fault("body-5mib-streamed", "huge", "jwks", "too_large"),
    Fault("slow-drip", "slow_drip", "jwks", "timeout", delay=0.05, options=_SHORT),
    # Status line and headers one byte at a time: only the total deadline
    # of an exchange ends it (each byte beats the read timeout).
    Fault("header-drip", "header_drip", "jwks", "timeout", delay=0.05, options=_SHORT),
    Fault("hang", "hang", "jwks", "timeout", options=_SHORT),
    Fault("connection-refused", "stopped", "server", "connect"),
    Fault("connection-reset", "refuse", "jwks", "transport"),
    Fault("redirect-loop", "redirect_loop", "jwks", "http_status"),
    Fault("redirect-loop-followed", "redirect_loop", "jwks", "redirect", options=(("max_redirects", 3),)),
    Fault("redirect-to-http", "redirect_http", "jwks", "http_status"),
    Fault("redirect-to-http-followed", "redirect_http", "jwks", "insecure_redirect", options=(("max_redirects", 3),)),
    Fault("discovery-issuer-mismatch", "issuer_mismatch", "discovery", "issuer_mismatch"),
    Fault("discovery-500", "status", "discovery", "discovery_http_status", status=500),
    Fault("discovery-invalid-json", "invalid_json", "discovery", "discovery_invalid_json"),
    # After a hanging discovery the JWKS fetch must succeed: 1 s is still
    # hundreds of times what a loopback fetch takes.
    Fault("discovery-hang", "hang", "discovery", "timeout", options=(("timeout", 1.0), ("connect_timeout", 1.0))),
)


def faults() -> tuple[Fault, ...]:
    return _FAULTS


@dataclass(frozen=True)
class Cell:
    """One fault, in one state, through one shell, with its expected outcome."""

    fault: Fault
    state: str
    shell: str
    #: What the request under test must produce.
    outcome: str
    #: The fetch event the fault must cause: (kind, reason or None).
    fetch_event: tuple[str, str | None]

    @property
    def id(self) -> str:
        return f"{self.fault.name}-{self.state}-{self.shell}"


def _expectation(fault: Fault, state: str) -> tuple[str, tuple[str, str | None]]:
    failed = (EventKind.FETCH_FAILED, fault.reason)
    if state == "cold":
        return UNAVAILABLE, failed
    if fault.target == "discovery":
        # A cached discovery document is not refetched for an unknown kid;
        # once it is due, a failed discovery keeps the known jwks_uri (and
        # an impostor document is never adopted): the keys still refresh.
        if state == "cached":
            return ACCEPTED, (EventKind.KEYS_FETCHED, None)
        return ACCEPTED, (EventKind.KEYS_NOT_MODIFIED, None)
    if state in ("cached", "stale-exhausted"):
        return UNAVAILABLE, failed
    return ACCEPTED, failed


def cells() -> tuple[Cell, ...]:
    """The whole matrix: every fault x state x shell."""
    result = []
    for fault in _FAULTS:
        for state in STATES:
            outcome, event = _expectation(fault, state)
            for shell in SHELLS:
                result.append(Cell(fault, state, shell, outcome, event))
    return tuple(result)


@dataclass
class CellResult:
    """What one cell observed; ``problems`` lists every deviation."""

    cell: Cell
    outcome: str = ""
    elapsed: float = 0.0
    events: list[tuple[str, str | None]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


_SESSION_KEYS: dict[str, SigningKey] = {}


def _session_key(kid: str) -> SigningKey:
    if kid not in _SESSION_KEYS:
        _SESSION_KEYS[kid] = SigningKey("RS256", kid=kid)
    return _SESSION_KEYS[kid]


def _classify(result: AccessToken | BaseException) -> str:
    if isinstance(result, AccessToken):
        return ACCEPTED
    if type(result) is KeySetUnavailable:
        return UNAVAILABLE
    if type(result) is UnknownKey:
        return UNKNOWN_KEY
    return f"{type(result).__name__}: {result}"


class _Scenario:
    """The issuer, server, clock and verifier one cell plays with."""

    def __init__(self, cell: Cell) -> None:
        self.cell = cell
        self.clock = FakeClock(1_800_000_000)
        self.issuer = LocalIssuer(
            "http://127.0.0.1/issuer",
            audience="https://api.example.test",
            clock=self.clock,
            keys=[_session_key("fault-matrix-old")],
        )
        self.server = LocalServer(self.issuer, hang_limit=10.0)
        self.events: list[Event] = []
        options = KeyCacheOptions(**{**OPTIONS, **dict(cell.fault.options)})
        self.bound = options.connect_timeout + 2 * options.timeout + HANG_SLACK
        self.options = options
        self.verifier: Verifier | None = None

    def start(self) -> Verifier:
        self.server.start()
        self.verifier = Verifier(
            issuer=self.server.issuer_url,
            audience=self.issuer.audience,
            clock=self.clock,
            key_cache=self.options,
            on_event=self.events.append,
        )
        return self.verifier

    def apply_fault(self) -> None:
        fault = self.cell.fault
        if fault.kind == "stopped":
            self.server.stop()
        else:
            self.server.keys.set_fault(fault.kind, target=fault.target, status=fault.status, delay=fault.delay)

    def fetch_events(self, since: int = 0) -> list[tuple[str, str | None]]:
        kinds = (EventKind.FETCH_FAILED, EventKind.KEYS_FETCHED, EventKind.KEYS_NOT_MODIFIED)
        return [(event.kind, event.reason) for event in self.events[since:] if event.kind in kinds]

    def stop(self) -> None:
        if self.verifier is not None:
            self.verifier.close()
        self.server.stop()


async def _call(shell: str, verifier: Verifier, token: str) -> AccessToken | BaseException:
    try:
        if shell == "async":
            return await verifier.verify_async(token)
        return verifier.verify(token)
    except JWTGuardError as error:
        return error


async def _timed(shell: str, verifier: Verifier, token: str) -> tuple[AccessToken | BaseException, float]:
    started = time.monotonic()
    result = await _call(shell, verifier, token)
    return result, time.monotonic() - started


async def _wait_for(predicate: Callable[[], bool], limit: float, shell: str) -> bool:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            return False
        # The async shell refreshes in a task on this loop, the sync shell in
        # a thread: yield to whichever it is.
        if shell == "async":
            await asyncio.sleep(0.01)
        else:
            time.sleep(0.01)
    return True


async def _prime(scenario: _Scenario) -> bool:
    """Cache a good set; a fetch that a loaded machine slowed past the short
    limits is retried after the backoff (on the fake clock)."""
    assert scenario.verifier is not None
    for _ in range(3):
        primed = await _call(scenario.cell.shell, scenario.verifier, scenario.issuer.token())
        if isinstance(primed, AccessToken):
            return True
        scenario.clock.advance(scenario.options.cold_backoff[1] + 1)
    return False


async def _play(scenario: _Scenario, result: CellResult) -> None:
    cell = scenario.cell
    shell = cell.shell
    verifier = scenario.start()
    issuer = scenario.issuer
    problems = result.problems

    if cell.state != "cold" and not await _prime(scenario):
        problems.append("priming with a healthy server failed three times")
        return
    if cell.state == "cached":
        issuer.rotate(key=_session_key("fault-matrix-new"))  # published from the next fetch on
    before = len(scenario.events)
    scenario.apply_fault()
    if cell.state == "expired":
        scenario.clock.advance(EXPIRE_BY)
    elif cell.state == "stale-exhausted":
        scenario.clock.advance(EXHAUST_BY)

    # The request under test.
    outcome, elapsed = await _timed(shell, verifier, issuer.token())
    result.outcome = _classify(outcome)
    result.elapsed = elapsed
    if result.outcome != cell.outcome:
        problems.append(f"request answered {result.outcome}, expected {cell.outcome}")
    if elapsed > scenario.bound:
        problems.append(f"request took {elapsed:.1f} s (bound {scenario.bound:.1f} s)")
    if isinstance(outcome, KeySetUnavailable) and outcome.retry_after < 1:
        problems.append("KeySetUnavailable without a usable Retry-After")

    # The fetch the fault caused (in the background for the expired state).
    wanted = cell.fetch_event
    seen = await _wait_for(lambda: wanted in scenario.fetch_events(before), scenario.bound, shell)
    result.events = scenario.fetch_events(before)
    if not seen:
        problems.append(f"expected fetch event {wanted}, saw {result.events}")

    if cell.outcome == UNAVAILABLE:
        # Backing off: the next request fails at once, without a request.
        requests = scenario.server.keys.count()
        again, _ = await _timed(shell, verifier, issuer.token())
        if _classify(again) != UNAVAILABLE:
            problems.append(f"the request during the backoff answered {_classify(again)}")
        if scenario.server.keys.count() != requests:
            problems.append("a request during the backoff reached the key server")
    if cell.outcome != UNAVAILABLE or cell.state == "cached":
        # No false 401: a token of a cached key keeps passing.
        old = _session_key("fault-matrix-old")
        kept, elapsed = await _timed(shell, verifier, issuer.token(key=old))
        if not isinstance(kept, AccessToken):
            problems.append(f"a token of a cached key was refused: {_classify(kept)}")
        if elapsed > scenario.bound:
            problems.append(f"the cached-key request took {elapsed:.1f} s")

    if shell == "async":
        await verifier.aclose()


def run_cell(cell: Cell) -> CellResult:
    """Play *cell* against a fresh LocalServer; never raises for a deviation."""
    result = CellResult(cell)
    scenario = _Scenario(cell)
    try:
        asyncio.run(_play(scenario, result))
    finally:
        scenario.stop()
    return result
