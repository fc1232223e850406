"""The python-jose wrapper (jwt_guard._jose): key objects, algorithm binding, signature checks."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding
from jose import jwk
from jose.backends.base import Key
from jose.constants import ALGORITHMS as JOSE_ALGORITHMS
from jose.exceptions import JOSEError

from jwt_guard._jose import EdDSAKey, PSSKey, bind_key, verify_signature
from jwt_guard.testing import SigningKey
from jwt_guard.testing._signing import ALGORITHMS
from tests.conftest import signing_key

ALL_ALGORITHMS = list(ALGORITHMS)
MESSAGE = b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ"


def bound(alg: str) -> Key:
    return bind_key(signing_key(alg).public_key, alg)


@pytest.mark.parametrize("cls", [PSSKey, EdDSAKey])
def test_added_key_classes_are_python_jose_keys(cls):
    assert issubclass(cls, Key)


@pytest.mark.parametrize(
    ("alg", "cls"),
    [
        pytest.param("PS256", PSSKey, id="PS256"),
        pytest.param("PS384", PSSKey, id="PS384"),
        pytest.param("PS512", PSSKey, id="PS512"),
        pytest.param("EdDSA", EdDSAKey, id="EdDSA"),
    ],
)
def test_bind_key_uses_the_added_classes(alg, cls):
    assert type(bound(alg)) is cls


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
def test_bind_and_verify_every_algorithm(alg):
    key = bound(alg)
    assert isinstance(key, Key)
    signature = signing_key(alg).sign(MESSAGE)
    assert verify_signature(key, MESSAGE, signature) is True


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda message, signature: (message + b"x", signature), id="message-changed"),
        pytest.param(lambda message, signature: (message[:-1], signature), id="message-truncated"),
        pytest.param(lambda message, signature: (message, signature[:-1]), id="signature-truncated"),
        pytest.param(lambda message, signature: (message, signature + b"\x00"), id="signature-extended"),
        pytest.param(
            lambda message, signature: (message, bytes([signature[0] ^ 1]) + signature[1:]), id="first-bit-flipped"
        ),
        pytest.param(
            lambda message, signature: (message, signature[:-1] + bytes([signature[-1] ^ 0x80])), id="last-bit-flipped"
        ),
        pytest.param(lambda message, signature: (message, b""), id="signature-empty"),
        pytest.param(lambda message, signature: (message, b"\x00" * len(signature)), id="signature-zeros"),
        pytest.param(lambda message, signature: (message, b"\xff" * len(signature)), id="signature-ones"),
    ],
)
def test_verify_signature_false(alg, tamper):
    """Any change to message or signature answers False, never raises."""
    message, signature = tamper(MESSAGE, signing_key(alg).sign(MESSAGE))
    assert verify_signature(bound(alg), message, signature) is False


@pytest.mark.parametrize("alg", ALL_ALGORITHMS)
def test_verify_signature_with_another_key_of_the_same_kind(alg):
    other = signing_key(alg, kid="other")
    assert verify_signature(bound(alg), MESSAGE, other.sign(MESSAGE)) is False


@pytest.mark.parametrize(
    ("key_alg", "signature_alg"),
    [
        pytest.param("RS256", "RS384", id="rs256-key-rs384-signature"),
        pytest.param("RS256", "PS256", id="rs256-key-pss-signature"),
        pytest.param("PS256", "RS256", id="ps256-key-pkcs1-signature"),
        pytest.param("PS256", "PS384", id="ps256-key-ps384-signature"),
        pytest.param("HS256", "HS512", id="hs256-key-hs512-signature"),
    ],
)
def test_key_is_bound_to_one_algorithm(key_alg, signature_alg):
    """A key bound to one algorithm refuses a signature made by the same key material with another."""
    private = signing_key(key_alg).private_key
    other = SigningKey(signature_alg, private_key=private)
    assert verify_signature(bound(key_alg), MESSAGE, other.sign(MESSAGE)) is False


@pytest.mark.parametrize(
    "salt_length",
    [
        pytest.param(0, id="no-salt"),
        pytest.param(padding.PSS.MAX_LENGTH, id="max-salt"),
        pytest.param(20, id="sha1-sized-salt"),
    ],
)
def test_pss_salt_length_is_the_hash_size(salt_length):
    """RFC 7518 §3.5: the salt is as long as the hash output; other salt lengths do not verify."""
    private = signing_key("PS256").private_key
    pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt_length)
    signature = private.sign(MESSAGE, pss, hashes.SHA256())
    assert verify_signature(bound("PS256"), MESSAGE, signature) is False


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_der_signature_is_refused(alg):
    """JWS ECDSA signatures are raw r||s (RFC 7518 §3.4), never DER."""
    private = signing_key(alg).private_key
    digest = {"ES256": hashes.SHA256, "ES384": hashes.SHA384, "ES512": hashes.SHA512}[alg]()
    der = private.sign(MESSAGE, ec.ECDSA(digest))
    assert verify_signature(bound(alg), MESSAGE, der) is False


def _rsa_public():
    return signing_key("RS256").public_key


def _ec_public(curve):
    return ec.generate_private_key(curve).public_key()


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        pytest.param(_rsa_public, "ES256", id="rsa-for-es256"),
        pytest.param(_rsa_public, "EdDSA", id="rsa-for-eddsa"),
        pytest.param(_rsa_public, "HS256", id="rsa-for-hs256"),
        pytest.param(_rsa_public, "RSA-OAEP", id="rsa-for-rsa-oaep"),
        pytest.param(_rsa_public, "RS1", id="rsa-for-unknown-rs"),
        pytest.param(_rsa_public, "PS1", id="rsa-for-unknown-ps"),
        pytest.param(_rsa_public, "none", id="rsa-for-none"),
        pytest.param(lambda: signing_key("RS256").private_key, "RS256", id="rsa-private-key"),
        pytest.param(lambda: _ec_public(ec.SECP256R1()), "RS256", id="ec-for-rs256"),
        pytest.param(lambda: _ec_public(ec.SECP256R1()), "PS256", id="ec-for-ps256"),
        pytest.param(lambda: _ec_public(ec.SECP256R1()), "ES384", id="p256-for-es384"),
        pytest.param(lambda: _ec_public(ec.SECP256R1()), "ES512", id="p256-for-es512"),
        pytest.param(lambda: _ec_public(ec.SECP384R1()), "ES256", id="p384-for-es256"),
        pytest.param(lambda: _ec_public(ec.SECP521R1()), "ES384", id="p521-for-es384"),
        pytest.param(lambda: _ec_public(ec.SECP256K1()), "ES256", id="secp256k1-for-es256"),
        pytest.param(lambda: _ec_public(ec.SECP256R1()), "ES1", id="ec-for-unknown-es"),
        pytest.param(lambda: _ec_public(ec.SECP256R1()), "EdDSA", id="ec-for-eddsa"),
        pytest.param(lambda: ed448.Ed448PrivateKey.generate().public_key(), "EdDSA", id="ed448-for-eddsa"),
        pytest.param(lambda: ed25519.Ed25519PrivateKey.generate(), "EdDSA", id="ed25519-private-key"),
        pytest.param(lambda: ed25519.Ed25519PrivateKey.generate().public_key(), "ES256", id="ed25519-for-es256"),
        pytest.param(lambda: b"k" * 32, "RS256", id="bytes-for-rs256"),
        pytest.param(lambda: b"k" * 32, "EdDSA", id="bytes-for-eddsa"),
        pytest.param(lambda: b"k" * 32, "HS1", id="bytes-for-unknown-hs"),
        pytest.param(lambda: "k" * 32, "HS256", id="str-secret"),
        pytest.param(lambda: signing_key("RS256").public_pem().encode(), "HS256", id="pem-as-hmac-secret"),
        pytest.param(lambda: None, "RS256", id="none-key"),
    ],
)
def test_mismatched_key_and_algorithm(key, alg):
    with pytest.raises(ValueError):
        bind_key(key(), alg)


def test_pss_key_refuses_wrong_inputs():
    with pytest.raises(JOSEError):
        PSSKey(_ec_public(ec.SECP256R1()), "PS256")
    with pytest.raises(JOSEError):
        PSSKey(signing_key("PS256").public_key, "RS256")


def test_eddsa_key_refuses_wrong_inputs():
    with pytest.raises(JOSEError):
        EdDSAKey(ed448.Ed448PrivateKey.generate().public_key())
    with pytest.raises(JOSEError):
        EdDSAKey(signing_key("EdDSA").public_key, "Ed25519")


@pytest.mark.parametrize(
    ("alg", "expected"),
    [
        pytest.param("PS384", {"kty": "RSA", "alg": "PS384"}, id="pss"),
        pytest.param("EdDSA", {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA"}, id="eddsa"),
    ],
)
def test_added_keys_are_public_keys(alg, expected):
    key = bound(alg)
    assert key.public_key() is key
    assert expected.items() <= key.to_dict().items()


def test_rsa_to_dict_carries_the_modulus():
    numbers = signing_key("PS256").public_key.public_numbers()
    assert bound("PS256").to_dict()["n"] == numbers.n


def _registry_snapshot() -> tuple[dict, frozenset, frozenset]:
    return dict(JOSE_ALGORITHMS.KEYS), frozenset(JOSE_ALGORITHMS.SUPPORTED), frozenset(JOSE_ALGORITHMS.ALL)


def test_python_jose_registry_untouched_in_process():
    """Binding and verifying every algorithm registers nothing in python-jose."""
    before = _registry_snapshot()
    for alg in ALL_ALGORITHMS:
        assert verify_signature(bound(alg), MESSAGE, signing_key(alg).sign(MESSAGE))
    assert _registry_snapshot() == before
    assert jwk.get_key("PS256") is None
    assert jwk.get_key("EdDSA") is None


def test_python_jose_registry_untouched_by_import():
    """Importing jwt_guard and verifying PS256/EdDSA tokens leaves the registry as python-jose ships it."""
    script = textwrap.dedent(
        """
        from jose.constants import ALGORITHMS
        from jose import jwk

        def snapshot():
            return (dict(ALGORITHMS.KEYS), sorted(ALGORITHMS.SUPPORTED), sorted(ALGORITHMS.ALL),
                    jwk.get_key("PS256"), jwk.get_key("EdDSA"))

        before = snapshot()
        from jwt_guard.testing import LocalIssuer
        for alg in ("PS256", "EdDSA", "RS256", "ES256"):
            issuer = LocalIssuer(algorithm=alg)
            assert issuer.verifier().verify(issuer.token()).subject == "user-1"
        after = snapshot()
        assert before == after, (before, after)
        print("unchanged")
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "unchanged"


_VERIFY_EVERY_ALGORITHM = """
import sys
from jwt_guard import Verifier
from jwt_guard.testing import LocalIssuer, SigningKey

for alg in sys.argv[1:]:
    issuer = LocalIssuer("https://idp.example.test/", keys=[SigningKey(alg)])
    with issuer.verifier() as verifier:
        assert verifier.verify(issuer.token(scope="read")).has_scopes("read")
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"ecdsa", "rsa", "pyasn1"})
print(",".join(loaded) or "none")
"""


def test_python_jose_pure_python_backends_are_never_loaded():
    """python-jose requires ecdsa, rsa and pyasn1 for its pure-Python
    backends; jwt_guard only ever uses its cryptography backend, so a fresh
    interpreter that verified tokens of every algorithm has loaded none of
    them (ecdsa has known timing side channels; they must stay unused)."""
    from jwt_guard._config import ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS

    algorithms = sorted(ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS)
    completed = subprocess.run(
        [sys.executable, "-c", _VERIFY_EVERY_ALGORITHM, *algorithms],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "none"
