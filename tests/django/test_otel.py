"""Django and REST framework refusals counted by jwt_guard.otel, under the
WSGI and the ASGI handler."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.django.conftest import bearer
from tests.otel.conftest import Telemetry, attrs

STATUS = "http.response.status_code"


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorded = Telemetry()
    yield recorded
    recorded.shutdown()


def test_refusals_are_counted_with_the_django_adapter(send, django_settings, issuer, make_verifier, telemetry):
    verifier = telemetry.instrument(make_verifier())
    django_settings(VERIFIER=verifier)
    assert send.get("/whoami").status_code == 401
    assert send.get("/whoami", bearer(issuer.token(expires_in=-3600))).status_code == 401
    assert send.get("/api/items", bearer(issuer.token(scope="other"))).status_code == 403
    assert send.get("/api/items", bearer(issuer.token(scope="read:items"))).status_code == 200
    assert telemetry.series("jwt_guard.challenges") == {
        attrs(adapter="django", reason="missing_token", **{STATUS: 401}): 1,
        attrs(adapter="django", reason="expired", **{STATUS: 401}): 1,
    }
    assert telemetry.series("jwt_guard.forbids") == {
        attrs(adapter="django", reason="insufficient_scope", **{STATUS: 403}): 1
    }
