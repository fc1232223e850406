"""Configuration (jwt_guard._config via Verifier): every mistake is a ConfigurationError at construction."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import httpx
import pytest

from jwt_guard import ConfigurationError, KeyCacheOptions, Verifier
from jwt_guard._config import DEFAULT_ALGORITHMS, DEFAULT_LEEWAY, check_url, is_loopback_host
from jwt_guard.testing import b64url
from tests.conftest import AUDIENCE, ISSUER, signing_key

SECRET = b"s" * 32


@pytest.fixture
def requests() -> list[httpx.Request]:
    return []


@pytest.fixture
def build(requests) -> Iterator:
    """Construct verifiers; fetched keys go to a transport that records requests and fails."""
    made: list[Verifier] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500)

    transport = httpx.MockTransport(refuse)

    def make(**options) -> Verifier:
        options.setdefault("issuer", ISSUER)
        options.setdefault("audience", AUDIENCE)
        if "keys" not in options:
            options.setdefault("transport", transport)
            options.setdefault("async_transport", transport)
        verifier = Verifier(**options)
        made.append(verifier)
        return verifier

    yield make
    for verifier in made:
        verifier.close()


def rs256_jwks() -> dict:
    return {"keys": [signing_key("RS256").public_jwk()]}


# -- algorithms and keys --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"algorithms": []}, "empty", id="empty-list"),
        pytest.param({"algorithms": ()}, "empty", id="empty-tuple"),
        pytest.param({"algorithms": "none"}, "none", id="none-string"),
        pytest.param({"algorithms": ["none"]}, "none", id="none"),
        pytest.param({"algorithms": ["NONE"]}, "none", id="NONE"),
        pytest.param({"algorithms": ["None"]}, "none", id="None"),
        pytest.param({"algorithms": ["RS256", "none"]}, "none", id="none-among-others"),
        pytest.param({"algorithms": ["XS256"]}, "unknown", id="unknown"),
        pytest.param({"algorithms": ["rs256"]}, "unknown", id="wrong-case"),
        pytest.param({"algorithms": ["RSA-OAEP"]}, "unknown", id="encryption-algorithm"),
        pytest.param({"algorithms": ["ES256K"]}, "unknown", id="es256k"),
        pytest.param({"algorithms": ["Ed25519"]}, "unknown", id="ed25519-name"),
        pytest.param({"algorithms": [256]}, "strings", id="not-a-string"),
        pytest.param({"algorithms": [None]}, "strings", id="null-entry"),
        pytest.param({"algorithms": ["HS256", "RS256"], "keys": SECRET}, "mix", id="hs-with-rs"),
        pytest.param({"algorithms": ["ES256", "HS512"], "keys": SECRET * 2}, "mix", id="es-with-hs"),
        pytest.param({"algorithms": ["HS256"]}, "shared secret", id="hs-without-secret"),
        pytest.param({"algorithms": ["HS256"], "keys": b"s" * 31}, "32 bytes", id="secret-31-bytes"),
        pytest.param({"algorithms": ["HS256"], "keys": b""}, "32 bytes", id="secret-empty"),
        pytest.param({"algorithms": ["HS384"], "keys": b"s" * 47}, "unusable", id="hs384-secret-47-bytes"),
        pytest.param({"algorithms": ["HS512"], "keys": b"s" * 63}, "unusable", id="hs512-secret-63-bytes"),
        pytest.param({"algorithms": ["HS256"], "keys": "s" * 64}, "PEM", id="secret-as-str"),
        pytest.param({"keys": "not a pem key"}, "PEM", id="str-not-pem"),
        pytest.param({"keys": SECRET}, "HS256", id="secret-with-asymmetric-algorithms"),
        pytest.param({"keys": signing_key("RS256").private_pem()}, "private", id="private-pem"),
        pytest.param({"keys": signing_key("ES256").private_pem().encode()}, "private", id="private-pem-bytes"),
        pytest.param(
            {"algorithms": ["HS256"], "keys": signing_key("RS256").public_pem()}, "unusable", id="public-pem-as-hmac"
        ),
        pytest.param(
            {"algorithms": ["HS256"], "keys": signing_key("RS256").public_pem().encode()},
            "unusable",
            id="public-pem-bytes-as-hmac",
        ),
        pytest.param({"keys": {"keys": []}}, "no key usable", id="jwks-empty"),
        pytest.param({"keys": {"keys": [{"kty": "XYZ"}]}}, "no key usable", id="jwks-only-unknown-type"),
        pytest.param(
            {"keys": {"keys": [{**signing_key("RS256").public_jwk(), "d": "AQAB"}]}}, "no key usable", id="jwks-private"
        ),
        pytest.param(
            {"keys": {"keys": [signing_key("ES256").public_jwk()]}, "algorithms": ["RS256"]},
            "no key usable",
            id="jwks-wrong-kind",
        ),
        pytest.param({"keys": {"keys": "x"}}, "unusable", id="jwks-keys-not-a-list"),
        pytest.param({"keys": {"kty": "oct", "k": b64url(SECRET)}}, "no key usable", id="single-oct-jwk-asymmetric"),
        pytest.param({"keys": 42}, "keys must be", id="keys-int"),
        pytest.param({"keys": object()}, "keys must be", id="keys-object"),
        pytest.param({"keys": [42]}, "unusable", id="keys-list-of-int"),
        pytest.param(
            {"keys": rs256_jwks(), "jwks_uri": "https://issuer.example.test/jwks"}, "either", id="keys-and-jwks-uri"
        ),
    ],
)
def test_bad_algorithms_and_keys(build, options, message):
    with pytest.raises(ConfigurationError, match=message):
        build(**options)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"keys": rs256_jwks()}, id="jwks"),
        pytest.param({"keys": signing_key("RS256").public_jwk()}, id="single-jwk"),
        pytest.param({"keys": signing_key("ES256").public_pem()}, id="pem-str"),
        pytest.param({"keys": signing_key("ES256").public_pem().encode()}, id="pem-bytes"),
        pytest.param({"keys": [signing_key("ES256").public_pem(), signing_key("EdDSA").public_pem()]}, id="pem-list"),
        pytest.param({"keys": SECRET, "algorithms": ["HS256"]}, id="secret"),
        pytest.param({"keys": bytearray(SECRET), "algorithms": ["HS256"]}, id="secret-bytearray"),
        pytest.param({"keys": b"s" * 64, "algorithms": ["HS256", "HS384", "HS512"]}, id="secret-all-hs"),
        pytest.param({"keys": {"keys": [{"kty": "oct", "k": b64url(SECRET)}]}, "algorithms": ["HS256"]}, id="oct-jwks"),
        pytest.param({"keys": rs256_jwks(), "algorithms": "RS256"}, id="algorithm-as-string"),
        pytest.param({"keys": rs256_jwks(), "algorithms": ["RS256", "RS256"]}, id="algorithm-repeated"),
        pytest.param({}, id="remote-keys"),
        pytest.param({"jwks_uri": "https://issuer.example.test/keys"}, id="explicit-jwks-uri"),
    ],
)
def test_good_configurations(build, requests, options):
    """Good configurations construct without touching the network."""
    verifier = build(**options)
    assert isinstance(verifier, Verifier)
    assert requests == []


def test_defaults():
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, keys=rs256_jwks())
    assert verifier.algorithms == frozenset(DEFAULT_ALGORITHMS)
    assert verifier.issuers == (ISSUER,)
    assert verifier.audiences == (AUDIENCE,)
    assert DEFAULT_LEEWAY == 60
    assert "HS256" not in verifier.algorithms


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"leeway": -1}, "leeway", id="leeway-negative"),
        pytest.param({"leeway": -0.001}, "leeway", id="leeway-slightly-negative"),
        pytest.param({"leeway": 601}, "leeway", id="leeway-huge"),
        pytest.param({"leeway": 10**9}, "leeway", id="leeway-enormous"),
        pytest.param({"leeway": math.nan}, "leeway", id="leeway-nan"),
        pytest.param({"leeway": math.inf}, "leeway", id="leeway-inf"),
        pytest.param({"leeway": "60"}, "leeway", id="leeway-string"),
        pytest.param({"leeway": True}, "leeway", id="leeway-bool"),
        pytest.param({"leeway": None}, "leeway", id="leeway-none"),
        pytest.param({"max_token_size": 0}, "max_token_size", id="size-zero"),
        pytest.param({"max_token_size": -1}, "max_token_size", id="size-negative"),
        pytest.param({"max_token_size": 255}, "max_token_size", id="size-too-small"),
        pytest.param({"max_token_size": 1024 * 1024 + 1}, "max_token_size", id="size-too-big"),
        pytest.param({"max_token_size": 8192.0}, "max_token_size", id="size-float"),
        pytest.param({"max_token_size": "8192"}, "max_token_size", id="size-string"),
        pytest.param({"max_token_size": True}, "max_token_size", id="size-bool"),
        pytest.param({"max_token_size": None}, "max_token_size", id="size-none"),
        pytest.param({"max_token_age": 0}, "max_token_age", id="age-zero"),
        pytest.param({"max_token_age": -5}, "max_token_age", id="age-negative"),
        pytest.param({"max_token_age": math.nan}, "max_token_age", id="age-nan"),
        pytest.param({"result_cache_size": -1}, "result_cache_size", id="cache-size-negative"),
        pytest.param({"result_cache_size": 1.5}, "result_cache_size", id="cache-size-float"),
        pytest.param({"result_cache_size": True}, "result_cache_size", id="cache-size-bool"),
        pytest.param({"result_cache_ttl": 0}, "result_cache_ttl", id="cache-ttl-zero"),
        pytest.param({"result_cache_ttl": -1}, "result_cache_ttl", id="cache-ttl-negative"),
        pytest.param({"result_cache_ttl": math.inf}, "result_cache_ttl", id="cache-ttl-inf"),
    ],
)
def test_bad_numbers(build, options, message):
    with pytest.raises(ConfigurationError, match=message):
        build(keys=rs256_jwks(), **options)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"leeway": 0}, id="leeway-zero"),
        pytest.param({"leeway": 600}, id="leeway-max"),
        pytest.param({"leeway": 2.5}, id="leeway-float"),
        pytest.param({"max_token_size": 256}, id="size-min"),
        pytest.param({"max_token_size": 1024 * 1024}, id="size-max"),
        pytest.param({"max_token_age": 3600}, id="age"),
        pytest.param({"result_cache_size": 0}, id="cache-off"),
    ],
)
def test_good_numbers(build, options):
    assert isinstance(build(keys=rs256_jwks(), **options), Verifier)


# -- other options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"issuer": ""}, "issuer", id="issuer-empty"),
        pytest.param({"issuer": []}, "issuer", id="issuer-empty-list"),
        pytest.param({"issuer": [""]}, "issuer", id="issuer-empty-entry"),
        pytest.param({"issuer": [1]}, "issuer", id="issuer-number"),
        pytest.param({"issuer": None}, "issuer", id="issuer-none"),
        pytest.param({"audience": ""}, "audience", id="audience-empty"),
        pytest.param({"audience": []}, "audience", id="audience-empty-list"),
        pytest.param({"audience": ["a", ""]}, "audience", id="audience-empty-entry"),
        pytest.param({"audience": [None]}, "audience", id="audience-none-entry"),
        pytest.param({"required_claims": [""]}, "required_claims", id="required-empty"),
        pytest.param({"required_claims": [1]}, "required_claims", id="required-number"),
        pytest.param({"scope_claims": [""]}, "scope_claims", id="scope-claims-empty"),
        pytest.param({"scope_claims": [".roles"]}, "scope_claims", id="scope-claims-leading-dot"),
        pytest.param({"scope_claims": ["realm_access."]}, "scope_claims", id="scope-claims-trailing-dot"),
        pytest.param({"scope_claims": [5]}, "scope_claims", id="scope-claims-number"),
        pytest.param({"validators": [1]}, "validators", id="validator-not-callable"),
        pytest.param({"clock": 1_800_000_000}, "clock", id="clock-not-callable"),
        pytest.param({"on_event": "log"}, "on_event", id="on-event-not-callable"),
        pytest.param({"issuer": 5}, "issuer", id="issuer-not-iterable"),
        pytest.param({"audience": 5}, "audience", id="audience-not-iterable"),
        pytest.param({"algorithms": None}, "algorithms", id="algorithms-none"),
        pytest.param({"required_claims": None}, "required_claims", id="required-none"),
        pytest.param({"scope_claims": None}, "scope_claims", id="scope-claims-none"),
        pytest.param({"validators": None}, "validators", id="validators-none"),
        pytest.param({"key_cache": {"ttl": 60}}, "key_cache", id="key-set-dict"),
        pytest.param({"validators": lambda token: True}, "validators", id="validators-single-callable"),
    ],
)
def test_bad_options(build, options, message):
    options.setdefault("keys", rs256_jwks())
    with pytest.raises(ConfigurationError, match=message):
        build(**options)


@pytest.mark.parametrize(
    ("options", "attribute", "expected"),
    [
        pytest.param({"audience": None}, "audiences", None, id="audience-none"),
        pytest.param({"audience": ["a", "b", "a"]}, "audiences", ("a", "b"), id="audiences-deduplicated"),
        pytest.param(
            {"issuer": ["https://a.test/", "https://b.test/"]},
            "issuers",
            ("https://a.test/", "https://b.test/"),
            id="issuers",
        ),
        pytest.param(
            {"issuer": "http://idp.internal/"}, "issuers", ("http://idp.internal/",), id="http-issuer-with-static-keys"
        ),
    ],
)
def test_option_values(build, options, attribute, expected):
    """With static keys the issuer is only compared to iss, so any non-empty string is fine."""
    assert getattr(build(keys=rs256_jwks(), **options), attribute) == expected


# -- URLs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"jwks_uri": "https://www.googleapis.com/oauth2/v3/certs"}, id="explicit-jwks-uri"),
        pytest.param({"keys": b"k" * 32, "algorithms": ["HS256"]}, id="static-keys"),
    ],
)
def test_issuer_need_not_be_a_url_when_it_is_never_fetched(options):
    """Without discovery the issuer is only compared (Google's bare ``accounts.google.com``)."""
    verifier = Verifier(issuer="accounts.google.com", audience="client-id", **options)
    assert verifier.issuers == ("accounts.google.com",)
    verifier.close()


def test_issuer_must_be_a_url_for_discovery():
    with pytest.raises(ConfigurationError, match="issuer"):
        Verifier(issuer="accounts.google.com", audience="client-id")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://issuer.example.test/", id="http-remote-host"),
        pytest.param("http://10.0.0.1/", id="http-private-address"),
        pytest.param("http://0.0.0.0/", id="http-unspecified"),
        pytest.param("http://[::2]/", id="http-other-ipv6"),
        pytest.param("http://localhost.evil.test/", id="http-localhost-prefix"),
        pytest.param("http://127.0.0.1.nip.io/", id="http-loopback-lookalike"),
        pytest.param("ftp://issuer.example.test/", id="ftp"),
        pytest.param("file:///etc/issuer", id="file"),
        pytest.param("ws://127.0.0.1/", id="websocket"),
        pytest.param("issuer.example.test", id="no-scheme"),
        pytest.param("//issuer.example.test/", id="scheme-relative"),
        pytest.param("/issuer", id="path-only"),
        pytest.param("https://", id="no-host"),
        pytest.param("https://user:pass@issuer.example.test/", id="credentials"),
        pytest.param("https://issuer.example.test/#frag", id="fragment"),
        pytest.param("https://issuer.example.test:99999/", id="bad-port"),
        pytest.param("https://[::1/", id="bad-ipv6"),
    ],
)
@pytest.mark.parametrize("field", ["issuer", "jwks_uri"])
def test_bad_urls(build, url, field):
    with pytest.raises(ConfigurationError, match=field):
        build(**{field: url})


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("https://issuer.example.test/", id="https"),
        pytest.param("https://issuer.example.test:8443/tenant/", id="https-port-path"),
        pytest.param("http://127.0.0.1/", id="ipv4-loopback"),
        pytest.param("http://127.0.0.1:8080/issuer", id="ipv4-loopback-port"),
        pytest.param("http://127.1.2.3/", id="ipv4-loopback-range"),
        pytest.param("http://[::1]/", id="ipv6-loopback"),
        pytest.param("http://[::1]:9000/x", id="ipv6-loopback-port"),
        pytest.param("http://localhost/", id="localhost"),
        pytest.param("http://LOCALHOST:8000/", id="localhost-upper"),
        pytest.param("http://auth.localhost/", id="localhost-subdomain"),
    ],
)
@pytest.mark.parametrize("field", ["issuer", "jwks_uri"])
def test_good_urls(build, requests, url, field):
    assert isinstance(build(**{field: url}), Verifier)
    assert requests == []


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://issuer.example.test/", id="remote-host"),
        pytest.param("http://10.0.0.1:8080/realms/x", id="private-address"),
    ],
)
@pytest.mark.parametrize("field", ["issuer", "jwks_uri"])
def test_allow_insecure_http(build, requests, url, field):
    verifier = build(allow_insecure_http=True, **{field: url})
    assert isinstance(verifier, Verifier)
    assert requests == []


@pytest.mark.parametrize("url", ["ftp://issuer.example.test/", "file:///x"])
def test_allow_insecure_http_still_requires_http(build, url):
    with pytest.raises(ConfigurationError):
        build(issuer=url, allow_insecure_http=True)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("127.0.0.1", True, id="ipv4"),
        pytest.param("127.255.255.254", True, id="ipv4-range-end"),
        pytest.param("::1", True, id="ipv6"),
        pytest.param("[::1]", True, id="ipv6-bracketed"),
        pytest.param("localhost", True, id="localhost"),
        pytest.param("LocalHost", True, id="localhost-case"),
        pytest.param("a.localhost", True, id="localhost-subdomain"),
        pytest.param("128.0.0.1", False, id="not-loopback"),
        pytest.param("localhost.example", False, id="localhost-prefix"),
        pytest.param("notlocalhost", False, id="localhost-suffix"),
        pytest.param("::", False, id="ipv6-unspecified"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
    ],
)
def test_is_loopback_host(host, expected):
    assert is_loopback_host(host) is expected


def test_check_url_names_the_setting():
    with pytest.raises(ConfigurationError, match="discovery_url"):
        check_url("ftp://x/", "discovery_url", allow_http=False)
    assert check_url("https://x/", "discovery_url", allow_http=False) == "https://x/"


# -- KeyCacheOptions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"ttl": 0}, id="ttl-zero"),
        pytest.param({"ttl": -1}, id="ttl-negative"),
        pytest.param({"ttl": math.nan}, id="ttl-nan"),
        pytest.param({"ttl": "600"}, id="ttl-string"),
        pytest.param({"min_ttl": 0}, id="min-ttl-zero"),
        pytest.param({"max_ttl": math.inf}, id="max-ttl-inf"),
        pytest.param({"min_ttl": 100, "max_ttl": 50}, id="min-above-max"),
        pytest.param({"refresh_ahead": 0}, id="refresh-ahead-zero"),
        pytest.param({"refresh_ahead": 1.5}, id="refresh-ahead-above-one"),
        pytest.param({"jitter": 1}, id="jitter-one"),
        pytest.param({"jitter": -0.1}, id="jitter-negative"),
        pytest.param({"max_stale": -1}, id="max-stale-negative"),
        pytest.param({"unknown_kid_cooldown": -1}, id="cooldown-negative"),
        pytest.param({"absent_kid_ttl": -1}, id="absent-kid-ttl-negative"),
        pytest.param({"discovery_ttl": 0}, id="discovery-ttl-zero"),
        pytest.param({"cold_backoff": (1.0,)}, id="cold-backoff-one-value"),
        pytest.param({"cold_backoff": (1.0, 2.0, 3.0)}, id="cold-backoff-three-values"),
        pytest.param({"cold_backoff": (10.0, 1.0)}, id="cold-backoff-first-above-ceiling"),
        pytest.param({"stale_backoff": (0.0, 1.0)}, id="stale-backoff-zero"),
        pytest.param({"connect_timeout": 0}, id="connect-timeout-zero"),
        pytest.param({"timeout": math.inf}, id="timeout-inf"),
        pytest.param({"max_response_bytes": 1023}, id="response-bytes-too-small"),
        pytest.param({"max_response_bytes": 1.5e6}, id="response-bytes-float"),
        pytest.param({"max_keys": 0}, id="max-keys-zero"),
        pytest.param({"max_keys": True}, id="max-keys-bool"),
        pytest.param({"max_redirects": -1}, id="redirects-negative"),
        pytest.param({"max_absent_kids": -1}, id="absent-kids-negative"),
    ],
)
def test_bad_key_set_options(options):
    with pytest.raises(ConfigurationError):
        KeyCacheOptions(**options)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"max_stale": 0}, id="fail-closed"),
        pytest.param({"max_redirects": 0}, id="no-redirects"),
        pytest.param({"refresh_ahead": 1}, id="no-refresh-ahead"),
        pytest.param({"jitter": 0}, id="no-jitter"),
        pytest.param({"unknown_kid_cooldown": 0}, id="no-cooldown"),
        pytest.param({"min_ttl": 600, "max_ttl": 600, "ttl": 600}, id="fixed-ttl"),
    ],
)
def test_good_key_set_options(build, options):
    key_set = KeyCacheOptions(**options)
    assert isinstance(build(key_cache=key_set), Verifier)


def test_key_set_options_are_frozen():
    options = KeyCacheOptions()
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.ttl = 1


# -- the signature -----------------------------------------------------------------------------------


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        Verifier(ISSUER, AUDIENCE)  # type: ignore[misc]
    with pytest.raises(TypeError):
        Verifier(ISSUER, audience=AUDIENCE, keys=rs256_jwks())  # type: ignore[misc]


def test_audience_is_required():
    """Forgetting the audience is an error; skipping the check must be explicit."""
    with pytest.raises(TypeError, match="audience"):
        Verifier(issuer=ISSUER, keys=rs256_jwks())  # type: ignore[call-arg]
    assert Verifier(issuer=ISSUER, audience=None, keys=rs256_jwks()).audiences is None


def test_issuer_is_required():
    with pytest.raises(TypeError, match="issuer"):
        Verifier(audience=AUDIENCE, keys=rs256_jwks())  # type: ignore[call-arg]


def test_unknown_option():
    with pytest.raises(TypeError):
        Verifier(issuer=ISSUER, audience=AUDIENCE, keys=rs256_jwks(), audiences=[AUDIENCE])  # type: ignore[call-arg]


def test_configuration_error_is_a_value_error():
    with pytest.raises(ValueError):
        Verifier(issuer=ISSUER, audience=AUDIENCE, keys=rs256_jwks(), algorithms=["none"])


# -- traps: scope_claims as one spaced string, issuer templates ------------------------------------


@pytest.mark.parametrize(
    ("scope_claims", "fix"),
    [
        pytest.param("scope permissions", "scope_claims=['scope', 'permissions']", id="two-names"),
        pytest.param("scp  realm_access.roles", "scope_claims=['scp', 'realm_access.roles']", id="dotted-path"),
        pytest.param("scope\tpermissions", "scope_claims=['scope', 'permissions']", id="tab"),
    ],
)
def test_a_string_with_spaces_is_not_one_scope_claim(build, scope_claims, fix):
    """A lone string names one claim only when it holds no space; otherwise
    the error names the list to pass instead."""
    with pytest.raises(ConfigurationError) as info:
        build(keys=rs256_jwks(), scope_claims=scope_claims)
    assert "names one claim with a space in its name" in info.value.description
    assert info.value.description.endswith(fix)


def test_a_list_entry_with_spaces_is_refused_too(build):
    with pytest.raises(ConfigurationError, match=r"claim names without spaces.*\['scope', 'permissions'\]"):
        build(keys=rs256_jwks(), scope_claims=["scope permissions", "scp"])


@pytest.mark.parametrize(
    ("scope_claims", "claims", "scopes"),
    [
        pytest.param("permissions", {"permissions": ["read:a"]}, {"read:a"}, id="one-name"),
        pytest.param(["scope", "permissions"], {"scope": "a", "permissions": ["b"]}, {"a", "b"}, id="list"),
        pytest.param("realm_access.roles", {"realm_access": {"roles": ["admin"]}}, {"admin"}, id="dotted"),
    ],
)
def test_a_string_without_spaces_is_one_scope_claim(issuer, make_verifier, scope_claims, claims, scopes):
    verifier = make_verifier(scope_claims=scope_claims)
    assert verifier.verify(issuer.token(**claims)).scopes == scopes


@pytest.mark.parametrize(
    "template",
    [
        "https://login.microsoftonline.com/{tenantid}/v2.0",
        "https://sts.windows.net/{tenant}/",
        "https://idp.example.test/tenant}",
    ],
)
@pytest.mark.parametrize("keys", [False, True], ids=["discovery", "static-keys"])
def test_issuer_templates_are_refused(build, template, keys):
    """Issuers are compared exactly: a template would accept no token, so it
    is refused at construction with the way out (listing each tenant)."""
    options = {"keys": rs256_jwks()} if keys else {}
    with pytest.raises(ConfigurationError) as info:
        build(issuer=["https://idp.example.test/", template], **options)
    assert repr(template) in info.value.description
    assert "is a template" in info.value.description
    assert "list the issuer of each tenant you accept" in info.value.description
