"""The HTTP plumbing's total deadline (jwt_guard._http), against a real
127.0.0.1 server that drips its status line and headers one byte at a time.

Each byte arrives well inside any read timeout, so only a deadline on the
whole exchange can end such a fetch: without it a key fetch (and every
request waiting on it) is held for as long as the server cares to drip. The
server here drips far longer than the tests' hang guard, so a test that ends
at all proves the deadline ended it; no assertion is about how long anything
took.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from jwt_guard import Event, EventKind, KeyCacheOptions, KeySetUnavailable, Verifier
from jwt_guard._http import MAX_STUCK, HTTPClients, exchange_sync
from jwt_guard._wire import Failure, Request
from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer
from tests.conftest import AUDIENCE, signing_key

#: Only to detect a hang: far above the deadlines below, far below the drip.
HANG_GUARD = 60.0
#: How long the server keeps dripping one reply (until the test stops it).
DRIP_FOR = 600.0
#: The configured total deadline of one exchange.
DEADLINE = 1.0
#: Requests verifying at once: one fetches, the others wait on its fetch.
CONCURRENT = 4
TIMED_OUT = "the server did not answer in time"


@pytest.fixture
def dripping(clock: FakeClock) -> Iterator[LocalServer]:
    """A key server whose JWKS replies drip their headers without end."""
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE, clock=clock, keys=[signing_key("RS256")])
    with LocalServer(issuer, hang_limit=DRIP_FOR) as server:
        server.keys.set_fault("header_drip", delay=0.05)
        yield server


def _verifier(server: LocalServer, clock: FakeClock, events: list[Event]) -> Verifier:
    return Verifier(
        issuer=server.issuer_url,
        audience=AUDIENCE,
        jwks_uri=server.jwks_uri,
        clock=clock,
        key_cache=KeyCacheOptions(timeout=DEADLINE, connect_timeout=DEADLINE),
        on_event=events.append,
    )


def _check_outcomes(outcomes: list[BaseException | object], server: LocalServer, events: list[Event]) -> None:
    assert len(outcomes) == CONCURRENT, "a request never ended"
    for outcome in outcomes:
        assert isinstance(outcome, KeySetUnavailable), outcome
        assert outcome.description.endswith(TIMED_OUT)
    assert server.keys.jwks_requests >= 1  # the fetch did reach the dripping server
    failed = [event.reason for event in events if event.kind == EventKind.FETCH_FAILED]
    assert failed and set(failed) == {"timeout"}


def test_sync_fetch_and_its_waiters_end_at_the_deadline(dripping, clock):
    """verify(): the fetching thread and the threads waiting on its fetch
    lock all end with KeySetUnavailable (503), while the server still drips."""
    events: list[Event] = []
    verifier = _verifier(dripping, clock, events)
    token = dripping.issuer.token()
    outcomes: list[BaseException | object] = []
    lock = threading.Lock()
    start = threading.Barrier(CONCURRENT)

    def request() -> None:
        start.wait()
        try:
            result: BaseException | object = verifier.verify(token)
        except BaseException as error:  # recorded, so that the test reports it
            result = error
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=request, daemon=True) for _ in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_GUARD)
    assert not any(thread.is_alive() for thread in threads), "a verification hangs on the dripping server"
    _check_outcomes(outcomes, dripping, events)
    verifier.close()


@pytest.mark.anyio
async def test_async_fetch_and_its_waiters_end_at_the_deadline(dripping, clock):
    """verify_async(): the same, with tasks sharing one fetch task."""
    events: list[Event] = []
    verifier = _verifier(dripping, clock, events)
    token = dripping.issuer.token()

    async def request() -> BaseException | object:
        try:
            return await verifier.verify_async(token)
        except BaseException as error:
            return error

    try:
        outcomes = await asyncio.wait_for(asyncio.gather(*(request() for _ in range(CONCURRENT))), HANG_GUARD)
    except asyncio.TimeoutError:
        pytest.fail("a verification hangs on the dripping server")
    finally:
        await verifier.aclose()
    _check_outcomes(list(outcomes), dripping, events)


def test_abandoned_exchanges_are_bounded(dripping):
    """A sync exchange cut off at its deadline leaves a thread blocked on the
    socket; at most MAX_STUCK such threads exist, further exchanges fail at
    once instead of piling up, and the threads end when the server does."""
    clients = HTTPClients(KeyCacheOptions(timeout=0.5, connect_timeout=0.5), None, None, allow_insecure_http=False)
    request = Request(dripping.jwks_uri, (), "jwks", allow_http=True)
    replies = [exchange_sync(clients, request) for _ in range(MAX_STUCK + 2)]
    assert replies[:MAX_STUCK] == [Failure("timeout", TIMED_OUT)] * MAX_STUCK
    assert replies[MAX_STUCK:] == [Failure("busy", "earlier requests to the server have not ended")] * 2
    stuck = [worker.thread for worker in clients.stuck]
    assert len(stuck) == MAX_STUCK
    assert all(thread.is_alive() for thread in stuck)
    dripping.stop()  # the drip ends: the blocked reads return
    for thread in stuck:
        thread.join(HANG_GUARD)
    assert not any(thread.is_alive() for thread in stuck)
    clients.close()
