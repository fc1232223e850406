"""The two I/O shells against ``httpx.MockTransport``: every key-set rule of
issue 3, run through ``verify`` (httpx.Client + threads) and ``verify_async``
(httpx.AsyncClient + asyncio) with the same scenarios. Policy time is a
FakeClock; nothing here waits on real time except to detect a hang."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import select
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from jwt_guard import (
    AccessToken,
    Event,
    EventKind,
    InvalidIssuer,
    InvalidSignature,
    KeyCacheOptions,
    KeySetUnavailable,
    UnknownKey,
    UnsupportedAlgorithm,
    Verifier,
)
from jwt_guard._sources import remote_sources
from jwt_guard._verifier import key_sources
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, mock_transport
from tests.conftest import AUDIENCE, signing_key
from tests.core.conftest import HANG_LIMIT, Shell, wait_until

pytestmark = pytest.mark.anyio

# What a verifier emits; the stores (jwt_guard.stores) emit the others.
STORE_EVENT_KINDS = {
    EventKind.STORE_UNAVAILABLE,
    EventKind.STORE_FAILED_OPEN,
    EventKind.STORE_RESYNCED,
    EventKind.STORE_RECOVERED,
    EventKind.STORE_RECORD_SKIPPED,
    EventKind.REPLAY_DETECTED,
}
# Introspection's, the 503 of a verification and the refusals adapters answer.
OTHER_EVENT_KINDS = {
    EventKind.INTROSPECTION_CALL,
    EventKind.INTROSPECTION_FAILED,
    EventKind.INTROSPECTION_RATE_LIMITED,
    EventKind.VERIFICATION_FAILED,
    EventKind.REQUEST_REFUSED,
}
ALL_EVENT_KINDS = {value for name, value in vars(EventKind).items() if name.isupper()} - STORE_EVENT_KINDS
KEY_EVENT_KINDS = ALL_EVENT_KINDS - OTHER_EVENT_KINDS


def options(**overrides: Any) -> KeyCacheOptions:
    """Jitter-free key-set options, so lifetimes are exact (600 s → refresh at 480 s)."""
    return KeyCacheOptions(jitter=0, **overrides)


class Gate:
    """Holds JWKS replies while closed, to catch a fetch in flight.

    The reply is computed when the request arrives (the keys as they are
    then) and released when the gate opens; sync and async handlers wait on
    the same ``threading.Event``.
    """

    def __init__(self, server: KeyServer) -> None:
        self.server = server
        self.answer = mock_transport(server).handler
        self.opened = threading.Event()
        self.opened.set()
        self.held = threading.Event()
        self.transport = httpx.MockTransport(self._sync)
        self.async_transport = httpx.MockTransport(self._async)

    def close(self) -> None:
        self.held.clear()
        self.opened.clear()

    def open(self) -> None:
        self.opened.set()

    def _holds(self, request: httpx.Request) -> bool:
        return not self.opened.is_set() and request.url.path == self.server.jwks_path

    def _sync(self, request: httpx.Request) -> httpx.Response:
        response = self.answer(request)
        if self._holds(request):
            self.held.set()
            assert self.opened.wait(HANG_LIMIT), "the gate was never opened"
        return response

    async def _async(self, request: httpx.Request) -> httpx.Response:
        response = self.answer(request)
        if self._holds(request):
            self.held.set()
            await wait_until(self.opened.is_set, "the gate to open")
        return response


@pytest.fixture
def build(issuer: LocalIssuer, clock: FakeClock, key_server: KeyServer, shell: Shell) -> Callable[..., Verifier]:
    """Verifiers for ``issuer`` through a MockTransport (or a :class:`Gate`)."""

    def make(*, server: KeyServer | None = None, gate: Gate | None = None, **settings: Any) -> Verifier:
        if gate is not None:
            settings.setdefault("transport", gate.transport)
            settings.setdefault("async_transport", gate.async_transport)
        else:
            transport = mock_transport(server or key_server)
            settings.setdefault("transport", transport)
            settings.setdefault("async_transport", transport)
        settings.setdefault("issuer", issuer.issuer)
        settings.setdefault("audience", issuer.audience)
        settings.setdefault("clock", clock)
        settings.setdefault("key_cache", options())
        return shell.track(Verifier(**settings))

    return make


class Background:
    """One verification running alongside the test: a thread or a task."""

    def __init__(self, shell: Shell, verifier: Verifier, token: str) -> None:
        self._outcome: dict[str, Any] = {}
        self._task: asyncio.Future[AccessToken] | None = None
        self._thread: threading.Thread | None = None
        if shell.is_async:
            self._task = asyncio.ensure_future(verifier.verify_async(token))
        else:
            self._thread = threading.Thread(target=self._run, args=(verifier, token))
            self._thread.start()

    def done(self) -> bool:
        if self._task is not None:
            return self._task.done()
        assert self._thread is not None
        return not self._thread.is_alive()

    def waiting_in(self, function: str) -> bool:
        """For a thread: is *function* on its stack right now?"""
        assert self._thread is not None
        frame = sys._current_frames().get(self._thread.ident or 0)
        while frame is not None:
            if frame.f_code.co_name == function:
                return True
            frame = frame.f_back
        return False

    def _run(self, verifier: Verifier, token: str) -> None:
        try:
            self._outcome["token"] = verifier.verify(token)
        except Exception as exc:
            self._outcome["error"] = exc

    async def result(self) -> AccessToken:
        if self._task is not None:
            return await asyncio.wait_for(self._task, HANG_LIMIT)
        assert self._thread is not None
        await wait_until(lambda: not self._thread.is_alive(), "the verifying thread")
        if "error" in self._outcome:
            raise self._outcome["error"]
        return self._outcome["token"]


def random_kid_token(issuer: LocalIssuer) -> str:
    return issuer.token(headers={"kid": secrets.token_hex(8)})


def kinds(events: list[Event]) -> list[str]:
    return [event.kind for event in events]


def key_kinds(events: list[Event]) -> list[str]:
    """The kinds of the key-set events among *events* (verification outcomes left out)."""
    return [event.kind for event in events if event.kind != EventKind.TOKEN_VERIFIED]


# -- cold start and fresh reuse ------------------------------------------------


async def test_cold_start_discovers_then_fetches(shell, build, issuer, key_server):
    verifier = build()
    token = await shell.verify(verifier, issuer.token(scope="read"))
    assert token.has_scopes("read")
    assert (key_server.discovery_requests, key_server.jwks_requests) == (1, 1)
    assert [request.path for request in key_server.requests] == [key_server.discovery_path, key_server.jwks_path]


async def test_fresh_set_serves_many_verifications_with_one_fetch(shell, build, issuer, clock, key_server):
    verifier = build()
    for _ in range(5):
        await shell.verify(verifier, issuer.token())
    clock.advance(479)  # refresh-ahead starts at 480 s of 600 s
    for _ in range(5):
        await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert key_server.jwks_requests == 1


# -- refresh ahead, and expiry while a refresh runs ------------------------------


@pytest.mark.parametrize(
    "advance",
    [
        pytest.param(481, id="refresh-ahead-at-80pc"),
        pytest.param(700, id="expired-within-stale-window"),
    ],
)
async def test_one_background_refresh_while_requests_use_current_keys(shell, build, issuer, clock, key_server, advance):
    """No request waits on the network while a good set exists."""
    gate = Gate(key_server)
    verifier = build(gate=gate)
    await shell.verify(verifier, issuer.token())
    clock.advance(advance)
    gate.close()
    for _ in range(5):
        await shell.verify(verifier, issuer.token())
    await wait_until(gate.held.is_set, "the background refresh to reach the server")
    for _ in range(5):
        await shell.verify(verifier, issuer.token())  # answered while the refresh is held
    assert key_server.jwks_requests == 2
    gate.open()
    await shell.settle(verifier)
    clock.advance(479)  # renewed: fresh for another 480 s
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert key_server.jwks_requests == 2


# -- outages ---------------------------------------------------------------------


async def test_outage_within_stale_window_serves_last_good_set(shell, build, issuer, clock, key_server, caplog):
    events: list[Event] = []
    verifier = build(on_event=events.append)
    await shell.verify(verifier, issuer.token())
    key_server.set_fault("status", status=500)
    clock.advance(700)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        await shell.verify(verifier, issuer.token())
        await shell.settle(verifier)
    assert "serving stale keys for" in caplog.text
    failed = [event for event in events if event.kind == EventKind.FETCH_FAILED]
    assert [(event.reason, event.details["failures"]) for event in failed] == [("http_status", 1)]
    assert failed[0].details["duration"] >= 0
    assert EventKind.SERVING_STALE in kinds(events)
    assert key_server.jwks_requests == 2

    clock.advance(29)  # stale backoff: 30 s, no attempt before
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert key_server.jwks_requests == 2
    clock.advance(2)
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert key_server.jwks_requests == 3

    key_server.heal()
    clock.advance(61)  # second stale delay: 60 s
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert key_server.jwks_requests == 4
    assert key_kinds(events)[-1] == EventKind.KEYS_NOT_MODIFIED  # recovered; the ETag still matches


async def test_beyond_stale_window_answers_503_with_retry_after(shell, build, issuer, clock, key_server):
    verifier = build(key_cache=options(max_stale=3600))
    await shell.verify(verifier, issuer.token())
    key_server.set_fault("status", status=500)
    clock.advance(600 + 3600)
    with pytest.raises(KeySetUnavailable) as info:
        await shell.verify(verifier, issuer.token())
    assert info.value.status_code == 503
    assert info.value.retry_after >= 1
    assert info.value.description.startswith("signing keys expired and could not be refreshed")
    assert key_server.jwks_requests == 2
    with pytest.raises(KeySetUnavailable):
        await shell.verify(verifier, issuer.token())  # backing off: no new request
    assert key_server.jwks_requests == 2


async def test_max_stale_zero_fails_closed_at_expiry(shell, build, issuer, clock, key_server):
    verifier = build(key_cache=options(max_stale=0))
    await shell.verify(verifier, issuer.token())
    key_server.set_fault("status", status=500)
    clock.advance(600)
    with pytest.raises(KeySetUnavailable):
        await shell.verify(verifier, issuer.token())
    key_server.heal()
    clock.advance(1)
    await shell.verify(verifier, issuer.token())  # waits for the fetch: nothing servable
    assert key_server.jwks_requests == 3


async def test_cold_start_failure_backs_off(shell, build, issuer, clock, key_server):
    key_server.set_fault("status", status=500)
    verifier = build()
    with pytest.raises(KeySetUnavailable) as info:
        await shell.verify(verifier, issuer.token())
    assert info.value.retry_after == 1
    assert info.value.description == (
        "signing keys are temporarily unavailable: the key set URL answered with an error status"
    )
    with pytest.raises(KeySetUnavailable):
        await shell.verify(verifier, issuer.token())
    assert key_server.jwks_requests == 1  # no second fetch before the retry time
    clock.advance(1)
    with pytest.raises(KeySetUnavailable) as info:
        await shell.verify(verifier, issuer.token())
    assert info.value.retry_after == 2
    assert key_server.jwks_requests == 2
    key_server.heal()
    clock.advance(2)
    await shell.verify(verifier, issuer.token())
    assert key_server.jwks_requests == 3


# -- unknown kid -----------------------------------------------------------------


async def test_rotated_key_is_picked_up_by_an_unknown_kid_refetch(shell, build, issuer, key_server):
    events: list[Event] = []
    verifier = build(on_event=events.append)
    old = issuer.token()
    await shell.verify(verifier, old)
    new_key = issuer.rotate("ES256")
    token = await shell.verify(verifier, issuer.token())
    assert token.header["kid"] == new_key.kid
    assert key_server.jwks_requests == 2
    refetches = [event for event in events if event.kind == EventKind.UNKNOWN_KID_REFETCH]
    assert [event.details["kid"] for event in refetches] == [new_key.kid]
    await shell.verify(verifier, old)  # still published


async def test_kid_published_during_an_in_flight_refresh_is_still_picked_up(shell, build, issuer, clock, key_server):
    """A refresh that read the key set before the rotation cannot answer for the new kid."""
    gate = Gate(key_server)
    claimed = threading.Event()

    def on_event(event: Event) -> None:
        if event.kind == EventKind.UNKNOWN_KID_REFETCH:
            claimed.set()

    verifier = build(gate=gate, on_event=on_event)
    await shell.verify(verifier, issuer.token())
    clock.advance(481)
    gate.close()
    await shell.verify(verifier, issuer.token())  # starts the refresh, which the gate holds
    await wait_until(gate.held.is_set, "the background refresh")
    issuer.rotate("ES256")
    pending = Background(shell, verifier, issuer.token())
    await wait_until(claimed.is_set, "the unknown-kid refetch claim")
    gate.open()
    token = await pending.result()
    assert token.header["kid"] == issuer.signing_key.kid
    assert key_server.jwks_requests == 3


async def holding_a_refetch(
    shell: Shell, build: Callable[..., Verifier], issuer: LocalIssuer, key_server: KeyServer
) -> tuple[Gate, Verifier, Background]:
    """A verifier with a cached set, and an unknown-kid refetch the gate holds at the server."""
    gate = Gate(key_server)
    verifier = build(gate=gate)
    await shell.verify(verifier, issuer.token())
    gate.close()
    refetching = Background(shell, verifier, random_kid_token(issuer))
    await wait_until(gate.held.is_set, "the unknown-kid refetch")
    return gate, verifier, refetching


async def test_a_fetch_answered_late_does_not_postpone_the_next_refresh(shell, build, issuer, clock, key_server):
    """Freshness counts from when the key-set request left: a reply applied
    after the clock moved past the refresh point (a slow fetch, a busy loop)
    leaves the refresh due, so a key published meanwhile is not hidden for a
    whole lifetime."""
    gate, verifier, refetching = await holding_a_refetch(shell, build, issuer, key_server)
    clock.advance(481)  # past refresh-ahead (480 s) while the reply is held
    gate.open()
    with pytest.raises(UnknownKey):
        await refetching.result()
    await shell.settle(verifier)
    assert key_server.jwks_requests == 2
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert key_server.jwks_requests == 3


async def test_unknown_kid_flood_refetches_once_per_cooldown(shell, build, issuer, clock, key_server):
    verifier = build(key_cache=options(unknown_kid_cooldown=30))
    await shell.verify(verifier, issuer.token())
    for _ in range(100):
        with pytest.raises(UnknownKey):
            await shell.verify(verifier, random_kid_token(issuer))
    assert key_server.jwks_requests == 2
    await shell.verify(verifier, issuer.token())
    clock.advance(30)
    for _ in range(100):
        with pytest.raises(UnknownKey):
            await shell.verify(verifier, random_kid_token(issuer))
    assert key_server.jwks_requests == 3


async def test_unknown_kid_refetch_never_queues_other_requests(shell, build, issuer, key_server):
    """While one refetch is held at the server, other unknown kids are refused at
    once and known kids verify at once."""
    gate, verifier, refetching = await holding_a_refetch(shell, build, issuer, key_server)

    async def flood() -> None:
        for _ in range(50):
            with pytest.raises(UnknownKey):
                await shell.verify(verifier, random_kid_token(issuer))
            await shell.verify(verifier, issuer.token())

    if shell.is_async:
        await asyncio.wait_for(flood(), HANG_LIMIT)
    else:
        done = threading.Event()
        worker = threading.Thread(target=lambda: (asyncio.run(flood()), done.set()))
        worker.start()
        worker.join(HANG_LIMIT)
        assert done.is_set(), "requests queued behind the refetch"
    assert not gate.opened.is_set()  # all of it happened while the refetch was held
    gate.open()
    with pytest.raises(UnknownKey):
        await refetching.result()
    assert key_server.jwks_requests == 2


async def test_requests_with_the_kid_being_refetched_wait_for_that_refetch(shell, build, issuer, key_server):
    """A rotation seen by concurrent requests: all of them get the new key from
    one refetch; meanwhile other unknown kids are still refused at once."""
    gate = Gate(key_server)
    verifier = build(gate=gate)
    await shell.verify(verifier, issuer.token())
    issuer.rotate("ES256")
    gate.close()
    first = Background(shell, verifier, issuer.token())
    await wait_until(gate.held.is_set, "the unknown-kid refetch")
    joiners = [Background(shell, verifier, issuer.token()) for _ in range(5)]
    if shell.is_async:
        for _ in range(20):
            await asyncio.sleep(0)  # each joiner runs until it awaits the shared fetch
    else:
        await wait_until(
            lambda: all(joiner.done() or joiner.waiting_in("wait") for joiner in joiners),
            "the joiners to wait on the refetch",
        )
    assert not any(joiner.done() for joiner in joiners)
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, random_kid_token(issuer))  # not queued
    gate.open()
    for pending in (first, *joiners):
        assert (await pending.result()).header["kid"] == issuer.signing_key.kid
    assert key_server.jwks_requests == 2


async def test_absent_kid_is_remembered(shell, build, issuer, clock, key_server):
    verifier = build(key_cache=options(unknown_kid_cooldown=30, absent_kid_ttl=300))
    await shell.verify(verifier, issuer.token())
    ghost = issuer.token(headers={"kid": "ghost"})
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, ghost)
    assert key_server.jwks_requests == 2
    clock.advance(31)
    ghost = issuer.token(headers={"kid": "ghost"})
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, ghost)
    assert key_server.jwks_requests == 2  # remembered: no refetch although cooled down
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, issuer.token(headers={"kid": "other"}))
    assert key_server.jwks_requests == 3
    clock.advance(301)
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, issuer.token(headers={"kid": "ghost"}))
    assert key_server.jwks_requests == 4  # forgotten after absent_kid_ttl


async def test_failed_refetch_does_not_mark_the_kid_absent(shell, build, issuer, clock, key_server):
    """An unknown kid met while the key server fails is answered 503 (the kid
    may be a new key: not the client's fault), and stays eligible for the
    next refetch."""
    verifier = build(key_cache=options(unknown_kid_cooldown=30))
    await shell.verify(verifier, issuer.token())
    issuer.rotate("ES256")
    key_server.set_fault("status", status=503)
    with pytest.raises(KeySetUnavailable, match="signing key could not be fetched"):
        await shell.verify(verifier, issuer.token())
    assert key_server.jwks_requests == 2
    with pytest.raises(KeySetUnavailable):  # backing off: no new fetch, still 503
        await shell.verify(verifier, issuer.token())
    assert key_server.jwks_requests == 2
    key_server.heal()
    clock.advance(31)  # past the cooldown and the 30 s stale backoff
    await shell.verify(verifier, issuer.token())
    assert key_server.jwks_requests == 3


@pytest.mark.parametrize(
    ("mint", "error", "settings"),
    [
        pytest.param(
            lambda issuer: issuer.token(key=signing_key("RS256", "impostor"), headers={"kid": issuer.signing_key.kid}),
            InvalidSignature,
            {},
            id="bad-signature-under-known-kid",
        ),
        pytest.param(
            lambda issuer: issuer.token(key=signing_key("HS256", "new-hs")),
            UnsupportedAlgorithm,
            {},
            id="unknown-kid-hs256-not-allowed",
        ),
        pytest.param(
            lambda issuer: issuer.token(key=signing_key("ES256", "new-es")),
            UnsupportedAlgorithm,
            {"algorithms": ["RS256"]},
            id="unknown-kid-alg-outside-allowlist",
        ),
        pytest.param(
            lambda issuer: issuer.token(headers={"kid": "new", "alg": "none"}),
            UnsupportedAlgorithm,
            {},
            id="unknown-kid-alg-none",
        ),
        pytest.param(
            lambda issuer: issuer.token(key=signing_key("RS256", "evil"), iss="https://evil.example.test/"),
            InvalidIssuer,
            {},
            id="unknown-kid-unconfigured-issuer",
        ),
    ],
)
async def test_these_tokens_never_cause_a_fetch(shell, build, issuer, key_server, mint, error, settings):
    verifier = build(**settings)
    await shell.prefetch(verifier)
    for _ in range(5):
        with pytest.raises(error):
            await shell.verify(verifier, mint(issuer))
    assert key_server.jwks_requests == 1


# -- a successful fetch is authoritative -------------------------------------------


async def test_removed_kid_is_rejected_after_the_next_fetch_and_uncached(shell, build, issuer, clock, key_server):
    events: list[Event] = []
    verifier = build(on_event=events.append)
    old_key = issuer.signing_key
    cached = issuer.token(expires_in=3600)
    await shell.verify(verifier, cached)
    await shell.verify(verifier, cached)  # a verified-token cache hit
    issuer.rotate("ES256", retire_old=True)
    clock.advance(481)
    await shell.verify(verifier, issuer.token(key=old_key))  # still valid: starts the refresh
    await shell.settle(verifier)
    fetched = [event for event in events if event.kind == EventKind.KEYS_FETCHED]
    assert [event.details["changed"] for event in fetched] == [True, True]
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, cached)
    await shell.verify(verifier, issuer.token())


async def test_result_cached_across_a_key_change_is_not_kept(shell, build, issuer, key_server):
    """A verification that read the old keys must not re-fill the cache after the change."""
    armed = {"on": False}

    def validator(token: Any) -> bool:
        if armed["on"]:
            armed["on"] = False
            issuer.rotate("ES256", retire_old=True)
            verifier.verify(issuer.token())  # unknown kid: refetch; the old key is gone
        return True

    verifier = build(validators=[validator])
    await shell.prefetch(verifier)
    old = issuer.token()
    armed["on"] = True
    await shell.verify(verifier, old)
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, old)


# -- conditional requests ------------------------------------------------------------


@pytest.mark.parametrize(
    ("etag", "sent"),
    [
        pytest.param(True, "if-none-match", id="etag"),
        pytest.param(False, "if-modified-since", id="last-modified"),
    ],
)
async def test_304_renews_freshness(shell, build, issuer, clock, etag, sent):
    events: list[Event] = []
    server = KeyServer(issuer, etag=etag)
    verifier = build(server=server, on_event=events.append)
    await shell.verify(verifier, issuer.token())
    first = server.requests[-1].headers
    assert "if-none-match" not in first and "if-modified-since" not in first
    clock.advance(481)
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    conditional = server.requests[-1].headers
    assert sent in conditional
    assert ("if-none-match" in conditional) is etag
    assert key_kinds(events)[-1] == EventKind.KEYS_NOT_MODIFIED
    clock.advance(479)  # renewed at 481: fresh until 481 + 480
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert server.jwks_requests == 2
    old_key = issuer.signing_key
    issuer.rotate("ES256")
    clock.advance(2)
    await shell.verify(verifier, issuer.token(key=old_key))  # a known kid: the scheduled refresh
    await shell.settle(verifier)
    assert server.jwks_requests == 3
    assert key_kinds(events)[-1] == EventKind.KEYS_FETCHED


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"cache-control": "max-age=" + "9" * 400}, id="max-age-beyond-float"),
        pytest.param({"cache-control": "max-age=600", "age": "9" * 5000}, id="age-beyond-int-digits"),
        pytest.param({"cache-control": "max-age=600", "age": "\u00b2"}, id="age-non-ascii-digit"),
        pytest.param({"cache-control": "max-age=\u0661\u0662"}, id="max-age-arabic-digits"),
        pytest.param({"cache-control": "no-cache", "expires": "Sun, 31 Dec 99999 23:59:59 GMT"}, id="absurd-expires"),
        pytest.param({"cache-control": "", "expires": "x" * 10_000, "date": "\x00"}, id="garbage-dates"),
    ],
)
async def test_hostile_cache_headers_never_escape(shell, build, issuer, clock, key_server, headers):
    answer = mock_transport(key_server).handler

    def handler(request: httpx.Request) -> httpx.Response:
        response = answer(request)
        if request.url.path != key_server.jwks_path:
            return response
        raw = [(name, value) for name, value in response.headers.raw if name.lower() != b"cache-control"]
        raw += [(name.encode(), value.encode()) for name, value in headers.items()]
        return httpx.Response(response.status_code, headers=raw, content=response.content)

    transport = httpx.MockTransport(handler)
    verifier = build(transport=transport, async_transport=transport)
    await shell.verify(verifier, issuer.token())
    lifetime = remote_sources(key_sources(verifier))[0].state.expires_at - clock.now
    assert 60 <= lifetime <= 86400


# -- issuers and URLs ----------------------------------------------------------------


def routing_transport(servers: dict[str, KeyServer]) -> httpx.MockTransport:
    handlers = {host: mock_transport(server).handler for host, server in servers.items()}
    return httpx.MockTransport(lambda request: handlers[request.url.host](request))


async def test_multi_issuer_keeps_separate_sets(shell, build, clock):
    one = LocalIssuer("https://one.example.test/", audience=AUDIENCE, clock=clock, keys=[signing_key("RS256", "one")])
    two = LocalIssuer("https://two.example.test/", audience=AUDIENCE, clock=clock, keys=[signing_key("ES256", "two")])
    servers = {"one.example.test": KeyServer(one), "two.example.test": KeyServer(two)}
    transport = routing_transport(servers)
    verifier = build(issuer=[one.issuer, two.issuer], transport=transport, async_transport=transport)
    assert (await shell.verify(verifier, one.token())).issuer == one.issuer
    assert (await shell.verify(verifier, two.token())).issuer == two.issuer
    assert [server.jwks_requests for server in servers.values()] == [1, 1]
    # two's key does not serve one's tokens: an unknown kid for issuer one
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, two.token(iss=one.issuer))
    assert [server.jwks_requests for server in servers.values()] == [2, 1]
    stranger = LocalIssuer(
        "https://three.example.test/", audience=AUDIENCE, clock=clock, keys=[signing_key("RS256", "three")]
    )
    with pytest.raises(InvalidIssuer):
        await shell.verify(verifier, stranger.token())
    assert sum(len(server.requests) for server in servers.values()) == 5


async def test_explicit_jwks_uri_means_no_discovery(shell, build, issuer, key_server):
    verifier = build(jwks_uri="https://issuer.example.test/.well-known/jwks.json")
    await shell.verify(verifier, issuer.token())
    assert (key_server.discovery_requests, key_server.jwks_requests) == (0, 1)


async def test_on_event_receives_each_kind(shell, build, issuer, clock, key_server):
    events: list[Event] = []
    verifier = build(on_event=events.append)
    await shell.verify(verifier, issuer.token())  # discovery_fetched, keys_fetched
    clock.advance(481)
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)  # keys_not_modified
    issuer.rotate("ES256")
    await shell.verify(verifier, issuer.token())  # unknown_kid_refetch
    stranger = LocalIssuer(issuer.issuer, audience=AUDIENCE, clock=clock, keys=[signing_key("ES256", "stranger")])
    with pytest.raises(UnknownKey):
        await shell.verify(verifier, stranger.token())  # unknown_kid_refused (cooldown), token_rejected
    key_server.set_fault("status", status=500)
    clock.advance(700)
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)  # fetch_failed, serving_stale
    with pytest.raises(InvalidIssuer):
        await shell.verify(verifier, issuer.token(iss="https://evil.example.test/"))  # token_rejected
    assert set(kinds(events)) == KEY_EVENT_KINDS
    rejected = [event for event in events if event.kind == EventKind.TOKEN_REJECTED]
    assert [(event.reason, event.details["error"]) for event in rejected] == [
        ("unknown_key", "UnknownKey"),
        ("invalid_issuer", "InvalidIssuer"),
    ]
    assert [event.reason for event in events if event.kind == EventKind.UNKNOWN_KID_REFUSED] == ["cooldown"]
    assert all(event.issuer == issuer.issuer for event in events if event.kind != EventKind.TOKEN_REJECTED)


# -- single flight -------------------------------------------------------------------


def test_50_threads_arriving_cold_cause_one_fetch(issuer, key_server, remote_verifier):
    count_lock, all_arrived = threading.Lock(), threading.Event()
    arrivals = [0]
    answer = mock_transport(key_server).handler

    def slow_until_all_arrived(request: httpx.Request) -> httpx.Response:
        all_arrived.wait(5)  # overlap as many as possible; never required to pass
        return answer(request)

    verifier = remote_verifier(transport=httpx.MockTransport(slow_until_all_arrived))
    tokens = [issuer.token() for _ in range(50)]
    results: list[object] = []
    start = threading.Barrier(50)

    def worker(token: str) -> None:
        start.wait(HANG_LIMIT)
        with count_lock:
            arrivals[0] += 1
            if arrivals[0] == 50:
                all_arrived.set()
        try:
            results.append(verifier.verify(token))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_LIMIT)
    assert not any(thread.is_alive() for thread in threads)
    assert [type(result).__name__ for result in results] == ["AccessToken"] * 50
    assert (key_server.discovery_requests, key_server.jwks_requests) == (1, 1)


async def test_500_tasks_arriving_cold_cause_one_fetch(issuer, key_server, remote_verifier):
    verifier = remote_verifier()
    tokens = [issuer.token() for _ in range(50)] * 10
    results = await asyncio.wait_for(asyncio.gather(*(verifier.verify_async(token) for token in tokens)), HANG_LIMIT)
    assert len(results) == 500
    assert (key_server.discovery_requests, key_server.jwks_requests) == (1, 1)


async def test_cancelled_waiting_task_does_not_cancel_the_shared_fetch(issuer, key_server, remote_verifier):
    gate = Gate(key_server)
    verifier = remote_verifier(transport=gate.transport, async_transport=gate.async_transport)
    gate.close()
    waiting = asyncio.ensure_future(verifier.verify_async(issuer.token()))
    await wait_until(gate.held.is_set, "the cold fetch")
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.open()
    await asyncio.wait_for(verifier.verify_async(issuer.token()), HANG_LIMIT)
    assert key_server.jwks_requests == 1


def test_refresh_cut_short_by_loop_shutdown_is_not_a_failure(issuer, clock, key_server, remote_verifier):
    """``asyncio.run`` cancels a refresh still held at the server when it ends:
    no failure is recorded, no backoff starts, the next loop refreshes at once."""
    events: list[Event] = []
    gate = Gate(key_server)
    verifier = remote_verifier(
        transport=gate.transport, async_transport=gate.async_transport, on_event=events.append, key_cache=options()
    )

    async def start_refresh_and_leave() -> None:
        await verifier.verify_async(issuer.token())
        clock.advance(481)
        gate.close()
        await verifier.verify_async(issuer.token())  # starts the background refresh
        await wait_until(gate.held.is_set, "the background refresh")

    async def verify_and_settle() -> None:
        await verifier.verify_async(issuer.token())
        tasks = [task for remote in remote_sources(key_sources(verifier)) for task in remote.aio.tasks]
        await asyncio.wait_for(asyncio.gather(*tasks), HANG_LIMIT)
        await verifier.aclose()

    asyncio.run(start_refresh_and_leave())  # cancelled while held at the server
    gate.open()
    assert EventKind.FETCH_FAILED not in kinds(events)
    asyncio.run(verify_and_settle())  # the refresh was released: it runs now, without backoff
    assert key_server.jwks_requests == 3
    assert EventKind.FETCH_FAILED not in kinds(events)
    assert key_kinds(events)[-1] == EventKind.KEYS_NOT_MODIFIED


async def test_refresh_task_cancelled_before_it_ran_releases_the_refresh(issuer, clock, key_server, remote_verifier):
    events: list[Event] = []
    verifier = remote_verifier(key_cache=options(), on_event=events.append)
    await verifier.verify_async(issuer.token())
    clock.advance(481)
    await verifier.verify_async(issuer.token())  # spawns the refresh task; it has not run yet
    remote = remote_sources(key_sources(verifier))[0]
    task = remote.aio._task
    assert task is not None and remote.state.refreshing
    task.cancel()  # as a loop that ends first would
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not remote.state.refreshing
    await verifier.verify_async(issuer.token())  # so the next request starts one again
    await asyncio.wait_for(asyncio.gather(*remote.aio.tasks), HANG_LIMIT)
    assert key_server.jwks_requests == 2
    assert EventKind.FETCH_FAILED not in kinds(events)


def test_cold_failure_is_shared_by_all_waiting_threads(issuer, key_server, remote_verifier):
    key_server.set_fault("status", status=500)
    verifier = remote_verifier()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            verifier.verify(issuer.token())
        except KeySetUnavailable as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HANG_LIMIT)
    assert len(errors) == 20
    assert key_server.jwks_requests == 1


# -- prefetch, close, fork ------------------------------------------------------------


async def test_prefetch_warms_discovery_and_keys(shell, build, issuer, key_server):
    verifier = build()
    await shell.prefetch(verifier)
    assert (key_server.discovery_requests, key_server.jwks_requests) == (1, 1)
    await shell.verify(verifier, issuer.token())
    assert len(key_server.requests) == 2


async def test_prefetch_warms_every_issuer(shell, build, clock):
    issuers = [
        LocalIssuer(
            f"https://idp{index}.example.test/",
            audience=AUDIENCE,
            clock=clock,
            keys=[signing_key("ES256", f"idp{index}")],
        )
        for index in range(3)
    ]
    servers = {f"idp{index}.example.test": KeyServer(each) for index, each in enumerate(issuers)}
    transport = routing_transport(servers)
    verifier = build(issuer=[each.issuer for each in issuers], transport=transport, async_transport=transport)
    await shell.prefetch(verifier)
    assert [server.jwks_requests for server in servers.values()] == [1, 1, 1]


async def test_prefetch_failure_raises_key_set_unavailable(shell, build, key_server):
    key_server.set_fault("refuse", target="any")
    verifier = build()
    with pytest.raises(KeySetUnavailable):
        await shell.prefetch(verifier)


def test_close_and_context_manager_close_the_sync_client(issuer, clock, key_server):
    transport = mock_transport(key_server)
    settings = {"issuer": issuer.issuer, "audience": issuer.audience, "clock": clock, "transport": transport}
    verifier = Verifier(**settings)
    verifier.verify(issuer.token())
    client = verifier._clients._sync
    assert client is not None and not client.is_closed
    verifier.close()
    assert client.is_closed
    verifier.verify(issuer.token())  # a closed verifier reopens on demand
    verifier.close()
    with Verifier(**settings) as managed:
        managed.prefetch()
        client = managed._clients._sync
    assert client is not None and client.is_closed


async def test_aclose_and_async_context_manager_close_both_clients(issuer, clock, key_server):
    transport = mock_transport(key_server)
    settings = {
        "issuer": issuer.issuer,
        "audience": issuer.audience,
        "clock": clock,
        "transport": transport,
        "async_transport": transport,
    }
    async with Verifier(**settings) as verifier:
        verifier.verify(issuer.token())  # fetched with the sync client
        issuer.rotate("ES256")
        await verifier.verify_async(issuer.token())  # refetched with the async client
        clients = verifier._clients
        sync_client, async_client = clients._sync, clients._async
    assert sync_client is not None and sync_client.is_closed
    assert async_client is not None and async_client.is_closed


def test_child_after_fork_can_fetch_while_the_parent_held_the_locks(issuer, key_server, remote_verifier):
    """Locks held by a parent thread at fork time (the key set's and the
    verified-token cache's) are rebuilt in the child."""
    verifier = remote_verifier(key_cache=options(timeout=1, connect_timeout=1))
    remote = remote_sources(key_sources(verifier))[0]
    held, release = threading.Event(), threading.Event()

    def hold_locks() -> None:
        with remote.lock, remote.sync._fetch_lock, verifier._cache._lock:
            held.set()
            release.wait(HANG_LIMIT)

    holder = threading.Thread(target=hold_locks)
    holder.start()
    assert held.wait(HANG_LIMIT)
    token = issuer.token()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork() with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: report and leave without running any parent cleanup
        outcome = b"error"
        try:
            outcome = verifier.verify(token).subject.encode()
        except BaseException as exc:
            outcome = type(exc).__name__.encode()
        finally:
            os.write(write_end, outcome)
            os._exit(0)
    os.close(write_end)
    release.set()
    holder.join(HANG_LIMIT)
    try:
        ready, _, _ = select.select([read_end], [], [], HANG_LIMIT)
        if not ready:  # a deadlocked child: end it rather than hang the suite
            os.kill(pid, signal.SIGKILL)
        with os.fdopen(read_end, "rb") as pipe:
            answer = pipe.read() if ready else b"deadlocked"  # EOF when the child exits
    finally:
        _, status = os.waitpid(pid, 0)
    assert answer == b"user-1"
    assert os.waitstatus_to_exitcode(status) == 0


# -- redirects: a hop never gains plain http the operator did not configure ----------------------


def _redirecting(issuer: LocalIssuer, hops: dict[str, str], seen: list[str]) -> httpx.MockTransport:
    """Answers each URL of *hops* with a 302 to its value; any other URL with the JWKS."""

    def handle(request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        seen.append(url)
        if url in hops:
            return httpx.Response(302, headers={"location": hops[url]})
        return httpx.Response(200, json=issuer.jwks())

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "target",
    [
        pytest.param("http://127.0.0.1:8080/jwks", id="ipv4-loopback"),
        pytest.param("http://localhost:8080/jwks", id="localhost"),
        pytest.param("http://[::1]:8080/jwks", id="ipv6-loopback"),
        pytest.param("http://keys.localhost/jwks", id="localhost-subdomain"),
    ],
)
async def test_redirect_from_https_to_loopback_http_is_refused(shell, issuer, clock, target):
    """An https key server cannot send the fetch to plain http on loopback
    (where an unauthenticated local service may answer)."""
    seen: list[str] = []
    transport = _redirecting(issuer, {"https://keys.example.test/jwks": target}, seen)
    verifier = shell.track(
        Verifier(
            issuer=issuer.issuer,
            audience=issuer.audience,
            jwks_uri="https://keys.example.test/jwks",
            key_cache=KeyCacheOptions(max_redirects=3),
            clock=clock,
            transport=transport,
            async_transport=transport,
        )
    )
    with pytest.raises(KeySetUnavailable) as info:
        await shell.verify(verifier, issuer.token())
    assert info.value.description.endswith("a redirect pointed to a URL that is not allowed")
    assert seen == ["https://keys.example.test/jwks"]


@pytest.mark.parametrize(
    ("jwks_uri", "target", "insecure"),
    [
        pytest.param("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/b", False, id="loopback-to-loopback"),
        pytest.param("https://keys.example.test/a", "https://keys.example.test/b", False, id="https-to-https"),
        pytest.param("https://keys.example.test/a", "http://10.0.0.7/b", True, id="allow-insecure-http"),
    ],
)
async def test_redirects_the_configuration_allows_are_followed(shell, issuer, clock, jwks_uri, target, insecure):
    seen: list[str] = []
    transport = _redirecting(issuer, {jwks_uri: target}, seen)
    verifier = shell.track(
        Verifier(
            issuer=issuer.issuer,
            audience=issuer.audience,
            jwks_uri=jwks_uri,
            key_cache=KeyCacheOptions(max_redirects=3),
            allow_insecure_http=insecure,
            clock=clock,
            transport=transport,
            async_transport=transport,
        )
    )
    assert (await shell.verify(verifier, issuer.token())).subject == "user-1"
    assert seen == [jwks_uri, target]


@pytest.mark.parametrize(
    ("fault", "status"),
    [pytest.param("status", 500, id="jwks-500"), pytest.param("status", 502, id="jwks-502")],
)
async def test_unavailable_descriptions_hide_the_key_servers_status(shell, build, issuer, key_server, fault, status):
    """A 503 body says the keys are unavailable, not what an internal
    service answered; the status is in the log."""
    key_server.set_fault(fault, status=status)
    with pytest.raises(KeySetUnavailable) as info:
        await shell.verify(build(), issuer.token())
    assert str(status) not in info.value.description
    assert info.value.description == (
        "signing keys are temporarily unavailable: the key set URL answered with an error status"
    )
