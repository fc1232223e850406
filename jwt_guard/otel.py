"""OpenTelemetry metrics and spans for a verifier (optional extra ``jwt-guard[otel]``).

::

    from jwt_guard.otel import instrument
    instrument(verifier)  # the global meter and tracer providers

:func:`instrument` installs one event hook (:meth:`Verifier.add_event_hook
<jwt_guard.Verifier.add_event_hook>`, and ``Store.add_event_hook`` on the
verifier's revocation store) that turns the verifier's events into metrics
and spans. Nothing else changes: a verifier that is never instrumented does
not import OpenTelemetry and runs exactly as before.

Privacy and cardinality, by construction:

- no attribute ever holds the token, a key, a key id, a URL or anything
  else a client sent; the reason is one of the fixed reason codes
  (:data:`jwt_guard._reasons.REASON_CODES`) or a fixed failure name, the
  issuer only a configured one (anything else is ``"other"``), and the
  adapter one of ``asgi``, ``wsgi``, ``fastapi``, ``django`` (else
  ``"other"``), so the number of series stays bounded whatever arrives;
- the subject (``sub``) and ``client_id`` of a verified token go on its
  span (``enduser.id``, ``jwt_guard.client_id``) only with
  ``record_subject=True``, and never on a metric.

The metrics, their units and attributes are described in
``docs/observability.md``.
"""

from __future__ import annotations

import re
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, NoOpMeterProvider, Observation
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, SpanKind, Status, StatusCode, TracerProvider

from jwt_guard import __version__
from jwt_guard._events import Event, EventKind
from jwt_guard._observe import observe_later
from jwt_guard._reasons import REASON_CODES
from jwt_guard._verifier import Verifier, event_reporter, key_sources, time_verifications
from jwt_guard.stores import Store

__all__ = ["instrument"]

OUTCOME = "jwt_guard.outcome"
REASON = "jwt_guard.reason"
ISSUER = "jwt_guard.issuer"
RESULT = "jwt_guard.result"
ADAPTER = "jwt_guard.adapter"
CACHE = "jwt_guard.cache"
STATUS = "http.response.status_code"
OTHER = "other"
VERIFIED = EventKind.TOKEN_VERIFIED

#: Adapters named as such in ``jwt_guard.adapter``; any other is ``"other"``.
ADAPTERS = frozenset({"asgi", "wsgi", "fastapi", "django"})
#: Boundaries of the verification histogram (seconds): a cached answer takes
#: microseconds, a signature check tens of them, a key-set fetch milliseconds.
VERIFY_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0)
#: While no global provider is set (the API without an SDK), verifications
#: are counted, not timed, and spans are skipped; whether one has been set
#: since is looked up once every this many verifications (and at every
#: key-set fetch).
GLOBAL_PROBE = 128
#: Boundaries of the fetch histograms (seconds).
FETCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Failure names from the library's own code (fetch failures, unknown-kid
# refusals, store outages) are fixed identifiers; anything else is "other".
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_TOKEN_REASONS = frozenset(REASON_CODES.values())
_INSTRUMENTED: weakref.WeakSet[Verifier] = weakref.WeakSet()
_INSTRUMENTED_LOCK = threading.Lock()


def instrument(
    verifier: Verifier,
    *,
    meter_provider: MeterProvider | None = None,
    tracer_provider: TracerProvider | None = None,
    record_subject: bool = False,
) -> None:
    """Report *verifier*'s verifications, refusals, key-set fetches and cache
    use as OpenTelemetry metrics and spans.

    :param meter_provider: where the metrics go (``None``: the global
        provider, :func:`opentelemetry.metrics.get_meter_provider`).
    :param tracer_provider: where the spans go (``None``: the global
        provider). Each verification's span is a child of the span current
        when it ran (the framework's request span, when there is one).
    :param record_subject: put the verified token's ``sub`` and
        ``client_id`` on its span. Off by default: they identify people.

    Instrumenting the same verifier again does nothing; so does
    instrumenting it with OpenTelemetry's no-op meter *and* tracer providers.
    With ``None`` and no global provider set (the API package alone, or an
    SDK configured later), nothing could be recorded: verifications are
    counted, not timed, and within :data:`GLOBAL_PROBE` verifications of a
    global provider being set (or at the next key-set fetch) metrics and
    spans start. Every middleware and
    dependency using *verifier* counts its refusals here too.

    .. warning:: A store shared by several instrumented verifiers reports its
       outages once per verifier; instrument one of them, or count store
       metrics from one series.
    """
    if not isinstance(verifier, Verifier):
        raise TypeError(f"instrument() needs a jwt_guard.Verifier, not {type(verifier).__name__}")
    if isinstance(meter_provider, NoOpMeterProvider) and isinstance(tracer_provider, NoOpTracerProvider):
        return  # nothing could ever be recorded: the verifier stays as it is
    with _INSTRUMENTED_LOCK:
        if verifier in _INSTRUMENTED:
            return
        _INSTRUMENTED.add(verifier)
    issuers = set(verifier.issuers)
    issuers.update(source.label for source in key_sources(verifier).values() if hasattr(source, "label"))
    telemetry = Telemetry(
        metrics.get_meter("jwt_guard", __version__, meter_provider),
        trace.get_tracer("jwt_guard", __version__, tracer_provider),
        issuers=issuers,
        record_subject=record_subject,
        tracer_provider=tracer_provider,
        meter_provider=meter_provider,
    )
    for store in _stores_of(verifier):
        store.add_event_hook(telemetry.on_store_event)
    event_reporter(verifier).add(telemetry.on_event)
    # Verifications are timed from the moment anything could record them:
    # now, or (the API without an SDK) once a global provider is set; until
    # then they are only counted, a fraction of timing them.
    telemetry.on_wake = lambda: time_verifications(verifier)
    if not telemetry.awake():
        observe_later(verifier, telemetry.awake, GLOBAL_PROBE)


def _global_meter_unset() -> bool:
    """Is the global meter provider still the API's proxy (no SDK set)?
    When that cannot be told, it counts as set: metrics are recorded."""
    internal = sys.modules.get("opentelemetry.metrics._internal")
    proxy = getattr(internal, "_PROXY_METER_PROVIDER", None)
    return proxy is not None and metrics.get_meter_provider() is proxy


def _global_tracer_unset() -> bool:
    return isinstance(trace.get_tracer_provider(), (ProxyTracerProvider, NoOpTracerProvider))


def _stores_of(verifier: Verifier) -> list[Store]:
    """The verifier's revocation store and DPoP replay store, each once."""
    dpop = verifier.dpop
    found: list[object] = [verifier.revocation, None if dpop is None else dpop.store]
    stores: dict[int, Store] = {id(store): store for store in found if isinstance(store, Store)}
    return list(stores.values())


def _bounded(value: str | None, allowed: frozenset[str] | set[str]) -> str:
    return value if value is not None and value in allowed else OTHER


def _with_cache(attributes: dict[str, str], cached: bool | None) -> dict[str, str]:
    if cached is not None:  # None: the verifier has no result cache
        attributes[CACHE] = "hit" if cached else "miss"
    return attributes


def _name(value: object) -> str:
    return value if isinstance(value, str) and _NAME.fullmatch(value) else OTHER


def _token_reason(value: str | None) -> str:
    return value if value is not None and value in _TOKEN_REASONS else OTHER


class Telemetry:
    """The instruments of one instrumented verifier, fed by its events."""

    def __init__(
        self,
        meter: metrics.Meter,
        tracer: trace.Tracer,
        *,
        issuers: Iterable[str],
        record_subject: bool = False,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
    ) -> None:
        self._tracer = tracer
        # Spans cost a microsecond even when nothing records them: with a
        # no-op provider they are not made at all (see _tracing).
        self._follow_global = tracer_provider is None
        self._spans = tracer_provider is not None and not isinstance(tracer_provider, NoOpTracerProvider)
        self._probe = 0
        # Metrics while the global meter provider is unset go to the API's
        # proxies, which drop them until an SDK is set (then they forward).
        self._meter_follows_global = meter_provider is None
        self._metrics = meter_provider is not None and not isinstance(meter_provider, NoOpMeterProvider)
        self._awake = False
        #: Called once when :meth:`awake` first holds after being false.
        self.on_wake: Callable[[], None] | None = None
        self._record_subject = record_subject
        self._issuers = frozenset(issuers)
        self._lock = threading.Lock()
        #: Per key set: when a fetch last succeeded (epoch seconds), and
        #: whether it is serving its last good set past a failed refresh.
        self._last_success: dict[str, float] = {}
        self._stale: dict[str, int] = {}
        self._duration = meter.create_histogram(
            "jwt_guard.verification.duration",
            unit="s",
            description="Duration of token verifications, by outcome, reason and result-cache hit or miss.",
            explicit_bucket_boundaries_advisory=VERIFY_BUCKETS,
        )
        self._challenges = meter.create_counter(
            "jwt_guard.challenges",
            unit="{response}",
            description="Requests answered 400 or 401 with a challenge, by adapter and reason.",
        )
        self._forbids = meter.create_counter(
            "jwt_guard.forbids", unit="{response}", description="Requests answered 403, by adapter and reason."
        )
        self._unavailable = meter.create_counter(
            "jwt_guard.unavailable",
            unit="{response}",
            description="Requests answered 503 (keys, store or introspection unavailable), by adapter and reason.",
        )
        self._fetches = meter.create_counter(
            "jwt_guard.keyset.fetches",
            unit="{fetch}",
            description="Key-set (JWKS) fetches, by issuer and result (fetched, not_modified, failed).",
        )
        self._fetch_duration = meter.create_histogram(
            "jwt_guard.keyset.fetch.duration",
            unit="s",
            description="Duration of key-set fetches (discovery included), by issuer and result.",
            explicit_bucket_boundaries_advisory=FETCH_BUCKETS,
        )
        self._stale_refreshes = meter.create_counter(
            "jwt_guard.keyset.stale",
            unit="{refresh}",
            description="Failed refreshes after which the last good key set stayed in service.",
        )
        self._unknown_kid = meter.create_counter(
            "jwt_guard.keyset.unknown_kid",
            unit="{token}",
            description="Tokens naming a key id the cached set lacks: refetch, or why none was allowed.",
        )
        meter.create_observable_gauge(
            "jwt_guard.keyset.last_success",
            callbacks=[self._observe_last_success],
            unit="s",
            description="When a key-set fetch last succeeded (Unix time), by issuer.",
        )
        meter.create_observable_gauge(
            "jwt_guard.keyset.serving_stale",
            callbacks=[self._observe_stale],
            unit="1",
            description="1 while the last good key set is served past a failed refresh, else 0.",
        )
        self._introspection = meter.create_histogram(
            "jwt_guard.introspection.duration",
            unit="s",
            description="Duration of token introspection calls (RFC 7662), by outcome and reason.",
            explicit_bucket_boundaries_advisory=FETCH_BUCKETS,
        )
        self._revocations = meter.create_counter(
            "jwt_guard.revocation.hits", unit="{token}", description="Tokens refused as revoked."
        )
        self._replays = meter.create_counter(
            "jwt_guard.dpop.replays", unit="{proof}", description="DPoP proofs refused as replayed."
        )
        self._store_failures = meter.create_counter(
            "jwt_guard.store.failures",
            unit="{failure}",
            description="Revocation or replay store failures, by result (unavailable, failed_open) and reason.",
        )
        # Attribute sets for the hot path, made once: one measurement per
        # verification (the SDK's cost is per measurement), the cache's
        # answer one of its attributes.
        self._success = {
            (issuer, cached): _with_cache({OUTCOME: "success", ISSUER: issuer}, cached)
            for issuer in (*self._issuers, OTHER)
            for cached in (None, True, False)
        }
        self._failure: dict[tuple[str, bool | None], dict[str, str]] = {}
        self._handlers: dict[str, Callable[[Event], None]] = {
            EventKind.TOKEN_VERIFIED: self._verified,
            EventKind.TOKEN_REJECTED: self._refused,
            EventKind.VERIFICATION_FAILED: self._refused,
            EventKind.REQUEST_REFUSED: self._request_refused,
            EventKind.KEYS_FETCHED: self._fetched,
            EventKind.KEYS_NOT_MODIFIED: self._fetched,
            EventKind.FETCH_FAILED: self._fetched,
            EventKind.SERVING_STALE: self._serving_stale,
            EventKind.UNKNOWN_KID_REFETCH: self._unknown_kid_seen,
            EventKind.UNKNOWN_KID_REFUSED: self._unknown_kid_seen,
            EventKind.INTROSPECTION_CALL: self._introspected,
        }

    # -- event hooks -------------------------------------------------------------------

    def on_event(self, event: Event) -> None:
        """The verifier's event hook."""
        if event.kind == VERIFIED:  # the one event of every request first
            self._verified(event)
            return
        if not self._awake:  # rare events look for a global provider too
            self.awake()
        handler = self._handlers.get(event.kind)
        if handler is not None:
            handler(event)

    def on_store_event(self, event: Event) -> None:
        """The revocation (or replay) store's event hook."""
        # Replays are counted from the verifier's refusals (dpop_proof_replayed),
        # whichever store recorded the proof.
        kind = event.kind
        if kind == EventKind.STORE_UNAVAILABLE:
            self._store_failures.add(1, {RESULT: "unavailable", REASON: _name(event.reason)})
        elif kind == EventKind.STORE_FAILED_OPEN:
            self._store_failures.add(1, {RESULT: "failed_open", REASON: _name(event.reason)})

    # -- verification ------------------------------------------------------------------

    def _verified(self, event: Event) -> None:
        details = event.details
        duration: float = details["duration"]
        cached = details["cached"]
        attributes = self._success.get((event.issuer or OTHER, cached)) or self._success[OTHER, cached]
        self._duration.record(duration, attributes)
        if not (self._spans or self._tracing()):
            return
        span_attributes: dict[str, Any] = {**attributes}
        if self._record_subject:
            token = details.get("token")
            if token is not None:
                if token.subject is not None:
                    span_attributes["enduser.id"] = token.subject
                if token.client_id is not None:
                    span_attributes["jwt_guard.client_id"] = token.client_id
        self._span("jwt_guard.verify", duration, span_attributes, None)

    def _refused(self, event: Event) -> None:
        details = event.details
        duration: float = details["duration"]
        reason = _token_reason(event.reason)
        key = (reason, details.get("cached"))
        attributes = self._failure.get(key)
        if attributes is None:
            attributes = self._failure.setdefault(key, _with_cache({OUTCOME: "failure", REASON: reason}, key[1]))
        self._duration.record(duration, attributes)
        if reason == "revoked":
            self._revocations.add(1)
        elif reason == "dpop_proof_replayed":
            self._replays.add(1)
        if self._tracing():
            self._span("jwt_guard.verify", duration, {**attributes}, reason)

    def _request_refused(self, event: Event) -> None:
        status = event.details.get("status")
        attributes = {
            ADAPTER: _bounded(event.details.get("adapter"), ADAPTERS),
            REASON: _token_reason(event.reason),
            STATUS: status if status in (400, 401, 403, 503) else 0,
        }
        if status == 403:
            self._forbids.add(1, attributes)
        elif status == 503:
            self._unavailable.add(1, attributes)
        else:
            self._challenges.add(1, attributes)

    # -- key sets and introspection ----------------------------------------------------

    def _fetched(self, event: Event) -> None:
        issuer = _bounded(event.issuer, self._issuers)
        if event.kind == EventKind.FETCH_FAILED:
            attributes = {ISSUER: issuer, RESULT: "failed", REASON: _name(event.reason)}
        else:
            attributes = {ISSUER: issuer, RESULT: "fetched" if event.kind == EventKind.KEYS_FETCHED else "not_modified"}
            with self._lock:
                self._last_success[issuer] = time.time()
                self._stale[issuer] = 0
        self._fetches.add(1, attributes)
        duration = event.details.get("duration")
        if isinstance(duration, float):
            self._fetch_duration.record(duration, attributes)
            if self._tracing(True):
                self._span("jwt_guard.keyset.fetch", duration, attributes, attributes.get(REASON))

    def _serving_stale(self, event: Event) -> None:
        issuer = _bounded(event.issuer, self._issuers)
        self._stale_refreshes.add(1, {ISSUER: issuer, REASON: _name(event.reason)})
        with self._lock:
            self._stale[issuer] = 1

    def _unknown_kid_seen(self, event: Event) -> None:
        result = "refetch" if event.kind == EventKind.UNKNOWN_KID_REFETCH else _name(event.reason)
        self._unknown_kid.add(1, {ISSUER: _bounded(event.issuer, self._issuers), RESULT: result})

    def _introspected(self, event: Event) -> None:
        attributes = {ISSUER: _bounded(event.issuer, self._issuers)}
        if event.reason is None:
            attributes[OUTCOME] = "success"
        else:
            attributes[OUTCOME] = "failure"
            attributes[REASON] = _name(event.reason)
        duration = event.details.get("duration")
        if isinstance(duration, float):
            self._introspection.record(duration, attributes)
            if self._tracing(True):
                self._span("jwt_guard.introspect", duration, attributes, attributes.get(REASON))

    # -- observable gauges and spans ---------------------------------------------------

    def _observe_last_success(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            values = list(self._last_success.items())
        return [Observation(value, {ISSUER: issuer}) for issuer, value in values]

    def _observe_stale(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            values = list(self._stale.items())
        return [Observation(value, {ISSUER: issuer}) for issuer, value in values]

    def awake(self) -> bool:
        """Would anything record a verification now (a meter or tracer
        provider other than a no-op or the API's unset global)? The first
        time it would, :attr:`on_wake` runs."""
        if self._awake:
            return True
        if not self._metrics and self._meter_follows_global:
            self._metrics = not _global_meter_unset()
        awake = self._metrics or self._tracing(True)
        if awake:
            self._awake = True
            if self.on_wake is not None:
                self.on_wake()
        return awake

    def _tracing(self, probe: bool = False) -> bool:
        if self._spans or not self._follow_global:
            return self._spans
        # Following the global provider, not set yet: look again now and then
        # (and at every fetch, which are rare).
        self._probe = count = (self._probe + 1) % GLOBAL_PROBE
        if count == 1 or probe:
            self._spans = not _global_tracer_unset()
        return self._spans

    def _span(self, name: str, duration: float, attributes: dict[str, Any], error: str | None) -> None:
        # Events arrive when the work is done: the span is recorded after the
        # fact, its start set back by the measured duration. Started in the
        # current context, it is a child of the span around the caller.
        end = time.time_ns()
        span = self._tracer.start_span(
            name, kind=SpanKind.INTERNAL, attributes=attributes, start_time=end - int(duration * 1e9)
        )
        if error is not None:
            span.set_attribute("error.type", error)
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)
