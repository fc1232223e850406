"""Verifying opaque tokens at the authorization server (RFC 7662), as a flow.

:meth:`Introspector.flow` is a generator like every verification flow: it
yields effects (the shared discovery and introspection exchanges of
:mod:`jwt_guard._singleflight`, and key acquisition for signed answers) and
returns the :class:`~jwt_guard.AccessToken`, so :meth:`Verifier.verify` and
:meth:`Verifier.verify_async` share it.

Routing (:func:`looks_like_jws`): a token made of three base64url segments
is a JWT and is verified locally; anything else goes to the endpoint.

The endpoint comes from the configuration or from the issuer's metadata.
That discovery is this module's own (same URLs, same exact-issuer rule as
the key set's): the key source reads only ``jwks_uri`` inside its key-set
refresh, and does no discovery at all with static keys or an explicit
``jwks_uri``. Sharing it would make opaque tokens fail whenever the JWKS
does; the cost of keeping them apart is one more fetch of the discovery
document per ``discovery_ttl``.

Failures never become 401: the endpoint down, slow, answering an error
status, garbage, an oversized body, or refusing our client credentials all
give :class:`~jwt_guard.IntrospectionUnavailable` (503 with
``Retry-After``). Calls for tokens not in the cache are limited by a token
bucket and, after failures, by a backoff; a token refused by either gets 503
at once while cached tokens keep working.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Generator, Mapping
from typing import TYPE_CHECKING, Any

from jwt_guard._access_token import AccessToken, prepared_token
from jwt_guard._client_auth import ClientAuth
from jwt_guard._config import Settings, check_url, fetchable, is_local_http
from jwt_guard._discovery import discover
from jwt_guard._events import EventKind, Reporter, logger
from jwt_guard._http import HTTPClients
from jwt_guard._introspect_cache import AnswerCache, Backoff, RateLimit, entry_size
from jwt_guard._introspect_response import ACCEPT, Answer, AnswerRules, ServerFailure, SignedAnswerRules, classify
from jwt_guard._introspection import Introspection, IntrospectionUnavailable
from jwt_guard._jose import verify_signature
from jwt_guard._keysource import Effect, KeySource
from jwt_guard._singleflight import Shared, SingleFlight
from jwt_guard._token import parse
from jwt_guard._wire import Failure, Reply, Request
from jwt_guard.errors import ConfigurationError, InvalidSignature, InvalidToken, MalformedToken, TokenTooLarge

if TYPE_CHECKING:
    import httpx

__all__ = ["INTROSPECTION_FAILED", "INTROSPECTION_LIMITED", "Introspector", "looks_like_jws"]

#: Event kinds (``Event.kind``) this module emits.
INTROSPECTION_FAILED = EventKind.INTROSPECTION_FAILED
INTROSPECTION_LIMITED = EventKind.INTROSPECTION_RATE_LIMITED

_JWS_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
# RFC 6750 §2.1 b64token: what a bearer token may consist of.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_DISCOVERY = "discovery"
_NO_HEADER: dict[str, Any] = {}
# Seconds between two log lines about the same persistent problem.
_LOG_INTERVAL = 60.0


def looks_like_jws(token: str | bytes) -> bool:
    """True when *token* is three base64url segments (a compact JWS)."""
    if isinstance(token, str):
        try:
            data = token.encode("ascii")
        except UnicodeEncodeError:
            return False
    elif isinstance(token, (bytes, bytearray, memoryview)):
        data = bytes(token)
    else:  # not a token at all: the JWT parser says why
        return True  # type: ignore[unreachable]
    return data.count(b".") == 2 and not data.translate(None, _JWS_CHARS)


def _opaque(token: str | bytes, max_size: int) -> str:
    if isinstance(token, (bytes, bytearray, memoryview)):
        if len(token) > max_size:
            raise TokenTooLarge()
        try:
            token = bytes(token).decode("ascii")
        except UnicodeDecodeError:
            raise MalformedToken("the token contains characters outside b64token") from None
    if not isinstance(token, str):
        raise MalformedToken("the token must be a string")
    if len(token) > max_size:
        raise TokenTooLarge()
    if not token:
        raise MalformedToken("the token is empty")
    if _B64TOKEN.fullmatch(token) is None:
        raise MalformedToken("the token contains characters outside b64token")
    return token


_sha256 = hashlib.sha256


def _digest(token: str) -> bytes:
    return _sha256(token.encode()).digest()


# Failure descriptions reach 503 bodies: a status stays in the detail (logs).


class Introspector:
    """Introspection for one verifier: configuration, endpoint, cache, limits."""

    def __init__(
        self,
        options: Introspection,
        settings: Settings,
        *,
        sources: Mapping[str, KeySource],
        reporter: Reporter,
        transport: httpx.BaseTransport | None,
        async_transport: httpx.AsyncBaseTransport | None,
    ) -> None:
        issuer = options.issuer
        if issuer is None:
            if len(settings.issuers) != 1:
                raise ConfigurationError("with several issuers, Introspection(issuer=...) must name the one to ask")
            issuer = settings.issuers[0]
        elif issuer not in settings.issuers:
            raise ConfigurationError("Introspection issuer must be one of the verifier's issuers")
        insecure = settings.allow_insecure_http
        if options.endpoint is not None:
            check_url(options.endpoint, "Introspection endpoint", allow_http=insecure)
        else:
            check_url(issuer, "issuer (introspection_endpoint is discovered from it)", allow_http=insecure)
        # Plain http only where the operator put it: the configured endpoint,
        # or the issuer a discovered endpoint comes from, on loopback.
        allow_http = insecure or is_local_http(options.endpoint if options.endpoint is not None else issuer)
        self._insecure = insecure
        self.options = options
        self.issuer = issuer
        self._settings = settings
        self._clock = settings.clock
        self._reporter = reporter
        self._source = sources[issuer]
        self._allow_http = allow_http
        self._max_size = settings.max_token_size
        self._auth = ClientAuth(options, audience=issuer, clock=settings.clock)
        self._rules = AnswerRules(settings, issuer=issuer, ttl=options.cache_ttl)
        self._signed_rules = SignedAnswerRules(settings, issuer=issuer, client_id=options.client_id)
        key_options = settings.key_cache
        # The key fetch's timeouts and size limits, with a larger pool.
        self.clients = HTTPClients(
            key_options, transport, async_transport, max_connections=16, allow_insecure_http=insecure
        )
        # A joiner waits for the leader's exchanges: discovery may take two.
        self._flights: SingleFlight[Any] = SingleFlight(
            self.clients, wait_limit=2 * key_options.timeout + 1.0, clock=settings.clock
        )
        self.cache = AnswerCache(options.cache_size, options.cache_bytes)
        self._lock = threading.Lock()
        self._rate = RateLimit(options.rate, options.burst)
        self._backoff = Backoff(*key_options.cold_backoff)
        self._discovery_backoff = Backoff(*key_options.cold_backoff)
        self._last_failure: Failure | None = None
        self._endpoint: str | None = options.endpoint
        self._endpoint_until = math.inf if options.endpoint is not None else -math.inf
        self._logged: dict[str, float] = {}

    # -- cache -------------------------------------------------------------------

    def cached(self, token: str) -> AccessToken | None:
        """The cached answer for *token*: its AccessToken, or the refusal
        raised again; ``None`` when not cached."""
        # The hot path of every repeated opaque token: one hash, one dict
        # lookup, one clock read (AnswerCache.get only for expired entries).
        # An oversized token is never cached: no need to hash all of it.
        if len(token) > self._max_size:
            return None
        digest = _sha256(token.encode()).digest()
        entry = self.cache.entries.get(digest)
        if entry is None:
            return None
        if not entry[2] <= self._clock() < entry[3]:
            self.cache.get(digest, self._clock())  # drops it
            return None
        claims = entry[0]
        if claims is None:
            error_type, description = entry[1]
            raise error_type(description)
        return prepared_token(claims, _NO_HEADER, entry[1], token)

    def clear(self) -> None:
        self.cache.clear()
        self._flights.clear()

    # -- the flow ----------------------------------------------------------------

    def flow(self, token: str | bytes) -> Generator[Effect, Any, AccessToken]:
        """Verify an opaque *token* at the introspection endpoint."""
        raw = _opaque(token, self._max_size)
        hit = self.cached(raw)
        if hit is not None:
            return hit
        digest = _digest(raw)
        epoch = self.cache.epoch
        endpoint = yield from self.endpoint_flow()
        outcome = yield Shared(self._flights, digest, lambda: self._call(endpoint, raw), self._admit, self._finish)
        if isinstance(outcome, Failure):
            raise self._unavailable(outcome)
        assert isinstance(outcome, Answer)
        document = outcome.document
        if document is None:
            assert outcome.jws is not None
            document = yield from self._signed(outcome.jws)
        now = self._clock()
        try:
            claims, scopes, not_before, until = self._rules.check(document, now)
        except InvalidToken as error:
            self.cache.put_refused(digest, error, now + self.options.negative_ttl, epoch)
            raise
        if until > now:
            self.cache.put_active(digest, claims, scopes, (not_before, until), entry_size(outcome.size), epoch)
        return prepared_token(claims, _NO_HEADER, scopes, raw)

    def endpoint_flow(self) -> Generator[Effect, Any, str]:
        """The introspection endpoint: configured, or discovered (cached for
        ``discovery_ttl``; the last good one is kept while rediscovery fails)."""
        current = self._endpoint
        if current is not None and self._clock() < self._endpoint_until:
            return current
        outcome = yield Shared(self._flights, _DISCOVERY, self._discover, self._admit_discovery, self._discovered)
        if isinstance(outcome, str):
            return outcome
        if current is not None:
            return current
        raise self._unavailable(outcome, self._discovery_backoff)

    def _signed(self, jws: str) -> Generator[Effect, Any, dict[str, Any]]:
        # RFC 9701 §5: verified with the issuer's own keys. Anything wrong
        # is the server's (or an attacker's) doing, not the client's: 503.
        settings = self._settings
        try:
            parsed = parse(jws, max_size=settings.key_cache.max_response_bytes, algorithms=settings.algorithms)
            if not self._signed_rules.check_type(parsed.header):
                raise InvalidToken("not typed token-introspection+jwt")
            key = self._source.find(parsed.kid, parsed.alg)
            if key is None:
                key = yield from self._source.acquire(parsed.kid, parsed.alg, lambda: None)
            if not verify_signature(key.key, parsed.signing_input, parsed.signature):
                raise InvalidSignature()
            document = self._signed_rules.check(parsed.claims(), self._clock())
            if document is None:
                raise InvalidToken("not an introspection answer for this API")
        except InvalidToken as error:
            self._log_once(
                "signed",
                logging.ERROR,
                "jwt_guard: a signed introspection answer for %s did not verify (%s: %s); opaque tokens get 503",
                self.issuer,
                type(error).__name__,
                error.description,
            )
            failure = ServerFailure("invalid_signed_answer", "the signed introspection answer did not verify")
            self._reporter.emit(INTROSPECTION_FAILED, self.issuer, failure.reason)
            raise IntrospectionUnavailable(
                f"{IntrospectionUnavailable.description}: {failure.description}", retry_after=1
            ) from None
        return document

    def check_flow(self) -> Generator[Effect, Any, tuple[str, str, str]]:
        """Diagnostics (``jwt-guard check``): ``(endpoint, verdict, detail)``,
        the verdict ``"ok"`` (our credentials were accepted), ``"refused"``
        (401/403: a configuration error) or ``"unavailable"``. Introspects a
        random token that no server issued; uses neither the cache nor the
        rate limit, and does not count towards the backoff."""
        try:
            endpoint = yield from self.endpoint_flow()
        except IntrospectionUnavailable as error:
            return "-", "unavailable", error.description
        probe = "probe-" + secrets.token_urlsafe(24)
        outcome = yield Shared(
            self._flights, ("check", probe), lambda: self._call(endpoint, probe), lambda: None, lambda done: done
        )
        if isinstance(outcome, ServerFailure) and outcome.credentials:
            return (
                endpoint,
                "refused",
                f"client {self.options.client_id!r} ({self.options.auth}): {outcome.description}",
            )
        if isinstance(outcome, Failure):
            return endpoint, "unavailable", outcome.description
        return endpoint, "ok", f"client {self.options.client_id!r} ({self.options.auth}) accepted"

    # -- requests ----------------------------------------------------------------

    def _call(self, endpoint: str, token: str) -> Generator[Request, Reply, Answer | Failure]:
        # RFC 7662 §2.1: a form POST; the hint saves the server a lookup.
        started = time.perf_counter()
        form = {"token": token, "token_type_hint": "access_token"}
        headers = (("accept", ACCEPT), *self._auth.apply(form))
        reply = yield Request(endpoint, headers, "introspection", allow_http=self._allow_http, form=form)
        outcome = classify(reply, require_signed=self.options.require_signed)
        failure = outcome.reason if isinstance(outcome, Failure) else None
        self._reporter.emit(EventKind.INTROSPECTION_CALL, self.issuer, failure, duration=time.perf_counter() - started)
        return outcome

    def _discover(self) -> Generator[Request, Reply, str | Failure]:
        issuer = self.issuer
        found = yield from discover(issuer, allow_http=self._allow_http)
        if isinstance(found, Failure):
            return found
        _, document = found
        if document.get("issuer") != issuer:
            # OpenID Connect Discovery §4.3 / RFC 8414 §3.3: exact match.
            return ServerFailure("issuer_mismatch", "the discovery document names a different issuer")
        endpoint = document.get("introspection_endpoint")
        # The issuer's metadata is the server's word: https unless the
        # issuer is itself a loopback http one.
        allowed = fetchable(endpoint, allow_http=self._allow_http, insecure=self._insecure)
        if not isinstance(endpoint, str) or not allowed:
            return ServerFailure(
                "no_introspection_endpoint", "the issuer's metadata names no usable introspection_endpoint"
            )
        return endpoint

    # -- admission and outcomes (under the lock; shared by both faces) -----------

    def _admit(self) -> Failure | None:
        now = self._clock()
        with self._lock:
            wait = self._backoff.wait(now)
            if wait > 0:
                last = self._last_failure
                return ServerFailure(
                    "backoff",
                    last.description if last is not None else "the introspection endpoint is failing",
                    retry_after=wait,
                    credentials=isinstance(last, ServerFailure) and last.credentials,
                )
            wait = self._rate.take(now)
        if wait > 0:
            self._log_once(
                "rate",
                logging.WARNING,
                "jwt_guard: more than %s introspection calls per second for unknown tokens; "
                "further unknown tokens get 503 (cached tokens are unaffected)",
                self.options.rate,
            )
            self._reporter.emit(INTROSPECTION_LIMITED, self.issuer, "rate_limited")
            return ServerFailure("rate_limited", "too many unknown tokens", retry_after=wait)
        return None

    def _finish(self, outcome: Answer | Failure) -> Answer | Failure:
        now = self._clock()
        if not isinstance(outcome, Failure):
            with self._lock:
                self._backoff.succeeded()
                self._last_failure = None
            return outcome
        hint = outcome.retry_after if isinstance(outcome, ServerFailure) else None
        with self._lock:
            delay = self._backoff.failed(now, hint)
            self._last_failure = outcome
        self._reporter.emit(INTROSPECTION_FAILED, self.issuer, outcome.reason)
        if isinstance(outcome, ServerFailure) and outcome.credentials:
            # Not the client's fault and not an outage: a configuration error.
            logger.error(
                "jwt_guard: the introspection endpoint for %s refused client %r (auth=%s): check the "
                "Introspection client_id and credentials; opaque tokens get 503 meanwhile",
                self.issuer,
                self.options.client_id,
                self.options.auth,
            )
        else:
            logger.warning(
                "jwt_guard: introspection for %s failed (%s: %s); new opaque tokens get 503 for %.0f s",
                self.issuer,
                outcome.reason,
                outcome.logged(),
                delay,
            )
        return outcome

    def _admit_discovery(self) -> Failure | None:
        now = self._clock()
        with self._lock:
            wait = self._discovery_backoff.wait(now)
        if wait > 0:
            return ServerFailure("backoff", "discovery failed recently", retry_after=wait)
        return None

    def _discovered(self, outcome: str | Failure) -> str | Failure:
        now = self._clock()
        with self._lock:
            if isinstance(outcome, str):
                self._discovery_backoff.succeeded()
                self._endpoint = outcome
                self._endpoint_until = now + self._settings.key_cache.discovery_ttl
                return outcome
            self._discovery_backoff.failed(now)
        logger.error(
            "jwt_guard: could not discover the introspection endpoint of %s (%s: %s)",
            self.issuer,
            outcome.reason,
            outcome.logged(),
        )
        self._reporter.emit(INTROSPECTION_FAILED, self.issuer, outcome.reason)
        return outcome

    def _unavailable(self, failure: Failure, backoff: Backoff | None = None) -> IntrospectionUnavailable:
        backoff = backoff or self._backoff
        retry = failure.retry_after if isinstance(failure, ServerFailure) else None
        if retry is None:
            with self._lock:
                retry = backoff.wait(self._clock())
        if isinstance(failure, ServerFailure) and failure.credentials:
            # Clients are not told how this API's own credentials fare.
            return IntrospectionUnavailable(retry_after=max(1.0, retry))
        return IntrospectionUnavailable(
            f"{IntrospectionUnavailable.description}: {failure.description}", retry_after=max(1.0, retry)
        )

    def _log_once(self, key: str, level: int, message: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._logged.get(key, -math.inf) < _LOG_INTERVAL:
                return
            self._logged[key] = now
        logger.log(level, message, *args)

    # -- lifecycle ---------------------------------------------------------------

    def close(self) -> None:
        self.clients.close()

    async def aclose(self) -> None:
        await self.clients.aclose()
