"""An OpenTelemetry SDK pipeline kept in memory: a metric reader and a span
exporter per test, and helpers that read the series back."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from jwt_guard import Verifier
from jwt_guard.otel import instrument


@dataclass
class Telemetry:
    """The SDK providers of one test, and what they recorded."""

    reader: InMemoryMetricReader = field(default_factory=InMemoryMetricReader)
    exporter: InMemorySpanExporter = field(default_factory=InMemorySpanExporter)

    def __post_init__(self) -> None:
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def instrument(self, verifier: Verifier, **options: Any) -> Verifier:
        instrument(verifier, meter_provider=self.meter_provider, tracer_provider=self.tracer_provider, **options)
        return verifier

    def metrics(self) -> dict[str, list[Any]]:
        """Each metric's data points, by metric name."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[Any]] = {}
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found.setdefault(metric.name, []).extend(metric.data.data_points)
        return found

    def series(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        """The points of metric *name* by attribute set: a counter's or
        gauge's value, a histogram's count."""
        points = self.metrics().get(name, [])
        return {
            frozenset((point.attributes or {}).items()): getattr(point, "count", None)
            if hasattr(point, "bucket_counts")
            else point.value
            for point in points
        }

    def spans(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.exporter.get_finished_spans())

    def shutdown(self) -> None:
        self.meter_provider.shutdown()
        self.tracer_provider.shutdown()


def attrs(**values: Any) -> frozenset[tuple[str, Any]]:
    """An attribute set, with ``jwt_guard.`` prefixed to each bare name."""
    return frozenset((name if "." in name else f"jwt_guard.{name}", value) for name, value in values.items())


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    recorded = Telemetry()
    yield recorded
    recorded.shutdown()
