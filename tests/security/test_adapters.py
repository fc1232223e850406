"""The attack corpus through every adapter: nothing reaches a handler.

The attacks of :func:`tests.security.attacks.surface_sample` (every attack
whose shape, encoding or size meets the HTTP surface, and one attack per
category and error class of the rest: the verifier's decisions themselves are
held to the whole corpus in :mod:`tests.security.test_attacks`) are sent, in
process, to three applications that share one static-key verifier for the
kit's issuer:

* ``asgi``: a Starlette app behind :class:`jwt_guard.asgi.JWTGuardMiddleware`
  (``httpx.ASGITransport``);
* ``fastapi``: a FastAPI app whose routes depend on
  :class:`jwt_guard.fastapi.JWTBearer`, with :func:`install_error_handler`;
* ``wsgi``: a Flask app behind :class:`jwt_guard.wsgi.JWTGuardMiddleware`
  (Flask's test client).

Each attack travels two ways:

* as ``Authorization: Bearer <token>``, answered with
  :func:`~tests.security.attacks.expected_http_status`: 400
  ``invalid_request`` when the header grammar (RFC 6750 §2.1 ``b64token``)
  refuses the token, else 401 ``invalid_token``. The tokens in
  :data:`HEADER_NOT_APPLICABLE` cannot travel in that header verbatim (control
  or non-Latin-1 characters, surrounding spaces the ``1*SP`` separator
  absorbs, the empty string) and go only the second way;
* percent-encoded in the opt-in ``access_token`` query parameter (RFC 6750
  §2.3), where the verifier sees the token exactly: 401 ``invalid_token``
  (400 for the empty token: an empty parameter is a malformed request).

Every refusal carries the RFC 6750 error code in ``WWW-Authenticate``,
``Cache-Control: no-store`` and a JSON body naming the same code, never echoes
the token, and no handler runs: the handlers record every call. The controls
show that a valid token does reach them, both ways.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI, Security
from flask import Flask, jsonify
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwt_guard import AccessToken, Verifier
from jwt_guard.asgi import JWTGuardMiddleware as ASGIGuard
from jwt_guard.asgi import get_access_token as asgi_token
from jwt_guard.fastapi import JWTBearer, install_error_handler
from jwt_guard.testing import FakeClock, LocalIssuer
from jwt_guard.wsgi import JWTGuardMiddleware as WSGIGuard
from jwt_guard.wsgi import get_access_token as wsgi_token
from tests.security.attacks import Attack, AttackKit, corpus, expected_http_status, surface_sample
from tests.support.http_semantics import Answer

ADAPTERS = ("asgi", "fastapi", "wsgi")
NOW = 1_800_000_000
ISSUER = "https://issuer.adapters.test/"
AUDIENCE = "https://api.adapters.test"
#: httpx refuses longer URLs (``httpx.InvalidURL: URL too long``).
MAX_URL_LENGTH = 65536

#: Attacks whose token cannot be sent as ``Authorization: Bearer <token>``
#: verbatim; they travel in the query parameter only.
HEADER_NOT_APPLICABLE = frozenset(
    {
        "empty-string",  # "Bearer " with nothing after it is another request
        "jws-json-leading-whitespace",  # leading spaces and a newline
        "leading-space",  # absorbed by the separator: another token is verified
        "trailing-space",  # stripped from the header value (RFC 9110 §5.5)
        "trailing-newline",  # control characters: no HTTP client sends them
        "tab-inside",
        "line-breaks-mime-wrapped",
        "nul-appended",
        "nul-inside",
        "utf8-bom-prefix",  # not Latin-1: no header can carry it
        "fullwidth-dots",
        "one-mib-non-ascii",
    }
)

_CODES = {400: "invalid_request", 401: "invalid_token"}


# -- the applications -----------------------------------------------------------


@dataclass
class Calls:
    """Every call a handler received: (adapter, path, raw token)."""

    seen: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, adapter: str, path: str, token: AccessToken | None) -> dict[str, Any]:
        with self.lock:
            self.seen.append((adapter, path, token.raw if token is not None else ""))
        return {"sub": token.subject if token is not None else None}

    def __len__(self) -> int:
        with self.lock:
            return len(self.seen)


def starlette_app(verifier: Verifier, calls: Calls, **options: Any) -> Starlette:
    """``GET /me`` behind the ASGI middleware (*options* are the middleware's)."""

    async def me(request: Request) -> JSONResponse:
        return JSONResponse(calls.record("asgi", request.url.path, asgi_token(request)))

    return Starlette(routes=[Route("/me", me)], middleware=[Middleware(ASGIGuard, verifier=verifier, **options)])


def fastapi_app(verifier: Verifier, calls: Calls, **options: Any) -> FastAPI:
    """``GET /me`` depending on ``JWTBearer`` (*options* are its own)."""
    bearer = JWTBearer(verifier=verifier, **options)
    app = FastAPI()
    install_error_handler(app)

    @app.get("/me")
    async def me(token: AccessToken = Security(bearer)) -> dict[str, Any]:
        return calls.record("fastapi", "/me", token)

    return app


def flask_app(verifier: Verifier, calls: Calls, **options: Any) -> Flask:
    """``GET /me`` of a Flask app behind the WSGI middleware."""
    app = Flask(__name__)

    @app.get("/me")
    def me() -> Any:
        return jsonify(calls.record("wsgi", "/me", wsgi_token()))

    app.wsgi_app = WSGIGuard(app.wsgi_app, verifier=verifier, **options)
    return app


BUILDERS = {"asgi": starlette_app, "fastapi": fastapi_app, "wsgi": flask_app}


@dataclass(frozen=True)
class Delivery:
    """One way of sending an attack's token, and the status it must get."""

    route: str  # "header" or "query"
    headers: dict[str, str]
    query: str
    expected: int


def deliveries(attack: Attack, token: str) -> list[Delivery]:
    """The header delivery (when the token can travel there) and the query one."""
    ways = []
    status = expected_http_status(attack, token)
    if status is not None:
        ways.append(Delivery("header", {"Authorization": f"Bearer {token}"}, "", status))
    query = "access_token=" + quote(token, safe="")
    ways.append(Delivery("query", {}, query, 400 if token == "" else attack.expected.status_code))
    return ways


class Rig:
    """The three applications, each in a header-only and a query-enabled
    configuration, over one static-key verifier for *kit*'s issuer."""

    def __init__(self, kit: AttackKit) -> None:
        self.kit = kit
        self.calls = Calls()
        self.verifier = kit.verifier()
        self.apps: dict[tuple[str, str], Any] = {}
        for adapter, build in BUILDERS.items():
            self.apps[adapter, "header"] = build(self.verifier, self.calls)
            self.apps[adapter, "query"] = build(self.verifier, self.calls, allow_query_token=True)

    async def send(self, adapter: str, delivery: Delivery) -> Answer:
        app = self.apps[adapter, delivery.route]
        headers = list(delivery.headers.items())
        if adapter == "wsgi":
            return call_flask(app, headers=headers, query=delivery.query)
        path = f"/me?{delivery.query}" if delivery.query else "/me"
        if len(path) > MAX_URL_LENGTH:
            raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
            return await call_asgi(app, headers=raw, query=delivery.query.encode("ascii"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", trust_env=False) as client:
            reply = await client.get(path, headers=headers)
        return Answer(reply.status_code, {name.lower(): value for name, value in reply.headers.items()}, reply.content)


def call_flask(app: Flask, *, headers: list[tuple[str, str]], query: str) -> Answer:
    """A request through Flask's test client."""
    response = app.test_client().get("/me", headers=headers, query_string=query or None)
    return Answer(
        response.status_code,
        {name.lower(): value for name, value in response.headers.items()},
        response.get_data(),
    )


async def call_asgi(app: Any, *, headers: list[tuple[bytes, bytes]], query: bytes, path: str = "/me") -> Answer:
    """Call *app* with a hand-built HTTP scope, as an ASGI server would:
    header values and the query string are raw bytes (httpx refuses URLs
    over 64 KiB and header values it cannot encode)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode("ascii"),
        "query_string": query,
        "headers": [(b"host", b"testserver"), *((name.lower(), value) for name, value in headers)],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(message for message in sent if message["type"] == "http.response.start")
    answer_headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in start["headers"]}
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return Answer(start["status"], answer_headers, body)


def make_rig() -> Rig:
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, algorithm="ES256", clock=FakeClock(NOW))
    return Rig(AttackKit(issuer))


def refusal_problems(answer: Answer, delivery: Delivery, token: str) -> list[str]:
    """What is wrong with *answer* as the refusal *delivery* must get ([] if nothing)."""
    problems = []
    if answer.status != delivery.expected:
        problems.append(f"status {answer.status}, expected {delivery.expected}")
    code = _CODES.get(delivery.expected, "?")
    challenge = answer.headers.get("www-authenticate", "")
    if not challenge.startswith("Bearer") or f'error="{code}"' not in challenge:
        problems.append(f"WWW-Authenticate {challenge[:120]!r} lacks error={code}")
    if answer.headers.get("cache-control") != "no-store":
        problems.append(f"Cache-Control {answer.headers.get('cache-control')!r}")
    if answer.headers.get("content-type") != "application/json":
        problems.append(f"Content-Type {answer.headers.get('content-type')!r}")
    try:
        body = json.loads(answer.body)
    except ValueError:
        problems.append(f"body is not JSON: {answer.body[:80]!r}")
    else:
        if not isinstance(body, dict) or body.get("error") != code:
            problems.append(f"body {body!r} does not name {code}")
    text = answer.body.decode("latin-1") + "".join(answer.headers.values())
    if any(part in text for part in token.split(".") if len(part) >= 16):
        problems.append("the answer echoes the token")
    return problems


async def run_attack(rig: Rig, adapter: str, attack: Attack) -> tuple[list[Delivery], list[str]]:
    """Send *attack* every way it can travel to *adapter*; (deliveries, problems)."""
    token = attack.token(rig.kit)
    ways = deliveries(attack, token)
    problems = []
    for delivery in ways:
        before = len(rig.calls)
        answer = await rig.send(adapter, delivery)
        problems += [f"{delivery.route}: {problem}" for problem in refusal_problems(answer, delivery, token)]
        if len(rig.calls) != before:
            problems.append(f"{delivery.route}: a handler ran")
    return ways, problems


# -- tests ----------------------------------------------------------------------------

ATTACKS = [pytest.param(attack, id=attack.name) for attack in surface_sample()]


@pytest.fixture(scope="module")
def rig() -> Rig:
    return make_rig()


@pytest.mark.anyio
@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("route", ["header", "query"])
async def test_control_reaches_the_handler(rig, adapter, route):
    """The handlers do record calls: a valid token gets 200 both ways."""
    token = rig.kit.valid(sub="control")
    if route == "header":
        delivery = Delivery("header", {"Authorization": f"Bearer {token}"}, "", 200)
    else:
        delivery = Delivery("query", {}, f"access_token={token}", 200)
    before = len(rig.calls)
    answer = await rig.send(adapter, delivery)
    assert answer.status == 200
    assert json.loads(answer.body) == {"sub": "control"}
    assert len(rig.calls) == before + 1
    assert rig.calls.seen[-1] == (adapter, "/me", token)


@pytest.mark.anyio
@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("attack", ATTACKS)
async def test_attack_refused_before_any_handler(rig, adapter, attack):
    ways, problems = await run_attack(rig, adapter, attack)
    assert problems == [], f"{adapter} {attack.name}: {problems}"
    assert [way.route for way in ways] == (["query"] if attack.name in HEADER_NOT_APPLICABLE else ["header", "query"])


def test_header_not_applicable_is_exactly_the_unsendable_tokens(rig):
    """The documented list matches what expected_http_status decides."""
    unsendable = {attack.name for attack in corpus() if expected_http_status(attack, attack.token(rig.kit)) is None}
    assert unsendable == HEADER_NOT_APPLICABLE


def test_every_attack_the_http_surface_treats_apart_is_sent(rig):
    """The sample sent to the adapters holds every attack whose header trip
    ends otherwise than its verifier error: unsendable, or 400 by grammar."""
    sent = {attack.name for attack in surface_sample()}
    apart = {
        attack.name
        for attack in corpus()
        if expected_http_status(attack, attack.token(rig.kit)) != attack.expected.status_code
    }
    assert apart >= HEADER_NOT_APPLICABLE
    assert apart <= sent, apart - sent


def test_every_attack_travels_at_least_once(rig):
    """Totals per adapter: every attack through the query parameter, all but
    the documented not-applicable ones through the header too."""
    total = len(corpus())
    plans = [deliveries(attack, attack.token(rig.kit)) for attack in corpus()]
    header = sum(1 for ways in plans if any(way.route == "header" for way in ways))
    query = sum(1 for ways in plans if any(way.route == "query" for way in ways))
    assert total >= 60
    assert header == total - len(HEADER_NOT_APPLICABLE) >= total - 12
    assert query == total
    assert all(ways for ways in plans)


# -- the report --------------------------------------------------------------------


@dataclass
class Tally:
    header: int = 0
    header_refused: int = 0
    query: int = 0
    query_refused: int = 0
    attacks_refused: int = 0
    problems: list[str] = field(default_factory=list)


async def _tally(rig: Rig, adapter: str) -> Tally:
    tally = Tally()
    for attack in corpus():
        ways, problems = await run_attack(rig, adapter, attack)
        for way in ways:
            failed = any(problem.startswith(f"{way.route}:") for problem in problems)
            if way.route == "header":
                tally.header += 1
                tally.header_refused += not failed
            else:
                tally.query += 1
                tally.query_refused += not failed
        tally.attacks_refused += not problems
        tally.problems += [f"{adapter} {attack.name}: {problem}" for problem in problems]
    return tally


def adapter_summary() -> Iterator[str | tuple[str, int, int]]:
    """Report lines: the corpus through each adapter (for benchmarks/security_report.py)."""
    rig = make_rig()
    total = len(corpus())
    for adapter in ADAPTERS:
        tally = asyncio.run(_tally(rig, adapter))
        yield (f"attacks refused through {adapter}", tally.attacks_refused, total)
        yield (
            f"  via Authorization header ({len(HEADER_NOT_APPLICABLE)} not applicable)",
            tally.header_refused,
            tally.header,
        )
        yield ("  via access_token query parameter", tally.query_refused, tally.query)
        yield from (f"  {problem}" for problem in tally.problems[:10])
    reached = len(rig.calls)
    yield f"handlers reached by an attack: {reached}{' FAIL' if reached else ''}"
