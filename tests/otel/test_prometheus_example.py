"""examples/prometheus_app.py: Prometheus scrapes jwt_guard's series at /metrics."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "prometheus_app.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jwt_guard_example_prometheus_app", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def scrape(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Each sample by name and labels (the exporter's otel_scope_* labels, and
    the empty labels it gives series lacking an attribute, left out)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (
            sample.name,
            frozenset((k, v) for k, v in sample.labels.items() if v and not k.startswith("otel_")),
        ): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_are_scraped_without_a_token(make_verifier, issuer):
    app = load().create_app(make_verifier())
    with TestClient(app) as client:
        assert client.get("/messages").status_code == 401
        token = issuer.token(scope="read:messages", sub="alice")
        response = client.get("/messages", headers={"Authorization": f"Bearer {token}"})
        assert response.json() == {"messages": ["hello, alice"]}
        expired = issuer.token(scope="read:messages", expires_in=-60)
        assert client.get("/messages", headers={"Authorization": f"Bearer {expired}"}).status_code == 401
        samples = scrape(client)
    success = frozenset(
        {("jwt_guard_outcome", "success"), ("jwt_guard_issuer", issuer.issuer), ("jwt_guard_cache", "miss")}
    )
    assert samples["jwt_guard_verification_duration_seconds_count", success] == 1
    failure = frozenset(
        {("jwt_guard_outcome", "failure"), ("jwt_guard_reason", "expired"), ("jwt_guard_cache", "miss")}
    )
    assert samples["jwt_guard_verification_duration_seconds_count", failure] == 1
    challenges = {labels: value for (name, labels), value in samples.items() if name == "jwt_guard_challenges_total"}
    assert {dict(labels)["jwt_guard_reason"]: value for labels, value in challenges.items()} == {
        "missing_token": 1,
        "expired": 1,
    }
    assert all(dict(labels)["jwt_guard_adapter"] == "asgi" for labels in challenges)
    assert not any(token in str(key) for key in samples)


def test_a_second_app_starts_from_zero(make_verifier, issuer):
    """Shutting the app down takes its collector out of the registry: no duplicate series."""
    for _ in range(2):
        app = load().create_app(make_verifier())
        with TestClient(app) as client:
            client.get("/messages", headers={"Authorization": f"Bearer {issuer.token(scope='read:messages')}"})
            samples = scrape(client)
        counts = [
            value for (name, _), value in samples.items() if name == "jwt_guard_verification_duration_seconds_count"
        ]
        assert counts == [1]
