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
run, to be read against the targets. Targets: ``guard`` (a repeated token,
served by the verified-result cache) >= 95% of ``bare``'s throughput under
gunicorn (b, issue 12) and >= 90% in process (a, issue 5); ``guard`` and
``guard-nocache`` >= 1.5x ``pyjwt-recipe`` (issue 5). A summary line per
target says met or missed, by how much, and whether the margin is within
the noise floor. Run::

    python benchmarks/wsgi.py                  # default: about two minutes
    python benchmarks/wsgi.py --quick          # a smoke run (about 25 s)
    python benchmarks/wsgi.py --server waitress --threads 8

This is not a test: it asserts nothing and prints tables.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.util
import io
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import _harness  # this script's directory is on sys.path
from _harness import AUDIENCE, VARIANTS, Samples

SERVERS = ("gunicorn", "waitress", "werkzeug")
PATH = "/messages"


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


def in_process(issuer_url: str, jwks_uri: str, token: str, rounds: int, budget_s: float) -> Samples:
    """CPU µs per request of every variant (see _harness.in_process), with a prepared environ."""
    from werkzeug.test import EnvironBuilder

    template = EnvironBuilder(path=PATH, headers=[("Authorization", f"Bearer {token}")]).get_environ()
    calls = {variant: _caller(build_app(variant, issuer_url, jwks_uri), template) for variant in VARIANTS}
    return _harness.in_process(
        lambda variant: _harness.cpu_ns_per_batch(calls[variant], 50),  # warm up: caches filled
        lambda variant, n: _harness.cpu_ns_per_batch(calls[variant], n),
        rounds,
        budget_s,
    )


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


def _server_args(args: argparse.Namespace) -> list[str]:
    return ["--server", args.server, "--workers", str(args.workers), "--threads", str(args.threads)]


def _describe_server(args: argparse.Namespace) -> str:
    if args.server == "gunicorn":
        return f"gunicorn gthread, {args.workers} worker(s) x {args.threads} threads"
    if args.server == "waitress":
        return f"waitress, {args.threads} threads"
    return str(args.server)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server", choices=SERVERS, default="gunicorn", help="WSGI server for (b) (default gunicorn, gthread worker)"
    )
    parser.add_argument("--workers", type=int, default=1, help="server worker processes, gunicorn only (default 1)")
    parser.add_argument("--threads", type=int, default=4, help="threads per server worker (default 4)")


def _check(args: argparse.Namespace) -> str | None:
    if args.server != "werkzeug" and importlib.util.find_spec(args.server) is None:
        return f"{args.server} is not installed (pip install {args.server}), or use --server werkzeug"
    return None


ADAPTER = _harness.Adapter(
    doc=__doc__,
    script=__file__,
    interface="WSGI",
    issue=12,
    in_process_target=0.90,
    loopback_target=0.95,
    path=PATH,
    claims={"sub": "auth0|5f7c8ec7c33c", "scope": "read:messages write:messages"},
    in_process=in_process,
    serve=lambda args: serve(
        args.serve, args.issuer_url, args.jwks_uri, args.server, args.fd, args.workers, args.threads
    ),
    server_args=_server_args,
    describe_server=_describe_server,
    cpu_title="(b) server CPU time per request (all server processes, from /proc)",
    fallback="threads",
    add_options=_add_options,
    check=_check,
)


def main(argv: list[str] | None = None) -> int:
    return _harness.main(ADAPTER, argv)


if __name__ == "__main__":
    raise SystemExit(main())
