"""Opaque tokens through the Verifier (RFC 7662): routing, discovery, client
authentication, caching, single flight, the rate limit and failures, each
run through ``verify`` (threads) and ``verify_async`` (asyncio) against the
test kit's introspection endpoint over ``httpx.MockTransport``."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from jwt_guard import (
    AccessToken,
    Event,
    ExpiredToken,
    InactiveToken,
    Introspection,
    IntrospectionUnavailable,
    InvalidAudience,
    InvalidToken,
    KeyCacheOptions,
    MalformedToken,
    TokenTooLarge,
    Verifier,
)
from jwt_guard.testing import FakeClock, IntrospectionEndpoint, KeyServer, LocalIssuer, SigningKey, mock_transport
from tests.core.conftest import HANG_LIMIT, Shell

pytestmark = pytest.mark.anyio

CLIENT_ID, SECRET = "my-api", "s3cret-value"
CLIENT_KEY = SigningKey("ES256", kid="api-key")


@pytest.fixture
def endpoint(issuer: LocalIssuer) -> IntrospectionEndpoint:
    return IntrospectionEndpoint(issuer, clients={CLIENT_ID: SECRET}, key_clients={"jwt-api": CLIENT_KEY.public_jwk()})


@pytest.fixture
def server(issuer: LocalIssuer, endpoint: IntrospectionEndpoint) -> KeyServer:
    return issuer.key_server(introspection=endpoint)


@pytest.fixture
def build(issuer: LocalIssuer, clock: FakeClock, server: KeyServer, shell: Shell) -> Callable[..., Verifier]:
    def make(*, transport: httpx.MockTransport | None = None, **options: Any) -> Verifier:
        transport = transport or mock_transport(server)
        options.setdefault("issuer", issuer.issuer)
        options.setdefault("audience", issuer.audience)
        options.setdefault("clock", clock)
        options.setdefault("transport", transport)
        options.setdefault("async_transport", transport)
        options.setdefault("key_cache", KeyCacheOptions(jitter=0))
        introspection = options.pop("intro", {})
        introspection.setdefault("client_id", CLIENT_ID)
        if introspection.get("auth") != "private_key_jwt":
            introspection.setdefault("client_secret", SECRET)
        options.setdefault("introspection", Introspection(**introspection))
        return shell.track(Verifier(**options))

    return make


def calls(server: KeyServer) -> int:
    return server.count("/oauth/introspect")


# -- routing and the result --------------------------------------------------------


async def test_opaque_token_is_introspected(issuer, build, server, shell):
    verifier = build()
    token = issuer.opaque_token(scope="read write", sub="alice", client_id="web-app")
    result = await shell.verify(verifier, token)
    assert isinstance(result, AccessToken)
    assert result.subject == "alice"
    assert result.issuer == issuer.issuer
    assert result.audience == (issuer.audience,)
    assert result.client_id == "web-app"
    assert result.scopes == {"read", "write"}
    assert result.has_scopes("read")
    assert result.expires_at is not None
    assert result.raw == token
    assert dict(result.header) == {}
    assert "active" not in result.claims
    assert token not in repr(result)
    assert (server.discovery_requests, calls(server)) == (1, 1)


async def test_jwts_are_still_verified_locally(issuer, build, server, shell):
    verifier = build()
    result = await shell.verify(verifier, issuer.token(scope="read"))
    assert result.header["typ"] == "at+jwt"
    assert calls(server) == 0
    with pytest.raises(MalformedToken):
        await shell.verify(verifier, "a..c")  # JWS-shaped: never sent to the endpoint
    assert calls(server) == 0


async def test_without_introspection_opaque_tokens_stay_malformed(issuer, remote_verifier, shell):
    verifier = shell.track(remote_verifier())
    with pytest.raises(MalformedToken):
        await shell.verify(verifier, issuer.opaque_token())


@pytest.mark.parametrize(
    ("token", "error"),
    [
        pytest.param("x" * 9000, TokenTooLarge, id="too-large"),
        pytest.param("abc def", MalformedToken, id="space"),
        pytest.param("tök", MalformedToken, id="non-ascii"),
        pytest.param("ab=c", MalformedToken, id="padding-inside"),
        pytest.param("", MalformedToken, id="empty"),
    ],
)
async def test_tokens_outside_b64token_are_refused_without_a_call(build, server, shell, token, error):
    with pytest.raises(error):
        await shell.verify(build(), token)
    assert calls(server) == 0


async def test_bytes_tokens_are_introspected(issuer, build, shell):
    verifier = build()
    token = issuer.opaque_token()
    if shell.is_async:
        result = await verifier.verify_async(token.encode())
    else:
        result = verifier.verify(token.encode())
    assert result.raw == token


async def test_explicit_endpoint_needs_no_discovery(issuer, build, server, endpoint, shell):
    verifier = build(intro={"endpoint": endpoint.url})
    await shell.verify(verifier, issuer.opaque_token())
    assert server.discovery_requests == 0
    assert calls(server) == 1


async def test_validators_run_on_introspected_tokens_and_cache_hits(issuer, build, shell):
    seen: list[str | None] = []

    def refuse_bob(token: AccessToken) -> bool:
        seen.append(token.subject)
        return token.subject != "bob"

    verifier = build(validators=[refuse_bob])
    alice = issuer.opaque_token(sub="alice")
    await shell.verify(verifier, alice)
    await shell.verify(verifier, alice)
    with pytest.raises(InvalidToken):
        await shell.verify(verifier, issuer.opaque_token(sub="bob"))
    assert seen == ["alice", "alice", "bob"]


async def test_answers_are_validated_like_jwts(issuer, build, server, shell):
    verifier = build()
    with pytest.raises(InvalidAudience):
        await shell.verify(verifier, issuer.opaque_token(aud="https://other.example"))
    with pytest.raises(InvalidAudience):
        await shell.verify(verifier, issuer.opaque_token(aud=None))
    expired = issuer.opaque_token(expires_in=-120)  # the issuer itself says inactive
    with pytest.raises(InactiveToken):
        await shell.verify(verifier, expired)


# -- client authentication ------------------------------------------------------------


@pytest.mark.parametrize("auth", ["client_secret_basic", "client_secret_post", "private_key_jwt"])
async def test_each_client_authentication_method(issuer, build, endpoint, shell, auth):
    intro: dict[str, Any] = {"auth": auth}
    if auth == "private_key_jwt":
        intro.update(client_id="jwt-api", private_key=CLIENT_KEY.private_pem(), private_key_id=CLIENT_KEY.kid)
    verifier = build(intro=intro)
    for _ in range(2):  # a new assertion per call: the server's jti check passes twice
        await shell.verify(verifier, issuer.opaque_token())
    assert [(call.method, call.authenticated) for call in endpoint.calls] == [(auth, True)] * 2


async def test_refused_credentials_are_503_and_named_in_the_log(issuer, build, shell, caplog):
    verifier = build(intro={"client_secret": "wrong"})
    with caplog.at_level(logging.ERROR, logger="jwt_guard"), pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(verifier, issuer.opaque_token())
    assert caught.value.status_code == 503
    assert caught.value.retry_after >= 1
    assert "credentials" not in caught.value.description  # clients are not told
    assert any("refused client 'my-api'" in record.getMessage() for record in caplog.records)
    assert SECRET not in caplog.text


# -- caching ---------------------------------------------------------------------------


async def test_active_answers_are_cached_by_digest(issuer, build, server, shell):
    verifier = build()
    token = issuer.opaque_token(scope="read")
    first = await shell.verify(verifier, token)
    second = await shell.verify(verifier, token)
    assert second.claims == first.claims
    assert second.raw == token
    assert calls(server) == 1
    cache = verifier._introspector.cache
    assert list(cache.entries) == [hashlib.sha256(token.encode()).digest()]
    assert token not in repr(cache.entries)


async def test_cached_answers_expire_with_the_ttl(issuer, build, server, clock, shell):
    verifier = build(intro={"cache_ttl": 30})
    token = issuer.opaque_token()
    await shell.verify(verifier, token)
    clock.advance(29)
    await shell.verify(verifier, token)
    assert calls(server) == 1
    clock.advance(1)
    await shell.verify(verifier, token)
    assert calls(server) == 2


async def test_cached_answers_never_outlive_exp(issuer, build, server, clock, shell):
    verifier = build(intro={"cache_ttl": 3600})
    token = issuer.opaque_token(expires_in=100)
    await shell.verify(verifier, token)
    clock.advance(100)
    with pytest.raises(InactiveToken):  # asked again: the issuer says it expired
        await shell.verify(verifier, token)
    assert calls(server) == 2


async def test_our_exp_check_applies_to_answers(issuer, build, clock, shell):
    # The server still calls the token active; our clock (with leeway) disagrees.
    verifier = build(clock=lambda: clock() + 3600)
    with pytest.raises(ExpiredToken):
        await shell.verify(verifier, issuer.opaque_token(expires_in=100))


async def test_inactive_answers_are_cached_briefly(issuer, build, server, clock, shell):
    verifier = build(intro={"negative_ttl": 5})
    token = issuer.opaque_token()
    issuer.revoke(token)
    for _ in range(3):
        with pytest.raises(InactiveToken):
            await shell.verify(verifier, token)
    assert calls(server) == 1
    clock.advance(5)
    with pytest.raises(InactiveToken):
        await shell.verify(verifier, token)
    assert calls(server) == 2


async def test_revocation_shows_once_the_cache_lets_go(issuer, build, server, clock, shell):
    verifier = build(intro={"cache_ttl": 60})
    token = issuer.opaque_token()
    await shell.verify(verifier, token)
    issuer.revoke(token)
    await shell.verify(verifier, token)  # the cached answer, as documented
    clock.advance(60)
    with pytest.raises(InactiveToken):
        await shell.verify(verifier, token)
    token2 = issuer.opaque_token()
    await shell.verify(verifier, token2)
    issuer.revoke(token2)
    verifier.clear_cache()
    with pytest.raises(InactiveToken):
        await shell.verify(verifier, token2)


async def test_cache_size_zero_asks_every_time(issuer, build, server, shell):
    verifier = build(intro={"cache_size": 0})
    token = issuer.opaque_token()
    await shell.verify(verifier, token)
    verifier._introspector._flights.clear()  # the finished call no longer answers joiners
    await shell.verify(verifier, token)
    assert calls(server) == 2


# -- single flight ---------------------------------------------------------------------


class Held:
    """An introspection endpoint that holds its answers until released."""

    def __init__(self, server: KeyServer) -> None:
        self.answer = mock_transport(server).handler
        self.release = threading.Event()
        self.transport = httpx.MockTransport(self._sync)
        self.async_transport = httpx.MockTransport(self._async)

    def _sync(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/introspect"):
            self.release.wait(HANG_LIMIT)
        return self.answer(request)

    async def _async(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/introspect"):
            while not self.release.is_set():
                await asyncio.sleep(0.002)
        return self.answer(request)


def test_100_threads_with_one_new_token_make_one_call(issuer, server, clock):
    held = Held(server)
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        clock=clock,
        transport=held.transport,
        introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET),
    )
    token = issuer.opaque_token(scope="read")
    results: list[object] = []
    arrived = threading.Barrier(101)

    def worker() -> None:
        arrived.wait(HANG_LIMIT)
        try:
            results.append(verifier.verify(token))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(100)]
    for thread in threads:
        thread.start()
    arrived.wait(HANG_LIMIT)
    held.release.set()
    for thread in threads:
        thread.join(HANG_LIMIT)
    verifier.close()
    assert not any(thread.is_alive() for thread in threads)
    assert [type(result).__name__ for result in results] == ["AccessToken"] * 100
    assert (server.discovery_requests, calls(server)) == (1, 1)


async def test_100_tasks_with_one_new_token_make_one_call(issuer, server, clock):
    held = Held(server)
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        clock=clock,
        async_transport=held.async_transport,
        introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET),
    )
    token = issuer.opaque_token(scope="read")
    tasks = [asyncio.ensure_future(verifier.verify_async(token)) for _ in range(100)]
    await asyncio.sleep(0.05)
    held.release.set()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), HANG_LIMIT)
    await verifier.aclose()
    assert [type(result).__name__ for result in results] == ["AccessToken"] * 100
    assert (server.discovery_requests, calls(server)) == (1, 1)


async def test_a_cancelled_request_does_not_cancel_the_shared_call(issuer, server, clock):
    held = Held(server)
    verifier = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        clock=clock,
        async_transport=held.async_transport,
        introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET),
    )
    token = issuer.opaque_token()
    leader = asyncio.ensure_future(verifier.verify_async(token))
    await asyncio.sleep(0.02)
    follower = asyncio.ensure_future(verifier.verify_async(token))
    await asyncio.sleep(0.02)
    leader.cancel()
    held.release.set()
    result = await asyncio.wait_for(follower, HANG_LIMIT)
    assert result.raw == token
    assert leader.cancelled()
    assert calls(server) == 1
    await verifier.aclose()


# -- the unknown-token flood --------------------------------------------------------------


async def test_unknown_tokens_beyond_the_rate_get_503_and_cached_ones_still_pass(issuer, build, server, clock, shell):
    events: list[Event] = []
    verifier = build(intro={"rate": 1, "burst": 3}, on_event=events.append)
    known = issuer.opaque_token()
    await shell.verify(verifier, known)
    for _ in range(2):
        with pytest.raises(InactiveToken):
            await shell.verify(verifier, "random-" + issuer.opaque_token())
    assert calls(server) == 3
    with pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(verifier, "random-" + issuer.opaque_token())
    assert caught.value.retry_after == 1
    assert calls(server) == 3  # refused without a call
    assert (await shell.verify(verifier, known)).raw == known  # cached: unaffected
    assert any(event.kind == "introspection_rate_limited" for event in events)
    clock.advance(1)
    await shell.verify(verifier, issuer.opaque_token())
    assert calls(server) == 4


# -- failures: 503, never 401 or 500 --------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "options"),
    [
        pytest.param("status", {"status": 500}, id="500"),
        pytest.param("status", {"status": 404}, id="404"),
        pytest.param("invalid_json", {}, id="garbage"),
        pytest.param("not_jwks", {}, id="json-array"),
        pytest.param("huge", {}, id="oversized-streamed"),
        pytest.param("huge_declared", {}, id="oversized-declared"),
        pytest.param("hang", {}, id="hang"),
        pytest.param("refuse", {}, id="refused"),
        pytest.param("redirect", {}, id="redirect"),
    ],
)
async def test_endpoint_failures_are_503(issuer, build, server, shell, fault, options, caplog):
    verifier = build()
    server.set_fault(fault, target="introspection", **options)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"), pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(verifier, issuer.opaque_token())
    assert caught.value.status_code == 503
    assert caught.value.retry_after >= 1
    assert "introspection" in caplog.text


async def test_after_a_failure_new_tokens_wait_for_the_backoff(issuer, build, server, clock, shell):
    verifier = build()
    good = issuer.opaque_token()
    await shell.verify(verifier, good)
    server.set_fault("status", target="introspection", status=503)
    with pytest.raises(IntrospectionUnavailable):
        await shell.verify(verifier, issuer.opaque_token())
    assert calls(server) == 2
    server.heal()
    with pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(verifier, issuer.opaque_token())
    assert calls(server) == 2  # backing off: no call
    assert caught.value.retry_after >= 1
    assert (await shell.verify(verifier, good)).raw == good  # cached tokens keep working
    clock.advance(caught.value.retry_after)
    await shell.verify(verifier, issuer.opaque_token())
    assert calls(server) == 3


async def test_the_servers_retry_after_is_followed(issuer, build, server, clock, shell):
    verifier = build()
    answer = mock_transport(server).handler

    def busy(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/introspect"):
            return httpx.Response(429, headers={"retry-after": "20"})
        return answer(request)

    verifier = build(transport=httpx.MockTransport(busy))
    with pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(verifier, issuer.opaque_token())
    assert caught.value.retry_after == 20


async def test_discovery_failures_are_503(issuer, build, server, shell):
    server.set_fault("status", target="discovery", status=500)
    with pytest.raises(IntrospectionUnavailable):
        await shell.verify(build(), issuer.opaque_token())


async def test_metadata_without_an_endpoint_is_503(issuer, build, shell, caplog):
    plain = issuer.key_server()  # no introspection endpoint advertised
    verifier = build(transport=mock_transport(plain))
    with caplog.at_level(logging.ERROR, logger="jwt_guard"), pytest.raises(IntrospectionUnavailable):
        await shell.verify(verifier, issuer.opaque_token())
    assert "introspection_endpoint" in caplog.text


async def test_prefetch_discovers_the_endpoint(issuer, build, server, endpoint, shell):
    verifier = build()
    await shell.prefetch(verifier)
    assert verifier._introspector._endpoint == endpoint.url


# -- signed answers (RFC 9701) ------------------------------------------------------------


async def test_signed_answers_are_verified_with_the_issuers_keys(issuer, build, server, endpoint, shell):
    endpoint.signed = True
    verifier = build(intro={"require_signed": True})
    result = await shell.verify(verifier, issuer.opaque_token(scope="read"))
    assert result.scopes == {"read"}
    assert [call.signed for call in endpoint.calls] == [True]
    assert server.jwks_requests == 1


async def test_signed_answers_from_a_stranger_are_503(issuer, build, server, endpoint, clock, shell, caplog):
    impostor = LocalIssuer(issuer.issuer, audience=issuer.audience, clock=clock)
    endpoint.issuer = impostor  # signs with a key the issuer never published
    endpoint.signed = True
    impostor_token = impostor.opaque_token()
    verifier = build()
    with caplog.at_level(logging.ERROR, logger="jwt_guard"), pytest.raises(IntrospectionUnavailable):
        await shell.verify(verifier, impostor_token)
    assert "did not verify" in caplog.text


async def test_unsigned_answers_are_refused_when_signatures_are_required(issuer, build, endpoint, shell):
    endpoint.signed = False
    with pytest.raises(IntrospectionUnavailable):
        await shell.verify(build(intro={"require_signed": True}), issuer.opaque_token())


# -- configuration ---------------------------------------------------------------------


def test_several_issuers_need_the_introspecting_one_named(issuer):
    options = Introspection(client_id=CLIENT_ID, client_secret=SECRET)
    issuers = [issuer.issuer, "https://other.example.test/"]
    with pytest.raises(Exception, match="several issuers"):
        Verifier(issuer=issuers, audience="a", introspection=options)
    with pytest.raises(Exception, match="one of the verifier's issuers"):
        Verifier(
            issuer=issuers,
            audience="a",
            introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET, issuer="https://x.test/"),
        )
    verifier = Verifier(
        issuer=issuers,
        audience="a",
        introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET, issuer=issuers[1]),
    )
    assert verifier._introspector.issuer == issuers[1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"endpoint": "http://idp.example.test/introspect"}, "https", id="plain-http-endpoint"),
        pytest.param({"endpoint": "ftp://idp/introspect"}, "http", id="not-http"),
    ],
)
def test_bad_endpoints_fail_at_construction(issuer, options, message):
    with pytest.raises(Exception, match=message):
        Verifier(
            issuer=issuer.issuer,
            audience="a",
            introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET, **options),
        )


def test_a_non_url_issuer_needs_an_explicit_endpoint(issuer):
    with pytest.raises(Exception, match="introspection_endpoint is discovered"):
        Verifier(
            issuer="accounts.example.test",
            audience="a",
            keys=issuer.jwks(),
            introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET),
        )


def test_introspection_must_be_an_introspection(issuer):
    with pytest.raises(Exception, match="must be an Introspection"):
        Verifier(issuer=issuer.issuer, audience="a", introspection={"client_id": "x"})


# -- diagnostics -------------------------------------------------------------------------


async def test_check_reports_the_endpoint_and_the_credentials(build, endpoint, server, shell):
    from jwt_guard._keysource import run_async, run_sync

    async def check(verifier: Verifier) -> tuple[str, str, str]:
        flow = verifier._introspector.check_flow()
        return await run_async(flow) if shell.is_async else run_sync(flow)

    assert await check(build()) == (endpoint.url, "ok", "client 'my-api' (client_secret_basic) accepted")
    endpoint_url, verdict, detail = await check(build(intro={"client_secret": "wrong"}))
    assert (endpoint_url, verdict) == (endpoint.url, "refused")
    assert "client 'my-api'" in detail
    server.set_fault("status", target="introspection", status=500)
    assert (await check(build()))[1] == "unavailable"
    server.set_fault("status", target="discovery", status=500)
    assert (await check(build()))[:2] == ("-", "unavailable")


# -- URL provenance and 503 bodies (security review) ---------------------------------------


@pytest.mark.parametrize(
    "named",
    [
        pytest.param("http://127.0.0.1:9/oauth/introspect", id="ipv4-loopback"),
        pytest.param("http://localhost:9/oauth/introspect", id="localhost"),
        pytest.param("http://introspect.localhost/oauth/introspect", id="localhost-subdomain"),
    ],
)
async def test_an_https_issuers_metadata_cannot_name_a_plain_http_endpoint(issuer, build, server, shell, named):
    """The metadata of an https issuer is the server's word, not the
    operator's: a plain-http introspection_endpoint (loopback included) is
    never called, and the token (sent in the form) never goes there."""
    answer = mock_transport(server).handler
    requested: list[str] = []

    def rewritten(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        response = answer(request)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            document = response.json()
            document["introspection_endpoint"] = named
            return httpx.Response(200, json=document)
        return response

    verifier = build(transport=httpx.MockTransport(rewritten))
    with pytest.raises(IntrospectionUnavailable):
        await shell.verify(verifier, issuer.opaque_token())
    assert named not in requested
    assert calls(server) == 0


@pytest.mark.parametrize("status", [500, 502, 404])
async def test_unavailable_descriptions_hide_the_endpoints_status(issuer, build, server, shell, status, caplog):
    server.set_fault("status", target="introspection", status=status)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"), pytest.raises(IntrospectionUnavailable) as caught:
        await shell.verify(build(), issuer.opaque_token())
    assert str(status) not in caught.value.description
    assert f"HTTP {status}" in caplog.text  # the detail goes to the log
