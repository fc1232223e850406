"""Introspection calls (RFC 7662) as a histogram and a span each."""

from __future__ import annotations

import pytest

from jwt_guard import Introspection, IntrospectionUnavailable, KeyCacheOptions, Verifier
from jwt_guard.testing import IntrospectionEndpoint, mock_transport
from tests.otel.conftest import attrs

CLIENT_ID, SECRET = "my-api", "s3cret-value"


@pytest.fixture
def endpoint(issuer):
    return IntrospectionEndpoint(issuer, clients={CLIENT_ID: SECRET})


@pytest.fixture
def server(issuer, endpoint):
    return issuer.key_server(introspection=endpoint)


@pytest.fixture
def verifier(issuer, clock, server):
    transport = mock_transport(server)
    made = Verifier(
        issuer=issuer.issuer,
        audience=issuer.audience,
        clock=clock,
        transport=transport,
        key_cache=KeyCacheOptions(jitter=0),
        introspection=Introspection(client_id=CLIENT_ID, client_secret=SECRET),
    )
    yield made
    made.close()


def test_each_introspection_call_is_measured_and_traced(telemetry, verifier, issuer):
    telemetry.instrument(verifier)
    token = issuer.opaque_token(scope="read", sub="alice")
    verifier.verify(token)
    verifier.verify(token)  # answered from the answer cache: no second call
    assert telemetry.series("jwt_guard.introspection.duration") == {attrs(issuer=issuer.issuer, outcome="success"): 1}
    durations = telemetry.series("jwt_guard.verification.duration")
    assert durations == {
        attrs(outcome="success", issuer=issuer.issuer, cache="miss"): 1,
        attrs(outcome="success", issuer=issuer.issuer, cache="hit"): 1,
    }
    [call] = [span for span in telemetry.spans() if span.name == "jwt_guard.introspect"]
    assert dict(call.attributes) == {"jwt_guard.issuer": issuer.issuer, "jwt_guard.outcome": "success"}
    assert not any(token in str(value) for span in telemetry.spans() for value in span.attributes.values())


def test_an_introspection_outage_is_a_failed_call(telemetry, verifier, issuer, server):
    telemetry.instrument(verifier)
    verifier.verify(issuer.token())  # discovery and keys while the server is up
    server.set_fault("status", target="introspection", status=500)
    with pytest.raises(IntrospectionUnavailable):
        verifier.verify(issuer.opaque_token(scope="read"))
    [(attributes, count)] = telemetry.series("jwt_guard.introspection.duration").items()
    assert dict(attributes)["jwt_guard.outcome"] == "failure"
    assert dict(attributes)["jwt_guard.reason"] != "other"
    assert count == 1
    durations = telemetry.series("jwt_guard.verification.duration")
    assert durations[attrs(outcome="failure", reason="introspection_unavailable", cache="miss")] == 1
    [call] = [span for span in telemetry.spans() if span.name == "jwt_guard.introspect"]
    assert call.attributes["error.type"] == dict(attributes)["jwt_guard.reason"]
