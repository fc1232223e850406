"""Configured keys: what ``keys=`` and ``secret=`` accept, and what they refuse.

``keys=`` takes public material only (a JWK Set or JWK mapping, PEM public
keys or certificates); ``secret=`` takes a shared secret for the HS*
algorithms (bytes, or a JWK Set of ``oct`` keys). The two never mix: a public
key used as an HMAC secret lets anyone who holds the public key mint tokens
(the RS256 to HS256 confusion), so bytes that are recognisably key material
or a key document (JSON, PEM, DER, an SSH public key, an EC point) are
refused as a secret with a message naming what they are, and nothing here
ever suggests an HS* algorithm for material that looks public.

Pure: runs once, at construction.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from jwt_guard._config import HMAC_ALGORITHMS
from jwt_guard._events import logger
from jwt_guard._keys import KeySet, keyset_from_jwks, keyset_from_pem, keyset_from_secret
from jwt_guard.errors import ConfigurationError

__all__ = ["SecretSource", "StaticKeySource", "configured_keyset", "recognise_key_material", "refuse_public_secret"]

#: What ``keys=`` accepts: a JWKS (or single JWK) mapping of public keys, PEM
#: text (one or more public keys or certificates) or a list of PEM texts.
StaticKeySource = Mapping[str, Any] | str | bytes | Sequence[str | bytes]
#: What ``secret=`` accepts: the shared secret's bytes, or a JWK Set (or JWK)
#: mapping of ``oct`` keys (several secrets, told apart by ``kid``).
SecretSource = bytes | bytearray | Mapping[str, Any]

_PEM_LABEL = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")
# RFC 4253 §6.6 key type names, and the FIDO (sk-) variants of OpenSSH.
_SSH_PREFIXES = (b"ssh-rsa", b"ssh-dss", b"ssh-ed25519", b"ssh-ed448", b"ecdsa-sha2-", b"sk-ssh-", b"sk-ecdsa-")
_SSH_BLOB_TYPES = (b"ssh-", b"ecdsa-sha2-", b"sk-")
# Uncompressed SEC 1 points (0x04 || X || Y) of the curves jwt_guard knows.
_EC_POINT_CURVES: dict[int, ec.EllipticCurve] = {65: ec.SECP256R1(), 97: ec.SECP384R1(), 133: ec.SECP521R1()}
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/\r\n]+={0,2}")


def _der_kind(data: bytes) -> str | None:
    loaders = (
        (serialization.load_der_public_key, "public key"),
        (x509.load_der_x509_certificate, "X.509 certificate"),
    )
    for load, kind in loaders:
        try:
            load(data)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
        return kind
    try:
        serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return None
    return "private key"


def _ssh_blob(data: bytes) -> bool:
    """An SSH public key blob: a length-prefixed key type name (RFC 4253 §6.6)."""
    if len(data) < 8:
        return False
    length = int.from_bytes(data[:4], "big")
    return 0 < length <= 64 and data[4 : 4 + length].startswith(_SSH_BLOB_TYPES)


def recognise_key_material(data: bytes) -> str | None:
    """What *data* is when it is key material or a key document rather than
    an opaque secret (``"a DER-encoded public key"``, ``"a JSON document"``,
    ...), else ``None``.

    Recognised: JSON objects and arrays (a JWK, a JWK Set), PEM blocks of any
    kind, DER public keys, certificates and private keys (raw or base64, that
    is PEM without its armour), OpenSSH public keys (as a line or a base64
    blob) and uncompressed EC points. A raw Ed25519 key or RSA modulus looks
    like random bytes and cannot be told apart from a secret.
    """
    stripped = data.strip()
    if stripped[:1] in (b"{", b"["):
        try:
            document = json.loads(stripped)
        except (ValueError, UnicodeDecodeError):
            document = None
        if isinstance(document, (dict, list)):
            return "a JSON document (a JWK or JWK Set?)"
    label = _PEM_LABEL.search(stripped)
    if label is not None:
        return f"PEM text ({label.group(1).decode().lower()})"
    if stripped.startswith(_SSH_PREFIXES) or stripped.startswith(b"---- BEGIN SSH2"):
        return "an OpenSSH public key"
    kind = _der_kind(data)
    if kind is not None:
        return f"a DER-encoded {kind}"
    if _BASE64_TEXT.fullmatch(stripped):
        try:
            decoded = base64.b64decode(stripped, validate=False)
        except (ValueError, binascii.Error):
            decoded = b""
        if _ssh_blob(decoded):
            return "an OpenSSH public key (base64)"
        kind = _der_kind(decoded) if decoded else None
        if kind is not None:
            return f"a base64 DER-encoded {kind} (PEM without its BEGIN/END lines)"
    curve = _EC_POINT_CURVES.get(len(data))
    if curve is not None and data[:1] == b"\x04":
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(curve, data)
        except ValueError:
            return None
        return "an uncompressed EC public key point"
    return None


def _public_keyset(keys: StaticKeySource, algorithms: frozenset[str]) -> KeySet:
    if isinstance(keys, Mapping):
        document = keys if "keys" in keys else {"keys": [dict(keys)]}
        entries = document["keys"]
        if isinstance(entries, list) and any(isinstance(e, Mapping) and e.get("kty") == "oct" for e in entries):
            raise ConfigurationError(
                "keys holds a symmetric (oct) key: keys= takes public keys only; pass shared secrets as secret="
            )
        _refuse_hmac(algorithms)
        keyset, skipped = keyset_from_jwks(document, algorithms, max_keys=10_000)
        for item in skipped:
            logger.warning("jwt_guard: configured key %s (kid=%r) skipped: %s", item.index, item.kid, item.reason)
        return keyset
    if isinstance(keys, (str, bytes, bytearray)):
        items: Sequence[str | bytes] = [keys]
    elif isinstance(keys, (list, tuple)):
        items = keys
    else:
        raise ConfigurationError(f"keys must be a JWK Set mapping or PEM text, not {type(keys).__name__}")
    for pem in items:
        _check_pem(pem)
    _refuse_hmac(algorithms)
    return keyset_from_pem(list(items), algorithms)


def _check_pem(item: object) -> None:
    if not isinstance(item, (str, bytes, bytearray)):
        raise ConfigurationError(f"keys entries must be PEM text, not {type(item).__name__}")
    data = item.encode() if isinstance(item, str) else bytes(item)
    if b"-----BEGIN" in data:
        return
    what = recognise_key_material(data)
    if what is None:
        raise ConfigurationError(
            "keys takes public keys (PEM text or a JWK Set mapping); these bytes are neither. "
            "A shared secret goes in secret=, never in keys="
        )
    if what.startswith("a JSON"):
        hint = "pass the parsed mapping (json.loads), or the file's text through load_key_file"
    elif "OpenSSH" in what:
        hint = "convert it to PEM (ssh-keygen -e -m PKCS8 -f key.pub)"
    else:
        hint = "pass it PEM-encoded"
    raise ConfigurationError(f"keys: these bytes are {what}, which keys= does not read; {hint}")


def _refuse_hmac(algorithms: frozenset[str]) -> None:
    if algorithms & HMAC_ALGORITHMS:
        # Never steer public keys towards HMAC: say what they are good for.
        raise ConfigurationError(
            "keys holds public keys, which never verify HS* tokens (HS256/384/512 need a shared secret, secret=); "
            "public keys verify RS*, PS*, ES* and EdDSA tokens"
        )


def _secret_keyset(secret: object, algorithms: frozenset[str]) -> KeySet:
    if isinstance(secret, Mapping):
        document = secret if "keys" in secret else {"keys": [dict(secret)]}
        entries = document["keys"]
        if not isinstance(entries, list):
            raise ConfigurationError("secret must be bytes or a JWK Set of oct keys")
        for entry in entries:
            kty = entry.get("kty") if isinstance(entry, Mapping) else None
            if kty != "oct":
                raise ConfigurationError(
                    f"secret holds a {kty or 'non-oct'} JWK: public keys are never shared secrets; pass them as keys="
                )
        _require_hmac(algorithms)
        keyset, skipped = keyset_from_jwks(document, algorithms, allow_symmetric=True, max_keys=10_000)
        for item in skipped:
            logger.warning("jwt_guard: configured secret %s (kid=%r) skipped: %s", item.index, item.kid, item.reason)
        return keyset
    if not isinstance(secret, (bytes, bytearray)):
        raise ConfigurationError(
            f"secret must be bytes (encode text explicitly, e.g. value.encode()), not {type(secret).__name__}"
        )
    refuse_public_secret(bytes(secret), "secret")
    _require_hmac(algorithms)
    return keyset_from_secret(bytes(secret), algorithms)


def refuse_public_secret(data: bytes, what: str) -> None:
    """Raise :class:`ConfigurationError` naming *what* when *data*, offered
    as a shared secret, is recognisably key material (see
    :func:`recognise_key_material`)."""
    kind = recognise_key_material(data)
    if kind is None:
        return
    if kind.startswith("a JSON"):
        raise ConfigurationError(
            f"{what} is {kind}, not the bytes of a shared secret: pass a JWK Set of oct keys as a mapping "
            "(json.loads); public keys go in keys="
        )
    raise ConfigurationError(
        f"{what} is {kind}, not a shared secret: key material used as an HMAC secret lets anyone who holds the "
        "public key forge tokens. Public keys (PEM, JWK Set) go in keys= and verify RS*, PS*, ES* and EdDSA tokens"
    )


def _require_hmac(algorithms: frozenset[str]) -> None:
    if not algorithms & HMAC_ALGORITHMS:
        raise ConfigurationError(
            "a shared secret verifies HS* tokens only: set algorithms=['HS256'] (or HS384/HS512) with secret="
        )


def configured_keyset(
    keys: StaticKeySource | None, secret: SecretSource | None, algorithms: Iterable[str]
) -> KeySet | None:
    """The static key set of ``keys=`` or ``secret=`` (``None`` when neither
    is given). Raises :class:`ConfigurationError`."""
    allowed = frozenset(algorithms)
    if keys is not None and secret is not None:
        raise ConfigurationError("pass either keys (public keys) or secret (a shared secret), not both")
    if keys is None and secret is None:
        if allowed & HMAC_ALGORITHMS:
            raise ConfigurationError("HS* algorithms need a configured shared secret (secret=b'...')")
        return None
    try:
        keyset = _public_keyset(keys, allowed) if keys is not None else _secret_keyset(secret, allowed)
    except ConfigurationError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"unusable {'keys' if keys is not None else 'secret'}: {exc}") from exc
    if not len(keyset):
        raise ConfigurationError(
            f"{'keys' if keys is not None else 'secret'} holds no key usable with the configured algorithms"
        )
    return keyset
