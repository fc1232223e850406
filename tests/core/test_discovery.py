"""OpenID Connect / RFC 8414 discovery through both shells, against the
MockTransport: path order, fallback, issuer match, jwks_uri rules, caching."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from jwt_guard import Event, EventKind, InvalidIssuer, KeyCacheOptions, KeySetUnavailable, Verifier
from jwt_guard._reasons import details_of
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, mock_transport
from tests.conftest import AUDIENCE, signing_key
from tests.core.conftest import Shell

pytestmark = pytest.mark.anyio

OIDC = "/.well-known/openid-configuration"
RFC8414 = "/.well-known/oauth-authorization-server"


@pytest.fixture
def build(clock: FakeClock, shell: Shell) -> Callable[..., Verifier]:
    """A verifier for *server*'s issuer, fetching through a MockTransport."""

    def make(server: KeyServer, **settings: Any) -> Verifier:
        transport = mock_transport(server)
        settings.setdefault("issuer", server.issuer.issuer)
        settings.setdefault("audience", server.issuer.audience)
        settings.setdefault("clock", clock)
        settings.setdefault("key_cache", KeyCacheOptions(jitter=0))
        return shell.track(Verifier(transport=transport, async_transport=transport, **settings))

    return make


def paths(server: KeyServer) -> list[str]:
    return [request.path for request in server.requests]


def issuer_at(url: str, clock: FakeClock) -> LocalIssuer:
    issuer = LocalIssuer(url, audience=AUDIENCE, clock=clock, keys=[signing_key("ES256")])
    return issuer


async def test_openid_configuration_is_tried_first(shell, build, issuer):
    server = KeyServer(issuer, discovery="both")
    await shell.verify(build(server), issuer.token())
    assert paths(server) == [OIDC, server.jwks_path]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://idp.example.test/", [OIDC, RFC8414], id="host"),
        pytest.param("https://idp.example.test/tenant-a", ["/tenant-a" + OIDC, RFC8414 + "/tenant-a"], id="path"),
        pytest.param(
            "https://idp.example.test/tenant-a/", ["/tenant-a" + OIDC, RFC8414 + "/tenant-a"], id="path-slash"
        ),
        pytest.param(
            "https://idp.example.test/realms/dev/x",
            ["/realms/dev/x" + OIDC, RFC8414 + "/realms/dev/x"],
            id="nested-path",
        ),
    ],
)
async def test_rfc8414_fallback_on_4xx(shell, build, clock, url, expected):
    issuer = issuer_at(url, clock)
    server = KeyServer(issuer, discovery="rfc8414")
    token = await shell.verify(build(server), issuer.token())
    assert token.issuer == url
    assert paths(server) == [*expected, server.jwks_path]


@pytest.mark.parametrize("code", [400, 403, 404, 410])
async def test_discovery_fails_when_both_forms_answer_4xx(shell, build, issuer, code):
    server = KeyServer(issuer)
    server.set_fault("status", target="discovery", status=code)
    with pytest.raises(KeySetUnavailable) as info:
        await shell.verify(build(server), issuer.token())
    assert info.value.description.endswith("discovery answered with an error status")
    assert paths(server) == [OIDC, RFC8414]


@pytest.mark.parametrize(
    ("fault", "status", "description"),
    [
        pytest.param("status", 500, "discovery answered with an error status", id="5xx"),
        pytest.param("status", 503, "discovery answered with an error status", id="503"),
        pytest.param("invalid_json", 500, "the discovery document is not a JSON object", id="invalid-json"),
        pytest.param("not_jwks", 500, "the discovery document is not a JSON object", id="json-array"),
        pytest.param("refuse", 500, "the server could not be reached", id="refused"),
        pytest.param("hang", 500, "the server did not answer in time", id="timeout"),
    ],
)
async def test_other_discovery_failures_do_not_fall_back(shell, build, issuer, fault, status, description):
    server = KeyServer(issuer)
    server.set_fault(fault, target="discovery", status=status)
    with pytest.raises(KeySetUnavailable) as info:
        await shell.verify(build(server), issuer.token())
    assert info.value.description == f"signing keys are temporarily unavailable: {description}"
    assert paths(server) == [OIDC]


async def test_issuer_mismatch_is_a_configuration_error_that_says_what_to_set(shell, build, issuer, caplog):
    events: list[Event] = []
    server = KeyServer(issuer)
    server.set_fault("issuer_mismatch", target="discovery")
    verifier = build(server, on_event=events.append)
    with caplog.at_level(logging.ERROR, logger="jwt_guard"), pytest.raises(KeySetUnavailable) as info:
        await shell.verify(verifier, issuer.token())
    assert info.value.status_code == 503
    # An issuer on another host stays out of the 503 body; the log names it.
    assert info.value.description == (
        "signing keys are unavailable: the discovery document names an issuer on another host "
        "(a configuration error: the server log says which issuer to configure)"
    )
    assert info.value.retry_after == 300  # the stale_backoff ceiling, not a retry every second
    assert (
        "jwt_guard: configuration error for https://issuer.example.test/: the discovery document names issuer "
        "'https://impostor.example.net/', not 'https://issuer.example.test/' (issuers must match exactly): "
        "configure issuer='https://impostor.example.net/' (JWT_GUARD_ISSUER with Verifier.from_env), "
        "or make the provider publish 'https://issuer.example.test/' if that is its public URL; next attempt in 300 s"
    ) in caplog.text
    assert details_of(info.value)["discovered_issuer"] == "https://impostor.example.net/"
    assert all(record.levelno == logging.ERROR for record in caplog.records)
    assert server.jwks_requests == 0  # keys are never taken from a foreign document
    assert [(event.kind, event.reason) for event in events] == [
        (EventKind.FETCH_FAILED, "issuer_mismatch"),
        (EventKind.VERIFICATION_FAILED, "keys_unavailable"),
    ]
    with pytest.raises(KeySetUnavailable):
        await shell.verify(verifier, issuer.token())
    assert server.discovery_requests == 1  # no new attempt within the backoff


async def test_issuer_with_a_trailing_slash_refuses_tokens_before_any_fetch(shell, build, clock):
    """The provider says ``http://127.0.0.1:9000``; the configuration adds a
    slash. Its tokens are refused as from a foreign issuer (401), and the key
    server is never asked anything."""
    issuer = issuer_at("http://127.0.0.1:9000", clock)
    server = KeyServer(issuer)
    verifier = build(server, issuer="http://127.0.0.1:9000/")
    for _ in range(3):
        with pytest.raises(InvalidIssuer) as info:
            await shell.verify(verifier, issuer.token())
        assert info.value.status_code == 401
        assert info.value.error == "invalid_token"
    assert details_of(info.value) == {
        "claim": "iss",
        "expected": ["http://127.0.0.1:9000/"],
        "received": "http://127.0.0.1:9000",
    }
    assert server.requests == []


async def test_trailing_slash_prefetch_fails_with_what_to_configure(shell, build, clock):
    issuer = issuer_at("http://127.0.0.1:9000", clock)
    server = KeyServer(issuer)
    verifier = build(server, issuer="http://127.0.0.1:9000/")
    with pytest.raises(KeySetUnavailable) as info:
        await shell.prefetch(verifier)
    assert "(issuers must match exactly, trailing slash included)" in info.value.description
    assert info.value.description.endswith(
        "configure issuer='http://127.0.0.1:9000' (JWT_GUARD_ISSUER with Verifier.from_env)"
    )
    assert details_of(info.value)["configuration"] is True
    assert server.jwks_requests == 0


@pytest.mark.parametrize(
    ("jwks_uri", "allow_http", "accepted"),
    [
        pytest.param("http://keys.example.net/.well-known/jwks.json", False, False, id="http-non-loopback-refused"),
        pytest.param("http://keys.example.net/.well-known/jwks.json", True, True, id="http-allowed-explicitly"),
        # The https issuer's document cannot claim the operator's loopback exemption.
        pytest.param("http://127.0.0.1:9/.well-known/jwks.json", False, False, id="http-loopback"),
        pytest.param("http://localhost:9/.well-known/jwks.json", False, False, id="http-localhost"),
        pytest.param("https://keys.example.net/.well-known/jwks.json", False, True, id="https-other-host"),
    ],
)
async def test_discovered_jwks_uri_rules(shell, build, issuer, jwks_uri, allow_http, accepted):
    server = KeyServer(issuer, jwks_uri=jwks_uri)
    verifier = build(server, allow_insecure_http=allow_http)
    if accepted:
        await shell.verify(verifier, issuer.token())
        assert paths(server) == [OIDC, server.jwks_path]
    else:
        with pytest.raises(KeySetUnavailable) as info:
            await shell.verify(verifier, issuer.token())
        assert info.value.description.endswith("the discovery document has no acceptable jwks_uri")
        assert paths(server) == [OIDC]


async def test_discovery_is_cached_for_its_ttl_then_refetched(shell, build, issuer, clock):
    server = KeyServer(issuer)
    verifier = build(server, key_cache=KeyCacheOptions(jitter=0, discovery_ttl=3600))
    await shell.verify(verifier, issuer.token())
    clock.advance(481)  # a key refresh: discovery still cached
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert (server.discovery_requests, server.jwks_requests) == (1, 2)
    clock.advance(3600 - 481)  # discovery is due with the next key refresh
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert (server.discovery_requests, server.jwks_requests) == (2, 3)


async def test_default_discovery_ttl_outlives_many_key_refreshes(shell, build, issuer, clock):
    server = KeyServer(issuer)
    verifier = build(server)
    await shell.verify(verifier, issuer.token())
    for _ in range(5):
        clock.advance(3 * 3600)
        await shell.verify(verifier, issuer.token())
        await shell.settle(verifier)
    assert (server.discovery_requests, server.jwks_requests) == (1, 6)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("status", id="5xx"),
        pytest.param("refuse", id="refused"),
        pytest.param("issuer_mismatch", id="issuer-mismatch"),
        pytest.param("invalid_json", id="invalid-json"),
    ],
)
async def test_discovery_failure_keeps_a_known_jwks_uri_working(shell, build, issuer, clock, fault, caplog):
    events: list[Event] = []
    server = KeyServer(issuer)
    verifier = build(server, key_cache=KeyCacheOptions(jitter=0, discovery_ttl=600), on_event=events.append)
    await shell.verify(verifier, issuer.token())
    server.set_fault(fault, target="discovery")
    old_key = issuer.signing_key
    issuer.rotate("ES256", retire_old=True)
    clock.advance(700)
    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        await shell.verify(verifier, issuer.token(key=old_key))  # stale but servable: starts the refresh
        await shell.settle(verifier)
    assert "keeping jwks_uri" in caplog.text
    assert (server.discovery_requests, server.jwks_requests) == (2, 2)
    assert EventKind.FETCH_FAILED not in [event.kind for event in events]
    await shell.verify(verifier, issuer.token())  # the refreshed set has the new key


async def test_rediscovered_jwks_uri_is_followed(shell, build, issuer, clock):
    server = KeyServer(issuer)
    verifier = build(server, key_cache=KeyCacheOptions(jitter=0, discovery_ttl=600))
    await shell.verify(verifier, issuer.token())
    server.advertised_jwks_uri = "https://issuer.example.test" + server.moved_path
    clock.advance(700)
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert paths(server) == [OIDC, server.jwks_path, OIDC, server.moved_path]
    moved = server.requests[-1].headers
    assert "if-none-match" not in moved  # validators belong to the old URL
    clock.advance(481)
    await shell.verify(verifier, issuer.token())
    await shell.settle(verifier)
    assert paths(server)[-1] == server.moved_path
    assert "if-none-match" in server.requests[-1].headers


async def test_discovery_request_headers(shell, build, issuer):
    server = KeyServer(issuer)
    await shell.verify(build(server), issuer.token())
    headers = server.requests[0].headers
    assert "application/json" in headers["accept"]
    assert headers["accept-encoding"] == "identity"
    assert headers["user-agent"] == "jwt-guard"
    assert "authorization" not in headers and "cookie" not in headers


async def test_cold_discovery_failure_backs_off(shell, build, issuer, clock):
    server = KeyServer(issuer)
    server.set_fault("status", target="discovery", status=500)
    verifier = build(server)
    for _ in range(3):
        with pytest.raises(KeySetUnavailable):
            await shell.verify(verifier, issuer.token())
    assert server.discovery_requests == 1
    server.heal()
    clock.advance(1)
    await shell.verify(verifier, issuer.token())
    assert (server.discovery_requests, server.jwks_requests) == (2, 1)
