"""The attack corpus: named hostile tokens as reusable data.

Each :class:`Attack` builds one raw token from an :class:`AttackKit` and names
the exact :class:`~jwt_guard.InvalidToken` subclass the verifier must answer.
The corpus is plain data so that every face of jwt_guard can be held to it:
``Verifier.verify`` / ``verify_async`` with static or fetched keys here, and the
ASGI/WSGI adapters later (see :func:`expected_http_status`)::

    kit = AttackKit(issuer)          # publishes the victim keys through *issuer*
    verifier = kit.verifier()        # or any verifier for issuer's JWKS
    for attack in corpus():
        token = attack.token(kit)
        ...                          # must raise exactly attack.expected

Build the kit before the verifier (or before the key server starts serving):
it adds the victim keys the attacks aim at to the issuer's published JWKS.
Attacker keys are never published. Tokens carry the issuer's claims at the
issuer's clock, so a verifier on the same clock with the default leeway sees
each attack exactly as described.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa
from cryptography.x509.oid import NameOID

from jwt_guard import (
    ExpiredToken,
    InvalidAudience,
    InvalidClaim,
    InvalidIssuer,
    InvalidRequest,
    InvalidSignature,
    InvalidToken,
    InvalidTokenType,
    MalformedToken,
    MissingClaim,
    NotYetValid,
    TokenTooLarge,
    UnknownKey,
    UnsupportedAlgorithm,
    Verifier,
)
from jwt_guard._config import DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE
from jwt_guard._guard import parse_authorization
from jwt_guard.testing import LocalIssuer, SigningKey, b64url

__all__ = [
    "CATEGORIES",
    "Attack",
    "AttackKit",
    "attacker_key",
    "by_category",
    "corpus",
    "expected_http_status",
]

MIB = 1024 * 1024

# -- keys ------------------------------------------------------------------

_KEYS: dict[tuple[str, str, int], SigningKey] = {}


def _key(kid: str, alg: str, *, rsa_bits: int = 2048) -> SigningKey:
    """A process-wide signing key per (kid, alg): key generation is slow."""
    name = (kid, alg, rsa_bits)
    if name not in _KEYS:
        _KEYS[name] = SigningKey(alg, kid=kid, rsa_bits=rsa_bits)
    return _KEYS[name]


def attacker_key(alg: str) -> SigningKey:
    """The attacker's own key for *alg* (never published)."""
    return _key(f"attacker-{alg.lower()}", alg)


# The kids of the victim keys an AttackKit publishes.
RS256_KID = "victim-rs256"
PS256_KID = "victim-ps256"
ES256_KID = "victim-es256"
ES384_KID = "victim-es384"
EDDSA_KID = "victim-eddsa"
ANY_RSA_KID = "victim-rsa-any-alg"  # published without "alg": serves RS* and PS*
ENC_KID = "victim-rsa-use-enc"  # published with use=enc: never a signing key
WEAK_KID = "victim-rsa-1024"  # too short: skipped from the set
ED448_KID = "victim-ed448"  # EdDSA on a curve jwt_guard does not support
OCT_KID = "victim-oct"  # a shared secret published in the JWKS (a misconfiguration)
_OCT_SECRET = b"a-shared-secret-published-by-mistake-0123456789"
_ED448: list[ed448.Ed448PrivateKey] = []


def _ed448_key() -> ed448.Ed448PrivateKey:
    if not _ED448:
        _ED448.append(ed448.Ed448PrivateKey.generate())
    return _ED448[0]


def _ed448_jwk() -> dict[str, Any]:
    raw = _ed448_key().public_key().public_bytes_raw()
    return {"kty": "OKP", "crv": "Ed448", "x": b64url(raw), "kid": ED448_KID, "alg": "EdDSA", "use": "sig"}


def _oct_jwk() -> dict[str, Any]:
    return {"kty": "oct", "k": b64url(_OCT_SECRET), "kid": OCT_KID, "alg": "HS256", "use": "sig"}


class AttackKit:
    """Victim keys, attacker keys and token-building helpers for one issuer.

    Constructing a kit publishes these keys through *issuer* (once):

    * ``victim-rs256``, ``victim-ps256``, ``victim-es256``, ``victim-es384``,
      ``victim-eddsa``: ordinary keys, each bound to its ``alg``;
    * ``victim-rsa-any-alg``: an RSA key published without ``alg``, so it
      serves every RS*/PS* algorithm (several providers publish keys so);
    * ``victim-rsa-use-enc`` (``use: enc``), ``victim-rsa-1024`` (too weak),
      ``victim-ed448`` (unsupported curve) and ``victim-oct`` (a shared secret
      published by mistake): present in the JWKS, never usable to verify.

    With two keys able to verify RS256, a token without ``kid`` claiming
    RS256 never finds a key, whatever keys the issuer had before.
    """

    def __init__(self, issuer: LocalIssuer, *, leeway: float = DEFAULT_LEEWAY) -> None:
        self.issuer = issuer
        self.leeway = leeway
        self.max_token_size = DEFAULT_MAX_TOKEN_SIZE
        published = {key.kid for key in issuer.keys}
        for kid, alg in (
            (RS256_KID, "RS256"),
            (PS256_KID, "PS256"),
            (ES256_KID, "ES256"),
            (ES384_KID, "ES384"),
            (EDDSA_KID, "EdDSA"),
        ):
            if kid not in published:
                issuer.add_key(alg, kid=kid, private_key=_key(kid, alg).private_key)
        raw_kids = {jwk.get("kid") for jwk in issuer.jwks()["keys"]}
        for jwk in (_ed448_jwk(), _oct_jwk()):
            if jwk["kid"] not in raw_kids:
                issuer.publish_raw(jwk)
        for key, extra in (
            (_key(ANY_RSA_KID, "RS256"), {"alg": None}),
            (_key(ENC_KID, "RS256"), {"use": "enc"}),
            (_key(WEAK_KID, "RS256", rsa_bits=1024), {}),
        ):
            if key.kid not in raw_kids:
                issuer.publish_raw(key.public_jwk(**extra))
        self.rs256 = _key(RS256_KID, "RS256")
        self.ps256 = _key(PS256_KID, "PS256")
        self.es256 = _key(ES256_KID, "ES256")
        self.es384 = _key(ES384_KID, "ES384")
        self.eddsa = _key(EDDSA_KID, "EdDSA")
        self.any_rsa = _key(ANY_RSA_KID, "RS256")
        self.any_rsa_pss = SigningKey("PS256", kid=ANY_RSA_KID, private_key=self.any_rsa.private_key)
        self.enc_rsa = _key(ENC_KID, "RS256")
        self.weak_rsa = _key(WEAK_KID, "RS256", rsa_bits=1024)

    # -- what a verifier needs ---------------------------------------------

    @property
    def now(self) -> float:
        return float(self.issuer.clock())

    def jwks(self) -> dict[str, Any]:
        """The published JWK Set (victim keys included)."""
        return self.issuer.jwks()

    def verifier(self, **options: Any) -> Verifier:
        """A static-key verifier for the issuer, on the issuer's clock."""
        options.setdefault("issuer", self.issuer.issuer)
        options.setdefault("audience", self.issuer.audience)
        options.setdefault("clock", self.issuer.clock)
        # keys= takes public keys only: the published shared secret (a
        # misconfiguration of the remote set) stays out of a static set.
        public = [jwk for jwk in self.jwks()["keys"] if jwk.get("kty") != "oct"]
        options.setdefault("keys", {"keys": public})
        return Verifier(**options)

    # -- building tokens ---------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid claims for this issuer and audience (``None`` drops a claim)."""
        return self.issuer.claims(**overrides)

    def valid(self, key: SigningKey | None = None, **claims: Any) -> str:
        """A token the verifier must accept (the control for every attack)."""
        return self.issuer.token(key=key or self.rs256, **claims)

    def sign(
        self,
        payload: Mapping[str, Any] | bytes,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
    ) -> str:
        """Sign *payload* (claims or raw bytes) with *key*; *headers* override."""
        return self.issuer.sign(payload, key=key or self.rs256, headers=headers)

    def signed_claims(self, key: SigningKey | None = None, **overrides: Any) -> str:
        """A correctly signed token whose claims carry *overrides* verbatim
        (``None`` becomes JSON ``null``; use :data:`DROP` to leave a claim out)."""
        claims = self.claims()
        for name, value in overrides.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return self.sign(claims, key)

    def compose(self, header: Mapping[str, Any] | bytes, payload: Mapping[str, Any] | bytes, signature: bytes) -> str:
        """Assemble a compact JWS from parts, signing nothing."""
        return ".".join((_segment(header), _segment(payload), b64url(signature)))

    def hmac_token(self, secret: bytes, header: Mapping[str, Any], payload: Mapping[str, Any] | None = None) -> str:
        """An HS* token MAC'd with *secret* (whatever the victim might use as one)."""
        signing_input = f"{_segment(header)}.{_segment(payload or self.claims())}"
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[header["alg"]]
        mac = hmac.new(secret, signing_input.encode(), digest).digest()
        return f"{signing_input}.{b64url(mac)}"


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


#: Leave a claim out in :meth:`AttackKit.signed_claims`.
DROP: Any = _Drop()


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _segment(part: Mapping[str, Any] | bytes) -> str:
    return b64url(part if isinstance(part, bytes) else _json(part))


def _split(token: str) -> list[str]:
    return token.split(".")


def _with_segment(token: str, index: int, segment: str) -> str:
    parts = _split(token)
    parts[index] = segment
    return ".".join(parts)


def _signature(token: str) -> bytes:
    segment = _split(token)[2]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _header(key: SigningKey, **extra: Any) -> dict[str, Any]:
    header = {"alg": key.alg, "typ": "at+jwt", "kid": key.kid}
    header.update(extra)
    return {name: value for name, value in header.items() if value is not None}


# -- key encodings an attacker might try as an HMAC secret ----------------


def _spki_pem(key: SigningKey) -> bytes:
    pem: bytes = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem


def _spki_der(key: SigningKey) -> bytes:
    der: bytes = key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


def _openssh(key: SigningKey) -> bytes:
    # CVE-2024-33663: python-jose < 3.4 let an OpenSSH-format ECDSA public
    # key serve as an HMAC secret.
    line: bytes = key.public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return line


def _pkcs1_pem(key: SigningKey) -> bytes:
    pem: bytes = key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1)
    return pem


def _raw_point(key: SigningKey) -> bytes:
    if key.alg == "EdDSA":
        raw: bytes = key.public_key.public_bytes_raw()
        return raw
    point: bytes = key.public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return point


def _confusion(secret: Callable[[AttackKit], bytes], victim: str = "rs256", alg: str = "HS256") -> Callable[..., str]:
    """HS* token keyed with a victim public key in some encoding, naming its kid."""

    def build(kit: AttackKit) -> str:
        key: SigningKey = getattr(kit, victim)
        return kit.hmac_token(secret(kit), {"alg": alg, "typ": "at+jwt", "kid": key.kid})

    return build


def _relabel(signer: str, header_alg: str, kid: str, *, pss: bool = False) -> Callable[..., str]:
    """Sign with the kit's *signer* key (as RS256, or PSS when *pss*) and
    claim *header_alg* under *kid*."""

    def build(kit: AttackKit) -> str:
        key: SigningKey = getattr(kit, signer)
        if pss:
            key = SigningKey("PS256", kid=key.kid, private_key=key.private_key)
        header = {"alg": header_alg, "typ": "at+jwt", "kid": kid}
        return kit.sign(kit.claims(), key, header)

    return build


def _forged(alg: str, kid: str | None, **extra: Any) -> Callable[..., str]:
    """Signed by the attacker's own *alg* key, claiming *kid* (None: no kid)."""

    def build(kit: AttackKit) -> str:
        attacker = attacker_key(alg)
        header = {"alg": alg, "typ": "at+jwt", "kid": kid, **extra}
        return kit.sign(kit.claims(), attacker, header)

    return build


# -- header key injection ----------------------------------------------------


def _attacker_cert(key: SigningKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "attacker.example")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=36500))
        .sign(key.private_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.DER)


def _injected(kid: str | None, alg: str = "RS256", **members: Callable[[SigningKey], Any]) -> Callable[..., str]:
    """Signed by the attacker, carrying header members computed from the
    attacker's key (``jwk``, ``jku``, ``x5c`` …) that point at it."""

    def build(kit: AttackKit) -> str:
        attacker = attacker_key(alg)
        header: dict[str, Any] = {"alg": alg, "typ": "at+jwt", "kid": kid}  # None: no kid
        for name, value in members.items():
            header[name.replace("_", "#")] = value(attacker)
        return kit.sign(kit.claims(), attacker, header)

    return build


def _jwk_of(key: SigningKey) -> dict[str, Any]:
    return key.public_jwk()


def _x5c_of(key: SigningKey) -> list[str]:
    return [base64.b64encode(_attacker_cert(key)).decode()]


def _x5t_s256_of(key: SigningKey) -> str:
    return b64url(hashlib.sha256(_attacker_cert(key)).digest())


def _jku(_: SigningKey) -> str:
    return "https://attacker.example/.well-known/jwks.json"


def _x5u(_: SigningKey) -> str:
    return "https://attacker.example/cert.pem"


def _embedded_oct(kit: AttackKit) -> str:
    secret = b"attacker-chosen-secret-0123456789abcdef"
    header = {"alg": "HS256", "typ": "at+jwt", "jwk": {"kty": "oct", "k": b64url(secret)}}
    return kit.hmac_token(secret, header)


def _jku_on_issuer_host(kit: AttackKit) -> str:
    attacker = attacker_key("RS256")
    jku = kit.issuer.issuer.rstrip("/") + "/uploads/attacker-jwks.json"
    header = {"alg": "RS256", "typ": "at+jwt", "kid": attacker.kid, "jku": jku}
    return kit.sign(kit.claims(), attacker, header)


# -- kid injection -----------------------------------------------------------


def _kid_hs_dev_null(kit: AttackKit) -> str:
    # /dev/null reads as empty: some implementations then MAC with b"".
    return kit.hmac_token(b"", {"alg": "HS256", "typ": "at+jwt", "kid": "../../../../../../dev/null"})


def _kid_of_length(length: int) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return _forged("RS256", "k" * length)(kit)

    return build


def _kid_value(kid: Any) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        attacker = attacker_key("RS256")
        header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
        signing_input = f"{_segment(header)}.{_segment(kit.claims())}"
        return f"{signing_input}.{b64url(attacker.sign(signing_input.encode()))}"

    return build


# -- signatures --------------------------------------------------------------


def _with_signature(make: Callable[[AttackKit, bytes], bytes], victim: str = "rs256") -> Callable[..., str]:
    """A genuine token by *victim* whose signature is replaced by make(kit, sig)."""

    def build(kit: AttackKit) -> str:
        token = kit.valid(getattr(kit, victim))
        return _with_segment(token, 2, b64url(make(kit, _signature(token))))

    return build


def _transplanted(kit: AttackKit) -> str:
    donor = kit.valid(scope="read")
    target = kit.valid(scope="admin")
    return _with_segment(target, 2, _split(donor)[2])


def _other_legit_key(kit: AttackKit) -> str:
    # Signed by another published key while naming victim-rs256.
    return kit.sign(kit.claims(), kit.any_rsa, {"kid": RS256_KID})


def _rsa_int(value: Callable[[AttackKit], int]) -> Callable[[AttackKit, bytes], bytes]:
    def make(kit: AttackKit, _: bytes) -> bytes:
        return value(kit).to_bytes(256, "big")

    return make


def _modulus(kit: AttackKit) -> int:
    numbers: rsa.RSAPublicNumbers = kit.rs256.public_key.public_numbers()
    return numbers.n


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ED25519_ORDER = 2**252 + 27742317777372353535851937790883648493


def _ecdsa_der(kit: AttackKit) -> str:
    signing_input = f"{_segment(_header(kit.es256))}.{_segment(kit.claims())}"
    der = kit.es256.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    return f"{signing_input}.{b64url(der)}"


def _ecdsa_r0(kit: AttackKit, signature: bytes) -> bytes:
    return bytes(32) + signature[32:]


def _eddsa_unreduced(kit: AttackKit, signature: bytes) -> bytes:
    s = int.from_bytes(signature[32:], "little") + _ED25519_ORDER
    return signature[:32] + s.to_bytes(32, "little")


def _swap_kid(kit: AttackKit) -> str:
    token = kit.valid()
    header = _header(kit.rs256, kid=ANY_RSA_KID)
    return _with_segment(token, 0, _segment(header))


# -- claim tampering (payload re-encoded, signature kept) --------------------


def _tampered(change: Callable[[dict[str, Any]], Any]) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        token = kit.valid(scope="read")
        claims = kit.claims(scope="read")
        claims.update(json.loads(base64.urlsafe_b64decode(_split(token)[1] + "===")))
        result = change(claims)
        payload = result if isinstance(result, bytes) else _json(claims)
        return _with_segment(token, 1, b64url(payload))

    return build


def _reserialised(claims: dict[str, Any]) -> bytes:
    return json.dumps(claims, indent=1).encode()


def _reordered(claims: dict[str, Any]) -> bytes:
    return _json(dict(reversed(list(claims.items()))))


def _claim_appended(claims: dict[str, Any]) -> bytes:
    # A new name: an appended duplicate is malformed before it is anything
    # else (see the duplicate-claims category).
    return _json(claims)[:-1] + b',"roles":["admin"]}'


def _payload_of_other_token(kit: AttackKit) -> str:
    mine = kit.valid(scope="read")
    theirs = kit.valid(scope="admin", sub="root")
    return _with_segment(mine, 1, _split(theirs)[1])


def _header_tampered(change: Callable[[dict[str, Any]], None]) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        token = kit.valid()
        header = _header(kit.rs256)
        change(header)
        return _with_segment(token, 0, _segment(header))

    return build


# -- issuer / audience look-alikes (correctly signed) ------------------------

_CONFUSABLES = {"a": "\u0430", "e": "\u0435", "o": "\u043e", "p": "\u0440", "c": "\u0441", "i": "\u0456"}


def _confusable(value: str) -> str:
    start = value.find("://") + 3 if "://" in value else 0
    for index in range(start, len(value)):
        if value[index] in _CONFUSABLES:
            return value[:index] + _CONFUSABLES[value[index]] + value[index + 1 :]
    return "\u0430" + value


def _toggle_slash(value: str) -> str:
    return value[:-1] if value.endswith("/") else value + "/"


def _as_subdomain(value: str) -> str:
    scheme, sep, rest = value.partition("://")
    return f"{scheme}{sep}evil.{rest}" if sep else "evil." + value


def _iss(make: Callable[[str], Any]) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return kit.signed_claims(iss=make(kit.issuer.issuer))

    return build


def _aud(make: Callable[[str], Any]) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return kit.signed_claims(aud=make(kit.issuer.audience))

    return build


# -- time claims (correctly signed) --------------------------------------------


def _time(name: str, value: Callable[[AttackKit], Any]) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return kit.signed_claims(**{name: value(kit)})

    return build


def _raw_claim(name: str, literal: str) -> Callable[..., str]:
    """Correctly signed; the claim's JSON text is *literal* (NaN, 1e400 …)."""

    def build(kit: AttackKit) -> str:
        claims = kit.claims()
        claims[name] = "__LITERAL__"
        payload = _json(claims).replace(b'"__LITERAL__"', literal.encode())
        return kit.sign(payload)

    return build


# -- shapes ------------------------------------------------------------------


def _jwe(kit: AttackKit) -> str:
    header = {"alg": "RSA-OAEP-256", "enc": "A256GCM", "kid": RS256_KID}
    return ".".join((_segment(header), b64url(bytes(256)), b64url(bytes(12)), b64url(b"ciphertext"), b64url(bytes(16))))


def _jwe_deflate(kit: AttackKit) -> str:
    # CVE-2024-33664: python-jose < 3.4 inflated JWE payloads without a limit.
    header = {"alg": "dir", "enc": "A256GCM", "zip": "DEF"}
    bomb = b64url(bytes(4096))
    return ".".join((_segment(header), "", b64url(bytes(12)), bomb, b64url(bytes(16))))


def _nested_jwt(kit: AttackKit) -> str:
    # RFC 7519 §5.2 nested JWT: the payload is another JWT, not claims.
    inner = kit.valid()
    return kit.sign(json.dumps(inner).encode(), headers={"cty": "JWT"})


def _ed448_signed(kit: AttackKit) -> str:
    signing_input = f"{_segment({'alg': 'EdDSA', 'typ': 'at+jwt', 'kid': ED448_KID})}.{_segment(kit.claims())}"
    return f"{signing_input}.{b64url(_ed448_key().sign(signing_input.encode()))}"


def _oct_signed(kit: AttackKit) -> str:
    return kit.hmac_token(_OCT_SECRET, {"alg": "HS256", "typ": "at+jwt", "kid": OCT_KID})


def _stripped(kit: AttackKit) -> str:
    # CVE-2020-28042 style: a known alg with the signature removed.
    return _with_segment(kit.valid(), 2, "")


def _jwe_header_three_segments(kit: AttackKit) -> str:
    return kit.sign(kit.claims(), headers={"enc": "A256GCM"})


def _json_general(kit: AttackKit) -> str:
    header, payload, signature = _split(kit.valid())
    return json.dumps({"payload": payload, "signatures": [{"protected": header, "signature": signature}]})


def _json_flattened(kit: AttackKit) -> str:
    header, payload, signature = _split(kit.valid())
    return json.dumps({"payload": payload, "protected": header, "signature": signature})


def _segments(count: int) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        parts = _split(kit.valid())
        while len(parts) < count:
            parts.append(parts[-1])
        return ".".join(parts[:count])

    return build


def _header_bytes(raw: bytes) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return _with_segment(kit.valid(), 0, b64url(raw))

    return build


def _signed_payload(raw: bytes) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return kit.sign(raw)

    return build


# -- encoding tricks ---------------------------------------------------------


def _valid_with_url_chars(kit: AttackKit) -> str:
    """A valid token whose signature uses '-' or '_' (nearly every one does)."""
    for _ in range(64):
        token = kit.valid()
        if "-" in _split(token)[2] or "_" in _split(token)[2]:
            return token
    raise AssertionError("no signature with '-' or '_' in 64 tries")


def _std_alphabet(kit: AttackKit) -> str:
    return _valid_with_url_chars(kit).translate(str.maketrans("-_", "+/"))


def _unaligned(kit: AttackKit, index: int) -> str:
    """A valid token whose segment *index* is not a multiple of 4 long."""
    for width in range(4):
        token = kit.sign(kit.claims(pad="x" * width), headers={"pad": "x" * width})
        if len(_split(token)[index]) % 4:
            return token
    raise AssertionError("unreachable: some width leaves a remainder")


def _padded(index: int) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        token = _unaligned(kit, index)
        segment = _split(token)[index]
        return _with_segment(token, index, segment + "=" * (-len(segment) % 4))

    return build


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _non_canonical(index: int) -> Callable[..., str]:
    """Set unused low bits of a segment's last character: same bytes decoded."""

    def build(kit: AttackKit) -> str:
        token = _unaligned(kit, index)
        segment = _split(token)[index]
        unused = {2: 15, 3: 3}[len(segment) % 4]
        last = _B64.index(segment[-1])
        return _with_segment(token, index, segment[:-1] + _B64[last | unused])

    return build


def _around(prefix: str = "", suffix: str = "") -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return prefix + kit.valid() + suffix

    return build


def _inside(insert: str, index: int = 2, at: int = 10) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        segment = _split(kit.valid())
        segment[index] = segment[index][:at] + insert + segment[index][at:]
        return ".".join(segment)

    return build


def _mime_wrapped(kit: AttackKit) -> str:
    token = kit.valid()
    return "\r\n".join(token[i : i + 76] for i in range(0, len(token), 76))


def _bom_in_header(kit: AttackKit) -> str:
    return _with_segment(kit.valid(), 0, b64url(b"\xef\xbb\xbf" + _json(_header(kit.rs256))))


def _replace_dots(dot: str) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return kit.valid().replace(".", dot)

    return build


def _extra_char(kit: AttackKit) -> str:
    token = kit.valid()
    segment = _split(token)[2]
    # A base64url segment can never be 1 (mod 4) characters long.
    return _with_segment(token, 2, segment + "A" * ((1 - len(segment)) % 4 or 4))


# -- resource exhaustion -------------------------------------------------------


def _mib_token(kit: AttackKit) -> str:
    padding = b64url(bytes(MIB))
    return kit.sign(kit.claims(), headers={"pad": padding})


def _just_over_cap(kit: AttackKit) -> str:
    token = kit.valid()
    filler = kit.max_token_size + 1 - len(token)
    return kit.sign(kit.claims(pad="x" * max(filler, 1)))[: kit.max_token_size + 1]


def _nested_header(opening: str, closing: str, depth: int) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        header = b'{"alg":"RS256","kid":"victim-rs256","x":' + (opening * depth + closing * depth).encode() + b"}"
        return _with_segment(kit.valid(), 0, b64url(header))

    return build


def _nested_payload(kit: AttackKit) -> str:
    claims = kit.claims()
    claims["deep"] = "__DEEP__"
    payload = _json(claims).replace(b'"__DEEP__"', b"[" * 2000 + b"]" * 2000)
    return kit.sign(payload)


def _huge_number_header(kit: AttackKit) -> str:
    header = b'{"alg":"RS256","kid":"victim-rs256","n":' + b"9" * 5000 + b"}"
    return _with_segment(kit.valid(), 0, b64url(header))


# -- header parameters: duplicates, crit, b64, typ -----------------------------


def _raw_header(text: str, *, key: str = "rs256") -> Callable[..., str]:
    """Correctly signed by the victim key, with the header JSON *text* verbatim."""

    def build(kit: AttackKit) -> str:
        signer: SigningKey = getattr(kit, key)
        signing_input = f"{b64url(text.encode())}.{_segment(kit.claims())}"
        return f"{signing_input}.{b64url(signer.sign(signing_input.encode()))}"

    return build


def _typed(typ: Any) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        return kit.sign(kit.claims(), headers={"typ": typ})

    return build


# -- duplicate claim names (correctly signed) -----------------------------------


def _duplicated(extra: bytes, *, prefix: bytes = b"", **claims: Any) -> Callable[..., str]:
    """Correctly signed by the victim key: valid claims (with *claims*), the
    raw members *prefix* inserted first and *extra* appended last."""

    def build(kit: AttackKit) -> str:
        body = _json(kit.claims(**claims))
        return kit.sign(b"{" + prefix + body[1:-1] + extra + b"}")

    return build


# -- none ----------------------------------------------------------------------


def _none(alg: Any, *, keep_signature: bool = False, dot: bool = True) -> Callable[..., str]:
    def build(kit: AttackKit) -> str:
        header = {"alg": alg, "typ": "at+jwt", "kid": RS256_KID}
        signature = _signature(kit.valid()) if keep_signature else b""
        token = kit.compose(header, kit.claims(), signature)
        return token if dot else token.rstrip(".")

    return build


def _alg_missing(kit: AttackKit) -> str:
    return kit.compose({"typ": "at+jwt", "kid": RS256_KID}, kit.claims(), _signature(kit.valid()))


# -- the corpus ----------------------------------------------------------------


@dataclass(frozen=True)
class Attack:
    """One named hostile token and the error the verifier must raise."""

    name: str
    category: str
    build: Callable[[AttackKit], str]
    expected: type[InvalidToken]
    note: str = ""

    def token(self, kit: AttackKit) -> str:
        """The raw token, built against *kit*'s issuer, keys and clock."""
        return self.build(kit)

    def __repr__(self) -> str:
        return f"Attack({self.name!r}, {self.category!r}, expects {self.expected.__name__})"


def _a(
    name: str, category: str, build: Callable[[AttackKit], str], expected: type[InvalidToken], note: str = ""
) -> Attack:
    return Attack(name, category, build, expected, note)


ALG = "algorithm-confusion"
NONE = "none"
INJECT = "key-injection"
KID = "kid-injection"
SIG = "signature"
TAMPER = "claim-tampering"
LOOKALIKE = "iss-aud-lookalike"
TIME = "time-claims"
SHAPE = "jwe-and-json-shapes"
ENCODING = "encoding"
RESOURCE = "resource-exhaustion"
HEADER = "header-parameters"
BINDING = "key-binding"
DUPLICATE = "duplicate-claims"

#: Category names in report order.
CATEGORIES = (
    ALG,
    NONE,
    INJECT,
    KID,
    SIG,
    TAMPER,
    LOOKALIKE,
    TIME,
    SHAPE,
    ENCODING,
    RESOURCE,
    HEADER,
    BINDING,
    DUPLICATE,
)

_CORPUS: tuple[Attack, ...] = (
    # -- algorithm confusion: HS* keyed with a public key, every encoding
    _a(
        "rs256-to-hs256-spki-pem",
        ALG,
        _confusion(lambda k: _spki_pem(k.rs256)),
        UnsupportedAlgorithm,
        "public key PEM as HMAC secret",
    ),
    _a("rs256-to-hs256-pem-no-newline", ALG, _confusion(lambda k: _spki_pem(k.rs256).rstrip()), UnsupportedAlgorithm),
    _a("rs256-to-hs256-pkcs1-pem", ALG, _confusion(lambda k: _pkcs1_pem(k.rs256)), UnsupportedAlgorithm),
    _a("rs256-to-hs256-spki-der", ALG, _confusion(lambda k: _spki_der(k.rs256)), UnsupportedAlgorithm),
    _a("rs256-to-hs256-jwk-json", ALG, _confusion(lambda k: _json(k.rs256.public_jwk())), UnsupportedAlgorithm),
    _a("rs256-to-hs256-jwks-json", ALG, _confusion(lambda k: _json(k.jwks())), UnsupportedAlgorithm),
    _a(
        "rs256-to-hs256-modulus",
        ALG,
        _confusion(lambda k: _modulus(k).to_bytes(256, "big")),
        UnsupportedAlgorithm,
    ),
    _a("rs256-to-hs384-spki-pem", ALG, _confusion(lambda k: _spki_pem(k.rs256), alg="HS384"), UnsupportedAlgorithm),
    _a("rs256-to-hs512-spki-pem", ALG, _confusion(lambda k: _spki_pem(k.rs256), alg="HS512"), UnsupportedAlgorithm),
    _a("ps256-to-hs256-spki-pem", ALG, _confusion(lambda k: _spki_pem(k.ps256), "ps256"), UnsupportedAlgorithm),
    _a("es256-to-hs256-spki-pem", ALG, _confusion(lambda k: _spki_pem(k.es256), "es256"), UnsupportedAlgorithm),
    _a("es256-to-hs256-raw-point", ALG, _confusion(lambda k: _raw_point(k.es256), "es256"), UnsupportedAlgorithm),
    _a("eddsa-to-hs256-raw-key", ALG, _confusion(lambda k: _raw_point(k.eddsa), "eddsa"), UnsupportedAlgorithm),
    _a("eddsa-to-hs256-spki-pem", ALG, _confusion(lambda k: _spki_pem(k.eddsa), "eddsa"), UnsupportedAlgorithm),
    _a(
        "es256-to-hs256-openssh",
        ALG,
        _confusion(lambda k: _openssh(k.es256), "es256"),
        UnsupportedAlgorithm,
        "CVE-2024-33663",
    ),
    # -- algorithm confusion between asymmetric families, under a known kid
    _a(
        "ps256-claimed-on-rs256-key",
        ALG,
        _relabel("rs256", "PS256", RS256_KID, pss=True),
        UnknownKey,
        "a PSS signature by the RS256 key: the kid's key is bound to RS256",
    ),
    _a("rs256-claimed-on-ps256-key", ALG, _relabel("ps256", "RS256", PS256_KID), UnknownKey),
    _a("rs512-claimed-on-rs256-key", ALG, _relabel("rs256", "RS512", RS256_KID), UnknownKey),
    _a("es384-claimed-on-es256-key", ALG, _forged("ES384", ES256_KID), UnknownKey),
    _a("es256-claimed-on-rsa-key", ALG, _forged("ES256", RS256_KID), UnknownKey),
    _a("eddsa-claimed-on-es256-key", ALG, _forged("EdDSA", ES256_KID), UnknownKey),
    _a("es256-claimed-on-eddsa-key", ALG, _forged("ES256", EDDSA_KID), UnknownKey),
    _a("eddsa-claimed-on-rsa-key", ALG, _forged("EdDSA", RS256_KID), UnknownKey),
    _a(
        "pkcs1-signature-claimed-ps256-on-alg-free-key",
        ALG,
        _relabel("any_rsa", "PS256", ANY_RSA_KID),
        InvalidSignature,
        "a genuine RS256 signature relabelled PS256: verified as PSS only",
    ),
    _a(
        "pss-signature-claimed-rs256-on-alg-free-key",
        ALG,
        _relabel("any_rsa", "RS256", ANY_RSA_KID, pss=True),
        InvalidSignature,
    ),
    # -- none
    _a("none-empty-signature", NONE, _none("none"), MalformedToken),
    _a("None-empty-signature", NONE, _none("None"), MalformedToken),
    _a("NONE-empty-signature", NONE, _none("NONE"), MalformedToken),
    _a("nOnE-empty-signature", NONE, _none("nOnE"), MalformedToken),
    _a("none-without-trailing-dot", NONE, _none("none", dot=False), MalformedToken),
    _a("none-signature-kept", NONE, _none("none", keep_signature=True), UnsupportedAlgorithm),
    _a("None-signature-kept", NONE, _none("None", keep_signature=True), UnsupportedAlgorithm),
    _a("NONE-signature-kept", NONE, _none("NONE", keep_signature=True), UnsupportedAlgorithm),
    _a("nOnE-signature-kept", NONE, _none("nOnE", keep_signature=True), UnsupportedAlgorithm),
    _a("none-with-nul-suffix", NONE, _none("none\u0000", keep_signature=True), UnsupportedAlgorithm),
    _a("alg-empty-string", NONE, _none("", keep_signature=True), UnsupportedAlgorithm),
    _a("alg-lowercase-rs256", NONE, _none("rs256", keep_signature=True), UnsupportedAlgorithm),
    _a("alg-with-trailing-space", NONE, _none("RS256 ", keep_signature=True), UnsupportedAlgorithm),
    _a("alg-null", NONE, _none(None, keep_signature=True), MalformedToken),
    _a("alg-list", NONE, _none(["RS256"], keep_signature=True), MalformedToken),
    _a("alg-missing", NONE, _alg_missing, MalformedToken),
    _a("alg-es256k", NONE, _none("ES256K", keep_signature=True), UnsupportedAlgorithm, "secp256k1: not allowed"),
    # -- header key injection: keys come from configuration only
    _a("jwk-attacker-key-no-kid", INJECT, _injected(None, jwk=_jwk_of), UnknownKey),
    _a("jwk-attacker-key-attacker-kid", INJECT, _injected("attacker-rs256", jwk=_jwk_of), UnknownKey),
    _a("jwk-attacker-key-victim-kid", INJECT, _injected(RS256_KID, jwk=_jwk_of), InvalidSignature),
    _a("jwk-attacker-eddsa-victim-kid", INJECT, _injected(EDDSA_KID, "EdDSA", jwk=_jwk_of), InvalidSignature),
    _a("jwk-attacker-oct-secret", INJECT, _embedded_oct, UnsupportedAlgorithm),
    _a("jku-attacker-url-attacker-kid", INJECT, _injected("attacker-rs256", jku=_jku), UnknownKey),
    _a("jku-attacker-url-victim-kid", INJECT, _injected(RS256_KID, jku=_jku), InvalidSignature),
    _a("jku-path-on-issuer-host", INJECT, _jku_on_issuer_host, UnknownKey),
    _a("x5u-attacker-url-attacker-kid", INJECT, _injected("attacker-rs256", x5u=_x5u), UnknownKey),
    _a("x5u-attacker-url-victim-kid", INJECT, _injected(RS256_KID, x5u=_x5u), InvalidSignature),
    _a("x5c-attacker-chain-no-kid", INJECT, _injected(None, x5c=_x5c_of), UnknownKey),
    _a("x5c-attacker-chain-victim-kid", INJECT, _injected(RS256_KID, x5c=_x5c_of), InvalidSignature),
    _a("x5t-s256-attacker-cert-victim-kid", INJECT, _injected(RS256_KID, x5t_S256=_x5t_s256_of), InvalidSignature),
    _a(
        "all-key-headers-attacker-kid",
        INJECT,
        _injected("attacker-rs256", jwk=_jwk_of, jku=_jku, x5u=_x5u, x5c=_x5c_of),
        UnknownKey,
    ),
    # -- kid injection
    _a("kid-path-traversal", KID, _forged("RS256", "../../../../../../etc/passwd"), UnknownKey),
    _a("kid-dev-null-hs256-empty-secret", KID, _kid_hs_dev_null, UnsupportedAlgorithm),
    _a("kid-sql-or-true", KID, _forged("RS256", "x' OR '1'='1"), UnknownKey),
    _a("kid-sql-union-select", KID, _forged("RS256", "' UNION SELECT 'AAAA' -- "), UnknownKey),
    _a("kid-shell-metacharacters", KID, _forged("RS256", "key|id;$(id)`id`"), UnknownKey),
    _a("kid-crlf-log-injection", KID, _forged("RS256", "k\r\nERROR jwt_guard: forged line"), UnknownKey),
    _a("kid-nul-byte", KID, _forged("RS256", "victim-rs256\u0000"), UnknownKey),
    _a("kid-empty-string", KID, _forged("RS256", ""), UnknownKey),
    _a("kid-case-variant", KID, _forged("RS256", RS256_KID.upper()), UnknownKey),
    _a("kid-unicode-confusable", KID, _forged("RS256", _confusable(RS256_KID)), UnknownKey),
    _a("kid-url", KID, _forged("RS256", "https://attacker.example/jwks.json"), UnknownKey),
    _a("kid-very-long", KID, _kid_of_length(5000), UnknownKey, "under the size cap"),
    _a("kid-over-size-cap", KID, _kid_of_length(10_000), TokenTooLarge),
    _a("kid-of-another-key-same-alg", KID, _forged("PS256", PS256_KID), InvalidSignature),
    _a("kid-number", KID, _kid_value(7), MalformedToken),
    _a("kid-object", KID, _kid_value({"$ne": None}), MalformedToken),
    _a("kid-list", KID, _kid_value([RS256_KID]), MalformedToken),
    _a("kid-true", KID, _kid_value(True), MalformedToken),
    _a(
        "kid-null",
        KID,
        _kid_value(None),
        MalformedToken,
        "RFC 7515 §4.1.4: kid is a string; null is not the same as no kid",
    ),
    # -- signature stripping and transplanting
    _a("signature-stripped-rs256", SIG, _stripped, MalformedToken, "no signature under a real alg"),
    _a("signature-from-another-token", SIG, _transplanted, InvalidSignature),
    _a("signature-from-another-published-key", SIG, _other_legit_key, InvalidSignature),
    _a("signature-from-attacker-key", SIG, _forged("RS256", RS256_KID), InvalidSignature),
    _a("signature-truncated-half", SIG, _with_signature(lambda k, s: s[: len(s) // 2]), InvalidSignature),
    _a("signature-truncated-one-byte", SIG, _with_signature(lambda k, s: s[:-1]), InvalidSignature),
    _a("signature-extended-zero-byte", SIG, _with_signature(lambda k, s: s + b"\x00"), InvalidSignature),
    _a("signature-prefixed-zero-byte", SIG, _with_signature(lambda k, s: b"\x00" + s), InvalidSignature),
    _a("signature-all-zero", SIG, _with_signature(lambda k, s: bytes(len(s))), InvalidSignature),
    _a("signature-single-byte", SIG, _with_signature(lambda k, s: b"\x00"), InvalidSignature),
    _a("signature-bit-flipped", SIG, _with_signature(lambda k, s: s[:-1] + bytes([s[-1] ^ 1])), InvalidSignature),
    _a("rsa-signature-one", SIG, _with_signature(_rsa_int(lambda k: 1)), InvalidSignature),
    _a("rsa-signature-modulus", SIG, _with_signature(_rsa_int(_modulus)), InvalidSignature),
    _a("rsa-signature-modulus-minus-one", SIG, _with_signature(_rsa_int(lambda k: _modulus(k) - 1)), InvalidSignature),
    _a(
        "ecdsa-psychic-r0-s0-es256",
        SIG,
        _with_signature(lambda k, s: bytes(64), "es256"),
        InvalidSignature,
        "CVE-2022-21449",
    ),
    _a("ecdsa-psychic-r0-s0-es384", SIG, _with_signature(lambda k, s: bytes(96), "es384"), InvalidSignature),
    _a(
        "ecdsa-r-s-equal-order",
        SIG,
        _with_signature(lambda k, s: _P256_ORDER.to_bytes(32, "big") * 2, "es256"),
        InvalidSignature,
    ),
    _a("ecdsa-r-zero-s-kept", SIG, _with_signature(_ecdsa_r0, "es256"), InvalidSignature),
    _a("ecdsa-der-instead-of-p1363", SIG, _ecdsa_der, InvalidSignature),
    _a("eddsa-all-zero", SIG, _with_signature(lambda k, s: bytes(64), "eddsa"), InvalidSignature),
    _a("eddsa-s-not-reduced", SIG, _with_signature(_eddsa_unreduced, "eddsa"), InvalidSignature, "s + L"),
    _a("kid-swapped-after-signing", SIG, _swap_kid, InvalidSignature),
    # -- claim tampering: payload re-encoded, signature kept
    _a("tamper-scope-escalation", TAMPER, _tampered(lambda c: c.update(scope="read admin")), InvalidSignature),
    _a("tamper-exp-extended", TAMPER, _tampered(lambda c: c.update(exp=c["exp"] + 86400 * 365)), InvalidSignature),
    _a("tamper-sub", TAMPER, _tampered(lambda c: c.update(sub="admin")), InvalidSignature),
    _a("tamper-aud", TAMPER, _tampered(lambda c: c.update(aud="https://other-api.example")), InvalidSignature),
    _a("tamper-payload-reserialised", TAMPER, _tampered(_reserialised), InvalidSignature, "same claims"),
    _a("tamper-payload-reordered", TAMPER, _tampered(_reordered), InvalidSignature, "same claims"),
    _a("tamper-claim-appended", TAMPER, _tampered(_claim_appended), InvalidSignature),
    _a("tamper-payload-of-another-token", TAMPER, _payload_of_other_token, InvalidSignature),
    _a("tamper-header-typ-removed", TAMPER, _header_tampered(lambda h: h.pop("typ")), InvalidSignature),
    _a("tamper-header-member-added", TAMPER, _header_tampered(lambda h: h.update(cty="JWT")), InvalidSignature),
    # -- issuer and audience look-alikes (correctly signed)
    _a("iss-trailing-slash-toggled", LOOKALIKE, _iss(_toggle_slash), InvalidIssuer),
    _a("iss-uppercase", LOOKALIKE, _iss(str.upper), InvalidIssuer),
    _a("iss-unicode-confusable", LOOKALIKE, _iss(_confusable), InvalidIssuer),
    _a("iss-suffix", LOOKALIKE, _iss(lambda v: v + ".evil.example"), InvalidIssuer),
    _a("iss-prefix-subdomain", LOOKALIKE, _iss(_as_subdomain), InvalidIssuer),
    _a("iss-trailing-whitespace", LOOKALIKE, _iss(lambda v: v + " "), InvalidIssuer),
    _a("iss-nul-suffix", LOOKALIKE, _iss(lambda v: v + "\u0000"), InvalidIssuer),
    _a("iss-list", LOOKALIKE, _iss(lambda v: [v]), InvalidIssuer),
    _a("iss-object", LOOKALIKE, _iss(lambda v: {"iss": v}), InvalidIssuer),
    _a("iss-null", LOOKALIKE, _iss(lambda v: None), InvalidIssuer),
    _a("iss-missing", LOOKALIKE, _iss(lambda v: DROP), InvalidIssuer),
    _a("aud-trailing-slash-toggled", LOOKALIKE, _aud(_toggle_slash), InvalidAudience),
    _a("aud-uppercase", LOOKALIKE, _aud(str.upper), InvalidAudience),
    _a("aud-unicode-confusable", LOOKALIKE, _aud(_confusable), InvalidAudience),
    _a("aud-suffix", LOOKALIKE, _aud(lambda v: v + ".evil.example"), InvalidAudience),
    _a("aud-prefix-subdomain", LOOKALIKE, _aud(_as_subdomain), InvalidAudience),
    _a(
        "aud-list-of-lookalikes",
        LOOKALIKE,
        _aud(lambda v: [_toggle_slash(v), v.upper(), _confusable(v), v + " "]),
        InvalidAudience,
    ),
    _a("aud-list-with-non-string", LOOKALIKE, _aud(lambda v: [v, 7]), InvalidAudience),
    _a("aud-nested-list", LOOKALIKE, _aud(lambda v: [[v]]), InvalidAudience),
    _a("aud-object", LOOKALIKE, _aud(lambda v: {"aud": v}), InvalidAudience),
    _a("aud-empty-list", LOOKALIKE, _aud(lambda v: []), InvalidAudience),
    _a("aud-empty-string", LOOKALIKE, _aud(lambda v: ""), InvalidAudience),
    _a("aud-null", LOOKALIKE, _aud(lambda v: None), InvalidAudience),
    _a("aud-missing", LOOKALIKE, _aud(lambda v: DROP), InvalidAudience),
    # -- time-claim edge values (correctly signed)
    _a("exp-exactly-now-minus-leeway", TIME, _time("exp", lambda k: int(k.now - k.leeway)), ExpiredToken),
    _a("exp-just-past-leeway", TIME, _time("exp", lambda k: int(k.now - k.leeway) - 1), ExpiredToken),
    _a("exp-zero", TIME, _time("exp", lambda k: 0), ExpiredToken),
    _a("exp-float-past", TIME, _time("exp", lambda k: k.now - k.leeway - 0.5), ExpiredToken),
    _a("exp-string", TIME, _time("exp", lambda k: str(int(k.now) + 300)), InvalidClaim),
    _a("exp-bool", TIME, _time("exp", lambda k: True), InvalidClaim),
    _a("exp-negative", TIME, _time("exp", lambda k: -1), InvalidClaim),
    _a("exp-1e308", TIME, _time("exp", lambda k: 1e308), InvalidClaim),
    _a("exp-int-beyond-year-9999", TIME, _time("exp", lambda k: 10**30), InvalidClaim),
    _a("exp-null", TIME, _time("exp", lambda k: None), InvalidClaim),
    _a("exp-list", TIME, _time("exp", lambda k: [int(k.now) + 300]), InvalidClaim),
    _a("exp-overflowing-literal-1e400", TIME, _raw_claim("exp", "1e400"), InvalidClaim, "parses as inf"),
    _a("exp-NaN-literal", TIME, _raw_claim("exp", "NaN"), MalformedToken, "not JSON (RFC 8259)"),
    _a("exp-Infinity-literal", TIME, _raw_claim("exp", "Infinity"), MalformedToken),
    _a("exp-5000-digit-integer", TIME, _raw_claim("exp", "9" * 5000), MalformedToken, "int-digits limit"),
    _a("exp-missing", TIME, _time("exp", lambda k: DROP), MissingClaim),
    _a("nbf-beyond-leeway", TIME, _time("nbf", lambda k: int(k.now + k.leeway) + 10), NotYetValid),
    _a("nbf-string", TIME, _time("nbf", lambda k: "0"), InvalidClaim),
    _a("iat-far-future", TIME, _time("iat", lambda k: int(k.now) + 10 * 365 * 86400), NotYetValid),
    _a("iat-1e308", TIME, _time("iat", lambda k: 1e308), InvalidClaim),
    _a("iat-negative", TIME, _time("iat", lambda k: -86400), InvalidClaim),
    # -- JWE and JSON serialisation shapes
    _a("jwe-compact-five-segments", SHAPE, _jwe, MalformedToken),
    _a("jwe-header-in-three-segments", SHAPE, _jwe_header_three_segments, MalformedToken),
    _a("jwe-deflate-bomb", SHAPE, _jwe_deflate, MalformedToken, "CVE-2024-33664"),
    _a("nested-jwt-payload-signed", SHAPE, _nested_jwt, MalformedToken, "cty JWT: a string, not claims"),
    _a("jws-json-general-serialisation", SHAPE, _json_general, MalformedToken),
    _a("jws-json-flattened-serialisation", SHAPE, _json_flattened, MalformedToken),
    _a("jws-json-leading-whitespace", SHAPE, lambda k: "  \n" + _json_flattened(k), MalformedToken),
    _a("four-segments", SHAPE, _segments(4), MalformedToken),
    _a("two-segments", SHAPE, _segments(2), MalformedToken),
    _a("one-segment", SHAPE, _segments(1), MalformedToken),
    _a("trailing-dot", SHAPE, _around(suffix="."), MalformedToken),
    _a("empty-string", SHAPE, lambda k: "", MalformedToken),
    _a("dots-only", SHAPE, lambda k: "..", MalformedToken),
    _a("empty-header-segment", SHAPE, lambda k: _with_segment(k.valid(), 0, ""), MalformedToken),
    _a("empty-payload-detached", SHAPE, lambda k: _with_segment(k.valid(), 1, ""), MalformedToken),
    _a("header-json-array", SHAPE, _header_bytes(b'["RS256"]'), MalformedToken),
    _a("header-json-string", SHAPE, _header_bytes(b'"RS256"'), MalformedToken),
    _a("header-not-json", SHAPE, _header_bytes(b"alg=RS256"), MalformedToken),
    _a("header-invalid-utf8", SHAPE, _header_bytes(b'{"alg":"RS256","kid":"\xff"}'), MalformedToken),
    _a(
        "header-utf16",
        SHAPE,
        _header_bytes('{"alg":"RS256","kid":"victim-rs256"}'.encode("utf-16")),
        MalformedToken,
    ),
    _a("payload-json-array-signed", SHAPE, _signed_payload(b'["admin"]'), MalformedToken),
    _a("payload-not-json-signed", SHAPE, _signed_payload(b"sub=admin"), MalformedToken),
    _a("payload-invalid-utf8-signed", SHAPE, _signed_payload(b'{"sub":"\xff"}'), MalformedToken),
    # -- encoding tricks
    _a("padding-on-header", ENCODING, _padded(0), MalformedToken),
    _a("padding-on-payload", ENCODING, _padded(1), MalformedToken),
    _a("padding-on-signature", ENCODING, _padded(2), MalformedToken),
    _a("standard-base64-alphabet", ENCODING, _std_alphabet, MalformedToken, "'+' and '/' for '-' and '_'"),
    _a("non-canonical-bits-header", ENCODING, _non_canonical(0), MalformedToken),
    _a("non-canonical-bits-payload", ENCODING, _non_canonical(1), MalformedToken),
    _a("non-canonical-bits-signature", ENCODING, _non_canonical(2), MalformedToken),
    _a("segment-length-1-mod-4", ENCODING, _extra_char, MalformedToken),
    _a("leading-space", ENCODING, _around(prefix=" "), MalformedToken),
    _a("trailing-space", ENCODING, _around(suffix=" "), MalformedToken),
    _a("trailing-newline", ENCODING, _around(suffix="\n"), MalformedToken),
    _a("space-inside", ENCODING, _inside(" "), MalformedToken),
    _a("tab-inside", ENCODING, _inside("\t", 1), MalformedToken),
    _a("line-breaks-mime-wrapped", ENCODING, _mime_wrapped, MalformedToken),
    _a("utf8-bom-prefix", ENCODING, _around(prefix="\ufeff"), MalformedToken),
    _a("utf8-bom-inside-header-json", ENCODING, _bom_in_header, MalformedToken),
    _a("nul-appended", ENCODING, _around(suffix="\u0000"), MalformedToken),
    _a("nul-inside", ENCODING, _inside("\u0000", 0, 5), MalformedToken),
    _a("fullwidth-dots", ENCODING, _replace_dots("\uff0e"), MalformedToken),
    _a("percent-encoded-dots", ENCODING, _replace_dots("%2E"), MalformedToken),
    _a("bearer-prefix-included", ENCODING, _around(prefix="Bearer "), MalformedToken),
    # -- resource exhaustion
    _a("one-mib-token", RESOURCE, _mib_token, TokenTooLarge),
    _a("one-byte-over-size-cap", RESOURCE, _just_over_cap, TokenTooLarge),
    _a("one-mib-of-dots", RESOURCE, lambda k: "." * MIB, TokenTooLarge),
    _a("one-mib-non-ascii", RESOURCE, lambda k: "\u00e9" * MIB, TokenTooLarge),
    _a("deep-array-nesting-header", RESOURCE, _nested_header("[", "]", 2500), MalformedToken),
    _a("deep-object-nesting-header", RESOURCE, _nested_header('{"":', "}", 1000), MalformedToken),
    _a("deep-nesting-payload-signed", RESOURCE, _nested_payload, MalformedToken),
    _a("huge-integer-header", RESOURCE, _huge_number_header, MalformedToken),
    # -- header parameters: duplicates, crit, b64, typ
    _a(
        "duplicate-alg-none-then-rs256",
        HEADER,
        _raw_header('{"alg":"none","alg":"RS256","kid":"victim-rs256"}'),
        MalformedToken,
    ),
    _a(
        "duplicate-alg-rs256-then-none",
        HEADER,
        _raw_header('{"alg":"RS256","alg":"none","kid":"victim-rs256"}'),
        MalformedToken,
    ),
    _a(
        "duplicate-kid",
        HEADER,
        _raw_header('{"alg":"RS256","kid":"attacker-rs256","kid":"victim-rs256"}'),
        MalformedToken,
    ),
    _a(
        "crit-unknown-extension",
        HEADER,
        _raw_header('{"alg":"RS256","kid":"victim-rs256","crit":["exp"],"exp":1}'),
        MalformedToken,
    ),
    _a("crit-empty-list", HEADER, _raw_header('{"alg":"RS256","kid":"victim-rs256","crit":[]}'), MalformedToken),
    _a("crit-not-a-list", HEADER, _raw_header('{"alg":"RS256","kid":"victim-rs256","crit":"b64"}'), MalformedToken),
    _a(
        "crit-names-absent-member",
        HEADER,
        _raw_header('{"alg":"RS256","kid":"victim-rs256","crit":["b64"]}'),
        MalformedToken,
    ),
    _a(
        "crit-lists-registered-alg",
        HEADER,
        _raw_header('{"alg":"RS256","kid":"victim-rs256","crit":["alg"]}'),
        MalformedToken,
    ),
    _a(
        "crit-b64-false",
        HEADER,
        _raw_header('{"alg":"RS256","kid":"victim-rs256","b64":false,"crit":["b64"]}'),
        MalformedToken,
    ),
    _a(
        "b64-false-without-crit",
        HEADER,
        _raw_header('{"alg":"RS256","kid":"victim-rs256","b64":false}'),
        MalformedToken,
    ),
    _a(
        "b64-string-false",
        HEADER,
        _raw_header('{"alg":"RS256","kid":"victim-rs256","b64":"false","crit":["b64"]}'),
        MalformedToken,
    ),
    _a("typ-dpop-proof", HEADER, _typed("dpop+jwt"), InvalidTokenType, "a DPoP proof is not an access token"),
    _a("typ-logout-token", HEADER, _typed("logout+jwt"), InvalidTokenType),
    _a("typ-secevent", HEADER, _typed("secevent+jwt"), InvalidTokenType),
    _a("typ-number", HEADER, _typed(1), InvalidTokenType),
    # -- keys the JWKS publishes but that must never verify
    _a("signed-by-use-enc-key", BINDING, lambda k: k.valid(k.enc_rsa), UnknownKey),
    _a("signed-by-1024-bit-rsa-key", BINDING, lambda k: k.valid(k.weak_rsa), UnknownKey),
    _a("signed-by-ed448-key", BINDING, _ed448_signed, UnknownKey, "EdDSA means Ed25519 here"),
    _a("signed-by-published-oct-key", BINDING, _oct_signed, UnsupportedAlgorithm),
    # -- duplicate claim names, correctly signed: one parser keeping the first
    # value and another the last would disagree about what the token grants
    _a("duplicate-scope-last-escalates", DUPLICATE, _duplicated(b',"scope":"admin"', scope="read"), MalformedToken),
    _a(
        "duplicate-scope-first-escalates",
        DUPLICATE,
        _duplicated(b"", prefix=b'"scope":"admin",', scope="read"),
        MalformedToken,
    ),
    _a("duplicate-iss", DUPLICATE, _duplicated(b',"iss":"https://evil.example/"'), MalformedToken),
    _a("duplicate-sub", DUPLICATE, _duplicated(b',"sub":"root"'), MalformedToken),
    _a("duplicate-exp-extended", DUPLICATE, _duplicated(b',"exp":253402300799'), MalformedToken),
    _a(
        "duplicate-name-escaped",
        DUPLICATE,
        _duplicated(b',"sc\\u006fpe":"admin"', scope="read"),
        MalformedToken,
        "\\u006f decodes to o: the same name",
    ),
    _a(
        "duplicate-name-spaced-colon",
        DUPLICATE,
        _duplicated(b', "scope" : "admin"', scope="read"),
        MalformedToken,
    ),
    _a(
        "duplicate-nested-roles",
        DUPLICATE,
        _duplicated(b',"realm_access":{"roles":["user"],"roles":["admin"]}'),
        MalformedToken,
        "nested objects too",
    ),
)


def corpus() -> tuple[Attack, ...]:
    """Every attack, in category order. Names are unique."""
    return _CORPUS


def by_category() -> dict[str, list[Attack]]:
    """The corpus grouped by category, in :data:`CATEGORIES` order."""
    groups: dict[str, list[Attack]] = {category: [] for category in CATEGORIES}
    for attack in _CORPUS:
        groups[attack.category].append(attack)
    return groups


def expected_http_status(attack: Attack, token: str) -> int | None:
    """The status an adapter must answer for ``Authorization: Bearer <token>``.

    ``None`` when the token cannot travel verbatim in that header: characters
    an HTTP client refuses to send (control characters, non-Latin-1), or
    surrounding spaces that the scheme's ``1*SP`` separator absorbs (the
    adapter then verifies a different string). A token the header grammar
    (RFC 6750 §2.1 ``b64token``) refuses answers 400; any other 401.
    """
    if not token or any(not 0x20 <= ord(char) <= 0x7E for char in token):
        return None
    if token != token.strip(" "):
        return None
    try:
        extracted = parse_authorization(f"Bearer {token}")
    except InvalidRequest:
        return InvalidRequest.status_code
    if extracted != token:
        return None
    return attack.expected.status_code


def iter_tokens(kit: AttackKit) -> Iterator[tuple[Attack, str]]:
    """``(attack, token)`` for the whole corpus against *kit*."""
    for attack in _CORPUS:
        yield attack, attack.token(kit)
