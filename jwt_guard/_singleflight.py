"""One HTTP exchange per key at a time, shared by every request that needs it.

A request that needs an answer nobody is fetching *leads*: it runs the
request flow (a generator yielding :class:`~jwt_guard._wire.Request` values
and returning an outcome, as in :mod:`jwt_guard._policy`). Requests that need
the same answer meanwhile *join* and receive the same outcome: 100 concurrent
requests carrying one new token make one introspection call. Threads join by
waiting on an event (bounded); asyncio tasks await the leader's task through
``asyncio.shield``, so a cancelled request never cancels the shared call.

A finished flight lingers for :data:`LINGER` seconds (of the verifier's
clock), answering late joiners, so that a request arriving between the end
of the call and the moment its answer is cached does not make a second call.

Whether a new call may start at all (rate limit, backoff) is decided by the
*admit* callable, under the same lock that creates the flight, once for both
faces.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Generator, Hashable
from typing import Generic, TypeVar

from jwt_guard import _forks
from jwt_guard._http import HTTPClients, exchange_async, exchange_sync
from jwt_guard._wire import Failure, Reply, Request

__all__ = ["LINGER", "Shared", "SingleFlight"]

#: Seconds a finished flight keeps answering requests that join late.
LINGER = 1.0

_INCOMPLETE = Failure("internal", "the request did not complete")
_WAITED_TOO_LONG = Failure("timeout", "the server did not answer in time")

T = TypeVar("T")
RequestFlow = Generator[Request, Reply, T]


class _Flight(Generic[T]):
    __slots__ = ("done", "done_at", "loop", "outcome", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.loop = loop
        self.done = threading.Event()
        self.done_at = math.nan
        self.outcome: T | Failure = _INCOMPLETE
        self.task: asyncio.Task[None] | None = None


class SingleFlight(Generic[T]):
    """Shared exchanges through *clients*; a waiting thread gives up after
    *wait_limit* seconds."""

    def __init__(self, clients: HTTPClients, *, wait_limit: float, clock: Callable[[], float]) -> None:
        self._clients = clients
        self._clock = clock
        self._wait_limit = wait_limit
        self._lock = threading.Lock()
        self._sync: dict[Hashable, _Flight[T]] = {}
        self._async: dict[Hashable, _Flight[T]] = {}
        #: Leader tasks under way (asyncio keeps only weak references).
        self.tasks: set[asyncio.Task[None]] = set()
        _forks.register(self)

    def _claim(
        self,
        table: dict[Hashable, _Flight[T]],
        key: Hashable,
        admit: Callable[[], Failure | None],
        loop: asyncio.AbstractEventLoop | None,
    ) -> tuple[_Flight[T], bool] | Failure:
        now = self._clock()
        with self._lock:
            # Oldest first: drop finished flights whose linger is over.
            while table:
                oldest = next(iter(table.values()))
                if not now - oldest.done_at >= LINGER:  # under way (NaN), or lingering
                    break
                table.pop(next(iter(table)))
            flight = table.get(key)
            if flight is not None and flight.loop is loop and not now - flight.done_at >= LINGER:
                return flight, False
            refusal = admit()
            if refusal is not None:
                return refusal
            table.pop(key, None)
            flight = table[key] = _Flight(loop)
            return flight, True

    def run_sync(
        self,
        key: Hashable,
        start: Callable[[], RequestFlow[T]],
        admit: Callable[[], Failure | None],
        finish: Callable[[T | Failure], T | Failure],
    ) -> T | Failure:
        """The outcome for *key*: from the flight under way, or by leading one
        (when *admit* allows it; else its refusal). *finish* sees every
        outcome a leader obtains, once."""
        claimed = self._claim(self._sync, key, admit, None)
        if isinstance(claimed, Failure):
            return claimed
        flight, leader = claimed
        if not leader:
            if not flight.done.wait(self._wait_limit):
                return _WAITED_TOO_LONG
            return flight.outcome
        outcome: T | Failure = _INCOMPLETE
        try:
            flow = start()
            request = next(flow)
            while True:
                request = flow.send(exchange_sync(self._clients, request))
        except StopIteration as stop:
            outcome = stop.value
        finally:
            flight.outcome = finish(outcome)
            flight.done_at = self._clock()
            flight.done.set()
        return flight.outcome

    async def run_async(
        self,
        key: Hashable,
        start: Callable[[], RequestFlow[T]],
        admit: Callable[[], Failure | None],
        finish: Callable[[T | Failure], T | Failure],
    ) -> T | Failure:
        """Async :meth:`run_sync`: the leader's call runs in its own task."""
        loop = asyncio.get_running_loop()
        claimed = self._claim(self._async, key, admit, loop)
        if isinstance(claimed, Failure):
            return claimed
        flight, leader = claimed
        if leader:
            # No await between the claim and here: joiners on this loop
            # always find the task.
            task = flight.task = loop.create_task(self._lead(flight, start, finish))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        assert flight.task is not None
        await asyncio.shield(flight.task)
        return flight.outcome

    async def _lead(
        self,
        flight: _Flight[T],
        start: Callable[[], RequestFlow[T]],
        finish: Callable[[T | Failure], T | Failure],
    ) -> None:
        outcome: T | Failure = _INCOMPLETE
        try:
            flow = start()
            request = next(flow)
            while True:
                request = flow.send(await exchange_async(self._clients, request))
        except StopIteration as stop:
            outcome = stop.value
        finally:
            flight.outcome = finish(outcome)
            flight.done_at = self._clock()
            flight.done.set()

    def clear(self) -> None:
        """Forget finished flights: they answer nobody from now on."""
        with self._lock:
            for table in (self._sync, self._async):
                for key in [key for key, flight in table.items() if flight.done.is_set()]:
                    del table[key]

    def after_fork(self) -> None:
        # Flights belong to the parent's threads and loops.
        self._lock = threading.Lock()
        self._sync = {}
        self._async = {}
        self.tasks = set()


class Shared(Generic[T]):
    """Effect: the outcome of the shared exchange *key* of *flights*
    (see :meth:`SingleFlight.run_sync`)."""

    __slots__ = ("admit", "finish", "flights", "key", "start")

    def __init__(
        self,
        flights: SingleFlight[T],
        key: Hashable,
        start: Callable[[], RequestFlow[T]],
        admit: Callable[[], Failure | None],
        finish: Callable[[T | Failure], T | Failure],
    ) -> None:
        self.flights = flights
        self.key = key
        self.start = start
        self.admit = admit
        self.finish = finish

    def run_sync(self) -> T | Failure:
        return self.flights.run_sync(self.key, self.start, self.admit, self.finish)

    async def run_async(self) -> T | Failure:
        return await self.flights.run_async(self.key, self.start, self.admit, self.finish)
