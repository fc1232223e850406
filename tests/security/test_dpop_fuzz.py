"""The DPoP atheris harness (fuzz/dpop_fuzz.py), run without atheris: its
seeds and random mutations through every mode, any bytes from hypothesis,
and proof that it would report an exception outside the contract."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.security.dpop_attacks import dpop_corpus

HARNESS = Path(__file__).resolve().parents[2] / "fuzz" / "dpop_fuzz.py"


@pytest.fixture(scope="module")
def harness() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("dpop_fuzz", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    module.close()


def test_the_genuine_proof_is_accepted(harness):
    """The seeds start from a request the verifier accepts (else the fuzzer explores refusals only)."""
    target = harness.target()
    context = target.context(
        target.key.proof("GET", harness.URL, access_token=target.token, nonce=target.nonce), "GET", harness.URL
    )
    assert target.verifier.verify(target.token, dpop=context).scopes == {"read"}


def test_seeds_and_mutations_without_atheris(harness):
    seeds = harness.seeds()
    assert len(seeds) >= len(dpop_corpus())
    assert {data[0] for data in seeds} == set(range(harness.MODES))
    assert harness.selftest(400, seed=11) == len(seeds) + 400


@given(data=st.binary(max_size=700))
def test_any_bytes(harness, data):
    harness.check(data)


@pytest.mark.parametrize("mode", range(9))
def test_foreign_exceptions_escape(harness, monkeypatch, mode):
    """The harness would report a non-contract exception as a crash."""
    target = harness.target()

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("not a contract error")

    async def broken_async(*args: object, **kwargs: object) -> None:
        raise TypeError("not a contract error")

    monkeypatch.setattr(target.verifier, "verify", broken)
    monkeypatch.setattr(target.verifier, "verify_async", broken_async)
    with pytest.raises(TypeError):
        harness.check(bytes([mode]) + target.proof.encode())
