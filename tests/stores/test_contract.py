"""The store contract, run against MemoryStore and RedisStore alike (sync and async)."""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from jwt_guard import EventKind, StoreUnavailable
from jwt_guard.stores import MemoryStore, RedisStore, Revocation
from jwt_guard.testing import LocalIssuer
from tests.stores.conftest import eventually

ISS = "https://idp.example.test/"
OTHER = "https://other.example.test/"


def test_revoke_token_refuses_that_jti_of_that_issuer_only(make_store):
    store = make_store()
    record = store.revoke_token("jti-1", issuer=ISS, expires_at=time.time() + 300)
    assert isinstance(record, Revocation)
    assert (record.kind, record.issuer, record.value) == ("token", ISS, "jti-1")
    assert store.check(ISS, "jti-1", "alice", "app", time.time()) == "token"
    assert store.check(ISS, "jti-2", "alice", "app", time.time()) is None
    assert store.check(OTHER, "jti-1", "alice", "app", time.time()) is None
    assert store.check(ISS, None, "alice", "app", time.time()) is None


@pytest.mark.parametrize("kind", ["subject", "client"])
def test_cutoff_refuses_tokens_issued_at_or_before_it(make_store, kind):
    store = make_store()
    before = math.floor(time.time()) - 10
    revoke = store.revoke_subject if kind == "subject" else store.revoke_client
    revoke("victim", issuer=ISS, before=before)

    def check(iat, value="victim", issuer=ISS):
        sub, client = (value, "app") if kind == "subject" else ("alice", value)
        return store.check(issuer, "some-jti", sub, client, iat)

    assert check(before - 100) == kind
    assert check(before) == kind  # "at or before"
    assert check(before + 1) is None  # issued after the cutoff: a fresh login
    assert check(before - 100, value="someone-else") is None
    assert check(before - 100, issuer=OTHER) is None


@pytest.mark.parametrize(
    "iat",
    [
        pytest.param(None, id="absent"),
        pytest.param(float("nan"), id="nan"),
        pytest.param("1700000000", id="string"),
        pytest.param(True, id="bool"),
        pytest.param([1], id="list"),
    ],
)
@pytest.mark.parametrize("kind", ["subject", "client"])
def test_cutoff_fails_closed_without_a_usable_iat(make_store, kind, iat):
    """DESIGN: a subject/client cutoff refuses tokens without iat."""
    store = make_store()
    if kind == "subject":
        store.revoke_subject("victim", issuer=ISS, before=time.time() - 3600)
        assert store.check(ISS, None, "victim", None, iat) == "subject"
    else:
        store.revoke_client("victim", issuer=ISS, before=time.time() - 3600)
        assert store.check(ISS, None, None, "victim", iat) == "client"


def test_a_cutoff_without_matching_records_never_needs_iat(make_store):
    store = make_store()
    store.revoke_subject("victim", issuer=ISS)
    assert store.check(ISS, "jti", "alice", "app", None) is None


@pytest.mark.parametrize(
    ("jti", "sub", "client_id"),
    [([1], {"a": 1}, 3.5), (b"jti", b"alice", b"app"), (None, None, None)],
    ids=["unhashable", "bytes", "none"],
)
def test_check_ignores_claims_of_the_wrong_type(make_store, jti, sub, client_id):
    """The request path never raises on odd claim values (no 500)."""
    store = make_store()
    store.revoke_token("jti", issuer=ISS, expires_at=time.time() + 60)
    store.revoke_subject("alice", issuer=ISS)
    store.revoke_client("app", issuer=ISS)
    assert store.check(ISS, jti, sub, client_id, 1) is None


def test_before_defaults_to_now(make_store):
    store = make_store()
    started = time.time()
    record = store.revoke_subject("alice", issuer=ISS)
    assert started <= record.at <= time.time() + 0.001
    assert store.check(ISS, None, "alice", None, math.floor(started)) == "subject"


@pytest.mark.parametrize(
    "before",
    [
        pytest.param(lambda now: datetime.fromtimestamp(now - 60, timezone.utc), id="aware-utc"),
        pytest.param(
            lambda now: datetime.fromtimestamp(now - 60, timezone(timedelta(hours=-5))), id="aware-other-zone"
        ),
        pytest.param(lambda now: int(now) - 60, id="int"),
        pytest.param(lambda now: now - 60.5, id="float"),
        pytest.param(lambda now: now + 30, id="future-within-skew"),
    ],
)
def test_before_accepts_aware_datetimes_and_epoch_seconds(make_store, before):
    store = make_store()
    now = time.time()
    value = before(now)
    record = store.revoke_subject("alice", issuer=ISS, before=value)
    expected = value.timestamp() if isinstance(value, datetime) else value
    assert record.at == pytest.approx(expected, abs=0.001)
    assert record.at >= expected  # rounded up to whole milliseconds, never down
    assert record.expires_at == pytest.approx(record.at + store.max_token_lifetime + store.clock_skew)


def test_a_later_cutoff_wins_and_an_earlier_one_never_narrows_it(make_store):
    store = make_store()
    now = time.time()
    store.revoke_subject("alice", issuer=ISS, before=now - 10)
    store.revoke_subject("alice", issuer=ISS, before=now - 100)  # narrower: ignored
    assert store.check(ISS, None, "alice", None, now - 50) == "subject"
    [record] = store.revocations(ISS)
    assert record.at == pytest.approx(now - 10, abs=0.001)
    store.revoke_subject("alice", issuer=ISS, before=now)  # wider: wins
    [record] = store.revocations(ISS)
    assert record.at == pytest.approx(now, abs=0.001)


def test_records_that_already_lapsed_are_not_written(make_store):
    store = make_store()
    now = time.time()
    record = store.revoke_token("old", issuer=ISS, expires_at=now - store.clock_skew - 10)
    assert record.expires_at < now
    cutoff = store.revoke_client("app", issuer=ISS, before=now - store.max_token_lifetime - store.clock_skew - 10)
    assert cutoff.expires_at < now
    assert store.revocations() == []
    assert store.check(ISS, "old", None, "app", 0) is None


def test_a_token_record_outlives_exp_by_the_clock_skew(make_store):
    """A verifier with leeway still accepts a token up to leeway past exp: the record must last that long."""
    store = make_store(clock_skew=120)
    exp = time.time() - 60  # expired a minute ago, still within a 120 s leeway
    record = store.revoke_token("late", issuer=ISS, expires_at=exp)
    assert record.expires_at == pytest.approx(exp + 120, abs=0.002)
    assert store.check(ISS, "late", None, None, None) == "token"


def test_revocations_lists_active_records_by_issuer_kind_and_value(make_store):
    store = make_store()
    now = time.time()
    store.revoke_client("app", issuer=ISS, before=now - 5)
    store.revoke_token("j2", issuer=ISS, expires_at=now + 300)
    store.revoke_subject("bob", issuer=OTHER, before=now - 5)
    store.revoke_token("j1", issuer=ISS, expires_at=datetime.fromtimestamp(now + 600, timezone.utc))
    listed = [(r.issuer, r.kind, r.value) for r in store.revocations()]
    assert listed == [(ISS, "token", "j1"), (ISS, "token", "j2"), (ISS, "client", "app"), (OTHER, "subject", "bob")]
    assert [r.value for r in store.revocations(OTHER)] == ["bob"]
    assert store.revocations("https://unknown.example.test/") == []


def test_a_revocation_for_an_issuer_no_verifier_accepts_is_kept_and_never_matches_others(make_store):
    store = make_store()
    store.revoke_subject("alice", issuer="https://typo.example.test")
    assert store.check(ISS, None, "alice", None, None) is None
    assert [r.issuer for r in store.revocations()] == ["https://typo.example.test"]


def test_check_token_reads_a_verified_access_token():
    issuer = LocalIssuer()
    verifier = issuer.verifier(result_cache_size=0)
    store = MemoryStore()
    token = verifier.verify(issuer.token(sub="alice", client_id="app", jti="j-1"))
    assert store.check_token(token) is None
    store.revoke_client("app", issuer=issuer.issuer)
    assert store.check_token(token) == "client"
    token_without_iat = verifier.verify(issuer.token(sub="bob", client_id="app", iat=None))
    assert store.check_token(token_without_iat) == "client"
    # The client is client_id, else azp (as AccessToken.client_id reads it).
    earlier = int(time.time()) - 10
    by_azp = verifier.verify(issuer.token(sub="carol", client_id=None, azp="app", iat=earlier))
    assert store.check_token(by_azp) == "client"
    store.revoke_token("j-1", issuer=issuer.issuer, expires_at=token.expires_at)
    assert store.check_token(token) == "token"


# -- input validation -----------------------------------------------------------------------

NOW = time.time()
INVALID = [
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": datetime(2030, 1, 1)}, ValueError, id="naive"),
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": float("nan")}, ValueError, id="nan"),
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": float("inf")}, ValueError, id="inf"),
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": -1}, ValueError, id="negative"),
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": 1e13}, ValueError, id="beyond-9999"),
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": "2030"}, TypeError, id="exp-str"),
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": True}, TypeError, id="exp-bool"),
    pytest.param("revoke_token", ("j",), {"issuer": ISS, "expires_at": None}, TypeError, id="exp-none"),
    pytest.param("revoke_token", ("",), {"issuer": ISS, "expires_at": NOW}, ValueError, id="empty-jti"),
    pytest.param("revoke_token", (7,), {"issuer": ISS, "expires_at": NOW}, TypeError, id="int-jti"),
    pytest.param("revoke_token", ("j" * 1025,), {"issuer": ISS, "expires_at": NOW}, ValueError, id="huge-jti"),
    pytest.param("revoke_token", ("j",), {"issuer": "", "expires_at": NOW}, ValueError, id="empty-issuer"),
    pytest.param("revoke_token", ("j",), {"issuer": None, "expires_at": NOW}, TypeError, id="none-issuer"),
    pytest.param("revoke_token", ("j",), {"issuer": b"iss", "expires_at": NOW}, TypeError, id="bytes-issuer"),
    pytest.param("revoke_token", ("j",), {"issuer": "i" * 2049, "expires_at": NOW}, ValueError, id="huge-issuer"),
    pytest.param("revoke_subject", ("",), {"issuer": ISS}, ValueError, id="empty-sub"),
    pytest.param("revoke_subject", (None,), {"issuer": ISS}, TypeError, id="none-sub"),
    pytest.param("revoke_subject", ("s",), {"issuer": ISS, "before": NOW + 3600}, ValueError, id="future"),
    pytest.param(
        "revoke_subject",
        ("s",),
        {"issuer": ISS, "before": datetime.now(timezone.utc) + timedelta(hours=1)},
        ValueError,
        id="future-datetime",
    ),
    pytest.param("revoke_subject", ("s",), {"issuer": ISS, "before": datetime.now()}, ValueError, id="naive-before"),
    pytest.param("revoke_subject", ("s",), {"issuer": ISS, "before": float("nan")}, ValueError, id="nan-before"),
    pytest.param("revoke_subject", ("s",), {"issuer": ISS, "before": "now"}, TypeError, id="str-before"),
    pytest.param("revoke_client", ("c" * 5000,), {"issuer": ISS}, ValueError, id="huge-client"),
    pytest.param("revoke_client", (["c"],), {"issuer": ISS}, TypeError, id="list-client"),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "error"), INVALID)
def test_bad_writes_raise_typed_errors_and_store_nothing(make_store, method, args, kwargs, error):
    store = make_store()
    with pytest.raises(error):
        getattr(store, method)(*args, **kwargs)
    assert store.revocations() == []


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "args", "kwargs", "error"), INVALID[:3] + INVALID[15:18])
async def test_bad_async_writes_raise_typed_errors(make_store, method, args, kwargs, error):
    store = make_store()
    try:
        with pytest.raises(error):
            await getattr(store, method + "_async")(*args, **kwargs)
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("key", "ttl", "error"),
    [
        pytest.param("", 10, ValueError, id="empty-key"),
        pytest.param(b"k", 10, TypeError, id="bytes-key"),
        pytest.param("k" * 5000, 10, ValueError, id="huge-key"),
        pytest.param("k", 0, ValueError, id="zero-ttl"),
        pytest.param("k", -1, ValueError, id="negative-ttl"),
        pytest.param("k", float("nan"), ValueError, id="nan-ttl"),
        pytest.param("k", 10**9, ValueError, id="huge-ttl"),
        pytest.param("k", "10", TypeError, id="str-ttl"),
        pytest.param("k", True, TypeError, id="bool-ttl"),
    ],
)
def test_bad_claims_raise_typed_errors(make_store, key, ttl, error):
    store = make_store()
    with pytest.raises(error):
        store.claim_once(key, ttl)


# -- DPoP replay ------------------------------------------------------------------------------


def test_claim_once_is_true_once_then_false(make_store, events):
    store = make_store(on_event=events.append)
    assert store.claim_once("dpop:thumb:jti-1", 60) is True
    assert store.claim_once("dpop:thumb:jti-1", 60) is False
    assert store.claim_once("dpop:thumb:jti-2", 60) is True
    assert store.claim_once("dpop:other:jti-1", 60) is True
    assert [event.kind for event in events if event.kind == EventKind.REPLAY_DETECTED] == [EventKind.REPLAY_DETECTED]


def test_a_claim_is_free_again_after_its_ttl(make_store):
    store = make_store()
    assert store.claim_once("short", 0.05)
    eventually(lambda: store.claim_once("short", 0.05), what="the claim's expiry")


def test_claim_once_is_atomic_across_threads(make_store):
    store = make_store()
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        results.append(store.claim_once("contended", 60))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 7 + [True]


# -- async twins, and one store shared by sync and async code --------------------------------


@pytest.mark.anyio
async def test_async_twins(make_store):
    store = make_store()
    try:
        now = time.time()
        await store.revoke_token_async("j", issuer=ISS, expires_at=now + 60)
        await store.revoke_subject_async("alice", issuer=ISS, before=now - 1)
        await store.revoke_client_async("app", issuer=ISS)
        assert store.check(ISS, "j", None, None, None) == "token"
        assert store.check(ISS, None, "alice", None, now - 2) == "subject"
        assert store.check(ISS, None, None, "app", now - 2) == "client"
        assert [r.kind for r in await store.revocations_async()] == ["token", "subject", "client"]
        assert [r.kind for r in await store.revocations_async(OTHER)] == []
        assert await store.claim_once_async("k", 60) is True
        assert await store.claim_once_async("k", 60) is False
        assert store.claim_once("k", 60) is False  # the same record, from sync code
    finally:
        await store.aclose()


@pytest.mark.anyio
async def test_sync_writes_from_a_thread_are_seen_by_async_code(make_store):
    store = make_store()
    try:
        writer = threading.Thread(target=store.revoke_subject, args=("alice",), kwargs={"issuer": ISS})
        writer.start()
        writer.join(30)
        assert store.check(ISS, None, "alice", None, 0) == "subject"
        assert [r.value for r in await store.revocations_async(ISS)] == ["alice"]
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"store_failure": "fail"}, id="store_failure"),
        pytest.param({"max_token_lifetime": 0}, id="lifetime-zero"),
        pytest.param({"max_token_lifetime": float("inf")}, id="lifetime-inf"),
        pytest.param({"max_token_lifetime": "1d"}, id="lifetime-str"),
        pytest.param({"clock_skew": -1}, id="skew-negative"),
        pytest.param({"max_records": 0}, id="max-records-zero"),
        pytest.param({"max_records": True}, id="max-records-bool"),
        pytest.param({"retry_after": 0}, id="retry-after-zero"),
        pytest.param({"on_event": "print"}, id="on-event"),
        pytest.param({"clock": 5}, id="clock"),
    ],
)
@pytest.mark.parametrize("cls", [MemoryStore, RedisStore])
def test_bad_options_raise_configuration_error(cls, options):
    from jwt_guard import ConfigurationError

    with pytest.raises(ConfigurationError):
        if cls is MemoryStore:
            cls(**options)
        else:
            cls.from_url("redis://127.0.0.1:1/0", **options)


def test_timedelta_options(make_store):
    store = make_store(max_token_lifetime=timedelta(hours=1), clock_skew=timedelta(seconds=5))
    assert (store.max_token_lifetime, store.clock_skew) == (3600.0, 5.0)


def test_store_unavailable_is_a_503():
    assert StoreUnavailable().status_code == 503
