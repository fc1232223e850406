"""DPoP (RFC 9449): the options and the pure check of a proof.

:func:`verify_proof` runs every check of RFC 9449 §4.3 and §7.1 that needs no
I/O, in this order, each failure a typed error:

1. the proof is a compact JWS, parsed by the same strict rules as access
   tokens (:mod:`jwt_guard._token`) under a size cap of
   :data:`MAX_PROOF_SIZE`; its ``alg`` is in :attr:`DPoPOptions.algorithms`;
2. ``typ`` is ``dpop+jwt``;
3. ``jwk`` is a public key, in canonical form, that fits ``alg``;
4. the signature verifies with that key;
5. the claims (duplicate names refused): ``jti``, ``htm`` = the method,
   ``htu`` = the request URL (:mod:`jwt_guard._url`), ``iat`` inside the
   acceptance window, ``ath`` = the hash of the access token;
6. the token's ``cnf.jkt`` is the proof key's thumbprint (``invalid_token``);
7. the server nonce, when nonces are on (``use_dpop_nonce``).

A request with the DPoP scheme goes through these steps: verify the access
token; take the request's one ``DPoP`` header (:func:`single_proof`); call
:func:`verify_proof` with the token and its :func:`bound_thumbprint`; then,
last, detect replay: claim :attr:`DPoPProof.replay_key` in the store for
:meth:`DPoPProof.replay_ttl` seconds and refuse the request with
:class:`~jwt_guard._dpop_errors.DPoPProofReplayed` when the key was taken.
When :attr:`DPoPProof.next_nonce` is set, the answer carries it in a
``DPoP-Nonce`` header (RFC 9449 §8.2).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric import rsa

from jwt_guard._dpop_errors import InvalidDPoPBinding, InvalidDPoPProof, UseDPoPNonce
from jwt_guard._dpop_nonce import NonceChecker
from jwt_guard._dpop_options import DEFAULT_PROOF_ALGORITHMS, PROOF_ALGORITHMS, DPoPOptions, ReplayStore
from jwt_guard._jose import SignatureKey, bind_key, verify_signature
from jwt_guard._keys import message_public_key
from jwt_guard._token import (
    MAX_HEADER_BRACKETS,
    UNIQUE_MEMBERS_DECODER,
    ParsedToken,
    b64url_decode,
    b64url_encode,
    decode_json_object,
    parse,
)
from jwt_guard._url import normalize_url
from jwt_guard.errors import InvalidClaim, InvalidToken, TokenTooLarge, UnsupportedAlgorithm

__all__ = [
    "DEFAULT_PROOF_ALGORITHMS",
    "MAX_PROOF_SIZE",
    "PROOF_ALGORITHMS",
    "DPoPOptions",
    "DPoPProof",
    "ReplayStore",
    "access_token_hash",
    "bound_thumbprint",
    "replay_key",
    "single_proof",
    "verify_proof",
]

#: Largest proof accepted, in characters. A proof signed with a 4096-bit RSA
#: key, with its jwk and a long ``htu``, stays well below it.
MAX_PROOF_SIZE = 8192
#: Longest ``jti``. RFC 9449 §4.2 asks for 96 random bits; a UUID has 36 characters.
MAX_JTI_LENGTH = 256
#: Largest RSA proof key: a bigger one costs verification time the client chooses.
MAX_PROOF_RSA_BITS = 4096
_MAX_JWK_MEMBERS = 16
_MAX_JWK_MEMBER_LENGTH = 1024


class DPoPProof(NamedTuple):
    """A proof that passed every check except replay detection.

    Immutable (a named tuple: made on every DPoP request, it costs a fraction
    of a frozen dataclass).
    """

    #: RFC 7638 thumbprint of the proof key (``cnf.jkt`` of a bound token).
    thumbprint: str
    #: The proof's ``jti``.
    jti: str
    #: The proof's ``iat``.
    issued_at: float
    #: The proof's ``alg``.
    algorithm: str
    #: Until when (epoch seconds) the proof would still be accepted.
    acceptable_until: float
    #: A nonce for the ``DPoP-Nonce`` header of the answer, when the current
    #: one is due for refresh (RFC 9449 §8.2); else None.
    next_nonce: str | None = None

    @property
    def replay_key(self) -> str:
        """The store key recording this proof as used: see :func:`replay_key`."""
        return replay_key(self.thumbprint, self.jti)

    def replay_ttl(self, now: float) -> int:
        """Whole seconds the replay record must live: until the proof could no
        longer be accepted anyway, rounded up."""
        return max(1, math.ceil(self.acceptable_until - now))


def replay_key(thumbprint: str, jti: str) -> str:
    """The store key for a proof: ``dpop:<thumbprint>:<jti>``.

    A ``jti`` is only unique per key (RFC 9449 §11.1), so both go in; the
    thumbprint is base64url (no ``:``), so no two pairs share a key. The
    stores keep keys only as SHA-256 digests, so the key's length (at most
    5 + 43 + 1 + :data:`MAX_JTI_LENGTH` characters) costs nothing there.
    """
    return f"dpop:{thumbprint}:{jti}"


@lru_cache(maxsize=256)
def access_token_hash(access_token: str) -> str:
    """``ath``: base64url of the SHA-256 of the token's ASCII (RFC 9449 §4.2).

    Memoised: a client presents the same token with many proofs.
    """
    return b64url_encode(hashlib.sha256(access_token.encode("utf-8", "surrogatepass")).digest())


def bound_thumbprint(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.jkt`` of a token's claims (RFC 9449 §6.1), or None if it has none.

    A ``cnf`` that is not an object, or a ``jkt`` that is not a string, makes
    the token invalid (:class:`~jwt_guard.errors.InvalidClaim`).
    """
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    # RFC 7800 §3.1: cnf is a JSON object; RFC 9449 §6.1: jkt a base64url string.
    if cnf.__class__ is not dict and not isinstance(cnf, Mapping):
        raise InvalidClaim("the access token has an invalid cnf claim")
    if "jkt" not in cnf:
        return None
    jkt = cnf["jkt"]
    if not isinstance(jkt, str) or not jkt:
        raise InvalidClaim("the access token has an invalid cnf claim")
    return jkt


@lru_cache(maxsize=256)
def _cached_key(alg: str, members: tuple[tuple[str, str], ...]) -> tuple[SignatureKey, str]:
    # A client signs every proof with the same key: parsing it, checking the
    # point and hashing the thumbprint once saves a third of a proof check.
    return _load_key(alg, dict(members))


def _load_key(alg: str, jwk: Mapping[str, Any]) -> tuple[SignatureKey, str]:
    key, _, thumbprint = message_public_key(jwk)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size > MAX_PROOF_RSA_BITS:
        raise ValueError("RSA key too large")
    jwk_alg = jwk.get("alg")
    if jwk_alg is not None and jwk_alg != alg:
        raise ValueError("the key is for another algorithm")
    return bind_key(key, alg), thumbprint


def _proof_key(alg: str, jwk: object) -> tuple[SignatureKey, str]:
    """The verification key and thumbprint of a proof's ``jwk``; ValueError."""
    if not isinstance(jwk, dict):
        raise ValueError("no jwk")
    if len(jwk) > _MAX_JWK_MEMBERS:
        raise ValueError("too many members")
    hashable = True
    for value in jwk.values():
        if isinstance(value, str):
            if len(value) > _MAX_JWK_MEMBER_LENGTH:
                raise ValueError("member too long")
        else:
            hashable = False  # key_ops and friends: checked, not memoised
    try:
        if hashable:
            # Unsorted: a client sends its members in the same order every time.
            return _cached_key(alg, tuple(jwk.items()))
        return _load_key(alg, jwk)
    except (TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from exc


def _is_dpop_type(typ: object) -> bool:
    # RFC 7515 §4.1.9: a typ without "/" means "application/" + typ, and media
    # types compare case-insensitively (RFC 6838 §4.2); anything else is refused.
    if not isinstance(typ, str):
        return False
    media = typ.lower()
    return media == "dpop+jwt" or media == "application/dpop+jwt"


def _claims(parsed: ParsedToken) -> dict[str, Any] | None:
    try:
        data = b64url_decode(parsed.payload_segment)
    except ValueError:
        return None
    # Duplicate claim names are refused, and a proof needs no deep JSON.
    return decode_json_object(data, UNIQUE_MEMBERS_DECODER, max_brackets=MAX_HEADER_BRACKETS)


def single_proof(values: Sequence[str], options: DPoPOptions) -> str | None:
    """The one ``DPoP`` header value of a request, ``None`` if it has none.

    RFC 9449 §4.3: a request with more than one ``DPoP`` header is refused
    (:class:`~jwt_guard._dpop_errors.InvalidDPoPProof`), whatever they hold.
    """
    if len(values) > 1:
        raise InvalidDPoPProof("a request must carry exactly one DPoP header", algorithms=options.algorithms)
    return values[0] if values else None


def verify_proof(
    proof: str | None,
    *,
    method: str,
    url: str,
    options: DPoPOptions,
    now: float,
    leeway: float = 0,
    access_token: str | None = None,
    jkt: str | None = None,
    nonces: NonceChecker | None = None,
) -> DPoPProof:
    """Check a DPoP proof completely, except for replay (see the module).

    :param proof: the ``DPoP`` header value (``None``: the request has none).
    :param method: the request method, compared exactly with ``htm``.
    :param url: the request URL as the client sees it (scheme, host, port,
        path; a query or fragment is ignored), compared with ``htu``.
    :param options: the verifier's :class:`DPoPOptions`.
    :param now: the current time, epoch seconds.
    :param leeway: clock skew allowed either side of the ``iat`` window.
    :param access_token: the token presented with the proof; when given, the
        proof must carry its hash (``ath``) and the token must be bound to
        the proof key.
    :param jkt: the token's ``cnf.jkt`` (:func:`bound_thumbprint`).
    :param nonces: the nonce check; default: ``options.nonces``.
    :raises InvalidDPoPProof: the proof failed a check.
    :raises UseDPoPNonce: the proof lacks the current server nonce (it carries a fresh one).
    :raises InvalidDPoPBinding: the token is not bound to the proof key.
    """
    algorithms = options.algorithms

    def invalid(description: str) -> InvalidDPoPProof:
        return InvalidDPoPProof(description, algorithms=algorithms)

    if proof is None:
        raise invalid("a DPoP proof is required")
    try:
        parsed = parse(proof, max_size=MAX_PROOF_SIZE, algorithms=options._algorithm_set, headers=options.header_cache)
    except TokenTooLarge:
        raise invalid("the DPoP proof is too large") from None
    except UnsupportedAlgorithm:
        raise invalid("the DPoP proof's algorithm is not accepted") from None
    except InvalidToken:
        raise invalid("the DPoP proof is malformed") from None
    header = parsed.header
    if not _is_dpop_type(header.get("typ")):
        raise invalid("the DPoP proof's typ is not dpop+jwt")
    try:
        key, thumbprint = _proof_key(parsed.alg, header.get("jwk"))
    except ValueError:
        raise invalid("the DPoP proof's jwk is not an acceptable public key") from None
    if not verify_signature(key, parsed.signing_input, parsed.signature):
        raise invalid("the DPoP proof's signature is invalid")

    claims = _claims(parsed)
    if claims is None:
        raise invalid("the DPoP proof's claims are not a JSON object")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise invalid("the DPoP proof has no valid jti")
    if claims.get("htm") != method:
        raise invalid("the DPoP proof is not for this method")
    htu = claims.get("htu")
    if not isinstance(htu, str):
        raise invalid("the DPoP proof has no htu")
    target = normalize_url(htu)
    if target is None:
        raise invalid("the DPoP proof's htu is not an absolute http(s) URI")
    if target != normalize_url(url):
        raise invalid("the DPoP proof is not for this URL")
    iat = claims.get("iat")
    # An int may exceed every float (math.isfinite would overflow): compare only.
    if (
        isinstance(iat, bool)
        or not isinstance(iat, (int, float))
        or (isinstance(iat, float) and not math.isfinite(iat))
    ):
        raise invalid("the DPoP proof has no valid iat")
    if iat > now + leeway:
        raise invalid("the DPoP proof is issued in the future")
    acceptable_until = iat + options.max_age + leeway
    if now > acceptable_until:
        raise invalid("the DPoP proof is too old")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise invalid("the DPoP proof is not for this access token")

    # RFC 9449 §7.1: a binding failure is the token's fault: invalid_token.
    if jkt is not None or access_token is not None:
        if jkt is None:
            raise InvalidDPoPBinding("the access token is not bound to a DPoP key", algorithms=algorithms)
        if jkt != thumbprint:
            raise InvalidDPoPBinding(algorithms=algorithms)

    # Last: use_dpop_nonce tells the client that only the nonce was missing.
    checker = nonces if nonces is not None else options.nonces
    next_nonce = None
    if checker is not None:
        value = claims.get("nonce")
        verdict = checker.check(value if isinstance(value, str) else None, now, leeway)
        if not verdict.accepted:
            if verdict.next_nonce is None:
                raise invalid("the DPoP proof's nonce is not accepted")
            description = "the DPoP proof must carry a server nonce" if value is None else None
            raise UseDPoPNonce(verdict.next_nonce, description, algorithms=algorithms)
        next_nonce = verdict.next_nonce
    return DPoPProof(thumbprint, jti, float(iat), parsed.alg, float(acceptable_until), next_nonce)
