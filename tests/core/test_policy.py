"""The key-set policy as a pure state machine: explicit ``now`` values, replies
sent into :meth:`KeySetState.refresh` by hand, no transport and no clock."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from email.utils import formatdate
from typing import Any

import pytest

from jwt_guard import EventKind, KeyCacheOptions
from jwt_guard._config import DEFAULT_ALGORITHMS
from jwt_guard._discovery import discovery_urls
from jwt_guard._events import Event, Reporter
from jwt_guard._freshness import freshness_lifetime
from jwt_guard._keys import KeySet, keyset_from_jwks
from jwt_guard._policy import Fetched, KeySetState, NotModified, Plan
from jwt_guard._reasons import details_of
from jwt_guard._wire import Failure, Reply, Request, Response
from jwt_guard.testing import SigningKey
from tests.conftest import signing_key

ISSUER = "https://idp.example.test/"
JWKS_URI = "https://idp.example.test/keys"
OIDC_URL = "https://idp.example.test/.well-known/openid-configuration"
RFC8414_URL = "https://idp.example.test/.well-known/oauth-authorization-server"
T0 = 1_800_000_000.0
ALGS = frozenset(DEFAULT_ALGORITHMS)
#: Jitter-free defaults: lifetimes and delays come out exact.
NO_JITTER: Callable[[], float] = lambda: 0.0  # noqa: E731


def jwks(*keys: SigningKey) -> dict[str, Any]:
    return {"keys": [key.public_jwk() for key in keys]}


def keyset(*keys: SigningKey) -> KeySet:
    built, skipped = keyset_from_jwks(jwks(*keys), ALGS)
    assert not skipped
    return built


KEY_A = signing_key("RS256", "kid-a")
KEY_B = signing_key("ES256", "kid-b")


def make_state(
    *,
    issuer: str | None = None,
    jwks_uri: str | None = JWKS_URI,
    rng: Callable[[], float] = NO_JITTER,
    allow_insecure_http: bool = False,
    events: list[Event] | None = None,
    **options: Any,
) -> KeySetState:
    return KeySetState(
        label=issuer or jwks_uri or "?",
        issuer=issuer,
        jwks_uri=jwks_uri,
        options=KeyCacheOptions(**options),
        algorithms=ALGS,
        allow_insecure_http=allow_insecure_http,
        reporter=Reporter(events.append if events is not None else None),
        rng=rng,
    )


def fetched(
    *keys: SigningKey,
    lifetime: float = 600.0,
    etag: str | None = None,
    last_modified: str | None = None,
    jwks_uri: str = JWKS_URI,
    discovered: bool = False,
) -> Fetched:
    return Fetched(keyset(*keys), [], lifetime, etag, last_modified, jwks_uri, discovered)


def ok(document: Any, status: int = 200, **headers: str) -> Response:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return Response(status, {name.replace("_", "-"): value for name, value in headers.items()}, body)


def status(code: int, **headers: str) -> Response:
    return ok(b"", code, **headers)


def drive(state: KeySetState, answers: Mapping[str, Reply | list[Reply]], now: float = T0) -> tuple[list[Request], Any]:
    """Run one refresh, answering each URL from *answers*; return (requests, outcome)."""
    queues = {url: list(reply) if isinstance(reply, list) else [reply] for url, reply in answers.items()}
    flow = state.refresh(lambda: now)
    requests: list[Request] = []
    try:
        request = next(flow)
        while True:
            requests.append(request)
            queue = queues[request.url]
            request = flow.send(queue.pop(0) if len(queue) > 1 else queue[0])
    except StopIteration as stop:
        return requests, stop.value


def discovery_doc(issuer: str = ISSUER, jwks_uri: str | None = JWKS_URI) -> dict[str, Any]:
    document: dict[str, Any] = {"issuer": issuer}
    if jwks_uri is not None:
        document["jwks_uri"] = jwks_uri
    return document


# -- plan() in each phase ----------------------------------------------------


def cold(state: KeySetState) -> None:
    pass


def fetched_at_t0(state: KeySetState) -> None:
    state.apply(fetched(KEY_A), T0)  # fresh until T0+600, refresh from T0+480


def failed_cold_at_t0(state: KeySetState) -> None:
    state.apply(Failure("connect", "down"), T0)  # cold backoff: retry at T0+1


def failed_while_stale(state: KeySetState) -> None:
    state.apply(fetched(KEY_A), T0)
    state.apply(Failure("connect", "down"), T0 + 700)  # stale backoff: retry at T0+730


def failed_beyond_stale(state: KeySetState) -> None:
    state.apply(fetched(KEY_A), T0)
    state.apply(Failure("connect", "down"), T0 + 600 + 21_600)  # cold backoff again: retry +1


@pytest.mark.parametrize(
    ("setup", "now", "expected", "has_keys"),
    [
        pytest.param(cold, T0, Plan.FETCH, False, id="cold"),
        pytest.param(fetched_at_t0, T0 + 1, Plan.USE, True, id="fresh"),
        pytest.param(fetched_at_t0, T0 + 479.9, Plan.USE, True, id="fresh-just-before-refresh-ahead"),
        pytest.param(fetched_at_t0, T0 + 480, Plan.USE_AND_REFRESH, True, id="refresh-ahead-at-80pc"),
        pytest.param(fetched_at_t0, T0 + 599, Plan.USE_AND_REFRESH, True, id="refresh-ahead-before-expiry"),
        pytest.param(fetched_at_t0, T0 + 601, Plan.USE_AND_REFRESH, True, id="expired-within-stale-window"),
        pytest.param(fetched_at_t0, T0 + 600 + 21_599, Plan.USE_AND_REFRESH, True, id="stale-window-last-second"),
        pytest.param(fetched_at_t0, T0 + 600 + 21_600, Plan.FETCH, False, id="beyond-stale-window"),
        pytest.param(failed_cold_at_t0, T0 + 0.5, Plan.FAIL, False, id="cold-backing-off"),
        pytest.param(failed_cold_at_t0, T0 + 1, Plan.FETCH, False, id="cold-backoff-over"),
        pytest.param(failed_while_stale, T0 + 710, Plan.USE, True, id="stale-backing-off-serves"),
        pytest.param(failed_while_stale, T0 + 730, Plan.USE_AND_REFRESH, True, id="stale-backoff-over"),
        pytest.param(failed_beyond_stale, T0 + 22_200.5, Plan.FAIL, False, id="beyond-stale-backing-off"),
        pytest.param(failed_beyond_stale, T0 + 22_201, Plan.FETCH, False, id="beyond-stale-backoff-over"),
    ],
)
def test_plan_in_each_phase(setup, now, expected, has_keys):
    state = make_state()
    setup(state)
    plan, keys = state.plan(now)
    assert plan is expected
    assert (keys is not None) is has_keys


def test_refresh_ahead_starts_one_refresh_until_applied():
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    assert state.plan(T0 + 500)[0] is Plan.USE_AND_REFRESH
    assert state.plan(T0 + 501)[0] is Plan.USE  # the refresh is under way
    assert state.plan(T0 + 650)[0] is Plan.USE  # even after expiry
    state.apply(fetched(KEY_A), T0 + 651)
    assert state.plan(T0 + 652)[0] is Plan.USE
    assert state.plan(T0 + 651 + 480)[0] is Plan.USE_AND_REFRESH


def test_plan_without_may_refresh_never_claims_a_refresh():
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    assert state.plan(T0 + 500, may_refresh=False)[0] is Plan.USE
    assert not state.refreshing


def test_max_stale_zero_fails_closed_at_expiry():
    state = make_state(max_stale=0)
    state.apply(fetched(KEY_A), T0)
    assert state.plan(T0 + 599.9)[0] is Plan.USE_AND_REFRESH
    assert state.plan(T0 + 600) == (Plan.FETCH, None)


def test_current_snapshot_lets_requests_skip_the_lock_until_the_next_decision():
    state = make_state()
    assert state.current.keyset is None
    state.apply(fetched(KEY_A), T0)
    assert state.current.keyset is state.keyset
    assert state.current.refresh_at == T0 + 480
    state.apply(Failure("connect", "down"), T0 + 500)  # stale backoff: 30 s
    assert state.current.refresh_at == T0 + 530
    state.apply(Failure("connect", "down"), T0 + 600 + 21_600)  # beyond the window
    assert state.current.keyset is None


# -- freshness ---------------------------------------------------------------

DATE = formatdate(T0, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        pytest.param({}, 600, id="no-headers-default-ttl"),
        pytest.param({"cache-control": "max-age=300"}, 300, id="max-age"),
        pytest.param({"cache-control": "public, MAX-AGE=3600, must-revalidate"}, 3600, id="max-age-case-and-list"),
        pytest.param({"cache-control": 'max-age="120"'}, 120, id="max-age-quoted"),
        pytest.param({"cache-control": "max-age=300", "age": "100"}, 200, id="age-subtracted"),
        pytest.param({"cache-control": "max-age=300", "age": "290"}, 60, id="age-clamped-to-min"),
        pytest.param({"cache-control": "max-age=300", "age": "soon"}, 300, id="invalid-age-ignored"),
        pytest.param({"cache-control": "max-age=300", "age": "\u00b2"}, 300, id="non-ascii-digit-age-ignored"),
        pytest.param({"cache-control": "max-age=300", "age": "9" * 5000}, 60, id="enormous-age"),
        pytest.param({"cache-control": "no-cache"}, 60, id="no-cache-min"),
        pytest.param({"cache-control": "max-age=3600, no-store"}, 60, id="no-store-wins"),
        pytest.param({"cache-control": "max-age=10"}, 60, id="clamped-up-to-60s"),
        pytest.param({"cache-control": "max-age=604800"}, 86400, id="clamped-down-to-24h"),
        pytest.param({"cache-control": "max-age=" + "9" * 400}, 86400, id="max-age-too-large-for-float"),
        pytest.param({"cache-control": "max-age=-5"}, 60, id="negative-max-age-is-stale"),
        pytest.param({"cache-control": "max-age=1e3"}, 60, id="non-integer-max-age-is-stale"),
        pytest.param({"cache-control": "public"}, 600, id="no-max-age-default-ttl"),
        pytest.param({"expires": formatdate(T0 + 1200, usegmt=True), "date": DATE}, 1200, id="expires-minus-date"),
        pytest.param({"expires": formatdate(T0 + 900, usegmt=True)}, 900, id="expires-without-date-uses-now"),
        pytest.param(
            {"expires": formatdate(T0 + 900, usegmt=True).replace("GMT", "-0000")}, 900, id="expires-zone-minus-0000"
        ),
        pytest.param(
            {"expires": formatdate(T0 + 7200, usegmt=True), "date": formatdate(T0 + 3600, usegmt=True)},
            3600,
            id="expires-relative-to-server-date",
        ),
        pytest.param({"expires": "0"}, 60, id="invalid-expires-is-expired"),
        pytest.param({"expires": "not a date", "date": DATE}, 60, id="garbage-expires"),
        pytest.param({"expires": formatdate(T0 + 900, usegmt=True), "date": "yesterday"}, 60, id="garbage-date"),
        pytest.param({"expires": formatdate(T0 - 900, usegmt=True), "date": DATE}, 60, id="expires-in-past"),
        pytest.param(
            {"cache-control": "max-age=300", "expires": formatdate(T0 + 7200, usegmt=True)},
            300,
            id="max-age-beats-expires",
        ),
        pytest.param(
            {"cache-control": "public", "expires": formatdate(T0 + 7200, usegmt=True)},
            7200,
            id="expires-when-cache-control-lacks-max-age",
        ),
    ],
)
def test_freshness_lifetime(headers, expected):
    assert freshness_lifetime(headers, KeyCacheOptions(), T0) == pytest.approx(expected)


def test_freshness_lifetime_uses_configured_bounds():
    options = KeyCacheOptions(ttl=120, min_ttl=5, max_ttl=900)
    assert freshness_lifetime({}, options, T0) == 120
    assert freshness_lifetime({"cache-control": "max-age=1"}, options, T0) == 5
    assert freshness_lifetime({"cache-control": "max-age=86400"}, options, T0) == 900


@pytest.mark.parametrize("draw", [0.0, 0.25, 0.5, 0.999999])
def test_jitter_only_shortens_lifetimes_within_bounds(draw):
    state = make_state(rng=lambda: draw, jitter=0.1)
    state.apply(fetched(KEY_A, lifetime=600), T0)
    lifetime = state.expires_at - T0
    assert 540 <= lifetime <= 600
    assert lifetime == pytest.approx(600 * (1 - 0.1 * draw))
    assert state.refresh_at - T0 == pytest.approx(0.8 * lifetime)
    assert state.stale_until == state.expires_at + 6 * 3600


def test_default_jitter_spreads_lifetimes():
    state = make_state(rng=__import__("random").Random(7).random)
    lifetimes = set()
    for _ in range(20):
        state.apply(fetched(KEY_A, lifetime=600), T0)
        lifetimes.add(state.expires_at - T0)
    assert all(540 <= value <= 600 for value in lifetimes)
    assert len(lifetimes) > 10


# -- backoff -------------------------------------------------------------------


def fail_repeatedly(state: KeySetState, start: float, count: int) -> list[float]:
    delays = []
    now = start
    for _ in range(count):
        state.apply(Failure("connect", "down"), now)
        delays.append(state.retry_at - now)
        now = state.retry_at
    return delays


@pytest.mark.parametrize(
    ("draw", "expected"),
    [
        pytest.param(0.0, [1, 2, 4, 8, 16, 30, 30, 30], id="no-jitter"),
        pytest.param(1.0, [0.9, 1.8, 3.6, 7.2, 14.4, 27, 27, 27], id="full-jitter"),
    ],
)
def test_cold_backoff_doubles_up_to_its_ceiling(draw, expected):
    state = make_state(rng=lambda: draw)
    assert fail_repeatedly(state, T0, 8) == pytest.approx(expected)
    assert state.failures == 8


def test_stale_backoff_is_longer_while_serving_keys():
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    assert fail_repeatedly(state, T0 + 700, 7) == pytest.approx([30, 60, 120, 240, 300, 300, 300])


def test_backoff_returns_to_cold_ceiling_beyond_stale_window():
    state = make_state(max_stale=100)
    state.apply(fetched(KEY_A), T0)
    fail_repeatedly(state, T0 + 650, 1)  # stale: 30 s
    delays = fail_repeatedly(state, T0 + 800, 3)  # beyond T0+700: cold
    assert delays == pytest.approx([2, 4, 8])  # the failure count carries on
    assert max(fail_repeatedly(state, T0 + 900, 5)) == 30


def test_success_resets_backoff():
    state = make_state()
    fail_repeatedly(state, T0, 4)
    state.apply(fetched(KEY_A), T0 + 100)
    assert state.failures == 0
    assert state.retry_at == -math.inf
    state.apply(Failure("connect", "down"), T0 + 700)
    assert state.retry_at - (T0 + 700) == 30  # the first stale delay again


@pytest.mark.parametrize(
    ("setup", "now", "retry_after", "description"),
    [
        pytest.param(cold, T0, 1, "signing keys are temporarily unavailable", id="cold-no-failure-yet"),
        pytest.param(
            failed_cold_at_t0, T0 + 0.2, 1, "signing keys are temporarily unavailable: down", id="cold-backoff"
        ),
        pytest.param(
            failed_beyond_stale,
            T0 + 22_200,
            1,
            "signing keys expired and could not be refreshed: down",
            id="beyond-stale",
        ),
    ],
)
def test_unavailable_carries_retry_after(setup, now, retry_after, description):
    state = make_state()
    setup(state)
    error = state.unavailable(now)
    assert error.status_code == 503
    assert error.retry_after == retry_after
    assert error.description == description


def test_unavailable_retry_after_rounds_up_the_backoff():
    state = make_state()
    fail_repeatedly(state, T0, 4)  # last delay 8 s from T0+7
    assert state.unavailable(T0 + 7.5).retry_after == 8


# -- unknown kid: cooldown and remembered absent kids --------------------------


def test_kid_rotated_in_right_after_startup_is_refetched_at_once():
    """The cooldown counts from the last unknown-kid refetch, not from the scheduled fetch."""
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    assert state.claim_kid_refetch("new", T0 + 0.1) == state.generation + 1


def test_kid_refetch_at_most_once_per_cooldown():
    state = make_state(unknown_kid_cooldown=30)
    state.apply(fetched(KEY_A), T0)
    assert state.claim_kid_refetch("k1", T0 + 1) is not None
    assert state.claim_kid_refetch("k2", T0 + 1.5) is None
    state.apply(fetched(KEY_A), T0 + 2)  # the refetch completes, keys unchanged
    assert state.claim_kid_refetch("k3", T0 + 30.9) is None
    assert state.claim_kid_refetch("k3", T0 + 31) is not None


def test_scheduled_fetches_do_not_reset_the_kid_cooldown():
    state = make_state(unknown_kid_cooldown=30)
    state.apply(fetched(KEY_A), T0)
    assert state.claim_kid_refetch("k1", T0 + 1) is not None
    state.apply(fetched(KEY_A), T0 + 2)
    state.apply(fetched(KEY_A), T0 + 20)  # a scheduled refresh
    assert state.claim_kid_refetch("k2", T0 + 31) is not None


def test_kid_refetch_waits_past_a_fetch_already_in_flight():
    """A fetch under way may predate the kid: the claim asks for one more."""
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    state.begin_fetch()
    need = state.claim_kid_refetch("new", T0 + 500)
    assert need == state.generation + 2
    state.apply(fetched(KEY_A), T0 + 501)  # the older fetch completes
    assert state.generation < need
    assert state.in_flight == 0


def test_requests_for_the_kid_being_refetched_join_that_refetch():
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    need = state.claim_kid_refetch("new", T0 + 1)
    assert need is not None
    assert state.claim_kid_refetch("new", T0 + 1.1) is None  # within the cooldown
    assert state.join_kid_refetch("new") == need  # the same kid waits for it
    assert state.join_kid_refetch("other") is None  # any other kid is refused at once
    state.apply(fetched(KEY_A, KEY_B), T0 + 2)
    assert state.join_kid_refetch("new") is None  # answered: nothing left to join


def test_no_kid_refetch_while_backing_off():
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    state.apply(Failure("connect", "down"), T0 + 100)  # retry at T0+130
    assert state.claim_kid_refetch("new", T0 + 129) is None
    assert state.claim_kid_refetch("new", T0 + 130) is not None


def test_remembered_absent_kid_is_refused_until_it_expires():
    state = make_state(unknown_kid_cooldown=30, absent_kid_ttl=300)
    state.apply(fetched(KEY_A), T0)
    assert state.claim_kid_refetch("ghost", T0 + 1) is not None
    state.apply(fetched(KEY_A), T0 + 1)
    state.note_absent("ghost", T0 + 1)
    assert state.claim_kid_refetch("ghost", T0 + 100) is None  # cooldown over, still absent
    assert state.claim_kid_refetch("other", T0 + 100) is not None
    assert state.claim_kid_refetch("ghost", T0 + 301) is not None  # forgotten


def test_absent_kids_are_bounded_least_recent_first():
    state = make_state(max_absent_kids=3, unknown_kid_cooldown=0)
    state.apply(fetched(KEY_A), T0)
    for index in range(5):
        state.note_absent(f"ghost-{index}", T0 + index)
    assert len(state.absent_kids) == 3
    assert set(state.absent_kids) == {"ghost-2", "ghost-3", "ghost-4"}
    assert state.claim_kid_refetch("ghost-0", T0 + 10) is not None
    assert state.claim_kid_refetch("ghost-4", T0 + 10) is None


def test_max_absent_kids_zero_remembers_nothing():
    state = make_state(max_absent_kids=0, unknown_kid_cooldown=0)
    state.apply(fetched(KEY_A), T0)
    state.note_absent("ghost", T0)
    assert len(state.absent_kids) == 0
    assert state.claim_kid_refetch("ghost", T0 + 1) is not None


def test_a_failed_fetch_is_no_evidence_of_absence():
    state = make_state(unknown_kid_cooldown=0)
    state.apply(fetched(KEY_A), T0)
    state.apply(Failure("connect", "down"), T0 + 10)
    state.note_absent("new", T0 + 10)
    assert "new" not in state.absent_kids


def test_a_changed_key_set_forgets_absent_kids():
    state = make_state(unknown_kid_cooldown=0)
    state.apply(fetched(KEY_A), T0)
    state.note_absent("kid-b", T0)
    assert not state.apply(fetched(KEY_A), T0 + 5)  # same keys: still remembered
    assert "kid-b" in state.absent_kids
    assert state.apply(fetched(KEY_A, KEY_B), T0 + 10)
    assert len(state.absent_kids) == 0


# -- apply() -------------------------------------------------------------------


def test_apply_fetched_is_authoritative():
    state = make_state()
    assert state.apply(fetched(KEY_A, KEY_B), T0) is True
    assert state.keyset is not None and state.keyset.kids == {"kid-a", "kid-b"}
    assert state.apply(fetched(KEY_B), T0 + 10) is True
    assert state.keyset.kids == {"kid-b"}
    assert state.keyset.find("kid-a", "RS256") is None


def test_apply_same_keys_reports_no_change_but_renews():
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    assert state.apply(fetched(KEY_A), T0 + 500) is False
    assert state.expires_at == T0 + 1100


def test_apply_not_modified_renews_freshness_and_keeps_keys():
    events: list[Event] = []
    state = make_state(events=events)
    state.apply(fetched(KEY_A, etag='"v1"'), T0)
    before = state.keyset
    assert state.apply(NotModified(300, JWKS_URI, False), T0 + 590) is False
    assert state.keyset is before
    assert state.expires_at == T0 + 890
    assert state.etag == '"v1"'
    assert [event.kind for event in events] == [EventKind.KEYS_FETCHED, EventKind.KEYS_NOT_MODIFIED]


def test_apply_failure_keeps_the_good_set_and_reports(caplog):
    events: list[Event] = []
    state = make_state(events=events)
    state.apply(fetched(KEY_A), T0)
    good = state.keyset
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        state.apply(Failure("http_status", "the key set URL answered HTTP 500"), T0 + 500)  # before expiry
        state.apply(Failure("timeout", "slow"), T0 + 700)  # after expiry
    assert state.keyset is good
    kinds = [(event.kind, event.reason) for event in events]
    assert kinds == [
        (EventKind.KEYS_FETCHED, None),
        (EventKind.FETCH_FAILED, "http_status"),
        (EventKind.FETCH_FAILED, "timeout"),
        (EventKind.SERVING_STALE, "timeout"),
    ]
    messages = [record.getMessage() for record in caplog.records]
    assert any("refreshing keys for" in message for message in messages)
    assert any("serving stale keys for" in message for message in messages)
    assert all(record.levelno == logging.WARNING for record in caplog.records)


def test_cold_failure_logs_an_error(caplog):
    state = make_state()
    with caplog.at_level(logging.ERROR, logger="jwt_guard"):
        state.apply(Failure("connect", "the server could not be reached"), T0)
    assert "could not obtain keys" in caplog.text
    assert "connect" in caplog.text


def test_apply_counts_generations_and_in_flight_fetches():
    state = make_state()
    state.begin_fetch()
    state.begin_fetch()
    state.apply(Failure("connect", "down"), T0)
    state.apply(fetched(KEY_A), T0 + 1)
    assert (state.generation, state.in_flight) == (2, 0)
    state.apply(fetched(KEY_A), T0 + 2)  # unpaired: never negative
    assert state.in_flight == 0


def test_abandoned_fetch_records_nothing():
    """A fetch cut short by its event loop shutting down says nothing about the server."""
    events: list[Event] = []
    state = make_state(events=events)
    state.apply(fetched(KEY_A), T0)
    assert state.plan(T0 + 500)[0] is Plan.USE_AND_REFRESH
    state.begin_fetch()
    generation = state.generation
    state.abandon()
    assert (state.refreshing, state.in_flight, state.failures) == (False, 0, 0)
    assert (state.generation, state.retry_at) == (generation, -math.inf)
    assert [event.kind for event in events] == [EventKind.KEYS_FETCHED]
    assert state.plan(T0 + 501)[0] is Plan.USE_AND_REFRESH  # the next request retries at once


# -- replies through refresh(): nothing bad replaces a good set -----------------


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        pytest.param(ok({"keys": []}), "no_usable_keys", id="empty-keys"),
        pytest.param(ok(b"{not json"), "invalid_json", id="invalid-json"),
        pytest.param(ok(b"\xff\xfe"), "invalid_json", id="not-utf8"),
        pytest.param(ok([1, 2]), "invalid_json", id="json-array"),
        pytest.param(ok({"hello": "world"}), "not_jwks", id="not-a-jwks"),
        pytest.param(ok({"keys": "nope"}), "not_jwks", id="keys-not-a-list"),
        pytest.param(ok({"keys": [{"kty": "XYZ", "kid": "x"}]}), "no_usable_keys", id="only-bad-keys"),
        pytest.param(ok({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "s"}]}), "no_usable_keys", id="only-secret"),
        pytest.param(status(500), "http_status", id="http-500"),
        pytest.param(status(404), "http_status", id="http-404"),
        pytest.param(status(302, location="/elsewhere"), "http_status", id="unfollowed-redirect"),
        pytest.param(status(304), "http_status", id="304-to-unconditional-request"),
        pytest.param(Failure("timeout", "slow"), "timeout", id="transport-failure"),
    ],
)
def test_unusable_replies_never_replace_a_good_set(reply, reason):
    state = make_state()
    state.apply(fetched(KEY_A), T0)
    state.etag = state.last_modified = None  # an unconditional request: a 304 makes no sense
    good = state.keyset
    _, outcome = drive(state, {JWKS_URI: reply}, T0 + 500)
    assert isinstance(outcome, Failure)
    assert outcome.reason == reason
    state.apply(outcome, T0 + 500)
    assert state.keyset is good
    assert state.plan(T0 + 501)[1] is good


def test_unusable_reply_on_cold_start_leaves_nothing():
    state = make_state()
    _, outcome = drive(state, {JWKS_URI: ok({"keys": []})})
    state.apply(outcome, T0)
    assert state.keyset is None
    assert state.plan(T0 + 0.5) == (Plan.FAIL, None)


def test_bad_keys_are_skipped_one_by_one_with_a_log_line(caplog):
    document = jwks(KEY_A)
    document["keys"].append({"kty": "RSA", "kid": "weak", "n": "AQAB", "e": "AQAB"})
    state = make_state()
    with caplog.at_level(logging.INFO, logger="jwt_guard"):
        _, outcome = drive(state, {JWKS_URI: ok(document)})
    assert isinstance(outcome, Fetched)
    assert outcome.keyset.kids == {"kid-a"}
    assert [item.kid for item in outcome.skipped] == ["weak"]
    assert "skipped key 1 (kid='weak')" in caplog.text


def test_key_count_is_capped():
    document = {"keys": [dict(KEY_A.public_jwk(), kid=f"k{index}") for index in range(5)]}
    state = make_state(max_keys=3)
    _, outcome = drive(state, {JWKS_URI: ok(document)})
    assert isinstance(outcome, Fetched)
    assert outcome.keyset.kids == {"k0", "k1", "k2"}


def test_fetched_carries_freshness_and_validators():
    state = make_state()
    requests, outcome = drive(
        state,
        {JWKS_URI: ok(jwks(KEY_A), cache_control="max-age=1200", etag='"v1"', last_modified=DATE)},
    )
    assert [request.purpose for request in requests] == ["jwks"]
    assert isinstance(outcome, Fetched)
    assert (outcome.lifetime, outcome.etag, outcome.last_modified) == (1200, '"v1"', DATE)
    assert (outcome.jwks_uri, outcome.discovered) == (JWKS_URI, False)


# -- conditional requests ------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "last_modified", "expected"),
    [
        pytest.param('"v1"', DATE, {"if-none-match": '"v1"', "if-modified-since": DATE}, id="both"),
        pytest.param('"v1"', None, {"if-none-match": '"v1"'}, id="etag-only"),
        pytest.param(None, DATE, {"if-modified-since": DATE}, id="last-modified-only"),
        pytest.param(None, None, {}, id="neither"),
    ],
)
def test_conditional_headers(etag, last_modified, expected):
    state = make_state()
    state.apply(fetched(KEY_A, etag=etag, last_modified=last_modified), T0)
    requests, _ = drive(state, {JWKS_URI: status(304)}, T0 + 500)
    headers = dict(requests[0].headers)
    assert {name: value for name, value in headers.items() if name.startswith("if-")} == expected
    assert "application/json" in headers["accept"]


def test_first_fetch_is_unconditional():
    state = make_state()
    state.etag = '"left-over"'
    requests, _ = drive(state, {JWKS_URI: ok(jwks(KEY_A))})
    assert not any(name.startswith("if-") for name, _ in requests[0].headers)


def test_304_renews_freshness():
    state = make_state()
    state.apply(fetched(KEY_A, etag='"v1"'), T0)
    good = state.keyset
    _, outcome = drive(state, {JWKS_URI: status(304, cache_control="max-age=900")}, T0 + 590)
    assert isinstance(outcome, NotModified)
    assert outcome.lifetime == 900
    state.apply(outcome, T0 + 590)
    assert state.keyset is good
    assert state.expires_at == T0 + 590 + 900
    assert state.plan(T0 + 1000)[0] is Plan.USE


def test_no_conditional_headers_for_a_new_jwks_uri():
    state = make_state(issuer=ISSUER, jwks_uri=None, discovery_ttl=3600)
    moved = "https://idp.example.test/keys-v2"
    _, outcome = drive(state, {OIDC_URL: ok(discovery_doc()), JWKS_URI: ok(jwks(KEY_A), etag='"v1"')})
    state.apply(outcome, T0)
    requests, _ = drive(state, {OIDC_URL: ok(discovery_doc(jwks_uri=moved)), moved: ok(jwks(KEY_A))}, T0 + 3600)
    assert [request.url for request in requests] == [OIDC_URL, moved]
    assert not any(name.startswith("if-") for name, _ in requests[1].headers)


# -- discovery -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        pytest.param(
            "https://idp.example.com",
            (
                "https://idp.example.com/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server",
            ),
            id="host-only",
        ),
        pytest.param(
            "https://idp.example.com/",
            (
                "https://idp.example.com/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server",
            ),
            id="host-trailing-slash",
        ),
        pytest.param(
            "https://idp.example.com/tenant",
            (
                "https://idp.example.com/tenant/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server/tenant",
            ),
            id="path",
        ),
        pytest.param(
            "https://idp.example.com/tenant/",
            (
                "https://idp.example.com/tenant/.well-known/openid-configuration",
                "https://idp.example.com/.well-known/oauth-authorization-server/tenant",
            ),
            id="path-trailing-slash",
        ),
        pytest.param(
            "https://login.example.com/realms/a/b",
            (
                "https://login.example.com/realms/a/b/.well-known/openid-configuration",
                "https://login.example.com/.well-known/oauth-authorization-server/realms/a/b",
            ),
            id="nested-path",
        ),
        pytest.param(
            "http://127.0.0.1:8080/issuer",
            (
                "http://127.0.0.1:8080/issuer/.well-known/openid-configuration",
                "http://127.0.0.1:8080/.well-known/oauth-authorization-server/issuer",
            ),
            id="port-kept",
        ),
    ],
)
def test_discovery_urls(issuer, expected):
    assert discovery_urls(issuer) == expected


def test_discovery_then_jwks():
    events: list[Event] = []
    state = make_state(issuer=ISSUER, jwks_uri=None, events=events)
    requests, outcome = drive(state, {OIDC_URL: ok(discovery_doc()), JWKS_URI: ok(jwks(KEY_A))})
    assert [(request.url, request.purpose) for request in requests] == [(OIDC_URL, "discovery"), (JWKS_URI, "jwks")]
    assert isinstance(outcome, Fetched)
    assert (outcome.jwks_uri, outcome.discovered) == (JWKS_URI, True)
    assert events[0].kind == EventKind.DISCOVERY_FETCHED
    assert events[0].details == {"url": OIDC_URL, "jwks_uri": JWKS_URI}


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410])
def test_discovery_falls_back_to_rfc8414_on_4xx(code):
    state = make_state(issuer=ISSUER, jwks_uri=None)
    requests, outcome = drive(
        state, {OIDC_URL: status(code), RFC8414_URL: ok(discovery_doc()), JWKS_URI: ok(jwks(KEY_A))}
    )
    assert [request.url for request in requests] == [OIDC_URL, RFC8414_URL, JWKS_URI]
    assert isinstance(outcome, Fetched)


def test_discovery_fails_when_both_forms_answer_4xx():
    state = make_state(issuer=ISSUER, jwks_uri=None)
    requests, outcome = drive(state, {OIDC_URL: status(404), RFC8414_URL: status(404)})
    assert len(requests) == 2
    assert outcome == Failure("discovery_http_status", "discovery answered with an error status")
    assert outcome.detail == "HTTP 404"


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(status(500), id="5xx"),
        pytest.param(Failure("timeout", "slow"), id="transport"),
        pytest.param(ok(b"<html>"), id="invalid-json"),
    ],
)
def test_discovery_does_not_fall_back_on_other_failures(reply):
    state = make_state(issuer=ISSUER, jwks_uri=None)
    requests, outcome = drive(state, {OIDC_URL: reply})
    assert [request.url for request in requests] == [OIDC_URL]
    assert isinstance(outcome, Failure)


@pytest.mark.parametrize(
    ("named", "says"),
    [
        pytest.param(
            "https://impostor.example.net/",
            "names issuer 'https://impostor.example.net/', not 'https://idp.example.test/' (issuers must match "
            "exactly): configure issuer='https://impostor.example.net/' (JWT_GUARD_ISSUER with Verifier.from_env), "
            "or make the provider publish 'https://idp.example.test/' if that is its public URL",
            id="other-host",
        ),
        pytest.param(
            "https://idp.example.test",
            "names issuer 'https://idp.example.test', not 'https://idp.example.test/' (issuers must match exactly, "
            "trailing slash included): configure issuer='https://idp.example.test' "
            "(JWT_GUARD_ISSUER with Verifier.from_env)",
            id="missing-trailing-slash",
        ),
        pytest.param(
            "HTTPS://IDP.EXAMPLE.TEST/",
            "names issuer 'HTTPS://IDP.EXAMPLE.TEST/', not 'https://idp.example.test/' (issuers must match exactly)",
            id="case-differs",
        ),
        pytest.param(None, "names no usable issuer; check the issuer URL", id="absent"),
        pytest.param(["https://idp.example.test/"], "names no usable issuer", id="not-a-string"),
        pytest.param("https://idp.example.test/\x1b[2J", "names no usable issuer", id="control-characters"),
        pytest.param("https://idp.example.test/'); x", "names no usable issuer", id="quote"),
        pytest.param("https://idp.example.test/" + "a" * 300, "names no usable issuer", id="too-long"),
    ],
)
def test_discovery_issuer_must_match_exactly_and_the_failure_says_what_to_configure(named, says):
    state = make_state(issuer=ISSUER, jwks_uri=None)
    document = {"jwks_uri": JWKS_URI} if named is None else {"issuer": named, "jwks_uri": JWKS_URI}
    requests, outcome = drive(state, {OIDC_URL: ok(document)})
    assert len(requests) == 1  # no JWKS request for a foreign document
    assert isinstance(outcome, Failure)
    assert outcome.reason == "issuer_mismatch"
    assert says in outcome.logged()
    if "no usable issuer" in says:
        assert "configure" not in outcome.logged()  # nothing unprintable is quoted back


def test_an_issuer_on_another_host_stays_out_of_the_503_description():
    """Failure descriptions reach 503 bodies: an issuer the provider names on
    another host is for the log only; an issuer on the configured origin (a
    trailing slash, a path) reveals nothing that tokens do not carry."""
    state = make_state(issuer=ISSUER, jwks_uri=None)
    _, elsewhere = drive(state, {OIDC_URL: ok(discovery_doc("https://keycloak.internal:8443/realms/a"))})
    assert "keycloak" not in elsewhere.description
    assert elsewhere.description.endswith("the server log says which issuer to configure)")
    assert "configure issuer='https://keycloak.internal:8443/realms/a'" in elsewhere.detail
    _, same_origin = drive(state, {OIDC_URL: ok(discovery_doc("https://IDP.example.test"))})
    assert "configure issuer='https://IDP.example.test'" in same_origin.description
    assert same_origin.detail == ""


def test_issuer_mismatch_backs_off_to_the_stale_ceiling_and_logs_one_error(caplog):
    state = make_state(issuer=ISSUER, jwks_uri=None, stale_backoff=(30.0, 300.0))
    _, outcome = drive(state, {OIDC_URL: ok(discovery_doc("https://idp.example.test"))})
    with caplog.at_level(logging.INFO, logger="jwt_guard"):
        state.apply(outcome, T0)
    assert state.retry_at == T0 + 300  # not the 1 s of a cold failure
    assert state.plan(T0 + 299)[0] is Plan.FAIL
    assert state.plan(T0 + 300)[0] is Plan.FETCH
    assert [record.levelno for record in caplog.records] == [logging.ERROR]
    assert caplog.records[0].getMessage().startswith("jwt_guard: configuration error for https://idp.example.test/: ")
    assert "configure issuer='https://idp.example.test'" in caplog.text
    error = state.unavailable(T0)
    assert error.retry_after == 300
    assert error.description.startswith("signing keys are unavailable: the discovery document names issuer ")
    assert details_of(error) == {
        "failure": "issuer_mismatch",
        "configuration": True,
        "configured_issuer": ISSUER,
        "discovered_issuer": "https://idp.example.test",
    }


def test_other_failures_keep_the_short_cold_backoff():
    state = make_state(issuer=ISSUER, jwks_uri=None)
    _, outcome = drive(state, {OIDC_URL: status(503)})
    state.apply(outcome, T0)
    assert state.retry_at == T0 + 1
    error = state.unavailable(T0)
    assert error.description.startswith("signing keys are temporarily unavailable: ")
    assert details_of(error) == {"failure": "discovery_http_status", "configuration": False}


@pytest.mark.parametrize(
    ("jwks_uri", "allow_http", "accepted"),
    [
        pytest.param("http://keys.example.net/jwks", False, False, id="http-non-loopback"),
        pytest.param("http://keys.example.net/jwks", True, True, id="http-allowed-explicitly"),
        # An https issuer's document never gets the operator's loopback exemption.
        pytest.param("http://127.0.0.1:9000/jwks", False, False, id="http-loopback-v4"),
        pytest.param("http://127.8.9.10/jwks", False, False, id="http-loopback-v4-range"),
        pytest.param("http://localhost:9000/jwks", False, False, id="http-localhost"),
        pytest.param("http://[::1]:9000/jwks", False, False, id="http-loopback-v6"),
        pytest.param("https://127.0.0.1:9000/jwks", False, True, id="https-loopback"),
        pytest.param("ftp://idp.example.test/jwks", True, False, id="ftp"),
        pytest.param("/relative/jwks", False, False, id="relative"),
        pytest.param("https://user:pw@idp.example.test/jwks", False, False, id="credentials"),
        pytest.param(None, False, False, id="missing"),
        pytest.param(42, False, False, id="not-a-string"),
    ],
)
def test_discovered_jwks_uri_must_be_acceptable(jwks_uri, allow_http, accepted):
    state = make_state(issuer=ISSUER, jwks_uri=None, allow_insecure_http=allow_http)
    document = {"issuer": ISSUER, "jwks_uri": jwks_uri}
    answers: dict[str, Reply] = {OIDC_URL: ok(document)}
    if isinstance(jwks_uri, str):
        answers[jwks_uri] = ok(jwks(KEY_A))
    requests, outcome = drive(state, answers)
    if accepted:
        assert isinstance(outcome, Fetched)
        assert requests[-1].url == jwks_uri
    else:
        assert outcome == Failure("bad_jwks_uri", "the discovery document has no acceptable jwks_uri")
        assert len(requests) == 1


def test_explicit_jwks_uri_never_discovers():
    state = make_state(issuer=None, jwks_uri=JWKS_URI)
    requests, _ = drive(state, {JWKS_URI: ok(jwks(KEY_A))})
    assert [request.url for request in requests] == [JWKS_URI]


def test_discovery_is_cached_for_its_ttl():
    state = make_state(issuer=ISSUER, jwks_uri=None, discovery_ttl=7200)
    answers = {OIDC_URL: ok(discovery_doc()), JWKS_URI: ok(jwks(KEY_A))}
    _, outcome = drive(state, answers)
    state.apply(outcome, T0)
    assert state.discovery_expires_at == T0 + 7200
    requests, outcome = drive(state, answers, T0 + 7199)
    assert [request.url for request in requests] == [JWKS_URI]
    assert outcome.discovered is False
    state.apply(outcome, T0 + 7199)
    assert state.discovery_expires_at == T0 + 7200  # only discovery renews it
    requests, _ = drive(state, answers, T0 + 7200)
    assert [request.url for request in requests] == [OIDC_URL, JWKS_URI]


def test_discovery_failure_keeps_the_known_jwks_uri(caplog):
    state = make_state(issuer=ISSUER, jwks_uri=None, discovery_ttl=3600)
    _, outcome = drive(state, {OIDC_URL: ok(discovery_doc()), JWKS_URI: ok(jwks(KEY_A))})
    state.apply(outcome, T0)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        requests, outcome = drive(state, {OIDC_URL: status(503), JWKS_URI: ok(jwks(KEY_A, KEY_B))}, T0 + 3600)
    assert [request.url for request in requests] == [OIDC_URL, JWKS_URI]
    assert isinstance(outcome, Fetched)
    assert outcome.keyset.kids == {"kid-a", "kid-b"}
    assert "discovery for https://idp.example.test/ failed (discovery_http_status: " in caplog.text
    assert "(HTTP 503)" in caplog.text  # the status is logged, never put in a description
    state.apply(outcome, T0 + 3600)
    requests, _ = drive(state, {OIDC_URL: ok(discovery_doc()), JWKS_URI: ok(jwks(KEY_A))}, T0 + 3700)
    assert requests[0].url == OIDC_URL  # discovery is retried at the next refresh


def test_discovery_failure_without_a_known_jwks_uri_fails_the_fetch():
    state = make_state(issuer=ISSUER, jwks_uri=None)
    _, outcome = drive(state, {OIDC_URL: Failure("connect", "down")})
    assert outcome == Failure("connect", "down")


# -- URL provenance: plain http only where the operator put it ------------------------------------

LOCAL_ISSUER = "http://127.0.0.1:9000/"
LOCAL_OIDC = "http://127.0.0.1:9000/.well-known/openid-configuration"


@pytest.mark.parametrize(
    "jwks_uri",
    [
        pytest.param("http://127.0.0.1:9000/jwks", id="ipv4-loopback"),
        pytest.param("http://127.8.9.10/jwks", id="ipv4-loopback-range"),
        pytest.param("http://localhost:9000/jwks", id="localhost"),
        pytest.param("http://[::1]:9000/jwks", id="ipv6-loopback"),
        pytest.param("http://keys.localhost/jwks", id="localhost-subdomain"),
        pytest.param("http://keys.example.net/jwks", id="remote"),
    ],
)
def test_https_issuer_never_lends_plain_http_to_its_discovered_jwks_uri(jwks_uri):
    """The loopback exemption is the operator's: a discovery document served
    over https cannot point the key fetch at plain http, loopback or not."""
    state = make_state(issuer=ISSUER, jwks_uri=None)
    requests, outcome = drive(state, {OIDC_URL: ok(discovery_doc(jwks_uri=jwks_uri)), jwks_uri: ok(jwks(KEY_A))})
    assert outcome == Failure("bad_jwks_uri", "the discovery document has no acceptable jwks_uri")
    assert [request.url for request in requests] == [OIDC_URL]


def test_loopback_http_issuer_may_discover_a_loopback_http_jwks_uri():
    """A development issuer on loopback serves everything over plain http."""
    state = make_state(issuer=LOCAL_ISSUER, jwks_uri=None)
    document = discovery_doc(issuer=LOCAL_ISSUER, jwks_uri="http://127.0.0.1:9000/jwks")
    requests, outcome = drive(state, {LOCAL_OIDC: ok(document), "http://127.0.0.1:9000/jwks": ok(jwks(KEY_A))})
    assert isinstance(outcome, Fetched)
    assert [request.allow_http for request in requests] == [True, True]


@pytest.mark.parametrize(
    ("issuer", "jwks_uri", "insecure", "allow_http"),
    [
        pytest.param(ISSUER, None, False, False, id="https-issuer"),
        pytest.param(None, JWKS_URI, False, False, id="https-jwks-uri"),
        pytest.param(LOCAL_ISSUER, None, False, True, id="loopback-http-issuer"),
        pytest.param(None, "http://127.0.0.1:9000/jwks", False, True, id="loopback-http-jwks-uri"),
        pytest.param("https://127.0.0.1:9443/", None, False, False, id="loopback-https-issuer"),
        pytest.param(ISSUER, None, True, True, id="allow-insecure-http"),
    ],
)
def test_every_request_carries_the_operators_http_permission(issuer, jwks_uri, insecure, allow_http):
    """``Request.allow_http`` (honoured on every redirect hop) is set from
    the configured URL, never from anything a server sent."""
    state = make_state(issuer=issuer, jwks_uri=jwks_uri, allow_insecure_http=insecure)
    flow = state.refresh(lambda: T0)
    first = next(flow)
    assert first.allow_http is allow_http
    if issuer is not None:
        discovered = ("http" if allow_http else "https") + "://127.0.0.1:9001/jwks"
        second = flow.send(ok(discovery_doc(issuer=issuer, jwks_uri=discovered)))
        assert second.url == discovered
        assert second.allow_http is allow_http


@pytest.mark.parametrize(
    ("reply", "hidden"),
    [
        pytest.param(status(500), "500", id="500"),
        pytest.param(status(503), "503", id="503"),
        pytest.param(status(418), "418", id="418"),
    ],
)
@pytest.mark.parametrize("stage", ["jwks", "discovery"])
def test_failure_descriptions_never_carry_an_internal_status(reply, hidden, stage, caplog):
    """Failure descriptions end up in 503 bodies: fixed phrases only. The
    status a server answered goes to the logs."""
    if stage == "jwks":
        state = make_state()
        answers = {JWKS_URI: reply}
    else:
        state = make_state(issuer=ISSUER, jwks_uri=None)
        answers = {OIDC_URL: reply, RFC8414_URL: reply}
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        _, outcome = drive(state, answers)
        assert isinstance(outcome, Failure)
        state.apply(outcome, T0)
    assert not any(char.isdigit() for char in outcome.description), outcome.description
    assert not any(char.isdigit() for char in state.unavailable(T0).description)
    assert f"HTTP {hidden}" in caplog.text


# -- replies applied late, and replies overtaken ----------------------------------


def test_freshness_counts_from_when_the_request_left():
    """A reply applied 100 s after its request (a slow fetch, a busy loop)
    is fresh for its lifetime from the request, so its refresh stays due."""
    state = make_state()
    flow = state.refresh(lambda: T0)
    next(flow)
    with pytest.raises(StopIteration) as stop:
        flow.send(ok(jwks(KEY_A), cache_control="max-age=600"))
    outcome = stop.value.value
    assert outcome.requested_at == T0
    state.apply(outcome, T0 + 490)
    assert state.refresh_at == T0 + 480
    assert state.expires_at == T0 + 600
    assert state.plan(T0 + 490)[0] is Plan.USE_AND_REFRESH


def test_a_reply_overtaken_by_a_newer_one_is_dropped():
    """Two fetches overlap (the sync and async shells of one verifier): the
    one sent first, applied last, must not bring back the older set."""
    state = make_state()
    state.apply(Fetched(keyset(KEY_B), [], 600.0, None, None, JWKS_URI, False, T0 + 5), T0 + 6)
    changed = state.apply(Fetched(keyset(KEY_A), [], 600.0, None, None, JWKS_URI, False, T0), T0 + 7)
    assert not changed
    assert state.keyset is not None and state.keyset.has_kid("kid-b") and not state.keyset.has_kid("kid-a")
    assert state.refresh_at == T0 + 5 + 480
    assert state.generation == 2
