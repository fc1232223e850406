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
        if "keys" not in options and "secret" not in options:
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
        pytest.param({"algorithms": ["HS256", "RS256"], "secret": SECRET}, "mix", id="hs-with-rs"),
        pytest.param({"algorithms": ["ES256", "HS512"], "secret": SECRET * 2}, "mix", id="es-with-hs"),
        pytest.param({"algorithms": ["HS256"]}, "shared secret", id="hs-without-secret"),
        pytest.param({"algorithms": ["HS256"], "secret": b"s" * 31}, "32 bytes", id="secret-31-bytes"),
        pytest.param({"algorithms": ["HS256"], "secret": b""}, "32 bytes", id="secret-empty"),
        pytest.param({"algorithms": ["HS384"], "secret": b"s" * 47}, "unusable", id="hs384-secret-47-bytes"),
        pytest.param({"algorithms": ["HS512"], "secret": b"s" * 63}, "unusable", id="hs512-secret-63-bytes"),
        pytest.param({"algorithms": ["HS256"], "secret": "s" * 64}, "bytes", id="secret-as-str"),
        pytest.param({"keys": "not a pem key"}, "PEM", id="str-not-pem"),
        pytest.param({"secret": SECRET}, "HS256", id="secret-with-asymmetric-algorithms"),
        pytest.param({"keys": signing_key("RS256").private_pem()}, "private", id="private-pem"),
        pytest.param({"keys": signing_key("ES256").private_pem().encode()}, "private", id="private-pem-bytes"),
        pytest.param(
            {"algorithms": ["HS256"], "keys": signing_key("RS256").public_pem()},
            "never verify HS",
            id="public-pem-as-hmac",
        ),
        pytest.param(
            {"algorithms": ["HS256"], "keys": signing_key("RS256").public_pem().encode()},
            "never verify HS",
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
        pytest.param({"keys": {"kty": "oct", "k": b64url(SECRET)}}, "secret=", id="single-oct-jwk-asymmetric"),
        pytest.param({"keys": 42}, "keys must be", id="keys-int"),
        pytest.param({"keys": object()}, "keys must be", id="keys-object"),
        pytest.param({"keys": [42]}, "PEM text", id="keys-list-of-int"),
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
        pytest.param({"secret": SECRET, "algorithms": ["HS256"]}, id="secret"),
        pytest.param({"secret": bytearray(SECRET), "algorithms": ["HS256"]}, id="secret-bytearray"),
        pytest.param({"secret": b"s" * 64, "algorithms": ["HS256", "HS384", "HS512"]}, id="secret-all-hs"),
        pytest.param(
            {"secret": {"keys": [{"kty": "oct", "k": b64url(SECRET)}]}, "algorithms": ["HS256"]}, id="oct-jwks"
        ),
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


# -- shared secrets never confused with public keys (secret= vs keys=) ------------------------


def _public_material() -> list:
    """A public key (or a key document) in every encoding an operator might hand over."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    rsa_key, ec_key, ed_key = signing_key("RS256"), signing_key("ES256"), signing_key("EdDSA")
    pem, der = serialization.Encoding.PEM, serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "idp.example.test")])
    start = __import__("datetime").datetime(2020, 1, 1, tzinfo=__import__("datetime").timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key)
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start.replace(year=2120))
        .sign(rsa_key.private_key, hashes.SHA256())
    )
    der_spki = rsa_key.public_key.public_bytes(der, spki)
    openssh = serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    return [
        pytest.param(rsa_key.public_key.public_bytes(pem, spki), "PEM", id="pem-spki"),
        pytest.param(rsa_key.public_key.public_bytes(pem, serialization.PublicFormat.PKCS1), "PEM", id="pem-pkcs1"),
        pytest.param(certificate.public_bytes(pem), "PEM", id="pem-certificate"),
        pytest.param(rsa_key.private_pem().encode(), "PEM", id="pem-private-key"),
        pytest.param(der_spki, "DER-encoded public key", id="der-spki-rsa"),
        pytest.param(ec_key.public_key.public_bytes(der, spki), "DER-encoded public key", id="der-spki-ec"),
        pytest.param(ed_key.public_key.public_bytes(der, spki), "DER-encoded public key", id="der-spki-ed25519"),
        pytest.param(
            rsa_key.public_key.public_bytes(der, serialization.PublicFormat.PKCS1),
            "DER-encoded public key",
            id="der-pkcs1",
        ),
        pytest.param(certificate.public_bytes(der), "DER-encoded X.509 certificate", id="der-certificate"),
        pytest.param(__import__("base64").b64encode(der_spki), "base64 DER", id="pem-body-without-armour"),
        pytest.param(rsa_key.public_key.public_bytes(*openssh), "OpenSSH", id="ssh-rsa"),
        pytest.param(ec_key.public_key.public_bytes(*openssh), "OpenSSH", id="ecdsa-sha2-nistp256"),
        pytest.param(ed_key.public_key.public_bytes(*openssh), "OpenSSH", id="ssh-ed25519"),
        pytest.param(ed_key.public_key.public_bytes(*openssh).split()[1], "OpenSSH", id="ssh-blob-base64"),
        pytest.param(__import__("json").dumps({"keys": [rsa_key.public_jwk()]}).encode(), "JSON", id="jwks-json-bytes"),
        pytest.param(__import__("json").dumps(ec_key.public_jwk()).encode(), "JSON", id="jwk-json-bytes"),
        pytest.param(
            b"\n  " + __import__("json").dumps({"keys": []}).encode() + b"\n", "JSON", id="jwks-json-whitespace"
        ),
        pytest.param(
            ec_key.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint),
            "EC public key point",
            id="ec-point",
        ),
    ]


PUBLIC_MATERIAL = _public_material()


def _refused(build, recognised: str, **options) -> str:
    with pytest.raises(ConfigurationError) as caught:
        build(**options)
    message = caught.value.description
    assert recognised in message, message
    # Never steer public material towards HMAC.
    assert "HS256" not in message and "algorithms=" not in message, message
    return message


@pytest.mark.parametrize(("material", "recognised"), PUBLIC_MATERIAL)
def test_public_material_is_never_a_shared_secret(build, material, recognised):
    """secret= refuses anything recognisably a key or a key document, naming it."""
    message = _refused(build, recognised, secret=material, algorithms=["HS256"])
    assert "keys=" in message


@pytest.mark.parametrize(("material", "recognised"), [p for p in PUBLIC_MATERIAL if p.values[1] != "PEM"])
@pytest.mark.parametrize("algorithms", [pytest.param(["HS256"], id="hs256"), pytest.param(None, id="default")])
def test_public_material_as_key_bytes_is_refused_without_an_hs_hint(build, material, recognised, algorithms):
    """Bytes in keys= that are not PEM were taken as an HMAC secret: a DER key
    or a JWKS read in binary mode let anyone holding the public key forge
    HS256 tokens, and the error for asymmetric algorithms suggested HS256."""
    options = {"keys": material} if algorithms is None else {"keys": material, "algorithms": algorithms}
    _refused(build, recognised, **options)


def test_forged_hs256_token_keyed_with_the_public_key_meets_no_verifier(build):
    """The attack end to end: the public key's DER bytes as HMAC key."""
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import serialization

    der = signing_key("RS256").public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(b'{"alg":"HS256","typ":"at+jwt"}')
    payload = b64url(f'{{"iss":"{ISSUER}","aud":"{AUDIENCE}","sub":"admin","exp":9999999999}}'.encode())
    forged = f"{header}.{payload}.{b64url(hmac.new(der, f'{header}.{payload}'.encode(), hashlib.sha256).digest())}"
    for options in ({"keys": der, "algorithms": ["HS256"]}, {"secret": der, "algorithms": ["HS256"]}):
        with pytest.raises(ConfigurationError):
            build(**options).verify(forged)


def test_raw_bytes_in_keys_point_to_secret(build):
    with pytest.raises(ConfigurationError, match="secret=") as caught:
        build(keys=SECRET, algorithms=["HS256"])
    assert "public keys" in caught.value.description


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"secret": SECRET, "keys": rs256_jwks(), "algorithms": ["HS256"]}, "not both", id="both"),
        pytest.param({"secret": SECRET}, r"algorithms=\['HS256'\]", id="secret-with-asymmetric-algorithms"),
        pytest.param({"secret": SECRET.decode(), "algorithms": ["HS256"]}, "bytes", id="secret-as-str"),
        pytest.param({"secret": 42, "algorithms": ["HS256"]}, "bytes", id="secret-as-int"),
        pytest.param({"secret": b"s" * 31, "algorithms": ["HS256"]}, "32 bytes", id="secret-31-bytes"),
        pytest.param({"secret": rs256_jwks(), "algorithms": ["HS256"]}, "RSA JWK.*keys=", id="secret-public-jwks"),
        pytest.param({"secret": {"keys": "x"}, "algorithms": ["HS256"]}, "oct keys", id="secret-jwks-not-a-list"),
        pytest.param(
            {"secret": SECRET, "jwks_uri": "https://issuer.example.test/jwks", "algorithms": ["HS256"]},
            "not both",
            id="secret-and-jwks-uri",
        ),
        pytest.param(
            {"keys": {"keys": [{"kty": "oct", "k": b64url(SECRET)}]}, "algorithms": ["HS256"]},
            "oct.*secret=",
            id="oct-jwks-in-keys",
        ),
        pytest.param({"keys": {"kty": "oct", "k": b64url(SECRET)}}, "oct.*secret=", id="oct-jwk-in-keys"),
        pytest.param({"algorithms": ["HS256"]}, "secret=", id="hs-without-secret"),
        pytest.param(
            {"keys": signing_key("RS256").public_pem(), "algorithms": ["HS256"]},
            "public keys, which never verify HS",
            id="public-pem-with-hs-algorithms",
        ),
        pytest.param({"keys": "not a pem key"}, "neither", id="str-not-pem"),
    ],
)
def test_secret_and_keys_mistakes(build, options, message):
    with pytest.raises(ConfigurationError, match=message):
        build(**options)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"secret": SECRET, "algorithms": ["HS256"]}, id="bytes"),
        pytest.param({"secret": bytearray(SECRET), "algorithms": ["HS256"]}, id="bytearray"),
        pytest.param({"secret": b"s" * 64, "algorithms": ["HS256", "HS384", "HS512"]}, id="all-hs"),
        pytest.param({"secret": {"keys": [{"kty": "oct", "k": b64url(SECRET)}]}, "algorithms": ["HS256"]}, id="jwks"),
        pytest.param({"secret": {"kty": "oct", "k": b64url(SECRET), "kid": "s1"}, "algorithms": ["HS256"]}, id="jwk"),
        pytest.param({"secret": b"0123456789abcdef" * 4, "algorithms": ["HS256"]}, id="hex-text"),
        pytest.param({"secret": b"Zm9vYmFyYmF6cXV4" * 3, "algorithms": ["HS256"]}, id="base64-text"),
    ],
)
def test_shared_secrets_through_secret(build, options):
    from jwt_guard.testing import LocalIssuer, SigningKey

    secret = options["secret"]
    raw = bytes(secret) if isinstance(secret, (bytes, bytearray)) else SECRET
    key = SigningKey("HS256", kid=secret.get("kid") if isinstance(secret, dict) else None, private_key=raw)
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[key])
    verifier = build(**options)
    assert verifier.verify(issuer.token(scope="read", headers={"kid": key.kid})).has_scopes("read")


def test_local_issuer_verifier_passes_a_shared_secret_as_secret():
    from jwt_guard.testing import LocalIssuer, SigningKey

    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[SigningKey("HS256", private_key=SECRET)])
    with issuer.verifier() as verifier:
        assert verifier.verify(issuer.token()).subject == "user-1"


# -- client_ids, and the warning when nothing binds tokens to this API ---------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param([], "must not be empty", id="empty"),
        pytest.param([""], "non-empty strings", id="empty-string"),
        pytest.param([42], "non-empty strings", id="number"),
        pytest.param(42, "client_ids", id="not-a-list"),
    ],
)
def test_bad_client_ids(build, value, message):
    with pytest.raises(ConfigurationError, match=message):
        build(keys=rs256_jwks(), client_ids=value)


def test_client_ids_as_a_string_or_a_list(build):
    assert build(keys=rs256_jwks(), client_ids="app-1").settings.client_ids == ("app-1",)
    assert build(keys=rs256_jwks(), client_ids=["a", "b", "a"]).settings.client_ids == ("a", "b")


def test_client_ids_bind_tokens_when_the_audience_check_is_off(build):
    from jwt_guard import InvalidClaim
    from jwt_guard.testing import LocalIssuer

    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, keys=[signing_key("RS256")])
    verifier = build(keys=issuer.jwks(), audience=None, client_ids=["web-app"])
    assert verifier.verify(issuer.token(aud=None, client_id="web-app")).client_id == "web-app"
    with pytest.raises(InvalidClaim):
        verifier.verify(issuer.token(aud=None, client_id="another-app"))


@pytest.mark.parametrize(
    ("options", "warned"),
    [
        pytest.param({"audience": None}, True, id="audience-off"),
        pytest.param({"audience": None, "client_ids": ["app"]}, False, id="client-ids"),
        pytest.param({}, False, id="audience-on"),
    ],
)
def test_warning_when_nothing_binds_tokens_to_this_api(build, caplog, options, warned):
    import logging

    with caplog.at_level(logging.WARNING, logger="jwt_guard"):
        build(keys=rs256_jwks(), **options)
    messages = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert any("audience check is off" in message and "client_ids" in message for message in messages) is warned


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
        pytest.param({"secret": b"k" * 32, "algorithms": ["HS256"]}, id="static-secret"),
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
        pytest.param("http://auth.localhost/", id="http-localhost-subdomain"),
        pytest.param("http://localhost./", id="http-localhost-trailing-dot"),
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
        pytest.param("a.localhost", False, id="localhost-subdomain-is-a-name-to-resolve"),
        pytest.param("localhost.", False, id="localhost-trailing-dot"),
        pytest.param("127.1", False, id="ipv4-shorthand"),
        pytest.param("::ffff:127.0.0.1", True, id="ipv4-mapped-ipv6-loopback"),
        pytest.param("::ffff:10.0.0.1", False, id="ipv4-mapped-ipv6-other"),
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
