"""The :class:`Verifier`: token → key → signature → claims → AccessToken.

:meth:`Verifier.verify` and :meth:`Verifier.verify_async` share one
verification: :meth:`Verifier._start` parses the token, finds its key and
checks it. When that needs I/O (a key-set fetch to wait for, a background
refresh to start) it returns a *flow* instead of the result: a generator
that yields effects, which the sync face runs with threads and the async
face with asyncio. No decision is written twice, and the common case (a
cached key) pays for no generator at all.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from jwt_guard._access_token import AccessToken
from jwt_guard._cache import ResultCache
from jwt_guard._claims import ClaimRules
from jwt_guard._config import (
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY,
    DEFAULT_MAX_TOKEN_SIZE,
    DEFAULT_RESULT_CACHE_SIZE,
    DEFAULT_RESULT_CACHE_TTL,
    DEFAULT_SCOPE_CLAIMS,
    KeyCacheOptions,
    Settings,
    Validator,
    build_settings,
)
from jwt_guard._dpop_flow import DPoPContext, SenderCheck
from jwt_guard._events import RejectionLog, Reporter, logger
from jwt_guard._introspection import Introspection
from jwt_guard._introspector import Introspector, looks_like_jws
from jwt_guard._jose import verify_signature
from jwt_guard._keys import BoundKey
from jwt_guard._keysource import Effect, KeySource, run_async, run_sync
from jwt_guard._reasons import shown, with_details
from jwt_guard._sources import key_sources_for, remote_sources
from jwt_guard._static import SecretSource, StaticKeySource, configured_keyset
from jwt_guard._token import HeaderCache, ParsedToken, parse
from jwt_guard.errors import (
    AuthError,
    ConfigurationError,
    InvalidSignature,
    InvalidToken,
    JWTGuardError,
    TokenRevoked,
)

if TYPE_CHECKING:
    import httpx

    from jwt_guard._dpop_options import DPoPOptions
    from jwt_guard._events import Event
    from jwt_guard.stores import Store

__all__ = ["StaticKeySource", "Verifier", "event_reporter", "key_sources", "time_verifications"]

#: How long :meth:`Verifier.prefetch` waits for a revocation store's first read.
REVOCATION_READY_TIMEOUT = 30.0


def _no_cache(token: str | bytes) -> None:
    return None


class Verifier:
    """Verifies OAuth 2.0 access tokens (JWTs) for one API.

    ::

        verifier = Verifier(issuer="https://idp.example.com/", audience="https://api.example.com")
        token = verifier.verify(raw_jwt)              # WSGI, scripts
        token = await verifier.verify_async(raw_jwt)  # ASGI

    All arguments are keyword-only and checked here: a mistake raises
    :class:`~jwt_guard.ConfigurationError` now, not at the first request.

    :param issuer: the issuer (``iss``) to accept, or a list of them. Without
        ``keys`` or ``jwks_uri``, keys are found through the issuer's OpenID
        Connect discovery document (RFC 8414 form as fallback).
    :param audience: the audience(s) this API answers to; required. Pass
        ``None`` explicitly to skip the check (Amazon Cognito access tokens
        carry ``client_id`` instead of ``aud``).
    :param client_ids: accept only tokens issued to these clients: their
        ``client_id`` and ``azp`` claims, each when present, must be listed,
        and one must be. With ``audience=None`` this is what binds tokens to
        this API; without either a warning is logged at construction.
    :param jwks_uri: fetch keys from here; no discovery request is made.
    :param keys: static public keys instead of fetching: a JWK Set (or JWK)
        mapping, PEM text (public keys or certificates) or a list of PEM
        texts. Public material only: shared secrets go in ``secret``.
    :param secret: a shared secret for the HS* algorithms instead of keys:
        ``bytes`` (at least 32, with ``algorithms=["HS256"]``; 48 for HS384,
        64 for HS512), or a JWK Set mapping of ``oct`` keys told apart by
        ``kid``. Bytes that are recognisably key material (JSON, PEM, DER,
        an SSH public key, an EC point) are refused.
    :param algorithms: the allowlist. Default: RS*, PS*, ES*, EdDSA.
    :param leeway: seconds of clock skew tolerated for ``exp``/``nbf``/``iat``
        (default 60, as Spring Security).
    :param scope_claims: claims that hold scopes; dotted paths reach nested
        claims (``"realm_access.roles"``).
    :param max_token_size: tokens longer than this are refused unparsed.
    :param max_token_age: refuse tokens whose ``iat`` is older than this.
    :param required_claims: claims that must be present, beyond ``exp``.
    :param require_exp: refuse tokens without ``exp`` (default ``True``).
    :param strict_typ: require the RFC 9068 ``typ`` ``at+jwt``.
    :param validators: callables run with each :class:`AccessToken` (cache
        hits included); return ``False`` or raise an
        :class:`~jwt_guard.InvalidToken` subclass to refuse the token.
    :param result_cache_size: verified tokens remembered (0 disables).
    :param result_cache_ttl: longest time a verified result is reused.
    :param key_cache: :class:`KeyCacheOptions`: how fetched keys are cached and fetched.
    :param allow_insecure_http: accept plain-http issuer/JWKS URLs on
        non-loopback hosts (e.g. inside a private network). Off by default.
    :param clock: returns the current time as epoch seconds (tests).
    :param transport: an ``httpx.BaseTransport`` for key fetches (tests).
    :param async_transport: an ``httpx.AsyncBaseTransport`` likewise.
    :param on_event: called with an :class:`~jwt_guard.Event` for fetches,
        failures, stale serving, unknown-kid refetches and rejections.
    :param introspection: :class:`~jwt_guard.Introspection`: verify opaque
        tokens (anything that is not three base64url segments) at the
        authorization server's introspection endpoint (RFC 7662). JWTs are
        still verified locally.
    :param revocation: a :mod:`jwt_guard.stores` store: every verified token,
        cache hits included, is checked against its records in memory
        (:class:`~jwt_guard.TokenRevoked`; ``StoreUnavailable`` when it cannot
        vouch and fails closed). Its ``clock_skew`` must be at least
        ``leeway``. The verifier starts the store; its owner closes it.
    :param dpop: :class:`~jwt_guard.DPoPOptions`: accept DPoP-bound tokens
        (RFC 9449) presented with a proof (``verify(token, dpop=context)``).
        Whatever this says, a token bound to a key (``cnf``) presented
        without a proof is refused.

    .. warning::
       Keys come only from ``keys``, ``jwks_uri`` or the issuer's discovery
       document; ``jku``, ``x5u``, ``jwk`` and ``x5c`` token headers are never
       used. ``none`` is never accepted, and HS* only with a shared secret
       given as ``secret`` (never a public key: that would let anyone who
       holds it forge tokens).
    """

    def __init__(
        self,
        *,
        issuer: str | Sequence[str],
        audience: str | Sequence[str] | None,
        client_ids: str | Sequence[str] | None = None,
        jwks_uri: str | None = None,
        keys: StaticKeySource | None = None,
        secret: SecretSource | None = None,
        algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
        leeway: float = DEFAULT_LEEWAY,
        scope_claims: Iterable[str] = DEFAULT_SCOPE_CLAIMS,
        max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
        max_token_age: float | None = None,
        required_claims: Iterable[str] = (),
        require_exp: bool = True,
        strict_typ: bool = False,
        validators: Iterable[Validator] = (),
        result_cache_size: int = DEFAULT_RESULT_CACHE_SIZE,
        result_cache_ttl: float = DEFAULT_RESULT_CACHE_TTL,
        key_cache: KeyCacheOptions | None = None,
        allow_insecure_http: bool = False,
        clock: Callable[[], float] | None = None,
        transport: httpx.BaseTransport | None = None,
        async_transport: httpx.AsyncBaseTransport | None = None,
        on_event: Callable[[Event], None] | None = None,
        introspection: Introspection | None = None,
        revocation: Store | None = None,
        dpop: DPoPOptions | None = None,
    ) -> None:
        settings = build_settings(
            issuer=issuer,
            audience=audience,
            client_ids=client_ids,
            jwks_uri=jwks_uri,
            has_static_keys=keys is not None or secret is not None,
            algorithms=algorithms,
            leeway=leeway,
            max_token_size=max_token_size,
            max_token_age=max_token_age,
            required_claims=required_claims,
            require_exp=require_exp,
            strict_typ=strict_typ,
            scope_claims=scope_claims,
            validators=validators,
            result_cache_size=result_cache_size,
            result_cache_ttl=result_cache_ttl,
            allow_insecure_http=allow_insecure_http,
            key_cache=key_cache,
            clock=clock,
            on_event=on_event,
        )
        static = configured_keyset(keys, secret, settings.algorithms)
        if settings.audiences is None and settings.client_ids is None:
            logger.warning(
                "jwt_guard: the audience check is off (audience=None) and no client_ids are set: tokens of %s "
                "issued to any client or API are accepted; set client_ids (or an audience) to bind them to this API",
                ", ".join(settings.issuers),
            )
        self._settings = settings
        self._clock = settings.clock
        self._rules = ClaimRules(settings)
        self._validators = settings.validators
        self._reporter = Reporter(settings.on_event)
        self._rejections = RejectionLog()
        self._max_size = settings.max_token_size
        self._algorithms = settings.algorithms
        self._headers = HeaderCache()
        self._cache = (
            ResultCache(settings.result_cache_size, settings.result_cache_ttl, settings.clock, settings.max_token_size)
            if settings.result_cache_size
            else None
        )
        self._lookup: Callable[[str | bytes], AccessToken | None] = (
            self._cache.get if self._cache is not None else _no_cache
        )  # _lookup_any when introspection is configured (below)
        #: The key source of each issuer; with one source for all, also ``_single``.
        self._sources, self._clients = key_sources_for(
            settings, static, self._reporter, transport, async_transport, on_change=self.clear_cache
        )
        distinct = {id(source): source for source in self._sources.values()}
        self._single: KeySource | None = next(iter(distinct.values())) if len(settings.issuers) == 1 else None
        self._introspector: Introspector | None = None
        if introspection is not None:
            if not isinstance(introspection, Introspection):
                raise ConfigurationError(f"introspection must be an Introspection, not {type(introspection).__name__}")
            self._introspector = Introspector(
                introspection,
                settings,
                sources=self._sources,
                reporter=self._reporter,
                transport=transport,
                async_transport=async_transport,
            )
            self._lookup = self._lookup_any
        self._revocation: Store | None = None
        self._owns_revocation = False
        #: The revocation check run on every verified token (one call), or None.
        self._revoked: Callable[[AccessToken], object] | None = None
        if revocation is not None:
            from jwt_guard.stores._base import revocation_store

            self._revocation = revocation_store(revocation, leeway=settings.leeway)  # checked and started
            self._revoked = self._revocation.check_token
        self._sender = SenderCheck(dpop, clock=settings.clock, leeway=settings.leeway)
        self._dpop_required = self._sender.required
        if settings.on_event is not None:
            self._observe()

    @classmethod
    def from_env(
        cls,
        prefix: str = "JWT_GUARD_",
        *,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Verifier:
        """Build a verifier from environment variables (``JWT_GUARD_ISSUER``,
        ``JWT_GUARD_AUDIENCE``, ...); *overrides* win over the environment.

        The library never reads the environment unless this is called. A bad
        value raises :class:`~jwt_guard.ConfigurationError` naming the variable.
        """
        import os

        from jwt_guard._env import options_from_env

        environ = os.environ if environ is None else environ
        options = options_from_env(prefix, environ, provided=overrides.keys(), leeway=overrides.get("leeway"))
        options.update(overrides)
        verifier = cls(**options)
        # A store built from the environment belongs to this verifier: close() closes it.
        verifier._owns_revocation = "revocation" not in overrides and verifier._revocation is not None
        return verifier

    # -- public surface --------------------------------------------------

    @property
    def issuers(self) -> tuple[str, ...]:
        """The accepted issuers."""
        return self._settings.issuers

    @property
    def audiences(self) -> tuple[str, ...] | None:
        """The accepted audiences (``None``: not checked)."""
        return self._settings.audiences

    @property
    def algorithms(self) -> frozenset[str]:
        """The algorithm allowlist."""
        return self._algorithms

    @property
    def settings(self) -> Settings:
        """The validated configuration (read-only)."""
        return self._settings

    @property
    def revocation(self) -> Store | None:
        """The revocation store, if one is configured."""
        return self._revocation

    @property
    def dpop(self) -> DPoPOptions | None:
        """The DPoP options, if DPoP-bound tokens are accepted."""
        return self._sender.options

    def verify(self, token: str | bytes, *, dpop: DPoPContext | None = None) -> AccessToken:
        """Verify *token* and return its :class:`AccessToken`.

        Raises :class:`~jwt_guard.InvalidToken` (or a subclass) for any
        unacceptable token, and :class:`~jwt_guard.KeySetUnavailable` when no
        keys can be obtained. May block on the network only when no usable
        key set is cached (cold start, or an unknown ``kid`` refetch).

        Without *dpop* the token is taken as a bearer token. With a
        :class:`~jwt_guard.DPoPContext` (the request used the ``DPoP``
        scheme) its proof is checked too and, once everything passed,
        recorded in the replay store: one round trip for a shared store.
        """
        try:
            result = self._lookup(token)
            if result is None:
                started = self._start(token)
                result = started if started.__class__ is AccessToken else run_sync(started)  # type: ignore[arg-type]
            elif self._validators:
                self._validate(result)
            revoked = self._revoked
            if revoked is not None and revoked(result) is not None:
                raise TokenRevoked()
            if dpop is not None:
                run_sync(self._sender.flow(result, dpop))
            elif self._dpop_required or "cnf" in result.claims:
                self._sender.bearer(result)
            return result
        except JWTGuardError as error:
            self._rejected(error, dpop)
            raise

    async def verify_async(self, token: str | bytes, *, dpop: DPoPContext | None = None) -> AccessToken:
        """Like :meth:`verify`, fetching keys with ``httpx.AsyncClient`` (and
        recording DPoP proofs with ``claim_once_async``)."""
        try:
            result = self._lookup(token)
            if result is None:
                started = self._start(token)
                result = started if started.__class__ is AccessToken else await run_async(started)  # type: ignore[arg-type]
            elif self._validators:
                self._validate(result)
            revoked = self._revoked
            if revoked is not None and revoked(result) is not None:
                raise TokenRevoked()
            if dpop is not None:
                await run_async(self._sender.flow(result, dpop))
            elif self._dpop_required or "cnf" in result.claims:
                self._sender.bearer(result)
            return result
        except JWTGuardError as error:
            self._rejected(error, dpop)
            raise

    def add_event_hook(self, hook: Callable[[Event], None]) -> None:
        """Send this verifier's events to *hook* too (after ``on_event`` and
        earlier hooks): key-set, introspection and verification events, and
        the refusals its middlewares answer. While any hook is installed each
        verification is timed and reported (``token_verified`` …); without
        one, verification costs nothing extra. (:func:`jwt_guard.otel.instrument`
        hooks into the same events, but times verifications only once a meter
        or tracer could record them.) A hook that raises is logged and ignored.
        """
        self._reporter.add(hook)
        self._observe()

    def _observe(self) -> None:
        from jwt_guard._observe import observe

        has_cache = self._cache is not None or self._introspector is not None
        observe(self, self._reporter, self._lookup if has_cache else None)

    def prefetch(self) -> None:
        """Fetch discovery documents and key sets now (e.g. at startup), and
        wait for a revocation store's first read (``Store.ensure_ready``).

        Raises :class:`~jwt_guard.KeySetUnavailable` if any cannot be had.
        """
        for source in remote_sources(self._sources):
            run_sync(source.keyset_flow())
        if self._introspector is not None:
            run_sync(self._introspector.endpoint_flow())
        if self._revocation is not None:
            self._revocation.ensure_ready(REVOCATION_READY_TIMEOUT)

    async def prefetch_async(self) -> None:
        """Async :meth:`prefetch`."""
        for source in remote_sources(self._sources):
            await run_async(source.keyset_flow())
        if self._introspector is not None:
            await run_async(self._introspector.endpoint_flow())
        if self._revocation is not None:
            await self._revocation.ensure_ready_async(REVOCATION_READY_TIMEOUT)

    def clear_cache(self) -> None:
        """Forget every cached verification result (introspection answers too)."""
        if self._cache is not None:
            self._cache.clear()
        if self._introspector is not None:
            self._introspector.clear()

    def close(self) -> None:
        """Close the pooled HTTP client used by :meth:`verify` (and a store made by :meth:`from_env`)."""
        if self._clients is not None:
            self._clients.close()
        if self._introspector is not None:
            self._introspector.close()
        if self._owns_revocation and self._revocation is not None:
            self._revocation.close()

    async def aclose(self) -> None:
        """Close the pooled HTTP clients (async and sync), and a store made by :meth:`from_env`."""
        if self._clients is not None:
            await self._clients.aclose()
        if self._introspector is not None:
            await self._introspector.aclose()
        if self._owns_revocation and self._revocation is not None:
            await self._revocation.aclose()

    def __enter__(self) -> Verifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> Verifier:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        source = "remote keys" if self._clients is not None else "static keys"
        return f"Verifier(issuers={list(self._settings.issuers)!r}, audiences={self._settings.audiences!r}, {source})"

    # -- the verification flow -------------------------------------------

    def _lookup_any(self, token: str | bytes) -> AccessToken | None:
        """With introspection: the introspection cache for tokens that are
        not JWTs (a JWT never gets there), else the verified-result cache."""
        introspector = self._introspector
        if introspector is not None and type(token) is str and token.count(".") != 2:
            return introspector.cached(token)
        return self._cache.get(token) if self._cache is not None else None

    def _start(self, token: str | bytes) -> AccessToken | Generator[Effect, Any, AccessToken]:
        """Verify *token*, or return the flow that will once its I/O is done."""
        if self._introspector is not None and not looks_like_jws(token):
            return self._introspect(token)
        parsed = parse(token, max_size=self._max_size, algorithms=self._algorithms, headers=self._headers)
        source = self._single or self._source_for(parsed)
        epoch = self._cache.epoch if self._cache is not None else 0
        key = source.find(parsed.kid, parsed.alg)
        if key is None:
            return self._acquire_then_finish(parsed, source, epoch)
        return self._finish(parsed, key, epoch)

    def _introspect(self, token: str | bytes) -> Generator[Effect, Any, AccessToken]:
        assert self._introspector is not None
        result: AccessToken = yield from self._introspector.flow(token)
        if self._validators:
            self._validate(result)
        return result

    def _acquire_then_finish(
        self, parsed: ParsedToken, source: KeySource, epoch: int
    ) -> Generator[Effect, Any, AccessToken]:
        key = yield from source.acquire(parsed.kid, parsed.alg, lambda: self._rules.check_issuer(parsed.claims()))
        return self._finish(parsed, key, epoch)

    def _source_for(self, parsed: ParsedToken) -> KeySource:
        """With several issuers, the key source of the token's (unverified)
        ``iss``: it only selects among configured issuers, and an unknown
        issuer is refused here, before any key lookup or fetch."""
        return self._sources[self._rules.check_issuer(parsed.claims())]

    def _finish(self, parsed: ParsedToken, key: BoundKey, epoch: int) -> AccessToken:
        if not verify_signature(key.key, parsed.signing_input, parsed.signature):
            raise with_details(InvalidSignature(), kid=shown(key.kid), alg=key.alg)
        claims = parsed.claims()
        rules = self._rules
        rules.check_type(parsed.header)
        not_before, not_after = rules.check(claims, self._clock())
        token = rules.build(claims, parsed.header, parsed.raw)
        if self._validators:
            self._validate(token)
        if self._cache is not None:
            self._cache.put(parsed.raw, token, not_before, not_after, epoch)
        return token

    def _validate(self, token: AccessToken) -> None:
        for validator in self._validators:
            if validator(token) is False:
                raise InvalidToken("the access token was refused by a validator")

    def _rejected(self, error: JWTGuardError, dpop: DPoPContext | None = None) -> None:
        if isinstance(error, AuthError):
            if dpop is not None:
                error.scheme = "DPoP"  # answered with a DPoP challenge (RFC 9449 §7.1)
            self._rejections.log(error)  # token_rejected: emitted by the timed faces (_observe)


def event_reporter(verifier: Verifier) -> Reporter:
    """The reporter carrying *verifier*'s events, for refusals answered
    outside it (:class:`~jwt_guard.Responder`)."""
    return verifier._reporter


def time_verifications(verifier: Verifier) -> None:
    """Time and report *verifier*'s verifications from now on, as an event
    hook does (for hooks added straight to its reporter)."""
    verifier._observe()


def key_sources(verifier: Verifier) -> dict[str, KeySource]:
    """Each configured issuer's key source (several issuers may share one),
    for diagnostics such as ``jwt-guard check``."""
    return dict(verifier._sources)
