"""The DPoP attack corpus (tests/security/dpop_attacks.py) through every face:
the request layer with ``Verifier.verify`` and with ``verify_async``, and the
ASGI and WSGI middlewares. Each attack meets its exact error, its HTTP status
and ``WWW-Authenticate`` error code, and never reaches the application; a
replay's first request (the control) passes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from werkzeug.test import Client

from jwt_guard import AuthError, DPoPContext
from jwt_guard._guard import Guard
from jwt_guard._request import ScopeRequest
from jwt_guard.asgi import JWTGuardMiddleware as ASGIMiddleware
from jwt_guard.testing import FakeClock, LocalIssuer
from jwt_guard.wsgi import JWTGuardMiddleware as WSGIMiddleware
from tests.security.dpop_attacks import (
    DPOP_CATEGORIES,
    HOST,
    PATH,
    URL,
    DPoPAttack,
    DPoPKit,
    Presented,
    dpop_by_category,
    dpop_corpus,
    headers,
)
from tests.support.challenges import parse_challenges

NOW = 1_800_000_000
FACES = ("verify", "verify_async", "asgi", "wsgi")
ATTACKS = [pytest.param(attack, id=attack.name) for attack in dpop_corpus()]


def make_kit() -> DPoPKit:
    issuer = LocalIssuer("https://issuer.example.test/", audience="https://api.example.test", clock=FakeClock(NOW))
    return DPoPKit(issuer)


@pytest.fixture(scope="module")
def kit() -> DPoPKit:
    return make_kit()


@dataclass
class Outcome:
    """The answer to an attack's last request (the first of a replay is the control)."""

    status: int
    error: str | None  # the body's error code
    refused_with: type[AuthError] | None  # the exception (verifier faces)
    challenged: list[str]  # error codes in WWW-Authenticate (adapter faces)
    reached: int  # requests that reached the application
    control_passed: bool = True


def _verifier_face(kit: DPoPKit, attack: DPoPAttack, presented: Presented, face: str) -> tuple[int, Any]:
    verifier = kit.verifier(**attack.options)
    guard = Guard(dpop=verifier.dpop)
    raw = [(name.lower().encode(), value.encode("latin-1")) for name, value in headers(presented)]
    scope = {"type": "http", "method": presented.method, "scheme": "http", "path": PATH, "headers": raw}
    results = []
    for _ in range(2 if attack.replay else 1):
        try:
            credentials = guard.authenticate(ScopeRequest(scope))
            assert credentials is not None
            if face == "verify":
                verifier.verify(credentials.token, dpop=credentials.dpop)
            else:
                asyncio.run(verifier.verify_async(credentials.token, dpop=credentials.dpop))
            results.append(None)
        except AuthError as error:
            results.append(error)
    return len(results), results


def run(kit: DPoPKit, attack: DPoPAttack, face: str) -> Outcome:
    presented = attack.build(kit)
    if face in ("verify", "verify_async"):
        _, results = _verifier_face(kit, attack, presented, face)
        last = results[-1]
        return Outcome(
            status=200 if last is None else last.status_code,
            error=None if last is None else last.error,
            refused_with=None if last is None else type(last),
            challenged=[],
            reached=sum(result is None for result in results),
            control_passed=not attack.replay or results[0] is None,
        )
    reached: list[str] = []
    answers = []
    sent = headers(presented)
    if face == "asgi":

        async def items(request: Any) -> PlainTextResponse:
            reached.append(attack.name)
            return PlainTextResponse("reached")

        app = ASGIMiddleware(Starlette(routes=[Route(PATH, items)]), verifier=kit.verifier(**attack.options))

        async def call() -> list[httpx.Response]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=f"http://{HOST}") as client:
                return [
                    await client.request(presented.method, PATH, headers=sent[1:])
                    for _ in range(2 if attack.replay else 1)
                ]

        for response in asyncio.run(call()):
            answers.append((response.status_code, response.headers.get_list("www-authenticate"), response.content))
    else:

        def items_wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            reached.append(attack.name)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"reached"]

        client = Client(WSGIMiddleware(items_wsgi, verifier=kit.verifier(**attack.options)))
        for _ in range(2 if attack.replay else 1):
            result = client.open(PATH, method=presented.method, headers=sent)
            answers.append((result.status_code, result.headers.getlist("WWW-Authenticate"), result.get_data()))
    status, challenges, body = answers[-1]
    parsed = parse_challenges(challenges)
    return Outcome(
        status=status,
        error=json.loads(body).get("error") if status != 200 else None,
        refused_with=None,
        challenged=[params["error"] for _, params in parsed if "error" in params],
        reached=len(reached),
        control_passed=not attack.replay or answers[0][0] == 200,
    )


def problems(attack: DPoPAttack, face: str, outcome: Outcome) -> list[str]:
    """What is wrong with *outcome* for *attack* (nothing when refused as it must be)."""
    found = []
    expected = attack.expected
    if not outcome.control_passed:
        found.append("the replay's first request was refused")
    if outcome.status != expected.status_code or outcome.error != expected.error:
        found.append(f"answered {outcome.status} {outcome.error} instead of {expected.status_code} {expected.error}")
    if face in ("verify", "verify_async") and outcome.refused_with is not expected:
        found.append(f"raised {getattr(outcome.refused_with, '__name__', None)} instead of {expected.__name__}")
    if face in ("asgi", "wsgi") and outcome.challenged != [expected.error]:
        found.append(f"challenged {outcome.challenged}")
    if outcome.reached != (1 if attack.replay else 0):
        found.append(f"reached the application {outcome.reached} times")
    return found


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("attack", ATTACKS)
def test_each_attack_is_refused_by_each_face(kit, attack, face):
    assert problems(attack, face, run(kit, attack, face)) == []


def test_the_corpus_is_well_formed():
    names = [attack.name for attack in dpop_corpus()]
    assert len(names) == len(set(names))
    groups = dpop_by_category()
    assert list(groups) == list(DPOP_CATEGORIES) and all(groups.values())


def test_a_genuine_request_passes(kit):
    """The control for the whole corpus: the victim's own request, with and without nonces."""
    assert kit.verifier().verify(kit.token, dpop=DPoPContext(kit.proof(), "GET", URL)).subject == "victim"
    nonce = kit.nonces.issue(kit.now)
    verifier = kit.verifier(nonce_secret=kit.nonces_secret)
    assert verifier.verify(kit.token, dpop=DPoPContext(kit.proof(nonce=nonce), "GET", URL)).subject == "victim"


def dpop_summary() -> list[str]:
    """Report lines for benchmarks/security_report.py: the corpus through each face."""
    kit = make_kit()
    refused = 0
    failures = []
    for attack in dpop_corpus():
        found = [f"{face}: {problem}" for face in FACES for problem in problems(attack, face, run(kit, attack, face))]
        if found:
            failures.append(f"  {attack.name}: FAIL {'; '.join(found)}")
        else:
            refused += 1
    total = len(dpop_corpus())
    groups = dpop_by_category()
    lines = [
        f"DPoP attacks refused: {refused}/{total} ({len(DPOP_CATEGORIES)} categories; faces: verify, "
        f"verify_async, ASGI and WSGI middlewares; none reached the application){'' if refused == total else ' FAIL'}",
        "  " + ", ".join(f"{category} {len(groups[category])}" for category in DPOP_CATEGORIES),
    ]
    return lines + failures


def test_the_summary_counts_every_attack():
    total = len(dpop_corpus())
    assert dpop_summary()[0].startswith(f"DPoP attacks refused: {total}/{total} ")
