"""Project Wycheproof vectors (``tests/vectors/wycheproof``) through jwt_guard.

Every case of every vendored file runs; none is dropped. Each case gets
jwt_guard's expectation: Wycheproof's verdict (``valid`` -> accept,
``invalid`` -> reject, ``acceptable`` -> either answer, but never a crash),
except where a documented policy of jwt_guard deliberately answers otherwise
(the ``*_POLICY`` tables and the HMAC truncation rule below; each entry says
why). The tests assert that every case meets its expectation and that the
per-file counts are complete.

Layers:

* primitive files (ECDSA P1363, RSA PKCS#1 v1.5, RSA-PSS, Ed25519, HMAC):
  keys built with ``jwt_guard._keys`` (from the JWK when the group publishes
  one, and from the PEM; both must agree), signatures checked with
  ``jwt_guard._jose.verify_signature``;
* the JWK and JWS files: compact tokens through ``jwt_guard._token.parse``,
  key selection in a ``KeySet`` and the signature check;
* the JWS file once more through ``jwt_guard.Verifier`` (sync and async):
  nothing is accepted (no payload there is a JWT claims set) and nothing but
  ``InvalidToken`` is raised.

Classes of cases that do not apply as Wycheproof states them:

* RSA keys below 2048 bits are refused by policy (``MIN_RSA_BITS``). The
  vendored RSA signature files use 2048-bit keys only (asserted); the one
  smaller key, in the JWK file, must be refused (asserted).
* HMAC tags shorter than the full SHA-256 output: JWS HS256 uses the whole
  256-bit MAC (RFC 7518 §3.2), so Wycheproof's valid truncated tags are
  refused.
* HMAC keys shorter than 32 bytes are refused by ``keyset_from_secret``
  (asserted); their cases are checked by binding the key directly with
  ``jwt_guard._jose.bind_key``.

``wycheproof_summary()`` returns ``{file: (passed, total)}`` for reports.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jwt_guard import ConfigurationError, InvalidToken, MalformedToken, UnsupportedAlgorithm, Verifier
from jwt_guard._config import ASYMMETRIC_ALGORITHMS, DEFAULT_MAX_TOKEN_SIZE, HMAC_ALGORITHMS
from jwt_guard._jose import SignatureKey, bind_key, verify_signature
from jwt_guard._keys import (
    MIN_RSA_BITS,
    MIN_SECRET_BYTES,
    KeySet,
    keyset_from_jwks,
    keyset_from_pem,
    keyset_from_secret,
)
from jwt_guard._token import parse

VECTORS = Path(__file__).parents[1] / "vectors" / "wycheproof"
ALL_ALGORITHMS = ASYMMETRIC_ALGORITHMS | HMAC_ALGORITHMS
ISSUER = "https://issuer.example.test/"
AUDIENCE = "https://api.example.test"

#: Signature primitives and the JWS algorithm each file exercises.
PRIMITIVE_FILES = {
    "ecdsa_secp256r1_sha256_p1363_test.json": "ES256",
    "ecdsa_secp384r1_sha384_p1363_test.json": "ES384",
    "ecdsa_secp521r1_sha512_p1363_test.json": "ES512",
    "rsa_signature_2048_sha256_test.json": "RS256",
    "rsa_signature_2048_sha384_test.json": "RS384",
    "rsa_signature_2048_sha512_test.json": "RS512",
    "rsa_pss_2048_sha256_mgf1_32_test.json": "PS256",
    "rsa_pss_2048_sha384_mgf1_48_test.json": "PS384",
    "ed25519_test.json": "EdDSA",
}
HMAC_FILE = "hmac_sha256_test.json"
JWK_FILE = "json_web_key_test.json"
JWS_FILE = "json_web_signature_test.json"
JWS_VERIFIER = "json_web_signature_test.json [Verifier]"

#: Case counts per file: every case must be evaluated.
TOTALS = {
    "ecdsa_secp256r1_sha256_p1363_test.json": 262,
    "ecdsa_secp384r1_sha384_p1363_test.json": 280,
    "ecdsa_secp521r1_sha512_p1363_test.json": 318,
    "rsa_signature_2048_sha256_test.json": 259,
    "rsa_signature_2048_sha384_test.json": 258,
    "rsa_signature_2048_sha512_test.json": 259,
    "rsa_pss_2048_sha256_mgf1_32_test.json": 108,
    "rsa_pss_2048_sha384_mgf1_48_test.json": 141,
    "ed25519_test.json": 151,
    HMAC_FILE: 174,
    JWK_FILE: 26,
    JWS_FILE: 401,
    JWS_VERIFIER: 401,
}

_EMPTY_PAYLOAD = (
    "reject",
    "empty payload: a JWT always has a claims set, so the parser refuses an empty payload segment "
    "before any key is used (the signature itself verifies: see test_empty_payload_signatures_verify)",
)
#: JWS-file cases where jwt_guard's expectation is not Wycheproof's verdict.
JWS_POLICY: dict[int, tuple[str, str]] = {
    **dict.fromkeys((259, 264, 268, 272, 320, 325), _EMPTY_PAYLOAD),
    **dict.fromkeys(
        (346, 350),
        ("reject", "the JWK's alg (PS256) binds the key to PS256 (RFC 7517 §4.4); the token asks for PS384"),
    ),
    **dict.fromkeys(
        (347, 351),
        ("reject", "the JWK's alg 'ES521' is not a JWA algorithm, so the key is skipped as unusable"),
    ),
    **dict.fromkeys(
        (372, 373),
        ("reject", "'?' is outside the base64url alphabet (RFC 7515 §2); the strict parser refuses the token"),
    ),
    **dict.fromkeys(
        (367, 370),
        ("accept", "the vector is byte-for-byte tcId 357 (valid): the padding its comment names is absent"),
    ),
}
#: JWK-file cases where jwt_guard's expectation is not Wycheproof's verdict.
JWK_POLICY: dict[int, tuple[str, str]] = {
    1: (
        "accept",
        "MixedKeySet: each key binds only to its own algorithms, and a Verifier's allowlist cannot mix HS* "
        "with asymmetric algorithms, so no configuration uses the secret and the EC key together; a remote "
        "key set never yields the secret (see test_jwk_key_verdicts_of_documented_deviations)",
    ),
    4: ("accept", "DuplicateKid: the first key for a (kid, alg) is used and the later duplicate is skipped"),
    7: ("accept", "ROCA: jwt_guard does not fingerprint RSA moduli for the ROCA key-generation flaw (known gap)"),
}
_TRUNCATED_MAC = "JWS HS256 uses the full 256-bit HMAC output (RFC 7518 §3.2): a truncated tag is refused"


@dataclass(frozen=True)
class Outcome:
    """One Wycheproof case: what Wycheproof says, what jwt_guard should do, what it did."""

    file: str
    tc_id: int
    wycheproof: str
    expected: str  # "accept", "reject" or "either"
    accepted: bool
    reason: str = ""  # why ``expected`` departs from Wycheproof's verdict

    @property
    def passed(self) -> bool:
        return self.expected == "either" or (self.expected == "accept") == self.accepted


def _expectation(result: str) -> str:
    return {"valid": "accept", "invalid": "reject", "acceptable": "either"}[result]


def _outcome(
    file: str, case: dict[str, Any], accepted: bool, policy: dict[int, tuple[str, str]] | None = None
) -> Outcome:
    expected, reason = _expectation(case["result"]), ""
    if policy and case["tcId"] in policy:
        expected, reason = policy[case["tcId"]]
    return Outcome(file, case["tcId"], case["result"], expected, accepted, reason)


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((VECTORS / name).read_text(encoding="utf-8"))
    return document


def _cases(document: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(group, case) for group in document["testGroups"] for case in group["tests"]]


# -- primitive files ---------------------------------------------------------------


def _group_keys(group: dict[str, Any], alg: str) -> list[SignatureKey]:
    """The group's public key, built from its JWK (when published) and its PEM."""
    if alg[:2] in ("RS", "PS"):
        # Keys below MIN_RSA_BITS would be refused by policy; none here.
        assert group["keySize"] >= MIN_RSA_BITS, group["keySize"]
    allowed = frozenset({alg})
    keys = []
    jwk = group.get("publicKeyJwk") or group.get("keyJwk")
    if jwk is not None:
        keyset, skipped = keyset_from_jwks({"keys": [jwk]}, allowed)
        assert not skipped, skipped
        bound = keyset.find(jwk.get("kid"), alg)
        assert bound is not None
        keys.append(bound.key)
    from_pem = keyset_from_pem(group["publicKeyPem"], allowed).find(None, alg)
    assert from_pem is not None
    keys.append(from_pem.key)
    return keys


def primitive_outcomes(name: str) -> list[Outcome]:
    alg = PRIMITIVE_FILES[name]
    outcomes = []
    for group in load(name)["testGroups"]:
        keys = _group_keys(group, alg)
        for case in group["tests"]:
            msg, sig = bytes.fromhex(case["msg"]), bytes.fromhex(case["sig"])
            verdicts = {verify_signature(key, msg, sig) for key in keys}
            assert len(verdicts) == 1, f"{name} tcId {case['tcId']}: JWK and PEM keys disagree"
            outcomes.append(_outcome(name, case, verdicts.pop()))
    return outcomes


def _hmac_key(secret: bytes) -> SignatureKey:
    if len(secret) >= MIN_SECRET_BYTES:
        bound = keyset_from_secret(secret, frozenset({"HS256"})).find(None, "HS256")
        assert bound is not None
        return bound.key
    # Too short for a configured secret (policy); the primitive still gets checked.
    try:
        keyset_from_secret(secret, frozenset({"HS256"}))
    except ValueError:
        return bind_key(secret, "HS256")
    raise AssertionError(f"a {len(secret)}-byte shared secret was accepted")


def hmac_outcomes() -> list[Outcome]:
    outcomes = []
    for group, case in _cases(load(HMAC_FILE)):
        key = _hmac_key(bytes.fromhex(case["key"]))
        accepted = verify_signature(key, bytes.fromhex(case["msg"]), bytes.fromhex(case["tag"]))
        outcome = _outcome(HMAC_FILE, case, accepted)
        if group["tagSize"] < 256 and outcome.expected == "accept":
            outcome = Outcome(HMAC_FILE, case["tcId"], case["result"], "reject", accepted, _TRUNCATED_MAC)
        outcomes.append(outcome)
    return outcomes


# -- JWK and JWS files -------------------------------------------------------------


def _published_keys(group: dict[str, Any]) -> dict[str, Any]:
    """The group's verification key(s) as a JWK Set: the public form when the
    group has one, else the symmetric key itself."""
    jwk: dict[str, Any] = group.get("public", group["private"])
    return jwk if "keys" in jwk else {"keys": [jwk]}


def group_keyset(group: dict[str, Any], *, allow_symmetric: bool = True) -> tuple[KeySet, list[Any]]:
    return keyset_from_jwks(_published_keys(group), ALL_ALGORITHMS, allow_symmetric=allow_symmetric)


def signature_layer_accepts(keyset: KeySet, jws: str) -> bool:
    """Parse, select the key by kid and alg, check the signature: no claims."""
    try:
        parsed = parse(jws, max_size=DEFAULT_MAX_TOKEN_SIZE, algorithms=ALL_ALGORITHMS)
    except InvalidToken:
        return False
    key = keyset.find(parsed.kid, parsed.alg)
    return key is not None and verify_signature(key.key, parsed.signing_input, parsed.signature)


def token_file_outcomes(name: str) -> list[Outcome]:
    policy = JWS_POLICY if name == JWS_FILE else JWK_POLICY
    outcomes = []
    for group in load(name)["testGroups"]:
        keyset, _ = group_keyset(group)
        for case in group["tests"]:
            outcomes.append(_outcome(name, case, signature_layer_accepts(keyset, case["jws"]), policy))
    return outcomes


def jws_verifiers() -> tuple[Verifier, Verifier]:
    """Verifiers holding every usable key of the JWS file: one asymmetric, one HMAC."""
    asymmetric: list[dict[str, Any]] = []
    symmetric: list[dict[str, Any]] = []
    for group in load(JWS_FILE)["testGroups"]:
        for jwk in _published_keys(group)["keys"]:
            (symmetric if jwk.get("kty") == "oct" else asymmetric).append(jwk)
    return (
        Verifier(issuer=ISSUER, audience=AUDIENCE, keys={"keys": asymmetric}, result_cache_size=0),
        Verifier(issuer=ISSUER, audience=AUDIENCE, secret={"keys": symmetric}, algorithms=sorted(HMAC_ALGORITHMS)),
    )


def _verifier_refusal(verify: Callable[[str], Any], jws: str) -> InvalidToken:
    try:
        verify(jws)
    except InvalidToken as refusal:
        return refusal
    raise AssertionError("the Verifier accepted a Wycheproof JWS")


_PAYLOAD_NOT_CLAIMS = "the token payload is not a JSON object"


def verifier_outcomes() -> list[Outcome]:
    """The JWS file through the full Verifier: every case refused with an
    InvalidToken; those whose signature verifies are refused for their
    payload (proving the signature was checked first)."""
    signature_ok = {o.tc_id: o.accepted for o in token_file_outcomes(JWS_FILE)}
    verifiers = jws_verifiers()
    outcomes = []
    try:
        for _, case in _cases(load(JWS_FILE)):
            refusals = [_verifier_refusal(verifier.verify, case["jws"]) for verifier in verifiers]
            if signature_ok[case["tcId"]]:
                refused = any(isinstance(r, MalformedToken) and r.description == _PAYLOAD_NOT_CLAIMS for r in refusals)
            else:
                refused = True
            outcomes.append(Outcome(JWS_VERIFIER, case["tcId"], case["result"], "reject", not refused))
    finally:
        for verifier in verifiers:
            verifier.close()
    return outcomes


@functools.cache
def all_outcomes() -> dict[str, tuple[Outcome, ...]]:
    """Every vendored case, evaluated once per process."""
    outcomes = {name: tuple(primitive_outcomes(name)) for name in PRIMITIVE_FILES}
    outcomes[HMAC_FILE] = tuple(hmac_outcomes())
    outcomes[JWK_FILE] = tuple(token_file_outcomes(JWK_FILE))
    outcomes[JWS_FILE] = tuple(token_file_outcomes(JWS_FILE))
    outcomes[JWS_VERIFIER] = tuple(verifier_outcomes())
    return outcomes


def wycheproof_summary() -> dict[str, tuple[int, int]]:
    """``{file: (passed, total)}`` for every vendored Wycheproof file (plus the
    JWS file's pass through the Verifier), for reports."""
    return {name: (sum(o.passed for o in outs), len(outs)) for name, outs in all_outcomes().items()}


def deviations() -> dict[str, list[tuple[int, str, str]]]:
    """The cases where jwt_guard's expectation is not Wycheproof's verdict:
    ``{file: [(tcId, Wycheproof verdict, reason)]}``."""
    found: dict[str, list[tuple[int, str, str]]] = {}
    for name, outs in all_outcomes().items():
        for o in outs:
            if o.reason:
                found.setdefault(name, []).append((o.tc_id, o.wycheproof, o.reason))
    return found


# -- tests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [pytest.param(name, id=name.replace("_test.json", "").replace(" [Verifier]", "-verifier")) for name in TOTALS],
)
def test_every_case_meets_its_expectation(name):
    outcomes = all_outcomes()[name]
    failed = [o for o in outcomes if not o.passed]
    assert failed == []
    assert len(outcomes) == TOTALS[name] == load(name.split(" ")[0])["numberOfTests"]
    assert len({o.tc_id for o in outcomes}) == len(outcomes), "duplicate tcIds: a case was evaluated twice"


def test_summary_counts_every_case():
    assert wycheproof_summary() == {name: (total, total) for name, total in TOTALS.items()}


def test_documented_deviations_are_exactly_the_policy_tables():
    found = deviations()
    assert {tc for tc, _, _ in found[JWS_FILE]} == set(JWS_POLICY)
    assert {tc for tc, _, _ in found[JWK_FILE]} == set(JWK_POLICY)
    # HMAC: exactly Wycheproof's valid truncated tags (128-bit tag groups).
    truncated = {
        case["tcId"] for group, case in _cases(load(HMAC_FILE)) if group["tagSize"] < 256 and case["result"] == "valid"
    }
    assert {tc for tc, _, _ in found[HMAC_FILE]} == truncated
    assert len(truncated) == 33
    assert set(found) == {JWS_FILE, JWK_FILE, HMAC_FILE}


@pytest.mark.parametrize(
    ("name", "accepted", "acceptable"),
    [
        pytest.param("ecdsa_secp256r1_sha256_p1363_test.json", 173, 0, id="p256"),
        pytest.param("ecdsa_secp384r1_sha384_p1363_test.json", 193, 0, id="p384"),
        pytest.param("ecdsa_secp521r1_sha512_p1363_test.json", 231, 0, id="p521"),
        pytest.param("rsa_signature_2048_sha256_test.json", 9, 1, id="rs256"),
        pytest.param("rsa_signature_2048_sha384_test.json", 7, 1, id="rs384"),
        pytest.param("rsa_signature_2048_sha512_test.json", 8, 1, id="rs512"),
        pytest.param("rsa_pss_2048_sha256_mgf1_32_test.json", 63, 0, id="ps256"),
        pytest.param("rsa_pss_2048_sha384_mgf1_48_test.json", 95, 0, id="ps384"),
        pytest.param("ed25519_test.json", 88, 0, id="ed25519"),
        pytest.param(HMAC_FILE, 33, 0, id="hmac"),
    ],
)
def test_primitive_acceptance_counts(name, accepted, acceptable):
    """Pins how many signatures verify, so that a layer answering "reject" to
    everything cannot pass unnoticed."""
    outcomes = all_outcomes()[name]
    assert sum(o.accepted and o.expected == "accept" for o in outcomes) == accepted
    assert sum(o.expected == "either" for o in outcomes) == acceptable


def test_hmac_short_keys_refused_as_configured_secrets():
    short = {bytes.fromhex(case["key"]) for group, case in _cases(load(HMAC_FILE)) if group["keySize"] < 256}
    assert short and all(len(key) == 16 for key in short)
    for key in short:
        with pytest.raises(ValueError, match=f"at least {MIN_SECRET_BYTES} bytes"):
            keyset_from_secret(key, frozenset({"HS256"}))


def test_rsa_signature_files_use_2048_bit_keys_only():
    for name, alg in PRIMITIVE_FILES.items():
        if alg[:2] in ("RS", "PS"):
            assert {group["keySize"] for group in load(name)["testGroups"]} == {2048}, name


def _jwk_groups() -> dict[int, dict[str, Any]]:
    return {case["tcId"]: group for group, case in _cases(load(JWK_FILE))}


# tcIds of the JWK file whose key itself is unusable, and why.
_UNUSABLE_KEYS = {
    6: "not for signatures (use)",
    8: "RSA modulus shorter than 2048 bits",
    9: "RSA parameters out of range",
    10: "serves no allowed algorithm",
    11: "serves no allowed algorithm",
    12: "serves no allowed algorithm",
    16: "missing or not base64url",
    17: "missing or not base64url",
    18: "missing or not base64url",
    19: "key alg does not fit the key type",
    20: "key alg does not fit the key type",
    21: "not for signatures (use)",
    22: "",  # not a point on the curve: cryptography's own message
    23: "EC coordinates have the wrong length",
    24: "missing or not base64url",
    25: "key alg does not fit the key type",
    26: "key alg does not fit the key type",
}


@pytest.mark.parametrize("tc_id", sorted(_UNUSABLE_KEYS))
def test_jwk_keys_that_must_be_rejected_are_unusable(tc_id):
    keyset, skipped = group_keyset(_jwk_groups()[tc_id])
    assert len(keyset) == 0
    assert len(skipped) == 1
    assert _UNUSABLE_KEYS[tc_id] in skipped[0].reason


@pytest.mark.parametrize("tc_id", [2, 3, 5, 13, 14, 15])
def test_jwk_valid_keys_build(tc_id):
    group = _jwk_groups()[tc_id]
    keyset, skipped = group_keyset(group)
    assert skipped == []
    kids = {jwk["kid"] for jwk in _published_keys(group)["keys"]}
    assert keyset.kids == kids


def test_jwk_key_verdicts_of_documented_deviations():
    groups = _jwk_groups()
    # MixedKeySet: a shared secret next to an EC public key. Both build, each
    # bound to its own algorithm family ...
    mixed = _published_keys(groups[1])
    keyset, skipped = group_keyset(groups[1])
    assert (keyset.kids, skipped) == ({"kid-aes-sign", "kid-ec-sign"}, [])
    case = next(c for _, c in _cases(load(JWK_FILE)) if c["tcId"] == 1)
    # ... but no Verifier holds both: HS* and asymmetric algorithms never mix,
    with pytest.raises(ConfigurationError, match="must not mix"):
        Verifier(issuer=ISSUER, audience=AUDIENCE, keys=mixed, algorithms=["HS256", "ES256"])
    # keys= takes public keys only and secret= shared secrets only,
    with pytest.raises(ConfigurationError, match="secret="):
        Verifier(issuer=ISSUER, audience=AUDIENCE, keys=mixed)
    with pytest.raises(ConfigurationError, match="keys="):
        Verifier(issuer=ISSUER, audience=AUDIENCE, secret=mixed, algorithms=["HS256"])
    # and an asymmetric verifier never meets the token's HMAC algorithm.
    ec_only = {"keys": [jwk for jwk in mixed["keys"] if jwk["kty"] != "oct"]}
    with Verifier(issuer=ISSUER, audience=AUDIENCE, keys=ec_only) as asymmetric, pytest.raises(UnsupportedAlgorithm):
        asymmetric.verify(case["jws"])
    # and a remote key set (no symmetric keys) leaves only the EC key.
    remote, skipped = group_keyset(groups[1], allow_symmetric=False)
    assert remote.kids == {"kid-ec-sign"}
    assert [s.reason for s in skipped] == ["symmetric keys are never taken from a remote key set"]
    assert not signature_layer_accepts(remote, case["jws"])
    # DuplicateKid: the later key with the same (kid, alg) is skipped.
    keyset, skipped = group_keyset(groups[4])
    assert len(keyset) == 1
    assert [s.reason for s in skipped] == ["duplicate kid"]
    # ROCA: the modulus is a plausible 2048-bit one; nothing flags it.
    keyset, skipped = group_keyset(groups[7])
    assert (len(keyset), skipped) == (1, [])


def test_jwk_small_rsa_key_refused_from_pem_too():
    """The JWK file's 1024-bit key, as PEM, is refused like its JWK form."""
    jwk = _jwk_groups()[8]["public"]["keys"][0]
    n, e = (int.from_bytes(base64.urlsafe_b64decode(jwk[m] + "=" * (-len(jwk[m]) % 4)), "big") for m in ("n", "e"))
    assert n.bit_length() == 1024
    pem = (
        rsa.RSAPublicNumbers(e, n)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="shorter than 2048 bits"):
        keyset_from_pem(pem, frozenset({"RS256"}))


def test_jws_vectors_named_padding_are_the_valid_vector():
    """tcIds 367 and 370 claim to add padding, but their text is tcId 357's."""
    jws = {case["tcId"]: case["jws"] for _, case in _cases(load(JWS_FILE))}
    assert jws[367] == jws[370] == jws[357]


def test_empty_payload_signatures_verify():
    """The parser's policy, not the signature, refuses Wycheproof's empty-payload JWS."""
    checked = 0
    for group, case in _cases(load(JWS_FILE)):
        if case["tcId"] not in JWS_POLICY or JWS_POLICY[case["tcId"]] is not _EMPTY_PAYLOAD:
            continue
        header_segment, payload_segment, signature_segment = case["jws"].split(".")
        assert payload_segment == ""
        header = json.loads(base64.urlsafe_b64decode(header_segment + "=" * (-len(header_segment) % 4)))
        keyset, _ = group_keyset(group)
        key = keyset.find(header["kid"], header["alg"])
        assert key is not None
        signature = base64.urlsafe_b64decode(signature_segment + "=" * (-len(signature_segment) % 4))
        assert verify_signature(key.key, f"{header_segment}.".encode(), signature)
        with pytest.raises(MalformedToken, match="empty segment"):
            parse(case["jws"], max_size=DEFAULT_MAX_TOKEN_SIZE, algorithms=ALL_ALGORITHMS)
        checked += 1
    assert checked == 6


@pytest.fixture(scope="module")
def verifiers():
    made = jws_verifiers()
    yield made
    for verifier in made:
        verifier.close()


@pytest.mark.anyio
async def test_jws_file_through_verify_async_accepts_nothing(verifiers):
    signature_ok = {o.tc_id: o.accepted for o in all_outcomes()[JWS_FILE]}
    for _, case in _cases(load(JWS_FILE)):
        refusals = []
        for verifier in verifiers:
            with pytest.raises(InvalidToken) as refusal:
                await verifier.verify_async(case["jws"])
            refusals.append(refusal.value)
        if signature_ok[case["tcId"]]:
            assert any(isinstance(r, MalformedToken) and r.description == _PAYLOAD_NOT_CLAIMS for r in refusals)


def test_jws_verifiers_hold_every_usable_key(verifiers):
    """The Verifier pass is only meaningful if the file's good keys are loaded."""
    asymmetric, symmetric = verifiers
    assert asymmetric.algorithms == ASYMMETRIC_ALGORITHMS
    assert symmetric.algorithms == HMAC_ALGORITHMS
    accepted_by_signature = sum(o.accepted for o in all_outcomes()[JWS_FILE])
    assert accepted_by_signature == 36
