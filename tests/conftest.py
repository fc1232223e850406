"""Fixtures shared by every test package.

Keys are expensive to generate, so each algorithm's signing key is made once
per session; issuers, clocks and verifiers are fresh per test.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from jwt_guard import Verifier
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, SigningKey, mock_transport

# CI: deterministic examples, no example database (a replayed example whose
# strategy depends on per-process random keys would be flaky).
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# The same, with fewer examples: tox's py310, py312 and py313 (py311 runs the
# full "ci" profile), where what can differ is the interpreter, not the input.
settings.register_profile("ci-interpreters", settings.get_profile("ci"), max_examples=50)
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: unknown under -p no:xdist
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per CPU, plus one. About a third of a worker's
    time goes to waiting (on loopback servers, deadlines of injected faults,
    subprocesses), which the extra worker fills; more than one extra costs
    each worker's collection again for little gain (measured on 2 CPUs: 127 s
    with 2 workers, 104 s with 3, 109 s with 4). ``PYTEST_XDIST_AUTO_NUM_WORKERS``
    still overrides it."""
    return (os.cpu_count() or 1) + 1


#: Markers of the long tests (see pytest_collection_modifyitems).
LONG = ("slow", "one_interpreter")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Spread the long tests (the slow suite, end-to-end runs in other
    processes) evenly through the first half of the run, a module at a time
    so that module fixtures start once. Collected in file order they came
    last (tests/security, tests/stores) and ran alone at the end while the
    other pytest-xdist workers sat idle."""
    blocks: dict[str, list[pytest.Item]] = {}
    short: list[pytest.Item] = []
    for item in items:
        if any(item.get_closest_marker(name) for name in LONG):
            blocks.setdefault(item.nodeid.split("::")[0], []).append(item)
        else:
            short.append(item)
    if not blocks or not short:
        return
    step = max(1, len(short) // 2 // len(blocks))
    spread: list[pytest.Item] = []
    waiting = list(blocks.values())
    for index, item in enumerate(short):
        if waiting and index % step == 0:
            spread.extend(waiting.pop(0))
        spread.append(item)
    items[:] = [*spread, *(item for block in waiting for item in block)]


ISSUER = "https://issuer.example.test/"
AUDIENCE = "https://api.example.test"
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

_KEYS: dict[tuple[str, str], SigningKey] = {}


def signing_key(alg: str, kid: str | None = None) -> SigningKey:
    """A session-wide signing key per (alg, kid)."""
    name = kid or f"{alg.lower()}-key"
    if (alg, name) not in _KEYS:
        _KEYS[alg, name] = SigningKey(alg, kid=name)
    return _KEYS[alg, name]


def make_issuer(alg: str = "RS256", *, clock: Callable[[], float] | None = None, kid: str | None = None) -> LocalIssuer:
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[signing_key(alg, kid)])
    if clock is not None:
        issuer.clock = clock
    return issuer


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000)


@pytest.fixture
def issuer(clock: FakeClock) -> LocalIssuer:
    """An RS256 issuer on the fake clock."""
    return make_issuer("RS256", clock=clock)


@pytest.fixture
def make_verifier(issuer: LocalIssuer, clock: FakeClock) -> Iterator[Callable[..., Verifier]]:
    """Build verifiers for ``issuer`` (static keys by default) on the fake clock."""
    made: list[Verifier] = []

    def make(**options: Any) -> Verifier:
        options.setdefault("issuer", issuer.issuer)
        options.setdefault("audience", issuer.audience)
        options.setdefault("clock", clock)
        if "keys" not in options and "jwks_uri" not in options and "transport" not in options:
            options["keys"] = issuer.jwks()
        verifier = Verifier(**options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        verifier.close()


@pytest.fixture
def key_server(issuer: LocalIssuer) -> KeyServer:
    return KeyServer(issuer)


@pytest.fixture
def remote_verifier(issuer: LocalIssuer, clock: FakeClock, key_server: KeyServer) -> Iterator[Callable[..., Verifier]]:
    """Build verifiers that fetch ``issuer``'s keys through a MockTransport."""
    made: list[Verifier] = []

    def make(**options: Any) -> Verifier:
        transport = mock_transport(key_server)
        options.setdefault("issuer", issuer.issuer)
        options.setdefault("audience", issuer.audience)
        options.setdefault("clock", clock)
        options.setdefault("transport", transport)
        options.setdefault("async_transport", transport)
        verifier = Verifier(**options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        verifier.close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
