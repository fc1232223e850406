"""DPoP interoperability: RFC 9449's own examples, and proofs, thumbprints and
bound tokens made by two independent JOSE implementations (jwcrypto, joserfc).

The RFC examples are checked byte for byte: their signatures verify, their
``ath`` is the hash of the example token and their key's thumbprint is the
``jkt`` of the RFC's bound-token example.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey, OKPKey, RSAKey
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws
from jwcrypto import jwt as jwcrypto_jwt

from jwt_guard import Verifier
from jwt_guard._dpop import DPoPOptions, access_token_hash, verify_proof
from jwt_guard._dpop_errors import DPoPTokenAsBearer, InvalidDPoPBinding, InvalidDPoPProof
from jwt_guard._dpop_flow import DPoPContext
from jwt_guard._keys import thumbprint
from tests.dpop.conftest import NOW, URL, dpop_key

# -- RFC 9449's examples -----------------------------------------------------------------

RFC_JWK = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}
#: The jkt of RFC_JWK, as the RFC's bound-token example (§6.1) gives it.
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
_RFC_HEADER = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJo"
    "RjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
)
#: The proof of the RFC's token request example (§4.1, §5).
RFC_TOKEN_REQUEST_PROOF = (
    _RFC_HEADER
    + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
#: The access token and proof of the RFC's protected resource request example (§7.1).
RFC_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
RFC_RESOURCE_PROOF = (
    _RFC_HEADER
    + ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWR"
    "yZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35"
    "yRqzhrtNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)


def test_rfc_thumbprint_and_ath() -> None:
    assert thumbprint(RFC_JWK) == RFC_JKT
    assert access_token_hash(RFC_ACCESS_TOKEN) == RFC_ATH
    assert jwcrypto_jwk.JWK(**RFC_JWK).thumbprint() == RFC_JKT
    assert ECKey.import_key(RFC_JWK).thumbprint() == RFC_JKT


def test_rfc_token_request_proof() -> None:
    result = verify_proof(
        RFC_TOKEN_REQUEST_PROOF,
        method="POST",
        url="https://server.example.com/token",
        options=DPoPOptions(),
        now=1562262616,
    )
    assert (result.thumbprint, result.jti, result.issued_at) == (RFC_JKT, "-BwC3ESc6acc2lTc", 1562262616)


def test_rfc_resource_request_proof() -> None:
    result = verify_proof(
        RFC_RESOURCE_PROOF,
        method="GET",
        url="https://resource.example.org/protectedresource",
        options=DPoPOptions(),
        now=1562262618 + 60,
        access_token=RFC_ACCESS_TOKEN,
        jkt=RFC_JKT,
    )
    assert (result.thumbprint, result.jti) == (RFC_JKT, "e1j3V_bKic8-LAEB")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"method": "POST"}, "method"),
        ({"url": "https://resource.example.org/other"}, "URL"),
        ({"access_token": RFC_ACCESS_TOKEN + "x"}, "access token"),
        ({"now": 1562262618 + 301}, "too old"),
    ],
)
def test_rfc_resource_request_proof_elsewhere(change: dict[str, Any], reason: str) -> None:
    arguments: dict[str, Any] = {
        "method": "GET",
        "url": "https://resource.example.org/protectedresource",
        "options": DPoPOptions(),
        "now": 1562262618,
        "access_token": RFC_ACCESS_TOKEN,
        "jkt": RFC_JKT,
        **change,
    }
    with pytest.raises(InvalidDPoPProof, match=reason):
        verify_proof(RFC_RESOURCE_PROOF, **arguments)


# -- proofs from other implementations ------------------------------------------------------

_JWCRYPTO_KEYS: dict[str, Callable[[], jwcrypto_jwk.JWK]] = {
    "ES256": lambda: jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256"),
    "ES384": lambda: jwcrypto_jwk.JWK.generate(kty="EC", crv="P-384"),
    "ES512": lambda: jwcrypto_jwk.JWK.generate(kty="EC", crv="P-521"),
    "EdDSA": lambda: jwcrypto_jwk.JWK.generate(kty="OKP", crv="Ed25519"),
    "PS256": lambda: jwcrypto_jwk.JWK.generate(kty="RSA", size=2048),
    "RS256": lambda: jwcrypto_jwk.JWK.generate(kty="RSA", size=2048),
}
_JOSERFC_KEYS: dict[str, Callable[[], Any]] = {
    "ES256": lambda: ECKey.generate_key("P-256"),
    "ES384": lambda: ECKey.generate_key("P-384"),
    "ES512": lambda: ECKey.generate_key("P-521"),
    "EdDSA": lambda: OKPKey.generate_key("Ed25519"),
    "PS256": lambda: RSAKey.generate_key(2048),
    "RS256": lambda: RSAKey.generate_key(2048),
}
ALL_ALGS = ("ES256", "ES384", "ES512", "EdDSA", "PS256", "RS256")
OPTIONS = DPoPOptions(algorithms=ALL_ALGS)
TOKEN = "an.opaque.token"


def _claims(**extra: Any) -> bytes:
    claims = {"jti": "interop", "htm": "POST", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN), **extra}
    return json.dumps(claims).encode()


def jwcrypto_proof(alg: str) -> tuple[str, str]:
    """(proof, jkt) made by jwcrypto."""
    key = _JWCRYPTO_KEYS[alg]()
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.export_public(as_dict=True)}
    signed = jwcrypto_jws.JWS(_claims())
    signed.add_signature(key, alg=None, protected=json.dumps(header))
    return signed.serialize(compact=True), key.thumbprint()


def joserfc_proof(alg: str) -> tuple[str, str]:
    """(proof, jkt) made by joserfc."""
    key = _JOSERFC_KEYS[alg]()
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": key.as_dict(private=False)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags the name "EdDSA" (RFC 9864); JWS still uses it
        proof = rfc_jws.serialize_compact(header, _claims(), key, algorithms=[alg])
    return proof, key.thumbprint()


@pytest.mark.parametrize("alg", ALL_ALGS)
@pytest.mark.parametrize("make", [jwcrypto_proof, joserfc_proof], ids=["jwcrypto", "joserfc"])
def test_proofs_from_other_implementations_verify(make: Callable[[str], tuple[str, str]], alg: str) -> None:
    proof, jkt = make(alg)
    result = verify_proof(proof, method="POST", url=URL, options=OPTIONS, now=NOW, access_token=TOKEN, jkt=jkt)
    assert (result.thumbprint, result.algorithm, result.jti) == (jkt, alg, "interop")


@pytest.mark.parametrize("make", [jwcrypto_proof, joserfc_proof], ids=["jwcrypto", "joserfc"])
def test_their_proofs_are_still_checked(make: Callable[[str], tuple[str, str]]) -> None:
    proof, jkt = make("ES256")
    with pytest.raises(InvalidDPoPProof, match="method"):
        verify_proof(proof, method="GET", url=URL, options=OPTIONS, now=NOW, access_token=TOKEN, jkt=jkt)


class _WideHeaders(rfc_jws.JWSRegistry):
    # joserfc parses headers of at most 512 bytes; a jwk with a 2048-bit RSA key needs more.
    max_header_length = 2048


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256", "RS256"])
def test_our_proofs_verify_elsewhere(alg: str) -> None:
    """jwt_guard.testing's proofs are standard: jwcrypto and joserfc accept
    them with the key from their own header, and agree on the thumbprint."""
    key = dpop_key(alg)
    proof = key.proof("GET", URL, access_token=TOKEN)
    header = json.loads(jwcrypto_jws.base64url_decode(proof.split(".")[0]))

    theirs = jwcrypto_jwk.JWK(**header["jwk"])
    checked = jwcrypto_jws.JWS()
    checked.deserialize(proof)
    checked.verify(theirs, alg=alg)
    assert json.loads(checked.payload)["ath"] == access_token_hash(TOKEN)
    assert theirs.thumbprint() == key.thumbprint

    rfc_key = {"EC": ECKey, "OKP": OKPKey, "RSA": RSAKey}[header["jwk"]["kty"]].import_key(header["jwk"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rfc_jws.deserialize_compact(proof, rfc_key, registry=_WideHeaders(algorithms=[alg]))
    assert rfc_key.thumbprint() == key.thumbprint


# -- a token bound by an independent issuer -------------------------------------------------

AS_KEY = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256", kid="as-1")


def jwcrypto_token(jkt: str) -> str:
    """An access token from an authorization server built on jwcrypto, bound to *jkt*."""
    claims = {
        "iss": "https://as.example.test/",
        "aud": "https://api.example.test",
        "sub": "alice",
        "iat": NOW,
        "exp": NOW + 300,
        "cnf": {"jkt": jkt},
    }
    minted = jwcrypto_jwt.JWT(header={"alg": "ES256", "kid": "as-1", "typ": "at+jwt"}, claims=claims)
    minted.make_signed_token(AS_KEY)
    return minted.serialize()


def joserfc_proof_for(key: Any, access_token: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"jti": "x", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(access_token)}
    return rfc_jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=["ES256"])


def test_a_token_bound_by_jwcrypto_with_a_joserfc_proof() -> None:
    """Authorization server, client and resource server from three
    implementations: the binding holds, and only for the bound key."""
    verifier = Verifier(
        issuer="https://as.example.test/",
        audience="https://api.example.test",
        keys={"keys": [AS_KEY.export_public(as_dict=True)]},
        clock=lambda: NOW,
        dpop=OPTIONS,
    )
    client, other = ECKey.generate_key("P-256"), ECKey.generate_key("P-256")
    access_token = jwcrypto_token(client.thumbprint())

    def check(proof: str) -> str:
        context = DPoPContext(proof, "GET", URL)
        verifier.verify(access_token, dpop=context)
        assert context.result is not None
        return context.result.thumbprint

    assert check(joserfc_proof_for(client, access_token)) == client.thumbprint()
    with pytest.raises(InvalidDPoPBinding):
        check(joserfc_proof_for(other, access_token))
    with pytest.raises(DPoPTokenAsBearer):
        verifier.verify(access_token)  # bound: never good as a bearer token
