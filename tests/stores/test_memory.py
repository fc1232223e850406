"""MemoryStore and the in-memory index: bounds, expiry, failure policy, fork."""

from __future__ import annotations

import logging
import os
import time
import warnings

import pytest

from jwt_guard import EventKind, StoreUnavailable
from jwt_guard.stores import MemoryStore
from jwt_guard.stores._index import IndexFull, RevocationIndex
from jwt_guard.testing import FakeClock

ISS = "https://idp.example.test/"


def test_a_full_store_refuses_new_records_and_keeps_the_old(events):
    clock = FakeClock(1_800_000_000)
    store = MemoryStore(max_records=3, clock=clock, on_event=events.append)
    for index in range(3):
        store.revoke_token(f"j{index}", issuer=ISS, expires_at=clock() + 60 * (index + 1))
    with pytest.raises(StoreUnavailable, match="full"):
        store.revoke_token("j3", issuer=ISS, expires_at=clock() + 600)
    assert [e.reason for e in events] == ["full"]
    assert all(store.check(ISS, f"j{index}", None, None, None) == "token" for index in range(3))
    # Raising an existing record needs no room.
    store.revoke_token("j0", issuer=ISS, expires_at=clock() + 900)
    # Once one lapses (j1, now the earliest), there is room again.
    clock.advance(120 + store.clock_skew + 1)
    store.revoke_token("j3", issuer=ISS, expires_at=clock() + 600)
    assert [r.value for r in store.revocations()] == ["j0", "j2", "j3"]


def test_records_lapse_on_their_own():
    clock = FakeClock(1_800_000_000)
    store = MemoryStore(clock=clock, max_token_lifetime=3600, clock_skew=10)
    store.revoke_token("j", issuer=ISS, expires_at=clock() + 100)
    store.revoke_subject("alice", issuer=ISS)
    clock.advance(111)
    assert [r.kind for r in store.revocations()] == ["subject"]
    clock.advance(3600)
    assert store.revocations() == []


def test_the_replay_cache_is_bounded_and_follows_store_failure(events, caplog):
    closed = MemoryStore(max_replay_records=2, on_event=events.append)
    assert closed.claim_once("a", 60) and closed.claim_once("b", 60)
    with pytest.raises(StoreUnavailable):
        closed.claim_once("c", 60)
    assert closed.claim_once("a", 60) is False  # nothing was evicted to make room
    opened = MemoryStore(max_replay_records=1, store_failure="open", on_event=events.append)
    assert opened.claim_once("a", 60)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        assert opened.claim_once("b", 60) is True
    assert "replay check failed (full); accepting" in caplog.text
    assert [(e.kind, e.reason) for e in events if e.kind == EventKind.STORE_FAILED_OPEN] == [
        (EventKind.STORE_FAILED_OPEN, "replay_full")
    ]


def test_an_expired_claim_makes_room():
    store = MemoryStore(max_replay_records=1)
    assert store.claim_once("a", 0.01)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert store.claim_once("b", 60) is True
            break
        except StoreUnavailable:  # "a" has not lapsed yet: still full
            assert time.monotonic() < deadline
            time.sleep(0.005)
    assert store.claim_once("b", 60) is False


def test_a_failing_event_hook_does_not_break_the_store(caplog):
    def hook(event):
        raise RuntimeError("observer bug")

    store = MemoryStore(on_event=hook)
    store.claim_once("a", 60)
    assert store.claim_once("a", 60) is False
    assert "event hook failed" in caplog.text


def test_memory_store_is_ready_at_once():
    store = MemoryStore()
    assert store.wait_ready(0) is True
    with store:
        assert store.check(ISS, None, None, None, None) is None
    assert "MemoryStore(records=0" in repr(store)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork is POSIX only")
def test_a_forked_child_gets_a_usable_lock_and_its_own_records():
    store = MemoryStore()
    store.revoke_subject("alice", issuer=ISS)
    store._lock.acquire()  # as if another thread held it at fork time
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            store.revoke_subject("bob", issuer=ISS)
            seen = {r.value for r in store.revocations()}
            code = 0 if seen == {"alice", "bob"} else 2
        finally:
            os._exit(code)
    store._lock.release()
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        assert time.monotonic() < deadline, "the child hung on the inherited lock"
        time.sleep(0.01)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [r.value for r in store.revocations()] == ["alice"]  # the child's record stayed in the child


# -- the index itself -------------------------------------------------------------------------


def make_index(max_records: int = 100) -> RevocationIndex:
    return RevocationIndex(max_records=max_records, token_grace=10, cutoff_lifetime=1000)


def test_index_keeps_the_later_instant():
    index = make_index()
    assert index.add("subject", ISS, "alice", 500, now=0)
    assert not index.add("subject", ISS, "alice", 400, now=0)
    assert index.check(ISS, None, "alice", None, 450) == "subject"
    assert index.add("subject", ISS, "alice", 600, now=0)
    assert index.check(ISS, None, "alice", None, 550) == "subject"
    assert len(index) == 1


def test_index_prunes_superseded_entries_correctly():
    index = make_index()
    index.add("subject", ISS, "alice", 100, now=0)  # lapses at 1100
    index.add("subject", ISS, "alice", 900, now=0)  # lapses at 1900
    assert index.prune(1500) == 0  # the first heap entry is stale, the record lives on
    assert index.check(ISS, None, "alice", None, 800) == "subject"
    assert index.prune(1901) == 1
    assert len(index) == 0
    assert index.check(ISS, None, "alice", None, 800) is None


def test_index_heap_stays_bounded_under_repeated_raises():
    index = make_index()
    for at in range(10_000):
        index.add("client", ISS, "app", at, now=0)
    assert len(index) == 1
    assert len(index._heap) <= 2 * len(index) + 1024 + 1


def test_index_refuses_when_full():
    index = make_index(max_records=1)
    index.add("token", ISS, "a", 100, now=0)
    with pytest.raises(IndexFull):
        index.add("token", ISS, "b", 100, now=0)
    assert index.add("token", ISS, "b", 300, now=200)  # "a" lapsed at 110
    assert index.check(ISS, "a", None, None, None) is None
