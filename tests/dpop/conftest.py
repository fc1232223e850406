"""Keys, a bound token and a ``check`` helper shared by the DPoP tests.

Every test runs on a fixed clock (``NOW``): a proof made by a key from
``dpop_key`` has ``iat == NOW`` unless the test says otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from jwt_guard._dpop import DPoPOptions, DPoPProof, verify_proof
from jwt_guard.testing import LocalIssuer
from jwt_guard.testing._dpop import DPoPKey, bound_token
from tests.conftest import make_issuer

NOW = 1_800_000_000
URL = "https://api.example.test/items"
#: Algorithms DPoPOptions accepts by default, then the rest.
DEFAULT_ALGS = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
OTHER_ALGS = ("ES512", "RS384", "RS512", "PS384", "PS512")

_KEYS: dict[str, DPoPKey] = {}


def dpop_key(alg: str = "ES256") -> DPoPKey:
    """A session-wide client key per algorithm, on the fixed clock."""
    if alg not in _KEYS:
        _KEYS[alg] = DPoPKey(alg, clock=lambda: NOW)
    return _KEYS[alg]


@pytest.fixture(scope="session")
def key() -> DPoPKey:
    return dpop_key("ES256")


@pytest.fixture(scope="session")
def dpop_issuer() -> LocalIssuer:
    return make_issuer("ES256", clock=lambda: NOW)


@pytest.fixture(scope="session")
def token(dpop_issuer: LocalIssuer, key: DPoPKey) -> str:
    """An access token bound to ``key``."""
    return bound_token(dpop_issuer, key, scope="read")


@pytest.fixture
def check(key: DPoPKey, token: str) -> Callable[..., DPoPProof]:
    """Verify a proof for ``GET URL`` with ``token`` bound to ``key``; any
    argument of ``verify_proof`` can be overridden."""

    def run(proof: str | None, **overrides: Any) -> DPoPProof:
        arguments: dict[str, Any] = {
            "method": "GET",
            "url": URL,
            "options": DPoPOptions(),
            "now": NOW,
            "leeway": 0,
            "access_token": token,
            "jkt": key.thumbprint,
        }
        arguments.update(overrides)
        return verify_proof(proof, **arguments)

    return run
