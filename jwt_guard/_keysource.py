"""Where a verification gets its key: static keys, or a remote key set.

Every decision a request makes about keys lives here, written once:

* the lock-free fast path (:meth:`RemoteKeys.find`): a fresh cached set
  answers without any lock;
* :meth:`RemoteKeys.acquire`, a generator *flow* that decides whether to use
  the cached set, start one background refresh, wait for a fetch (starting
  or joining it), claim or join an unknown-``kid`` refetch, remember an
  absent ``kid``, and whether a missing key is the client's fault (401) or
  an outage (503).

A flow *yields* effects (:class:`Wait`, :class:`Refresh`) and receives their
results; it never blocks and never touches the network. Each effect knows how
to run itself synchronously (threads) or asynchronously (asyncio) through the
shells in :mod:`jwt_guard._fetch`, so :meth:`Verifier.verify` and
:meth:`Verifier.verify_async` drive the same flow (the shape httpx uses for
its auth flows).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from jwt_guard import _forks
from jwt_guard._events import EventKind, Reporter, logger
from jwt_guard._keys import BoundKey, KeySet
from jwt_guard._policy import CONFIGURATION_FAILURES, KeySetState, Outcome, Plan
from jwt_guard._reasons import shown, with_details
from jwt_guard._wire import Failure, Reply, Request
from jwt_guard.errors import JWTGuardError, UnknownKey

if TYPE_CHECKING:
    from jwt_guard._fetch import AsyncShell, SyncShell

__all__ = [
    "Effect",
    "Flow",
    "KeySetSnapshot",
    "KeySource",
    "Refresh",
    "RemoteKeys",
    "StaticKeys",
    "Wait",
    "no_key_error",
    "run_async",
    "run_sync",
]


class Effect(Protocol):
    """Something a flow needs done outside itself."""

    def run_sync(self) -> Any: ...

    async def run_async(self) -> Any: ...


#: A flow yields effects, receives their results and returns its value.
Flow = Generator[Effect, Any, Any]


def run_sync(flow: Generator[Effect, Any, Any]) -> Any:
    """Drive *flow* to its end, running each effect synchronously."""
    reply: Any = None
    while True:
        try:
            effect = flow.send(reply)
        except StopIteration as done:
            return done.value
        reply = effect.run_sync()


async def run_async(flow: Generator[Effect, Any, Any]) -> Any:
    """Drive *flow* to its end, awaiting each effect."""
    reply: Any = None
    while True:
        try:
            effect = flow.send(reply)
        except StopIteration as done:
            return done.value
        reply = await effect.run_async()


class Wait:
    """Effect: wait until fetch *need* of *source* completed (starting or
    joining it); result: the usable key set, or ``None`` if there is none."""

    __slots__ = ("need", "source")

    def __init__(self, source: RemoteKeys, need: int) -> None:
        self.source = source
        self.need = need

    def run_sync(self) -> KeySet | None:
        return self.source.sync.wait(self.need)

    async def run_async(self) -> KeySet | None:
        return await self.source.aio.wait(self.need)


class Refresh:
    """Effect: start one background refresh of *source*; result: ``None``."""

    __slots__ = ("source",)

    def __init__(self, source: RemoteKeys) -> None:
        self.source = source

    def run_sync(self) -> None:
        self.source.sync.refresh()

    async def run_async(self) -> None:
        self.source.aio.refresh()


def no_key_error(kid: str | None, keyset: KeySet) -> UnknownKey:
    """The :class:`UnknownKey` for a token whose *kid* finds no key in *keyset*."""
    if kid is not None and keyset.has_kid(kid):
        error = UnknownKey("the key named by the token does not allow its algorithm")
    elif kid is None:
        error = UnknownKey("the token names no key (kid) and no single key fits")
    else:
        error = UnknownKey()
    return with_details(error, claim="kid", received=shown(kid))


CheckIssuer = Callable[[], object]


@dataclass(frozen=True)
class KeySetSnapshot:
    """What a remote key set's state says, for diagnostics. No key material."""

    label: str
    #: The configured issuer (``None`` with an explicit ``jwks_uri``).
    issuer: str | None
    #: The discovery URL that answered last, and the issuer it named.
    discovery_url: str | None
    discovered_issuer: str | None
    jwks_uri: str | None
    kids: tuple[str, ...]
    expires_at: float
    stale_until: float
    failures: int
    #: The last failure (reason code and operator-facing description).
    failure: Failure | None
    #: Whether that failure is a configuration error (no retry cures it).
    configuration_error: bool
    #: When a fetch last succeeded (epoch seconds of the verifier's clock).
    last_success: float | None = None


class KeySource(Protocol):
    """What a verification asks of its keys (static or remote)."""

    def find(self, kid: str | None, alg: str) -> BoundKey | None: ...

    def current_keyset(self) -> KeySet | None: ...

    def acquire(self, kid: str | None, alg: str, check_issuer: CheckIssuer) -> Generator[Effect, Any, BoundKey]: ...


class StaticKeys:
    """Configured keys: no network, nothing to wait for."""

    __slots__ = ("keyset",)

    def __init__(self, keyset: KeySet) -> None:
        self.keyset = keyset

    def find(self, kid: str | None, alg: str) -> BoundKey | None:
        return self.keyset.find(kid, alg)

    def current_keyset(self) -> KeySet:
        return self.keyset

    def acquire(self, kid: str | None, alg: str, check_issuer: CheckIssuer) -> Generator[Effect, Any, BoundKey]:
        yield from ()  # a generator, like every acquire flow
        raise no_key_error(kid, self.keyset)


class RemoteKeys:
    """One remote key set (per issuer, or per explicit ``jwks_uri``): its
    :class:`~jwt_guard._policy.KeySetState`, the lock guarding it, and the
    flows that read it. ``sync`` and ``aio`` are the shells carrying out
    fetches (attached by :func:`jwt_guard._fetch.attach_shells`)."""

    sync: SyncShell
    aio: AsyncShell

    def __init__(
        self,
        state: KeySetState,
        *,
        clock: Callable[[], float],
        reporter: Reporter,
        on_change: Callable[[], None],
    ) -> None:
        self.state = state
        self.clock = clock
        self.reporter = reporter
        self.on_change = on_change
        self.lock = threading.Lock()
        _forks.register(self)

    @property
    def label(self) -> str:
        return self.state.label

    # -- what requests do ----------------------------------------------------

    def find(self, kid: str | None, alg: str) -> BoundKey | None:
        """The key from a fresh cached set, without taking any lock; ``None``
        sends the request through :meth:`acquire`."""
        current = self.state.current
        if current.keyset is not None and self.clock() < current.refresh_at:
            return current.keyset.find(kid, alg)
        return None

    def current_keyset(self) -> KeySet | None:
        """The cached set a request would use now (fresh or stale), if any."""
        with self.lock:
            return self.state.plan(self.clock(), may_refresh=False)[1]

    def snapshot(self) -> KeySetSnapshot:
        """The state of this key set, for diagnostics (no key material)."""
        with self.lock:
            state = self.state
            failure = state.last_failure
            return KeySetSnapshot(
                label=state.label,
                issuer=state.issuer,
                discovery_url=state.discovery_url,
                discovered_issuer=state.discovered_issuer,
                jwks_uri=state.jwks_uri,
                kids=tuple(sorted(state.keyset.kids)) if state.keyset else (),
                expires_at=state.expires_at,
                stale_until=state.stale_until,
                failures=state.failures,
                failure=failure,
                configuration_error=failure is not None and failure.reason in CONFIGURATION_FAILURES,
                last_success=state.last_success,
            )

    def keyset_flow(self, check_issuer: CheckIssuer | None = None) -> Generator[Effect, Any, KeySet]:
        """The set to use now: the cached one (starting one background
        refresh when due), or the result of a fetch. *check_issuer* runs
        before any wait, so a token from a foreign issuer never waits on the
        network, and never gets a 503 for somebody else's keys."""
        now = self.clock()
        with self.lock:
            plan, keyset = self.state.plan(now)
            generation = self.state.generation
        if plan is Plan.USE_AND_REFRESH:
            yield Refresh(self)
        elif plan is not Plan.USE:
            if check_issuer is not None:
                check_issuer()
            if plan is Plan.FAIL:
                raise self.unavailable()
            keyset = yield Wait(self, generation + 1)
            if keyset is None:
                raise self.unavailable()
        assert keyset is not None
        return keyset

    def acquire(self, kid: str | None, alg: str, check_issuer: CheckIssuer) -> Generator[Effect, Any, BoundKey]:
        """The key for a token's ``kid`` and ``alg``, or the error to answer."""
        keyset = yield from self.keyset_flow(check_issuer)
        key = keyset.find(kid, alg)
        if key is not None:
            return key
        if kid is None or keyset.has_kid(kid):
            raise no_key_error(kid, keyset)
        # An unknown kid of an allowed alg, from a configured issuer: it may
        # be a key rotated in since the last fetch.
        check_issuer()
        now = self.clock()
        refusal = None
        with self.lock:
            need = self.state.claim_kid_refetch(kid, now)
            claimed = need is not None
            if need is None:
                need = self.state.join_kid_refetch(kid)
                if need is None and self.reporter.enabled:
                    refusal = self.state.kid_refetch_refusal(kid, now)
        if refusal is not None:
            self.reporter.emit(EventKind.UNKNOWN_KID_REFUSED, self.label, refusal)
        if claimed:
            logger.info("jwt_guard: unknown kid %r for %s; refetching the key set", kid, self.label)
            self.reporter.emit(EventKind.UNKNOWN_KID_REFETCH, self.label, None, kid=kid)
        if need is None:
            # Refused (cooldown, backoff, known absent): the newest set,
            # which a fetch may just have renewed.
            fresh = self.state.current.keyset
        else:
            fresh = yield Wait(self, need)
            if fresh is not None and claimed and not fresh.has_kid(kid):
                with self.lock:
                    self.state.note_absent(kid, self.clock())
        if fresh is not None:
            key = fresh.find(kid, alg)
            if key is not None:
                return key
            keyset = fresh
        if self.state.failures:
            # The key server is failing: the unknown kid may well be a key
            # rotated in meanwhile. Not the client's fault: 503, not 401.
            raise self.unavailable()
        raise no_key_error(kid, keyset)

    # -- what the shells do --------------------------------------------------

    def must_fetch(self, need: int) -> bool:
        """Holding the sync fetch lock: does a fetch still have to run for
        generation *need* (none completed since, or nothing usable)?"""
        with self.lock:
            return self.state.generation < need or self.state.plan(self.clock(), may_refresh=False)[0] is Plan.FETCH

    def reached(self, need: int) -> bool:
        return self.state.generation >= need

    def usable(self) -> KeySet | None:
        """After a fetch: the set to use now, if any."""
        with self.lock:
            return self.state.plan(self.clock(), may_refresh=False)[1]

    def refresh_flow(self) -> Generator[Request, Reply, Outcome]:
        with self.lock:
            self.state.begin_fetch()
        return self.state.refresh(self.clock)

    def apply(self, outcome: Outcome, duration: float | None = None) -> None:
        with self.lock:
            changed = self.state.apply(outcome, self.clock(), duration)
        if changed:
            self.on_change()

    def cancel_refresh(self) -> None:
        with self.lock:
            self.state.refreshing = False

    def abandon(self) -> None:
        with self.lock:
            self.state.abandon()

    def unavailable(self) -> JWTGuardError:
        with self.lock:
            return self.state.unavailable(self.clock())

    def wait_limit(self) -> float:
        """How long a request waits for another's fetch: a refresh makes at
        most three exchanges (two discovery forms and the key set), each
        bounded by the total timeout."""
        return 3 * self.state.options.timeout + 1.0

    def after_fork(self) -> None:
        # Locks may be held by threads that do not exist in the child.
        self.lock = threading.Lock()
        self.state.refreshing = False
        self.state.in_flight = 0
