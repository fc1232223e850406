"""Benchmark: the cost of JWTGuardMiddleware on a hello-world Starlette app.

Variants (all serve ``GET /`` -> "hello"):

``bare``           no authentication at all
``guard``          JWTGuardMiddleware, verified-token cache on (the default)
``guard-nocache``  JWTGuardMiddleware with ``result_cache_size=0``
``pyjwt-recipe``   the hand-written recipe: Starlette's AuthenticationMiddleware
                   with a backend using PyJWT's ``jwt.decode`` and ``PyJWKClient``

Keys come from a local issuer on 127.0.0.1 (discovery + JWKS over real HTTP);
every request, to every variant (bare included, which ignores it), carries the
same valid RS256 token, so all variants parse the same bytes.

(a) in process: µs per request, driving the ASGI app directly;
(b) over loopback: requests/s against uvicorn (one worker process per
    variant), with ``wrk`` when installed, else an httpx-based load generator.

Variants are interleaved across rounds and medians reported, because shared
machines are noisy. Run::

    python benchmarks/asgi.py                 # default: 5 rounds (a), 3 rounds x 3 s (b)
    python benchmarks/asgi.py --quick         # a smoke run

This is not a test: it asserts nothing and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ("bare", "guard", "guard-nocache", "pyjwt-recipe")
AUDIENCE = "https://api.bench.test"
ROOT = Path(__file__).resolve().parents[1]


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
    elif variant != "bare":
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


async def in_process(issuer_url: str, jwks_uri: str, token: str, rounds: int, requests: int) -> dict[str, list[float]]:
    apps = {variant: build_app(variant, issuer_url, jwks_uri) for variant in VARIANTS}
    # Every variant gets the same request, token included: the baseline is
    # the bare app serving exactly the bytes the protected ones receive.
    scopes = {variant: _scope(token) for variant in VARIANTS}
    for variant, app in apps.items():  # warm up: keys fetched, caches filled
        for _ in range(50):
            status = await _call(app, scopes[variant])
        if status != 200:
            raise SystemExit(f"{variant}: warm-up answered {status}")
    samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for index in range(rounds):
        order = list(VARIANTS)
        random.Random(index).shuffle(order)
        for variant in order:
            app, scope = apps[variant], scopes[variant]
            start = time.perf_counter()
            for _ in range(requests):
                await _call(app, scope)
            samples[variant].append((time.perf_counter() - start) / requests * 1e6)
    return samples


# -- (b) over loopback ---------------------------------------------------------------


def serve(variant: str, issuer_url: str, jwks_uri: str) -> None:
    """Child process: run one variant with uvicorn, print its port, serve until killed."""
    import uvicorn

    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only then (else Nagle adds 40 ms).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    print(sock.getsockname()[1], flush=True)
    app = build_app(variant, issuer_url, jwks_uri)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", backlog=1024)
    uvicorn.Server(config).run(sockets=[sock])


def _wrk(url: str, token: str | None, duration: float, connections: int) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", url]
    if token is not None:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command, capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if match is None or "Non-2xx" in output:
        raise SystemExit(f"wrk failed or saw errors:\n{output}")
    return float(match.group(1))


async def _httpx_load(url: str, token: str | None, duration: float, connections: int) -> float:
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
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
        return done / (time.perf_counter() - start)


def over_loopback(
    issuer_url: str, jwks_uri: str, token: str, rounds: int, duration: float, connections: int, use_wrk: bool
) -> dict[str, list[float]]:
    children: dict[str, subprocess.Popen[str]] = {}
    urls: dict[str, str] = {}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    try:
        for variant in VARIANTS:
            child = subprocess.Popen(
                [sys.executable, __file__, "--serve", variant, "--issuer-url", issuer_url, "--jwks-uri", jwks_uri],
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            children[variant] = child
            assert child.stdout is not None
            urls[variant] = f"http://127.0.0.1:{int(child.stdout.readline())}/"
        load: Callable[[str, str | None], float]
        if use_wrk:
            load = lambda url, tok: _wrk(url, tok, duration, connections)  # noqa: E731
        else:
            load = lambda url, tok: asyncio.run(_httpx_load(url, tok, duration, connections))  # noqa: E731
        import httpx

        for variant in VARIANTS:  # warm up: keys fetched, first connections made
            headers = {"Authorization": f"Bearer {token}"}
            deadline = time.monotonic() + 30
            while True:
                try:
                    status = httpx.get(urls[variant], headers=headers, timeout=5, trust_env=False).status_code
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)
            if status != 200:
                raise SystemExit(f"{variant}: warm-up answered {status}")
        samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for index in range(rounds):
            order = list(VARIANTS)
            random.Random(1000 + index).shuffle(order)
            for variant in order:
                samples[variant].append(load(urls[variant], token))  # same request bytes for all
        return samples
    finally:
        for child in children.values():
            child.terminate()
        for child in children.values():
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(timeout=10)
            if child.stdout is not None:
                child.stdout.close()


# -- reporting -------------------------------------------------------------------------


def table(title: str, unit: str, samples: dict[str, list[float]], higher_is_better: bool) -> str:
    medians = {variant: statistics.median(values) for variant, values in samples.items()}
    lines = [title, f"{'variant':<15} {'median ' + unit:>16} {'min':>10} {'max':>10} {'vs bare':>9} {'vs pyjwt':>9}"]
    for variant in VARIANTS:
        median = medians[variant]
        if higher_is_better:
            vs_bare, vs_pyjwt = median / medians["bare"], median / medians["pyjwt-recipe"]
        else:
            vs_bare, vs_pyjwt = medians["bare"] / median, medians["pyjwt-recipe"] / median
        values = samples[variant]
        lines.append(
            f"{variant:<15} {median:>16.1f} {min(values):>10.1f} {max(values):>10.1f} {vs_bare:>8.0%} {vs_pyjwt:>8.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="in-process rounds (default 5)")
    parser.add_argument("--requests", type=int, default=2000, help="requests per in-process round")
    parser.add_argument("--http-rounds", type=int, default=3, help="loopback rounds (default 3)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per loopback measurement")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--no-wrk", action="store_true", help="use the httpx load generator even if wrk exists")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--json", action="store_true", help="also print the raw samples as JSON")
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--issuer-url", help=argparse.SUPPRESS)
    parser.add_argument("--jwks-uri", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.issuer_url, args.jwks_uri)
        return 0
    if args.quick:
        args.rounds, args.requests, args.http_rounds, args.duration = 2, 300, 1, 1.0

    from jwt_guard.testing import LocalIssuer, LocalServer

    issuer = LocalIssuer(audience=AUDIENCE, token_lifetime=24 * 3600)
    with LocalServer(issuer) as keys:
        token = issuer.token(scope="read", sub="bench")
        use_wrk = shutil.which("wrk") is not None and not args.no_wrk
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; RS256 token; keys from {keys.url} (loopback)")
        a = asyncio.run(in_process(keys.issuer_url, keys.jwks_uri, token, args.rounds, args.requests))
        print()
        print(table(f"(a) in process, {args.rounds} rounds x {args.requests} requests", "us/req", a, False))
        b = over_loopback(
            keys.issuer_url, keys.jwks_uri, token, args.http_rounds, args.duration, args.connections, use_wrk
        )
        generator = "wrk -t1" if use_wrk else "httpx (async)"
        title = (
            f"(b) uvicorn over loopback, {generator}, {args.connections} connections, "
            f"{args.http_rounds} rounds x {args.duration:g} s"
        )
        print()
        print(table(title, "req/s", b, True))
        if args.json:
            print(json.dumps({"in_process_us": a, "loopback_rps": b}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
