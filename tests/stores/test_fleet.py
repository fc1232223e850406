"""A fleet: ``uvicorn --workers 4`` running examples/revocation_app.py against one real redis-server.

Revoke once, and every worker process refuses the token (cached results
included); restart Redis during a load run, and the outage policy does what
it says: ``"closed"`` answers 503 (never a 500, never a revoked token
accepted) and recovers, ``"open"`` keeps accepting valid tokens.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from jwt_guard.stores import RedisStore
from jwt_guard.testing import LocalIssuer
from tests.support.fleet import Fleet
from tests.support.services import RedisServer

pytestmark = pytest.mark.one_interpreter  # see the marker in pyproject.toml

pytest.importorskip("uvicorn")

ISSUER = "https://idp.fleet.test/"
WORKERS = 4
HANG_GUARD = 60.0  # seconds; a wait still unfinished by then has failed


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer(ISSUER, token_lifetime=3600)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    # Persistent (fsync always), as the docs ask: a restart keeps every revocation.
    with RedisServer(tmp_path_factory.mktemp("redis"), appendonly=True) as server:
        yield server


def start_fleet(directory: Path, issuer: LocalIssuer, redis: RedisServer, policy: str) -> Fleet:
    environ = {
        "JWT_GUARD_REVOCATION_PREFIX": f"fleet-{policy}:",
        "JWT_GUARD_REVOCATION_STORE_FAILURE": policy,
        "JWT_GUARD_REVOCATION_FAILURE_GRACE": "1",
    }
    return Fleet(directory, issuer=issuer, redis_url=redis.url, workers=WORKERS, environ=environ).start()


@pytest.fixture(scope="module")
def closed_fleet(tmp_path_factory, issuer, redis_server) -> Iterator[Fleet]:
    fleet = start_fleet(tmp_path_factory.mktemp("closed"), issuer, redis_server, "closed")
    yield fleet
    fleet.stop()


def status(expected: int) -> Callable[[httpx.Response], bool]:
    return lambda response: response.status_code == expected


def test_one_revocation_reaches_every_worker(closed_fleet, issuer, redis_server, tmp_path):
    fleet = closed_fleet
    assert len(fleet.pids) == WORKERS  # four distinct processes answered
    stolen = issuer.token(sub="alice", jti="stolen-jti")
    logged_out = issuer.token(sub="bob", iat=int(time.time()) - 5)
    fine = issuer.token(sub="carol")
    # Every worker verifies (and caches) each token first.
    for token in (stolen, logged_out, fine):
        fleet.until_every_worker(token, status(200))

    # Revoke the jti once, through the command line; then every worker refuses it.
    exp = str(int(time.time()) + 3600)
    command = [sys.executable, "-m", "jwt_guard", "revoke", "--redis", redis_server.url, "--issuer", ISSUER]
    command += ["--prefix", "fleet-closed:", "--jti", "stolen-jti", "--exp", exp]
    done = subprocess.run(command, capture_output=True, text=True, timeout=HANG_GUARD, check=False)
    assert done.returncode == 0, done.stderr
    seen = fleet.until_every_worker(stolen, status(401))
    assert {pid for pid, _ in seen} == fleet.pids
    assert_refused_for_good(seen)

    # "Log out everywhere" through the store API of another process (this one).
    store = RedisStore.from_url(redis_server.url, prefix="fleet-closed:")
    try:
        store.revoke_subject("bob", issuer=ISSUER)
    finally:
        store.close()
    assert_refused_for_good(fleet.until_every_worker(logged_out, status(401)))

    # The others were never concerned; the refusals carry the RFC 6750 challenge.
    fleet.until_every_worker(fine, status(200))
    refusal = fleet.get("/me", stolen)
    assert refusal.status_code == 401
    assert 'error="invalid_token"' in refusal.headers["www-authenticate"]


def assert_refused_for_good(seen: list[tuple[int, int]]) -> None:
    """Once a worker has refused a token, it never accepts it again."""
    refused: set[int] = set()
    for pid, code in seen:
        assert code in (200, 401), seen
        if code == 401:
            refused.add(pid)
        else:
            assert pid not in refused, f"worker {pid} accepted a token it had refused: {seen}"


# -- Redis restarted during a load run ---------------------------------------------------------


@dataclass
class Answer:
    token: str  # "valid" or "revoked"
    status: int
    pid: int
    retry_after: str | None
    at: float  # monotonic


class Load:
    """A few concurrent keep-alive clients sending the valid and the revoked token in turn."""

    def __init__(self, fleet: Fleet, tokens: dict[str, str], clients: int = 4) -> None:
        self.fleet = fleet
        self.tokens = tokens
        self.clients = clients
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.fleet.url, timeout=10, limits=limits, trust_env=False) as http:
            await asyncio.gather(*(self._client(http) for _ in range(self.clients)))

    async def _client(self, http: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            for name, token in self.tokens.items():
                try:
                    response = await http.get("/me", headers={"Authorization": f"Bearer {token}"})
                except httpx.TransportError as error:
                    self.errors.append(repr(error))
                    continue
                pid = int(response.headers.get("x-worker-pid", "0"))
                answer = Answer(name, response.status_code, pid, response.headers.get("retry-after"), time.monotonic())
                self.answers.append(answer)

    def stop(self) -> None:
        self._stop.set()

    async def until(self, condition: Callable[[list[Answer]], bool], what: str) -> None:
        deadline = time.monotonic() + HANG_GUARD
        while not condition(self.answers):
            assert time.monotonic() < deadline, f"{what} did not happen within {HANG_GUARD} s"
            await asyncio.sleep(0.01)


def since(answers: list[Answer], start: float) -> list[Answer]:
    return [answer for answer in answers if answer.at >= start]


async def restart_during_load(redis: RedisServer, load: Load, noticed: Callable[[float], Awaitable[bool]]) -> float:
    """Kill Redis once the load runs, keep it down until *noticed(killed)*, start it again.

    Returns the monotonic instant Redis answered again.
    """
    await load.until(lambda answers: len(answers) >= 40, "a first load")
    killed = time.monotonic()
    await asyncio.to_thread(redis.kill)
    deadline = killed + HANG_GUARD
    while not await noticed(killed):
        assert time.monotonic() < deadline, "the outage was not noticed"
        await asyncio.sleep(0.05)
    await asyncio.to_thread(redis.start)
    return time.monotonic()


@pytest.mark.anyio
async def test_closed_a_redis_restart_is_a_503_never_a_500_never_a_revoked_token(closed_fleet, issuer, redis_server):
    fleet = closed_fleet
    valid, revoked = issuer.token(sub="dave"), issuer.token(sub="erin", jti="revoked-before-outage")
    store = RedisStore.from_url(redis_server.url, prefix="fleet-closed:")
    try:
        store.revoke_token("revoked-before-outage", issuer=ISSUER, expires_at=time.time() + 3600)
    finally:
        store.close()
    fleet.until_every_worker(revoked, status(401))
    load = Load(fleet, {"valid": valid, "revoked": revoked})
    task = asyncio.create_task(load.run())
    try:

        async def noticed(killed: float) -> bool:
            # A sustained outage: the policy answered 503 to valid tokens many times.
            return sum(a.status == 503 for a in since(load.answers, killed) if a.token == "valid") >= 20

        back = await restart_during_load(redis_server, load, noticed)
        # Recovery: valid tokens are accepted again through the load's connections...
        await load.until(lambda answers: any(a.token == "valid" and a.status == 200 for a in since(answers, back)),
                         "recovery")  # fmt: skip
    finally:
        load.stop()
        await task
    # ...and by every worker.
    await asyncio.to_thread(fleet.until_every_worker, valid, status(200))
    await asyncio.to_thread(fleet.until_every_worker, revoked, status(401))

    answers = load.answers
    assert load.errors == []
    assert {a.status for a in answers} <= {200, 401, 503}, "no 500, nothing unexpected"
    assert not [a for a in answers if a.token == "revoked" and a.status == 200], "a revoked token was accepted"
    unavailable = [a for a in answers if a.status == 503]
    assert unavailable and all(a.retry_after is not None and int(a.retry_after) >= 1 for a in unavailable)
    assert "lost contact with Redis" in fleet.log()
    assert "reachable again" in fleet.log()


@pytest.mark.anyio
async def test_open_a_redis_restart_keeps_valid_tokens_accepted(tmp_path, issuer, redis_server):
    fleet = start_fleet(tmp_path / "open", issuer, redis_server, "open")
    try:
        valid, revoked = issuer.token(sub="frank"), issuer.token(sub="grace", jti="revoked-open")
        store = RedisStore.from_url(redis_server.url, prefix="fleet-open:")
        try:
            store.revoke_token("revoked-open", issuer=ISSUER, expires_at=time.time() + 3600)
        finally:
            store.close()
        fleet.until_every_worker(revoked, status(401))
        load = Load(fleet, {"valid": valid, "revoked": revoked})
        task = asyncio.create_task(load.run())
        try:

            async def noticed(killed: float) -> bool:
                # The outage is real for the workers (a /health says the mirror is
                # not current), and the load went on meanwhile.
                health = await asyncio.to_thread(fleet.get, "/health")
                return not health.json()["revocation_ready"] and len(since(load.answers, killed)) >= 20

            back = await restart_during_load(redis_server, load, noticed)
            await load.until(lambda answers: len(since(answers, back)) >= 20, "load after the restart")
        finally:
            load.stop()
            await task
        await asyncio.to_thread(fleet.wait_for_workers)  # every mirror current again

        answers = load.answers
        assert load.errors == []
        assert {a.status for a in answers} <= {200, 401}, "no 500 and no 503 under 'open'"
        assert all(a.status == 200 for a in answers if a.token == "valid")
        # Records already mirrored keep refusing their tokens during the outage.
        assert all(a.status == 401 for a in answers if a.token == "revoked")
        assert "accepting (store_failure='open')" in fleet.log()
    finally:
        fleet.stop()


def test_the_example_in_process_with_a_memory_store(issuer):
    """The example's routes and headers, without processes: a MemoryStore, Starlette's TestClient."""
    from starlette.testclient import TestClient

    from jwt_guard.stores import MemoryStore
    from tests.support.fleet import ROOT

    spec = importlib.util.spec_from_file_location("revocation_app_example", ROOT / "examples" / "revocation_app.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    store = MemoryStore()
    token = issuer.token(sub="alice", jti="j-1")
    with TestClient(example.create_app(issuer.verifier(revocation=store))) as client:
        health = client.get("/health")
        assert health.json() == {"pid": os.getpid(), "revocation_ready": True}
        answer = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert answer.json() == {"sub": "alice", "pid": os.getpid()}
        assert answer.headers["x-worker-pid"] == str(os.getpid())
        store.revoke_token("j-1", issuer=ISSUER, expires_at=time.time() + 60)
        refused = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert refused.status_code == 401
        assert refused.headers["x-worker-pid"] == str(os.getpid())
