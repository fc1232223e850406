"""Interoperability with PyJWT and jwcrypto, in both directions.

* Tokens minted by PyJWT and by jwcrypto, for every algorithm jwt_guard
  supports, verify with ``jwt_guard.Verifier`` from a static JWKS (exported
  by the minting library itself), from PEM keys, or from a shared secret, and
  come back with every claim intact.
* Tokens minted by ``jwt_guard.testing.LocalIssuer`` verify with PyJWT and
  jwcrypto using the JWKS the issuer publishes: our signing, encoding and
  published keys are standard.
"""

from __future__ import annotations

import json
from typing import Any

import jwt as pyjwt
import pytest
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jwt as jwcrypto_jwt

from jwt_guard import AccessToken, InvalidSignature, Verifier
from jwt_guard._keys import public_jwk, thumbprint
from jwt_guard.testing import FakeClock, SigningKey, b64url
from tests.conftest import AUDIENCE, ISSUER, make_issuer, signing_key

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
HMAC = ("HS256", "HS384", "HS512")
ALGORITHMS = ASYMMETRIC + HMAC
NOW = 1_800_000_000
# Claims that exercise JSON round trips: nested objects, lists, non-ASCII
# text, floats, integers beyond 64 bits, booleans and null inside a list.
EXTRA_CLAIMS: dict[str, Any] = {
    "realm_access": {"roles": ["admin", "auditor"]},
    "name": "Zoë Ærøskøbing \u2019\u2713",
    "amount": 12.5,
    "big": 2**70,
    "flags": [True, False, None],
    "empty": {},
}


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    """One signing key per algorithm for the whole session (RSA keygen is slow)."""
    return {alg: signing_key(alg) for alg in ALGORITHMS}


def claims_for(alg: str) -> dict[str, Any]:
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": f"user-{alg}",
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 300,
        "jti": f"jti-{alg.lower()}",
        "client_id": "interop-client",
        "scope": "read write",
        **EXTRA_CLAIMS,
    }


# -- minting with the other libraries -------------------------------------------


def mint_with_pyjwt(key: SigningKey, claims: dict[str, Any]) -> str:
    return pyjwt.encode(claims, key.private_key, algorithm=key.alg, headers={"kid": key.kid, "typ": "at+jwt"})


def jwcrypto_key(key: SigningKey) -> jwcrypto_jwk.JWK:
    if key.symmetric:
        return jwcrypto_jwk.JWK(kty="oct", k=b64url(key.private_key))
    return jwcrypto_jwk.JWK.from_pyca(key.private_key)


def mint_with_jwcrypto(key: SigningKey, claims: dict[str, Any]) -> str:
    token = jwcrypto_jwt.JWT(header={"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}, claims=claims)
    token.make_signed_token(jwcrypto_key(key))
    return token.serialize()


def pyjwt_jwk(key: SigningKey) -> dict[str, Any]:
    """The public JWK as PyJWT exports it."""
    algorithm = pyjwt.get_algorithm_by_name(key.alg)
    exported: dict[str, Any] = algorithm.to_jwk(key.public_key, as_dict=True)
    return {**exported, "kid": key.kid}


def jwcrypto_public_jwk(key: SigningKey) -> dict[str, Any]:
    """The public JWK as jwcrypto exports it (the secret itself for HS*)."""
    exported = jwcrypto_key(key)
    document: dict[str, Any] = exported.export(as_dict=True) if key.symmetric else exported.export_public(as_dict=True)
    return {**document, "kid": key.kid}


MINTERS = {"pyjwt": (mint_with_pyjwt, pyjwt_jwk), "jwcrypto": (mint_with_jwcrypto, jwcrypto_public_jwk)}


def _verifier(key: SigningKey, source: str, exported_jwk: dict[str, Any]) -> Verifier:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "clock": FakeClock(NOW + 1),
        "scope_claims": ("scope", "realm_access.roles"),
    }
    if key.symmetric:
        options["algorithms"] = [key.alg]
    name = "secret" if key.symmetric else "keys"
    if source == "jwks":
        options[name] = {"keys": [exported_jwk]}
    elif key.symmetric:
        options["secret"] = key.private_key
    else:
        options["keys"] = key.public_pem()
    return Verifier(**options)


@pytest.mark.parametrize("minter", sorted(MINTERS))
@pytest.mark.parametrize("alg", ALGORITHMS)
@pytest.mark.parametrize(
    "source",
    [pytest.param("jwks", id="jwks"), pytest.param("pem-or-secret", id="pem-or-secret")],
)
def test_foreign_tokens_verify_with_claims_intact(keys, minter, alg, source):
    """A token minted by PyJWT or jwcrypto verifies; claims, header and scopes survive."""
    key = keys[alg]
    mint, export = MINTERS[minter]
    claims = claims_for(alg)
    raw = mint(key, claims)
    with _verifier(key, source, export(key)) as verifier:
        token = verifier.verify(raw)
    assert isinstance(token, AccessToken)
    assert dict(token.claims) == claims
    assert token.header["alg"] == alg
    assert token.header["kid"] == key.kid
    assert token.header["typ"] == "at+jwt"
    assert token.scopes == {"read", "write", "admin", "auditor"}
    assert (token.subject, token.client_id, token.token_id) == (f"user-{alg}", "interop-client", f"jti-{alg.lower()}")
    assert token.raw == raw


@pytest.mark.anyio
@pytest.mark.parametrize("minter", sorted(MINTERS))
async def test_foreign_tokens_verify_async(keys, minter):
    mint, export = MINTERS[minter]
    for alg in ALGORITHMS:
        key = keys[alg]
        claims = claims_for(alg)
        async with _verifier(key, "jwks", export(key)) as verifier:
            token = await verifier.verify_async(mint(key, claims))
        assert dict(token.claims) == claims


@pytest.mark.parametrize("minter", sorted(MINTERS))
@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES512", "EdDSA", "HS256"])
def test_foreign_tokens_with_another_key_are_refused(keys, minter, alg):
    """The control: the same foreign token, same kid, signed by another key, fails."""
    mint, export = MINTERS[minter]
    genuine = keys[alg]
    impostor = SigningKey(alg, kid=genuine.kid, private_key=signing_key(alg, "impostor").private_key)
    forged = mint(impostor, claims_for(alg))
    assert forged.split(".")[:2] == mint(genuine, claims_for(alg)).split(".")[:2]
    with _verifier(genuine, "jwks", export(genuine)) as verifier, pytest.raises(InvalidSignature):
        verifier.verify(forged)


# -- jwt_guard's tokens and JWKS in the other libraries ---------------------------


def _local_token(alg: str) -> tuple[Any, dict[str, Any], str]:
    # The other libraries check exp/nbf against the real clock: mint on it,
    # valid for an hour, so that no test depends on how fast it runs.
    issuer = make_issuer(alg)
    claims = issuer.claims(scope="read write", expires_in=3600, **EXTRA_CLAIMS)
    return issuer, claims, issuer.sign(claims)


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_local_issuer_tokens_verify_with_pyjwt(alg):
    issuer, claims, raw = _local_token(alg)
    key = issuer.signing_key
    if key.symmetric:
        verification_key = pyjwt.PyJWK(key.public_jwk()).key
    else:
        verification_key = pyjwt.PyJWKSet.from_dict(issuer.jwks())[key.kid].key
    decoded = pyjwt.decode(raw, verification_key, algorithms=[alg], audience=AUDIENCE, issuer=ISSUER)
    assert decoded == claims
    assert pyjwt.get_unverified_header(raw) == {"alg": alg, "typ": "at+jwt", "kid": key.kid}


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_local_issuer_tokens_verify_with_jwcrypto(alg):
    issuer, claims, raw = _local_token(alg)
    key = issuer.signing_key
    if key.symmetric:
        verification_key: Any = jwcrypto_jwk.JWK(**key.public_jwk())
    else:
        verification_key = jwcrypto_jwk.JWKSet.from_json(json.dumps(issuer.jwks()))
    token = jwcrypto_jwt.JWT(
        jwt=raw,
        key=verification_key,
        algs=[alg],
        expected_type="JWS",
        check_claims={"iss": ISSUER, "aud": AUDIENCE, "exp": None},
    )
    assert json.loads(token.claims) == claims
    assert json.loads(token.header) == {"alg": alg, "typ": "at+jwt", "kid": key.kid}


@pytest.mark.parametrize("alg", ASYMMETRIC)
def test_published_jwk_matches_the_other_libraries(keys, alg):
    """Our JWK members and RFC 7638 thumbprint equal jwcrypto's and PyJWT's."""
    key = keys[alg]
    ours = public_jwk(key.public_key)
    theirs = jwcrypto_jwk.JWK.from_pyca(key.public_key)
    assert ours == {name: value for name, value in theirs.export_public(as_dict=True).items() if name in ours}
    pyjwt_members = pyjwt_jwk(key)
    assert ours == {name: pyjwt_members[name] for name in ours}
    assert thumbprint(ours) == theirs.thumbprint()
