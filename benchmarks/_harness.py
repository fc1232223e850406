"""What the adapter benchmarks (asgi.py, wsgi.py) share: the measurement and the report.

Each script brings its applications, its server and the words that name
them, as an :class:`Adapter`; this module runs (a) the in-process batches and
(b) the loopback rounds against one server process per variant, and prints
the tables and the target summary. The method is described in the scripts'
docstrings (their ``--help``).
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
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # benchmark the checkout this file belongs to

# "bare-control" is a second, identical bare app: how far it strays from
# "bare" shows the measurement's noise floor on this machine.
VARIANTS = ("bare", "bare-control", "guard", "guard-nocache", "pyjwt-recipe")
AUDIENCE = "https://api.bench.test"
TARGET_VS_PYJWT = 1.5
BATCHES = 10  # per variant and in-process round

Samples = dict[str, list[float]]
# (url, token, duration in s, connections) -> (requests/s, requests)
LoadGenerator = Callable[[str, str, int, int], tuple[float, int]]


@dataclass(frozen=True)
class Adapter:
    """One adapter's benchmark: what differs between asgi.py and wsgi.py."""

    doc: str | None  # the script's docstring, its --help
    script: str  # the script's file, run again with --serve for each server process
    interface: str  # "ASGI" or "WSGI", as the (a) title names it
    issue: int  # the issue whose targets the summary checks
    in_process_target: float  # guard's (cached token) least share of bare's throughput in (a)
    loopback_target: float  # and in (b)
    path: str  # the path every variant serves
    claims: Mapping[str, Any]  # of the token every request carries
    # (issuer_url, jwks_uri, token, rounds, budget_s) -> CPU µs per request, see in_process
    in_process: Callable[[str, str, str, int, float], Samples]
    serve: Callable[[argparse.Namespace], None]  # in the child started with --serve
    server_args: Callable[[argparse.Namespace], list[str]]  # passed on to the child
    describe_server: Callable[[argparse.Namespace], str]  # for the (b) title
    cpu_title: str  # of the server CPU time table
    fallback: str  # the httpx load generator when wrk is not used: "async" or "threads"
    add_options: Callable[[argparse.ArgumentParser], None] | None = None  # the server's own
    check: Callable[[argparse.Namespace], str | None] | None = None  # an error message, if any
    # More in-process comparisons, run after (a): (issuer_url, jwks_uri, token, args) -> lines to print
    extra: Callable[[str, str, str, argparse.Namespace], list[str]] | None = None


# -- (a) in process ------------------------------------------------------------------


def cpu_ns_per_batch(fn: Callable[[], object], iterations: int) -> int:
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


def in_process(
    warm_up: Callable[[str], object],
    time_batch: Callable[[str, int], int],
    rounds: int,
    budget_s: float,
    variants: tuple[str, ...] = VARIANTS,
) -> Samples:
    """CPU µs per request of every variant, one sample per round.

    *warm_up(variant)* makes the variant ready (keys fetched, caches filled);
    *time_batch(variant, iterations)* answers the CPU ns that many requests
    took. A round runs BATCHES short batches of every variant, in a new random
    order each time, so that a burst of other work on the machine falls on
    all variants alike.
    """
    batch = {}
    for variant in variants:
        warm_up(variant)
        single_ns = max(time_batch(variant, 50) / 50, 1000.0)
        batch[variant] = max(5, int(budget_s * 1e9 / BATCHES / single_ns))
    samples: Samples = {variant: [] for variant in variants}
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        spent = dict.fromkeys(variants, 0)
        order = list(variants)
        for _ in range(BATCHES):
            shuffle(order)
            for variant in order:
                spent[variant] += time_batch(variant, batch[variant])
        for variant in variants:
            samples[variant].append(spent[variant] / (BATCHES * batch[variant]) / 1000.0)
    return samples


# -- (b) over loopback ---------------------------------------------------------------


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


async def _httpx_async_load(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
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


def _httpx_async(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
    """Fallback load generator: *connections* tasks sharing an async client."""
    return asyncio.run(_httpx_async_load(url, token, duration, connections))


def _httpx_threads(url: str, token: str, duration: int, connections: int) -> tuple[float, int]:
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


FALLBACKS: dict[str, LoadGenerator] = {"async": _httpx_async, "threads": _httpx_threads}


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            # The child leads its own process group (start_new_session):
            # this reaches whatever it started (worker processes too), and nothing else.
            os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=15)


def over_loopback(
    adapter: Adapter, issuer_url: str, jwks_uri: str, token: str, args: argparse.Namespace, use_wrk: bool
) -> tuple[Samples, Samples]:
    """(requests/s, server CPU µs per request) samples for every variant."""
    import httpx

    children: dict[str, subprocess.Popen[bytes]] = {}
    urls: dict[str, str] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    load = _wrk if use_wrk else FALLBACKS[adapter.fallback]
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
                command = [sys.executable, adapter.script, "--serve", variant, "--issuer-url", issuer_url]
                command += ["--jwks-uri", jwks_uri, "--fd", str(listener.fileno()), *adapter.server_args(args)]
                child = subprocess.Popen(command, env=env, pass_fds=[listener.fileno()], start_new_session=True)
                children[variant] = child
                cleanup.callback(_stop, child)
                if cpus is not None:
                    _pin(child.pid, cpus[0])
                urls[variant] = f"http://127.0.0.1:{listener.getsockname()[1]}{adapter.path}"
        headers = {"Authorization": f"Bearer {token}"}
        for variant in VARIANTS:  # wait until serving: keys fetched, workers up, first connections made
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
        # Server processes started by the child (gunicorn's workers) exist by now.
        families = {variant: _family(child.pid) for variant, child in children.items()}
        if cpus is not None:
            for family in families.values():
                for pid in family:
                    _pin(pid, cpus[0])
        rates: Samples = {variant: [] for variant in VARIANTS}
        cpu: Samples = {variant: [] for variant in VARIANTS}
        for index in range(args.http_rounds):
            order = _round_order(index)
            for variant in order:  # same request bytes for all
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


def _ratio(samples: Samples, variant: str, other: str, higher_is_better: bool) -> float:
    """Median over rounds of *variant*'s throughput relative to *other*'s."""
    pairs = zip(samples[variant], samples[other], strict=True)
    return statistics.median(a / b if higher_is_better else b / a for a, b in pairs)


def table(title: str, unit: str, samples: Samples, higher_is_better: bool) -> str:
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


def cpu_table(title: str, samples: Samples) -> str:
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


def verdicts(label: str, samples: Samples, higher_is_better: bool, target: float) -> list[str]:
    """One line per variant and target: met or missed, and by how much.

    *target* is guard's least share of bare (a repeated token, served by the
    verified-result cache); guard-nocache has no share target, every request
    paying a signature check. The noise floor is how far bare-control,
    identical to bare, strayed from it: a margin smaller than that is not a
    measured difference.
    """
    noise = abs(_ratio(samples, "bare-control", "bare", higher_is_better) - 1)
    lines = [f"{label}: noise floor {noise:.1%} (bare-control, an identical bare app, against bare)"]
    for variant in ("guard", "guard-nocache"):
        share = _ratio(samples, variant, "bare", higher_is_better)
        vs_pyjwt = _ratio(samples, variant, "pyjwt-recipe", higher_is_better)
        name = variant + (" (cache off)" if variant == "guard-nocache" else "")
        if variant == "guard":
            lines.append(
                f"{label}: {name} {share:.1%} of bare: {_verdict(share, target, noise)}"
                f" ({(share - target) * 100:+.1f} points vs {target:.0%})"
            )
        else:
            lines.append(f"{label}: {name} {share:.1%} of bare (no target)")
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


# -- the command line ------------------------------------------------------------------


def _parser(adapter: Adapter) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=adapter.doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7, help="in-process rounds (default 7)")
    parser.add_argument("--budget", type=float, default=0.3, help="seconds per variant and in-process round (0.3)")
    parser.add_argument("--http-rounds", type=int, default=8, help="loopback rounds (default 8)")
    parser.add_argument("--duration", type=int, default=2, help="seconds per loopback measurement (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    if adapter.add_options is not None:
        adapter.add_options(parser)
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
    return parser


def main(adapter: Adapter, argv: list[str] | None = None) -> int:
    parser = _parser(adapter)
    args = parser.parse_args(argv)
    if args.serve:
        adapter.serve(args)
        return 0
    if args.quick:
        args.rounds, args.budget, args.http_rounds, args.duration = 3, 0.1, 2, 1
    error = adapter.check(args) if adapter.check is not None else None
    if error is not None:
        parser.error(error)

    from jwt_guard.testing import LocalIssuer, LocalServer

    issuer = LocalIssuer(audience=AUDIENCE, token_lifetime=24 * 3600)
    with LocalServer(issuer) as keys:
        token = issuer.token(**adapter.claims)
        use_wrk = shutil.which("wrk") is not None and not args.no_wrk
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {_load_average()}; "
            f"RS256 token of {len(token)} bytes; keys from {keys.url} (loopback)"
        )
        a = adapter.in_process(keys.issuer_url, keys.jwks_uri, token, args.rounds, args.budget)
        print()
        title = (
            f"(a) in process: direct {adapter.interface} calls, CPU time, "
            f"{args.rounds} rounds x {BATCHES} interleaved batches"
        )
        print(table(title, "us/req", a, False))
        lines = verdicts("(a) in process", a, False, adapter.in_process_target)
        results: dict[str, Any] = {"in_process_us": a}
        if adapter.extra is not None:
            print()
            for line in adapter.extra(keys.issuer_url, keys.jwks_uri, token, args):
                print(line)
        if not args.skip_loopback:
            b, cpu = over_loopback(adapter, keys.issuer_url, keys.jwks_uri, token, args, use_wrk)
            cpus = _cpus_for_pinning() if args.pin else None
            pinning = f"servers on CPU {cpus[0]}, load on CPU {cpus[1]}" if cpus else "not pinned"
            generator = "wrk -t1" if use_wrk else f"httpx ({adapter.fallback})"
            title = (
                f"(b) over loopback: {adapter.describe_server(args)}; {generator}, {args.connections} connections, "
                f"{args.http_rounds} rounds x {args.duration} s; {pinning}"
            )
            print()
            print(table(title, "req/s", b, True))
            if all(cpu.values()):
                print()
                print(cpu_table(adapter.cpu_title, cpu))
            lines += verdicts("(b) loopback", b, True, adapter.loopback_target)
            results.update(loopback_rps=b, server_cpu_us=cpu)
        print()
        print(
            f"Targets (issue {adapter.issue}): guard (repeated token) >= {adapter.in_process_target:.0%} of bare "
            f"in process and >= {adapter.loopback_target:.0%} over loopback; guard and guard-nocache "
            f">= {TARGET_VS_PYJWT}x pyjwt-recipe. Ratios are medians of within-round ratios."
        )
        for line in lines:
            print(line)
        print(f"finished with {_load_average()}")
        if args.json:
            print(json.dumps(results, indent=1))
    return 0
