"""The key-set caching policy, written once and driven by two I/O shells.

Everything here is pure: time is an argument, and the network is reached
only through :meth:`KeySetState.refresh`, a generator that *yields* the
requests it needs and *receives* their replies (the shape httpx uses for its
auth flows). :mod:`jwt_guard._fetch` drives it with ``httpx.Client`` under a
thread lock, or with ``httpx.AsyncClient`` under asyncio.

The rules (defaults in :class:`~jwt_guard.KeyCacheOptions`):

* A fetched set is fresh for ``Cache-Control: max-age`` (else ``Expires``,
  else 10 min), clamped to [1 min, 24 h] and shortened by a little jitter.
* Past ``refresh_ahead`` of that lifetime, one request starts a background
  refresh and still uses the current keys; no request waits on the network
  while a good set exists.
* When refreshes fail, the last good set keeps serving for ``max_stale``
  past its expiry, with a warning each attempt; failed attempts back off
  with jitter. Beyond that, or with nothing cached, requests fail with
  :class:`~jwt_guard.KeySetUnavailable` (503 + ``Retry-After``).
* A successful fetch is authoritative: a ``kid`` it no longer lists stops
  verifying at once. An empty or unparseable reply never replaces a good set,
  and a 304 renews it only in answer to a conditional request.
* An unknown ``kid`` triggers at most one refetch per cooldown; the cooldown
  counts from the previous unknown-``kid`` refetch only, and only a fetch
  started after the ``kid`` was seen can answer it. ``kid`` values a
  successful fetch lacked are remembered (bounded) and refused without a fetch.
* A failure that no retry can cure (:data:`CONFIGURATION_FAILURES`: the
  discovery document names another issuer) says what to configure, and is
  retried only after the ``stale_backoff`` ceiling (5 min by default), not
  within seconds: the configuration, or the provider's, has to change first.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cachetools import LRUCache

from jwt_guard._config import KeyCacheOptions, fetchable, is_local_http
from jwt_guard._discovery import discover, discovery_urls
from jwt_guard._events import EventKind, Reporter, logger
from jwt_guard._freshness import freshness_lifetime
from jwt_guard._keys import KeySet, Skipped, keyset_from_jwks
from jwt_guard._reasons import with_details
from jwt_guard._token import decode_json_object
from jwt_guard._wire import Failure, Reply, Request
from jwt_guard.errors import KeySetUnavailable

__all__ = [
    "CONFIGURATION_FAILURES",
    "Fetched",
    "KeySetState",
    "NotModified",
    "Outcome",
    "Plan",
    "issuer_mismatch",
]


class Plan(enum.Enum):
    """What a request should do about keys right now."""

    USE = "use"  # use the cached set
    USE_AND_REFRESH = "use_and_refresh"  # use it, and start one background refresh
    FETCH = "fetch"  # nothing usable: fetch (or join the fetch under way) and wait
    FAIL = "fail"  # nothing usable and backing off: answer 503 at once


@dataclass(frozen=True)
class Fetched:
    keyset: KeySet
    skipped: list[Skipped]
    lifetime: float
    etag: str | None
    last_modified: str | None
    jwks_uri: str
    discovered: bool
    #: When the key-set request was sent (the verifier's clock): freshness
    #: counts from then (RFC 9111 §4.2.3), not from when the reply is applied.
    requested_at: float | None = None


@dataclass(frozen=True)
class NotModified:
    lifetime: float
    jwks_uri: str
    discovered: bool
    requested_at: float | None = None


Outcome = Fetched | NotModified | Failure

_ACCEPT_JSON = ("accept", "application/json, application/jwk-set+json;q=0.9")
# Failure descriptions reach 503 bodies: what an internal service answered
# stays in the detail, which only the logs show.


#: Failure reasons that retrying cannot cure: a configuration must change.
CONFIGURATION_FAILURES = frozenset({"issuer_mismatch"})
_SHOWN_ISSUER_CHARS = 200


def _shown_issuer(value: object) -> str | None:
    """A discovered issuer fit to quote in logs and 503 descriptions: short
    printable ASCII without quotes or backslashes, else ``None``."""
    if not isinstance(value, str) or not 0 < len(value) <= _SHOWN_ISSUER_CHARS:
        return None
    return value if value.isascii() and value.isprintable() and not any(c in value for c in "'\"\\") else None


def _origin(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
        return parts.scheme.lower(), parts.netloc.lower()
    except ValueError:
        return None


def issuer_mismatch(configured: str, named: object) -> Failure:
    """The failure for a discovery document naming *named* as its issuer
    instead of *configured*, saying what to configure.

    The description reaches 503 bodies. It quotes the discovered issuer only
    when that issuer shares the configured issuer's origin (scheme, host and
    port), which every token for this API names anyway: a trailing slash or
    a path that differs. An issuer elsewhere, and the advice naming it, stay
    in the detail, which only logs and diagnostics show.
    """
    found = _shown_issuer(named)
    if found is None:
        return Failure("issuer_mismatch", "the discovery document names no usable issuer; check the issuer URL")
    if found.rstrip("/") == configured.rstrip("/"):
        rule = " (issuers must match exactly, trailing slash included)"
    else:
        rule = " (issuers must match exactly)"
    advice = f"configure issuer='{found}' (JWT_GUARD_ISSUER with Verifier.from_env)"
    if discovery_urls(found)[0] != discovery_urls(configured)[0]:
        advice += f", or make the provider publish '{configured}' if that is its public URL"
    message = f"the discovery document names issuer '{found}', not '{configured}'{rule}: {advice}"
    if _origin(found) is not None and _origin(found) == _origin(configured):
        return Failure("issuer_mismatch", message)
    return Failure(
        "issuer_mismatch",
        "the discovery document names an issuer on another host (a configuration error: "
        "the server log says which issuer to configure)",
        message,
    )


@dataclass
class _Current:
    keyset: KeySet | None = None
    refresh_at: float = -math.inf


@dataclass
class KeySetState:
    """Everything known about one remote key set (one issuer or ``jwks_uri``)."""

    label: str  # issuer (or jwks_uri) for logs and events
    issuer: str | None  # expected discovery ``issuer``; None with an explicit jwks_uri
    jwks_uri: str | None
    options: KeyCacheOptions
    algorithms: frozenset[str]
    allow_insecure_http: bool
    reporter: Reporter
    rng: Callable[[], float] = random.random

    keyset: KeySet | None = None
    refresh_at: float = -math.inf
    expires_at: float = -math.inf
    stale_until: float = -math.inf
    retry_at: float = -math.inf
    failures: int = 0
    #: Why the last fetch failed (cleared by a success); shown in 503s.
    last_failure: Failure | None = None
    #: The discovery URL that last answered with a document, and the issuer
    #: that document named (when printable), for diagnostics.
    discovery_url: str | None = None
    discovered_issuer: str | None = None
    refreshing: bool = False
    #: Completed fetch attempts; lets waiters see that another fetch finished.
    generation: int = 0
    #: Fetches started and not yet applied (the two shells may overlap).
    in_flight: int = 0
    etag: str | None = None
    last_modified: str | None = None
    discovery_expires_at: float = -math.inf
    last_kid_refetch: float = -math.inf
    #: When a fetch last succeeded (a new set or 304), on the verifier's clock.
    last_success: float | None = None
    #: The kid of the last granted unknown-kid refetch, and the generation
    #: that answers it (see :meth:`join_kid_refetch`).
    pending_kid: str | None = None
    pending_need: int = 0
    absent_kids: LRUCache[str, float] = field(init=False)
    #: (keyset, refresh_at) swapped as one object, read without a lock.
    current: _Current = field(default_factory=_Current)
    #: Plain http for every request and redirect hop of this key set: only
    #: when the operator configured a loopback http issuer (or jwks_uri), or
    #: allow_insecure_http. Decided once, from configuration alone.
    http_ok: bool = field(init=False)

    def __post_init__(self) -> None:
        self.absent_kids = LRUCache(maxsize=max(1, self.options.max_absent_kids))
        origin = self.issuer if self.issuer is not None else self.jwks_uri
        self.http_ok = self.allow_insecure_http or is_local_http(origin)

    @property
    def discovers(self) -> bool:
        return self.issuer is not None

    # -- decisions -------------------------------------------------------

    def plan(self, now: float, *, may_refresh: bool = True) -> tuple[Plan, KeySet | None]:
        """Decide, at *now*, how a request obtains keys. Call under the lock.

        ``USE_AND_REFRESH`` marks a refresh as started: the caller must start
        it. With ``may_refresh=False`` the answer is ``USE`` instead.
        """
        keyset = self.keyset
        if keyset is not None and now < self.stale_until:
            if may_refresh and now >= self.refresh_at and not self.refreshing and now >= self.retry_at:
                self.refreshing = True
                return Plan.USE_AND_REFRESH, keyset
            return Plan.USE, keyset
        if now < self.retry_at:
            return Plan.FAIL, None
        return Plan.FETCH, None

    def unavailable(self, now: float) -> KeySetUnavailable:
        retry = math.ceil(self.retry_at - now) if self.retry_at > now else math.ceil(self.options.cold_backoff[0])
        failure = self.last_failure
        configuration = failure is not None and failure.reason in CONFIGURATION_FAILURES
        if self.keyset is not None and now >= self.stale_until:
            description = "signing keys expired and could not be refreshed"
        elif self.keyset is not None:
            description = "the token's signing key could not be fetched"
        elif configuration:
            description = "signing keys are unavailable"
        else:
            description = KeySetUnavailable.description
        if failure is None:
            return KeySetUnavailable(description, retry_after=retry)
        # Failure descriptions are fixed phrases (an issuer mismatch quotes
        # issuers on the configured issuer's host only): no URL a server
        # chose, no token, no key material. The details are for diagnostics.
        error = KeySetUnavailable(f"{description}: {failure.description}", retry_after=retry)
        issuers = {"configured_issuer": self.issuer, "discovered_issuer": self.discovered_issuer}
        return with_details(
            error, failure=failure.reason, configuration=configuration, **(issuers if configuration else {})
        )

    def claim_kid_refetch(self, kid: str, now: float) -> int | None:
        """May an unknown *kid* trigger a refetch now? Call under the lock.

        Allowed at most once per cooldown, never while backing off after a
        failure, and never for a kid that a recent fetch was seen to lack.
        Returns ``None`` when refused, else the :attr:`generation` to wait
        for: a fetch already under way may have read the key set before the
        kid was published, so only a fetch *started* after this claim can
        answer it (with ``n`` fetches in flight, ``n + 1`` more completions
        include at least one such fetch).
        """
        if self.kid_refetch_refusal(kid, now) is not None:
            return None
        self.last_kid_refetch = now
        self.pending_kid = kid
        self.pending_need = self.generation + self.in_flight + 1
        return self.pending_need

    def kid_refetch_refusal(self, kid: str, now: float) -> str | None:
        """Why an unknown *kid* may not trigger a refetch now (``known_absent``,
        ``backoff`` or ``cooldown``), or ``None``. Call under the lock."""
        seen = self.absent_kids.get(kid)
        if seen is not None and now - seen < self.options.absent_kid_ttl:
            return "known_absent"
        if now < self.retry_at:
            return "backoff"
        return "cooldown" if now - self.last_kid_refetch < self.options.unknown_kid_cooldown else None

    def join_kid_refetch(self, kid: str) -> int | None:
        """The generation to wait for if a refetch granted for this same
        *kid* has not completed yet, else ``None``. Call under the lock.

        Concurrent requests carrying a newly rotated key all name its kid:
        they wait for the one refetch instead of failing during its flight.
        Requests naming any other unknown kid are still refused at once.
        """
        if kid == self.pending_kid and self.generation < self.pending_need:
            return self.pending_need
        return None

    def note_absent(self, kid: str, now: float) -> None:
        """Remember that the last fetch lacked *kid*. Call under the lock.

        Only a successful fetch is evidence: after a failed one the kid may
        well exist, and must stay eligible for the next refetch.
        """
        if self.failures or not self.options.max_absent_kids:
            return
        self.absent_kids[kid] = now

    def begin_fetch(self) -> None:
        """A shell starts a fetch (paired with :meth:`apply` or :meth:`abandon`).
        Call under the lock."""
        self.in_flight += 1

    def abandon(self) -> None:
        """A started fetch ended without an outcome (its event loop shut
        down): nothing was learnt about the key server, so no failure is
        recorded and no backoff starts. Call under the lock."""
        self.refreshing = False
        self.in_flight = max(0, self.in_flight - 1)

    # -- the fetch, as a generator of requests ---------------------------

    def refresh(self, clock: Callable[[], float]) -> Generator[Request, Reply, Outcome]:
        """Fetch discovery (when due) and the key set; return the outcome."""
        jwks_uri = self.jwks_uri
        discovered = False
        if self.issuer is not None and (jwks_uri is None or clock() >= self.discovery_expires_at):
            found = yield from self._discover(self.issuer)
            if isinstance(found, Failure):
                if jwks_uri is None:
                    return found
                logger.warning(
                    "jwt_guard: discovery for %s failed (%s: %s); keeping jwks_uri %s",
                    self.label,
                    found.reason,
                    found.logged(),
                    jwks_uri,
                )
            else:
                jwks_uri, discovered = found, True

        headers = [_ACCEPT_JSON]
        if self.keyset is not None and jwks_uri == self.jwks_uri:
            if self.etag:
                headers.append(("if-none-match", self.etag))
            if self.last_modified:
                headers.append(("if-modified-since", self.last_modified))
        # RFC 9110 §15.4.5: 304 answers a conditional request only; any
        # other 304 is no evidence that the cached keys are still current.
        conditional = len(headers) > 1
        assert jwks_uri is not None
        requested_at = clock()
        reply = yield Request(jwks_uri, tuple(headers), "jwks", allow_http=self.http_ok)
        if isinstance(reply, Failure):
            return reply
        now = clock()
        if reply.status == 304 and conditional:
            return NotModified(freshness_lifetime(reply.headers, self.options, now), jwks_uri, discovered, requested_at)
        if reply.status != 200:
            return Failure("http_status", "the key set URL answered with an error status", f"HTTP {reply.status}")
        document = decode_json_object(reply.body)
        if document is None:
            return Failure("invalid_json", "the key set is not a JSON object")
        try:
            keyset, skipped = keyset_from_jwks(document, self.algorithms, max_keys=self.options.max_keys)
        except ValueError:
            return Failure("not_jwks", "the key set document is not a JWK Set")
        for item in skipped:
            logger.info("jwt_guard: skipped key %s (kid=%r) from %s: %s", item.index, item.kid, jwks_uri, item.reason)
        if not len(keyset):
            return Failure("no_usable_keys", "the key set holds no usable signing key")
        return Fetched(
            keyset,
            skipped,
            freshness_lifetime(reply.headers, self.options, now),
            reply.headers.get("etag"),
            reply.headers.get("last-modified"),
            jwks_uri,
            discovered,
            requested_at,
        )

    def _discover(self, issuer: str) -> Generator[Request, Reply, str | Failure]:
        found = yield from discover(issuer, allow_http=self.http_ok)
        if isinstance(found, Failure):
            return found
        url, document = found
        self.discovery_url = url
        self.discovered_issuer = _shown_issuer(document.get("issuer"))
        if document.get("issuer") != issuer:
            # OpenID Connect Discovery §4.3: the issuer must match exactly.
            return issuer_mismatch(issuer, document.get("issuer"))
        jwks_uri = document.get("jwks_uri")
        # A URL from a document is the server's, not the operator's: https
        # unless this issuer is itself a loopback http one.
        if not isinstance(jwks_uri, str) or not fetchable(
            jwks_uri, allow_http=self.http_ok, insecure=self.allow_insecure_http
        ):
            return Failure("bad_jwks_uri", "the discovery document has no acceptable jwks_uri")
        self.reporter.emit(EventKind.DISCOVERY_FETCHED, self.label, None, url=url, jwks_uri=jwks_uri)
        return jwks_uri

    # -- applying an outcome ---------------------------------------------

    def _shorten(self, seconds: float) -> float:
        return seconds * (1.0 - self.options.jitter * self.rng())

    def _renew(self, now: float, lifetime: float, jwks_uri: str, discovered: bool) -> None:
        lifetime = self._shorten(lifetime)
        self.refresh_at = now + lifetime * self.options.refresh_ahead
        self.expires_at = now + lifetime
        self.stale_until = self.expires_at + self.options.max_stale
        self.retry_at = -math.inf
        self.failures = 0
        self.last_failure = None
        self.last_success = now
        self.jwks_uri = jwks_uri
        if discovered:
            self.discovery_expires_at = now + self.options.discovery_ttl

    def apply(self, outcome: Outcome, now: float, duration: float | None = None) -> bool:
        """Record *outcome* at *now* (the fetch took *duration* seconds); True
        when the set of keys changed."""
        self.refreshing = False
        self.generation += 1
        self.in_flight = max(0, self.in_flight - 1)
        changed = False
        if isinstance(outcome, Failure):
            self._failed(outcome, now, duration)
        else:
            # Fresh from when the request left (RFC 9111 §4.2.3), not from
            # now: a reply applied late (a slow fetch, a busy event loop)
            # must not push the next refresh out past a key published
            # meanwhile.
            sent = now if outcome.requested_at is None else min(outcome.requested_at, now)
            if self.last_success is not None and sent < self.last_success:
                # A fetch sent later has been applied already: its set is newer.
                logger.debug("jwt_guard: dropped an outdated key-set reply for %s", self.label)
            elif isinstance(outcome, Fetched):
                changed = self._take(outcome, sent, duration)
            else:
                self._renew(sent, outcome.lifetime, outcome.jwks_uri, outcome.discovered)
                self.reporter.emit(EventKind.KEYS_NOT_MODIFIED, self.label, duration=duration)
        # Until this moment requests use the set without taking the lock.
        next_decision = min(max(self.refresh_at, self.retry_at), self.stale_until)
        self.current = _Current(self.keyset if now < self.stale_until else None, next_decision)
        return changed

    def _take(self, outcome: Fetched, sent: float, duration: float | None) -> bool:
        previous = self.keyset
        changed = previous is None or previous.fingerprint != outcome.keyset.fingerprint
        self.keyset = outcome.keyset
        self.etag = outcome.etag
        self.last_modified = outcome.last_modified
        self._renew(sent, outcome.lifetime, outcome.jwks_uri, outcome.discovered)
        if changed:
            self.absent_kids.clear()
            logger.info(
                "jwt_guard: fetched %d key(s) for %s (kids: %s)",
                len(outcome.keyset),
                self.label,
                ", ".join(sorted(outcome.keyset.kids)) or "-",
            )
        self.reporter.emit(
            EventKind.KEYS_FETCHED, self.label, None, keys=len(outcome.keyset), changed=changed, duration=duration
        )
        return changed

    def _failed(self, failure: Failure, now: float, duration: float | None) -> None:
        self.failures += 1
        self.last_failure = failure
        serving = self.keyset is not None and now < self.stale_until
        first, ceiling = self.options.stale_backoff if serving else self.options.cold_backoff
        delay = min(ceiling, first * 2 ** min(self.failures - 1, 30))
        if failure.reason in CONFIGURATION_FAILURES:
            # Retrying every second cannot cure a configuration error; the
            # longest backoff still notices a fix on the provider's side.
            delay = self.options.stale_backoff[1]
        self.retry_at = now + self._shorten(delay)
        reporter = self.reporter
        reporter.emit(EventKind.FETCH_FAILED, self.label, failure.reason, failures=self.failures, duration=duration)
        if serving:
            if now >= self.expires_at:
                logger.warning(
                    "jwt_guard: serving stale keys for %s (%.0f s past expiry, %.0f s of stale window left): %s",
                    self.label,
                    now - self.expires_at,
                    self.stale_until - now,
                    failure.logged(),
                )
                self.reporter.emit(EventKind.SERVING_STALE, self.label, failure.reason)
            else:
                logger.warning("jwt_guard: refreshing keys for %s failed: %s", self.label, failure.logged())
        elif failure.reason in CONFIGURATION_FAILURES:
            logger.error(
                "jwt_guard: configuration error for %s: %s; next attempt in %.0f s",
                self.label,
                failure.detail or failure.description,
                self.retry_at - now,
            )
        else:
            logger.error(
                "jwt_guard: could not obtain keys for %s (%s: %s); retrying in %.0f s",
                self.label,
                failure.reason,
                failure.logged(),
                self.retry_at - now,
            )
