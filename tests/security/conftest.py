"""Fixtures for the security suite: an attack kit and verifiers that face it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from jwt_guard import Verifier
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, mock_transport
from tests.security.attacks import AttackKit


class RecordingTransport(httpx.MockTransport):
    """A MockTransport over a :class:`KeyServer` that remembers every URL asked for."""

    def __init__(self, server: KeyServer) -> None:
        inner = mock_transport(server)
        self.urls: list[str] = []

        def handle(request: httpx.Request) -> httpx.Response:
            self.urls.append(str(request.url))
            response: httpx.Response = inner.handler(request)
            return response

        super().__init__(handle)


@pytest.fixture
def kit(issuer: LocalIssuer) -> AttackKit:
    """The attack kit for the shared RS256 issuer (victim keys published)."""
    return AttackKit(issuer)


@pytest.fixture
def recording_transport(kit: AttackKit) -> RecordingTransport:
    """Serves the kit issuer's discovery and JWKS; records requested URLs."""
    return RecordingTransport(KeyServer(kit.issuer))


@pytest.fixture
def attack_verifier(
    kit: AttackKit, clock: FakeClock, recording_transport: RecordingTransport
) -> Iterator[Callable[[str], Verifier]]:
    """``attack_verifier("static")`` or ``attack_verifier("remote")``: a
    verifier for the kit's issuer with static keys, or fetching them through
    discovery and JWKS over the recording transport."""
    made: list[Verifier] = []

    def make(source: str, **options: Any) -> Verifier:
        options.setdefault("clock", clock)
        if source == "static":
            verifier = kit.verifier(**options)
        else:
            verifier = Verifier(
                issuer=kit.issuer.issuer,
                audience=kit.issuer.audience,
                transport=recording_transport,
                async_transport=recording_transport,
                **options,
            )
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        verifier.close()
