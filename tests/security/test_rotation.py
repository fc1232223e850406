"""Key rotation under load, through real servers on 127.0.0.1 (issue 7, suite 5).

An ASGI app (Starlette behind :class:`jwt_guard.asgi.JWTGuardMiddleware`,
served by uvicorn) and a WSGI app (Flask behind
:class:`jwt_guard.wsgi.JWTGuardMiddleware`, served by Werkzeug's threaded
server) each verify tokens whose keys come from a real
:class:`~jwt_guard.testing.LocalServer` (discovery + JWKS over HTTP). A
bounded load generator (threads and ``httpx.Client`` for WSGI, asyncio tasks
sharing an ``httpx.AsyncClient`` for ASGI) sends valid tokens and a sprinkle
of invalid ones while the issuer rotates its keys twice. Every answer is
checked, and the key server counts the fetches.

Time
----
The issuer, its tokens and the verifier share a :class:`FakeClock` that only
the rotation moves, between phases: key-cache lifetimes, refreshes and the
unknown-``kid`` cooldown are exercised without waiting, and no outcome
depends on how fast the machine is. The JWKS is served with ``max-age=120``,
so a cached set is refreshed (in the background, while still serving) once
the clock has moved 100 s; tokens live an hour, so none expires by accident.

Phases (``k1`` is the issuer's first key)
------------------------------------------
================  =========================================  =========================  =========================
phase             issuer's action (fake time)                tokens sent                waits for
================  =========================================  =========================  =========================
``steady``        signs with k1 (t=0)                        k1                         the cold fetch
``publish k2``    publishes k2, not signing yet (t=100)      k1                         a background refresh
``sign with k2``  signs with k2 (t=100)                      k1, k2                     -
``retire k1``     stops publishing k1 (t=200)                k1, k2                     a background refresh
``drain``         - (t=200)                                  k2; no unknown ``kid``     earlier requests answered
``k3 at once``    publishes k3 and signs with it (t=240)     k2, k3; no unknown ``kid`` the unknown-kid refetch
``retire k2``     stops publishing k2 (t=340)                k1, k2, k3                 a background refresh
================  =========================================  =========================  =========================

Rotation one is graceful (the new key is published a refresh ahead of its
first token); rotation two is abrupt (tokens of a key published a moment
earlier, which only the unknown-``kid`` refetch can find). After each wait
the phase runs its quota of requests sent after the wait ended.

Right answers
-------------
Each request is judged by the moments it was sent and answered (monotonic
time in the test process, which also runs both servers):

* a token of a published key: 200 with its own ``sub``;
* a token of a retired key: 200 while the verifier has not fetched a key set
  without it (answered before the ``keys_fetched`` event of the first change
  after the retirement); 401 when sent after that change was applied (the
  verifier swaps the set in, then clears its result cache: a
  :class:`WatchedVerifier` notes that moment); either answer in between
  (counted as *switch-over* answers);
* the sprinkle, whatever the phase: no credentials 401, a malformed header
  400, expired 401, wrong audience 401, a forged signature under the
  signing key's ``kid`` 401, an attacker's unknown ``kid`` 401, a valid token
  lacking the scope of ``/read`` 403;
* never a 5xx, never a transport error.

Why ``drain`` and ``k3 at once`` send no unknown ``kid``: an unknown ``kid``
gets at most one refetch per cooldown (30 s), and a request naming another
unknown ``kid`` while that refetch is in flight is refused at once rather
than joining it (``jwt_guard/_policy.py``; ``SECURITY.md``). An attacker's (or a
retired key's) ``kid`` racing the first tokens of an abruptly introduced key
can therefore make them 401 until the cooldown passes; publishing keys ahead
of use, as rotation one does and identity providers do, avoids that race.

Fetches are bounded by the policy: one discovery document (cached for a
day); at most one key-set fetch for the cold start, one background refresh
per clock move and one unknown-``kid`` refetch per moment of fake time (moves
are longer than the cooldown), and exactly five key-set changes (k1; +k2;
-k1; +k3; -k2).

The default run keeps a small fast variant (few clients, small quotas); the
full load (12 clients, a few thousand requests in all) is marked ``slow``.
:func:`rotation_summary` runs the full load outside pytest for
``benchmarks/security_report.py``.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from flask import Flask, jsonify
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from werkzeug.serving import WSGIRequestHandler, make_server

from jwt_guard import Event, EventKind, Verifier
from jwt_guard.asgi import JWTGuardMiddleware as ASGIGuard
from jwt_guard.asgi import get_access_token as asgi_token
from jwt_guard.asgi import require_scopes as asgi_scopes
from jwt_guard.testing import FakeClock, LocalIssuer, LocalServer, SigningKey
from jwt_guard.wsgi import JWTGuardMiddleware as WSGIGuard
from jwt_guard.wsgi import get_access_token as wsgi_token
from jwt_guard.wsgi import require_scopes as wsgi_scopes
from tests.asgi.conftest import serve as serve_uvicorn

NOW = 1_800_000_000
AUDIENCE = "https://api.rotation.test"
MAX_AGE = 120  # JWKS freshness: ~108-120 s after jitter, refreshed from ~86 s
TOKENS_PER_KEY = 24  # distinct tokens per key for /me (and a third as many for /read)
MIN_PER_KEY = 3  # each phase's quota holds at least this many tokens of each key it sends


@dataclass(frozen=True)
class Phase:
    name: str
    publish: str | None = None  # key to publish at the start
    retire: str | None = None  # key to stop publishing at the start
    advance: float = 0.0  # seconds of fake time to move at the start
    signer: str = "k1"  # the key new tokens (and the sprinkle) are signed with
    send: tuple[str, ...] = ("k1",)  # keys whose valid tokens are sent
    unknown_kid: bool = True  # send the attacker's unknown-kid token
    wait: str | None = None  # "change" (a new key set applied) or "drain"


PHASES = (
    Phase("steady", wait="change"),
    Phase("publish k2", publish="k2", advance=100, wait="change"),
    Phase("sign with k2", signer="k2", send=("k1", "k2")),
    Phase("retire k1", retire="k1", advance=100, signer="k2", send=("k1", "k2"), wait="change"),
    Phase("drain", signer="k2", send=("k2",), unknown_kid=False, wait="drain"),
    Phase("k3 at once", publish="k3", advance=40, signer="k3", send=("k2", "k3"), unknown_kid=False, wait="change"),
    Phase("retire k2", retire="k2", advance=100, signer="k3", send=("k1", "k2", "k3"), wait="change"),
)
#: Key-set changes the verifier must apply: k1; +k2; -k1; +k3; -k2.
CHANGES = 5


def fetch_bound(phases: tuple[Phase, ...] = PHASES) -> int:
    """The most key-set fetches the policy allows over *phases*: the cold
    start, a background refresh per clock move, and an unknown-kid refetch
    per moment of fake time (every move is longer than the 30 s cooldown)."""
    moves = sum(1 for phase in phases if phase.advance)
    return 1 + moves + (moves + 1)


@dataclass(frozen=True)
class Load:
    clients: int
    quota: int  # requests per phase sent after its wait ended
    cap: float  # wall-clock seconds for the whole run (hang detection)


FAST = Load(clients=4, quota=12, cap=120.0)
FULL = Load(clients=12, quota=400, cap=240.0)
REPORT = Load(clients=12, quota=300, cap=28.0)

_KEYS: dict[str, SigningKey] = {}


def _key(name: str) -> SigningKey:
    """RSA keys are slow to make: one per name per process."""
    if name not in _KEYS:
        _KEYS[name] = SigningKey("RS256", kid=f"rotation-{name}")
    return _KEYS[name]


# -- what is sent, and what came back -----------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """One request: its token's class, and the fixed answer if it has one."""

    kind: str  # "valid" or a sprinkle name
    path: str
    authorization: str | None
    key: str | None = None  # the valid token's key
    sub: str | None = None  # the valid token's subject
    expected: int | None = None  # sprinkle: the one right status

    @property
    def headers(self) -> dict[str, str]:
        return {} if self.authorization is None else {"Authorization": self.authorization}


@dataclass(frozen=True)
class Answer:
    probe: Probe
    phase: int
    sent: float
    received: float
    status: int  # 0: transport error
    sub: str | None


class WatchedVerifier(Verifier):
    """A :class:`Verifier` that notes when a changed key set is in use: the
    ``keys_fetched`` event fires before the swap; ``clear_cache`` runs after
    it (the verifier drops verified results when its keys change)."""

    def __init__(self, **options: Any) -> None:
        self.fetched: list[float] = []  # keys_fetched events with changed=True
        self.applied: list[float] = []  # the matching clear_cache() calls
        self.refetched: list[tuple[float, str]] = []  # unknown_kid_refetch events: (moment, kid)
        super().__init__(on_event=self._event, **options)

    def _event(self, event: Event) -> None:
        if event.kind == EventKind.KEYS_FETCHED and event.details.get("changed"):
            self.fetched.append(time.monotonic())
        elif event.kind == EventKind.UNKNOWN_KID_REFETCH:
            self.refetched.append((time.monotonic(), str(event.details.get("kid"))))

    def clear_cache(self) -> None:
        super().clear_cache()
        self.applied.append(time.monotonic())


@dataclass
class PhaseReport:
    name: str
    requests: int = 0
    fetches: int = 0  # key-set (JWKS) requests the key server received


@dataclass
class RotationReport:
    adapter: str
    requests: int
    wrong: list[str]
    rules: dict[str, int]  # answers per rule
    refused_retired: dict[str, int]  # per retired key: answers that had to be 401
    discovery: int
    jwks: int
    changes: int
    phases: list[PhaseReport]
    complete: bool
    seconds: float
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.complete and not self.wrong and not self.problems


#: The rule each answer is judged by (see the module docstring).
PUBLISHED = "published key: 200"
NOT_YET_FETCHED = "retired key, removal not fetched yet: 200"
SWITCH_OVER = "retired key, in the switch-over: 200 or 401"
RETIRED = "retired key, removal applied: 401"
SPRINKLE = "sprinkle: its fixed status"


def judge(
    answer: Answer, retired: dict[str, float], fetched: list[float], applied: list[float]
) -> tuple[str, str | None]:
    """The rule *answer* falls under, and what is wrong with it (``None`` if
    nothing). *retired* maps keys to the moment the issuer stopped publishing
    them; *fetched* and *applied* are the moments of the verifier's key-set
    changes (see :class:`WatchedVerifier`)."""
    probe = answer.probe
    if probe.expected is not None:
        if answer.status == probe.expected:
            return SPRINKLE, None
        return SPRINKLE, f"{probe.kind}: {answer.status}, expected {probe.expected}"
    rule, allowed = PUBLISHED, {200}
    since = retired.get(probe.key or "")
    if since is not None and answer.received >= since:
        # The first change after the retirement is the set without the key.
        if answer.sent > next((t for t in applied if t >= since), float("inf")):
            rule, allowed = RETIRED, {401}
        elif answer.received >= next((t for t in fetched if t >= since), float("inf")):
            rule, allowed = SWITCH_OVER, {200, 401}
        else:
            rule = NOT_YET_FETCHED
    if answer.status not in allowed:
        return rule, f"{probe.key} token: {answer.status}, expected {sorted(allowed)}"
    if answer.status == 200 and answer.sub != probe.sub:
        return rule, f"{probe.key} token: 200 for sub {answer.sub!r}, expected {probe.sub!r}"
    return rule, None


# -- the run ----------------------------------------------------------------------------------------


class Rotation:
    """The issuer, the verifier, the phase in force and every answer."""

    def __init__(self, issuer: LocalIssuer, server: LocalServer, clock: FakeClock, load: Load) -> None:
        self.issuer = issuer
        self.server = server
        self.clock = clock
        self.load = load
        self.keys = {"k1": issuer.signing_key, "k2": _key("k2"), "k3": _key("k3")}
        self.attacker = _key("attacker")
        self.verifier = WatchedVerifier(issuer=server.issuer_url, audience=AUDIENCE, clock=clock)
        self.pools: dict[str, list[Probe]] = {}
        self.menus: list[tuple[list[Probe], list[Probe]]] = []  # per phase: (valid, sprinkle)
        self.phase = 0
        self.cursor = 0
        self.retired: dict[str, float] = {}
        self.answers: list[Answer] = []
        self.in_flight = [0] * len(PHASES)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.started = time.monotonic()
        self.deadline = self.started + load.cap
        self.incomplete: str | None = None
        self.reports = [PhaseReport(phase.name) for phase in PHASES]

    # -- tokens ------------------------------------------------------------------------------

    def _mint_pool(self, name: str) -> None:
        key = self.keys[name]
        probes = [
            Probe("valid", "/me", f"Bearer {self.issuer.token(key=key, sub=f'{name}-{i}')}", name, f"{name}-{i}")
            for i in range(TOKENS_PER_KEY)
        ]
        probes += [
            Probe("valid", "/read", f"Bearer {self.issuer.token(key=key, scope='read', sub=sub)}", name, sub)
            for sub in (f"{name}-read-{i}" for i in range(TOKENS_PER_KEY // 3))
        ]
        self.pools[name] = probes

    def _sprinkle(self, phase: Phase) -> list[Probe]:
        key = self.keys[phase.signer]
        forger = SigningKey("RS256", kid=key.kid, private_key=self.attacker.private_key)

        def bearer(token: str) -> str:
            return f"Bearer {token}"

        probes = [
            Probe("no credentials", "/me", None, expected=401),
            Probe("malformed header", "/me", "Bearer a b", expected=400),
            Probe("expired", "/me", bearer(self.issuer.token(key=key, expires_in=-3600)), expected=401),
            Probe("wrong audience", "/me", bearer(self.issuer.token(key=key, aud="https://other.test")), expected=401),
            Probe("forged signature", "/me", bearer(self.issuer.token(key=forger)), expected=401),
            Probe("insufficient scope", "/read", bearer(self.issuer.token(key=key, scope="write")), expected=403),
        ]
        if phase.unknown_kid:
            probes.append(Probe("unknown kid", "/me", bearer(self.issuer.token(key=self.attacker)), expected=401))
        return probes

    def _menu(self, phase: Phase) -> tuple[list[Probe], list[Probe]]:
        valid = [probe for name in phase.send for probe in self.pools[name]]
        return valid, self._sprinkle(phase)

    # -- the load generators' side ------------------------------------------------------------

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def next_probe(self, rng: random.Random) -> tuple[int, Probe]:
        with self.lock:
            index = self.phase
            self.in_flight[index] += 1
        valid, sprinkle = self.menus[index]
        return index, rng.choice(sprinkle if rng.random() < 0.2 else valid)

    def record(self, index: int, probe: Probe, sent: float, status: int, body: Any) -> None:
        received = time.monotonic()
        sub = body.get("sub") if status == 200 and isinstance(body, dict) else None
        with self.lock:
            self.in_flight[index] -= 1
            self.answers.append(Answer(probe, index, sent, received, status, sub))

    # -- the issuer's side --------------------------------------------------------------------

    def start(self) -> threading.Thread:
        """Enter the first phase, then run the rotation in a thread that sets
        :attr:`stop` when done."""
        first = self._enter(0)
        thread = threading.Thread(target=self._orchestrate, args=(first,), name="rotation", daemon=True)
        thread.start()
        return thread

    def _enter(self, index: int) -> tuple[int, int]:
        """The issuer's actions for phase *index*, then the switch to its
        tokens; returns the key-set changes and fetches seen before."""
        phase = PHASES[index]
        changes, fetches = len(self.verifier.applied), self.server.keys.jwks_requests
        if phase.retire:
            self.retired[phase.retire] = time.monotonic()
            self.issuer.retire(self.keys[phase.retire].kid)
        if phase.publish:
            key = self.keys[phase.publish]
            self.issuer.add_key(key.alg, kid=key.kid, private_key=key.private_key)
        if phase.advance:
            self.clock.advance(phase.advance)
        for name in phase.send:
            if name not in self.pools:
                self._mint_pool(name)
        menu = self._menu(phase)
        with self.lock:
            self.menus.append(menu)
            self.phase = index
            self.cursor = len(self.answers)  # answers of this phase come after
        return changes, fetches

    def _orchestrate(self, first: tuple[int, int]) -> None:
        try:
            for index, phase in enumerate(PHASES):
                changes, fetches = self._enter(index) if index else first
                if phase.wait == "change" and not self._until(lambda: len(self.verifier.applied) > changes, phase):
                    return
                if phase.wait == "drain" and not self._until(lambda: not any(self.in_flight[:index]), phase):
                    return
                since = time.monotonic()
                if not self._until(lambda: self._served(phase, index, since), phase):
                    return
                self.reports[index].fetches = self.server.keys.jwks_requests - fetches
        except BaseException as exc:
            self.incomplete = f"the rotation failed: {exc!r}"
            raise
        finally:
            self.stop.set()

    def _served(self, phase: Phase, index: int, since: float) -> bool:
        """Has *phase* had its quota of answers to requests sent since its
        wait ended, with tokens of every key it sends among them?"""
        with self.lock:
            answers = [answer for answer in self.answers[self.cursor :] if answer.phase == index]
        answers = [answer for answer in answers if answer.sent >= since]
        keys = [answer.probe.key for answer in answers]
        return len(answers) >= self.load.quota and all(keys.count(name) >= MIN_PER_KEY for name in phase.send)

    def _until(self, condition: Callable[[], bool], phase: Phase) -> bool:
        while not condition():
            if time.monotonic() > self.deadline:
                self.incomplete = f"phase {phase.name!r} did not finish within {self.load.cap:.0f} s"
                return False
            time.sleep(0.002)
        return True

    # -- judging ------------------------------------------------------------------------------------

    def report(self, adapter: str) -> RotationReport:
        wrong: list[str] = []
        rules: dict[str, int] = dict.fromkeys((PUBLISHED, NOT_YET_FETCHED, SWITCH_OVER, RETIRED, SPRINKLE), 0)
        refused: dict[str, int] = {}
        for answer in self.answers:
            rule, problem = judge(answer, self.retired, self.verifier.fetched, self.verifier.applied)
            rules[rule] += 1
            if rule == RETIRED and answer.probe.key:
                refused[answer.probe.key] = refused.get(answer.probe.key, 0) + 1
            if problem:
                wrong.append(f"{PHASES[answer.phase].name}: {problem}")
            self.reports[answer.phase].requests += 1
        keys = self.server.keys
        problems = []
        if self.incomplete:
            problems.append(self.incomplete)
        if len(self.verifier.applied) != CHANGES:
            problems.append(f"{len(self.verifier.applied)} key-set changes applied, expected {CHANGES}")
        # Rotation one needs no unknown-kid refetch for k2 while it is
        # published; rotation two exactly one for k3.
        refetched = self.verifier.refetched
        k2 = [at for at, kid in refetched if kid == self.keys["k2"].kid and at < self.retired.get("k2", math.inf)]
        if k2:
            problems.append(f"{len(k2)} unknown-kid refetches for k2 although it was published ahead")
        k3 = sum(1 for _, kid in refetched if kid == self.keys["k3"].kid)
        if k3 != 1:
            problems.append(f"{k3} unknown-kid refetches for k3, expected 1")
        if keys.discovery_requests != 1:
            problems.append(f"{keys.discovery_requests} discovery fetches, expected 1")
        if not CHANGES <= keys.jwks_requests <= fetch_bound():
            problems.append(f"{keys.jwks_requests} key-set fetches, expected {CHANGES}..{fetch_bound()}")
        return RotationReport(
            adapter=adapter,
            requests=len(self.answers),
            wrong=wrong,
            rules=rules,
            refused_retired=refused,
            discovery=keys.discovery_requests,
            jwks=keys.jwks_requests,
            changes=len(self.verifier.applied),
            phases=self.reports,
            complete=self.incomplete is None,
            seconds=time.monotonic() - self.started,
            problems=problems,
        )


@contextmanager
def rotation(load: Load) -> Iterator[Rotation]:
    """A fresh issuer on a fake clock, published by a real key server."""
    clock = FakeClock(NOW)
    issuer = LocalIssuer(audience=AUDIENCE, kid="rotation-k1", clock=clock, token_lifetime=3600)
    with LocalServer(issuer, max_age=MAX_AGE) as server:
        run = Rotation(issuer, server, clock, load)
        try:
            yield run
        finally:
            run.stop.set()
            run.verifier.close()


# -- the applications and their servers --------------------------------------------------------------


def starlette_app(verifier: Verifier) -> Starlette:
    async def me(request: Request) -> JSONResponse:
        token = asgi_token(request)
        return JSONResponse({"sub": token.subject if token else None})

    @asgi_scopes("read")
    async def read(request: Request) -> JSONResponse:
        return await me(request)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await verifier.aclose()  # the async client belongs to the server's loop

    return Starlette(
        routes=[Route("/me", me), Route("/read", read)],
        middleware=[Middleware(ASGIGuard, verifier=verifier)],
        lifespan=lifespan,
    )


def flask_app(verifier: Verifier) -> Flask:
    app = Flask(__name__)

    @app.get("/me")
    def me() -> Any:
        token = wsgi_token()
        return jsonify(sub=token.subject if token else None)

    @app.get("/read")
    @wsgi_scopes("read")
    def read() -> Any:
        return me()

    app.wsgi_app = WSGIGuard(app.wsgi_app, verifier=verifier)
    return app


class _Handler(WSGIRequestHandler):
    # Headers and body are separate writes: without TCP_NODELAY a kept-alive
    # client's delayed ACK stalls each answer by ~40 ms.
    disable_nagle_algorithm = True

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@contextmanager
def serve_werkzeug(app: Any) -> Iterator[str]:
    """Werkzeug's threaded server on 127.0.0.1 (ephemeral port); yields its URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


# -- load generators ---------------------------------------------------------------------------------


def _thread_client(run: Rotation, url: str, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as client:
        while run.running():
            index, probe = run.next_probe(rng)
            sent = time.monotonic()
            try:
                response = client.get(probe.path, headers=probe.headers)
            except httpx.HTTPError:
                run.record(index, probe, sent, 0, None)
            else:
                run.record(index, probe, sent, response.status_code, _body(response))


async def _task_client(run: Rotation, client: httpx.AsyncClient, seed: int) -> None:
    rng = random.Random(seed)
    while run.running():
        index, probe = run.next_probe(rng)
        sent = time.monotonic()
        try:
            response = await client.get(probe.path, headers=probe.headers)
        except httpx.HTTPError:
            run.record(index, probe, sent, 0, None)
        else:
            run.record(index, probe, sent, response.status_code, _body(response))


def run_wsgi(load: Load) -> RotationReport:
    """The rotation against Flask on Werkzeug's threaded server."""
    with rotation(load) as run, serve_werkzeug(flask_app(run.verifier)) as url:
        orchestrator = run.start()
        clients = [threading.Thread(target=_thread_client, args=(run, url, seed)) for seed in range(load.clients)]
        for thread in clients:
            thread.start()
        orchestrator.join(load.cap + 5)
        run.stop.set()
        for thread in clients:
            thread.join(60)
        return run.report("wsgi (Flask on Werkzeug, threaded)")


def run_asgi(load: Load) -> RotationReport:
    """The rotation against Starlette on uvicorn."""
    with rotation(load) as run, serve_uvicorn(starlette_app(run.verifier)) as server:

        async def generate() -> None:
            limits = httpx.Limits(max_connections=load.clients, max_keepalive_connections=load.clients)
            async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits, trust_env=False) as client:
                await asyncio.gather(*(_task_client(run, client, seed) for seed in range(load.clients)))

        orchestrator = run.start()
        asyncio.run(generate())
        orchestrator.join(load.cap + 5)
        return run.report("asgi (Starlette on uvicorn)")


RUNNERS = {"asgi": run_asgi, "wsgi": run_wsgi}


# -- tests --------------------------------------------------------------------------------------------


def _check(report: RotationReport) -> None:
    print(describe(report))
    assert report.problems == []
    assert report.wrong == [], report.wrong[:20]
    assert all(phase.requests for phase in report.phases)
    # Both retirements were really exercised: tokens of each retired key
    # arrived after its removal had been applied.
    assert set(report.refused_retired) == {"k1", "k2"}


@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_rotation_with_a_few_clients(adapter):
    """The small, fast variant: every phase, a dozen requests each."""
    _check(RUNNERS[adapter](FAST))


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ["asgi", "wsgi"])
def test_rotation_under_load(adapter):
    """Twelve concurrent clients, a few thousand requests."""
    report = RUNNERS[adapter](FULL)
    _check(report)
    assert report.requests >= len(PHASES) * FULL.quota


K1 = Probe("valid", "/me", "Bearer x", "k1", "k1-0")
K2 = Probe("valid", "/me", "Bearer y", "k2", "k2-0")
EXPIRED = Probe("expired", "/me", "Bearer z", expected=401)


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        pytest.param(Answer(K1, 3, 9.0, 10.5, 200, "k1-0"), (NOT_YET_FETCHED, None), id="retired-not-fetched-200"),
        pytest.param(
            Answer(K1, 3, 9.0, 10.5, 401, None),
            (NOT_YET_FETCHED, "k1 token: 401, expected [200]"),
            id="retired-not-fetched-401",
        ),
        pytest.param(Answer(K1, 3, 11.5, 12.5, 401, None), (SWITCH_OVER, None), id="switch-over-401"),
        pytest.param(Answer(K1, 3, 11.5, 12.5, 200, "k1-0"), (SWITCH_OVER, None), id="switch-over-200"),
        pytest.param(Answer(K1, 3, 12.5, 13.0, 401, None), (RETIRED, None), id="retired-applied-401"),
        pytest.param(
            Answer(K1, 3, 12.5, 13.0, 200, "k1-0"), (RETIRED, "k1 token: 200, expected [401]"), id="retired-applied-200"
        ),
        pytest.param(Answer(K1, 3, 8.0, 9.0, 200, "k1-0"), (PUBLISHED, None), id="before-retirement-200"),
        pytest.param(Answer(K2, 3, 12.5, 13.0, 200, "k2-0"), (PUBLISHED, None), id="published-200"),
        pytest.param(
            Answer(K2, 3, 12.5, 13.0, 200, "k2-1"),
            (PUBLISHED, "k2 token: 200 for sub 'k2-1', expected 'k2-0'"),
            id="published-wrong-subject",
        ),
        pytest.param(
            Answer(K2, 3, 12.5, 13.0, 503, None), (PUBLISHED, "k2 token: 503, expected [200]"), id="published-503"
        ),
        pytest.param(
            Answer(K2, 3, 12.5, 13.0, 0, None), (PUBLISHED, "k2 token: 0, expected [200]"), id="published-no-answer"
        ),
        pytest.param(Answer(EXPIRED, 0, 1.0, 2.0, 401, None), (SPRINKLE, None), id="sprinkle-401"),
        pytest.param(
            Answer(EXPIRED, 0, 1.0, 2.0, 400, None), (SPRINKLE, "expired: 400, expected 401"), id="sprinkle-400"
        ),
    ],
)
def test_judge(answer, verdict):
    """The rules: k1 retired at t=10, its removal fetched at t=11 and applied at t=12."""
    assert judge(answer, {"k1": 10.0}, [5.0, 11.0], [5.1, 12.0]) == verdict


def test_fetch_bound():
    """Four clock moves: cold start + 4 refreshes + 5 unknown-kid refetches."""
    assert fetch_bound() == 10


# -- the report ---------------------------------------------------------------------------------------


def describe(report: RotationReport) -> str:
    per_phase = ", ".join(f"{phase.name} {phase.requests}/{phase.fetches}" for phase in report.phases)
    rules = "; ".join(f"{rule} x {count}" for rule, count in report.rules.items())
    lines = [
        f"rotation {report.adapter}: {report.requests} requests, {len(report.wrong)} wrong answers, "
        f"{report.seconds:.1f} s",
        f"  key fetches: {report.discovery} discovery + {report.jwks} JWKS ({report.changes} key-set changes; "
        f"policy bound {fetch_bound()})",
        f"  per phase (requests/JWKS fetches): {per_phase}",
        f"  answers by rule: {rules}",
    ]
    lines += [f"  FAIL {problem}" for problem in report.problems + report.wrong[:10]]
    return "\n".join(lines)


def rotation_summary(load: Load = REPORT) -> Iterator[str]:
    """Report lines for ``benchmarks/security_report.py``: both adapters under
    *load* (half a minute each at most), outside pytest."""
    for adapter, run in RUNNERS.items():
        report = run(load)
        verdict = "" if report.ok else " FAIL"
        yield f"rotation {report.adapter}: {len(report.wrong)} wrong answers in {report.requests} requests{verdict}"
        yield from describe(report).splitlines()[1:]
