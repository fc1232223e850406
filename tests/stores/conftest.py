"""Fixtures for the store tests: a real redis-server, and stores of either kind.

Contract tests take ``make_store`` and run once per backend. The Redis ones
share one server per session; each test gets its own key prefix, so tests
never see each other's records. Tests that kill, pause or restart Redis
start their own server (``own_redis``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwt_guard import Event
from jwt_guard.stores import MemoryStore, RedisStore, Store
from tests.support.services import RedisServer

READY_TIMEOUT = 30.0


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    """Start a redis-server of this test's own (``appendonly=True`` persists)."""
    started: list[RedisServer] = []

    def start(**options: Any) -> RedisServer:
        server = RedisServer(tmp_path / f"redis-{len(started)}", **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def prefix() -> str:
    return f"t{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def make_redis_store(request: pytest.FixtureRequest, prefix: str) -> Iterator[Callable[..., RedisStore]]:
    """RedisStores on the session's server (or ``url=``), closed after the test."""
    made: list[RedisStore] = []

    def make(url: str | None = None, *, ready: bool = True, **options: Any) -> RedisStore:
        if url is None:
            url = request.getfixturevalue("redis_server").url
        options.setdefault("prefix", prefix)
        store = RedisStore.from_url(url, **options)
        made.append(store)
        if ready:
            assert store.wait_ready(READY_TIMEOUT), "the mirror did not finish its first read"
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_store(backend: str, make_redis_store: Callable[..., RedisStore]) -> Callable[..., Store]:
    """Stores of the parametrised backend: the same contract for both."""

    def make(**options: Any) -> Store:
        if backend == "memory":
            return MemoryStore(**options)
        return make_redis_store(**options)

    return make


@pytest.fixture
def events() -> list[Event]:
    return []


def eventually(condition: Callable[[], object], *, timeout: float = READY_TIMEOUT, what: str = "condition") -> Any:
    """Poll *condition* until it is truthy; fail after *timeout* seconds (a hang guard, not a timing)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s")
        time.sleep(0.005)
