"""DPoP cost: the proof check, a whole DPoP request, and the replay store.

Run: ``python benchmarks/dpop.py [--parts 12] [--rounds N] [--quick] [--redis-url URL]``

Everything is ES256 and measured in one run, in process, interleaved round
by round (the machine may be shared and noisy: every figure is a median over
rounds, every ratio is taken within a round). A DPoP-bound token is refused
as a bearer token, so the baseline verifies its *twin*: the same claims
without ``cnf``, the same key, the same size but for the 57 bytes of the
``cnf`` claim.

Part 1, the pure checks (CPU time):

* ``bearer``        ``Verifier.verify`` of the twin with the verified-token
                    cache off: a cold bearer-only verification, the baseline;
* ``signature``     one bare ES256 signature check with ``cryptography``: the
                    least a proof check can cost;
* ``proof``         ``verify_proof`` of a fresh proof (a new ``jti`` and
                    signature each time) from a client whose key was seen
                    before, as every request after a client's first;
* ``proof new key`` the same, each proof from a key not seen before (the
                    parsed-key and header memos miss): a client's first
                    request, or a flood of throwaway keys.

Part 2, the whole DPoP request through ``Verifier.verify(token, dpop=...)``:
the token, the proof, the binding and the replay record (CPU time):

* ``dpop request``  with the verified-token cache off and the per-process
                    ``MemoryStore``: two signature checks, every other check,
                    and the record. Target (issue 14): <= 2.1x ``bearer``;
                    two signature checks are the floor;
* ``dpop cached``   the same with the verifier's defaults (a repeated token
                    is a cache hit): what a client's second request costs;
* ``bearer cached`` the twin with the defaults, for comparison.

Then the Redis store, in wall time (a round trip is waiting, not CPU):
``dpop memory`` against ``dpop redis`` (a ``RedisStore`` on a redis-server
of our own on 127.0.0.1, or ``--redis-url``), the Redis commands one DPoP
request sends (from ``INFO commandstats``), and as the yardstick for one
round trip ``dpop memory + PING``: a memory-store request followed by one
bare ``PING``, so that the round trip is timed in the same state (caches,
scheduling) as the store's. Target: the Redis store adds one round trip.

``--instructions`` counts executed instructions for parts 1 and 2 instead
(valgrind's callgrind, N calls minus 0 calls in fresh processes, as
``instructions.py`` does): the same ratios without the noise of a shared
machine (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# This script's directory is on sys.path; _harness puts the checkout first too.
from _harness import ROOT, cpu_ns_per_batch
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from jwt_guard import DPoPContext, DPoPOptions, Verifier
from jwt_guard._dpop import verify_proof
from jwt_guard.stores import MemoryStore, RedisStore
from jwt_guard.testing import DPoPKey, LocalIssuer, bound_token

ISSUER = "https://idp.example.com/"
AUDIENCE = "https://api.example.com"
URL = "https://api.example.com/v1/messages"
NOW = 1_800_000_000
TARGET = 2.1
PART_ONE = ("bearer", "signature", "proof", "proof new key")
PART_TWO = ("bearer", "dpop request", "dpop cached", "bearer cached")
#: Distinct proofs per pure variant, cycled: more than the parsed-key memo holds.
PROOFS = 600


@dataclass
class Variant:
    """What one variant runs; *prepare(n)* readies n calls, outside the timing
    (fresh proofs: a replayed one would be refused)."""

    run: Callable[[], object]
    prepare: Callable[[int], None] = lambda count: None


class Proofs:
    """Fresh proofs by *key* for *token*, made ahead of the timed calls."""

    def __init__(self, key: DPoPKey, token: str) -> None:
        self.key = key
        self.token = token
        self.next: Callable[[], str] = iter(()).__next__

    def prepare(self, count: int) -> None:
        made = [self.key.proof("GET", URL, access_token=self.token) for _ in range(count)]
        self.next = iter(made).__next__

    def context(self) -> DPoPContext:
        return DPoPContext(self.next(), "GET", URL)


@dataclass
class Setup:
    issuer: LocalIssuer
    client: DPoPKey
    token: str
    twin: str

    def verifier(self, **options: object) -> Verifier:
        return Verifier(issuer=ISSUER, audience=AUDIENCE, keys=self.issuer.jwks(), clock=lambda: NOW, **options)  # type: ignore[arg-type]


def setup() -> Setup:
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, algorithm="ES256", clock=lambda: NOW, token_lifetime=3600)
    client = DPoPKey("ES256", clock=lambda: NOW)
    claims = {"sub": "auth0|5f7c8ec7c33c", "scope": "read:messages write:messages", "jti": "a3b5c7d9e1f3"}
    token = bound_token(issuer, client, **claims)
    return Setup(issuer, client, token, issuer.token(**claims))


def part_one_variants(s: Setup) -> dict[str, Variant]:
    bearer = s.verifier(result_cache_size=0)
    options = DPoPOptions()
    same_key = [(s.client.proof("GET", URL, access_token=s.token), s.client.thumbprint) for _ in range(PROOFS)]
    new_keys = []
    for _ in range(PROOFS):
        other = DPoPKey("ES256", clock=lambda: NOW)
        new_keys.append((other.proof("GET", URL, access_token=s.token), other.thumbprint))
    next_same, next_new = itertools.cycle(same_key).__next__, itertools.cycle(new_keys).__next__

    def proof(source: Callable[[], tuple[str, str]]) -> object:
        text, jkt = source()
        return verify_proof(
            text, method="GET", url=URL, options=options, now=NOW, leeway=60, access_token=s.token, jkt=jkt
        )

    public = s.issuer.signing_key.public_key
    head, _, signature = s.twin.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    ecdsa = ec.ECDSA(hashes.SHA256())
    return {
        "bearer": Variant(lambda: bearer.verify(s.twin)),
        "signature": Variant(lambda: public.verify(der, head.encode(), ecdsa)),
        "proof": Variant(lambda: proof(next_same)),
        "proof new key": Variant(lambda: proof(next_new)),
    }


def part_two_variants(s: Setup) -> dict[str, Variant]:
    bearer = s.verifier(result_cache_size=0)
    cold = s.verifier(result_cache_size=0, dpop=DPoPOptions(store=MemoryStore(max_replay_records=1_000_000)))
    warm = s.verifier(dpop=DPoPOptions(store=MemoryStore(max_replay_records=1_000_000)))
    warm_bearer = s.verifier()
    cold_proofs, warm_proofs = Proofs(s.client, s.token), Proofs(s.client, s.token)
    return {
        "bearer": Variant(lambda: bearer.verify(s.twin)),
        "dpop request": Variant(lambda: cold.verify(s.token, dpop=cold_proofs.context()), cold_proofs.prepare),
        "dpop cached": Variant(lambda: warm.verify(s.token, dpop=warm_proofs.context()), warm_proofs.prepare),
        "bearer cached": Variant(lambda: warm_bearer.verify(s.twin)),
    }


def check(variants: dict[str, Variant]) -> None:
    for variant in variants.values():
        variant.prepare(1)
        variant.run()  # sanity: each variant works


def measure(variants: dict[str, Variant], rounds: int, budget_s: float) -> dict[str, list[float]]:
    """CPU µs per call of every variant, one sample per round, shuffled order."""
    iterations = {}
    for name, variant in variants.items():
        variant.prepare(50)
        single_ns = max(cpu_ns_per_batch(variant.run, 50) / 50, 1000.0)
        iterations[name] = max(20, int(budget_s * 1e9 / single_ns))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            variant, count = variants[name], iterations[name]
            variant.prepare(count)
            samples[name].append(cpu_ns_per_batch(variant.run, count) / count / 1000.0)
    return samples


def ratio(samples: dict[str, list[float]], variant: str, baseline: str) -> float:
    return statistics.median(a / b for a, b in zip(samples[variant], samples[baseline], strict=True))


def _instructions(part: str, variant: str, count: int, pool: int) -> int:
    """Instructions a fresh process executes to build the variants, make *pool*
    proofs and call *variant* *count* times."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    completed = subprocess.run(
        [*command, "--child", part, variant, str(count), str(pool)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONHASHSEED="0"),
        timeout=1800,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", completed.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{completed.stderr[-2000:]}")
    return int(match.group(1))


def count_instructions(part: str, names: tuple[str, ...], count: int) -> dict[str, list[float]]:
    """Instructions per call of every variant (one sample each, kept as a list for :func:`ratio`)."""
    return {
        name: [(_instructions(part, name, count, count) - _instructions(part, name, 0, count)) / count]
        for name in names
    }


def table(samples: dict[str, list[float]], names: tuple[str, ...], extra: str | None = None) -> list[str]:
    lines = [
        f"{'variant':<14} {'median':>10} {'min':>10} {'max':>10} {'x bearer':>9}" + (f" {extra:>12}" if extra else "")
    ]
    for name in names:
        values = samples[name]
        line = f"{name:<14} {statistics.median(values):>10.1f} {min(values):>10.1f} {max(values):>10.1f}"
        line += f" {ratio(samples, name, 'bearer'):>8.2f}x"
        if extra:
            line += f" {ratio(samples, name, extra):>11.2f}x"
        lines.append(line)
    return lines


# -- the Redis store: wall time and commands -------------------------------------------------


def _commands(client: object) -> int:
    stats = client.info("commandstats")  # type: ignore[attr-defined]
    return sum(int(entry["calls"]) for name, entry in stats.items() if name != "cmdstat_info")


def redis_part(s: Setup, redis_url: str, rounds: int, requests: int) -> list[str]:
    import redis

    memory_store = MemoryStore(max_replay_records=1_000_000)
    redis_store = RedisStore.from_url(redis_url, prefix=f"bench-dpop-{os.getpid()}:")
    try:
        verifiers = {
            "dpop memory": s.verifier(result_cache_size=0, dpop=DPoPOptions(store=memory_store)),
            "dpop redis": s.verifier(result_cache_size=0, dpop=DPoPOptions(store=redis_store)),
        }
        plain = redis.Redis.from_url(redis_url)
        proofs = Proofs(s.client, s.token)
        proofs.prepare(1)
        verifiers["dpop redis"].verify(s.token, dpop=proofs.context())  # connects

        # Commands one request sends: INFO before and after a batch (INFO itself not counted).
        proofs.prepare(requests)
        before = _commands(plain)
        for _ in range(requests):
            verifiers["dpop redis"].verify(s.token, dpop=proofs.context())
        per_request = (_commands(plain) - before) / requests

        # A round trip's cost depends on what the process did just before (a
        # core that switched to redis-server and back, cold caches): the
        # yardstick is a memory-store request followed by one bare PING.
        names = ("dpop memory", "dpop memory + PING", "dpop redis")
        walls: dict[str, list[float]] = {name: [] for name in names}
        order = list(names)
        shuffle = random.Random(1).shuffle
        ping = plain.ping
        for _ in range(rounds):
            shuffle(order)
            for name in order:
                proofs.prepare(requests)
                verify = verifiers["dpop memory" if name == "dpop memory + PING" else name].verify
                with_ping = name == "dpop memory + PING"
                start = time.perf_counter_ns()
                for _ in range(requests):
                    verify(s.token, dpop=proofs.context())
                    if with_ping:
                        ping()
                walls[name].append((time.perf_counter_ns() - start) / requests / 1000.0)
        pairs = zip(walls["dpop redis"], walls["dpop memory"], walls["dpop memory + PING"], strict=True)
        trips = statistics.median((redis_ - memory) / (pinged - memory) for redis_, memory, pinged in pairs)
        added = statistics.median(r - m for r, m in zip(walls["dpop redis"], walls["dpop memory"], strict=True))
        trip = statistics.median(p - m for p, m in zip(walls["dpop memory + PING"], walls["dpop memory"], strict=True))
        lines = [
            f"Redis store, wall time per request over {rounds} interleaved rounds of {requests} (median, min, max µs):",
        ]
        for name in names:
            values = walls[name]
            lines.append(f"  {name:<19} {statistics.median(values):>9.1f} {min(values):>9.1f} {max(values):>9.1f}")
        lines.append(
            f"The Redis store adds {added:.1f} µs per request; one PING after a memory-store request adds "
            f"{trip:.1f} µs: the store costs {trips:.2f} round trips (median of per-round ratios). "
            f"Redis commands per DPoP request: {per_request:.2f} (SET NX PX). Target: one round trip."
        )
        return lines
    finally:
        redis_store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default="12", help="which parts to run: 1, 2 or 12 (default)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--budget", type=float, default=0.1, help="CPU seconds per variant and round (default 0.1)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 5 rounds of 0.03 s")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    parser.add_argument("--count", type=int, default=300, help="calls per callgrind run (default 300)")
    parser.add_argument("--redis-url", help="a Redis to use (default: a redis-server started on 127.0.0.1)")
    parser.add_argument("--redis-requests", type=int, default=500, help="requests per Redis round (default 500)")
    parser.add_argument("--child", nargs=4, metavar=("PART", "VARIANT", "COUNT", "POOL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    s = setup()
    if args.child:
        part, name, count, pool = args.child
        variants = (part_one_variants if part == "1" else part_two_variants)(s)
        variant = variants[name]
        variant.prepare(int(pool))  # the same work in the N-call and the 0-call process
        for _ in range(int(count)):
            variant.run()
        return 0
    if args.quick:
        args.rounds, args.budget = 5, 0.03
    if args.instructions and shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2

    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
        f"ES256 token of {len(s.token)} bytes (twin {len(s.twin)}), "
        f"ES256 proofs of {len(s.client.proof('GET', URL, access_token=s.token))} bytes"
    )
    unit = (
        f"instructions per call (callgrind, {args.count} calls minus 0)"
        if args.instructions
        else f"{args.rounds} interleaved rounds, CPU µs per call (median, min, max)"
    )
    if "1" in args.parts:
        variants = part_one_variants(s)
        check(variants)
        samples = (
            count_instructions("1", PART_ONE, args.count)
            if args.instructions
            else measure(variants, args.rounds, args.budget)
        )
        print(f"\nPart 1, the pure checks; {unit}")
        print("\n".join(table(samples, PART_ONE, "signature")))
        print(
            f"Proof check alone = {ratio(samples, 'proof', 'signature'):.2f}x one bare ES256 signature check, "
            f"{ratio(samples, 'proof', 'bearer'):.2f}x the bearer verification."
        )
    if "2" in args.parts:
        variants = part_two_variants(s)
        check(variants)
        samples = (
            count_instructions("2", PART_TWO, args.count)
            if args.instructions
            else measure(variants, args.rounds, args.budget)
        )
        print(f"\nPart 2, a DPoP request through Verifier.verify; {unit}")
        print("\n".join(table(samples, PART_TWO)))
        request = ratio(samples, "dpop request", "bearer")
        verdict = "met" if request <= TARGET else "MISSED"
        print(
            f"DPoP request (memory store) = {request:.2f}x a bearer-only verification (target <= {TARGET}x): {verdict}"
        )
        if not args.instructions:
            server = None
            redis_url = args.redis_url
            if redis_url is None and shutil.which("redis-server") is not None:
                sys.path.insert(0, str(ROOT))
                from tests.support.services import RedisServer

                server = RedisServer(Path(tempfile.mkdtemp(prefix="jwt-guard-bench-"))).start()
                redis_url = server.url
            try:
                if redis_url is None:
                    print("\nredis-server not found (apt-get install redis-server): the Redis part is skipped")
                else:
                    rounds = 5 if args.quick else args.rounds
                    print()
                    print("\n".join(redis_part(s, redis_url, rounds, 100 if args.quick else args.redis_requests)))
            finally:
                if server is not None:
                    server.stop()
    print(f"\nfinished with load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
