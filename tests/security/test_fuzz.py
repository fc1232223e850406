"""Structured fuzzing where the core property tests do not reach.

``tests/core/test_properties.py`` fuzzes a single-issuer verifier with
static keys. Here the same strategies (``tests/strategies.py``) meet the
other paths a request can take:

* keys fetched over discovery + JWKS, where an unknown ``kid`` triggers a
  refetch (cooldown off, so every mutated ``kid`` really fetches);
* several issuers, where the unverified ``iss`` picks the key set before
  the signature is checked;
* mutations of every attack in the corpus, not only of valid tokens;
* the ``Authorization`` header parser feeding the verifier, as adapters do;
* the atheris harness in ``fuzz/`` itself (run here without atheris).

The property is always the contract: a token comes back, or a
``JWTGuardError`` subclass (here always an ``InvalidToken`` or
``InvalidRequest``: the key server is healthy), and nothing else escapes.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import random
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from jwt_guard import AccessToken, InvalidRequest, InvalidToken, KeyCacheOptions, Verifier
from jwt_guard._guard import parse_authorization
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, mock_transport
from tests.security.attacks import AttackKit, corpus
from tests.strategies import (
    authorization_values,
    claim_sets,
    garbage_inputs,
    mutated_tokens,
    token68s,
    token_mutants,
)

NOW = 1_800_000_000
TENANT_A = "https://tenant-a.fuzz.test/"
TENANT_B = "https://tenant-b.fuzz.test/"
AUDIENCE = "https://api.fuzz.test"
HARNESS = Path(__file__).resolve().parents[2] / "fuzz" / "verify_fuzz.py"


class World:
    """Two tenants with their own keys and key servers, and verifiers of
    every shape: remote single-issuer, remote multi-issuer, static multi-issuer."""

    def __init__(self) -> None:
        self.clock = FakeClock(NOW)
        self.a = LocalIssuer(TENANT_A, audience=AUDIENCE, algorithm="EdDSA", kid="tenant-a", clock=self.clock)
        self.b = LocalIssuer(TENANT_B, audience=AUDIENCE, algorithm="ES256", kid="tenant-b", clock=self.clock)
        servers = {"tenant-a.fuzz.test": KeyServer(self.a), "tenant-b.fuzz.test": KeyServer(self.b)}
        transports = {host: mock_transport(server) for host, server in servers.items()}
        self.transport = httpx.MockTransport(lambda request: transports[request.url.host].handler(request))
        options = KeyCacheOptions(unknown_kid_cooldown=0)
        self.remote = self._verifier(issuer=TENANT_A, key_cache=options)
        self.remote_multi = self._verifier(issuer=[TENANT_A, TENANT_B], key_cache=options)
        keys = {"keys": self.a.jwks()["keys"] + self.b.jwks()["keys"]}
        self.static_multi = Verifier(issuer=[TENANT_A, TENANT_B], audience=AUDIENCE, keys=keys, clock=self.clock)
        self.verifiers = {
            "remote": self.remote,
            "remote-multi": self.remote_multi,
            "static-multi": self.static_multi,
        }
        self.token_a = self.a.token(scope="read")
        self.token_b = self.b.token(scope="read")

    def _verifier(self, **options: Any) -> Verifier:
        return Verifier(
            audience=AUDIENCE,
            clock=self.clock,
            transport=self.transport,
            async_transport=self.transport,
            result_cache_size=0,
            **options,
        )

    def close(self) -> None:
        for verifier in self.verifiers.values():
            verifier.close()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    made = World()
    yield made
    made.close()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    # Module scope: hypothesis refuses function-scoped fixtures in @given tests.
    return "asyncio"


@pytest.fixture(scope="module")
def attack_tokens() -> list[tuple[str, str]]:
    issuer = LocalIssuer("https://issuer.fuzz.test/", audience=AUDIENCE, algorithm="EdDSA", clock=FakeClock(NOW))
    kit = AttackKit(issuer)
    return [(attack.name, attack.token(kit)) for attack in corpus() if len(attack.token(kit)) < 9000]


def _outcome(verifier: Verifier, value: Any) -> AccessToken | InvalidToken:
    try:
        return verifier.verify(value)
    except InvalidToken as error:
        return error


VERIFIERS = st.sampled_from(["remote", "remote-multi", "static-multi"])
# Keys and tokens are made afresh in each process, and the mutation
# strategies draw differently for different token text: examples saved by an
# earlier run would replay as different data (FlakyStrategyDefinition).
fresh = settings(database=None)


def test_controls(world):
    for name in ("remote-multi", "static-multi"):
        verifier = world.verifiers[name]
        assert verifier.verify(world.token_a).issuer == TENANT_A
        assert verifier.verify(world.token_b).issuer == TENANT_B
    assert world.remote.verify(world.token_a).issuer == TENANT_A
    assert isinstance(_outcome(world.remote, world.token_b), InvalidToken)


@given(name=VERIFIERS, value=garbage_inputs())
def test_garbage_meets_every_key_path(world, name, value):
    result = _outcome(world.verifiers[name], value)
    assert isinstance(result, InvalidToken)


@fresh
@given(name=VERIFIERS, data=st.data())
def test_mutants_of_valid_tokens(world, name, data):
    """Mutants of either tenant's token are refused, whatever key path they take."""
    original = data.draw(st.sampled_from([world.token_a, world.token_b]), label="original")
    mutant = data.draw(token_mutants(original), label="mutant")
    result = _outcome(world.verifiers[name], mutant.token)
    event(type(result).__name__)
    assert isinstance(result, InvalidToken), mutant.kind


@pytest.mark.anyio
@fresh
@given(name=VERIFIERS, data=st.data())
async def test_sync_and_async_agree(world, name, data):
    """verify and verify_async refuse a mutant with the same error class."""
    original = data.draw(st.sampled_from([world.token_a, world.token_b]), label="original")
    token = data.draw(mutated_tokens(original), label="mutant")
    verifier = world.verifiers[name]
    expected = _outcome(verifier, token)
    try:
        got: AccessToken | InvalidToken = await verifier.verify_async(token)
    except InvalidToken as error:
        got = error
    assert type(got) is type(expected)


@fresh
@given(data=st.data())
def test_tenant_keys_never_cross(world, data):
    """With fetched keys, each issuer has its own key set: a correctly signed
    token is accepted only for the tenant whose key signed it, whatever its
    claims say. (Static keys are one set shared by every configured issuer.)"""
    signer = data.draw(st.sampled_from([world.a, world.b]), label="signer")
    claimed = data.draw(st.sampled_from([TENANT_A, TENANT_B]), label="iss")
    claims = data.draw(claim_sets(issuer=claimed, audience=AUDIENCE, now=NOW), label="claims")
    raw = signer.sign(claims)
    result = _outcome(world.remote_multi, raw)
    event(type(result).__name__)
    if isinstance(result, AccessToken):
        assert result.issuer == signer.issuer


def _json_segments(token: str) -> bool:
    """True when *token* has a JSON-object header and payload: the structured
    mutations (which re-encode them) apply; otherwise only character edits."""
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        decoded = [json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))) for part in parts[:2]]
    except (ValueError, RecursionError):
        return False
    return all(isinstance(value, dict) for value in decoded)


@st.composite
def _character_edits(draw: st.DrawFn, token: str) -> str:
    index = draw(st.integers(min_value=0, max_value=max(len(token) - 1, 0)))
    char = draw(st.characters(codec="utf-8"))
    edit = draw(st.sampled_from(["replace", "insert", "delete"]))
    if edit == "replace":
        return token[:index] + char + token[index + 1 :]
    if edit == "insert":
        return token[:index] + char + token[index:]
    return token[:index] + token[index + 1 :]


@fresh
@given(data=st.data())
def test_mutants_of_attacks(world, attack_tokens, data):
    """Mutating an attack never turns it into an accepted token, on any path."""
    name, token = data.draw(st.sampled_from(attack_tokens), label="attack")
    mutants = mutated_tokens(token) if _json_segments(token) else _character_edits(token)
    token = data.draw(mutants, label="mutant")
    for verifier in world.verifiers.values():
        result = _outcome(verifier, token)
        assert isinstance(result, InvalidToken), name


@fresh
@given(name=VERIFIERS, data=st.data())
def test_authorization_header_to_verifier(world, name, data):
    """Header values go through the adapters' parser, then the verifier:
    InvalidRequest, no credentials, or the verifier's answer; nothing else."""
    tokens = st.one_of(token68s(), mutated_tokens(world.token_a), st.just(world.token_a))
    value = data.draw(authorization_values(tokens), label="authorization")
    try:
        token = parse_authorization(value)
    except InvalidRequest:
        event("InvalidRequest")
        return
    if token is None:
        event("not bearer")
        return
    result = _outcome(world.verifiers[name], token)
    event(type(result).__name__)
    if isinstance(result, AccessToken):
        assert token == world.token_a


def _load_harness() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_fuzz", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def harness() -> Iterator[ModuleType]:
    module = _load_harness()
    yield module
    module.close()


def test_harness_runs_seeds_and_mutations_without_atheris(harness):
    seeds = harness.seeds()
    assert len(seeds) >= len(corpus())
    assert {data[0] for data in seeds} >= {0, 1, 2, 3, 4, 5, 6, 7}
    assert harness.selftest(500, seed=7) == len(seeds) + 500


@given(data=st.binary(max_size=600))
def test_harness_accepts_any_bytes(harness, data):
    harness.check(data)


@pytest.mark.parametrize("mode", range(8))
def test_harness_lets_foreign_exceptions_escape(harness, monkeypatch, mode):
    """The harness would report a non-contract exception as a crash."""
    target = harness.target()

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("not a contract error")

    async def broken_async(*args: object, **kwargs: object) -> None:
        raise TypeError("not a contract error")

    monkeypatch.setattr(target.verifier, "verify", broken)
    monkeypatch.setattr(target.verifier, "verify_async", broken_async)
    with pytest.raises(TypeError):
        harness.check(bytes([mode]) + b"Bearer " + target.tokens[0].encode())


def test_random_bytes_smoke(world):
    """A fixed-seed burst of raw bytes through every verifier (cheap, deterministic)."""
    rng = random.Random(1)
    for _ in range(300):
        data = rng.randbytes(rng.randrange(1, 200))
        for verifier in world.verifiers.values():
            assert isinstance(_outcome(verifier, data), InvalidToken)
