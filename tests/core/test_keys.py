"""Key sets (jwt_guard._keys): JWKS filtering, key selection, PEM keys, shared secrets, thumbprints."""

from __future__ import annotations

import datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID

from jwt_guard._config import DEFAULT_ALGORITHMS
from jwt_guard._jose import verify_signature
from jwt_guard._keys import KeySet, keyset_from_jwks, keyset_from_pem, keyset_from_secret, public_jwk, thumbprint
from jwt_guard.testing import SigningKey, b64url
from tests.conftest import signing_key

DEFAULT = frozenset(DEFAULT_ALGORITHMS)
HMAC = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
MESSAGE = b"header.payload"


def jwk(key_alg: str, name: str | None = None, **changes) -> dict:
    """The public JWK of the session key (*key_alg*, *name*), with *changes* (None removes a member)."""
    key = signing_key(key_alg, name)
    result = dict(key.public_jwk())
    result.update(changes)
    return {name: value for name, value in result.items() if value is not None}


def good_keys() -> list[dict]:
    return [jwk("RS256", "good-rsa"), jwk("ES256", "good-ec"), jwk("EdDSA", "good-ed")]


GOOD_KIDS = {"good-rsa", "good-ec", "good-ed"}


def _pem(key, fmt=serialization.PublicFormat.SubjectPublicKeyInfo) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, fmt)


def _certificate(private_key) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.example.test")])
    now = datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)
    algorithm = None if isinstance(private_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(private_key, algorithm)
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


# -- JWKS filtering: each bad key is skipped alone ---------------------------------------


def _ec_point_off_curve() -> dict:
    key = jwk("ES256", "bad")
    y = bytearray(signing_key("ES256", "bad").public_key.public_numbers().y.to_bytes(32, "big"))
    y[-1] ^= 1
    return {**key, "y": b64url(bytes(y))}


def _ec_short_coordinate(name: str) -> dict:
    key = jwk("ES256", "bad")
    numbers = signing_key("ES256", "bad").public_key.public_numbers()
    value = getattr(numbers, name).to_bytes(32, "big")[1:]
    return {**key, name: b64url(value)}


SKIP_TABLE = [
    pytest.param({"kty": "XYZ", "kid": "bad"}, "key type", id="kty-unknown"),
    pytest.param({"kid": "bad", "n": "AQAB", "e": "AQAB"}, "key type", id="kty-missing"),
    pytest.param(
        {"kty": "rsa", **{k: v for k, v in jwk("RS256", "bad").items() if k != "kty"}}, "key type", id="kty-case"
    ),
    pytest.param(jwk("RS256", "bad", d="AQAB"), "private", id="rsa-private-d"),
    pytest.param(jwk("RS256", "bad", p="AQAB", q="AQAB"), "private", id="rsa-private-primes"),
    pytest.param(jwk("RS256", "bad", oth=[]), "private", id="rsa-private-oth"),
    pytest.param(jwk("ES256", "bad", d="AQAB"), "private", id="ec-private-d"),
    pytest.param(jwk("EdDSA", "bad", d="AQAB"), "private", id="okp-private-d"),
    pytest.param(jwk("RS256", "bad", use="enc"), "use", id="use-enc"),
    pytest.param(jwk("RS256", "bad", use=""), "use", id="use-empty"),
    pytest.param(jwk("RS256", "bad", use="SIG"), "use", id="use-case"),
    pytest.param(jwk("RS256", "bad", key_ops=["sign"]), "key_ops", id="key-ops-sign-only"),
    pytest.param(jwk("RS256", "bad", key_ops=["encrypt", "wrapKey"]), "key_ops", id="key-ops-encrypt"),
    pytest.param(jwk("RS256", "bad", key_ops=[]), "key_ops", id="key-ops-empty"),
    pytest.param(jwk("RS256", "bad", key_ops="verify"), "key_ops", id="key-ops-string"),
    pytest.param(SigningKey("RS256", kid="bad", rsa_bits=1024).public_jwk(), "2048", id="rsa-1024"),
    pytest.param(SigningKey("RS256", kid="bad", rsa_bits=2040).public_jwk(), "2048", id="rsa-2040"),
    pytest.param(jwk("RS256", "bad", e="AAAC"), "out of range", id="rsa-even-exponent"),
    pytest.param(jwk("RS256", "bad", e="AQ"), "out of range", id="rsa-exponent-one"),
    pytest.param(jwk("RS256", "bad", n="!!!!"), "base64url", id="rsa-n-not-base64url"),
    pytest.param(jwk("RS256", "bad", n=None), "'n'", id="rsa-n-missing"),
    pytest.param(jwk("RS256", "bad", e=65537), "'e'", id="rsa-e-number"),
    pytest.param(jwk("ES256", "bad", alg="ES384"), "alg", id="ec-p256-alg-es384"),
    pytest.param(jwk("ES384", "bad", alg="ES256"), "alg", id="ec-p384-alg-es256"),
    pytest.param(jwk("ES512", "bad", alg="ES256"), "alg", id="ec-p521-alg-es256"),
    pytest.param(jwk("ES256", "bad", crv="P-384"), "length", id="ec-crv-p384-with-p256-point"),
    pytest.param(jwk("ES256", "bad", crv="secp256k1", alg=None), "curve", id="ec-secp256k1"),
    pytest.param(jwk("ES256", "bad", crv="P-192", alg=None), "curve", id="ec-p192"),
    pytest.param(jwk("ES256", "bad", crv=None), "curve", id="ec-crv-missing"),
    pytest.param(_ec_short_coordinate("x"), "length", id="ec-x-short"),
    pytest.param(_ec_short_coordinate("y"), "length", id="ec-y-short"),
    pytest.param(jwk("ES256", "bad", x=b64url(b"\x01" * 33)), "length", id="ec-x-long"),
    pytest.param(_ec_point_off_curve(), "EC", id="ec-point-not-on-curve"),
    pytest.param(jwk("ES256", "bad", y=None), "'y'", id="ec-y-missing"),
    pytest.param({"kty": "OKP", "crv": "Ed448", "x": b64url(b"\x01" * 57), "kid": "bad"}, "curve", id="okp-ed448"),
    pytest.param({"kty": "OKP", "crv": "X25519", "x": b64url(b"\x01" * 32), "kid": "bad"}, "curve", id="okp-x25519"),
    pytest.param({"kty": "OKP", "crv": "X448", "x": b64url(b"\x01" * 56), "kid": "bad"}, "curve", id="okp-x448"),
    pytest.param(jwk("EdDSA", "bad", x=b64url(b"\x01" * 31)), "length", id="okp-x-short"),
    pytest.param(jwk("EdDSA", "bad", alg="ES256"), "alg", id="okp-alg-es256"),
    pytest.param({"kty": "oct", "k": b64url(b"s" * 64), "kid": "bad"}, "symmetric", id="oct-from-remote-set"),
    pytest.param({"kty": "oct", "k": b64url(b"s" * 64), "kid": "bad", "alg": "HS256"}, "symmetric", id="oct-with-alg"),
    pytest.param(jwk("RS256", "bad", alg="ES256"), "alg", id="rsa-alg-es256"),
    pytest.param(jwk("RS256", "bad", alg="HS256"), "alg", id="rsa-alg-hs256"),
    pytest.param(jwk("RS256", "bad", alg="none"), "alg", id="rsa-alg-none"),
    pytest.param(jwk("RS256", "bad", alg="RSA-OAEP"), "alg", id="rsa-alg-rsa-oaep"),
    pytest.param(jwk("RS256", "bad", alg=256), "alg", id="rsa-alg-number"),
]


@pytest.mark.parametrize(("bad", "reason"), SKIP_TABLE)
def test_bad_key_is_skipped_alone(bad, reason):
    """One bad key never spoils the set: it is reported and every good key stays."""
    keyset, skipped = keyset_from_jwks({"keys": [*good_keys(), bad]}, DEFAULT)
    assert keyset.kids == GOOD_KIDS
    assert len(keyset) == 3
    assert [(item.index, item.kid) for item in skipped] == [(3, "bad")]
    assert reason in skipped[0].reason


@pytest.mark.parametrize(("bad", "reason"), SKIP_TABLE)
def test_bad_key_first_does_not_shift_others(bad, reason):
    keyset, skipped = keyset_from_jwks({"keys": [bad, *good_keys()]}, DEFAULT)
    assert keyset.kids == GOOD_KIDS
    assert [item.index for item in skipped] == [0]


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        pytest.param("a string", "not an object", id="string"),
        pytest.param(42, "not an object", id="number"),
        pytest.param(None, "not an object", id="null"),
        pytest.param([jwk("RS256", "bad")], "not an object", id="nested-list"),
        pytest.param(jwk("RS256", "bad", kid=7), "kid", id="kid-number"),
        pytest.param(jwk("RS256", "bad", kid=["x"]), "kid", id="kid-list"),
    ],
)
def test_non_object_entries_and_bad_kids(entry, reason):
    keyset, skipped = keyset_from_jwks({"keys": [*good_keys(), entry]}, DEFAULT)
    assert keyset.kids == GOOD_KIDS
    assert [(item.index, item.kid) for item in skipped] == [(3, None)]
    assert reason in skipped[0].reason


@pytest.mark.parametrize(
    ("entry", "kid"),
    [
        pytest.param(jwk("RS256", "ok", use="sig"), "ok", id="use-sig"),
        pytest.param(jwk("RS256", "ok", use=None), "ok", id="use-absent"),
        pytest.param(jwk("RS256", "ok", key_ops=["verify"]), "ok", id="key-ops-verify"),
        pytest.param(jwk("RS256", "ok", key_ops=["sign", "verify"]), "ok", id="key-ops-sign-verify"),
        pytest.param(jwk("RS256", "ok", alg=None), "ok", id="alg-absent"),
        pytest.param(jwk("RS256", "ok", x5c=["not checked"], x5t="x"), "ok", id="extra-members-ignored"),
        pytest.param(jwk("ES384", "ok"), "ok", id="ec-p384"),
        pytest.param(jwk("ES512", "ok"), "ok", id="ec-p521"),
        pytest.param(jwk("PS256", "ok"), "ok", id="rsa-pss"),
    ],
)
def test_acceptable_keys(entry, kid):
    keyset, skipped = keyset_from_jwks({"keys": [*good_keys(), entry]}, DEFAULT)
    assert skipped == []
    assert keyset.kids == {*GOOD_KIDS, kid}


@pytest.mark.parametrize(
    ("entry", "allowed", "reason"),
    [
        pytest.param(jwk("RS256", "k", alg="RS256"), frozenset({"ES256"}), "no allowed", id="alg-not-allowed"),
        pytest.param(jwk("RS256", "k", alg=None), frozenset({"ES256", "EdDSA"}), "no allowed", id="rsa-none-allowed"),
        pytest.param(jwk("ES384", "k"), frozenset({"ES256"}), "no allowed", id="p384-only-es256-allowed"),
        pytest.param(jwk("EdDSA", "k"), frozenset({"RS256"}), "no allowed", id="eddsa-not-allowed"),
    ],
)
def test_key_must_serve_an_allowed_algorithm(entry, allowed, reason):
    keyset, skipped = keyset_from_jwks({"keys": [entry]}, allowed)
    assert len(keyset) == 0
    assert reason in skipped[0].reason


@pytest.mark.parametrize(
    ("alg", "allowed", "expected"),
    [
        pytest.param(None, DEFAULT, RSA_ALGS, id="no-alg-binds-every-rsa-alg"),
        pytest.param("PS384", DEFAULT, {"PS384"}, id="alg-binds-only-that"),
        pytest.param(None, frozenset({"RS256", "PS512", "ES256"}), {"RS256", "PS512"}, id="only-allowed"),
    ],
)
def test_rsa_key_binding(alg, allowed, expected):
    keyset, _ = keyset_from_jwks({"keys": [jwk("RS256", "k", alg=alg)]}, allowed)
    assert {candidate for candidate in RSA_ALGS | {"ES256"} if keyset.find("k", candidate)} == expected


@pytest.mark.parametrize(
    ("document", "allowed", "expected_kids", "skipped_reason"),
    [
        pytest.param(
            {"keys": [{"kty": "oct", "k": b64url(b"s" * 32), "kid": "s"}]}, HMAC, {"s"}, None, id="hs256-32-bytes"
        ),
        pytest.param(
            {"keys": [{"kty": "oct", "k": b64url(b"s" * 31), "kid": "s"}]}, HMAC, set(), "no allowed", id="31-bytes"
        ),
        pytest.param(
            {"keys": [{"kty": "oct", "k": b64url(b"s" * 32), "kid": "s", "alg": "HS384"}]},
            HMAC,
            set(),
            "no allowed",
            id="hs384-needs-48",
        ),
        pytest.param(
            {"keys": [{"kty": "oct", "k": b64url(b"s" * 48), "kid": "s", "alg": "HS384"}]},
            HMAC,
            {"s"},
            None,
            id="hs384-48-bytes",
        ),
        pytest.param(
            {"keys": [{"kty": "oct", "k": b64url(b"s" * 63), "kid": "s", "alg": "HS512"}]},
            HMAC,
            set(),
            "no allowed",
            id="hs512-needs-64",
        ),
        pytest.param(
            {"keys": [{"kty": "oct", "k": b64url(b"s" * 32), "kid": "s", "alg": "RS256"}]},
            DEFAULT,
            set(),
            "alg",
            id="oct-alg-rs256",
        ),
        pytest.param(
            {"keys": [{"kty": "oct", "kid": "s"}]},
            HMAC,
            set(),
            "'k'",
            id="oct-k-missing",
        ),
    ],
)
def test_oct_keys_in_static_sets(document, allowed, expected_kids, skipped_reason):
    """Configured (static) JWKS may hold shared secrets; remote ones never do."""
    keyset, skipped = keyset_from_jwks(document, allowed, allow_symmetric=True)
    assert keyset.kids == expected_kids
    if skipped_reason is None:
        assert skipped == []
    else:
        assert skipped_reason in skipped[0].reason


def test_oct_key_binds_by_length():
    secret = b"s" * 48
    keyset, _ = keyset_from_jwks(
        {"keys": [{"kty": "oct", "k": b64url(secret), "kid": "s"}]}, HMAC, allow_symmetric=True
    )
    assert keyset.find("s", "HS256") is not None
    assert keyset.find("s", "HS384") is not None
    assert keyset.find("s", "HS512") is None


@pytest.mark.parametrize(
    "document",
    [
        pytest.param(None, id="null"),
        pytest.param([], id="list"),
        pytest.param("keys", id="string"),
        pytest.param({}, id="no-keys"),
        pytest.param({"keys": {}}, id="keys-object"),
        pytest.param({"keys": "a"}, id="keys-string"),
        pytest.param({"keys": None}, id="keys-null"),
        pytest.param({"keys": jwk("RS256", "k")}, id="keys-single-jwk"),
    ],
)
def test_not_a_jwk_set(document):
    with pytest.raises(ValueError, match="not a JWK Set"):
        keyset_from_jwks(document, DEFAULT)


def test_empty_key_list_gives_an_empty_set():
    keyset, skipped = keyset_from_jwks({"keys": []}, DEFAULT)
    assert len(keyset) == 0
    assert skipped == []
    assert keyset.find(None, "RS256") is None


@pytest.mark.parametrize(
    ("count", "max_keys", "kept"),
    [
        pytest.param(3, 3, 3, id="at-limit"),
        pytest.param(5, 3, 3, id="over-limit"),
        pytest.param(1, 1, 1, id="one"),
    ],
)
def test_max_keys(count, max_keys, kept):
    keys = [jwk("ES256", "ec", kid=f"k{i}") for i in range(count)]
    keyset, skipped = keyset_from_jwks({"keys": keys}, DEFAULT, max_keys=max_keys)
    assert keyset.kids == {f"k{i}" for i in range(kept)}
    assert [item.index for item in skipped] == list(range(kept, count))
    assert all("too many" in item.reason for item in skipped)


def test_duplicate_kid_keeps_the_first():
    first = jwk("RS256", "same")
    second = jwk("RS256", "other", kid="same")
    keyset, skipped = keyset_from_jwks({"keys": [first, second]}, DEFAULT)
    assert [(item.index, item.kid) for item in skipped] == [(1, "same")]
    signature = signing_key("RS256", "same").sign(MESSAGE)
    assert verify_signature(keyset.find("same", "RS256").key, MESSAGE, signature)


# -- KeySet.find ------------------------------------------------------------------------------


def _set(*keys: dict) -> KeySet:
    keyset, skipped = keyset_from_jwks({"keys": list(keys)}, DEFAULT, allow_symmetric=False)
    assert skipped == []
    return keyset


def _same_kind(key_alg: str, alg: str) -> bool:
    return key_alg == alg or (key_alg[:2] in ("RS", "PS") and alg[:2] in ("RS", "PS"))


def _chosen(keyset: KeySet, kid: str | None, alg: str, keys: list[tuple[str, str]]) -> str | None:
    """Which test key find() chose: the one whose signature it verifies."""
    found = keyset.find(kid, alg)
    if found is None:
        return None
    assert found.alg == alg
    for key_alg, name in keys:
        if _same_kind(key_alg, alg):
            signer = SigningKey(alg, private_key=signing_key(key_alg, name).private_key)
            if verify_signature(found.key, MESSAGE, signer.sign(MESSAGE)):
                return name
    raise AssertionError("found a key that is none of the test keys")


@pytest.mark.parametrize(
    ("keys", "kid", "alg", "expected"),
    [
        pytest.param([("RS256", "a"), ("RS256", "b")], "a", "RS256", "a", id="kid-selects"),
        pytest.param([("RS256", "a"), ("RS256", "b")], "b", "PS256", "b", id="kid-selects-any-rsa-alg"),
        pytest.param([("RS256", "a"), ("RS256", "b")], "c", "RS256", None, id="unknown-kid"),
        pytest.param([("RS256", "a"), ("RS256", "b")], None, "RS256", None, id="no-kid-two-candidates"),
        pytest.param([("RS256", "a")], None, "RS256", "a", id="no-kid-one-candidate"),
        pytest.param([("RS256", "a"), ("ES256", "b")], None, "ES256", "b", id="no-kid-one-compatible"),
        pytest.param([("RS256", "a"), ("ES256", "b")], None, "RS256", "a", id="no-kid-other-kind-ignored"),
        pytest.param([("ES256", "a"), ("ES256", "b")], None, "ES256", None, id="no-kid-two-ec"),
        pytest.param([("RS256", "a"), ("ES256", "b")], "b", "RS256", None, id="alg-mismatch-under-known-kid"),
        pytest.param([("ES256", "a")], "a", "ES384", None, id="curve-mismatch-under-known-kid"),
        pytest.param([("RS256", "a"), ("RS256", "anon")], "zzz", "RS256", "anon", id="kid-falls-back-to-kidless"),
        pytest.param([("RS256", "anon")], "zzz", "PS256", "anon", id="fallback-any-rsa-alg"),
        pytest.param([("RS256", "anon"), ("RS256", "anon2")], "zzz", "RS256", None, id="two-kidless-no-fallback"),
        pytest.param([("RS256", "anon"), ("RS256", "anon2")], None, "RS256", None, id="no-kid-two-kidless"),
        pytest.param([("RS256", "anon"), ("ES256", "anon2")], None, "ES256", "anon2", id="no-kid-kidless-of-each-kind"),
        pytest.param([("ES256", "anon")], "zzz", "RS256", None, id="kidless-of-other-kind"),
        pytest.param([("RS256", "anon")], None, "RS256", "anon", id="no-kid-kidless-key"),
        pytest.param([("RS256", "a"), ("RS256", "anon")], None, "RS256", None, id="no-kid-kidless-and-kidded"),
    ],
)
def test_find(keys, kid, alg, expected):
    entries = [jwk(key_alg, name, kid=None if name.startswith("anon") else name, alg=None) for key_alg, name in keys]
    assert _chosen(_set(*entries), kid, alg, keys) == expected


def test_find_binds_the_tokens_alg():
    keyset = _set(jwk("RS256", "a", alg=None))
    found = keyset.find("a", "PS384")
    assert (found.kid, found.alg) == ("a", "PS384")


def test_has_kid_and_kids():
    keyset = _set(jwk("RS256", "a"), jwk("ES256", "b"), jwk("EdDSA", "anon", kid=None))
    assert keyset.kids == {"a", "b"}
    assert keyset.has_kid("a")
    assert not keyset.has_kid("anon")
    assert len(keyset) == 3
    assert "size=3" in repr(keyset)


# -- fingerprints -------------------------------------------------------------------------------


def test_fingerprint_equal_for_equal_sets():
    one = _set(jwk("RS256", "a"), jwk("ES256", "b"), jwk("EdDSA", "c"))
    same_order = _set(jwk("RS256", "a"), jwk("ES256", "b"), jwk("EdDSA", "c"))
    reordered = _set(jwk("EdDSA", "c"), jwk("RS256", "a"), jwk("ES256", "b"))
    extra_members = _set(jwk("RS256", "a", x5t="t"), jwk("ES256", "b", use=None), jwk("EdDSA", "c"))
    assert one.fingerprint == same_order.fingerprint == reordered.fingerprint == extra_members.fingerprint


@pytest.mark.parametrize(
    "other",
    [
        pytest.param([jwk("RS256", "a"), jwk("ES256", "b")], id="key-removed"),
        pytest.param([jwk("RS256", "a"), jwk("ES256", "b"), jwk("EdDSA", "c"), jwk("ES384", "d")], id="key-added"),
        pytest.param([jwk("RS256", "a"), jwk("ES256", "b"), jwk("EdDSA", "c", kid="renamed")], id="kid-changed"),
        pytest.param([jwk("RS256", "a"), jwk("ES256", "b"), jwk("EdDSA", "other", kid="c")], id="material-changed"),
        pytest.param([jwk("RS256", "a", alg="PS256"), jwk("ES256", "b"), jwk("EdDSA", "c")], id="alg-changed"),
    ],
)
def test_fingerprint_differs(other):
    base = _set(jwk("RS256", "a"), jwk("ES256", "b"), jwk("EdDSA", "c"))
    assert _set(*other).fingerprint != base.fingerprint


# -- PEM ------------------------------------------------------------------------------------


def _pem_verifies(keyset: KeySet, alg: str, name: str) -> bool:
    found = keyset.find(None, alg)
    return found is not None and verify_signature(found.key, MESSAGE, signing_key(alg, name).sign(MESSAGE))


@pytest.mark.parametrize(
    ("alg", "pem"),
    [
        pytest.param("RS256", lambda: signing_key("RS256", "p").public_pem(), id="rsa-spki-str"),
        pytest.param("RS256", lambda: signing_key("RS256", "p").public_pem().encode(), id="rsa-spki-bytes"),
        pytest.param(
            "RS256",
            lambda: _pem(signing_key("RS256", "p").public_key, serialization.PublicFormat.PKCS1),
            id="rsa-pkcs1",
        ),
        pytest.param("PS512", lambda: signing_key("PS512", "p").public_pem(), id="rsa-for-pss"),
        pytest.param("ES256", lambda: signing_key("ES256", "p").public_pem(), id="p256"),
        pytest.param("ES384", lambda: signing_key("ES384", "p").public_pem(), id="p384"),
        pytest.param("ES512", lambda: signing_key("ES512", "p").public_pem(), id="p521"),
        pytest.param("EdDSA", lambda: signing_key("EdDSA", "p").public_pem(), id="ed25519"),
        pytest.param("RS256", lambda: _certificate(signing_key("RS256", "p").private_key), id="rsa-certificate"),
        pytest.param("ES256", lambda: _certificate(signing_key("ES256", "p").private_key), id="ec-certificate"),
        pytest.param("EdDSA", lambda: _certificate(signing_key("EdDSA", "p").private_key), id="ed25519-certificate"),
        pytest.param(
            "RS256", lambda: "leading text\n" + signing_key("RS256", "p").public_pem() + "\ntrailing", id="text-around"
        ),
    ],
)
def test_keyset_from_pem(alg, pem):
    keyset = keyset_from_pem(pem(), DEFAULT)
    assert len(keyset) == 1
    assert keyset.kids == frozenset()
    assert _pem_verifies(keyset, alg, "p")


def test_pem_several_blocks_in_one_text():
    text = signing_key("ES256", "p").public_pem() + signing_key("EdDSA", "p").public_pem()
    keyset = keyset_from_pem(text, DEFAULT)
    assert len(keyset) == 2
    assert _pem_verifies(keyset, "ES256", "p")
    assert _pem_verifies(keyset, "EdDSA", "p")


def test_pem_list_of_texts():
    pems = [signing_key("RS256", "p").public_pem(), _certificate(signing_key("ES384", "p").private_key)]
    keyset = keyset_from_pem(pems, DEFAULT)
    assert len(keyset) == 2
    assert _pem_verifies(keyset, "RS256", "p")
    assert _pem_verifies(keyset, "ES384", "p")


def test_two_rsa_pems_need_a_kid():
    """Two kid-less keys of one kind: a kid-less token has no single key to use."""
    keyset = keyset_from_pem([signing_key("RS256", "p").public_pem(), signing_key("RS256", "q").public_pem()], DEFAULT)
    assert len(keyset) == 2
    assert keyset.find(None, "RS256") is None


def test_pem_only_binds_allowed_algorithms():
    keyset = keyset_from_pem(signing_key("RS256", "p").public_pem(), frozenset({"PS256"}))
    assert keyset.find(None, "RS256") is None
    assert keyset.find(None, "PS256") is not None


@pytest.mark.parametrize(
    ("pem", "message"),
    [
        pytest.param(lambda: signing_key("RS256", "p").private_pem(), "private", id="pkcs8-private"),
        pytest.param(
            lambda: (
                signing_key("RS256", "p")
                .private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
                .decode()
            ),
            "private",
            id="rsa-private",
        ),
        pytest.param(
            lambda: (
                signing_key("ES256", "p")
                .private_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,
                    serialization.NoEncryption(),
                )
                .decode()
            ),
            "private",
            id="ec-private",
        ),
        pytest.param(
            lambda: signing_key("ES256", "p").public_pem() + signing_key("ES256", "p").private_pem(),
            "private",
            id="public-then-private",
        ),
        pytest.param(lambda: "no pem here", "no PEM", id="no-block"),
        pytest.param(lambda: "", "no PEM", id="empty"),
        pytest.param(
            lambda: _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()),
            "2048",
            id="rsa-1024",
        ),
        pytest.param(lambda: _pem(ec.generate_private_key(ec.SECP256K1()).public_key()), "curve", id="secp256k1"),
        pytest.param(lambda: _pem(ed448.Ed448PrivateKey.generate().public_key()), "key type", id="ed448"),
        pytest.param(lambda: signing_key("ES256", "p").public_pem(), "no allowed", id="ec-not-allowed"),
    ],
)
def test_keyset_from_pem_refuses(pem, message):
    with pytest.raises(ValueError, match=message):
        keyset_from_pem(pem(), frozenset({"RS256"}) if message == "no allowed" else DEFAULT)


def test_pem_garbage_block():
    with pytest.raises(ValueError):
        keyset_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", DEFAULT)


# -- shared secrets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "allowed", "bound"),
    [
        pytest.param(32, {"HS256"}, {"HS256"}, id="32-hs256"),
        pytest.param(48, {"HS384"}, {"HS384"}, id="48-hs384"),
        pytest.param(64, {"HS512"}, {"HS512"}, id="64-hs512"),
        pytest.param(48, {"HS256", "HS384", "HS512"}, {"HS256", "HS384"}, id="48-all-allowed"),
        pytest.param(64, {"HS256", "HS384", "HS512"}, {"HS256", "HS384", "HS512"}, id="64-all-allowed"),
    ],
)
def test_keyset_from_secret(length, allowed, bound):
    secret = bytes(range(length))
    keyset = keyset_from_secret(secret, frozenset(allowed))
    assert len(keyset) == 1
    assert {alg for alg in HMAC if keyset.find(None, alg) is not None} == bound
    for alg in bound:
        signature = SigningKey(alg, private_key=secret).sign(MESSAGE)
        assert verify_signature(keyset.find(None, alg).key, MESSAGE, signature)


@pytest.mark.parametrize(
    ("length", "allowed", "message"),
    [
        pytest.param(0, {"HS256"}, "32 bytes", id="empty"),
        pytest.param(31, {"HS256"}, "32 bytes", id="31-bytes"),
        pytest.param(32, {"HS384"}, "no allowed", id="hs384-needs-48"),
        pytest.param(47, {"HS384"}, "no allowed", id="47-for-hs384"),
        pytest.param(63, {"HS512"}, "no allowed", id="63-for-hs512"),
        pytest.param(64, {"RS256"}, "HS256", id="no-hs-allowed"),
    ],
)
def test_keyset_from_secret_refuses(length, allowed, message):
    with pytest.raises(ValueError, match=message):
        keyset_from_secret(b"s" * length, frozenset(allowed))


def test_secret_fingerprint():
    assert keyset_from_secret(b"a" * 32, HMAC).fingerprint == keyset_from_secret(b"a" * 32, HMAC).fingerprint
    assert keyset_from_secret(b"a" * 32, HMAC).fingerprint != keyset_from_secret(b"b" * 32, HMAC).fingerprint


# -- thumbprints and public JWKs ----------------------------------------------------------------

RFC7638_JWK = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjh"
        "Mstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQv"
        "RL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzK"
        "nqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_thumbprint_rfc7638_example():
    """RFC 7638 §3.1: the example RSA key's SHA-256 thumbprint."""
    assert thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_thumbprint_ignores_optional_members():
    bare = {name: RFC7638_JWK[name] for name in ("kty", "n", "e")}
    assert thumbprint(bare) == thumbprint({**RFC7638_JWK, "use": "sig", "kid": "other"})


@pytest.mark.parametrize("alg", ["RS256", "ES256", "ES384", "ES512", "EdDSA"])
def test_public_jwk_round_trips(alg):
    key = signing_key(alg)
    document = {"keys": [{**public_jwk(key.public_key), "kid": "k"}]}
    keyset, skipped = keyset_from_jwks(document, DEFAULT)
    assert skipped == []
    found = keyset.find("k", alg)
    assert verify_signature(found.key, MESSAGE, key.sign(MESSAGE))
