"""Validated, frozen settings: every configuration mistake surfaces here.

Nothing in this module does I/O; ``Verifier.__init__`` builds one
:class:`Settings` and the rest of the code only reads it.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from jwt_guard.errors import ConfigurationError

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken
    from jwt_guard._events import Event

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "DEFAULT_ALGORITHMS",
    "DEFAULT_LEEWAY",
    "DEFAULT_MAX_TOKEN_SIZE",
    "DEFAULT_RESULT_CACHE_SIZE",
    "DEFAULT_RESULT_CACHE_TTL",
    "DEFAULT_SCOPE_CLAIMS",
    "HMAC_ALGORITHMS",
    "KeyCacheOptions",
    "Settings",
    "check_url",
    "fetchable",
    "is_local_http",
    "is_loopback_host",
]

#: Asymmetric algorithms jwt_guard verifies (RFC 7518 §3, RFC 8037).
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Symmetric algorithms, accepted only with a configured shared secret.
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
#: The default allowlist: every asymmetric algorithm above.
DEFAULT_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)

#: Default clock-skew allowance. Spring Security's JwtTimestampValidator uses
#: 60 s; it covers real NTP drift between issuer and API without keeping an
#: expired token alive for long.
DEFAULT_LEEWAY = 60.0
DEFAULT_MAX_TOKEN_SIZE = 8 * 1024
DEFAULT_SCOPE_CLAIMS: tuple[str, ...] = ("scope", "scp")
DEFAULT_RESULT_CACHE_SIZE = 1024
DEFAULT_RESULT_CACHE_TTL = 300.0

_REALM_OK = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and literal addresses in 127.0.0.0/8 or ``::1``
    (IPv4-mapped forms included, the same on every Python).

    Only these: ``*.localhost`` names (RFC 6761 §6.3) are resolved by
    whatever resolver the host has, so they may not lead to loopback at all.
    """
    if not host:
        return False
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def is_local_http(url: str | None) -> bool:
    """True for a plain-http URL on a loopback host (see :func:`is_loopback_host`)."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
        return parts.scheme == "http" and is_loopback_host(parts.hostname)
    except ValueError:
        return False


def check_url(url: str, what: str, *, allow_http: bool) -> str:
    """Return *url* if it is an absolute https URL (or http on loopback).

    Raises :class:`ConfigurationError` naming *what* otherwise.
    """
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{what} must be a non-empty URL string")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigurationError(f"{what} is not a valid URL: {url!r}") from exc
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"{what} must be an absolute http(s) URL, got {url!r}")
    if parts.scheme == "http" and not (allow_http or is_loopback_host(host)):
        raise ConfigurationError(
            f"{what} must use https (plain http is accepted only for loopback hosts, "
            f"or with allow_insecure_http=True): {url!r}"
        )
    if parts.username or parts.password:
        raise ConfigurationError(f"{what} must not carry credentials")
    if parts.fragment:
        raise ConfigurationError(f"{what} must not have a fragment")
    return url


def url_allowed(url: str, *, allow_http: bool) -> bool:
    """The same rule as :func:`check_url`, as a predicate (for configured URLs)."""
    try:
        check_url(url, "url", allow_http=allow_http)
    except ConfigurationError:
        return False
    return True


def fetchable(url: object, *, allow_http: bool, insecure: bool = False) -> bool:
    """May a fetch go to *url*, which a server supplied (a discovered
    ``jwks_uri``, a redirect target)? https always. Plain http only when
    *allow_http* (the operator configured plain http: a loopback issuer or
    jwks_uri, or ``allow_insecure_http``), and then on a loopback host unless
    *insecure* (``allow_insecure_http``). The loopback exemption of
    :func:`check_url` belongs to configured URLs: a server never lends it to
    itself."""
    if not isinstance(url, str) or not url_allowed(url, allow_http=True):
        return False
    parts = urlsplit(url)
    return parts.scheme == "https" or (allow_http and (insecure or is_loopback_host(parts.hostname)))


def _positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigurationError(f"{name} must be a finite number, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigurationError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class KeyCacheOptions:
    """How remote key sets (JWKS) and discovery documents are fetched and cached.

    The defaults suit every major identity provider; each field exists so an
    operator can tighten or loosen one rule without touching the others.
    """

    #: Freshness when the response sets no ``Cache-Control``/``Expires``.
    ttl: float = 600.0
    #: Bounds applied to a server-given freshness lifetime.
    min_ttl: float = 60.0
    max_ttl: float = 86400.0
    #: Fraction of the lifetime after which one background refresh starts.
    refresh_ahead: float = 0.8
    #: Fraction by which a lifetime is randomly shortened (spreads refreshes).
    jitter: float = 0.1
    #: How long past expiry the last good set keeps serving while the key
    #: server fails. 0 fails closed as soon as the set expires.
    max_stale: float = 6 * 3600.0
    #: At most one refetch for unknown ``kid`` values per this many seconds.
    unknown_kid_cooldown: float = 30.0
    #: How long a ``kid`` that a fresh fetch lacked is remembered as absent.
    absent_kid_ttl: float = 300.0
    #: How many absent ``kid`` values are remembered.
    max_absent_kids: int = 1024
    #: Freshness of discovery documents.
    discovery_ttl: float = 86400.0
    #: Backoff after failed fetches: (first delay, ceiling), with jitter.
    cold_backoff: tuple[float, float] = (1.0, 30.0)
    stale_backoff: tuple[float, float] = (30.0, 300.0)
    #: Network limits for each fetch.
    connect_timeout: float = 2.0
    timeout: float = 5.0
    max_response_bytes: int = 256 * 1024
    max_keys: int = 100
    #: Follow at most this many redirects (0: a redirect is a failed fetch).
    max_redirects: int = 0

    def __post_init__(self) -> None:
        _positive("ttl", self.ttl)
        _positive("min_ttl", self.min_ttl)
        _positive("max_ttl", self.max_ttl)
        if self.min_ttl > self.max_ttl:
            raise ConfigurationError("min_ttl must not exceed max_ttl")
        if not 0 < self.refresh_ahead <= 1:
            raise ConfigurationError("refresh_ahead must be in (0, 1]")
        if not 0 <= self.jitter < 1:
            raise ConfigurationError("jitter must be in [0, 1)")
        _positive("max_stale", self.max_stale, allow_zero=True)
        _positive("unknown_kid_cooldown", self.unknown_kid_cooldown, allow_zero=True)
        _positive("absent_kid_ttl", self.absent_kid_ttl, allow_zero=True)
        _positive("discovery_ttl", self.discovery_ttl)
        for name in ("cold_backoff", "stale_backoff"):
            pair = getattr(self, name)
            if len(pair) != 2:
                raise ConfigurationError(f"{name} must be (first delay, ceiling)")
            _positive(name, pair[0])
            _positive(name, pair[1])
            if pair[0] > pair[1]:
                raise ConfigurationError(f"{name}: first delay must not exceed the ceiling")
        _positive("connect_timeout", self.connect_timeout)
        _positive("timeout", self.timeout)
        for name in ("max_absent_kids", "max_response_bytes", "max_keys", "max_redirects"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"{name} must be a non-negative integer")
        if self.max_response_bytes < 1024 or self.max_keys < 1:
            raise ConfigurationError("max_response_bytes must be >= 1024 and max_keys >= 1")


Validator = Callable[["AccessToken"], object]
EventHook = Callable[["Event"], None]


@dataclass(frozen=True)
class ScopeClaim:
    """Where scopes live: an exact claim name, or a dotted path into nested claims."""

    name: str
    path: tuple[str, ...]


def _items(name: str, value: Any) -> tuple[Any, ...]:
    """*value* as a tuple; a lone string is one item. Not iterable: ConfigurationError."""
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ConfigurationError(f"{name} must be a list, got {value!r}") from None


def parse_scope_claims(value: Iterable[str]) -> tuple[ScopeClaim, ...]:
    # A lone string names one claim. "scope permissions" is almost surely
    # meant as two claims, and would otherwise silently read a claim whose
    # name holds a space: refuse it and name the fix.
    if isinstance(value, str) and len(value.split()) > 1:
        raise ConfigurationError(
            f"scope_claims={value!r} names one claim with a space in its name; "
            f"to read several claims pass a list: scope_claims={value.split()!r}"
        )
    result = []
    for item in _items("scope_claims", value):
        if not isinstance(item, str) or not item or item.startswith(".") or item.endswith("."):
            raise ConfigurationError(f"scope_claims entries must be claim names or dotted paths, got {item!r}")
        if any(char.isspace() for char in item):
            raise ConfigurationError(
                f"scope_claims entries are claim names without spaces, got {item!r}; "
                f"list each claim on its own: {item.split()!r}"
            )
        result.append(ScopeClaim(item, tuple(item.split("."))))
    return tuple(result)


@dataclass(frozen=True)
class Settings:
    """Every verifier setting, validated once. The defaults live here and in
    the ``DEFAULT_*`` constants, nowhere else."""

    issuers: tuple[str, ...]
    audiences: tuple[str, ...] | None
    #: Clients (``client_id``/``azp``) whose tokens are accepted; None: any.
    client_ids: tuple[str, ...] | None = None
    algorithms: frozenset[str] = frozenset(DEFAULT_ALGORITHMS)
    leeway: float = DEFAULT_LEEWAY
    max_token_size: int = DEFAULT_MAX_TOKEN_SIZE
    max_token_age: float | None = None
    required_claims: tuple[str, ...] = ()
    require_exp: bool = True
    strict_typ: bool = False
    scope_claims: tuple[ScopeClaim, ...] = ()
    validators: tuple[Validator, ...] = ()
    result_cache_size: int = DEFAULT_RESULT_CACHE_SIZE
    result_cache_ttl: float = DEFAULT_RESULT_CACHE_TTL
    jwks_uri: str | None = None
    allow_insecure_http: bool = False
    key_cache: KeyCacheOptions = field(default_factory=KeyCacheOptions)
    clock: Callable[[], float] = field(default=time.time)
    on_event: EventHook | None = None

    @property
    def symmetric(self) -> bool:
        return bool(self.algorithms & HMAC_ALGORITHMS)


def _str_tuple(name: str, value: str | Sequence[str]) -> tuple[str, ...]:
    items = _items(name, value)
    if not items:
        raise ConfigurationError(f"{name} must not be empty")
    for item in items:
        if not isinstance(item, str) or not item:
            raise ConfigurationError(f"{name} entries must be non-empty strings, got {item!r}")
    return tuple(dict.fromkeys(items))


def _check_not_template(issuer: str) -> None:
    # Providers document multi-tenant issuers as templates
    # ("https://login.microsoftonline.com/{tenantid}/v2.0"). Issuers are
    # compared exactly, so a template would match no token at all.
    if "{" in issuer or "}" in issuer:
        raise ConfigurationError(
            f"issuer {issuer!r} is a template: issuers are compared exactly and placeholders such as "
            "{tenantid} are not filled in; list the issuer of each tenant you accept instead, "
            "issuer=['https://login.microsoftonline.com/<tenant-id>/v2.0', ...] (a space-separated "
            "JWT_GUARD_ISSUER with Verifier.from_env)"
        )


def build_settings(
    *,
    issuer: str | Sequence[str],
    audience: str | Sequence[str] | None,
    jwks_uri: str | None = None,
    client_ids: str | Sequence[str] | None = None,
    has_static_keys: bool = False,
    algorithms: Iterable[str] = DEFAULT_ALGORITHMS,
    leeway: float = DEFAULT_LEEWAY,
    max_token_size: int = DEFAULT_MAX_TOKEN_SIZE,
    max_token_age: float | None = None,
    required_claims: Iterable[str] = (),
    require_exp: bool = True,
    strict_typ: bool = False,
    scope_claims: Iterable[str] = DEFAULT_SCOPE_CLAIMS,
    validators: Iterable[Validator] = (),
    result_cache_size: int = DEFAULT_RESULT_CACHE_SIZE,
    result_cache_ttl: float = DEFAULT_RESULT_CACHE_TTL,
    allow_insecure_http: bool = False,
    key_cache: KeyCacheOptions | None = None,
    clock: Callable[[], float] | None = None,
    on_event: EventHook | None = None,
) -> Settings:
    issuers = _str_tuple("issuer", issuer)
    for value in issuers:
        _check_not_template(value)
    if not has_static_keys and jwks_uri is None:
        # Discovery documents are fetched from these URLs. With an explicit
        # jwks_uri or static keys an issuer is only compared, never fetched
        # (Google's ID-token issuer is the bare "accounts.google.com").
        for value in issuers:
            check_url(value, "issuer", allow_http=allow_insecure_http)
    audiences = None if audience is None else _str_tuple("audience", audience)
    clients = None if client_ids is None else _str_tuple("client_ids", client_ids)

    algs = _items("algorithms", algorithms)
    if not algs:
        raise ConfigurationError("algorithms must not be empty")
    for alg in algs:
        if not isinstance(alg, str):
            raise ConfigurationError(f"algorithms entries must be strings, got {alg!r}")
        if alg.lower() == "none":
            raise ConfigurationError("the 'none' algorithm can never be accepted")
        if alg not in ASYMMETRIC_ALGORITHMS and alg not in HMAC_ALGORITHMS:
            raise ConfigurationError(f"unknown or unsupported algorithm {alg!r}")
    alg_set = frozenset(algs)
    if alg_set & HMAC_ALGORITHMS and alg_set & ASYMMETRIC_ALGORITHMS:
        raise ConfigurationError("algorithms must not mix HS* with asymmetric algorithms (algorithm confusion)")

    leeway = _positive("leeway", leeway, allow_zero=True)
    if leeway > 600:
        raise ConfigurationError("leeway above 600 seconds defeats expiry; use a smaller value")
    if (
        isinstance(max_token_size, bool)
        or not isinstance(max_token_size, int)
        or not (256 <= max_token_size <= 1024 * 1024)
    ):
        raise ConfigurationError("max_token_size must be an integer between 256 and 1048576")
    if max_token_age is not None:
        max_token_age = _positive("max_token_age", max_token_age)
    required = _items("required_claims", required_claims)
    for claim in required:
        if not isinstance(claim, str) or not claim:
            raise ConfigurationError("required_claims entries must be claim names")
    if isinstance(result_cache_size, bool) or not isinstance(result_cache_size, int) or result_cache_size < 0:
        raise ConfigurationError("result_cache_size must be a non-negative integer (0 disables)")
    result_cache_ttl = _positive("result_cache_ttl", result_cache_ttl)
    validators = _items("validators", validators)
    for validator in validators:
        if not callable(validator):
            raise ConfigurationError(f"validators must be callables, got {validator!r}")
    if jwks_uri is not None:
        if has_static_keys:
            raise ConfigurationError("pass either static keys (keys= or secret=) or jwks_uri, not both")
        check_url(jwks_uri, "jwks_uri", allow_http=allow_insecure_http)
    if key_cache is not None and not isinstance(key_cache, KeyCacheOptions):
        raise ConfigurationError(f"key_cache must be a KeyCacheOptions, got {type(key_cache).__name__}")
    if clock is not None and not callable(clock):
        raise ConfigurationError("clock must be a callable returning epoch seconds")
    if on_event is not None and not callable(on_event):
        raise ConfigurationError("on_event must be a callable")
    return Settings(
        issuers=issuers,
        audiences=audiences,
        client_ids=clients,
        algorithms=alg_set,
        leeway=leeway,
        max_token_size=max_token_size,
        max_token_age=max_token_age,
        required_claims=required,
        require_exp=bool(require_exp),
        strict_typ=bool(strict_typ),
        scope_claims=parse_scope_claims(scope_claims),
        validators=validators,
        result_cache_size=result_cache_size,
        result_cache_ttl=result_cache_ttl,
        jwks_uri=jwks_uri,
        allow_insecure_http=bool(allow_insecure_http),
        key_cache=key_cache if key_cache is not None else KeyCacheOptions(),
        clock=clock if clock is not None else time.time,
        on_event=on_event,
    )


def realm_ok(realm: Any) -> bool:
    """True when *realm* can appear in a quoted-string unchanged."""
    return isinstance(realm, str) and _REALM_OK.fullmatch(realm) is not None
