"""Benchmark: the cost of JWTGuardMiddleware on a hello-world Starlette app.

Variants (all serve ``GET /`` -> "hello"):

``bare``           no authentication at all
``bare-control``   the same again: the noise floor (see below)
``guard``          JWTGuardMiddleware, verified-token cache on (the default)
``guard-nocache``  JWTGuardMiddleware with ``result_cache_size=0``
``pyjwt-recipe``   the hand-written recipe: Starlette's AuthenticationMiddleware
                   with a backend using PyJWT's ``jwt.decode`` and ``PyJWKClient``

Keys come from a local issuer on 127.0.0.1 (discovery + JWKS over real HTTP);
every request, to every variant (bare included, which ignores it), carries the
same valid RS256 token, so all variants parse the same bytes.

(a) in process: CPU µs per request (process CPU time: waiting for a core on
    a shared machine is left out), driving the ASGI app directly in short
    batches, the variants interleaved batch by batch;
(b) over loopback: requests/s against uvicorn (one worker process per
    variant), with ``wrk`` when installed, else an httpx-based load generator
    (much slower than wrk: it becomes the bottleneck and pulls every ratio
    towards 1, so use it only to check that things run).
    The server's CPU time per request (from /proc, Linux only) is reported
    alongside: it is less sensitive than throughput to other work on a
    shared machine.

Variants are interleaved: batch by batch in (a), and in (b) in an order
rotated every round so that each variant takes every position equally
often. The servers run pinned to one CPU and the load generator to another
(Linux, at least two CPUs; ``--no-pin`` to let the scheduler place them).
Tables give medians over rounds; the ratios ("of bare", "x pyjwt") are
medians of ratios taken within each round. ``bare-control`` is a second,
identical bare app: its distance from ``bare`` is the noise floor of the
run, to be read against the targets. Targets (issue 4): ``guard`` throughput
>= 90% of ``bare`` and >= 1.5x ``pyjwt-recipe``; a summary line per target
says met or missed, by how much, and whether the margin is within the
noise floor, for the verified-token cache on and off. Run::

    python benchmarks/asgi.py                 # default: about two minutes
    python benchmarks/asgi.py --quick         # a smoke run (about 20 s)

This is not a test: it asserts nothing and prints tables.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmark the checkout this file belongs to

# "bare-control" is a second, identical bare app: how far it strays from
# "bare" shows the measurement's noise floor on this machine.
VARIANTS = ("bare", "bare-control", "guard", "guard-nocache", "pyjwt-recipe")
AUDIENCE = "https://api.bench.test"
TARGET_SHARE = 0.90
TARGET_VS_PYJWT = 1.5
BATCHES = 10  # per variant and in-process round


# -- the applications --------------------------------------------------------------


def build_app(variant: str, issuer_url: str, jwks_uri: str) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    middleware: list[Middleware] = []
    if variant in ("guard", "guard-nocache"):
        from jwt_guard import Verifier
        from jwt_guard.asgi import JWTGuardMiddleware

        cache = 0 if variant == "guard-nocache" else 1024
        verifier = Verifier(issuer=issuer_url, audience=AUDIENCE, result_cache_size=cache)
        middleware = [Middleware(JWTGuardMiddleware, verifier=verifier)]
    elif variant == "pyjwt-recipe":
        middleware = [pyjwt_recipe(issuer_url, jwks_uri)]
    elif variant not in ("bare", "bare-control"):
        raise SystemExit(f"unknown variant {variant!r}")
    return Starlette(routes=[Route("/", hello)], middleware=middleware)


def pyjwt_recipe(issuer_url: str, jwks_uri: str) -> Any:
    """What most applications write today (the usual blog-post recipe)."""
    import jwt
    from starlette.authentication import (
        AuthCredentials,
        AuthenticationBackend,
        AuthenticationError,
        SimpleUser,
    )
    from starlette.middleware import Middleware
    from starlette.middleware.authentication import AuthenticationMiddleware

    jwks_client = jwt.PyJWKClient(jwks_uri, cache_keys=True)

    class JWTBackend(AuthenticationBackend):
        async def authenticate(self, conn: Any) -> Any:
            header = conn.headers.get("authorization")
            if not header:
                raise AuthenticationError("missing token")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer":
                raise AuthenticationError("not a bearer token")
            try:
                key = jwks_client.get_signing_key_from_jwt(token)
                claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer_url)
            except jwt.PyJWTError as exc:
                raise AuthenticationError(str(exc)) from exc
            return AuthCredentials(claims.get("scope", "").split()), SimpleUser(claims.get("sub", ""))

    return Middleware(AuthenticationMiddleware, backend=JWTBackend())


# -- (a) in process ------------------------------------------------------------------


async def _call(app: Any, scope: dict[str, Any]) -> int:
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(scope), receive, send)
    return status


def _scope(token: str | None) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"user-agent", b"bench")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _cpu_ns_per_batch(app: Any, scope: dict[str, Any], iterations: int) -> int:
    # CPU time, not wall time: on a shared machine it leaves out the time
    # this process waited for a core.
    gc.disable()
    try:
        start = time.process_time_ns()
        for _ in range(iterations):
            await _call(app, scope)
        return time.process_time_ns() - start
    finally:
        gc.enable()


async def in_process(
    issuer_url: str, jwks_uri: str, token: str, rounds: int, budget_s: float
) -> dict[str, list[float]]:
    """CPU µs per request of every variant, one sample per round.

    A round runs BATCHES short batches of every variant, in a new random
    order each time, so that a burst of other work on the machine falls on
    all variants alike.
    """
    apps = {variant: build_app(variant, issuer_url, jwks_uri) for variant in VARIANTS}
    # Every variant gets the same request, token included: the baseline is
    # the bare app serving exactly the bytes the protected ones receive.
    scope = _scope(token)
    batch = {}
    for variant, app in apps.items():  # warm up: keys fetched, caches filled
        for _ in range(50):
            status = await _call(app, scope)
        if status != 200:
            raise SystemExit(f"{variant}: warm-up answered {status}")
        single_ns = max(await _cpu_ns_per_batch(app, scope, 50) / 50, 1000.0)
        batch[variant] = max(5, int(budget_s * 1e9 / BATCHES / single_ns))
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        spent = dict.fromkeys(VARIANTS, 0)
        order = list(VARIANTS)
        for _ in range(BATCHES):
            shuffle(order)
            for variant in order:
                spent[variant] += await _cpu_ns_per_batch(apps[variant], scope, batch[variant])
        for variant in VARIANTS:
            samples[variant].append(spent[variant] / (BATCHES * batch[variant]) / 1000.0)
    return samples


# -- (b) over loopback ---------------------------------------------------------------


def serve(variant: str, issuer_url: str, jwks_uri: str, fd: int) -> None:
    """Child process: serve *variant* with uvicorn on the listening socket *fd* until terminated."""
    import uvicorn

    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only then (else Nagle adds 40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=fd)
    app = build_app(variant, issuer_url, jwks_uri)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=1024)
    uvicorn.Server(config).run(sockets=[sock])


def _server_stack() -> str:
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"uvicorn ({http}, {loop}), 1 process"


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of *pid*, all threads (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        # After "pid (comm)": utime and stime are fields 12 and 13.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _wrk(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", f"Authorization: Bearer {token}", url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None or "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"wrk failed or saw errors:\n{output}")
    return float(rate.group(1)), int(count.group(1))


async def _httpx_load(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    done = 0
    deadline = time.perf_counter() + duration
    async with httpx.AsyncClient(limits=limits, timeout=10, trust_env=False) as client:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                response = await client.get(url, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"load generator got {response.status_code}")
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        return done / (time.perf_counter() - start), done


def _httpx_load_sync(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
    return asyncio.run(_httpx_load(url, token, duration, connections))


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # The child leads its own process group (start_new_session):
            # this reaches whatever it started, and nothing else.
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=15)


def over_loopback(
    issuer_url: str, jwks_uri: str, token: str, args: argparse.Namespace, use_wrk: bool
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """(requests/s, server CPU µs per request) samples for every variant."""
    import httpx

    children: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    load = _wrk if use_wrk else _httpx_load_sync
    cpus = _cpus_for_pinning() if args.pin else None
    with ExitStack() as cleanup:
        if cpus is not None:
            # Servers on one CPU, this process and the load generator it
            # starts on another: where the scheduler puts them no longer
            # varies from one measurement to the next.
            cleanup.callback(os.sched_setaffinity, 0, os.sched_getaffinity(0))
            os.sched_setaffinity(0, {cpus[1]})
        for variant in VARIANTS:
            listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
            with listener:
                command = [sys.executable, __file__, "--serve", variant, "--issuer-url", issuer_url]
                command += ["--jwks-uri", jwks_uri, "--fd", str(listener.fileno())]
                child = subprocess.Popen(command, env=env, pass_fds=[listener.fileno()], start_new_session=True)
                children[variant] = child
                cleanup.callback(_stop, child)
                if cpus is not None:
                    _pin(child.pid, cpus[0])
                urls[variant] = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        headers = {"Authorization": f"Bearer {token}"}
        for variant in VARIANTS:  # wait until serving: keys fetched, first connections made
            deadline = time.monotonic() + 60
            while True:
                try:
                    status = httpx.get(urls[variant], headers=headers, timeout=10, trust_env=False).status_code
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or children[variant].poll() is not None:
                        raise SystemExit(f"{variant}: the server did not start") from None
                    time.sleep(0.1)
            if status != 200:
                raise SystemExit(f"{variant}: warm-up answered {status}")
            load(urls[variant], token, 1, args.connections)  # warm up under load, not counted
        rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for index in range(args.http_rounds):
            order = _round_order(index)
            for variant in order:  # same request bytes for all
                before = _cpu_seconds(children[variant].pid)
                rate, count = load(urls[variant], token, args.duration, args.connections)
                after = _cpu_seconds(children[variant].pid)
                rates[variant].append(rate)
                if before is not None and after is not None and count:
                    cpu[variant].append((after - before) / count * 1e6)
    return rates, cpu


def _round_order(index: int) -> list[str]:
    """The variants' order in loopback round *index*: rotated every round and
    reversed every other cycle, so that each variant takes every position
    (first, last, after each neighbour) about equally often."""
    shift = index % len(VARIANTS)
    order = list(VARIANTS[shift:] + VARIANTS[:shift])
    if (index // len(VARIANTS)) % 2:
        order.reverse()
    return order


def _cpus_for_pinning() -> tuple[int, int] | None:
    """Two CPUs, one for the servers and one for the load generator, if the
    platform can pin processes and this process may use two CPUs."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else None


def _pin(pid: int, cpu: int) -> None:
    with contextlib.suppress(OSError):  # the process may have exited
        os.sched_setaffinity(pid, {cpu})


# -- reporting -------------------------------------------------------------------------


def _ratio(samples: dict[str, list[float]], variant: str, other: str, higher_is_better: bool) -> float:
    """Median over rounds of *variant*'s throughput relative to *other*'s."""
    pairs = zip(samples[variant], samples[other], strict=True)
    return statistics.median(a / b if higher_is_better else b / a for a, b in pairs)


def table(title: str, unit: str, samples: dict[str, list[float]], higher_is_better: bool) -> str:
    lines = [title, f"{'variant':<15} {'median ' + unit:>16} {'min':>10} {'max':>10} {'of bare':>8} {'x pyjwt':>8}"]
    for variant in VARIANTS:
        values = samples[variant]
        share = _ratio(samples, variant, "bare", higher_is_better)
        vs_pyjwt = _ratio(samples, variant, "pyjwt-recipe", higher_is_better)
        lines.append(
            f"{variant:<15} {statistics.median(values):>16.1f} {min(values):>10.1f} {max(values):>10.1f}"
            f" {share:>8.1%} {vs_pyjwt:>7.2f}x"
        )
    return "\n".join(lines)


def cpu_table(title: str, samples: dict[str, list[float]]) -> str:
    lines = [title, f"{'variant':<15} {'median us/req':>16} {'min':>10} {'max':>10} {'vs bare':>9}"]
    bare = statistics.median(samples["bare"])
    for variant in VARIANTS:
        values = samples[variant]
        median = statistics.median(values)
        lines.append(f"{variant:<15} {median:>16.1f} {min(values):>10.1f} {max(values):>10.1f} {median - bare:>+8.1f}")
    return "\n".join(lines)


def _verdict(value: float, target: float, noise: float) -> str:
    """met / MISSED, flagged when the margin is within the run's noise floor."""
    status = "met" if value >= target else "MISSED"
    return status + (", within the noise floor" if abs(value / target - 1) <= noise else "")


def verdicts(label: str, samples: dict[str, list[float]], higher_is_better: bool) -> list[str]:
    """One line per variant and target: met or missed, and by how much.

    The noise floor is how far bare-control, identical to bare, strayed
    from it: a margin smaller than that is not a measured difference.
    """
    noise = abs(_ratio(samples, "bare-control", "bare", higher_is_better) - 1)
    lines = [f"{label}: noise floor {noise:.1%} (bare-control, an identical bare app, against bare)"]
    for variant in ("guard", "guard-nocache"):
        share = _ratio(samples, variant, "bare", higher_is_better)
        vs_pyjwt = _ratio(samples, variant, "pyjwt-recipe", higher_is_better)
        name = variant + (" (cache off)" if variant == "guard-nocache" else "")
        lines.append(
            f"{label}: {name} {share:.1%} of bare: {_verdict(share, TARGET_SHARE, noise)}"
            f" ({(share - TARGET_SHARE) * 100:+.1f} points vs {TARGET_SHARE:.0%})"
        )
        lines.append(
            f"{label}: {name} {vs_pyjwt:.2f}x pyjwt-recipe: {_verdict(vs_pyjwt, TARGET_VS_PYJWT, noise)}"
            f" ({vs_pyjwt - TARGET_VS_PYJWT:+.2f}x vs {TARGET_VS_PYJWT}x)"
        )
    return lines


def _load_average() -> str:
    try:
        return "load average " + ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "load average unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="in-process rounds (default 7)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per variant and in-process round (0.3)")
    parser.add_argument("--http-rounds", type=int, default=8, help="loopback rounds (default 8)")
    parser.add_argument("--duration", type=int, default=2, help="seconds per loopback measurement (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--no-wrk", action="store_true", help="use the httpx load generator even if wrk exists")
    parser.add_argument(
        "--no-pin",
        dest="pin",
        action="store_false",
        help="do not pin the servers and the load generator to two different CPUs (Linux)",
    )
    parser.add_argument("--skip-loopback", action="store_true", help="run (a) only")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 3 + 2 rounds, 1 s each")
    parser.add_argument("--json", action="store_true", help="also print the raw samples as JSON")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--issuer-url", help=argparse.SUPPRESS)
    parser.add_argument("--jwks-uri", help=argparse.SUPPRESS)
    parser.add_argument("--fd", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.issuer_url, args.jwks_uri, args.fd)
        return 0
    if args.quick:
        args.rounds, args.budget, args.http_rounds, args.duration = 3, 0.1, 2, 1

    from jwt_guard.testing import LocalIssuer, LocalServer

    issuer = LocalIssuer(audience=AUDIENCE, token_lifetime=24 * 3600)
    with LocalServer(issuer) as keys:
        token = issuer.token(scope="read", sub="bench")
        use_wrk = shutil.which("wrk") is not None and not args.no_wrk
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {_load_average()}; "
            f"RS256 token of {len(token)} bytes; keys from {keys.url} (loopback)"
        )
        a = asyncio.run(in_process(keys.issuer_url, keys.jwks_uri, token, args.rounds, args.budget))
        print()
        title = f"(a) in process: direct ASGI calls, CPU time, {args.rounds} rounds x {BATCHES} interleaved batches"
        print(table(title, "us/req", a, False))
        lines = verdicts("(a) in process", a, False)
        results: dict[str, Any] = {"in_process_us": a}
        if not args.skip_loopback:
            b, cpu = over_loopback(keys.issuer_url, keys.jwks_uri, token, args, use_wrk)
            cpus = _cpus_for_pinning() if args.pin else None
            pinning = f"servers on CPU {cpus[0]}, load on CPU {cpus[1]}" if cpus else "not pinned"
            generator = "wrk -t1" if use_wrk else "httpx (async)"
            title = (
                f"(b) over loopback: {_server_stack()}; {generator}, {args.connections} connections, "
                f"{args.http_rounds} rounds x {args.duration} s; {pinning}"
            )
            print()
            print(table(title, "req/s", b, True))
            if all(cpu.values()):
                print()
                print(cpu_table("(b) server CPU time per request (from /proc)", cpu))
            lines += verdicts("(b) loopback", b, True)
            results.update(loopback_rps=b, server_cpu_us=cpu)
        print()
        print(
            f"Targets (issue 4): guard >= {TARGET_SHARE:.0%} of bare and >= {TARGET_VS_PYJWT}x pyjwt-recipe; "
            "ratios are medians of within-round ratios. The loopback figures are the target measurement."
        )
        for line in lines:
            print(line)
        print(f"finished with {_load_average()}")
        if args.json:
            print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
