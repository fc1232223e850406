"""Tokens and DPoP proofs made by independent JOSE implementations (jwcrypto,
joserfc), for interoperability tests: nothing here uses jwt_guard's own
signing code."""

from __future__ import annotations

import json

from joserfc import jws as rfc_jws
from joserfc.jwk import ECKey
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws
from jwcrypto import jwt as jwcrypto_jwt

from jwt_guard._dpop import access_token_hash

AS_KEY = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256", kid="as-1")
AS = "https://as.example.test/"
API = "https://api.example.test"


def jwcrypto_token(jkt: str, now: float) -> str:
    """An access token from an authorization server built on jwcrypto, bound to *jkt*."""
    claims = {"iss": AS, "aud": API, "sub": "carol", "scope": "read", "iat": int(now), "exp": int(now) + 300}
    claims["cnf"] = {"jkt": jkt}
    minted = jwcrypto_jwt.JWT(header={"alg": "ES256", "kid": "as-1", "typ": "at+jwt"}, claims=claims)
    minted.make_signed_token(AS_KEY)
    return minted.serialize()


def joserfc_proof(key: ECKey, token: str, method: str, url: str, now: float, jti: str) -> str:
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    claims = {"jti": jti, "htm": method, "htu": url, "iat": int(now), "ath": access_token_hash(token)}
    return rfc_jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=["ES256"])


def jwcrypto_proof(key: jwcrypto_jwk.JWK, token: str, method: str, url: str, now: float, jti: str) -> str:
    claims = {"jti": jti, "htm": method, "htu": url, "iat": int(now), "ath": access_token_hash(token)}
    signed = jwcrypto_jws.JWS(json.dumps(claims).encode())
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.export_public(as_dict=True)}
    signed.add_signature(key, alg="ES256", protected=json.dumps(header))
    return signed.serialize(compact=True)
