"""examples/dpop_client.py against examples/dpop_app.py, and docs/dpop.md showing that client."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import httpx
import pytest

from jwt_guard import DPoPOptions
from jwt_guard._keys import thumbprint
from jwt_guard.testing import LocalIssuer
from tests.asgi.conftest import serve
from tests.asgi.test_examples import load

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
SECRET = b"d" * 32


@pytest.fixture
def idp() -> LocalIssuer:
    return LocalIssuer("https://idp.example.test/", audience="https://api.example.test")


async def test_the_client_talks_to_the_dpop_only_api(idp):
    client_module, app_module = load("dpop_client"), load("dpop_app")
    key = client_module.DPoPKey()
    with httpx.Client(transport=idp.mock_transport()) as http:
        token = client_module.bound_token(http, idp.discovery()["token_endpoint"], key, scope="read")
    verifier = idp.verifier(dpop=DPoPOptions(required=True, nonce_secret=SECRET))
    app = app_module.create_app(verifier)
    auth = client_module.DPoPAuth(key, token)
    sent: list[int] = []

    async def count(response: httpx.Response) -> None:
        sent.append(response.status_code)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://api.test", event_hooks={"response": [count]}
    ) as c:
        first = await c.get("/me?x=1", auth=auth)
        second = await c.get("/me", auth=auth)
        as_bearer = await c.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert first.status_code == 200 and second.status_code == 200
    assert sent[:3] == [401, 200, 200]  # one use_dpop_nonce round trip, then none
    assert first.json()["jkt"] == thumbprint(key.jwk)
    assert as_bearer.status_code == 401


def test_the_client_over_real_sockets(idp):
    """main()'s steps with both servers on 127.0.0.1: discovery, a bound token, two calls."""
    client_module, app_module = load("dpop_client"), load("dpop_app")
    with idp.serve() as issuer_server:
        app = app_module.create_app(idp.verifier(dpop=DPoPOptions(required=True)))
        with serve(app) as api, httpx.Client(trust_env=False) as http:
            metadata = http.get(issuer_server.issuer_url.rstrip("/") + "/.well-known/openid-configuration").json()
            key = client_module.DPoPKey()
            token = client_module.bound_token(http, metadata["token_endpoint"], key)
            auth = client_module.DPoPAuth(key, token)
            answers = [http.get(api.url + "/me", auth=auth) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert json.loads(answers[0].text)["jkt"] == json.loads(answers[1].text)["jkt"]


def test_the_docs_show_the_client_as_it_runs():
    """docs/dpop.md carries the example's auth flow and key class verbatim."""
    client_module = load("dpop_client")
    docs = (ROOT / "docs" / "dpop.md").read_text(encoding="utf-8")
    for name in ("DPoPKey", "DPoPAuth", "bound_token"):
        source = inspect.getsource(getattr(client_module, name))
        assert source in docs, f"docs/dpop.md no longer shows examples/dpop_client.py's {name}"
