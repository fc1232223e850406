"""DPoPOptions: validated once, frozen, keyword-only."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from jwt_guard import ConfigurationError
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard._dpop_options import DEFAULT_PROOF_ALGORITHMS, DPoPOptions


class _Store:
    def claim_once(self, key: str, ttl_seconds: float) -> bool:
        return True

    async def claim_once_async(self, key: str, ttl_seconds: float) -> bool:
        return True


class _SyncOnly:
    def claim_once(self, key: str, ttl_seconds: float) -> bool:
        return True


def test_defaults_match_the_contract() -> None:
    options = DPoPOptions()
    assert (options.required, options.max_age, options.nonce_secret, options.store) == (False, 300, None, None)
    assert options.algorithms == ("ES256", "ES384", "EdDSA", "PS256", "RS256") == DEFAULT_PROOF_ALGORITHMS
    assert options.nonces is None


def test_every_contract_field_by_keyword() -> None:
    store = _Store()
    options = DPoPOptions(
        required=True, max_age=60, nonce_secret=b"x" * 32, store=store, algorithms=["EdDSA", "ES256", "EdDSA"]
    )
    assert options.required is True
    assert options.store is store
    assert options.algorithms == ("EdDSA", "ES256")  # a tuple, duplicates dropped, order kept
    assert isinstance(options.nonces, DPoPNonces)
    assert options.nonces.lifetime == 300


def test_the_stores_fit() -> None:
    from jwt_guard.stores import MemoryStore

    store = MemoryStore()
    assert DPoPOptions(store=store).store is store


def test_frozen_and_keyword_only() -> None:
    options = DPoPOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.max_age = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        DPoPOptions(True)  # type: ignore[misc]


def test_equal_options_compare_equal() -> None:
    assert DPoPOptions(algorithms=["ES256"]) == DPoPOptions(algorithms=("ES256",))
    assert hash(DPoPOptions(nonce_secret=b"x" * 32)) == hash(DPoPOptions(nonce_secret=b"x" * 32))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"required": 1}, "required"),
        ({"required": "yes"}, "required"),
        ({"max_age": 0}, "max_age"),
        ({"max_age": -5}, "max_age"),
        ({"max_age": 3601}, "max_age"),
        ({"max_age": float("nan")}, "max_age"),
        ({"max_age": float("inf")}, "max_age"),
        ({"max_age": True}, "max_age"),
        ({"max_age": "300"}, "max_age"),
        ({"nonce_lifetime": 0}, "nonce_lifetime"),
        ({"algorithms": []}, "at least one"),
        ({"algorithms": "ES256"}, "not a string"),
        ({"algorithms": ["none"]}, "'none'"),
        ({"algorithms": ["HS256"]}, "'HS256'"),
        ({"algorithms": ["ES256", "HS512"]}, "'HS512'"),
        ({"algorithms": ["es256"]}, "'es256'"),
        ({"algorithms": ["Ed25519"]}, "'Ed25519'"),
        ({"algorithms": [None]}, "None"),
        ({"algorithms": [["ES256"]]}, "list of algorithm names"),
        ({"algorithms": 256}, "list of algorithm names"),
        ({"nonce_secret": b"short"}, "32"),
        ({"nonce_secret": "s" * 32}, "32 random bytes"),
        ({"store": object()}, "claim_once"),
        ({"store": _SyncOnly()}, "claim_once_async"),
        ({"store": "redis://127.0.0.1"}, "claim_once"),
    ],
)
def test_bad_configuration(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        DPoPOptions(**kwargs)


@pytest.mark.parametrize("max_age", [1, 0.5, 300, 3600])
def test_max_age_range(max_age: float) -> None:
    assert DPoPOptions(max_age=max_age).max_age == max_age
