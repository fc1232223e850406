"""The two shells that carry out key-set fetches for :mod:`jwt_guard._keysource`.

Neither decides anything. :class:`SyncShell` fetches with ``httpx.Client``:
one thread fetches while others wait on a lock (bounded), then reuse the
result. :class:`AsyncShell` fetches with ``httpx.AsyncClient``: one task
fetches while others await it through ``asyncio.shield``, so a cancelled
request never cancels the shared fetch. Both run the same refresh flow
(:meth:`KeySetState.refresh`), sending the requests it yields through
:mod:`jwt_guard._http`.
"""

from __future__ import annotations

import asyncio
import threading
from time import perf_counter

from jwt_guard import _forks
from jwt_guard._http import HTTPClients, exchange_async, exchange_sync
from jwt_guard._keys import KeySet
from jwt_guard._keysource import RemoteKeys
from jwt_guard._policy import Outcome
from jwt_guard._wire import Failure

__all__ = ["AsyncShell", "SyncShell", "attach_shells"]

_INCOMPLETE = Failure("internal", "the fetch did not complete")


def attach_shells(source: RemoteKeys, clients: HTTPClients) -> RemoteKeys:
    """Give *source* its sync and async shells, fetching through *clients*."""
    source.sync = SyncShell(source, clients)
    source.aio = AsyncShell(source, clients)
    return source


class SyncShell:
    """Fetches with ``httpx.Client``, one fetch at a time."""

    def __init__(self, source: RemoteKeys, clients: HTTPClients) -> None:
        self._source = source
        self._clients = clients
        self._fetch_lock = threading.Lock()
        _forks.register(self)

    def wait(self, need: int) -> KeySet | None:
        source = self._source
        if not self._fetch_lock.acquire(timeout=source.wait_limit()):
            return None
        try:
            if source.must_fetch(need):
                self._run()
        finally:
            self._fetch_lock.release()
        return source.usable()

    def refresh(self) -> None:
        thread = threading.Thread(target=self._background, name="jwt_guard-refresh", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutting down
            self._source.cancel_refresh()

    def _background(self) -> None:
        if not self._fetch_lock.acquire(timeout=self._source.wait_limit()):
            self._source.cancel_refresh()
            return
        try:
            self._run()
        finally:
            self._fetch_lock.release()

    def _run(self) -> None:
        started = perf_counter()
        flow = self._source.refresh_flow()
        outcome: Outcome = _INCOMPLETE
        try:
            request = next(flow)
            while True:
                request = flow.send(exchange_sync(self._clients, request))
        except StopIteration as stop:
            outcome = stop.value
        finally:
            self._source.apply(outcome, perf_counter() - started)

    def after_fork(self) -> None:
        self._fetch_lock = threading.Lock()


class AsyncShell:
    """Fetches with ``httpx.AsyncClient``, one fetch task at a time."""

    def __init__(self, source: RemoteKeys, clients: HTTPClients) -> None:
        self._source = source
        self._clients = clients
        self._task: asyncio.Task[None] | None = None
        #: Tasks under way (asyncio keeps only weak references to tasks).
        self.tasks: set[asyncio.Task[None]] = set()
        _forks.register(self)

    async def wait(self, need: int) -> KeySet | None:
        # The first round may join a fetch that started before the caller
        # decided to fetch; once it is done, _spawn starts a new one.
        for _ in range(2):
            if self._source.reached(need):
                break
            # shield: a cancelled request must not cancel the fetch others await.
            await asyncio.shield(self._spawn())
        return self._source.usable()

    def refresh(self) -> None:
        self._spawn()

    def _spawn(self) -> asyncio.Task[None]:
        """The fetch task under way on this loop, or a new one."""
        loop = asyncio.get_running_loop()
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            task = loop.create_task(self._run())
            self._task = task
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
            task.add_done_callback(self._cancelled)
        return task

    def _cancelled(self, task: asyncio.Task[None]) -> None:
        # A task cancelled before it ever ran (its loop ended first) never
        # reached _run's handlers: clear the refresh it was to carry out.
        if task.cancelled():
            self._source.cancel_refresh()

    async def _run(self) -> None:
        source = self._source
        started = perf_counter()
        flow = source.refresh_flow()
        outcome: Outcome = _INCOMPLETE
        try:
            request = next(flow)
            while True:
                request = flow.send(await exchange_async(self._clients, request))
        except StopIteration as stop:
            outcome = stop.value
        except asyncio.CancelledError:
            # Requests await this task through shield(), so only the event
            # loop shutting down cancels it: not the key server's failure.
            source.abandon()
            raise
        except BaseException:
            source.apply(outcome, perf_counter() - started)
            raise
        source.apply(outcome, perf_counter() - started)

    def after_fork(self) -> None:
        self._task = None
        self.tasks = set()
