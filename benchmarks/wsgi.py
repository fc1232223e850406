"""Cost of protecting a Flask application with jwt_guard's WSGI middleware.

Run: ``python benchmarks/wsgi.py [--rounds N] [--quick]``

Four variants of the same Flask route, every request carrying the same valid
RS256 access token (~600 bytes), keys served over HTTP by a local issuer on
127.0.0.1 (jwt_guard.testing.LocalServer):

* ``bare``               the Flask app, nothing checks the token;
* ``jwt_guard``          ``JWTGuardMiddleware`` on ``app.wsgi_app`` (verified-token cache on);
* ``jwt_guard nocache``  the same with ``result_cache_size=0`` (a full verification per request);
* ``pyjwt recipe``       the common hand-written Flask decorator: ``PyJWKClient`` +
                         ``jwt.decode(..., audience=..., issuer=...)``.

Two measurements, interleaved round by round with the variants in random
order (the machine may be shared and noisy): every figure is a median over
rounds and every ratio is taken within a round.

1. µs per request in process: direct WSGI calls with a prepared environ.
2. requests/s over loopback: each variant behind Werkzeug's threaded server,
   driven by a fixed number of client threads (httpx, keep-alive) sending a
   fixed number of requests each. Client and server share the machine.

Targets (issue 5): ``jwt_guard`` >= 90% of ``bare``, >= 1.5x ``pyjwt recipe``.
"""

from __future__ import annotations

import argparse
import functools
import gc
import io
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import jwt as pyjwt
from flask import Flask, g, jsonify, request
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.test import EnvironBuilder

from jwt_guard import Verifier
from jwt_guard.testing import LocalIssuer, LocalServer
from jwt_guard.wsgi import JWTGuardMiddleware

AUDIENCE = "https://api.example.com"
VARIANTS = ("bare", "jwt_guard", "jwt_guard nocache", "pyjwt recipe")
TARGET_SHARE = 0.90
TARGET_VS_PYJWT = 1.5


def flask_app() -> Flask:
    app = Flask("bench")

    @app.get("/messages")
    def messages() -> dict[str, Any]:
        return {"messages": ["hello"]}

    return app


def pyjwt_recipe_app(issuer: str, jwks_uri: str) -> Flask:
    """The decorator found in most Flask + OAuth tutorials."""
    jwks_client = pyjwt.PyJWKClient(jwks_uri)

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
                g.claims = pyjwt.decode(token, signing_key.key, algorithms=["RS256"], audience=AUDIENCE, issuer=issuer)
            except pyjwt.PyJWTError:
                return jsonify(error="invalid_token"), 401
            return view(*args, **kwargs)

        return decorated

    app = Flask("bench-pyjwt")

    @app.get("/messages")
    @requires_auth
    def messages() -> dict[str, Any]:
        return {"messages": ["hello"]}

    return app


def build(server: LocalServer, stack: ExitStack) -> dict[str, Any]:
    """The four WSGI applications (each must answer 200 with the token)."""
    apps: dict[str, Any] = {"bare": flask_app().wsgi_app}
    for name, cache in (("jwt_guard", 1024), ("jwt_guard nocache", 0)):
        verifier = stack.enter_context(Verifier(issuer=server.issuer_url, audience=AUDIENCE, result_cache_size=cache))
        apps[name] = JWTGuardMiddleware(flask_app().wsgi_app, verifier=verifier)
    apps["pyjwt recipe"] = pyjwt_recipe_app(server.issuer_url, server.jwks_uri).wsgi_app
    return apps


# -- in process ------------------------------------------------------------------


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
    return _write


def _write(data: bytes) -> None:
    pass


def caller(app: Any, template: dict[str, Any]) -> Callable[[], int]:
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


def _time_per_call(fn: Callable[[], object], iterations: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(iterations):
            fn()
        return (time.perf_counter_ns() - start) / iterations / 1000.0
    finally:
        gc.enable()


def in_process(apps: dict[str, Any], token: str, rounds: int, budget_s: float) -> dict[str, list[float]]:
    template = EnvironBuilder(path="/messages", headers={"Authorization": f"Bearer {token}"}).get_environ()
    calls = {name: caller(app, template) for name, app in apps.items()}
    iterations = {}
    for name, fn in calls.items():
        _time_per_call(fn, 50)  # warm up (key fetch, caches)
        single = max(_time_per_call(fn, 50), 1.0)
        iterations[name] = max(50, int(budget_s * 1e6 / single))
    samples: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            samples[name].append(_time_per_call(calls[name], iterations[name]))
    return samples


# -- over loopback ----------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def load(url: str, token: str, threads: int, per_thread: int) -> float:
    """Requests per second for *threads* clients sending *per_thread* requests each."""
    headers = {"Authorization": f"Bearer {token}"}
    barrier = threading.Barrier(threads + 1, timeout=60)
    errors: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=30) as http:
            http.get("/messages")  # open the connection before the clock starts
            barrier.wait()
            for _ in range(per_thread):
                status = http.get("/messages").status_code
                if status != 200:
                    errors.append(str(status))

    workers = [threading.Thread(target=client, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join(timeout=300)
    elapsed = time.perf_counter() - start
    if errors or any(worker.is_alive() for worker in workers):
        raise RuntimeError(f"load generator failed: {errors[:5]}")
    return threads * per_thread / elapsed


def over_loopback(
    urls: dict[str, str], token: str, rounds: int, threads: int, per_thread: int
) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in urls}
    names = list(urls)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            samples[name].append(load(urls[name], token, threads, per_thread))
    return samples


# -- report -----------------------------------------------------------------------


def _ratios(samples: dict[str, list[float]], name: str, *, higher_is_better: bool) -> tuple[float, float]:
    """(share of bare, times pyjwt) for *name*, each a median of per-round ratios."""

    def ratio(a: float, b: float) -> float:
        return a / b if higher_is_better else b / a

    share = statistics.median(ratio(v, b) for v, b in zip(samples[name], samples["bare"], strict=True))
    vs_pyjwt = statistics.median(ratio(v, p) for v, p in zip(samples[name], samples["pyjwt recipe"], strict=True))
    return share, vs_pyjwt


def report(title: str, unit: str, samples: dict[str, list[float]], *, higher_is_better: bool) -> list[str]:
    print(f"\n{title}")
    header = f"{'variant':<19} {unit:>12} {'of bare':>8} {'x pyjwt':>8}"
    print(header)
    print("-" * len(header))
    for name in VARIANTS:
        share, vs_pyjwt = _ratios(samples, name, higher_is_better=higher_is_better)
        median = statistics.median(samples[name])
        print(f"{name:<19} {median:>12.1f} {share * 100:>7.1f}% {vs_pyjwt:>7.2f}x")
    share, vs_pyjwt = _ratios(samples, "jwt_guard", higher_is_better=higher_is_better)
    ok_share = "meets" if share >= TARGET_SHARE else "MISSES"
    ok_pyjwt = "meets" if vs_pyjwt >= TARGET_VS_PYJWT else "MISSES"
    return [
        f"{title.split(':')[0]}: jwt_guard {share * 100:.1f}% of bare ({ok_share} >= {TARGET_SHARE:.0%}),"
        f" {vs_pyjwt:.2f}x pyjwt recipe ({ok_pyjwt} >= {TARGET_VS_PYJWT}x)"
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default 9)")
    parser.add_argument("--threads", type=int, default=8, help="client threads over loopback (default 8)")
    parser.add_argument("--requests", type=int, default=300, help="requests per client thread and round (default 300)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args()
    rounds = 3 if args.quick else max(1, args.rounds)
    budget = 0.05 if args.quick else 0.2
    per_thread = 100 if args.quick else max(1, args.requests)
    threads = max(1, args.threads)

    issuer = LocalIssuer(audience=AUDIENCE)
    verdicts: list[str] = []
    with LocalServer(issuer) as server, ExitStack() as stack:
        token = issuer.token(sub="auth0|5f7c8ec7c33c", scope="read:messages write:messages", expires_in=3600)
        apps = build(server, stack)
        print(f"Python {sys.version.split()[0]}, {rounds} interleaved rounds, RS256 token of {len(token)} bytes")

        per_request = in_process(apps, token, rounds, budget)
        verdicts += report(
            "in process: median µs per request (direct WSGI call)", "µs/request", per_request, higher_is_better=False
        )

        urls = {name: stack.enter_context(serve(app)) for name, app in apps.items()}
        throughput = over_loopback(urls, token, rounds, threads, per_thread)
        verdicts += report(
            f"over loopback: median requests/s (Werkzeug threaded server, {threads} httpx client threads)",
            "requests/s",
            throughput,
            higher_is_better=True,
        )
    print("\n'of bare' = throughput relative to the unprotected app; 'x pyjwt' = times faster than the PyJWT recipe.")
    for verdict in verdicts:
        print(verdict)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
