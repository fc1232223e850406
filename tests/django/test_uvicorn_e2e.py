"""End to end: Django's ASGI application behind jwt_guard.django, served by a
real uvicorn on 127.0.0.1, with keys fetched over real HTTP from a local issuer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.asgi import get_asgi_application

from jwt_guard import ProtectedResource, Verifier
from jwt_guard.testing import LocalIssuer, LocalServer
from tests.asgi.conftest import serve
from tests.conftest import make_issuer
from tests.django.conftest import bearer


@pytest.fixture
def live(request, clock, django_settings) -> Iterator[tuple[LocalIssuer, Any]]:
    """(issuer, uvicorn server) for Django's ASGI application; an indirect
    parameter adds ``JWT_GUARD`` entries."""
    issuer = make_issuer("RS256", clock=clock)
    issuer.issuer = "http://127.0.0.1/issuer"
    with LocalServer(issuer) as key_server:
        verifier = Verifier(issuer=key_server.issuer_url, audience=issuer.audience, clock=clock)
        entries = getattr(request, "param", {})
        django_settings(VERIFIER=verifier, EXCLUDE_PATHS=["/admin/"], REALM="api", **entries)
        django_app = get_asgi_application()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            # Django answers no lifespan events: close the verifier's async
            # client on the server's own event loop when it stops.
            if scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await verifier.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
            await django_app(scope, receive, send)

        with serve(app) as server:
            yield issuer, server
        verifier.close()


@pytest.mark.parametrize(
    ("path", "case", "status", "error"),
    [
        pytest.param("/async-function", "none", 401, None, id="no-credentials"),
        pytest.param("/async-function", "two-headers", 400, "invalid_request", id="two-authorization-headers"),
        pytest.param("/async-function", "expired", 401, "invalid_token", id="expired"),
        pytest.param("/async-function", "weak", 403, "insufficient_scope", id="async-view-missing-scope"),
        pytest.param("/async-function", "read", 200, None, id="async-view"),
        pytest.param("/method-decorator", "read", 200, None, id="sync-method-decorator"),
        pytest.param("/api/items", "weak", 403, "insufficient_scope", id="rest-framework-missing-scope"),
        pytest.param("/api/items", "items", 200, None, id="rest-framework"),
        pytest.param("/admin/", "none", 200, None, id="admin-excluded"),
    ],
)
def test_django_asgi_under_uvicorn(live, path, case, status, error):
    issuer, server = live
    headers: list[tuple[str, str]] = {
        "none": [],
        "two-headers": [("Authorization", f"Bearer {issuer.token()}")] * 2,
        "expired": list(bearer(issuer.token(expires_in=-3600)).items()),
        "weak": list(bearer(issuer.token(scope="other")).items()),
        "read": list(bearer(issuer.token(scope="read", sub="ada")).items()),
        "items": list(bearer(issuer.token(scope="read:items", sub="ada")).items()),
    }[case]
    with httpx.Client(base_url=server.url, timeout=10) as client:
        response = client.get(path, headers=headers)
    assert response.status_code == status, response.text
    if status == 200:
        if path != "/admin/":
            assert "ada" in response.text
        return
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    if error is None:
        assert "error=" not in challenge
    else:
        assert f'error="{error}"' in challenge


RESOURCE = ProtectedResource(
    resource="https://api.example.test", authorization_servers=["https://issuer.example.test/"]
)


@pytest.mark.parametrize("live", [{"RESOURCE": RESOURCE}], indirect=True)
def test_resource_metadata_under_uvicorn(live):
    """The server's raw path decides: an encoded slash is not the document."""
    _, server = live
    path = "/.well-known/oauth-protected-resource"
    with httpx.Client(base_url=server.url, timeout=10) as client:
        document = client.get(path, headers={"Authorization": "Bearer x.y.z"})
        head = client.head(path)
        post = client.post(path)
        encoded = client.get("/.well-known%2Foauth-protected-resource")
        refused = client.get("/async-function")
    assert document.status_code == 200 and document.json()["resource"] == "https://api.example.test"
    assert document.headers["access-control-allow-origin"] == "*"
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(document.content))
    assert post.status_code == 405
    assert encoded.status_code == 404 and encoded.json() == {"error": "not_found"}
    assert refused.headers["www-authenticate"] == (
        'Bearer realm="api", resource_metadata="https://api.example.test/.well-known/oauth-protected-resource"'
    )
