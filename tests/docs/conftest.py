"""A local issuer served on 127.0.0.1, and the environment the documented
applications read with ``Verifier.from_env()`` pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from jwt_guard import Verifier
from jwt_guard.testing import LocalIssuer, LocalServer
from tests.conftest import signing_key

AUDIENCE = "https://api.example.test"


@dataclass
class Environment:
    """The served issuer, and the verifiers ``Verifier.from_env`` made."""

    issuer: LocalIssuer
    server: LocalServer
    made: list[Verifier]

    def headers(self, scope: str | None) -> dict[str, str]:
        """No header for ``scope=None``, else a token of alice with *scope* ("" for none)."""
        if scope is None:
            return {}
        return {"Authorization": f"Bearer {self.issuer.token(scope=scope or None, sub='alice')}"}


@pytest.fixture
def from_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Environment]:
    """``JWT_GUARD_ISSUER`` / ``JWT_GUARD_AUDIENCE`` for a local issuer on
    127.0.0.1; records each verifier ``Verifier.from_env`` builds."""
    issuer = LocalIssuer(audience=AUDIENCE, keys=[signing_key("RS256", "docs-key")])
    made: list[Verifier] = []
    original = Verifier.from_env

    def recording(*args: object, **kwargs: object) -> Verifier:
        verifier = original(*args, **kwargs)  # type: ignore[arg-type]
        made.append(verifier)
        return verifier

    with LocalServer(issuer) as server:
        for name in ("JWT_GUARD_JWKS_URI", "JWT_GUARD_KEYS_FILE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("JWT_GUARD_ISSUER", server.issuer_url)
        monkeypatch.setenv("JWT_GUARD_AUDIENCE", AUDIENCE)
        monkeypatch.setattr(Verifier, "from_env", recording)
        yield Environment(issuer, server, made)
        for verifier in made:
            verifier.close()
