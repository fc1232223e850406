"""Verifier options from environment variables (``Verifier.from_env``).

The library reads the environment only when :meth:`Verifier.from_env` is
called. Every value is checked here, alone, with the Verifier's own rules, so
a mistake is reported with the name of the variable at fault::

    JWT_GUARD_LEEWAY: leeway above 600 seconds defeats expiry; use a smaller value

Conventions: lists are separated by commas and/or whitespace; booleans are
``true``/``false``, ``1``/``0``, ``yes``/``no`` or ``on``/``off``; durations
are seconds. A variable set to the empty string is an error (unset it to get
the default), and so is an unknown variable carrying the prefix, which is
almost always a typo (``JWT_GUARD_AUDIENCES``).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jwt_guard._config import (
    ASYMMETRIC_ALGORITHMS,
    DEFAULT_ALGORITHMS,
    DEFAULT_LEEWAY,
    HMAC_ALGORITHMS,
    KeyCacheOptions,
    build_settings,
)
from jwt_guard.errors import ConfigurationError

__all__ = ["ENV_VARIABLES", "EnvVariable", "load_key_file", "load_secret_file", "options_from_env"]

_SEPARATORS = re.compile(r"[\s,]+")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class EnvVariable:
    """One supported variable: its name without the prefix, the option it
    sets, and a one-line description (used by the docs and error hints)."""

    name: str
    option: str
    kind: str
    help: str


#: Every variable ``from_env`` understands (names without the prefix).
ENV_VARIABLES: tuple[EnvVariable, ...] = (
    EnvVariable("ISSUER", "issuer", "list", "accepted issuer(s); required"),
    EnvVariable("AUDIENCE", "audience", "list", "accepted audience(s); required unless AUDIENCE_DISABLED"),
    EnvVariable("AUDIENCE_DISABLED", "audience", "bool", "true: skip the audience check (Amazon Cognito)"),
    EnvVariable("CLIENT_IDS", "client_ids", "list", "accept only tokens of these clients (client_id/azp)"),
    EnvVariable("JWKS_URI", "jwks_uri", "url", "fetch keys here instead of discovering them"),
    EnvVariable("KEYS_FILE", "keys", "path", "static public keys: a PEM or JWKS file; no network"),
    EnvVariable("SECRET_FILE", "secret", "path", "a file holding the HS* shared secret; no network"),
    EnvVariable("ALGORITHMS", "algorithms", "list", "algorithm allowlist"),
    EnvVariable("LEEWAY", "leeway", "seconds", "clock skew tolerated for exp/nbf/iat"),
    EnvVariable("SCOPE_CLAIMS", "scope_claims", "list", "claims (or dotted paths) holding scopes"),
    EnvVariable("MAX_TOKEN_AGE", "max_token_age", "seconds", "refuse tokens issued longer ago"),
    EnvVariable("MAX_TOKEN_SIZE", "max_token_size", "int", "refuse longer tokens unparsed (bytes)"),
    EnvVariable("REQUIRED_CLAIMS", "required_claims", "list", "claims that must be present"),
    EnvVariable("STRICT_TYP", "strict_typ", "bool", "require the RFC 9068 typ at+jwt"),
    EnvVariable("RESULT_CACHE_SIZE", "result_cache_size", "int", "verified tokens remembered (0 disables)"),
    EnvVariable("RESULT_CACHE_TTL", "result_cache_ttl", "seconds", "longest reuse of a verified result"),
    EnvVariable("ALLOW_INSECURE_HTTP", "allow_insecure_http", "bool", "accept plain-http URLs off loopback"),
    EnvVariable("JWKS_TTL", "key_cache.ttl", "seconds", "key-set freshness without Cache-Control"),
    EnvVariable("JWKS_MIN_TTL", "key_cache.min_ttl", "seconds", "lower bound on a server-given freshness"),
    EnvVariable("JWKS_MAX_TTL", "key_cache.max_ttl", "seconds", "upper bound on a server-given freshness"),
    EnvVariable("JWKS_MAX_STALE", "key_cache.max_stale", "seconds", "serve the last good keys this long in an outage"),
    EnvVariable(
        "JWKS_UNKNOWN_KID_COOLDOWN", "key_cache.unknown_kid_cooldown", "seconds", "at most one unknown-kid refetch per"
    ),
    EnvVariable("JWKS_TIMEOUT", "key_cache.timeout", "seconds", "timeout of one key fetch"),
    EnvVariable("JWKS_CONNECT_TIMEOUT", "key_cache.connect_timeout", "seconds", "connect timeout of one key fetch"),
    EnvVariable("INTROSPECTION_CLIENT_ID", "introspection.client_id", "str", "introspect opaque tokens as this client"),
    EnvVariable("INTROSPECTION_CLIENT_SECRET", "introspection.client_secret", "secret", "its client secret"),
    EnvVariable("INTROSPECTION_CLIENT_SECRET_FILE", "introspection.client_secret", "path", "a file holding the secret"),
    EnvVariable("INTROSPECTION_AUTH", "introspection.auth", "str", "client_secret_basic, _post or private_key_jwt"),
    EnvVariable("INTROSPECTION_PRIVATE_KEY_FILE", "introspection.private_key", "path", "PEM key for private_key_jwt"),
    EnvVariable("INTROSPECTION_KEY_ID", "introspection.private_key_id", "str", "kid of that key's assertions"),
    EnvVariable("INTROSPECTION_ENDPOINT", "introspection.endpoint", "url", "instead of the discovered endpoint"),
    EnvVariable("INTROSPECTION_CACHE_TTL", "introspection.cache_ttl", "seconds", "longest reuse of an active answer"),
    EnvVariable("INTROSPECTION_RATE", "introspection.rate", "number", "calls per second for unknown tokens"),
    EnvVariable("REVOCATION_REDIS_URL", "revocation", "url", "refuse tokens revoked in this Redis (a RedisStore)"),
    EnvVariable("REVOCATION_PREFIX", "revocation.prefix", "str", "key prefix of the revocation records"),
    EnvVariable(
        "REVOCATION_STORE_FAILURE", "revocation.store_failure", "str", "closed (503) or open while Redis is out"
    ),
    EnvVariable(
        "REVOCATION_MAX_TOKEN_LIFETIME", "revocation.max_token_lifetime", "seconds", "how long a cutoff is kept"
    ),
    EnvVariable(
        "REVOCATION_FAILURE_GRACE", "revocation.failure_grace", "seconds", "trust the mirror this long without Redis"
    ),
)
_BY_NAME = {variable.name: variable for variable in ENV_VARIABLES}

# Names with the default prefix that jwt_guard's own tools read and that are
# not Verifier settings: the examples' token endpoint, the test suite's
# service switch and artifact folder, and the benchmarks' knobs. They are
# neither settings nor typos, so they are let through.
RESERVED_NAMES = frozenset({"TOKEN_URL", "REQUIRE_SERVICES", "TEST_ARTIFACTS", "BENCH_POOL", "BENCH_CACHE"})

# With these, build_settings validates one option alone (every other one at
# its default), so that a mistake is reported with the variable's name.
_NEUTRAL: dict[str, Any] = {"issuer": "https://issuer.invalid/", "audience": None}


def _fail(variable: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{variable}: {message}")


def _split(variable: str, value: str) -> list[str]:
    items = [item for item in _SEPARATORS.split(value) if item]
    if not items:
        raise _fail(variable, "holds no value (separate list items with commas or spaces)")
    return items


def _boolean(variable: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise _fail(variable, f"must be a boolean (true/false, 1/0, yes/no, on/off), got {value!r}")


def _number(variable: str, value: str) -> float:
    try:
        number = float(value.strip())
    except ValueError:
        raise _fail(variable, f"must be a number of seconds, got {value!r}") from None
    if not math.isfinite(number):
        raise _fail(variable, f"must be a finite number, got {value!r}")
    return number


def _integer(variable: str, value: str) -> int:
    try:
        return int(value.strip(), 10)
    except ValueError:
        raise _fail(variable, f"must be a whole number, got {value!r}") from None


def _algorithms(variable: str, value: str) -> list[str]:
    known = {alg.lower(): alg for alg in ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS}
    result = []
    for item in _split(variable, value):
        if item.lower() == "none":
            raise _fail(variable, "the 'none' algorithm can never be accepted")
        alg = known.get(item.lower())
        if alg is None:
            choices = ", ".join((*DEFAULT_ALGORITHMS, "HS256", "HS384", "HS512"))
            raise _fail(variable, f"unknown algorithm {item!r} (supported: {choices})")
        result.append(alg)
    return result


def load_key_file(path: str | Path, *, what: str = "key file") -> Mapping[str, Any] | str:
    """Read static verification keys from *path*: a JWKS (or single JWK)
    JSON document, or PEM text (public keys or certificates).

    Raises :class:`ConfigurationError` naming *what* when the file cannot be
    read or holds neither form. Key material is never echoed in messages.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable as UTF-8 text"
        raise ConfigurationError(f"{what}: cannot read {str(path)!r}: {reason}") from None
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            raise ConfigurationError(f"{what}: {str(path)!r} is not valid JSON") from None
        if not isinstance(document, dict) or not ("keys" in document or "kty" in document):
            raise ConfigurationError(f"{what}: {str(path)!r} is JSON but neither a JWK Set nor a JWK")
        return document
    if "-----BEGIN" in stripped:
        return stripped
    raise ConfigurationError(f"{what}: {str(path)!r} holds neither a JWKS document nor PEM text")


def load_secret_file(path: str | Path, *, what: str = "secret file") -> bytes:
    """Read a shared secret from *path*.

    A text secret (UTF-8 without control characters) loses its trailing
    line breaks, which an editor or ``echo`` leaves there; a binary secret
    (``openssl rand 64 > file``) is taken byte for byte, since its last
    byte may be ``0x0a`` by chance and is part of the secret.

    Raises :class:`ConfigurationError` naming *what* when the file cannot be
    read, is shorter than 32 bytes, or is recognisably key material (PEM,
    DER, JSON, an SSH public key): a public key is never a shared secret.
    The secret is never echoed in messages.
    """
    from jwt_guard._keys import MIN_SECRET_BYTES
    from jwt_guard._static import refuse_public_secret

    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{what}: cannot read {str(path)!r}: {exc.strerror or exc}") from None
    secret = _without_line_breaks(content)
    if not secret:
        raise ConfigurationError(f"{what}: {str(path)!r} is empty")
    refuse_public_secret(secret, f"{what}: {str(path)!r}")
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"{what}: a shared secret must be at least {MIN_SECRET_BYTES} bytes")
    return secret


def _without_line_breaks(content: bytes) -> bytes:
    """*content* without trailing line breaks when it is text, else as is."""
    text = content.rstrip(b"\r\n")
    try:
        printable = text.decode("utf-8").isprintable()
    except UnicodeDecodeError:
        printable = False
    return text if printable else content


def _check(variable: str, **options: Any) -> None:
    """Validate *options* alone with the Verifier's rules, naming *variable*."""
    try:
        build_settings(**{**_NEUTRAL, **options})
    except ConfigurationError as exc:
        raise _fail(variable, exc.description) from None


def _unknown(prefix: str, environ: Mapping[str, str]) -> None:
    known = sorted(_BY_NAME)
    for name in sorted(environ):
        short = name[len(prefix) :]
        if name.startswith(prefix) and short not in _BY_NAME and short not in RESERVED_NAMES:
            close = difflib.get_close_matches(short, known, n=1, cutoff=0.75)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else ""
            raise ConfigurationError(f"{name} is not a jwt_guard setting{hint}")


def options_from_env(
    prefix: str,
    environ: Mapping[str, str],
    *,
    provided: Collection[str] = (),
    leeway: object = None,
) -> dict[str, Any]:
    """Read :class:`~jwt_guard.Verifier` keyword arguments from *environ*.

    Only variables starting with *prefix* are looked at (see
    :data:`ENV_VARIABLES`). Options named in *provided* (keyword overrides
    given in code) need not be set in the environment: ``ISSUER`` and
    ``AUDIENCE`` are otherwise required.

    Raises :class:`~jwt_guard.ConfigurationError` naming the variable at
    fault. Checks that involve several options at once (HS* algorithms
    without ``SECRET_FILE``, ``KEYS_FILE`` together with ``JWKS_URI``) are
    left to the Verifier, which names the options. *leeway*, when given in
    code, is what a revocation store's ``clock_skew`` must cover.
    """
    if not isinstance(prefix, str):
        raise ConfigurationError("the environment prefix must be a string")
    _unknown(prefix, environ)
    raw: dict[str, str] = {}
    for variable in ENV_VARIABLES:
        value = environ.get(prefix + variable.name)
        if value is None:
            continue
        if not value.strip():
            raise _fail(prefix + variable.name, "is set but empty; unset it to use the default")
        raw[variable.name] = value

    def name(short: str) -> str:
        return prefix + short

    options: dict[str, Any] = {}
    allow_http = False
    if "ALLOW_INSECURE_HTTP" in raw:
        allow_http = options["allow_insecure_http"] = _boolean(name("ALLOW_INSECURE_HTTP"), raw["ALLOW_INSECURE_HTTP"])

    if "KEYS_FILE" in raw and "SECRET_FILE" in raw:
        raise ConfigurationError(
            f"{name('KEYS_FILE')} (public keys) and {name('SECRET_FILE')} (a shared secret) exclude each other"
        )
    if "KEYS_FILE" in raw:
        options["keys"] = load_key_file(raw["KEYS_FILE"].strip(), what=name("KEYS_FILE"))
    if "SECRET_FILE" in raw:
        options["secret"] = load_secret_file(raw["SECRET_FILE"].strip(), what=name("SECRET_FILE"))
    static = any(option in options or option in provided for option in ("keys", "secret"))

    if "ISSUER" in raw:
        issuers = _split(name("ISSUER"), raw["ISSUER"])
        _check(name("ISSUER"), issuer=issuers, has_static_keys=static, allow_insecure_http=allow_http)
        options["issuer"] = issuers[0] if len(issuers) == 1 else issuers
    elif "issuer" not in provided:
        raise ConfigurationError(f"{name('ISSUER')} is not set (the issuer URL of your identity provider)")

    disabled = "AUDIENCE_DISABLED" in raw and _boolean(name("AUDIENCE_DISABLED"), raw["AUDIENCE_DISABLED"])
    if "AUDIENCE" in raw:
        if disabled:
            raise ConfigurationError(
                f"{name('AUDIENCE')} and {name('AUDIENCE_DISABLED')}=true contradict each other; set only one"
            )
        audiences = _split(name("AUDIENCE"), raw["AUDIENCE"])
        options["audience"] = audiences[0] if len(audiences) == 1 else audiences
    elif disabled:
        options["audience"] = None
    elif "audience" not in provided:
        raise ConfigurationError(
            f"{name('AUDIENCE')} is not set: name this API's audience, or set "
            f"{name('AUDIENCE_DISABLED')}=true to skip the audience check explicitly"
        )

    if "JWKS_URI" in raw:
        uri = raw["JWKS_URI"].strip()
        _check(name("JWKS_URI"), jwks_uri=uri, allow_insecure_http=allow_http)
        options["jwks_uri"] = uri

    if "ALGORITHMS" in raw:
        algorithms = _algorithms(name("ALGORITHMS"), raw["ALGORITHMS"])
        _check(name("ALGORITHMS"), algorithms=algorithms)
        options["algorithms"] = algorithms

    list_options = {"SCOPE_CLAIMS": "scope_claims", "REQUIRED_CLAIMS": "required_claims", "CLIENT_IDS": "client_ids"}
    for short, option in list_options.items():
        if short in raw:
            items = _split(name(short), raw[short])
            _check(name(short), **{option: items})
            options[option] = items

    parsers: dict[str, Callable[[str, str], Any]] = {
        "LEEWAY": _number,
        "MAX_TOKEN_AGE": _number,
        "RESULT_CACHE_TTL": _number,
        "MAX_TOKEN_SIZE": _integer,
        "RESULT_CACHE_SIZE": _integer,
        "STRICT_TYP": _boolean,
    }
    for short, parse in parsers.items():
        if short in raw:
            option = _BY_NAME[short].option
            value = parse(name(short), raw[short])
            _check(name(short), **{option: value})
            options[option] = value

    key_cache = _key_cache_options(prefix, raw)
    if key_cache is not None:
        options["key_cache"] = key_cache
    introspection = _introspection_options(prefix, raw)
    if introspection is not None:
        options["introspection"] = introspection
    if any(short.startswith("REVOCATION_") for short in raw):
        given = leeway if isinstance(leeway, (int, float)) and not isinstance(leeway, bool) else None
        covered = float(given) if given is not None else float(options.get("leeway", DEFAULT_LEEWAY))
        options["revocation"] = _revocation_store(prefix, raw, covered)
    return options


def _read_secret(variable: str, path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        raise _fail(variable, f"cannot read {path!r}") from None


def _introspection_options(prefix: str, raw: Mapping[str, str]) -> Any:
    from jwt_guard._introspection import Introspection

    given = {name: value for name, value in raw.items() if name.startswith("INTROSPECTION_")}
    if not given:
        return None
    if "INTROSPECTION_CLIENT_ID" not in given:
        raise ConfigurationError(f"{prefix}INTROSPECTION_CLIENT_ID is not set (the INTROSPECTION_* variables need it)")
    options: dict[str, Any] = {"client_id": given["INTROSPECTION_CLIENT_ID"].strip()}
    if "INTROSPECTION_CLIENT_SECRET" in given and "INTROSPECTION_CLIENT_SECRET_FILE" in given:
        raise ConfigurationError(
            f"set {prefix}INTROSPECTION_CLIENT_SECRET or {prefix}INTROSPECTION_CLIENT_SECRET_FILE, not both"
        )
    if "INTROSPECTION_CLIENT_SECRET" in given:
        options["client_secret"] = given["INTROSPECTION_CLIENT_SECRET"]
    if "INTROSPECTION_CLIENT_SECRET_FILE" in given:
        name = prefix + "INTROSPECTION_CLIENT_SECRET_FILE"
        options["client_secret"] = _read_secret(name, given["INTROSPECTION_CLIENT_SECRET_FILE"].strip())
    if "INTROSPECTION_PRIVATE_KEY_FILE" in given:
        name = prefix + "INTROSPECTION_PRIVATE_KEY_FILE"
        options["private_key"] = _read_secret(name, given["INTROSPECTION_PRIVATE_KEY_FILE"].strip())
        options.setdefault("auth", "private_key_jwt")
    for short, field in (("AUTH", "auth"), ("KEY_ID", "private_key_id"), ("ENDPOINT", "endpoint")):
        if "INTROSPECTION_" + short in given:
            options[field] = given["INTROSPECTION_" + short].strip()
    for short, field in (("CACHE_TTL", "cache_ttl"), ("RATE", "rate")):
        if "INTROSPECTION_" + short in given:
            options[field] = _number(prefix + "INTROSPECTION_" + short, given["INTROSPECTION_" + short])
    try:
        return Introspection(**options)
    except ConfigurationError as exc:
        involved = ", ".join(prefix + name for name in sorted(given))
        raise ConfigurationError(f"{involved}: {exc.description}") from None


_REVOCATION = (
    ("prefix", "PREFIX"),
    ("store_failure", "STORE_FAILURE"),
    ("max_token_lifetime", "MAX_TOKEN_LIFETIME"),
    ("failure_grace", "FAILURE_GRACE"),
)


def _revocation_store(prefix: str, raw: Mapping[str, str], leeway: float) -> Any:
    """A RedisStore from the REVOCATION_* variables; its clock_skew covers *leeway*."""
    if "REVOCATION_REDIS_URL" not in raw:
        raise ConfigurationError(f"{prefix}REVOCATION_REDIS_URL is not set (the REVOCATION_* variables need it)")
    from jwt_guard.stores import RedisStore

    # A jti record must outlive exp + leeway (see Verifier's revocation=).
    options: dict[str, Any] = {"clock_skew": max(DEFAULT_LEEWAY, leeway) if math.isfinite(leeway) else DEFAULT_LEEWAY}
    if "REVOCATION_PREFIX" in raw:
        options["prefix"] = raw["REVOCATION_PREFIX"].strip()
    if "REVOCATION_STORE_FAILURE" in raw:
        options["store_failure"] = raw["REVOCATION_STORE_FAILURE"].strip().lower()
    for short in ("MAX_TOKEN_LIFETIME", "FAILURE_GRACE"):
        if "REVOCATION_" + short in raw:
            options[short.lower()] = _number(f"{prefix}REVOCATION_{short}", raw["REVOCATION_" + short])
    # Check the URL, then each value alone, so that a message names one variable.
    url = raw["REVOCATION_REDIS_URL"].strip()
    checks: list[tuple[str, dict[str, Any]]] = [("REDIS_URL", {})] + [
        (short, {option: options[option]}) for option, short in _REVOCATION if option in options
    ]
    for short, given in checks:
        try:
            RedisStore(url, **given).close()
        except ConfigurationError as exc:
            raise _fail(f"{prefix}REVOCATION_{short}", exc.description) from None
    try:
        return RedisStore.from_url(url, **options)
    except ConfigurationError as exc:
        raise _fail(prefix + "REVOCATION_REDIS_URL", exc.description) from None


def _key_cache_options(prefix: str, raw: Mapping[str, str]) -> KeyCacheOptions | None:
    given: dict[str, Any] = {}
    for variable in ENV_VARIABLES:
        if variable.option.startswith("key_cache.") and variable.name in raw:
            field = variable.option.removeprefix("key_cache.")
            given[field] = _number(prefix + variable.name, raw[variable.name])
    if not given:
        return None
    names = {variable.option.removeprefix("key_cache."): prefix + variable.name for variable in ENV_VARIABLES}
    # Check each value alone first, so that the message names one variable.
    for field, value in given.items():
        try:
            KeyCacheOptions(**{field: value})
        except ConfigurationError as exc:
            raise _fail(names[field], exc.description) from None
    try:
        return KeyCacheOptions(**given)
    except ConfigurationError as exc:
        involved = ", ".join(names[field] for field in given)
        raise ConfigurationError(f"{involved}: {exc.description}") from None
