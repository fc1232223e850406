"""A Starlette API protected by jwt_guard, with its metrics for Prometheus at ``/metrics``.

OpenTelemetry's SDK collects the metrics that :func:`jwt_guard.otel.instrument`
records, and its Prometheus exporter serves them in Prometheus' text format.
Install::

    pip install "jwt-guard[otel]" opentelemetry-sdk opentelemetry-exporter-prometheus

Configuration comes from the environment, as in ``starlette_app.py``:
``JWT_GUARD_ISSUER`` and ``JWT_GUARD_AUDIENCE`` (required), ``JWT_GUARD_JWKS_URI``
(optional). Run it with ``python examples/prometheus_app.py`` (``PORT`` picks
the port, 8000 by default) and point a Prometheus scrape job at
``http://127.0.0.1:8000/metrics``.

Routes: ``GET /`` is public, ``GET /messages`` needs the ``read:messages``
scope, ``GET /metrics`` is the scrape endpoint. It needs no token: expose it
only where Prometheus reaches it (a separate port or network policy), as
the metrics describe how the API is used.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from jwt_guard import Verifier
from jwt_guard.asgi import JWTGuardMiddleware, get_access_token, require_scopes
from jwt_guard.otel import instrument


def verifier_from_env() -> Verifier:
    """The verifier described by ``JWT_GUARD_*`` environment variables."""
    issuer = os.environ.get("JWT_GUARD_ISSUER")
    audience = os.environ.get("JWT_GUARD_AUDIENCE")
    if not issuer or not audience:
        raise SystemExit("set JWT_GUARD_ISSUER and JWT_GUARD_AUDIENCE (see the module docstring)")
    return Verifier(issuer=issuer, audience=audience, jwks_uri=os.environ.get("JWT_GUARD_JWKS_URI") or None)


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"hello": "anyone", "metrics": "/metrics"})


@require_scopes("read:messages")
async def list_messages(request: Request) -> JSONResponse:
    token = get_access_token(request)
    assert token is not None  # require_scopes admitted a verified token
    return JSONResponse({"messages": [f"hello, {token.subject}"]})


async def metrics(request: Request) -> Response:
    # The exporter registered its collector with prometheus_client's default
    # registry; generate_latest renders every metric it holds.
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def create_app(verifier: Verifier | None = None) -> Starlette:
    """The application; *verifier* defaults to :func:`verifier_from_env`."""
    verifier = verifier if verifier is not None else verifier_from_env()
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    instrument(verifier, meter_provider=meter_provider)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        meter_provider.shutdown()  # takes the exporter's collector out of the registry
        await verifier.aclose()

    return Starlette(
        routes=[Route("/", index), Route("/messages", list_messages), Route("/metrics", metrics)],
        middleware=[Middleware(JWTGuardMiddleware, verifier=verifier, exclude_paths=["/", "/metrics"])],
        lifespan=lifespan,
    )


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app(), host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
