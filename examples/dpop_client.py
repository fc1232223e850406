"""A DPoP client (RFC 9449) with httpx: a bound token, and a proof for every request.

The client keeps an ES256 key pair for its session. At the token endpoint it
proves the key with a ``DPoP`` header, so the token it gets is bound to the
key (``cnf.jkt``); a thief with the token but without the key gets nowhere.
Every API request then carries ``Authorization: DPoP <token>`` and a fresh
proof signed for that request's method and URL. A server that asks for
nonces answers ``401 use_dpop_nonce`` with a ``DPoP-Nonce`` header: the
auth flow retries once with it, and keeps the newest nonce for later.

Only ``httpx`` and ``cryptography`` are needed (no jwt_guard). Try it against
``jwt-guard dev-issuer`` and examples/dpop_app.py::

    python examples/dpop_client.py --issuer http://127.0.0.1:9000 --url http://127.0.0.1:8000/me
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import time
from collections.abc import Generator

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class DPoPKey:
    """The client's DPoP key pair (ES256) and the proofs it signs."""

    def __init__(self) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        numbers = self.private_key.public_key().public_numbers()
        self.jwk = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url(numbers.x.to_bytes(32, "big")),
            "y": b64url(numbers.y.to_bytes(32, "big")),
        }

    def proof(self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None) -> str:
        """A DPoP proof JWT for one request (RFC 9449 §4.2)."""
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk}
        claims = {"jti": secrets.token_urlsafe(16), "htm": method, "htu": url, "iat": int(time.time())}
        if access_token is not None:
            claims["ath"] = b64url(hashlib.sha256(access_token.encode("ascii")).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        r, s = decode_dss_signature(self.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        return signing_input + "." + b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


class DPoPAuth(httpx.Auth):
    """Send *access_token* with the DPoP scheme and a fresh proof per request."""

    def __init__(self, key: DPoPKey, access_token: str) -> None:
        self.key = key
        self.access_token = access_token
        self.nonce: str | None = None  # the newest DPoP-Nonce the server sent

    def sign(self, request: httpx.Request) -> None:
        # htu: the URL without query and fragment (RFC 9449 §4.2).
        url = str(request.url.copy_with(query=None, fragment=None))
        request.headers["Authorization"] = f"DPoP {self.access_token}"
        request.headers["DPoP"] = self.key.proof(request.method, url, access_token=self.access_token, nonce=self.nonce)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request)
        response = yield request
        if "DPoP-Nonce" in response.headers:
            self.nonce = response.headers["DPoP-Nonce"]
            challenges = ", ".join(response.headers.get_list("WWW-Authenticate"))
            if response.status_code == 401 and 'error="use_dpop_nonce"' in challenges:
                self.sign(request)  # once, with the nonce just received (§8.2)
                yield request


def bound_token(client: httpx.Client, token_endpoint: str, key: DPoPKey, **form: str) -> str:
    """A client-credentials token bound to *key*: the proof at the token
    endpoint names ``POST`` and the endpoint's URL (RFC 9449 §5)."""
    response = client.post(
        token_endpoint,
        data={"grant_type": "client_credentials", **form},
        headers={"DPoP": key.proof("POST", token_endpoint)},
    )
    response.raise_for_status()
    answer = response.json()
    if answer.get("token_type", "").lower() != "dpop":
        raise RuntimeError("the authorization server did not bind the token to the key")
    return str(answer["access_token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--issuer", default="http://127.0.0.1:9000", help="the authorization server")
    parser.add_argument("--url", default="http://127.0.0.1:8000/me", help="the protected API")
    args = parser.parse_args()
    key = DPoPKey()
    with httpx.Client(trust_env=False) as client:
        metadata = client.get(args.issuer.rstrip("/") + "/.well-known/openid-configuration").json()
        token = bound_token(client, metadata["token_endpoint"], key)
        auth = DPoPAuth(key, token)
        for _ in range(2):
            response = client.get(args.url, auth=auth)
            print(response.status_code, response.text)


if __name__ == "__main__":
    main()
