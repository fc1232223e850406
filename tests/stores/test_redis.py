"""RedisStore against a real redis-server: propagation, outages, hangs, garbage, scale, fork."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import pytest
import redis

from jwt_guard import ConfigurationError, EventKind, StoreUnavailable
from jwt_guard.stores import RedisStore, Revocation
from jwt_guard.stores._redis_format import Keys
from tests.stores.conftest import READY_TIMEOUT, eventually
from tests.support.services import SilentServer, free_port

ISS = "https://idp.example.test/"
HANG_GUARD = 30.0  # seconds; a call still running by then is a hang


def bounded(call: Callable[[], Any]) -> Any:
    """Run *call* in a thread; fail if it is still running after HANG_GUARD. Returns or raises its outcome."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(HANG_GUARD)
    if thread.is_alive():
        pytest.fail("the call hung")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def refused(store: RedisStore, *args: Any) -> bool:
    try:
        store.check(*args)
    except StoreUnavailable:
        return True
    return False


def kinds(events) -> list[str]:
    return [event.kind for event in events]


# -- propagation ------------------------------------------------------------------------------


def test_a_revocation_reaches_another_hosts_mirror(make_redis_store):
    """Two stores with their own mirrors, as two hosts: B learns what A revokes."""
    a, b = make_redis_store(), make_redis_store()
    now = time.time()
    a.revoke_token("stolen", issuer=ISS, expires_at=now + 300)
    a.revoke_subject("alice", issuer=ISS, before=now)
    a.revoke_client("app", issuer=ISS, before=now)
    assert a.check(ISS, "stolen", None, None, None) == "token"  # read your own writes at once
    eventually(lambda: b.check(ISS, "stolen", None, None, None) == "token", what="jti propagation")
    eventually(lambda: b.check(ISS, None, "alice", None, now - 1) == "subject", what="subject propagation")
    eventually(lambda: b.check(ISS, None, None, "app", now - 1) == "client", what="client propagation")
    assert b.check(ISS, "other", "bob", "other-app", now - 1) is None


@pytest.mark.anyio
async def test_an_async_revocation_reaches_another_mirror(make_redis_store):
    a, b = make_redis_store(), make_redis_store()
    try:
        await a.revoke_token_async("stolen", issuer=ISS, expires_at=time.time() + 300)
        deadline = time.monotonic() + 30
        while b.check(ISS, "stolen", None, None, None) is None:
            assert time.monotonic() < deadline, "no propagation"
            await asyncio.sleep(0.005)
    finally:
        await a.aclose()
        await b.aclose()


def test_an_acknowledged_revocation_is_in_redis_when_the_call_returns(make_redis_store, redis_server, prefix):
    store = make_redis_store()
    record = store.revoke_subject("alice", issuer=ISS)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        fields = raw.hgetall(Keys(prefix).record(record))
        assert fields[b"k"] == b"subject" and fields[b"id"] == b"alice" and fields[b"iss"] == ISS.encode()
        assert 0 < raw.pttl(Keys(prefix).record(record)) <= (store.max_token_lifetime + store.clock_skew) * 1000
    finally:
        raw.close()


def test_a_new_process_sees_earlier_revocations(make_redis_store):
    """The first read (resync) loads every record already in Redis."""
    make_redis_store().revoke_token("old", issuer=ISS, expires_at=time.time() + 300)
    late = make_redis_store()
    assert late.check(ISS, "old", None, None, None) == "token"


# -- before the first read ------------------------------------------------------------------


@pytest.fixture(params=["refused", "silent"])
def dead_url(request):
    """A Redis URL where nothing answers: a closed port, or a server that never speaks."""
    if request.param == "refused":
        yield f"redis://127.0.0.1:{free_port()}/0"
    else:
        server = SilentServer()
        yield server.url
        server.close()


def test_closed_answers_503_until_the_first_read(make_redis_store, dead_url, events):
    store = make_redis_store(dead_url, ready=False, timeout=0.2, connect_timeout=0.2, on_event=events.append)
    with pytest.raises(StoreUnavailable) as raised:
        store.check(ISS, "jti", "alice", "app", 0)
    assert raised.value.status_code == 503
    assert raised.value.retry_after == 5
    assert store.wait_ready(0.3) is False
    with pytest.raises(StoreUnavailable):
        bounded(lambda: store.revoke_token("j", issuer=ISS, expires_at=time.time() + 60))
    with pytest.raises(StoreUnavailable):
        bounded(lambda: store.claim_once("k", 60))


def test_open_accepts_before_the_first_read_with_a_warning_and_an_event(make_redis_store, dead_url, events, caplog):
    store = make_redis_store(dead_url, ready=False, timeout=0.2, store_failure="open", on_event=events.append)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        assert store.check(ISS, "jti", "alice", "app", 0) is None
        assert bounded(lambda: store.claim_once("k", 60)) is True
    assert [e.reason for e in events if e.kind == EventKind.STORE_FAILED_OPEN][:1] == ["not_synced"]
    assert any(e.kind == EventKind.STORE_FAILED_OPEN and e.reason.startswith("replay_") for e in events)
    assert "accepting (store_failure='open')" in caplog.text
    # A write is never silently dropped, whatever store_failure says.
    with pytest.raises(StoreUnavailable):
        bounded(lambda: store.revoke_token("j", issuer=ISS, expires_at=time.time() + 60))


# -- Redis restarts ---------------------------------------------------------------------------


def test_redis_restart_closed_refuses_open_accepts_then_both_resync(make_redis_store, own_redis, prefix):
    """Kill Redis: after the grace, closed answers 503 and open accepts (with an event);
    records acknowledged before the crash survive it; after the restart both mirrors
    resync and learn what was written meanwhile."""
    server = own_redis(appendonly=True)
    closed_events: list = []
    open_events: list = []
    options = {"failure_grace": 0.5, "timeout": 0.5, "connect_timeout": 0.5}
    closed = make_redis_store(server.url, on_event=closed_events.append, **options)
    opened = make_redis_store(server.url, store_failure="open", on_event=open_events.append, **options)
    closed.revoke_token("before-crash", issuer=ISS, expires_at=time.time() + 300)
    eventually(lambda: opened.check(ISS, "before-crash", None, None, None), what="propagation")

    server.kill()
    eventually(lambda: refused(closed, ISS, "fresh", None, None, None), what="closed refusing")
    assert EventKind.STORE_UNAVAILABLE in kinds(closed_events)

    # Open accepts (check answers None) once the grace has passed, and says so.
    def open_reports() -> bool:
        accepted = opened.check(ISS, "fresh", None, None, None) is None
        return accepted and EventKind.STORE_FAILED_OPEN in kinds(open_events)

    eventually(open_reports, what="open reporting")
    assert next(e.reason for e in open_events if e.kind == EventKind.STORE_FAILED_OPEN) == "mirror_stale"
    assert opened.check(ISS, "before-crash", None, None, None) == "token"  # what it knew still holds
    with pytest.raises(StoreUnavailable):
        bounded(lambda: closed.revoke_subject("alice", issuer=ISS))

    server.start()
    writer = make_redis_store(server.url)  # a third host, writing while the others reconnect
    assert writer.check(ISS, "before-crash", None, None, None) == "token"  # survived the crash (AOF)
    writer.revoke_subject("alice", issuer=ISS)
    eventually(lambda: not refused(closed, ISS, None, "alice", None, 0), what="closed recovering")
    eventually(lambda: closed.check(ISS, None, "alice", None, 0) == "subject", what="closed catching up")
    eventually(lambda: opened.check(ISS, None, "alice", None, 0) == "subject", what="open catching up")
    eventually(lambda: EventKind.STORE_RECOVERED in kinds(closed_events), what="recovery event")
    assert kinds(closed_events).count(EventKind.STORE_RESYNCED) >= 2


def write_outside_the_log(raw: redis.Redis, prefix: str) -> None:
    """A revocation of the token ``hand-written``, written as the store keeps
    records but without an entry in the change log."""
    record = Revocation("token", ISS, "hand-written", time.time() + 300, time.time() + 360)
    key = Keys(prefix).record(record)
    raw.hset(key, mapping={"k": "token", "iss": ISS, "id": "hand-written", "t": record.at_ms})
    raw.pexpire(key, 600_000)


def kill_mirror_connections(raw: redis.Redis) -> list[dict[str, Any]]:
    """Close every revocation mirror's connection from the server's side."""
    killed = [client for client in raw.client_list() if client["name"] == "jwt_guard-mirror"]
    for client in killed:
        raw.client_kill_filter(_id=client["id"])
    return killed


def test_a_reconnect_reads_every_record_again(make_redis_store, redis_server, prefix, events):
    """A record that never went through the log (trimmed, or written by hand) is found by the resync."""
    store = make_redis_store(on_event=events.append)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        write_outside_the_log(raw, prefix)
        assert store.check(ISS, "hand-written", None, None, None) is None  # nothing told the mirror
        kill_mirror_connections(raw)
        eventually(lambda: store.check(ISS, "hand-written", None, None, None) == "token", what="resync")
        assert kinds(events).count(EventKind.STORE_RESYNCED) >= 2
    finally:
        raw.close()


def test_a_connection_closed_between_two_reads_is_noticed(make_redis_store, redis_server, prefix, events):
    """The mirror's connection closed by the server while the reader sits
    between two reads (not blocked in one): the client would quietly open a
    new one, so the reader must notice the new connection and read every
    record again."""
    store = make_redis_store(on_event=events.append)
    between, release = threading.Event(), threading.Event()
    contact = store._mirror_contact

    def pause_once(stamp: float) -> None:  # the reader reports contact right after each read
        contact(stamp)
        if not between.is_set():
            between.set()
            release.wait(READY_TIMEOUT)

    store._mirror_contact = pause_once  # type: ignore[method-assign]
    raw = redis.Redis.from_url(redis_server.url)
    try:
        assert between.wait(READY_TIMEOUT), "the reader never finished a read"
        write_outside_the_log(raw, prefix)
        assert kill_mirror_connections(raw)
        release.set()
        eventually(lambda: store.check(ISS, "hand-written", None, None, None) == "token", what="resync")
        assert kinds(events).count(EventKind.STORE_RESYNCED) >= 2
    finally:
        release.set()
        raw.close()


def test_a_gap_in_the_log_triggers_a_resync(make_redis_store, redis_server, prefix, events):
    store = make_redis_store(on_event=events.append)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        keys = Keys(prefix)
        raw.incrby(keys.seq, 5)  # five changes the log never shows
        store.revoke_token("after-gap", issuer=ISS, expires_at=time.time() + 300)
        other = Revocation("token", ISS, "only-in-hash", time.time() + 300, 0)
        raw.hset(keys.record(other), mapping={"k": "token", "iss": ISS, "id": "only-in-hash", "t": other.at_ms})
        make_redis_store().revoke_token("trigger", issuer=ISS, expires_at=time.time() + 300)
        eventually(lambda: store.check(ISS, "only-in-hash", None, None, None) == "token", what="gap resync")
    finally:
        raw.close()


# -- a hanging Redis --------------------------------------------------------------------------


def test_a_hanging_redis_never_hangs_requests_or_writes(make_redis_store, own_redis, events):
    """SIGSTOP: connections stay open and nothing answers. Every call ends within its timeout."""
    server = own_redis()
    options = {"failure_grace": 0.5, "timeout": 0.3, "connect_timeout": 0.3}
    closed = make_redis_store(server.url, on_event=events.append, **options)
    open_events: list = []
    opened = make_redis_store(server.url, store_failure="open", on_event=open_events.append, **options)
    for_async = make_redis_store(server.url, **options)
    server.pause()
    try:
        with pytest.raises(StoreUnavailable):
            bounded(lambda: closed.revoke_token("j", issuer=ISS, expires_at=time.time() + 60))
        with pytest.raises(StoreUnavailable):
            bounded(lambda: closed.claim_once("k", 60))
        assert bounded(lambda: opened.claim_once("k", 60)) is True
        with pytest.raises(StoreUnavailable):
            bounded(lambda: asyncio.run(_async_calls(for_async)))
        with pytest.raises(StoreUnavailable):
            bounded(closed.revocations)
        eventually(lambda: refused(closed, ISS, "j", None, None, None), what="closed refusing")
        assert opened.check(ISS, "j", None, None, None) is None
        assert {e.reason for e in open_events if e.kind == EventKind.STORE_FAILED_OPEN} >= {
            "replay_timeout",
            "mirror_stale",
        }
        assert any(e.kind == EventKind.STORE_UNAVAILABLE and e.reason == "timeout" for e in events)
    finally:
        server.resume()
    eventually(lambda: not refused(closed, ISS, "j", None, None, None), what="recovery")
    assert closed.claim_once("after", 60) is True


async def _async_calls(store: RedisStore) -> None:
    try:
        with pytest.raises(StoreUnavailable):
            await store.claim_once_async("k2", 60)
        await store.revoke_subject_async("alice", issuer=ISS)
    finally:
        await store.aclose()


# -- garbage in Redis -------------------------------------------------------------------------


def test_garbage_in_redis_is_skipped_counted_and_never_fatal(make_redis_store, redis_server, prefix, events, caplog):
    keys = Keys(prefix)
    raw = redis.Redis.from_url(redis_server.url)
    good = {"k": "token", "iss": ISS, "t": str(int((time.time() + 300) * 1000))}
    try:
        raw.set(f"{prefix}rv:string", "x")
        raw.rpush(f"{prefix}rv:list", "x")
        raw.hset(f"{prefix}rv:truncated", mapping={"k": "token", "iss": ISS})
        raw.hset(f"{prefix}rv:bad-time", mapping={**good, "id": "a", "t": "soon"})
        raw.hset(f"{prefix}rv:negative-time", mapping={**good, "id": "b", "t": "-5"})
        raw.hset(f"{prefix}rv:far-time", mapping={**good, "id": "c", "t": "9" * 40})
        raw.hset(f"{prefix}rv:kind", mapping={**good, "id": "d", "k": "everything"})
        raw.hset(f"{prefix}rv:binary", mapping={**good, "id": b"\xff\xfe"})
        raw.hset(f"{prefix}rv:huge", mapping={**good, "id": "x" * 1_000_000})
        raw.hset(f"{prefix}rv:long-id", mapping={**good, "id": "y" * 2000})
        raw.hset(f"{prefix}rv:extra", mapping={**good, "id": "with-extra-fields", "note": "z" * 100_000})
        raw.hset(f"{prefix}rv:good", mapping={**good, "id": "good"})
        raw.set(keys.seq, "not-a-number")
        raw.xadd(keys.log, {"junk": "1"})
        with caplog.at_level(logging.WARNING, logger="jwt_guard"):
            store = make_redis_store(on_event=events.append)
            assert store.check(ISS, "good", None, None, None) == "token"
            assert store.check(ISS, "with-extra-fields", None, None, None) == "token"  # unknown fields ignored
            [skipped] = [e for e in events if e.kind == EventKind.STORE_RECORD_SKIPPED]
            assert skipped.details["reasons"] == {
                "bad_counter": 1,
                "wrong_type": 2,
                "truncated": 1,
                "bad_time": 3,
                "unknown_kind": 1,
                "bad_text": 2,
                "too_large": 1,
            }
            assert "skipped 11 malformed revocation records" in caplog.text
            # Garbage arriving live through the log is skipped too, and the
            # mirror goes on following it.
            raw.xadd(keys.log, {"seq": "x", "k": "token"})
            raw.xadd(keys.log, {"seq": "1", "k": "token", "iss": ISS, "id": "z" * 5000, "t": "1"})
            make_redis_store().revoke_token("after-garbage", issuer=ISS, expires_at=time.time() + 300)
            eventually(lambda: store.check(ISS, "after-garbage", None, None, None) == "token", what="propagation")
        assert store.ready
        listed = {r.value for r in store.revocations(ISS)}
        assert listed == {"good", "with-extra-fields", "after-garbage"}
    finally:
        raw.close()


def test_a_write_repairs_keys_of_the_wrong_type(make_redis_store, redis_server, prefix):
    keys = Keys(prefix)
    record = Revocation("subject", ISS, "alice", 0, 0)
    raw = redis.Redis.from_url(redis_server.url)
    try:
        raw.rpush(keys.record(record), "garbage")
        raw.set(keys.log, "not a stream")
        store = make_redis_store(ready=False)
        store.revoke_subject("alice", issuer=ISS)
        assert raw.type(keys.record(record)) == b"hash"
        assert raw.type(keys.log) == b"stream"
        other = make_redis_store()
        assert other.check(ISS, None, "alice", None, 0) == "subject"
    finally:
        raw.close()


def test_a_mirror_with_no_room_is_not_trusted(make_redis_store, events):
    writer = make_redis_store()
    now = time.time()
    writer._store_records([Revocation("token", ISS, f"j{i}", now + 300, now + 360) for i in range(20)])
    small = make_redis_store(ready=False, max_records=10, on_event=events.append)
    small.start()
    eventually(lambda: any(e.kind == EventKind.STORE_UNAVAILABLE and e.reason == "full" for e in events))
    with pytest.raises(StoreUnavailable):
        small.check(ISS, "j1", None, None, None)


# -- scale --------------------------------------------------------------------------------------


def test_100k_records_resync(make_redis_store):
    writer = make_redis_store(ready=False)  # writes only: no mirror of its own
    now = time.time()
    records = [Revocation("token", ISS, f"jti-{i}", now + 3600, now + 3660) for i in range(100_000)]
    writer._store_records(records)
    reader = make_redis_store()
    assert len(reader._index) == 100_000
    assert reader.check(ISS, "jti-0", None, None, None) == "token"
    assert reader.check(ISS, "jti-99999", None, None, None) == "token"
    assert reader.check(ISS, "jti-100000", None, None, None) is None


# -- fork ----------------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_runs_its_own_mirror(make_redis_store):
    """A worker forked from a process whose mirror runs (gunicorn --preload) starts its own reader."""
    store = make_redis_store()
    store.revoke_token("before-fork", issuer=ISS, expires_at=time.time() + 300)
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    store._lock.acquire()  # held at fork time, as by another thread: the child must get a usable lock
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() in a multi-threaded process
        pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            os.close(ready_r)
            os.close(go_w)
            ok = store.check(ISS, "before-fork", None, None, None) == "token"
            ok = ok and store.wait_ready(30)
            ok = ok and store._reader is not None and store._reader.pid == os.getpid()
            os.write(ready_w, b"1")
            os.read(go_r, 1)
            deadline = time.monotonic() + 30
            while ok and store.check(ISS, "after-fork", None, None, None) is None:
                ok = time.monotonic() < deadline
                time.sleep(0.005)
            store.revoke_subject("from-child", issuer=ISS)  # the child's lock works
            code = 0 if ok else 2
        finally:
            os._exit(code)
    store._lock.release()
    os.close(ready_w)
    os.close(go_r)
    try:
        assert bounded(lambda: os.read(ready_r, 1)) == b"1"
        store.revoke_token("after-fork", issuer=ISS, expires_at=time.time() + 300)
        os.write(go_w, b"1")
        _, status = bounded(lambda: os.waitpid(pid, 0))
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(ready_r)
        os.close(go_w)
    eventually(lambda: store.check(ISS, None, "from-child", None, 0) == "subject", what="the child's write")


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "options"),
    [
        pytest.param("http://127.0.0.1:6379", {}, id="http-url"),
        pytest.param(6379, {}, id="not-a-str"),
        pytest.param("redis://127.0.0.1:6379/0", {"prefix": 5}, id="prefix"),
        pytest.param("redis://127.0.0.1:6379/0", {"failure_grace": 0}, id="grace"),
        pytest.param("redis://127.0.0.1:6379/0", {"timeout": -1}, id="timeout"),
        pytest.param("redis://127.0.0.1:6379/0", {"connect_timeout": float("nan")}, id="connect-timeout"),
    ],
)
def test_bad_configuration(url, options):
    with pytest.raises(ConfigurationError):
        RedisStore.from_url(url, **options)


def test_repr_hides_credentials():
    store = RedisStore.from_url("redis://user:s3cret@127.0.0.1:6390/2")
    try:
        assert "s3cret" not in repr(store)
        assert "127.0.0.1:6390/2" in repr(store)
    finally:
        store.close()


def test_importing_stores_needs_no_redis_and_using_redis_says_how_to_install_it():
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import jwt_guard, jwt_guard.stores as s\n"
        "s.MemoryStore().revoke_subject('a', issuer='i')\n"
        "try:\n"
        "    s.RedisStore.from_url('redis://127.0.0.1:6379/0')\n"
        "except jwt_guard.ConfigurationError as e:\n"
        "    print(e)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install 'jwt-guard[redis]'" in result.stdout
