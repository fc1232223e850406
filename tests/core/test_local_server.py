"""End to end over real sockets: LocalServer on 127.0.0.1 (ephemeral port)
and the verifier's own httpx clients, through both shells.

Every fault is answered within bounded time with the right outcome: on a cold
start ``KeySetUnavailable`` (503 semantics), with a good set cached the
verifier keeps verifying. Network timeouts are 0.5 s so that fault tests end
quickly; policy time is a FakeClock.
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwt_guard import Event, EventKind, InvalidIssuer, KeyCacheOptions, KeySetUnavailable, UnknownKey, Verifier
from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer
from tests.conftest import AUDIENCE, signing_key
from tests.core.conftest import HANG_LIMIT, Shell

pytestmark = pytest.mark.anyio


def fast(**overrides: Any) -> KeyCacheOptions:
    """Short network limits so that each fault ends within about a second."""
    settings: dict[str, Any] = {"jitter": 0, "timeout": 0.5, "connect_timeout": 0.5, "discovery_ttl": 60}
    settings.update(overrides)
    return KeyCacheOptions(**settings)


def local_issuer(clock: FakeClock, path: str = "/issuer", alg: str = "RS256") -> LocalIssuer:
    issuer = LocalIssuer(f"http://127.0.0.1{path}", audience=AUDIENCE, clock=clock, keys=[signing_key(alg)])
    return issuer


@pytest.fixture
def issuer(clock: FakeClock) -> LocalIssuer:
    return local_issuer(clock)


@pytest.fixture
def server(issuer: LocalIssuer) -> Iterator[LocalServer]:
    with LocalServer(issuer, hang_limit=5) as running:
        yield running


@pytest.fixture
def build(server: LocalServer, clock: FakeClock, shell: Shell) -> Callable[..., Verifier]:
    """A verifier for ``server`` with its real httpx clients."""

    def make(**settings: Any) -> Verifier:
        settings.setdefault("issuer", server.issuer_url)
        settings.setdefault("audience", AUDIENCE)
        settings.setdefault("clock", clock)
        settings.setdefault("key_cache", fast())
        return shell.track(Verifier(**settings))

    return make


async def bounded(shell: Shell, verifier: Verifier, token: str) -> Any:
    """Verify, failing if the call takes longer than a hang would."""
    started = time.monotonic()
    try:
        if shell.is_async:
            return await asyncio.wait_for(verifier.verify_async(token), HANG_LIMIT)
        return verifier.verify(token)
    finally:
        assert time.monotonic() - started < HANG_LIMIT, "the verifier hung"


def counts(server: LocalServer) -> tuple[int, int]:
    return server.keys.discovery_requests, server.keys.jwks_requests


# -- the core scenarios over real sockets -----------------------------------------


async def test_cold_start_and_fresh_reuse(shell, build, issuer, server):
    assert server.issuer_url.startswith("http://127.0.0.1:")
    verifier = build()
    for _ in range(10):
        token = await bounded(shell, verifier, issuer.token(scope="read"))
        assert token.has_scopes("read")
    assert counts(server) == (1, 1)


@pytest.mark.parametrize("advance", [pytest.param(481, id="refresh-ahead"), pytest.param(700, id="expired")])
async def test_background_refresh_with_etag_and_304(shell, build, issuer, clock, server, advance):
    events: list[Event] = []
    verifier = build(on_event=events.append, key_cache=fast(discovery_ttl=86400))
    await bounded(shell, verifier, issuer.token())
    clock.advance(advance)
    for _ in range(5):
        await bounded(shell, verifier, issuer.token())
    await shell.settle(verifier)
    assert counts(server) == (1, 2)
    assert "if-none-match" in server.keys.requests[-1].headers
    assert [event.kind for event in events if event.kind != EventKind.TOKEN_VERIFIED][-1] == EventKind.KEYS_NOT_MODIFIED


async def test_stopped_server_within_stale_window_keeps_serving(shell, build, issuer, clock, server):
    events: list[Event] = []
    verifier = build(on_event=events.append)
    await bounded(shell, verifier, issuer.token())
    server.stop()
    clock.advance(700)
    await bounded(shell, verifier, issuer.token())
    await shell.settle(verifier)
    await bounded(shell, verifier, issuer.token())
    failed = [event.reason for event in events if event.kind == EventKind.FETCH_FAILED]
    assert failed == ["connect"]
    assert EventKind.SERVING_STALE in [event.kind for event in events]
    server.start()  # same port
    clock.advance(31)
    await bounded(shell, verifier, issuer.token())
    await shell.settle(verifier)
    assert [event.kind for event in events if event.kind != EventKind.TOKEN_VERIFIED][-1] == EventKind.KEYS_NOT_MODIFIED


async def test_stopped_server_beyond_stale_window_is_unavailable(shell, build, issuer, clock, server):
    verifier = build(key_cache=fast(max_stale=3600))
    await bounded(shell, verifier, issuer.token())
    server.stop()
    clock.advance(600 + 3600)
    with pytest.raises(KeySetUnavailable) as info:
        await bounded(shell, verifier, issuer.token())
    assert info.value.retry_after >= 1
    assert info.value.description.startswith("signing keys expired")


async def test_rotation_over_http(shell, build, issuer, clock, server):
    verifier = build()
    old_key = issuer.signing_key
    old = issuer.token(expires_in=3600)
    await bounded(shell, verifier, old)
    issuer.rotate("ES256")
    await bounded(shell, verifier, issuer.token())  # new kid: one refetch
    assert counts(server) == (1, 2)
    issuer.retire(old_key.kid)
    clock.advance(481)
    await bounded(shell, verifier, issuer.token())
    await shell.settle(verifier)  # the scheduled refresh drops the old key
    with pytest.raises(UnknownKey):
        await bounded(shell, verifier, old)


async def test_explicit_jwks_uri_over_http(shell, build, issuer, server):
    verifier = build(jwks_uri=server.jwks_uri)
    await bounded(shell, verifier, issuer.token())
    assert counts(server) == (0, 1)


async def test_multi_issuer_over_two_servers(shell, build, clock, server, issuer):
    other_issuer = local_issuer(clock, "/other", "ES256")
    with LocalServer(other_issuer) as other:
        verifier = build(issuer=[server.issuer_url, other.issuer_url])
        await bounded(shell, verifier, issuer.token())
        await bounded(shell, verifier, other_issuer.token())
        stranger = LocalIssuer("http://127.0.0.1:1/nobody", audience=AUDIENCE, clock=clock, keys=[signing_key("EdDSA")])
        with pytest.raises(InvalidIssuer):
            await bounded(shell, verifier, stranger.token())
        assert counts(server) == (1, 1)
        assert (other.keys.discovery_requests, other.keys.jwks_requests) == (1, 1)
        await shell.close()  # before the second server stops


async def test_prefetch_over_http(shell, build, server):
    verifier = build()
    await shell.prefetch(verifier)
    assert counts(server) == (1, 1)


def test_50_threads_cold_over_http_cause_one_fetch(issuer, server, clock):
    with Verifier(issuer=server.issuer_url, audience=AUDIENCE, clock=clock, key_cache=fast()) as verifier:
        tokens = [issuer.token() for _ in range(50)]
        start = threading.Barrier(50)
        results: list[object] = []

        def worker(token: str) -> None:
            start.wait(HANG_LIMIT)
            try:
                results.append(verifier.verify(token))
            except Exception as exc:
                results.append(exc)

        threads = [threading.Thread(target=worker, args=(token,)) for token in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(HANG_LIMIT)
        assert [type(result).__name__ for result in results] == ["AccessToken"] * 50
    assert counts(server) == (1, 1)


async def test_500_tasks_cold_over_http_cause_one_fetch(issuer, server, clock):
    async with Verifier(issuer=server.issuer_url, audience=AUDIENCE, clock=clock, key_cache=fast()) as verifier:
        tokens = [issuer.token() for _ in range(50)] * 10
        results = await asyncio.wait_for(
            asyncio.gather(*(verifier.verify_async(token) for token in tokens)), HANG_LIMIT
        )
        assert len(results) == 500
    assert counts(server) == (1, 1)


def test_async_use_from_several_event_loops_leaves_no_socket_open(issuer, server, clock):
    """Each ``asyncio.run`` gets its own AsyncClient; the one left behind by a
    finished loop, and the last one after a plain ``close()``, hold no socket."""
    verifier = Verifier(issuer=server.issuer_url, audience=AUDIENCE, clock=clock, key_cache=fast())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        try:
            asyncio.run(verifier.verify_async(issuer.token()))
            issuer.rotate("ES256")
            asyncio.run(verifier.verify_async(issuer.token()))  # a new loop: a new client
        finally:
            verifier.close()
        gc.collect()
    assert [str(warning.message) for warning in caught if warning.category is ResourceWarning] == []
    assert counts(server) == (1, 2)


# -- every fault, cold and cached ---------------------------------------------------

#: (fault, set_fault options, failure reasons accepted)
FAULTS = [
    pytest.param("status", {"status": 500}, {"http_status"}, id="status-500"),
    pytest.param("status", {"status": 404}, {"http_status"}, id="status-404"),
    pytest.param("invalid_json", {}, {"invalid_json"}, id="invalid-json"),
    pytest.param("not_jwks", {}, {"not_jwks"}, id="not-a-jwks"),
    pytest.param("empty_keys", {}, {"no_usable_keys"}, id="empty-keys"),
    pytest.param("huge", {}, {"too_large"}, id="5MiB-streamed"),
    pytest.param("huge_declared", {}, {"too_large"}, id="5MiB-content-length"),
    pytest.param("slow_drip", {"delay": 0.05}, {"timeout"}, id="slow-drip"),
    pytest.param("hang", {}, {"timeout"}, id="hang"),
    pytest.param("refuse", {}, {"transport", "connect"}, id="connection-reset"),
    pytest.param("stopped", {}, {"connect"}, id="connection-refused"),
    pytest.param("redirect", {}, {"http_status"}, id="redirect-not-followed"),
    pytest.param("redirect_loop", {}, {"http_status"}, id="redirect-loop"),
    pytest.param("redirect_http", {}, {"http_status"}, id="redirect-to-http"),
    pytest.param("issuer_mismatch", {"target": "discovery"}, {"issuer_mismatch"}, id="issuer-mismatch"),
]


def apply_fault(server: LocalServer, fault: str, settings: dict[str, Any]) -> None:
    if fault == "stopped":
        server.stop()
    else:
        server.keys.set_fault(fault, **settings)


@pytest.mark.parametrize(("fault", "settings", "reasons"), FAULTS)
async def test_fault_on_cold_start_is_unavailable(shell, build, issuer, server, fault, settings, reasons):
    events: list[Event] = []
    verifier = build(on_event=events.append)
    apply_fault(server, fault, settings)
    with pytest.raises(KeySetUnavailable) as info:
        await bounded(shell, verifier, issuer.token())
    assert info.value.status_code == 503
    # A configuration error is not retried within seconds (stale_backoff ceiling).
    assert info.value.retry_after == (300 if fault == "issuer_mismatch" else 1)
    failed = [event.reason for event in events if event.kind == EventKind.FETCH_FAILED]
    assert len(failed) == 1
    assert failed[0] in reasons
    expected = {"stopped": (0, 0), "issuer_mismatch": (1, 0)}.get(fault, (1, 1))
    assert counts(server) == expected
    with pytest.raises(KeySetUnavailable):
        await bounded(shell, verifier, issuer.token())  # backing off: no new request
    assert counts(server) == expected


@pytest.mark.parametrize(("fault", "settings", "reasons"), FAULTS)
async def test_fault_with_a_cached_set_keeps_verifying(shell, build, issuer, clock, server, fault, settings, reasons):
    events: list[Event] = []
    verifier = build(on_event=events.append)
    await bounded(shell, verifier, issuer.token())
    apply_fault(server, fault, settings)
    clock.advance(700)  # expired, within the stale window; discovery due again
    await bounded(shell, verifier, issuer.token())
    await shell.settle(verifier)
    await bounded(shell, verifier, issuer.token())
    failed = [event.reason for event in events if event.kind == EventKind.FETCH_FAILED]
    if fault == "issuer_mismatch":
        assert failed == []  # the known jwks_uri is kept and the keys refresh
        assert counts(server) == (2, 2)
    else:
        assert len(failed) == 1
        assert failed[0] in reasons
        assert counts(server) == ((1, 1) if fault == "stopped" else (2, 2))


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [
        pytest.param("redirect", None, id="followed"),
        pytest.param("redirect_loop", "redirect", id="loop-stops"),
        pytest.param("redirect_http", "insecure_redirect", id="http-hop-refused"),
    ],
)
async def test_redirects_when_enabled(shell, build, issuer, server, fault, outcome):
    events: list[Event] = []
    verifier = build(on_event=events.append, key_cache=fast(max_redirects=3))
    server.keys.set_fault(fault)
    if outcome is None:
        await bounded(shell, verifier, issuer.token())
        assert server.keys.count(server.keys.moved_path) == 1
        return
    with pytest.raises(KeySetUnavailable):
        await bounded(shell, verifier, issuer.token())
    failed = [event.reason for event in events if event.kind == EventKind.FETCH_FAILED]
    assert failed == [outcome]
    expected_jwks = 4 if fault == "redirect_loop" else 1  # the first request and three hops
    assert counts(server) == (1, expected_jwks)


# -- DNS rebinding: only loopback Host names, with the served port -----------------------------


def _raw_request(port: int, host: str | None, method: str = "GET", path: str = "/", body: bytes = b"") -> int:
    """Send one request with exactly this Host header (None: no Host at all),
    as a page a rebound DNS name points here would; return the status."""
    import socket

    lines = [f"{method} {path} HTTP/1.1"]
    if host is not None:
        lines.append(f"Host: {host}")
    lines += ["Connection: close", f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/x-www-form-urlencoded")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=HANG_LIMIT) as connection:
        connection.sendall(request)
        reply = b""
        while b"\r\n" not in reply:
            chunk = connection.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1])


FORGED_HOSTS = [
    pytest.param("evil.example:{port}", id="attacker-name"),
    pytest.param("evil.example", id="attacker-name-no-port"),
    pytest.param("127.0.0.1.evil.example:{port}", id="loopback-lookalike"),
    pytest.param("dev.localhost:{port}", id="localhost-subdomain"),
    pytest.param("127.0.0.1:{other}", id="other-port"),
    pytest.param("127.0.0.1", id="no-port"),
    pytest.param("localhost:{port}:{port}", id="two-ports"),
    pytest.param("[::1:{port}", id="broken-ipv6"),
    pytest.param("", id="empty"),
    pytest.param(None, id="missing"),
]


@pytest.mark.parametrize("forged", FORGED_HOSTS)
@pytest.mark.parametrize(
    ("method", "target"),
    [
        pytest.param("GET", "discovery", id="discovery"),
        pytest.param("GET", "jwks", id="jwks"),
        pytest.param("POST", "token", id="token"),
    ],
)
def test_foreign_host_header_is_refused(server, forged, method, target):
    """A browser page whose DNS name was rebound to 127.0.0.1 sends its own
    name as Host: it must never reach discovery, the keys or, above all, the
    token endpoint (which mints a token for anyone)."""
    path = {
        "discovery": server.keys.discovery_path,
        "jwks": server.keys.jwks_path,
        "token": "/issuer/oauth/token",
    }[target]
    host = None if forged is None else forged.format(port=server.port, other=server.port + 1)
    before = server.keys.count()
    status = _raw_request(server.port, host, method, path, b"grant_type=client_credentials")
    assert status == 421
    assert server.keys.count() == before  # refused before the issuer saw it


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "LOCALHOST:{port}", "127.0.0.2:{port}"])
def test_loopback_host_names_with_the_served_port_are_answered(server, host):
    status = _raw_request(
        server.port, host.format(port=server.port), "POST", "/issuer/oauth/token", b"grant_type=client_credentials"
    )
    assert status == 200
