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
run, to be read against the targets. Targets (issue 12): ``guard`` (a
repeated token, served by the verified-result cache) >= 80% of ``bare``'s
throughput in process (a) and >= 95% over loopback (b); ``guard`` and
``guard-nocache`` >= 1.5x ``pyjwt-recipe`` (issue 4). A summary line per
target says met or missed, by how much, and whether the margin is within
the noise floor. Run::

    python benchmarks/asgi.py                 # default: about two minutes
    python benchmarks/asgi.py --quick         # a smoke run (about 20 s)

(c) the token cookie against the Authorization header, in process (issue
    16): the same token in ``Cookie: theme=dark; access_token=…; lang=en``
    to a middleware with ``cookie="access_token"``, against the header (the
    same other cookies ride along), with an identical header app as the
    noise floor; also what ``cookie=`` costs header clients and a
    same-origin POST through the cross-origin check. Target: a cookie GET
    costs no more than a header GET, within the noise floor.

This is not a test: it asserts nothing and prints tables.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import socket
import statistics
import time
from typing import Any

import _harness  # this script's directory is on sys.path
from _harness import AUDIENCE, VARIANTS, Samples

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


def _scope(token: str | None, *, method: str = "GET", extra: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    headers = [(b"host", b"bench"), (b"user-agent", b"bench"), *(extra or [])]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _warm_up(variant: str, app: Any, scope: dict[str, Any]) -> None:
    for _ in range(50):  # keys fetched, caches filled
        status = await _call(app, scope)
    if status != 200:
        raise SystemExit(f"{variant}: warm-up answered {status}")


async def _cpu_ns_per_batch(app: Any, scope: dict[str, Any], iterations: int) -> int:
    # The async twin of _harness.cpu_ns_per_batch: the clock runs inside the
    # coroutine, so that driving the event loop is not counted.
    gc.disable()
    try:
        start = time.process_time_ns()
        for _ in range(iterations):
            await _call(app, scope)
        return time.process_time_ns() - start
    finally:
        gc.enable()


def in_process(issuer_url: str, jwks_uri: str, token: str, rounds: int, budget_s: float) -> Samples:
    """CPU µs per request of every variant (see _harness.in_process), on one event loop."""
    apps = {variant: build_app(variant, issuer_url, jwks_uri) for variant in VARIANTS}
    # Every variant gets the same request, token included: the baseline is
    # the bare app serving exactly the bytes the protected ones receive.
    scope = _scope(token)
    loop = asyncio.new_event_loop()
    try:
        return _harness.in_process(
            lambda variant: loop.run_until_complete(_warm_up(variant, apps[variant], scope)),
            lambda variant, n: loop.run_until_complete(_cpu_ns_per_batch(apps[variant], scope, n)),
            rounds,
            budget_s,
        )
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# -- (c) the token cookie against the Authorization header, in process ---------------

COOKIE_VARIANTS = ("header", "header-control", "cookie", "cookie-guard+header", "cookie-post")
_COOKIE_ROWS = {
    "header": "header GET",
    "header-control": "header GET (control)",
    "cookie": "cookie GET",
    "cookie-guard+header": "header GET, cookie= set",
    "cookie-post": "cookie POST same-origin",
}


def _cookie_app(issuer_url: str, **options: Any) -> Any:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from jwt_guard import Verifier
    from jwt_guard.asgi import JWTGuardMiddleware

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hello")

    verifier = Verifier(issuer=issuer_url, audience=AUDIENCE)
    middleware = [Middleware(JWTGuardMiddleware, verifier=verifier, **options)]
    return Starlette(routes=[Route("/", hello, methods=["GET", "POST"])], middleware=middleware)


def cookie_in_process(issuer_url: str, jwks_uri: str, token: str, args: argparse.Namespace) -> list[str]:
    """(c): CPU µs per request of the cookie variants, and the target's verdict."""
    others = b"theme=dark; lang=en"
    in_cookie = f"theme=dark; access_token={token}; lang=en".encode()
    browser = [(b"sec-fetch-site", b"same-origin"), (b"origin", b"http://bench")]
    header_scope = _scope(token, extra=[(b"cookie", others)])
    cookie_scope = _scope(None, extra=[(b"cookie", in_cookie)])
    post_scope = _scope(None, method="POST", extra=[(b"cookie", in_cookie), *browser])
    cases = {
        "header": (_cookie_app(issuer_url), header_scope),
        "header-control": (_cookie_app(issuer_url), header_scope),
        "cookie": (_cookie_app(issuer_url, cookie="access_token"), cookie_scope),
        "cookie-guard+header": (_cookie_app(issuer_url, cookie="access_token"), header_scope),
        "cookie-post": (_cookie_app(issuer_url, cookie="access_token"), post_scope),
    }
    loop = asyncio.new_event_loop()
    try:
        samples = _harness.in_process(
            lambda variant: loop.run_until_complete(_warm_up(variant, *cases[variant])),
            lambda variant, n: loop.run_until_complete(_cpu_ns_per_batch(*cases[variant], n)),
            args.rounds,
            args.budget,
            COOKIE_VARIANTS,
        )
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    def cost(variant: str, baseline: str = "header") -> float:  # median within-round ratio to a baseline
        return statistics.median(a / b for a, b in zip(samples[variant], samples[baseline], strict=True))

    title = f"(c) the token cookie vs the Authorization header, in process: CPU time, {args.rounds} rounds"
    lines = [title, f"{'variant':<26} {'median us/req':>14} {'min':>8} {'max':>8} {'vs header':>10}"]
    for variant in COOKIE_VARIANTS:
        values = samples[variant]
        lines.append(
            f"{_COOKIE_ROWS[variant]:<26} {statistics.median(values):>14.2f} {min(values):>8.2f}"
            f" {max(values):>8.2f} {cost(variant) - 1:>+10.1%}"
        )
    noise = abs(cost("header-control") - 1)
    lines.append(f"(c): noise floor {noise:.1%} (an identical header app against the header GET)")
    for baseline, label in (
        ("cookie-guard+header", "a header GET to the same cookie= middleware"),
        ("header", "a header GET to a header-only middleware"),
    ):
        extra = cost("cookie", baseline) - 1
        verdict = "met" if extra <= noise else f"MISSED by {(extra - noise) * 100:.1f} points"
        lines.append(f"(c): cookie GET {extra:+.1%} against {label}: no more, within noise: {verdict}")
    return lines


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


ADAPTER = _harness.Adapter(
    doc=__doc__,
    script=__file__,
    interface="ASGI",
    issue=12,
    in_process_target=0.80,
    loopback_target=0.95,
    path="/",
    claims={"scope": "read", "sub": "bench"},
    in_process=in_process,
    serve=lambda args: serve(args.serve, args.issuer_url, args.jwks_uri, args.fd),
    server_args=lambda args: [],
    describe_server=lambda args: _server_stack(),
    cpu_title="(b) server CPU time per request (from /proc)",
    fallback="async",
    extra=cookie_in_process,
)


def main(argv: list[str] | None = None) -> int:
    return _harness.main(ADAPTER, argv)


if __name__ == "__main__":
    raise SystemExit(main())
