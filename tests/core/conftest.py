"""The ``shell`` fixture for the key-set tests (test_fetch, test_discovery,
test_local_server): one scenario, run through ``verify`` or ``verify_async``."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable

import pytest

from jwt_guard import AccessToken, Verifier
from jwt_guard._sources import remote_sources
from jwt_guard._verifier import key_sources

# Only to detect hangs; no test relies on how long anything takes.
HANG_LIMIT = 20.0


class Shell:
    """Drives a :class:`Verifier` through its sync or its async face."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.is_async = name == "async"
        self._made: list[Verifier] = []

    def __repr__(self) -> str:
        return f"Shell({self.name})"

    def track(self, verifier: Verifier) -> Verifier:
        self._made.append(verifier)
        return verifier

    async def verify(self, verifier: Verifier, token: str) -> AccessToken:
        if self.is_async:
            return await verifier.verify_async(token)
        return verifier.verify(token)

    async def prefetch(self, verifier: Verifier) -> None:
        if self.is_async:
            await verifier.prefetch_async()
        else:
            verifier.prefetch()

    async def settle(self, verifier: Verifier) -> None:
        """Wait for background refreshes this shell started to finish."""
        if self.is_async:
            tasks = [task for remote in remote_sources(key_sources(verifier)) for task in remote.aio.tasks]
            if tasks:
                await asyncio.wait_for(asyncio.gather(*tasks), HANG_LIMIT)
            return
        for thread in threading.enumerate():
            if thread.name == "jwt_guard-refresh":
                thread.join(HANG_LIMIT)
                assert not thread.is_alive(), "a background refresh hangs"

    async def close(self) -> None:
        for verifier in self._made:
            await verifier.aclose()  # closes the async client, then the sync one
        self._made.clear()


@pytest.fixture(params=["sync", "async"])
async def shell(request: pytest.FixtureRequest) -> AsyncIterator[Shell]:
    """``sync`` or ``async``; closes the verifiers passed to ``shell.track``."""
    driver = Shell(request.param)
    yield driver
    await driver.close()


async def wait_until(condition: Callable[[], bool], what: str = "condition") -> None:
    """Poll *condition* (yielding to the event loop) until true; fail on a hang."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HANG_LIMIT
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.002)
