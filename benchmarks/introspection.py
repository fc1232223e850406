"""Opaque tokens (RFC 7662 introspection): cache-hit cost, single flight and
memory bounds.

Run: ``python benchmarks/introspection.py [--rounds N]``

1. **Cache hit.** ``Verifier.verify`` on an opaque token whose introspection
   answer is cached, against the baseline measured in the same run and
   interleaved round by round: a verified-result cache hit for a JWT.
   Target (issue 17): <= 2x.
2. **Single flight.** 1,000 requests carrying one new opaque token, as 1,000
   threads (``verify``) and as 1,000 asyncio tasks (``verify_async``), against
   the test kit's introspection endpoint on a real 127.0.0.1 server; prints
   the number of introspection calls. Target: 1 each.
3. **Memory.** 1,000 distinct opaque tokens through a verifier whose cache is
   limited to 256 entries and 256 KiB: peak entries and accounted bytes of
   the cache, and the bytes tracemalloc sees the cache holding at the end
   (the same with the default limits, which hold all 1,000, for scale).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import random
import statistics
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from jwt_guard import Introspection, Verifier
from jwt_guard.testing import IntrospectionEndpoint, LocalIssuer, LocalServer, mock_transport

AUDIENCE = "https://api.example.test"
UNLIMITED = {"rate": 1e9, "burst": 1_000_000}


def _per_call_ns(fn: Callable[[], object], iterations: int) -> float:
    gc.disable()
    try:
        # CPU time: on a shared machine it leaves out waiting for a core.
        start = time.process_time_ns()
        for _ in range(iterations):
            fn()
        return (time.process_time_ns() - start) / iterations
    finally:
        gc.enable()


def cache_hits(rounds: int) -> None:
    issuer = LocalIssuer("https://idp.example.test/", audience=AUDIENCE)
    server = issuer.key_server(introspection=IntrospectionEndpoint(issuer, clients={"api": "secret"}))
    transport = mock_transport(server)
    jwt_verifier = Verifier(issuer=issuer.issuer, audience=AUDIENCE, keys=issuer.jwks())
    opaque_verifier = Verifier(
        issuer=issuer.issuer,
        audience=AUDIENCE,
        transport=transport,
        introspection=Introspection(client_id="api", client_secret="secret"),
    )
    jwt = issuer.token(scope="read write")
    opaque = issuer.opaque_token(scope="read write")
    assert jwt_verifier.verify(jwt).scopes == opaque_verifier.verify(opaque).scopes
    variants: dict[str, Callable[[], object]] = {
        "JWT, verified-result cache hit (baseline)": lambda: jwt_verifier.verify(jwt),
        "opaque, introspection cache hit": lambda: opaque_verifier.verify(opaque),
        "SHA-256 of the opaque token alone (cache key)": lambda: hashlib.sha256(opaque.encode()).digest(),
    }
    iterations = 200_000
    samples: dict[str, list[float]] = {name: [] for name in variants}
    ratios: list[float] = []
    names = list(variants)
    for _ in range(rounds):
        random.shuffle(names)
        measured = {name: _per_call_ns(variants[name], iterations) for name in names}
        for name, value in measured.items():
            samples[name].append(value)
        ratios.append(
            measured["opaque, introspection cache hit"] / measured["JWT, verified-result cache hit (baseline)"]
        )
    print(f"1. cache hit, CPU ns per verify (median of {rounds} interleaved rounds of {iterations:,} calls)")
    for name, values in samples.items():
        print(f"   {name:<46} {statistics.median(values):8.0f} ns")
    key = statistics.median(samples["SHA-256 of the opaque token alone (cache key)"])
    floor = (statistics.median(samples["JWT, verified-result cache hit (baseline)"]) + key) / statistics.median(
        samples["JWT, verified-result cache hit (baseline)"]
    )
    print(f"   floor (JWT hit + SHA-256 key) / JWT hit: {floor:.2f}x")
    ratio = statistics.median(ratios)
    print(f"   ratio opaque / JWT: {ratio:.2f}x (per-round range {min(ratios):.2f}-{max(ratios):.2f}; target <= 2x)")
    print(f"   introspection calls made: {server.count('/oauth/introspect')}")
    opaque_verifier.close()


def single_flight() -> None:
    issuer = LocalIssuer("http://127.0.0.1/issuer", audience=AUDIENCE)
    endpoint = IntrospectionEndpoint(issuer, clients={"api": "secret"})
    with LocalServer(issuer, keys=issuer.key_server(introspection=endpoint)):
        options = Introspection(client_id="api", client_secret="secret")
        verifier = Verifier(issuer=issuer.issuer, audience=AUDIENCE, introspection=options)
        verifier.prefetch()  # the endpoint is discovered: only introspection calls are counted
        token = issuer.opaque_token(scope="read")
        results: list[object] = []
        start = threading.Barrier(1000)

        def worker() -> None:
            start.wait(60)
            try:
                results.append(verifier.verify(token))
            except Exception as exc:
                results.append(exc)

        before = endpoint.count
        threads = [threading.Thread(target=worker) for _ in range(1000)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        ok = sum(1 for result in results if type(result).__name__ == "AccessToken")
        print("2. single flight, one new opaque token, real 127.0.0.1 server")
        print(f"   1,000 threads: {ok} verified, {endpoint.count - before} introspection call(s) (target 1)")
        verifier.close()

        async def tasks() -> tuple[int, int]:
            verifier = Verifier(issuer=issuer.issuer, audience=AUDIENCE, introspection=options)
            await verifier.prefetch_async()
            token = issuer.opaque_token(scope="read")
            before = endpoint.count
            done = await asyncio.gather(*(verifier.verify_async(token) for _ in range(1000)), return_exceptions=True)
            await verifier.aclose()
            return sum(1 for result in done if type(result).__name__ == "AccessToken"), endpoint.count - before

        ok, made = asyncio.run(tasks())
        print(f"   1,000 tasks:   {ok} verified, {made} introspection call(s) (target 1)")


def memory(distinct: int = 1000) -> None:
    print(f"3. memory, {distinct:,} distinct opaque tokens")
    for label, limits in (
        ("limits 256 entries / 256 KiB", {"cache_size": 256, "cache_bytes": 256 * 1024}),
        ("default limits (10,000 entries / 16 MiB)", {}),
    ):
        issuer = LocalIssuer("https://idp.example.test/", audience=AUDIENCE)
        server = issuer.key_server(introspection=IntrospectionEndpoint(issuer, clients={"api": "secret"}))
        verifier = Verifier(
            issuer=issuer.issuer,
            audience=AUDIENCE,
            transport=mock_transport(server),
            introspection=Introspection(client_id="api", client_secret="secret", **UNLIMITED, **limits),
        )
        tokens = [issuer.opaque_token(scope="read write", sub=f"user-{index}") for index in range(distinct)]
        verifier.verify(tokens[0])
        cache = verifier._introspector.cache
        verifier.clear_cache()
        gc.collect()
        tracemalloc.start()
        for token in tokens:
            verifier.verify(token)
        del token
        verifier._introspector._flights.clear()  # finished calls: not cache memory
        gc.collect()
        filled = tracemalloc.get_traced_memory()[0]
        entries = len(cache)
        cache.clear()  # what the cache held is what clearing it frees
        gc.collect()
        held = filled - tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        print(
            f"   {label:<42} peak {cache.peak_entries:>5} entries, {cache.peak_bytes / 1024:7.1f} KiB accounted "
            f"(limit {cache.max_bytes / 1024:.0f} KiB); at the end {entries} entries "
            f"holding {held / 1024:7.1f} KiB (tracemalloc); {server.count('/oauth/introspect')} calls"
        )
        verifier.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    args: Any = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}")
    cache_hits(args.rounds)
    single_flight()
    memory()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
