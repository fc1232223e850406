"""Key sets: JWKS documents, PEM keys and shared secrets turned into
verification keys, each bound to one algorithm, indexed by ``kid``.

Pure: no I/O. Built once per fetch (or once at construction for static
keys), never per request. A bad key is skipped on its own with a reason; it
never spoils the rest of the set.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jwt_guard._config import ASYMMETRIC_ALGORITHMS
from jwt_guard._jose import SignatureKey, bind_key
from jwt_guard._token import b64url_encode

__all__ = [
    "BoundKey",
    "KeyDescription",
    "KeySet",
    "describe_jwks",
    "keyset_from_jwks",
    "keyset_from_pem",
    "keyset_from_secret",
    "message_public_key",
]

logger = logging.getLogger("jwt_guard")

MIN_RSA_BITS = 2048
MIN_SECRET_BYTES = 32
_CURVES: dict[str, tuple[type[ec.EllipticCurve], str, int]] = {
    # crv: (curve, the one alg it serves, coordinate size in bytes)
    "P-256": (ec.SECP256R1, "ES256", 32),
    "P-384": (ec.SECP384R1, "ES384", 48),
    "P-521": (ec.SECP521R1, "ES512", 66),
}
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_HMAC_MIN = {"HS256": 32, "HS384": 48, "HS512": 64}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})
_B64URL_FIELD = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class BoundKey:
    """One verification key bound to one algorithm."""

    __slots__ = ("alg", "key", "kid")

    def __init__(self, kid: str | None, alg: str, key: SignatureKey) -> None:
        self.kid = kid
        self.alg = alg
        self.key = key

    def __repr__(self) -> str:
        return f"BoundKey(kid={self.kid!r}, alg={self.alg!r})"


class KeySet:
    """Verification keys indexed by ``(kid, alg)``.

    :meth:`find` implements the selection rule. A token naming a ``kid`` gets
    the key with that ``kid`` bound to its ``alg``; failing that, the key set's
    only key *without* a ``kid`` that fits the ``alg`` (static PEM keys and
    shared secrets have none). A token naming no ``kid`` is accepted only
    when exactly one key in the whole set fits its ``alg``.
    """

    __slots__ = ("_anonymous", "_by_kid", "_kids", "_sole", "fingerprint", "size")

    def __init__(self, keys: Iterable[BoundKey], fingerprint: frozenset[str]) -> None:
        by_kid: dict[tuple[str, str], BoundKey] = {}
        per_alg: dict[str, list[BoundKey]] = {}
        anonymous: dict[str, list[BoundKey]] = {}
        for bound in keys:
            if bound.kid is None:
                anonymous.setdefault(bound.alg, []).append(bound)
            else:
                by_kid.setdefault((bound.kid, bound.alg), bound)
            per_alg.setdefault(bound.alg, []).append(bound)
        self._by_kid = by_kid
        self._kids = frozenset(kid for kid, _ in by_kid)
        self._sole = {alg: found[0] for alg, found in per_alg.items() if len(found) == 1}
        self._anonymous = {alg: found[0] for alg, found in anonymous.items() if len(found) == 1}
        #: Identifies the key material; equal fingerprints mean equal sets.
        self.fingerprint = fingerprint
        #: Number of distinct keys in the set.
        self.size = len(fingerprint)

    def find(self, kid: str | None, alg: str) -> BoundKey | None:
        if kid is None:
            return self._sole.get(alg)
        return self._by_kid.get((kid, alg)) or self._anonymous.get(alg)

    def has_kid(self, kid: str) -> bool:
        return kid in self._kids

    @property
    def kids(self) -> frozenset[str]:
        return self._kids

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return f"KeySet(kids={sorted(self._kids)!r}, size={self.size})"


@dataclass(frozen=True)
class Skipped:
    """A key left out of a set, and why (for logs and events)."""

    index: int
    kid: str | None
    reason: str


def _b64url_uint(jwk: Mapping[str, Any], name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not _B64URL_FIELD.fullmatch(value):
        raise ValueError(f"'{name}' is missing or not base64url")
    stripped = value.rstrip("=")
    if len(stripped) % 4 == 1:
        raise ValueError(f"'{name}' is not base64url")
    return binascii.a2b_base64(stripped.translate(str.maketrans("-_", "+/")) + "=" * (-len(stripped) % 4))


def _public_key_from_jwk(jwk: Mapping[str, Any]) -> tuple[object, tuple[str, ...], str]:
    """Return (public key, algorithms it can serve, fingerprint material)."""
    kty = jwk.get("kty")
    if kty == "RSA":
        n_bytes = _b64url_uint(jwk, "n")
        e_bytes = _b64url_uint(jwk, "e")
        n = int.from_bytes(n_bytes, "big")
        e = int.from_bytes(e_bytes, "big")
        if n.bit_length() < MIN_RSA_BITS:
            raise ValueError(f"RSA modulus shorter than {MIN_RSA_BITS} bits")
        if n.bit_length() > 16384 or e < 3 or e % 2 == 0 or e.bit_length() > 64:
            raise ValueError("RSA parameters out of range")
        key = rsa.RSAPublicNumbers(e, n).public_key()
        return key, _RSA_ALGS, f"RSA:{n:x}:{e:x}"
    if kty == "EC":
        crv = jwk.get("crv")
        if not isinstance(crv, str) or crv not in _CURVES:
            raise ValueError("unsupported EC curve")
        curve, alg, size = _CURVES[crv]
        x_bytes = _b64url_uint(jwk, "x")
        y_bytes = _b64url_uint(jwk, "y")
        # RFC 7518 §6.2.1.2: coordinates are full-length octet strings.
        if len(x_bytes) != size or len(y_bytes) != size:
            raise ValueError("EC coordinates have the wrong length")
        ec_key = ec.EllipticCurvePublicKey.from_encoded_point(curve(), b"\x04" + x_bytes + y_bytes)
        return ec_key, (alg,), f"EC:{crv}:{x_bytes.hex()}:{y_bytes.hex()}"
    if kty == "OKP":
        if jwk.get("crv") != "Ed25519":
            raise ValueError("unsupported OKP curve")
        x_bytes = _b64url_uint(jwk, "x")
        if len(x_bytes) != 32:
            raise ValueError("Ed25519 public key has the wrong length")
        return ed25519.Ed25519PublicKey.from_public_bytes(x_bytes), ("EdDSA",), f"OKP:{x_bytes.hex()}"
    if kty == "oct":
        secret = _b64url_uint(jwk, "k")
        return secret, tuple(_HMAC_MIN), "oct:" + hashlib.sha256(secret).hexdigest()
    raise ValueError("unsupported key type")


def message_public_key(jwk: Mapping[str, Any]) -> tuple[object, tuple[str, ...], str]:
    """The public key a message carries in a ``jwk`` member (a DPoP proof's
    header, RFC 9449 §4.2): (key, algorithms it can serve, RFC 7638 thumbprint).

    Stricter than a key-set entry, since the sender chooses the key: private
    members and symmetric keys are refused outright, and the members the
    thumbprint covers must be in their one canonical form (RFC 7518 §2 and
    §6: unpadded base64url, minimal-length integers, full-length EC
    coordinates), so that one key has exactly one thumbprint. The usual
    rules hold as well: RSA of at least 2048 bits, EC points on their curve,
    ``use``/``key_ops`` allowing signatures. Raises :class:`ValueError`.
    """
    if jwk.get("kty") == "oct" or "k" in jwk:
        raise ValueError("a symmetric key is not a public key")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise ValueError("key has private members")
    _check_jwk_use(jwk)
    key, candidates, _ = _public_key_from_jwk(jwk)
    canonical = public_jwk(key)
    if any(jwk.get(name) != value for name, value in canonical.items()):
        raise ValueError("key members are not in canonical form")
    return key, candidates, thumbprint(canonical)


def _check_jwk_use(jwk: Mapping[str, Any]) -> None:
    use = jwk.get("use")
    if use is not None and use != "sig":
        raise ValueError("key is not for signatures (use)")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ValueError("key does not allow verify (key_ops)")
    kid = jwk.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise ValueError("kid is not a string")


def _bind_all(
    kid: str | None,
    key: object,
    candidates: Sequence[str],
    jwk_alg: object,
    allowed: frozenset[str],
) -> list[BoundKey]:
    if jwk_alg is not None:
        if not isinstance(jwk_alg, str) or jwk_alg not in candidates:
            raise ValueError("key alg does not fit the key type")
        candidates = (jwk_alg,)
    if isinstance(key, bytes):
        candidates = [alg for alg in candidates if len(key) >= _HMAC_MIN[alg]]
    usable = [alg for alg in candidates if alg in allowed]
    if not usable:
        raise ValueError("key serves no allowed algorithm")
    return [BoundKey(kid, alg, bind_key(key, alg)) for alg in usable]


def keyset_from_jwks(
    document: object,
    allowed: frozenset[str],
    *,
    allow_symmetric: bool = False,
    max_keys: int = 100,
) -> tuple[KeySet, list[Skipped]]:
    """Build a :class:`KeySet` from a JWKS document (RFC 7517 §5).

    Keys that are unusable (unknown type, private members, wrong ``use`` or
    ``key_ops``, too weak, ``alg`` not allowed, symmetric keys from a remote
    set) are skipped one by one and reported. Raises :class:`ValueError` when
    the document itself is not a JWKS.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set: expected an object with a 'keys' array")
    entries: list[Any] = document["keys"]
    skipped: list[Skipped] = []
    if len(entries) > max_keys:
        skipped.extend(Skipped(i, None, "too many keys in the set") for i in range(max_keys, len(entries)))
        entries = entries[:max_keys]
    bound: list[BoundKey] = []
    fingerprint: set[str] = set()
    seen_kids: set[tuple[str | None, str]] = set()
    for index, jwk in enumerate(entries):
        kid = jwk.get("kid") if isinstance(jwk, Mapping) else None
        kid = kid if isinstance(kid, str) else None
        try:
            if not isinstance(jwk, Mapping):
                raise ValueError("key is not an object")
            _check_jwk_use(jwk)
            kty = jwk.get("kty")
            if kty == "oct" and not allow_symmetric:
                raise ValueError("symmetric keys are never taken from a remote key set")
            if kty != "oct" and _PRIVATE_MEMBERS.intersection(jwk):
                raise ValueError("key has private members")
            key, candidates, material = _public_key_from_jwk(jwk)
            keys = _bind_all(kid, key, candidates, jwk.get("alg"), allowed)
            # Kid-less keys are never duplicates of each other: KeySet.find
            # refuses a kid-less token when several of them fit its alg.
            duplicate = [b for b in keys if b.kid is not None and (b.kid, b.alg) in seen_kids]
            if duplicate:
                raise ValueError("duplicate kid")
        except (ValueError, TypeError, OverflowError) as exc:
            skipped.append(Skipped(index, kid, str(exc)))
            continue
        seen_kids.update((b.kid, b.alg) for b in keys)
        bound.extend(keys)
        fingerprint.add(f"{kid}|{jwk.get('alg')}|{material}")
    return KeySet(bound, frozenset(fingerprint)), skipped


def _load_pem_public(block: bytes) -> object:
    if b"PRIVATE KEY" in block:
        raise ValueError("a private key was given; configure the public key instead")
    if b"CERTIFICATE" in block:
        return x509.load_pem_x509_certificate(block).public_key()
    return serialization.load_pem_public_key(block)


_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.DOTALL)


def keyset_from_pem(pems: str | bytes | Sequence[str | bytes], allowed: frozenset[str]) -> KeySet:
    """Build a :class:`KeySet` from one or more PEM public keys or certificates.

    PEM keys have no ``kid``: see :meth:`KeySet.find` for how tokens reach
    them. Raises :class:`ValueError`.
    """
    if isinstance(pems, (str, bytes)):
        pems = [pems]
    bound: list[BoundKey] = []
    fingerprint: set[str] = set()
    for pem in pems:
        data = pem.encode() if isinstance(pem, str) else bytes(pem)
        blocks = [m.group(0) for m in _PEM_BLOCK.finditer(data)]
        if not blocks:
            raise ValueError("no PEM block found")
        for block in blocks:
            key = _load_pem_public(block)
            candidates, material = _candidates_for(key)
            bound.extend(_bind_all(None, key, candidates, None, allowed))
            fingerprint.add(material)
    return KeySet(bound, frozenset(fingerprint))


def _candidates_for(key: object) -> tuple[tuple[str, ...], str]:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA key shorter than {MIN_RSA_BITS} bits")
        return _RSA_ALGS, f"RSA:{key.public_numbers().n:x}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _CURVE_NAMES.get(key.curve.name)
        if crv is None:
            raise ValueError(f"unsupported EC curve {key.curve.name}")
        return (_CURVES[crv][1],), f"EC:{crv}:{key.public_numbers().x:x}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("EdDSA",), "OKP:" + key.public_bytes_raw().hex()
    raise ValueError(f"unsupported key type {type(key).__name__}")


def keyset_from_secret(secret: bytes, allowed: frozenset[str]) -> KeySet:
    """Build a :class:`KeySet` holding one shared secret for the HS* algorithms."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"a shared secret must be at least {MIN_SECRET_BYTES} bytes")
    hs = [alg for alg in _HMAC_MIN if alg in allowed]
    if not hs:
        raise ValueError("a shared secret needs algorithms=['HS256'] (or HS384/HS512)")
    keys = _bind_all(None, bytes(secret), hs, None, allowed)
    return KeySet(keys, frozenset({"oct:" + hashlib.sha256(secret).hexdigest()}))


def _uint(value: int, size: int | None = None) -> str:
    length = size if size is not None else max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(length, "big"))


def public_jwk(key: object) -> dict[str, str]:
    """The public JWK (RFC 7517) of a ``cryptography`` public key."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"kty": "RSA", "e": _uint(numbers.e), "n": _uint(numbers.n)}
    if isinstance(key, ec.EllipticCurvePublicKey):
        crv = _CURVE_NAMES.get(key.curve.name)
        if crv is None:
            raise ValueError(f"unsupported EC curve {key.curve.name}")
        size = _CURVES[crv][2]
        pub = key.public_numbers()
        return {"kty": "EC", "crv": crv, "x": _uint(pub.x, size), "y": _uint(pub.y, size)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(key.public_bytes_raw())}
    raise ValueError(f"unsupported key type {type(key).__name__}")


def thumbprint(jwk: Mapping[str, str]) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url)."""
    required = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}
    members = {name: jwk[name] for name in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


# -- diagnostics -------------------------------------------------------------------


@dataclass(frozen=True)
class KeyDescription:
    """One entry of a JWK Set as diagnostics show it: no key material, only
    its public parameters' shape, its RFC 7638 thumbprint, and what the
    allowlist lets it verify (or why it is left out)."""

    index: int
    kid: str | None
    kty: str | None
    alg: str | None
    use: str | None
    #: ``"2048 bits"`` for RSA, the curve for EC and OKP keys.
    size: str | None
    thumbprint: str | None
    #: The allowed algorithms this key verifies; empty when it is left out.
    algorithms: tuple[str, ...]
    #: Why the key is left out, if it is.
    problem: str | None


def _member(jwk: Mapping[str, Any], name: str) -> str | None:
    value = jwk.get(name)
    if isinstance(value, str) and len(value) <= 100 and value.isprintable():
        return value
    return None if value is None else f"<{type(value).__name__}>"


def _key_size(jwk: Mapping[str, Any]) -> str | None:
    kty = jwk.get("kty")
    try:
        if kty == "RSA":
            return f"{int.from_bytes(_b64url_uint(jwk, 'n'), 'big').bit_length()} bits"
    except ValueError:
        return None
    if kty in ("EC", "OKP"):
        return _member(jwk, "crv")
    return None


def _thumbprint(jwk: Mapping[str, Any]) -> str | None:
    try:
        return thumbprint({name: value for name, value in jwk.items() if isinstance(value, str)})
    except (KeyError, TypeError):
        return None


def _usable(jwk: Mapping[str, Any], allowed: frozenset[str], allow_symmetric: bool) -> tuple[str, ...]:
    keyset, _ = keyset_from_jwks({"keys": [jwk]}, allowed, allow_symmetric=allow_symmetric, max_keys=1)
    kid = jwk.get("kid") if isinstance(jwk.get("kid"), str) else None
    return tuple(alg for alg in sorted(allowed) if keyset.find(kid, alg) is not None)


def describe_jwks(
    document: object,
    allowed: frozenset[str],
    *,
    allow_symmetric: bool = False,
    max_keys: int = 100,
) -> list[KeyDescription]:
    """Describe each key of a JWKS *document* with the rules of
    :func:`keyset_from_jwks` (the same reasons for leaving a key out).

    Raises :class:`ValueError` when the document is not a JWK Set.
    """
    _, skipped = keyset_from_jwks(document, allowed, allow_symmetric=allow_symmetric, max_keys=max_keys)
    reasons = {item.index: item.reason for item in skipped}
    assert isinstance(document, Mapping)
    described = []
    for index, jwk in enumerate(document["keys"]):
        if not isinstance(jwk, Mapping):
            described.append(KeyDescription(index, None, None, None, None, None, None, (), reasons.get(index)))
            continue
        problem = reasons.get(index)
        algorithms: tuple[str, ...] = ()
        if problem is None:
            algorithms = _usable(jwk, allowed, allow_symmetric)
        elif problem == "key serves no allowed algorithm":
            could = _usable(jwk, ASYMMETRIC_ALGORITHMS, False)
            if could:
                problem = f"key serves {', '.join(could)}, none of them in the allowlist"
        described.append(
            KeyDescription(
                index=index,
                kid=_member(jwk, "kid"),
                kty=_member(jwk, "kty"),
                alg=_member(jwk, "alg"),
                use=_member(jwk, "use"),
                size=_key_size(jwk),
                thumbprint=_thumbprint(jwk) if jwk.get("kty") in ("RSA", "EC", "OKP") else None,
                algorithms=algorithms,
                problem=problem,
            )
        )
    return described
