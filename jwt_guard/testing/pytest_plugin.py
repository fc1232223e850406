"""pytest fixtures for applications protected by jwt_guard.

Registered automatically (``pytest11`` entry point) when jwt_guard is
installed::

    def test_reads_messages(client, make_token):
        token = make_token(scope="read:messages", sub="alice")
        response = client.get("/messages", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200

Fixtures:

``jwt_issuer``
    a fresh :class:`~jwt_guard.testing.LocalIssuer` (its RSA key is made once
    per session).
``make_token``
    ``make_token(scope=..., sub=..., **claims) -> str`` mints a token.
``jwt_verifier``
    a :class:`~jwt_guard.Verifier` wired to ``jwt_issuer`` through an
    in-process ``httpx.MockTransport`` (discovery and JWKS, sync and async):
    no network, the real fetch-and-cache path.
``auth_header``
    ``auth_header(token=None, **claims) -> dict``: an ``Authorization``
    header, minting a token from *claims* when none is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from jwt_guard._verifier import Verifier
from jwt_guard.testing._issuer import LocalIssuer, SigningKey
from jwt_guard.testing._keyserver import KeyServer
from jwt_guard.testing._network import mock_transport

__all__ = ["auth_header", "jwt_issuer", "jwt_verifier", "make_token"]

ISSUER = "https://issuer.jwt-guard.test/"
AUDIENCE = "https://api.jwt-guard.test"


@pytest.fixture(scope="session")
def _jwt_guard_signing_key() -> SigningKey:
    return SigningKey("RS256", kid="test-key-1")


@pytest.fixture
def jwt_issuer(_jwt_guard_signing_key: SigningKey) -> LocalIssuer:
    """A local issuer for ``https://issuer.jwt-guard.test/``."""
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE)
    issuer._keys = [_jwt_guard_signing_key]  # reuse the session's key
    return issuer


@pytest.fixture
def make_token(jwt_issuer: LocalIssuer) -> Callable[..., str]:
    """Mint a token: ``make_token(scope="read", sub="alice", **claims)``."""

    def make(**claims: Any) -> str:
        return jwt_issuer.token(**claims)

    return make


@pytest.fixture
def jwt_verifier(jwt_issuer: LocalIssuer) -> Iterator[Verifier]:
    """A verifier for ``jwt_issuer`` fetching through a MockTransport."""
    transport = mock_transport(KeyServer(jwt_issuer))
    verifier = Verifier(
        issuer=jwt_issuer.issuer,
        audience=jwt_issuer.audience,
        transport=transport,
        async_transport=transport,
    )
    yield verifier
    verifier.close()


@pytest.fixture
def auth_header(make_token: Callable[..., str]) -> Callable[..., dict[str, str]]:
    """``auth_header(token=None, **claims)`` → ``{"Authorization": "Bearer …"}``."""

    def header(token: str | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {token if token is not None else make_token(**claims)}"}

    return header
