"""The DPoP attack corpus: named hostile DPoP requests as reusable data.

Each :class:`DPoPAttack` builds what one request presents (an access token,
its ``Authorization`` scheme and zero, one or two ``DPoP`` headers) from a
:class:`DPoPKit`, and names the exact error the request layer and the
verifier must answer with; the HTTP status follows from it. A *replay*
attack is sent twice: the first request is the control and must pass.

The victim is a client whose ES256 key the token is bound to; the attacker
holds the token (stolen) and keys of its own, never the victim's private key.
Every header parameter and claim of a proof is the attacker's to choose.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from jwt_guard import (
    AuthError,
    DPoPOptions,
    DPoPProofReplayed,
    DPoPRequired,
    DPoPTokenAsBearer,
    InvalidDPoPBinding,
    InvalidDPoPProof,
    InvalidRequest,
    InvalidToken,
    UseDPoPNonce,
    Verifier,
)
from jwt_guard._dpop_nonce import DPoPNonces
from jwt_guard.testing import DPoPKey, LocalIssuer, b64url, bound_token

__all__ = ["DPOP_CATEGORIES", "DPoPAttack", "DPoPKit", "Presented", "dpop_by_category", "dpop_corpus"]

HOST = "api.example.test"
PATH = "/items"
URL = f"http://{HOST}{PATH}"
NONCE_SECRET = b"dpop-attack-corpus-nonce-secret!"

_KEYS: dict[tuple[str, int, str], DPoPKey] = {}


def _key(alg: str, bits: int = 2048, owner: str = "attacker") -> DPoPKey:
    """A process-wide key per (alg, size, owner): key generation is slow."""
    if (alg, bits, owner) not in _KEYS:
        _KEYS[alg, bits, owner] = DPoPKey(alg, rsa_bits=bits)
    return _KEYS[alg, bits, owner]


@dataclass(frozen=True)
class Presented:
    """What one request presents."""

    token: str
    proofs: tuple[str, ...]
    scheme: str = "DPoP"  # "" sends no Authorization header
    method: str = "GET"


class DPoPKit:
    """The victim's token and key, the attacker's keys, on the issuer's clock."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer
        clock = issuer.clock
        self.victim = DPoPKey("ES256", private_key=_key("ES256", owner="victim").private_key, clock=clock)
        self.attacker = DPoPKey("ES256", private_key=_key("ES256").private_key, clock=clock)
        self.token = bound_token(issuer, self.victim, scope="read", sub="victim")
        #: The nonce secret of the attacks that turn nonces on, and its nonces.
        self.nonces_secret = NONCE_SECRET
        self.nonces = DPoPNonces(NONCE_SECRET)

    @property
    def now(self) -> int:
        return int(self.issuer.clock())

    def verifier(self, **options: Any) -> Verifier:
        return self.issuer.verifier(clock=self.issuer.clock, dpop=DPoPOptions(**options))

    def proof(self, key: DPoPKey | None = None, **changes: Any) -> str:
        """A proof by *key* (the victim's) for ``GET URL`` with the token; *changes* as DPoPKey.proof's."""
        method = changes.pop("method", "GET")
        url = changes.pop("url", URL)
        changes.setdefault("access_token", self.token)
        return (key or self.victim).proof(method, url, **changes)

    def signed(
        self, header: Mapping[str, Any] | bytes, payload: Mapping[str, Any] | bytes, key: DPoPKey | None = None
    ) -> str:
        """Header and payload exactly as given, signed by *key* (the victim's)."""
        return (key or self.victim).sign(header, payload)

    def header(self, key: DPoPKey | None = None, **changes: Any) -> dict[str, Any]:
        header: dict[str, Any] = {"typ": "dpop+jwt", "alg": (key or self.victim).alg, "jwk": (key or self.victim).jwk}
        header.update(changes)
        return {name: value for name, value in header.items() if value is not None}

    def claims(self, **changes: Any) -> dict[str, Any]:
        from jwt_guard._dpop import access_token_hash

        claims: dict[str, Any] = {
            "jti": "j-1",
            "htm": "GET",
            "htu": URL,
            "iat": self.now,
            "ath": access_token_hash(self.token),
        }
        claims.update(changes)
        return {name: value for name, value in claims.items() if value is not None}


@dataclass(frozen=True)
class DPoPAttack:
    """One named hostile DPoP request and the error it must meet."""

    name: str
    category: str
    build: Callable[[DPoPKit], Presented]
    expected: type[AuthError]
    note: str = ""
    #: DPoPOptions for the verifier (nonces, required).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Sent twice: the first request must pass, the second meet *expected*.
    replay: bool = False

    def __repr__(self) -> str:
        return f"DPoPAttack({self.name!r}, expects {self.expected.__name__})"


def _one(make: Callable[[DPoPKit], str]) -> Callable[[DPoPKit], Presented]:
    return lambda kit: Presented(kit.token, (make(kit),))


def _proof(**changes: Any) -> Callable[[DPoPKit], Presented]:
    return _one(lambda kit: kit.proof(**changes))


def _header(**changes: Any) -> Callable[[DPoPKit], Presented]:
    return _one(lambda kit: kit.signed(kit.header(**changes), kit.claims()))


def _claims(**changes: Any) -> Callable[[DPoPKit], Presented]:
    return _one(lambda kit: kit.signed(kit.header(), kit.claims(**changes)))


def _raw_claims(text: str) -> Callable[[DPoPKit], Presented]:
    """Correctly signed; the claims JSON is *text* with {now}, {ath} and {url} filled in."""

    def build(kit: DPoPKit) -> str:
        ath = kit.claims()["ath"]
        return kit.signed(kit.header(), text.format(now=kit.now, ath=ath, url=URL).encode())

    return _one(build)


def _jwk(change: Callable[[dict[str, Any], DPoPKit], dict[str, Any]]) -> Callable[[DPoPKit], Presented]:
    """The victim signs, naming a jwk changed by *change*."""
    return _one(lambda kit: kit.signed(kit.header(jwk=change(dict(kit.victim.jwk), kit)), kit.claims()))


def _private_d(jwk: dict[str, Any], kit: DPoPKit) -> dict[str, Any]:
    number = kit.victim.private_key.private_numbers().private_value
    return {**jwk, "d": b64url(number.to_bytes(32, "big"))}


def _off_curve(jwk: dict[str, Any], kit: DPoPKit) -> dict[str, Any]:
    y = int.from_bytes(base64.urlsafe_b64decode(jwk["y"] + "=="), "big") ^ 1
    return {**jwk, "y": b64url(y.to_bytes(32, "big"))}


def _other_curve(jwk: dict[str, Any], kit: DPoPKit) -> dict[str, Any]:
    numbers = ec.generate_private_key(ec.SECP384R1()).public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-384",
        "x": b64url(numbers.x.to_bytes(48, "big")),
        "y": b64url(numbers.y.to_bytes(48, "big")),
    }


def _tampered_payload(kit: DPoPKit) -> str:
    head, _, signature = kit.proof().split(".")
    return ".".join((head, b64url(json.dumps(kit.claims(htu="http://evil.test/items")).encode()), signature))


def _signature_of_other(kit: DPoPKit) -> str:
    one, other = kit.proof(), kit.proof(jti="other")
    return one.rpartition(".")[0] + "." + other.rpartition(".")[2]


def _by_key(alg: str, bits: int = 2048, **changes: Any) -> Callable[[DPoPKit], Presented]:
    """A proof by an attacker key of *alg* (not the one the token is bound to)."""

    def build(kit: DPoPKit) -> str:
        key = DPoPKey(alg, private_key=_key(alg, bits).private_key, clock=kit.issuer.clock)
        return kit.proof(key, **changes)

    return _one(build)


def _nonce(value: Callable[[DPoPKit], str | None]) -> Callable[[DPoPKit], Presented]:
    return _one(lambda kit: kit.proof(nonce=value(kit)))


def _forged_nonce(kit: DPoPKit) -> str:
    return DPoPNonces(b"another-secret-another-secret-!!").issue(kit.now)


def _two_headers(kit: DPoPKit) -> Presented:
    return Presented(kit.token, (kit.proof(), kit.proof(jti="second")))


def _no_proof(kit: DPoPKit) -> Presented:
    return Presented(kit.token, ())


def _proof_without_token(kit: DPoPKit) -> Presented:
    return Presented("", (kit.proof(),), scheme="")


def _as_bearer(kit: DPoPKit) -> Presented:
    return Presented(kit.token, (), scheme="Bearer")


def _as_bearer_with_proof(kit: DPoPKit) -> Presented:
    return Presented(kit.token, (kit.proof(),), scheme="Bearer")


def _plain_bearer(kit: DPoPKit) -> Presented:
    return Presented(kit.issuer.token(scope="read"), (), scheme="Bearer")


def _unbound_with_proof(kit: DPoPKit) -> Presented:
    plain = kit.issuer.token(scope="read")
    return Presented(plain, (kit.proof(access_token=plain),))


def _stolen_token(kit: DPoPKit) -> Presented:
    return Presented(kit.token, (kit.proof(kit.attacker),))


def _token_bound_to_attacker(kit: DPoPKit) -> Presented:
    """The attacker's own bound token, with the victim's proof replayed for it."""
    theirs = bound_token(kit.issuer, kit.attacker, scope="read")
    return Presented(theirs, (kit.proof(),))


def _mtls_bound(kit: DPoPKit) -> Presented:
    token = kit.issuer.token(
        scope="read", cnf={"jkt": kit.victim.thumbprint, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}
    )
    return Presented(token, (kit.proof(access_token=token),))


def _replayed(kit: DPoPKit) -> Presented:
    return Presented(kit.token, (kit.proof(jti="replayed"),))


PROOF_SHAPE = "proof-shape"
PROOF_HEADER = "proof-header"
PROOF_KEY = "proof-key"
PROOF_CLAIMS = "proof-claims"
NONCE = "nonce"
BINDING = "token-binding"
SCHEME = "scheme-and-replay"

#: Category names in report order.
DPOP_CATEGORIES = (PROOF_SHAPE, PROOF_HEADER, PROOF_KEY, PROOF_CLAIMS, NONCE, BINDING, SCHEME)

_P = InvalidDPoPProof


def _a(
    name: str,
    category: str,
    build: Callable[[DPoPKit], Presented],
    expected: type[AuthError],
    note: str = "",
    **rest: Any,
) -> DPoPAttack:
    return DPoPAttack(name, category, build, expected, note, **rest)


_CORPUS: tuple[DPoPAttack, ...] = (
    # -- the proof is not a compact JWS the strict parser accepts
    _a("not-a-jws", PROOF_SHAPE, _one(lambda k: "not-a-proof"), _P),
    _a("two-segments", PROOF_SHAPE, _one(lambda k: k.proof().rpartition(".")[0]), _P),
    _a("five-segments-jwe", PROOF_SHAPE, _one(lambda k: "a.b.c.d.e"), _P),
    _a("empty-signature", PROOF_SHAPE, _one(lambda k: k.proof().rpartition(".")[0] + "."), _P),
    _a("padded-base64", PROOF_SHAPE, _one(lambda k: k.proof().replace(".", "=.", 1)), _P),
    _a("json-serialisation", PROOF_SHAPE, _one(lambda k: '{"payload":"e30","signatures":[]}'), _P),
    _a("too-large", PROOF_SHAPE, _claims(pad="x" * 9000), _P, "8 KiB cap, checked before decoding"),
    _a("header-not-json", PROOF_SHAPE, _one(lambda k: k.signed(b"{not json", k.claims())), _P),
    _a("header-deep-json", PROOF_SHAPE, _one(lambda k: k.signed(b'{"a":' * 40 + b"1" + b"}" * 40, k.claims())), _P),
    _a(
        "header-duplicate-alg",
        PROOF_SHAPE,
        _one(lambda k: k.signed(b'{"typ":"dpop+jwt","alg":"none","alg":"ES256"}', k.claims())),
        _P,
    ),
    _a("claims-not-json", PROOF_SHAPE, _one(lambda k: k.signed(k.header(), b"[1,2]")), _P),
    _a(
        "claims-duplicate-htu",
        PROOF_SHAPE,
        _raw_claims('{{"jti":"d","htm":"GET","htu":"http://evil.test/","htu":"{url}","iat":{now},"ath":"{ath}"}}'),
        _P,
        "one parse only: duplicates refused",
    ),
    _a(
        "claims-deep-json",
        PROOF_SHAPE,
        _raw_claims(
            '{{"jti":"d","htm":"GET","htu":"{url}","iat":{now},"ath":"{ath}","x":' + "[" * 40 + "]" * 40 + "}}"
        ),
        _P,
    ),
    _a("signature-tampered-payload", PROOF_SHAPE, _one(_tampered_payload), _P),
    _a("signature-of-another-proof", PROOF_SHAPE, _one(_signature_of_other), _P),
    # -- header parameters
    _a("typ-missing", PROOF_HEADER, _header(typ=None), _P),
    _a("typ-jwt", PROOF_HEADER, _header(typ="JWT"), _P),
    _a("typ-access-token", PROOF_HEADER, _header(typ="at+jwt"), _P, "an access token is no proof"),
    _a("typ-number", PROOF_HEADER, _header(typ=1), _P),
    _a(
        "alg-none",
        PROOF_HEADER,
        _one(
            lambda k: (
                b64url(json.dumps(k.header(alg="none")).encode()) + "." + b64url(json.dumps(k.claims()).encode()) + "."
            )
        ),
        _P,
    ),
    _a("alg-hs256", PROOF_HEADER, _header(alg="HS256"), _P, "symmetric algorithms are never proof algorithms"),
    _a("alg-outside-allowlist", PROOF_HEADER, _by_key("ES512"), _P, "ES512 is asymmetric but not configured"),
    _a("alg-does-not-fit-key", PROOF_HEADER, _header(alg="ES384"), _P),
    _a("alg-rs-for-ec-key", PROOF_HEADER, _header(alg="RS256"), _P),
    _a("jwk-missing-kid-only", PROOF_HEADER, _header(jwk=None, kid="victim"), _P, "the key must travel in the proof"),
    _a("jku-instead-of-jwk", PROOF_HEADER, _header(jwk=None, jku="http://127.0.0.1:9/jwks.json"), _P, "never fetched"),
    _a("x5c-instead-of-jwk", PROOF_HEADER, _header(jwk=None, x5c=["MIIB"]), _P),
    _a("jwk-a-string", PROOF_HEADER, _header(jwk="EC P-256"), _P),
    # -- the key in the proof
    _a("jwk-with-private-d", PROOF_KEY, _jwk(_private_d), _P, "a private key is never accepted"),
    _a("jwk-off-curve-point", PROOF_KEY, _jwk(_off_curve), _P),
    _a("jwk-other-curve", PROOF_KEY, _jwk(_other_curve), _P),
    _a("jwk-symmetric-oct", PROOF_KEY, _jwk(lambda j, k: {"kty": "oct", "k": b64url(b"s" * 32)}), _P),
    _a(
        "jwk-huge-member",
        PROOF_KEY,
        _jwk(lambda j, k: {**j, "x": j["x"] + "A" * 2000}),
        _P,
        "members over 1 KiB refused unparsed",
    ),
    _a("jwk-many-members", PROOF_KEY, _jwk(lambda j, k: {**j, **{f"m{i}": "v" for i in range(20)}}), _P),
    _a("jwk-alg-mismatch", PROOF_KEY, _jwk(lambda j, k: {**j, "alg": "ES384"}), _P),
    _a("jwk-unknown-kty", PROOF_KEY, _jwk(lambda j, k: {**j, "kty": "XX"}), _P),
    _a("rsa-1024-bit-key", PROOF_KEY, _by_key("RS256", 1024), _P, "RSA below 2048 bits"),
    _a("rsa-4160-bit-key", PROOF_KEY, _by_key("RS256", 4160), _P, "RSA above 4096 bits: the client chooses our cost"),
    # -- claims
    _a("jti-missing", PROOF_CLAIMS, _claims(jti=None), _P),
    _a("jti-number", PROOF_CLAIMS, _claims(jti=7), _P),
    _a("jti-too-long", PROOF_CLAIMS, _claims(jti="j" * 257), _P),
    _a("htm-other-method", PROOF_CLAIMS, _proof(method="POST"), _P),
    _a("htm-lower-case", PROOF_CLAIMS, _proof(method="get"), _P, "htm is compared exactly"),
    _a("htm-missing", PROOF_CLAIMS, _claims(htm=None), _P),
    _a("htu-other-path", PROOF_CLAIMS, _proof(url=f"http://{HOST}/admin"), _P),
    _a("htu-other-host", PROOF_CLAIMS, _proof(url=f"http://evil.test{PATH}"), _P),
    _a("htu-other-scheme", PROOF_CLAIMS, _proof(url=f"https://{HOST}{PATH}"), _P),
    _a("htu-other-port", PROOF_CLAIMS, _proof(url=f"http://{HOST}:8080{PATH}"), _P),
    _a("htu-websocket-scheme", PROOF_CLAIMS, _proof(url=f"ws://{HOST}{PATH}"), _P),
    _a("htu-with-userinfo", PROOF_CLAIMS, _proof(url=f"http://user@{HOST}{PATH}"), _P),
    _a("htu-relative", PROOF_CLAIMS, _proof(url=PATH), _P),
    _a("htu-encoded-slash", PROOF_CLAIMS, _proof(url=f"http://{HOST}%2Fitems"), _P),
    _a("htu-number", PROOF_CLAIMS, _claims(htu=1), _P),
    _a("iat-missing", PROOF_CLAIMS, _claims(iat=None), _P),
    _a("iat-string", PROOF_CLAIMS, _claims(iat="now"), _P),
    _a("iat-boolean", PROOF_CLAIMS, _claims(iat=True), _P),
    _a("iat-too-old", PROOF_CLAIMS, _one(lambda k: k.proof(iat=k.now - 300 - 60 - 1)), _P, "max_age + leeway"),
    _a("iat-in-the-future", PROOF_CLAIMS, _one(lambda k: k.proof(iat=k.now + 60 + 1)), _P),
    _a(
        "iat-huge-integer",
        PROOF_CLAIMS,
        _raw_claims('{{"jti":"h","htm":"GET","htu":"{url}","iat":1' + "0" * 400 + ',"ath":"{ath}"}}'),
        _P,
    ),
    _a("iat-nan", PROOF_CLAIMS, _raw_claims('{{"jti":"h","htm":"GET","htu":"{url}","iat":NaN,"ath":"{ath}"}}'), _P),
    _a("ath-missing", PROOF_CLAIMS, _claims(ath=None), _P, "a resource request's proof names its token"),
    _a("ath-of-another-token", PROOF_CLAIMS, _one(lambda k: k.proof(access_token=k.issuer.token())), _P),
    # -- server nonces (nonce_secret set)
    _a("nonce-missing", NONCE, _nonce(lambda k: None), UseDPoPNonce, options={"nonce_secret": NONCE_SECRET}),
    _a(
        "nonce-stale",
        NONCE,
        _nonce(lambda k: k.nonces.issue(k.now - 301)),
        UseDPoPNonce,
        options={"nonce_secret": NONCE_SECRET},
    ),
    _a(
        "nonce-forged",
        NONCE,
        _nonce(_forged_nonce),
        UseDPoPNonce,
        "another secret's MAC",
        options={"nonce_secret": NONCE_SECRET},
    ),
    _a("nonce-garbage", NONCE, _nonce(lambda k: "x" * 54), UseDPoPNonce, options={"nonce_secret": NONCE_SECRET}),
    _a(
        "nonce-from-the-future",
        NONCE,
        _nonce(lambda k: k.nonces.issue(k.now + 3600)),
        UseDPoPNonce,
        options={"nonce_secret": NONCE_SECRET},
    ),
    # -- the token and the key
    _a("stolen-token-attacker-proof", BINDING, _stolen_token, InvalidDPoPBinding, "the point of DPoP"),
    _a("own-token-victims-proof", BINDING, _token_bound_to_attacker, _P, "the proof's ath names another token"),
    _a("unbound-token-with-proof", BINDING, _unbound_with_proof, InvalidDPoPBinding),
    _a("bound-token-as-bearer", BINDING, _as_bearer, DPoPTokenAsBearer),
    _a("bound-token-as-bearer-with-proof", BINDING, _as_bearer_with_proof, DPoPTokenAsBearer),
    _a("token-also-bound-to-certificate", BINDING, _mtls_bound, InvalidToken, "mTLS binding cannot be proven here"),
    _a("plain-bearer-where-required", BINDING, _plain_bearer, DPoPRequired, options={"required": True}),
    # -- the scheme, the headers and replay
    _a("two-dpop-headers", SCHEME, _two_headers, _P, "RFC 9449 §4.3: exactly one"),
    _a("dpop-scheme-without-proof", SCHEME, _no_proof, _P),
    _a("proof-without-token", SCHEME, _proof_without_token, InvalidRequest),
    _a("replayed-proof", SCHEME, _replayed, DPoPProofReplayed, "the same jti and key, accepted once", replay=True),
)


def dpop_corpus() -> tuple[DPoPAttack, ...]:
    """Every DPoP attack, in category order. Names are unique."""
    return _CORPUS


def dpop_by_category() -> dict[str, list[DPoPAttack]]:
    groups: dict[str, list[DPoPAttack]] = {category: [] for category in DPOP_CATEGORIES}
    for attack in _CORPUS:
        groups[attack.category].append(attack)
    return groups


def headers(presented: Presented) -> list[tuple[str, str]]:
    """The request headers carrying *presented* (Host first)."""
    sent = [("Host", HOST)]
    if presented.scheme:
        sent.append(("Authorization", f"{presented.scheme} {presented.token}"))
    sent += [("DPoP", proof) for proof in presented.proofs]
    return sent
