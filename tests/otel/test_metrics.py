"""jwt_guard.otel: each event becomes the right series, with bounded, safe attributes."""

from __future__ import annotations

import random
import string
import subprocess
import sys
import threading
from typing import Any

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider

from jwt_guard import AccessToken, JWTGuardError, KeyCacheOptions, Verifier
from jwt_guard._reasons import REASON_CODES
from jwt_guard.otel import instrument
from jwt_guard.stores import MemoryStore
from jwt_guard.testing import KeyServer, LocalIssuer, LocalServer, SigningKey, mock_transport
from tests.conftest import AUDIENCE, signing_key
from tests.otel.conftest import Telemetry, attrs

DURATION = "jwt_guard.verification.duration"


def settle() -> None:
    """Wait for the background key-set refreshes of the sync face."""
    for thread in threading.enumerate():
        if thread.name == "jwt_guard-refresh":
            thread.join(20)
            assert not thread.is_alive(), "a background refresh hangs"


def refuse(verifier: Verifier, token: str) -> JWTGuardError:
    with pytest.raises(JWTGuardError) as info:
        verifier.verify(token)
    return info.value


def _invalid_signature(issuer: LocalIssuer) -> str:
    impostor = SigningKey("RS256", kid=signing_key("RS256").kid)  # same kid, other key
    return issuer.token(key=impostor)


def _too_large(issuer: LocalIssuer) -> str:
    return issuer.token(padding="x" * 20_000)


CASES = [
    pytest.param(lambda issuer: issuer.token(expires_in=-3600), "expired", id="expired"),
    pytest.param(lambda issuer: issuer.token(nbf=issuer.clock() + 3600), "not_yet_valid", id="not-yet-valid"),
    pytest.param(lambda issuer: issuer.token(aud="https://other.example.test"), "invalid_audience", id="audience"),
    pytest.param(lambda issuer: issuer.token(iss="https://evil.example.test/"), "invalid_issuer", id="issuer"),
    pytest.param(lambda issuer: issuer.token(key=signing_key("RS256", "stranger")), "unknown_key", id="unknown-kid"),
    pytest.param(_invalid_signature, "invalid_signature", id="signature"),
    pytest.param(lambda issuer: "abc.def.ghi", "malformed", id="malformed"),
    pytest.param(_too_large, "too_large", id="too-large"),
]


@pytest.mark.parametrize(("make_token", "reason"), CASES)
def test_each_reason_increments_its_own_series(telemetry, make_verifier, issuer, make_token, reason):
    verifier = telemetry.instrument(make_verifier())
    verifier.verify(issuer.token())
    error = refuse(verifier, make_token(issuer))
    assert error is not None
    assert telemetry.series(DURATION) == {
        attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 1,
        attrs(outcome="failure", reason=reason, cache="miss"): 1,
    }
    [failed] = [span for span in telemetry.spans() if span.attributes["jwt_guard.outcome"] == "failure"]
    assert failed.name == "jwt_guard.verify"
    assert failed.attributes["error.type"] == reason
    assert failed.status.is_ok is False


def test_revocation_hits_are_counted(telemetry, make_verifier, issuer, clock):
    store = MemoryStore()
    verifier = telemetry.instrument(make_verifier(revocation=store))
    raw = issuer.token(jti="stolen-1")
    verifier.verify(raw)
    store.revoke_token("stolen-1", issuer=issuer.issuer, expires_at=clock() + 3600)
    refuse(verifier, raw)
    assert telemetry.series("jwt_guard.revocation.hits") == {frozenset(): 1}
    assert telemetry.series(DURATION)[attrs(outcome="failure", reason="revoked", cache="hit")] == 1


def test_result_cache_hits_and_misses(telemetry, make_verifier, issuer):
    """The cache's answer is an attribute of the one measurement each verification makes."""
    verifier = telemetry.instrument(make_verifier())
    raw = issuer.token()
    for _ in range(3):
        verifier.verify(raw)
    verifier.verify(issuer.token(sub="someone-else"))
    assert telemetry.series(DURATION) == {
        attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 2,
        attrs(outcome="success", issuer=issuer.issuer, cache="hit"): 2,
    }
    cached = [span.attributes["jwt_guard.cache"] for span in telemetry.spans()]
    assert cached == ["miss", "hit", "hit", "miss"]


def test_without_a_result_cache_the_cache_attribute_is_absent(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier(result_cache_size=0))
    verifier.verify(issuer.token())
    assert telemetry.series(DURATION) == {attrs(outcome="success", issuer=issuer.issuer): 1}


@pytest.mark.anyio
async def test_the_async_face_is_measured_too(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    await verifier.verify_async(issuer.token())
    with pytest.raises(JWTGuardError):
        await verifier.verify_async(issuer.token(expires_in=-60))
    assert telemetry.series(DURATION) == {
        attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 1,
        attrs(outcome="failure", reason="expired", cache="miss"): 1,
    }


def test_instrumenting_twice_counts_once(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier())
    telemetry.instrument(verifier)
    verifier.verify(issuer.token())
    assert telemetry.series(DURATION) == {attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 1}


def test_instrument_needs_a_verifier():
    with pytest.raises(TypeError, match="Verifier"):
        instrument(object())  # type: ignore[arg-type]


def test_an_existing_on_event_hook_still_receives_every_event(telemetry, make_verifier, issuer):
    seen: list[Any] = []
    verifier = telemetry.instrument(make_verifier(on_event=seen.append))
    verifier.verify(issuer.token())
    assert [event.kind for event in seen] == ["token_verified"]
    assert telemetry.series(DURATION) == {attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 1}


def test_noop_providers_leave_the_verifier_as_it_is(telemetry, make_verifier, issuer):
    verifier = make_verifier()
    instrument(verifier, meter_provider=NoOpMeterProvider(), tracer_provider=NoOpTracerProvider())
    assert "verify" not in vars(verifier)  # the class's own method, untimed
    assert isinstance(verifier.verify(issuer.token()), AccessToken)
    telemetry.instrument(verifier)  # a real provider later still works
    verifier.verify(issuer.token())
    assert telemetry.series(DURATION) == {attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 1}


def test_a_noop_tracer_with_real_metrics_makes_no_spans(telemetry, make_verifier, issuer):
    verifier = make_verifier()
    instrument(verifier, meter_provider=telemetry.meter_provider, tracer_provider=NoOpTracerProvider())
    verifier.verify(issuer.token())
    assert telemetry.series(DURATION) == {attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 1}
    assert telemetry.spans() == ()


def test_without_a_global_provider_verifications_are_counted_not_timed(monkeypatch, make_verifier, issuer):
    """The API alone (no SDK set): no clock read, no event per verification,
    until a provider is set; a hook added meanwhile gets its timed events."""
    from jwt_guard import otel

    monkeypatch.setattr(otel, "_global_meter_unset", lambda: True)
    monkeypatch.setattr(otel, "_global_tracer_unset", lambda: True)
    seen: list[str] = []
    verifier = make_verifier()
    instrument(verifier)
    monkeypatch.setattr(otel.Telemetry, "_verified", lambda self, event: seen.append(event.kind))
    for _ in range(otel.GLOBAL_PROBE * 2):
        verifier.verify(issuer.token())
    assert seen == []
    verifier.add_event_hook(lambda event: seen.append(event.kind))
    verifier.verify(issuer.token())
    assert seen == ["token_verified", "token_verified"]  # the telemetry's hook, then the new one


def test_metrics_start_once_a_global_meter_provider_is_set():
    """In a process of its own (a global provider is set once per process):
    the API's proxies until an SDK is set, then every verification within
    GLOBAL_PROBE of it."""
    code = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from jwt_guard.otel import GLOBAL_PROBE, instrument
from jwt_guard.testing import LocalIssuer

issuer = LocalIssuer("https://issuer.example.test/")
verifier = issuer.verifier()
instrument(verifier)
for _ in range(10):
    verifier.verify(issuer.token())
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

def verified():
    data = reader.get_metrics_data()
    points = [point for resource in (data.resource_metrics if data else []) for scope in resource.scope_metrics
              for metric in scope.metrics if metric.name == "jwt_guard.verification.duration"
              for point in metric.data.data_points]
    return sum(point.count for point in points)

assert verified() == 0
for _ in range(GLOBAL_PROBE):
    verifier.verify(issuer.token())
first = verified()
assert 0 < first < GLOBAL_PROBE, first
for _ in range(7):
    verifier.verify(issuer.token())
assert verified() == first + 7, (first, verified())
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_following_the_global_tracer_provider_once_it_is_set(telemetry, monkeypatch, make_verifier, issuer):
    """Until a global tracer provider is set no span is made; after, within GLOBAL_PROBE verifications."""
    from opentelemetry import trace

    from jwt_guard import otel

    verifier = make_verifier()
    monkeypatch.setattr(otel.trace, "get_tracer", lambda *args: telemetry.tracer_provider.get_tracer("jwt_guard"))
    instrument(verifier, meter_provider=telemetry.meter_provider)
    monkeypatch.setattr(otel.trace, "get_tracer_provider", lambda: trace.ProxyTracerProvider())
    verifier.verify(issuer.token())
    assert telemetry.spans() == ()
    monkeypatch.setattr(otel.trace, "get_tracer_provider", lambda: telemetry.tracer_provider)
    for _ in range(otel.GLOBAL_PROBE):
        verifier.verify(issuer.token())
    assert len(telemetry.spans()) == 1  # the one that probed and every later one
    verifier.verify(issuer.token())
    assert len(telemetry.spans()) == 2


# -- key sets ------------------------------------------------------------------------


def test_a_key_server_outage_shows_as_stale_serving(telemetry, remote_verifier, issuer, clock, key_server):
    verifier = telemetry.instrument(remote_verifier(key_cache=KeyCacheOptions(jitter=0)))
    verifier.verify(issuer.token())
    assert telemetry.series("jwt_guard.keyset.fetches") == {attrs(issuer=issuer.issuer, result="fetched"): 1}
    assert telemetry.series("jwt_guard.keyset.serving_stale") == {attrs(issuer=issuer.issuer): 0}
    [last_success] = telemetry.series("jwt_guard.keyset.last_success").values()
    assert last_success > 1_700_000_000  # Unix time

    key_server.set_fault("status", status=500)
    clock.advance(700)  # past freshness, within the stale window
    verifier.verify(issuer.token())  # served from the last good set
    settle()
    assert telemetry.series("jwt_guard.keyset.fetches") == {
        attrs(issuer=issuer.issuer, result="fetched"): 1,
        attrs(issuer=issuer.issuer, result="failed", reason="http_status"): 1,
    }
    assert telemetry.series("jwt_guard.keyset.stale") == {attrs(issuer=issuer.issuer, reason="http_status"): 1}
    assert telemetry.series("jwt_guard.keyset.serving_stale") == {attrs(issuer=issuer.issuer): 1}
    assert telemetry.series(DURATION) == {attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 2}

    key_server.heal()
    clock.advance(31)  # past the stale backoff
    verifier.verify(issuer.token())
    settle()
    assert telemetry.series("jwt_guard.keyset.serving_stale") == {attrs(issuer=issuer.issuer): 0}
    fetch_spans = [span for span in telemetry.spans() if span.name == "jwt_guard.keyset.fetch"]
    assert [span.attributes["jwt_guard.result"] for span in fetch_spans] == ["fetched", "failed", "not_modified"]
    assert fetch_spans[1].attributes["error.type"] == "http_status"


def test_a_stopped_key_server_on_127_0_0_1_shows_as_stale_serving(telemetry, clock):
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE, clock=clock, keys=[signing_key("RS256")])
    # A stopped server refuses connections at once: the timeouts need no
    # shortening, and the first fetch must not miss them on a busy machine.
    options = KeyCacheOptions(jitter=0)
    with (
        LocalServer(issuer, hang_limit=5) as server,
        Verifier(issuer=server.issuer_url, audience=AUDIENCE, clock=clock, key_cache=options) as verifier,
    ):
        telemetry.instrument(verifier)
        verifier.verify(issuer.token())
        server.stop()
        clock.advance(700)
        verifier.verify(issuer.token())
        settle()
    label = server.issuer_url
    assert telemetry.series("jwt_guard.keyset.fetches") == {
        attrs(issuer=label, result="fetched"): 1,
        attrs(issuer=label, result="failed", reason="connect"): 1,
    }
    assert telemetry.series("jwt_guard.keyset.serving_stale") == {attrs(issuer=label): 1}


def test_unknown_kid_refetches_and_cooldown_refusals(telemetry, remote_verifier, issuer, clock):
    verifier = telemetry.instrument(remote_verifier())
    verifier.verify(issuer.token())
    stranger = LocalIssuer(issuer.issuer, audience=AUDIENCE, clock=clock, keys=[signing_key("ES256", "stranger")])
    refuse(verifier, stranger.token())  # a refetch
    refuse(verifier, stranger.token())  # known absent now: no refetch
    other = LocalIssuer(issuer.issuer, audience=AUDIENCE, clock=clock, keys=[signing_key("ES256", "another")])
    refuse(verifier, other.token())  # within the cooldown
    assert telemetry.series("jwt_guard.keyset.unknown_kid") == {
        attrs(issuer=issuer.issuer, result="refetch"): 1,
        attrs(issuer=issuer.issuer, result="known_absent"): 1,
        attrs(issuer=issuer.issuer, result="cooldown"): 1,
    }
    assert telemetry.series(DURATION)[attrs(outcome="failure", reason="unknown_key", cache="miss")] == 3


def test_a_cold_outage_is_a_failure_not_a_refusal(telemetry, remote_verifier, issuer, key_server):
    key_server.set_fault("status", status=503)
    verifier = telemetry.instrument(remote_verifier())
    refuse(verifier, issuer.token())
    assert telemetry.series(DURATION) == {attrs(outcome="failure", reason="keys_unavailable", cache="miss"): 1}


# -- cardinality and privacy -----------------------------------------------------------


def _garbage(rng: random.Random, issuer: LocalIssuer, index: int) -> str:
    word = "".join(rng.choices(string.ascii_letters + string.digits, k=12))
    kind = index % 4
    if kind == 0:
        return word + "." + word + "." + word
    if kind == 1:
        return issuer.token(headers={"kid": f"kid-{word}"})  # an unknown kid each time
    if kind == 2:
        return issuer.token(iss=f"https://{word}.example.test/", sub=word)
    return issuer.token(aud=f"https://{word}.example.test", client_id=word)


def all_attribute_values(telemetry: Telemetry) -> list[Any]:
    values: list[Any] = []
    for points in telemetry.metrics().values():
        for point in points:
            values.extend((point.attributes or {}).values())
    for span in telemetry.spans():
        values.extend((span.attributes or {}).values())
    return values


def series_counts(telemetry: Telemetry) -> dict[str, int]:
    return {name: len(points) for name, points in telemetry.metrics().items()}


def test_a_flood_of_garbage_tokens_keeps_the_series_bounded(telemetry, remote_verifier, issuer):
    """Random kids, issuers, audiences and junk: the series after 2,000 are those after 200."""
    verifier = telemetry.instrument(remote_verifier())
    rng = random.Random(18)
    sent = [_garbage(rng, issuer, index) for index in range(2000)]
    for raw in sent[:200]:
        refuse(verifier, raw)
    early = series_counts(telemetry)
    for raw in sent[200:]:
        refuse(verifier, raw)
    assert series_counts(telemetry) == early
    points = telemetry.metrics()[DURATION]
    assert sum(point.count for point in points) == 2000
    reasons = {dict(point.attributes)["jwt_guard.reason"] for point in points}
    assert reasons == {"malformed", "unknown_key", "invalid_issuer", "invalid_audience"}
    assert reasons <= set(REASON_CODES.values())
    assert telemetry.series("jwt_guard.keyset.unknown_kid") == {
        attrs(issuer=issuer.issuer, result="refetch"): 1,
        attrs(issuer=issuer.issuer, result="cooldown"): 499,
    }
    values = {str(value) for value in all_attribute_values(telemetry)}
    assert len(values) <= 20
    parts = {part for raw in sent for part in raw.split(".") if len(part) >= 8}
    assert not [part for part in parts if any(part in value for value in values)]


def test_no_attribute_holds_the_token_a_key_or_the_subject(telemetry, remote_verifier, issuer, key_server):
    verifier = telemetry.instrument(remote_verifier())
    raw = issuer.token(sub="alice@example.test", client_id="client-42")
    verifier.verify(raw)
    refuse(verifier, issuer.token(sub="bob@example.test", expires_in=-60))
    jwk = issuer.jwks()["keys"][0]
    secrets = [raw, *raw.split("."), jwk["n"], jwk["e"], jwk["kid"], "alice", "bob", "client-42"]
    values = [str(value) for value in all_attribute_values(telemetry)]
    assert values
    for secret in secrets:
        assert not any(secret in value for value in values), secret


def test_the_subject_and_client_go_on_the_span_only_when_asked(telemetry, make_verifier, issuer):
    verifier = telemetry.instrument(make_verifier(), record_subject=True)
    raw = issuer.token(sub="alice@example.test", client_id="client-42")
    verifier.verify(raw)
    [span] = telemetry.spans()
    assert span.attributes["enduser.id"] == "alice@example.test"
    assert span.attributes["jwt_guard.client_id"] == "client-42"
    assert not any(raw in str(value) for value in span.attributes.values())
    for points in telemetry.metrics().values():  # never on a metric
        for point in points:
            assert "alice@example.test" not in (point.attributes or {}).values()


def test_a_second_key_server_issuer_is_other_unless_configured(telemetry, clock):
    """Issuers come from the configuration, never from a token's claims."""
    issuer = LocalIssuer("https://one.example.test/", audience=AUDIENCE, clock=clock, keys=[signing_key("RS256")])
    server = KeyServer(issuer)
    transport = mock_transport(server)
    verifier = Verifier(issuer=issuer.issuer, audience=AUDIENCE, clock=clock, transport=transport)
    telemetry.instrument(verifier)
    verifier.verify(issuer.token())
    refuse(verifier, issuer.token(iss="https://two.example.test/"))
    issuers = {dict(point.attributes).get("jwt_guard.issuer") for point in telemetry.metrics()[DURATION]}
    assert issuers == {issuer.issuer, None}
    verifier.close()


def test_without_instrument_opentelemetry_is_never_imported():
    """A verifier with or without an event hook runs without importing OpenTelemetry."""
    code = (
        "import sys, jwt_guard, jwt_guard.asgi, jwt_guard.wsgi\n"
        "from jwt_guard.testing import LocalIssuer\n"
        "issuer = LocalIssuer('https://issuer.example.test/')\n"
        "verifier = issuer.verifier(on_event=lambda event: None)\n"
        "verifier.verify(issuer.token())\n"
        "assert not [name for name in sys.modules if name.startswith('opentelemetry')], 'imported'\n"
        "assert 'jwt_guard.otel' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
