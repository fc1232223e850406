"""Benchmark: the cost of protecting a Flask application with jwt_guard's WSGI middleware.

Variants (all serve ``GET /messages`` -> a small JSON document):

``bare``           the Flask app, nothing checks the token
``bare-control``   the same again: the noise floor (see below)
``guard``          ``JWTGuardMiddleware`` on ``app.wsgi_app``, verified-token cache on (the default)
``guard-nocache``  the same with ``result_cache_size=0``: a full verification per request
``pyjwt-recipe``   the common hand-written Flask decorator: ``PyJWKClient`` +
                   ``jwt.decode(..., audience=..., issuer=...)``

Keys come from a local issuer on 127.0.0.1 (discovery + JWKS over real HTTP).
Every request, to every variant (bare included, which ignores it), carries
the same valid RS256 access token, so all variants receive the same bytes.

(a) in process: CPU µs per request (process CPU time: waiting for a core on
    a shared machine is left out), calling the WSGI application directly with
    a prepared environ in short batches, the variants interleaved batch by batch;
(b) over loopback: requests/s against a production WSGI server (default
    gunicorn, one ``gthread`` worker process per variant), driven by ``wrk``
    when installed, else by an httpx-based load generator (much slower than
    wrk: it becomes the bottleneck and pulls every ratio towards 1, so use it
    only to check that things run). The server's CPU
    time per request (from /proc, Linux only) is reported alongside: it is
    less sensitive than throughput to other work on a shared machine.

Variants are interleaved: batch by batch in (a), and in (b) in an order
rotated every round so that each variant takes every position equally
often. The servers run pinned to one CPU and the load generator to another
(Linux, at least two CPUs; ``--no-pin`` to let the scheduler place them).
Tables give medians over rounds; the ratios ("of bare", "x pyjwt") are
medians of ratios taken within each round. ``bare-control`` is a second,
identical bare app: its distance from ``bare`` is the noise floor of the
run, to be read against the targets. Targets (issue 5): ``guard`` throughput
>= 90% of ``bare`` and >= 1.5x ``pyjwt-recipe``; a summary line per target
says met or missed, by how much, and whether the margin is within the
noise floor, for the verified-token cache on and off. Run::

    python benchmarks/wsgi.py                  # default: about two minutes
    python benchmarks/wsgi.py --quick          # a smoke run (about 25 s)
    python benchmarks/wsgi.py --server waitress --threads 8

This is not a test: it asserts nothing and prints tables.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import importlib
import importlib.util
import io
import json
import logging
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmark the checkout this file belongs to

# "bare-control" is a second, identical bare app: how far it strays from
# "bare" shows the measurement's noise floor on this machine.
VARIANTS = ("bare", "bare-control", "guard", "guard-nocache", "pyjwt-recipe")
SERVERS = ("gunicorn", "waitress", "werkzeug")
AUDIENCE = "https://api.bench.test"
PATH = "/messages"
TARGET_SHARE = 0.90
TARGET_VS_PYJWT = 1.5
BATCHES = 10  # per variant and in-process round


# -- the applications --------------------------------------------------------------


def flask_app() -> Any:
    from flask import Flask

    app = Flask("bench")

    @app.get(PATH)
    def messages() -> dict[str, Any]:
        return {"messages": ["hello"]}

    return app


def pyjwt_recipe_app(issuer_url: str, jwks_uri: str) -> Any:
    """The decorator found in most Flask + OAuth tutorials."""
    import jwt
    from flask import Flask, g, jsonify, request

    jwks_client = jwt.PyJWKClient(jwks_uri, cache_keys=True)

    def requires_auth(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def decorated(*args: Any, **kwargs: Any) -> Any:
            auth = request.headers.get("Authorization")
            if not auth:
                return jsonify(error="authorization_header_missing"), 401
            parts = auth.split()
            if parts[0].lower() != "bearer" or len(parts) != 2:
                return jsonify(error="invalid_header"), 401
            token = parts[1]
            try:
                signing_key = jwks_client.get_signing_key_from_jwt(token)
                g.claims = jwt.decode(
                    token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer_url
                )
            except jwt.PyJWTError:
                return jsonify(error="invalid_token"), 401
            return view(*args, **kwargs)

        return decorated

    app = Flask("bench-pyjwt")

    @app.get(PATH)
    @requires_auth
    def messages() -> dict[str, Any]:
        return {"messages": ["hello"]}

    return app


def build_app(variant: str, issuer_url: str, jwks_uri: str) -> Any:
    """The WSGI application of *variant* (each answers 200 to the token)."""
    if variant in ("bare", "bare-control"):
        return flask_app().wsgi_app
    if variant in ("guard", "guard-nocache"):
        from jwt_guard import Verifier
        from jwt_guard.wsgi import JWTGuardMiddleware

        cache = 0 if variant == "guard-nocache" else 1024
        verifier = Verifier(issuer=issuer_url, audience=AUDIENCE, result_cache_size=cache)
        verifier.prefetch()  # what a deployment does at startup (see the wsgi module docs)
        return JWTGuardMiddleware(flask_app().wsgi_app, verifier=verifier)
    if variant == "pyjwt-recipe":
        return pyjwt_recipe_app(issuer_url, jwks_uri).wsgi_app
    raise SystemExit(f"unknown variant {variant!r}")


# -- (a) in process ------------------------------------------------------------------


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    return _write


def _write(data: bytes) -> None:
    pass


def _caller(app: Any, template: dict[str, Any]) -> Callable[[], int]:
    def call() -> int:
        environ = template.copy()
        environ["wsgi.input"] = io.BytesIO()
        result = app(environ, _start_response)
        size = sum(len(chunk) for chunk in result)
        close = getattr(result, "close", None)
        if close is not None:
            close()
        return size

    return call


def _cpu_ns_per_batch(fn: Callable[[], object], iterations: int) -> int:
    # CPU time, not wall time: on a shared machine it leaves out the time
    # this process waited for a core.
    gc.disable()
    try:
        start = time.process_time_ns()
        for _ in range(iterations):
            fn()
        return time.process_time_ns() - start
    finally:
        gc.enable()


def in_process(issuer_url: str, jwks_uri: str, token: str, rounds: int, budget_s: float) -> dict[str, list[float]]:
    """CPU µs per request of every variant, one sample per round.

    A round runs BATCHES short batches of every variant, in a new random
    order each time, so that a burst of other work on the machine falls on
    all variants alike.
    """
    from werkzeug.test import EnvironBuilder

    template = EnvironBuilder(path=PATH, headers=[("Authorization", f"Bearer {token}")]).get_environ()
    calls = {variant: _caller(build_app(variant, issuer_url, jwks_uri), template) for variant in VARIANTS}
    batch = {}
    for variant, fn in calls.items():
        _cpu_ns_per_batch(fn, 50)  # warm up: caches filled
        single_ns = max(_cpu_ns_per_batch(fn, 50) / 50, 1000.0)
        batch[variant] = max(5, int(budget_s * 1e9 / BATCHES / single_ns))
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        spent = dict.fromkeys(VARIANTS, 0)
        order = list(VARIANTS)
        for _ in range(BATCHES):
            shuffle(order)
            for variant in order:
                spent[variant] += _cpu_ns_per_batch(calls[variant], batch[variant])
        for variant in VARIANTS:
            samples[variant].append(spent[variant] / (BATCHES * batch[variant]) / 1000.0)
    return samples


# -- (b) over loopback ---------------------------------------------------------------


def serve(variant: str, issuer_url: str, jwks_uri: str, server: str, fd: int, workers: int, threads: int) -> None:
    """Child process: serve *variant* on the listening socket *fd* until terminated."""
    if server == "gunicorn":
        base_application: Any = importlib.import_module("gunicorn.app.base").BaseApplication  # untyped

        class _Gunicorn(base_application):  # type: ignore[misc]
            def load_config(self) -> None:
                settings = {
                    "bind": [f"fd://{fd}"],
                    "workers": workers,
                    "worker_class": "gthread",
                    "threads": threads,
                    "keepalive": 30,
                    "accesslog": None,
                    "loglevel": "warning",
                    "graceful_timeout": 3,
                }
                for key, value in settings.items():
                    self.cfg.set(key, value)

            def load(self) -> Any:
                return build_app(variant, issuer_url, jwks_uri)

        _Gunicorn().run()
        return
    sock = socket.socket(fileno=fd)
    app = build_app(variant, issuer_url, jwks_uri)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if server == "waitress":
        logging.getLogger("waitress").setLevel(logging.ERROR)  # no "Task queue depth" under load
        importlib.import_module("waitress").serve(app, sockets=[sock], threads=threads, _quiet=True)
    else:
        from werkzeug.serving import WSGIRequestHandler, make_server

        class _Quiet(WSGIRequestHandler):
            def log(self, type: str, message: str, *args: Any) -> None:
                pass

        host, port = sock.getsockname()
        make_server(host, port, app, threaded=True, request_handler=_Quiet, fd=sock.detach()).serve_forever()


def _family(pid: int) -> list[int]:
    """*pid* and its direct children, e.g. gunicorn's arbiter and workers (Linux /proc)."""
    family = [pid]
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == pid:
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # After "pid (comm)": state, then the parent's pid.
                    if int(stat.read().rpartition(")")[2].split()[1]) == pid:
                        family.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return family


def _cpu_seconds(pids: list[int]) -> float | None:
    """User + system CPU time of *pids*, all threads (Linux /proc)."""
    total = 0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            # After "pid (comm)": utime and stime are fields 12 and 13.
            total += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def _wrk(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-H", f"Authorization: Bearer {token}", url]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 60, check=True).stdout
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    count = re.search(r"(\d+) requests in", output)
    if rate is None or count is None or "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"wrk failed or saw errors:\n{output}")
    return float(rate.group(1)), int(count.group(1))


def _httpx_load(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
    """Fallback load generator: *connections* threads with keep-alive clients."""
    import httpx

    deadline = time.perf_counter() + duration
    counts = [0] * connections
    errors: list[str] = []

    def client(index: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30, trust_env=False) as http:
            while time.perf_counter() < deadline:
                status = http.get(url).status_code
                if status != 200:
                    errors.append(str(status))
                    return
                counts[index] += 1

    start = time.perf_counter()
    workers = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(connections)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=duration + 60)
    elapsed = time.perf_counter() - start
    if errors:
        raise SystemExit(f"load generator got {errors[:5]}")
    return sum(counts) / elapsed, sum(counts)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # The child leads its own process group (start_new_session):
            # this reaches its worker processes too, and nothing else.
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
    load = _wrk if use_wrk else _httpx_load
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
                command += ["--jwks-uri", jwks_uri, "--server", args.server, "--fd", str(listener.fileno())]
                command += ["--workers", str(args.workers), "--threads", str(args.threads)]
                child = subprocess.Popen(command, env=env, pass_fds=[listener.fileno()], start_new_session=True)
                children[variant] = child
                cleanup.callback(_stop, child)
                urls[variant] = f"http://127.0.0.1:{listener.getsockname()[1]}{PATH}"
        headers = {"Authorization": f"Bearer {token}"}
        for variant in VARIANTS:  # wait until serving: keys fetched, workers up
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
        families = {variant: _family(child.pid) for variant, child in children.items()}
        if cpus is not None:
            for family in families.values():
                for pid in family:
                    _pin(pid, cpus[0])
        rates: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for index in range(args.http_rounds):
            order = _round_order(index)
            for variant in order:
                before = _cpu_seconds(families[variant])
                rate, count = load(urls[variant], token, args.duration, args.connections)
                after = _cpu_seconds(families[variant])
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


def _server_available(server: str) -> bool:
    return importlib.util.find_spec(server) is not None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="in-process rounds (default 7)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per variant and in-process round (0.3)")
    parser.add_argument("--http-rounds", type=int, default=8, help="loopback rounds (default 8)")
    parser.add_argument("--duration", type=int, default=2, help="seconds per loopback measurement (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument(
        "--server", choices=SERVERS, default="gunicorn", help="WSGI server for (b) (default gunicorn, gthread worker)"
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes, gunicorn only (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="threads per server worker (default 4)")
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
        serve(args.serve, args.issuer_url, args.jwks_uri, args.server, args.fd, args.workers, args.threads)
        return 0
    if args.quick:
        args.rounds, args.budget, args.http_rounds, args.duration = 3, 0.1, 2, 1
    if args.server != "werkzeug" and not _server_available(args.server):
        parser.error(f"{args.server} is not installed (pip install {args.server}), or use --server werkzeug")

    from jwt_guard.testing import LocalIssuer, LocalServer

    issuer = LocalIssuer(audience=AUDIENCE, token_lifetime=24 * 3600)
    with LocalServer(issuer) as keys:
        token = issuer.token(sub="auth0|5f7c8ec7c33c", scope="read:messages write:messages")
        use_wrk = shutil.which("wrk") is not None and not args.no_wrk
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {_load_average()}; "
            f"RS256 token of {len(token)} bytes; keys from {keys.url} (loopback)"
        )
        a = in_process(keys.issuer_url, keys.jwks_uri, token, args.rounds, args.budget)
        print()
        title = f"(a) in process: direct WSGI calls, CPU time, {args.rounds} rounds x {BATCHES} interleaved batches"
        print(table(title, "us/req", a, False))
        lines = verdicts("(a) in process", a, False)
        results: dict[str, Any] = {"in_process_us": a}
        if not args.skip_loopback:
            b, cpu = over_loopback(keys.issuer_url, keys.jwks_uri, token, args, use_wrk)
            cpus = _cpus_for_pinning() if args.pin else None
            pinning = f"servers on CPU {cpus[0]}, load on CPU {cpus[1]}" if cpus else "not pinned"
            generator = "wrk -t1" if use_wrk else "httpx (threads)"
            server = args.server
            if server == "gunicorn":
                server = f"gunicorn gthread, {args.workers} worker(s) x {args.threads} threads"
            elif server == "waitress":
                server = f"waitress, {args.threads} threads"
            print()
            print(
                table(
                    f"(b) over loopback: {server}; {generator}, {args.connections} connections, "
                    f"{args.http_rounds} rounds x {args.duration} s; {pinning}",
                    "req/s",
                    b,
                    True,
                )
            )
            if all(cpu.values()):
                print()
                print(cpu_table("(b) server CPU time per request (all server processes, from /proc)", cpu))
            lines += verdicts("(b) loopback", b, True)
            results.update(loopback_rps=b, server_cpu_us=cpu)
        print()
        print(
            f"Targets (issue 5): guard >= {TARGET_SHARE:.0%} of bare and >= {TARGET_VS_PYJWT}x pyjwt-recipe; "
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
