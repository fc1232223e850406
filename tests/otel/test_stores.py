"""DPoP replays and store outages as metrics."""

from __future__ import annotations

import pytest

from jwt_guard import DPoPContext, DPoPOptions, DPoPProofReplayed, StoreUnavailable
from jwt_guard.stores import MemoryStore
from jwt_guard.testing import DPoPKey, FakeClock, bound_token
from tests.conftest import make_issuer
from tests.otel.conftest import attrs

NOW = 1_800_000_000
URL = "https://api.example.test/items"


@pytest.fixture
def setting():
    clock = FakeClock(NOW)
    return make_issuer("ES256", clock=clock), DPoPKey("ES256", clock=clock), clock


def test_a_replayed_proof_is_counted_once(telemetry, setting):
    issuer, key, clock = setting
    store = MemoryStore(clock=clock)
    verifier = telemetry.instrument(issuer.verifier(clock=clock, dpop=DPoPOptions(store=store)))
    token = bound_token(issuer, key, scope="read")
    proof = key.proof("GET", URL, access_token=token)
    verifier.verify(token, dpop=DPoPContext(proof, "GET", URL))
    with pytest.raises(DPoPProofReplayed):
        verifier.verify(token, dpop=DPoPContext(proof, "GET", URL))
    assert telemetry.series("jwt_guard.dpop.replays") == {frozenset(): 1}
    durations = telemetry.series("jwt_guard.verification.duration")
    assert durations[attrs(outcome="failure", reason="dpop_proof_replayed", cache="hit")] == 1
    assert "jwt_guard.store.failures" not in telemetry.metrics()


def test_a_full_replay_store_is_a_store_failure(telemetry, setting):
    issuer, key, clock = setting
    store = MemoryStore(clock=clock, max_replay_records=1)
    verifier = telemetry.instrument(issuer.verifier(clock=clock, dpop=DPoPOptions(store=store)))
    token = bound_token(issuer, key, scope="read")
    verifier.verify(token, dpop=DPoPContext(key.proof("GET", URL, access_token=token), "GET", URL))
    with pytest.raises(StoreUnavailable):
        verifier.verify(token, dpop=DPoPContext(key.proof("GET", URL, access_token=token), "GET", URL))
    assert telemetry.series("jwt_guard.store.failures") == {attrs(result="unavailable", reason="full"): 1}
    durations = telemetry.series("jwt_guard.verification.duration")
    assert durations[attrs(outcome="failure", reason="store_unavailable", cache="hit")] == 1


def test_a_store_shared_by_revocation_and_dpop_is_hooked_once(telemetry, setting):
    issuer, key, clock = setting
    store = MemoryStore(clock=clock, max_replay_records=1)
    verifier = issuer.verifier(clock=clock, dpop=DPoPOptions(store=store), revocation=store)
    telemetry.instrument(verifier)
    token = bound_token(issuer, key, scope="read")
    verifier.verify(token, dpop=DPoPContext(key.proof("GET", URL, access_token=token), "GET", URL))
    with pytest.raises(StoreUnavailable):
        verifier.verify(token, dpop=DPoPContext(key.proof("GET", URL, access_token=token), "GET", URL))
    assert telemetry.series("jwt_guard.store.failures") == {attrs(result="unavailable", reason="full"): 1}


def test_a_store_failing_open_is_counted(telemetry, setting):
    issuer, key, clock = setting
    store = MemoryStore(clock=clock, max_replay_records=1, store_failure="open")
    verifier = telemetry.instrument(issuer.verifier(clock=clock, dpop=DPoPOptions(store=store)))
    token = bound_token(issuer, key, scope="read")
    for _ in range(2):  # the second proof finds the store full: accepted, and reported
        verifier.verify(token, dpop=DPoPContext(key.proof("GET", URL, access_token=token), "GET", URL))
    # The failure itself, and the request accepted despite it.
    assert telemetry.series("jwt_guard.store.failures") == {
        attrs(result="unavailable", reason="full"): 1,
        attrs(result="failed_open", reason="replay_full"): 1,
    }
