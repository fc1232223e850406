"""verify_proof: every check of RFC 9449 §4.3, one table row per way to fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jwt_guard import AuthError, InvalidToken
from jwt_guard._dpop import (
    MAX_PROOF_SIZE,
    DPoPOptions,
    DPoPProof,
    access_token_hash,
    bound_thumbprint,
    replay_key,
    single_proof,
)
from jwt_guard._dpop_errors import InvalidDPoPBinding, InvalidDPoPProof, UseDPoPNonce
from jwt_guard.errors import InvalidClaim
from jwt_guard.testing import b64url
from jwt_guard.testing._dpop import DPoPKey
from tests.dpop.conftest import DEFAULT_ALGS, NOW, OTHER_ALGS, URL, dpop_key

Check = Callable[..., DPoPProof]


def _b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def header_of(key: DPoPKey, **changes: Any) -> dict[str, Any]:
    header: dict[str, Any] = {"typ": "dpop+jwt", "alg": key.alg, "jwk": key.jwk}
    header.update(changes)
    return {name: value for name, value in header.items() if value is not None}


def claims_of(token: str, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"jti": "jti-1", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(token)}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def with_jwk(key: DPoPKey, token: str, **members: Any) -> str:
    """A proof signed by *key* whose jwk members are changed (None removes)."""
    jwk: dict[str, Any] = {**key.jwk, **members}
    jwk = {name: value for name, value in jwk.items() if value is not None}
    return key.sign(header_of(key, jwk=jwk), claims_of(token))


def uint(value: int, size: int | None = None) -> str:
    return b64url(value.to_bytes(size or (value.bit_length() + 7) // 8, "big"))


# -- acceptance ---------------------------------------------------------------------


@pytest.mark.parametrize("alg", DEFAULT_ALGS)
def test_a_proof_for_each_default_algorithm_verifies(alg: str, check: Check, token: str) -> None:
    key = dpop_key(alg)
    result = check(key.proof("GET", URL, access_token=token, jti="one"), jkt=key.thumbprint)
    assert result == DPoPProof(key.thumbprint, "one", float(NOW), alg, float(NOW + 300), None)


@pytest.mark.parametrize("alg", OTHER_ALGS)
def test_other_algorithms_only_when_allowed(alg: str, check: Check, token: str) -> None:
    key = dpop_key(alg)
    proof = key.proof("GET", URL, access_token=token)
    with pytest.raises(InvalidDPoPProof, match="algorithm is not accepted"):
        check(proof, jkt=key.thumbprint)
    assert check(proof, jkt=key.thumbprint, options=DPoPOptions(algorithms=[alg])).algorithm == alg


@pytest.mark.parametrize("typ", ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt", "Application/DPoP+jwt"])
def test_typ_is_a_media_type(typ: str, check: Check, key: DPoPKey, token: str) -> None:
    """RFC 7515 §4.1.9: "application/" may be omitted; media types ignore case."""
    check(key.proof("GET", URL, access_token=token, headers={"typ": typ}))


def test_extra_header_parameters_and_claims_are_ignored(check: Check, key: DPoPKey, token: str) -> None:
    proof = key.proof(
        "GET", URL, access_token=token, headers={"kid": "k1", "x-ext": [1]}, claims={"nonce": "n", "ext": {"a": 1}}
    )
    assert check(proof).thumbprint == key.thumbprint


def test_without_a_token_there_is_no_ath_or_binding(check: Check, key: DPoPKey) -> None:
    """A proof checked on its own (no token): ath and cnf.jkt do not apply."""
    proof = key.proof("POST", URL)
    assert check(proof, method="POST", access_token=None, jkt=None).jti


def test_a_jkt_without_a_token_is_still_checked(check: Check, key: DPoPKey) -> None:
    proof = key.proof("GET", URL)
    assert check(proof, access_token=None).thumbprint == key.thumbprint
    with pytest.raises(InvalidDPoPBinding):
        check(proof, access_token=None, jkt=dpop_key("EdDSA").thumbprint)


# -- htu: RFC 3986 normalisation of both sides ------------------------------------------

SAME_TARGET = [
    ("https://api.example.test/items", "https://api.example.test/items"),
    ("HTTPS://API.Example.TEST/items", "https://api.example.test/items"),
    ("https://api.example.test:443/items", "https://api.example.test/items"),
    ("https://api.example.test:/items", "https://api.example.test/items"),
    ("http://api.example.test:80/items", "http://api.example.test/items"),
    ("https://api.example.test/%7Eme", "https://api.example.test/~me"),
    ("https://api.example.test/%7eme", "https://api.example.test/~me"),
    ("https://api.example.test/a%2fb", "https://api.example.test/a%2Fb"),
    ("https://api.example.test/%69tems", "https://api.example.test/items"),
    ("https://api.example.test/a/./b/../items", "https://api.example.test/a/items"),
    ("https://api.example.test/a/%2E%2E/items", "https://api.example.test/items"),
    ("https://api.example.test", "https://api.example.test/"),
    ("https://api.example.test/items?q=1#frag", "https://api.example.test/items"),
    ("https://api.example.test/items", "https://api.example.test/items?page=2"),
    ("https://api.example.test/items#x", "https://api.example.test/items#y"),
    ("https://[::1]:8443/items", "https://[0:0:0:0:0:0:0:1]:8443/items"),
    ("wss://api.example.test:443/ws", "wss://api.example.test/ws"),
]

OTHER_TARGET = [
    ("http://api.example.test/items", "https://api.example.test/items"),
    ("https://api.example.test/Items", "https://api.example.test/items"),
    ("https://api.example.test/items/", "https://api.example.test/items"),
    ("https://api.example.test:8443/items", "https://api.example.test/items"),
    ("https://api.example.test:80/items", "https://api.example.test/items"),
    ("https://other.example.test/items", "https://api.example.test/items"),
    ("https://api.example.test.evil/items", "https://api.example.test/items"),
    ("https://api.example.test/a%2Fb", "https://api.example.test/a/b"),
    ("https://api.example.test/items%3F", "https://api.example.test/items"),
    ("wss://api.example.test/items", "https://api.example.test/items"),
    ("https://api.example.test//items", "https://api.example.test/items"),
]


@pytest.mark.parametrize(("htu", "url"), SAME_TARGET)
def test_htu_matches_the_same_target(htu: str, url: str, check: Check, key: DPoPKey, token: str) -> None:
    check(key.proof("GET", htu, access_token=token), url=url)
    check(key.proof("GET", url, access_token=token), url=htu)


@pytest.mark.parametrize(("htu", "url"), OTHER_TARGET)
def test_htu_does_not_match_another_target(htu: str, url: str, check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(InvalidDPoPProof, match="not for this URL"):
        check(key.proof("GET", htu, access_token=token), url=url)


@pytest.mark.parametrize(
    "htu",
    [
        "/items",
        "api.example.test/items",
        "ftp://api.example.test/items",
        "https://user:pw@api.example.test/items",
        "https://api.example.test/it ems",
        "https://api.example.test/%zz",
        "https://api.example.test/caf\u00e9",
        "https:///items",
        "https://api.example.test:99999/items",
        "https://[fe80::1%25eth0]/items",
        "",
    ],
)
def test_htu_must_be_an_absolute_http_uri(htu: str, check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(InvalidDPoPProof, match="htu is not an absolute"):
        check(key.proof("GET", htu, access_token=token))


def test_a_request_url_that_is_no_uri_matches_nothing(check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(InvalidDPoPProof, match="not for this URL"):
        check(key.proof("GET", URL, access_token=token), url="/items")


@pytest.mark.parametrize(("htm", "method"), [("get", "GET"), ("GET", "get"), ("POST", "GET"), ("GET ", "GET")])
def test_htm_is_the_exact_method(htm: str, method: str, check: Check, key: DPoPKey, token: str) -> None:
    """RFC 9110 §9.1: methods are case-sensitive."""
    with pytest.raises(InvalidDPoPProof, match="not for this method"):
        check(key.proof(htm, URL, access_token=token), method=method)


# -- iat: max_age in the past, leeway either side ------------------------------------------


@pytest.mark.parametrize(
    ("iat", "leeway", "accepted"),
    [
        pytest.param(NOW - 300, 0, True, id="exactly-max-age"),
        pytest.param(NOW - 301, 0, False, id="one-second-too-old"),
        pytest.param(NOW - 310, 10, True, id="old-within-leeway"),
        pytest.param(NOW - 311, 10, False, id="old-beyond-leeway"),
        pytest.param(NOW + 1, 0, False, id="future"),
        pytest.param(NOW + 10, 10, True, id="future-within-leeway"),
        pytest.param(NOW + 11, 10, False, id="future-beyond-leeway"),
        pytest.param(NOW - 299.5, 0, True, id="fractional"),
        pytest.param(10**400, 60, False, id="huge-int"),
        pytest.param(-(10**400), 60, False, id="huge-negative-int"),
    ],
)
def test_iat_window(iat: float, leeway: float, accepted: bool, check: Check, key: DPoPKey, token: str) -> None:
    proof = key.proof("GET", URL, access_token=token, iat=iat)
    if accepted:
        assert check(proof, leeway=leeway).issued_at == iat
    else:
        with pytest.raises(InvalidDPoPProof, match=r"too old|in the future"):
            check(proof, leeway=leeway)


def test_max_age_comes_from_the_options(check: Check, key: DPoPKey, token: str) -> None:
    proof = key.proof("GET", URL, access_token=token, iat=NOW - 100)
    check(proof, options=DPoPOptions(max_age=100))
    with pytest.raises(InvalidDPoPProof, match="too old"):
        check(proof, options=DPoPOptions(max_age=99))


# -- the refusal table ---------------------------------------------------------------------

Builder = Callable[[DPoPKey, str], str]


def _rsa_jwk(bits: int) -> dict[str, str]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    numbers = private.public_key().public_numbers()
    return {"kty": "RSA", "n": uint(numbers.n), "e": uint(numbers.e)}


def _private_ec_member(key: DPoPKey) -> str:
    return uint(key.private_key.private_numbers().private_value, 32)


def _off_curve(key: DPoPKey) -> str:
    y = int.from_bytes(_b64d(key.jwk["y"]), "big")
    return uint(y ^ 1, 32)


def _non_canonical_last_char(value: str) -> str:
    # 32 bytes use 43 characters with 2 spare bits: flipping one decodes the same.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return value[:-1] + alphabet[alphabet.index(value[-1]) ^ 1]


def _signed_by_other(key: DPoPKey, token: str) -> str:
    other = DPoPKey(key.alg)
    return other.sign(header_of(key), claims_of(token))


def _flip_signature(key: DPoPKey, token: str) -> str:
    proof = key.proof("GET", URL, access_token=token)
    head, _, signature = proof.rpartition(".")
    raw = bytearray(_b64d(signature))
    raw[5] ^= 0x01
    return f"{head}.{b64url(bytes(raw))}"


def _hs256(key: DPoPKey, token: str) -> str:
    signing_input = f"{b64url(json.dumps(header_of(key, alg='HS256')))}.{b64url(json.dumps(claims_of(token)))}"
    mac = hmac.new(b"k" * 32, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def _alg_none(key: DPoPKey, token: str) -> str:
    return f"{b64url(json.dumps(header_of(key, alg='none')))}.{b64url(json.dumps(claims_of(token)))}."


def _raw_payload(text: str) -> Builder:
    return lambda key, token: key.sign(header_of(key), text.encode())


def _raw_header(text: str) -> Builder:
    return lambda key, token: key.sign(text.encode(), claims_of(token))


def _claims(**changes: Any) -> Builder:
    return lambda key, token: key.sign(header_of(key), claims_of(token, **changes))


def _header(**changes: Any) -> Builder:
    return lambda key, token: key.sign(header_of(key, **changes), claims_of(token))


def _jwk(**members: Any) -> Builder:
    return lambda key, token: with_jwk(key, token, **members)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


MALFORMED = "malformed"
BAD_JWK = "jwk is not an acceptable public key"
REFUSALS: list[Any] = [
    # structure and size
    pytest.param(lambda k, t: "", MALFORMED, id="empty"),
    pytest.param(lambda k, t: "not-a-jwt", MALFORMED, id="one-segment"),
    pytest.param(lambda k, t: "a.b.c.d.e", MALFORMED, id="jwe-shaped"),
    pytest.param(lambda k, t: '{"payload":"e30","signatures":[]}', MALFORMED, id="json-serialization"),
    pytest.param(lambda k, t: k.proof("GET", URL, access_token=t) + "=", MALFORMED, id="padding"),
    pytest.param(lambda k, t: "+/" + k.proof("GET", URL, access_token=t)[2:], MALFORMED, id="std-base64"),
    pytest.param(lambda k, t: "\u00e9" + k.proof("GET", URL, access_token=t), MALFORMED, id="non-ascii"),
    pytest.param(lambda k, t: "a" * (1 << 20), "too large", id="one-mebibyte"),
    pytest.param(lambda k, t: "e30." + "a" * MAX_PROOF_SIZE + ".sig", "too large", id="just-over-cap"),
    # header
    pytest.param(_header(typ=None), "typ is not dpop\\+jwt", id="typ-missing"),
    pytest.param(_header(typ="JWT"), "typ is not dpop\\+jwt", id="typ-jwt"),
    pytest.param(_header(typ="at+jwt"), "typ is not dpop\\+jwt", id="typ-at+jwt"),
    pytest.param(_header(typ="dpop+jwt "), "typ is not dpop\\+jwt", id="typ-trailing-space"),
    pytest.param(_header(typ="text/dpop+jwt"), "typ is not dpop\\+jwt", id="typ-other-type"),
    pytest.param(_header(typ=1), "typ is not dpop\\+jwt", id="typ-number"),
    pytest.param(_alg_none, MALFORMED, id="alg-none-unsigned"),
    pytest.param(_header(alg="none"), "algorithm is not accepted", id="alg-none-signed"),
    pytest.param(_hs256, "algorithm is not accepted", id="alg-hs256"),
    pytest.param(_header(alg="ES512"), "algorithm is not accepted", id="alg-not-in-allowlist"),
    pytest.param(_header(alg=None), MALFORMED, id="alg-missing"),
    pytest.param(_header(alg=["ES256"]), MALFORMED, id="alg-list"),
    pytest.param(_header(crit=["exp"]), MALFORMED, id="crit-unknown"),
    pytest.param(_header(b64=False), MALFORMED, id="b64-false"),
    pytest.param(
        _raw_header('{"typ":"dpop+jwt","typ":"dpop+jwt","alg":"ES256"}'), MALFORMED, id="duplicate-header-member"
    ),
    pytest.param(_header(ext=_deep(20)), MALFORMED, id="deep-header"),
    # jwk
    pytest.param(_header(jwk=None), BAD_JWK, id="jwk-missing"),
    pytest.param(_header(jwk="key"), BAD_JWK, id="jwk-string"),
    pytest.param(_header(jwk=[]), BAD_JWK, id="jwk-list"),
    pytest.param(lambda k, t: with_jwk(k, t, d=_private_ec_member(k)), BAD_JWK, id="jwk-with-d"),
    pytest.param(_jwk(p="AQAB"), BAD_JWK, id="jwk-with-p"),
    pytest.param(_jwk(q="AQAB"), BAD_JWK, id="jwk-with-q"),
    pytest.param(_jwk(dp="AQAB"), BAD_JWK, id="jwk-with-dp"),
    pytest.param(_jwk(dq="AQAB"), BAD_JWK, id="jwk-with-dq"),
    pytest.param(_jwk(qi="AQAB"), BAD_JWK, id="jwk-with-qi"),
    pytest.param(_jwk(oth=[]), BAD_JWK, id="jwk-with-oth"),
    pytest.param(_jwk(k="c2VjcmV0"), BAD_JWK, id="jwk-with-k"),
    pytest.param(_header(jwk={"kty": "oct", "k": b64url(b"s" * 32)}), BAD_JWK, id="jwk-symmetric"),
    pytest.param(_header(jwk={"kty": "oct", "k": b64url(b"s" * 32)}, alg="HS256"), "not accepted", id="oct-hs256"),
    pytest.param(lambda k, t: with_jwk(k, t, y=_off_curve(k)), BAD_JWK, id="ec-off-curve"),
    pytest.param(lambda k, t: with_jwk(k, t, x=k.jwk["x"][:-2]), BAD_JWK, id="ec-short-coordinate"),
    pytest.param(lambda k, t: with_jwk(k, t, x="AA" + k.jwk["x"]), BAD_JWK, id="ec-long-coordinate"),
    pytest.param(lambda k, t: with_jwk(k, t, x=k.jwk["x"] + "="), BAD_JWK, id="ec-padded"),
    pytest.param(lambda k, t: with_jwk(k, t, x=_non_canonical_last_char(k.jwk["x"])), BAD_JWK, id="ec-non-canonical"),
    pytest.param(_jwk(crv="P-384"), BAD_JWK, id="ec-wrong-curve"),
    pytest.param(_jwk(crv="secp256k1"), BAD_JWK, id="ec-unknown-curve"),
    pytest.param(_jwk(kty="RSA"), BAD_JWK, id="kty-does-not-fit"),
    pytest.param(_jwk(kty="OKP", crv="Ed448"), BAD_JWK, id="okp-ed448"),
    pytest.param(_jwk(y=None), BAD_JWK, id="ec-without-y"),
    pytest.param(_jwk(x=7), BAD_JWK, id="ec-x-number"),
    pytest.param(_jwk(alg="ES384"), BAD_JWK, id="jwk-alg-differs"),
    pytest.param(_jwk(use="enc"), BAD_JWK, id="jwk-use-enc"),
    pytest.param(_jwk(key_ops=["encrypt"]), BAD_JWK, id="jwk-key-ops"),
    pytest.param(_jwk(kid="k" * 5000), BAD_JWK, id="jwk-huge-member"),
    pytest.param(_jwk(**{f"m{i}": "v" for i in range(20)}), BAD_JWK, id="jwk-too-many-members"),
    pytest.param(_header(jwk=_rsa_jwk(1024), alg="RS256"), BAD_JWK, id="rsa-1024"),
    pytest.param(
        _header(jwk={"kty": "RSA", "n": uint((1 << 4999) | secrets.randbits(4998) | 1), "e": "AQAB"}, alg="RS256"),
        BAD_JWK,
        id="rsa-5000-bits",
    ),
    pytest.param(_header(jwk={"kty": "RSA", "n": "A" * 4000, "e": "AQAB"}, alg="RS256"), BAD_JWK, id="rsa-huge-n"),
    pytest.param(
        lambda k, t: with_jwk(
            dpop_key("RS256"), t, n=uint(dpop_key("RS256").private_key.public_key().public_numbers().n, 257)
        ),
        BAD_JWK,
        id="rsa-non-minimal-n",
    ),
    pytest.param(_header(jwk={"kty": "RSA", "n": _rsa_jwk(2048)["n"], "e": "AQ"}, alg="RS256"), BAD_JWK, id="rsa-e-1"),
    # signature
    pytest.param(_signed_by_other, "signature is invalid", id="signed-by-another-key"),
    pytest.param(_flip_signature, "signature is invalid", id="signature-bit-flip"),
    pytest.param(
        lambda k, t: k.proof("GET", URL, access_token=t)[:-8], "signature is invalid|malformed", id="short-sig"
    ),
    # claims
    pytest.param(_raw_payload("[]"), "not a JSON object", id="payload-array"),
    pytest.param(_raw_payload("not json"), "not a JSON object", id="payload-not-json"),
    pytest.param(
        _raw_payload('{"jti":"a","jti":"b","htm":"GET","htu":"' + URL + '","iat":1800000000}'),
        "not a JSON object",
        id="duplicate-claim",
    ),
    pytest.param(
        _raw_payload('{"jti":"a","htm":"GET","htm":"POST","htu":"' + URL + '","iat":1800000000}'),
        "not a JSON object",
        id="duplicate-htm",
    ),
    pytest.param(_claims(ext=_deep(40)), "not a JSON object", id="deep-claims"),
    pytest.param(_claims(ext=[{}] * 20), "not a JSON object", id="many-brackets"),
    pytest.param(_raw_payload('{"iat":NaN}'), "not a JSON object", id="nan"),
    pytest.param(_raw_payload('{"jti":"a","htm":"GET","htu":"' + URL + '","iat":1e400}'), "valid iat", id="iat-inf"),
    pytest.param(_raw_payload('{"iat":' + "9" * 5000 + "}"), "not a JSON object", id="int-digits-limit"),
    pytest.param(_claims(jti=None), "no valid jti", id="jti-missing"),
    pytest.param(_claims(jti=""), "no valid jti", id="jti-empty"),
    pytest.param(_claims(jti=7), "no valid jti", id="jti-number"),
    pytest.param(_claims(jti="j" * 257), "no valid jti", id="jti-too-long"),
    pytest.param(_claims(htm=None), "not for this method", id="htm-missing"),
    pytest.param(_claims(htm=["GET"]), "not for this method", id="htm-list"),
    pytest.param(_claims(htu=None), "no htu", id="htu-missing"),
    pytest.param(_claims(htu={"url": URL}), "no htu", id="htu-object"),
    pytest.param(_claims(iat=None), "valid iat", id="iat-missing"),
    pytest.param(_claims(iat=str(NOW)), "valid iat", id="iat-string"),
    pytest.param(_claims(iat=True), "valid iat", id="iat-bool"),
    pytest.param(_claims(ath=None), "not for this access token", id="ath-missing"),
    pytest.param(_claims(ath="x"), "not for this access token", id="ath-wrong"),
    pytest.param(_claims(ath=access_token_hash("another.token.x")), "not for this access token", id="ath-other-token"),
    pytest.param(_claims(ath=["x"]), "not for this access token", id="ath-list"),
]


@pytest.mark.parametrize(("build", "reason"), REFUSALS)
def test_refused(build: Builder, reason: str, check: Check, key: DPoPKey, token: str) -> None:
    """Each broken proof is refused with invalid_dpop_proof, nothing else."""
    with pytest.raises(InvalidDPoPProof, match=reason) as info:
        check(build(key, token))
    error = info.value
    assert type(error) is InvalidDPoPProof
    assert (error.status_code, error.error) == (401, "invalid_dpop_proof")
    assert error.algorithms == DEFAULT_ALGS


def test_a_missing_proof(check: Check) -> None:
    with pytest.raises(InvalidDPoPProof, match="a DPoP proof is required"):
        check(None)


def test_exactly_one_dpop_header(check: Check, key: DPoPKey, token: str) -> None:
    """RFC 9449 §4.3: two DPoP headers are refused even if both are good proofs."""
    options = DPoPOptions()
    proof = key.proof("GET", URL, access_token=token)
    assert single_proof([], options) is None
    assert check(single_proof([proof], options)).jti
    with pytest.raises(InvalidDPoPProof, match="exactly one DPoP header") as info:
        single_proof([proof, key.proof("GET", URL, access_token=token)], options)
    assert info.value.algorithms == options.algorithms


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi"])
def test_rsa_private_members(member: str, check: Check, token: str) -> None:
    key = dpop_key("RS256")
    with pytest.raises(InvalidDPoPProof, match=BAD_JWK):
        check(with_jwk(key, token, **{member: "AQAB"}), jkt=key.thumbprint)


def test_key_type_must_fit_the_algorithm(check: Check, token: str) -> None:
    """An EC key under RS256, a P-384 key under ES256: refused before the signature."""
    ec384 = DPoPKey("ES384")
    rsa_key = dpop_key("RS256")
    for proof in (
        rsa_key.sign(header_of(rsa_key, alg="ES256"), claims_of(token)),
        ec384.sign(header_of(ec384, alg="ES256"), claims_of(token)),
        dpop_key("ES256").sign(header_of(dpop_key("ES256"), alg="RS256"), claims_of(token)),
    ):
        with pytest.raises(InvalidDPoPProof, match=BAD_JWK):
            check(proof)


def test_an_ec_key_with_a_point_not_on_the_curve_is_refused_even_if_signed(check: Check, token: str) -> None:
    """The invalid-curve attack: a point chosen off the curve never reaches ECDSA."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    bogus = {"kty": "EC", "crv": "P-256", "x": uint(public.x, 32), "y": uint((public.y + 1) % (2**256), 32)}
    proof = dpop_key("ES256").sign(header_of(dpop_key("ES256"), jwk=bogus), claims_of(token))
    with pytest.raises(InvalidDPoPProof, match=BAD_JWK):
        check(proof)


# -- binding: cnf.jkt (invalid_token) and the order of the checks -----------------------------


def test_a_token_bound_to_another_key(check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(InvalidDPoPBinding) as info:
        check(key.proof("GET", URL, access_token=token), jkt=dpop_key("EdDSA").thumbprint)
    error = info.value
    assert isinstance(error, InvalidToken)
    assert not isinstance(error, InvalidDPoPProof)
    assert (error.status_code, error.error) == (401, "invalid_token")
    assert error.www_authenticate().startswith('DPoP error="invalid_token"')


def test_an_unbound_token_with_a_proof(check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(InvalidDPoPBinding, match="not bound to a DPoP key"):
        check(key.proof("GET", URL, access_token=token), jkt=None)


def test_proof_failures_come_before_binding_failures(check: Check, key: DPoPKey, token: str) -> None:
    with pytest.raises(InvalidDPoPProof, match="method"):
        check(key.proof("POST", URL, access_token=token), jkt="wrong")


def test_binding_failures_come_before_nonce_failures(check: Check, key: DPoPKey, token: str) -> None:
    """use_dpop_nonce means "only the nonce is missing": never said to a proof that cannot pass."""
    options = DPoPOptions(nonce_secret=b"n" * 32)
    with pytest.raises(InvalidDPoPBinding):
        check(key.proof("GET", URL, access_token=token), jkt="wrong", options=options)
    with pytest.raises(UseDPoPNonce):
        check(key.proof("GET", URL, access_token=token), options=options)


# -- cnf claim and helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({}, None),
        ({"cnf": {"x5t#S256": "abc"}}, None),
        ({"cnf": {"jkt": "abc"}}, "abc"),
        ({"cnf": {"jkt": "abc", "x5t#S256": "def"}}, "abc"),
    ],
)
def test_bound_thumbprint(claims: dict[str, Any], expected: str | None) -> None:
    assert bound_thumbprint(claims) == expected


@pytest.mark.parametrize("cnf", [None, "abc", ["jkt"], {"jkt": None}, {"jkt": 1}, {"jkt": ""}, {"jkt": ["a"]}])
def test_bound_thumbprint_refuses_a_malformed_cnf(cnf: Any) -> None:
    with pytest.raises(InvalidClaim):
        bound_thumbprint({"cnf": cnf})


def test_ath_is_the_sha256_of_the_token() -> None:
    token = "a.b.c"
    assert access_token_hash(token) == b64url(hashlib.sha256(b"a.b.c").digest())


# -- replay: the key and lifetime the caller records ---------------------------------------------


def test_replay_key_is_per_key_and_jti() -> None:
    a, b = dpop_key("ES256").thumbprint, dpop_key("EdDSA").thumbprint
    assert replay_key(a, "1") == replay_key(a, "1")
    assert len({replay_key(a, "1"), replay_key(a, "2"), replay_key(b, "1")}) == 3
    # A thumbprint is base64url, never holding ":": the first ":" after the
    # prefix ends it, so a jti cannot make another pair's key.
    assert ":" not in a + b and len(a) == len(b) == 43
    assert replay_key(a, "x") == f"dpop:{a}:x"


@pytest.mark.parametrize(
    "jti", ["j" * 256, "\ud800", ":", "é"], ids=["longest", "lone-surrogate", "colon", "non-ascii"]
)
def test_every_replay_key_is_a_store_key(jti: str) -> None:
    """Whatever the jti (at most 256 characters, any code point), the stores take the key."""
    from jwt_guard.stores import MemoryStore

    store = MemoryStore()
    key = replay_key(dpop_key("ES256").thumbprint, jti)
    assert store.claim_once(key, 60) is True
    assert store.claim_once(key, 60) is False


@pytest.mark.parametrize(
    ("iat", "leeway", "ttl"),
    [
        pytest.param(NOW, 0, 300, id="fresh"),
        pytest.param(NOW - 200, 0, 100, id="older"),
        pytest.param(NOW + 30, 30, 360, id="future-dated: max_age + 2 x leeway"),
        pytest.param(NOW - 330, 30, 1, id="last-second"),
        pytest.param(NOW - 299.5, 0, 1, id="fraction-rounds-up"),
    ],
)
def test_replay_ttl_covers_the_rest_of_the_acceptance_window(
    iat: float, leeway: float, ttl: int, check: Check, key: DPoPKey, token: str
) -> None:
    """The record must live as long as the proof could still be accepted."""
    result = check(key.proof("GET", URL, access_token=token, iat=iat), leeway=leeway)
    assert result.replay_ttl(NOW) == ttl
    assert result.acceptable_until == iat + 300 + leeway


def test_the_replay_step_refuses_a_second_use(check: Check, key: DPoPKey, token: str) -> None:
    """The caller's last step, with the smallest store that keeps the contract."""
    from jwt_guard._dpop_errors import DPoPProofReplayed

    claimed: dict[str, int] = {}

    def accept(proof: str) -> DPoPProof:
        result = check(proof)
        if result.replay_key in claimed:
            raise DPoPProofReplayed(algorithms=DEFAULT_ALGS)
        claimed[result.replay_key] = result.replay_ttl(NOW)
        return result

    proof = key.proof("GET", URL, access_token=token)
    accept(proof)
    with pytest.raises(DPoPProofReplayed) as info:
        accept(proof)
    assert info.value.error == "invalid_dpop_proof"
    accept(key.proof("GET", URL, access_token=token))  # a new jti is a new proof


@pytest.mark.anyio
async def test_the_replay_step_with_the_memory_store(check: Check, key: DPoPKey, token: str) -> None:
    """claim_once / claim_once_async of jwt_guard.stores take the key and TTL as given."""
    from jwt_guard.stores import MemoryStore

    store = MemoryStore(clock=lambda: NOW)
    first, second = key.proof("GET", URL, access_token=token), key.proof("GET", URL, access_token=token)
    one, other = check(first), check(second)
    assert store.claim_once(one.replay_key, one.replay_ttl(NOW)) is True
    assert store.claim_once(check(first).replay_key, one.replay_ttl(NOW)) is False
    assert await store.claim_once_async(other.replay_key, other.replay_ttl(NOW)) is True
    assert await store.claim_once_async(one.replay_key, one.replay_ttl(NOW)) is False


def test_a_refused_proof_is_never_recorded(check: Check, key: DPoPKey, token: str) -> None:
    """verify_proof has no side effects: refusing costs no store entry."""
    proof = key.proof("GET", URL, access_token=token)
    with pytest.raises(AuthError):
        check(proof, method="POST")
    assert check(proof).jti  # the same proof, for the right method, is still good
