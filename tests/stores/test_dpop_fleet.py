"""DPoP across processes: examples/dpop_app.py under ``uvicorn --workers 2``
with one real redis-server.

A proof accepted by one worker is refused by the other (the replay record
is shared: one ``SET NX PX`` in Redis), and a server nonce issued by one
worker is good at the other (stateless HMAC nonces, one secret). The
control: two single-worker processes recording in separate Redis key
spaces accept each other's replays, which is what a per-process record
would do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jwt_guard.testing import DPoPKey, LocalIssuer, bound_token
from tests.support.fleet import Fleet
from tests.support.services import RedisServer

pytestmark = pytest.mark.one_interpreter  # see the marker in pyproject.toml

pytest.importorskip("uvicorn")

ISSUER = "https://idp.dpop-fleet.test/"
SECRET = "ab" * 32
HANG_GUARD = 60.0  # seconds; a wait still unfinished by then has failed


@pytest.fixture(scope="module")
def issuer() -> LocalIssuer:
    return LocalIssuer(ISSUER, token_lifetime=3600)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


def start(directory: Path, issuer: LocalIssuer, redis: RedisServer, *, workers: int, prefix: str) -> Fleet:
    return Fleet(
        directory,
        issuer=issuer,
        redis_url=redis.url,
        workers=workers,
        environ={"DPOP_REDIS_PREFIX": prefix, "DPOP_NONCE_SECRET": SECRET},
        app="dpop_app:create_app",
        redis_variable="DPOP_REDIS_URL",
        ready=lambda answer: bool(answer["ready"]),
    ).start()


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, issuer, redis_server) -> Iterator[Fleet]:
    running = start(tmp_path_factory.mktemp("fleet"), issuer, redis_server, workers=2, prefix="dpop-fleet:")
    yield running
    running.stop()


def headers(key: DPoPKey, token: str, url: str, nonce: str | None) -> dict[str, str]:
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof("GET", url, access_token=token, nonce=nonce)}


def pid_of(response: httpx.Response) -> int:
    return int(response.headers["x-worker-pid"])


def nonce_from(fleet: Fleet, key: DPoPKey, token: str) -> tuple[str, int]:
    """A server nonce, and the worker that issued it (RFC 9449 §9: a first request without one)."""
    response = fleet.get("/me", headers=headers(key, token, fleet.url + "/me", None))
    assert response.status_code == 401, response.text
    assert 'error="use_dpop_nonce"' in response.headers["www-authenticate"]
    return response.headers["dpop-nonce"], pid_of(response)


def replay_until_another_worker(fleet: Fleet, sent: dict[str, str], first: int) -> list[tuple[int, int]]:
    """Send the same headers on new connections until a worker other than
    *first* answered; every (pid, status) seen."""
    seen: list[tuple[int, int]] = []
    deadline = time.monotonic() + HANG_GUARD
    while not any(pid != first for pid, _ in seen):
        assert time.monotonic() < deadline, f"no other worker answered: {seen}"
        response = fleet.get("/me", headers=sent)
        seen.append((pid_of(response), response.status_code))
        if response.status_code == 401:
            assert 'error="invalid_dpop_proof"' in response.headers["www-authenticate"]
            assert response.json()["error_description"] == "the DPoP proof has already been used"
    return seen


def test_a_proof_replayed_against_another_worker_is_refused(fleet, issuer):
    assert len(fleet.pids) == 2
    key = DPoPKey("ES256")
    token = bound_token(issuer, key, sub="alice")
    nonce, _ = nonce_from(fleet, key, token)
    for _ in range(3):  # a few proofs, so that each worker is likely to be first once
        sent = headers(key, token, fleet.url + "/me", nonce)
        first = fleet.get("/me", headers=sent)
        assert first.status_code == 200, first.text
        assert first.json()["sub"] == "alice" and first.json()["jkt"] == key.thumbprint
        seen = replay_until_another_worker(fleet, sent, pid_of(first))
        assert all(status == 401 for _, status in seen), seen


def test_a_nonce_from_one_worker_is_good_at_the_other(fleet, issuer):
    key = DPoPKey("EdDSA")
    token = bound_token(issuer, key, sub="bob")
    nonce, issuer_pid = nonce_from(fleet, key, token)
    deadline = time.monotonic() + HANG_GUARD
    while True:
        assert time.monotonic() < deadline, "the other worker never answered"
        response = fleet.get("/me", headers=headers(key, token, fleet.url + "/me", nonce))
        assert response.status_code == 200, response.text
        if pid_of(response) != issuer_pid:
            break


def test_two_separate_servers_sharing_the_record_and_one_that_does_not(tmp_path, issuer, redis_server):
    """Two single-worker servers (two uvicorn processes, two ports) recording in
    one key space, and a third in its own. A proof's replay key is its key and
    ``jti``, whatever URL it names: the second server refuses a proof whose
    (key, jti) the first accepted; the third, which does not share the record,
    accepts it, which is what a per-process record would do."""
    servers = []
    try:
        for name, prefix in (("one", "shared:"), ("two", "shared:"), ("three", "alone:")):
            servers.append(start(tmp_path / name, issuer, redis_server, workers=1, prefix=prefix))
        one, two, three = servers
        key = DPoPKey("ES256")
        token = bound_token(issuer, key, sub="carol")
        nonce, _ = nonce_from(one, key, token)

        def proof_for(server: Fleet) -> dict[str, str]:
            url = server.url + "/me"
            return {
                "Authorization": f"DPoP {token}",
                "DPoP": key.proof("GET", url, access_token=token, nonce=nonce, jti="one-jti"),
            }

        assert one.get("/me", headers=proof_for(one)).status_code == 200
        refused = two.get("/me", headers=proof_for(two))
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_dpop_proof"
        assert three.get("/me", headers=proof_for(three)).status_code == 200
    finally:
        for server in servers:
            server.stop()
