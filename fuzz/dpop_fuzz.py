"""Coverage-guided fuzzing of DPoP proofs with atheris (see fuzz/README.md).

Each input is one byte choosing a mode, then the data; every mode ends in a
DPoP request (``Authorization: DPoP <token>`` and the proof) verified by
``Verifier.verify``, the request layer in front of it where a header is
fuzzed::

    0  the data as the proof (text)
    1  the data as the DPoP header value(s) of a WSGI request -> Guard -> verify
    2  the data as the header JSON of a genuine proof (signature kept)
    3  the data as the claims of a genuine proof (signature kept)
    4  the data as the claims, *correctly signed* (claim parsing and checks)
    5  the data as the header JSON, *correctly signed* (typ, alg, jwk checks)
    6  the data as the signature of a genuine proof
    7  the data as the request URL the proof is compared with (htu)
    8  the data as the proof, through verify_async

Only the contract's errors (``jwt_guard.JWTGuardError`` subclasses) may
escape; anything else propagates and atheris reports it as a crash, with the
input saved for reproduction. :func:`check` needs no atheris, so the test
suite and ``--selftest`` run the same code.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import sys
from pathlib import Path

# The shared driver lives beside this file (run as a script or loaded from its path).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
import _driver

MODES = 9
URL = "https://api.fuzz.test/items"
_ROOT = Path(__file__).resolve().parents[1]


class Target:
    """A DPoP verifier with nonces, a bound token, and genuine proofs for it."""

    def __init__(self) -> None:
        from jwt_guard import DPoPContext, DPoPOptions
        from jwt_guard._guard import Guard
        from jwt_guard._request import EnvironRequest
        from jwt_guard.errors import JWTGuardError
        from jwt_guard.testing import DPoPKey, FakeClock, LocalIssuer, bound_token

        self.contract = JWTGuardError
        self.context = DPoPContext
        self.environ_request = EnvironRequest
        clock = FakeClock(1_800_000_000)
        self.issuer = LocalIssuer("https://issuer.fuzz.test/", audience="https://api.fuzz.test", clock=clock)
        self.key = DPoPKey("ES256", clock=clock)
        self.token = bound_token(self.issuer, self.key, scope="read")
        options = DPoPOptions(nonce_secret=b"fuzz-nonce-secret-fuzz-nonce-sec", algorithms=("ES256", "EdDSA", "RS256"))
        assert options.nonces is not None
        self.nonce = options.nonces.issue(clock())
        self.verifier = self.issuer.verifier(clock=clock, dpop=options)
        self.guard = Guard(dpop=options)
        self.proof = self.key.proof("GET", URL, access_token=self.token, nonce=self.nonce)
        self.header, self.claims, self.signature = self.proof.split(".")
        self.loop = asyncio.new_event_loop()

    def verify(self, proof: str, url: str = URL) -> None:
        with contextlib.suppress(self.contract):
            self.verifier.verify(self.token, dpop=self.context(proof, "GET", url))

    def verify_async(self, proof: str) -> None:
        with contextlib.suppress(self.contract):
            self.loop.run_until_complete(self.verifier.verify_async(self.token, dpop=self.context(proof, "GET", URL)))

    def through_guard(self, header: str) -> None:
        environ = {
            "REQUEST_METHOD": "GET",
            "wsgi.url_scheme": "https",
            "HTTP_HOST": "api.fuzz.test",
            "PATH_INFO": "/items",
            "HTTP_AUTHORIZATION": f"DPoP {self.token}",
            "HTTP_DPOP": header,
        }
        with contextlib.suppress(self.contract):
            credentials = self.guard.authenticate(self.environ_request(environ))
            if credentials is not None:
                self.verifier.verify(credentials.token, dpop=credentials.dpop)

    def signed(self, header: bytes, claims: bytes) -> str:
        return self.key.sign(header, claims)

    def close(self) -> None:
        self.loop.close()


_TARGET: Target | None = None


def target() -> Target:
    global _TARGET
    if _TARGET is None:
        _TARGET = Target()
    return _TARGET


def close() -> None:
    """Release the target's event loop (tests call this)."""
    global _TARGET
    if _TARGET is not None:
        _TARGET.close()
        _TARGET = None


def _genuine_claims(t: Target) -> bytes:
    return base64.urlsafe_b64decode(t.claims + "=" * (-len(t.claims) % 4))


def _genuine_header(t: Target) -> bytes:
    return base64.urlsafe_b64decode(t.header + "=" * (-len(t.header) % 4))


def check(data: bytes) -> None:
    """Feed one input; raises only if something outside the contract escapes."""
    t = target()
    mode, body = (data[0] % MODES, data[1:]) if data else (0, b"")
    text = body.decode("utf-8", "surrogateescape")
    if mode == 0:
        t.verify(text)
    elif mode == 1:
        t.through_guard(body.decode("latin-1"))
    elif mode == 2:
        t.verify(f"{_driver.b64url(body)}.{t.claims}.{t.signature}")
    elif mode == 3:
        t.verify(f"{t.header}.{_driver.b64url(body)}.{t.signature}")
    elif mode == 4:
        t.verify(t.signed(_genuine_header(t), body))
    elif mode == 5:
        t.verify(t.signed(body, _genuine_claims(t)))
    elif mode == 6:
        t.verify(f"{t.header}.{t.claims}.{_driver.b64url(body)}")
    elif mode == 7:
        t.verify(t.key.proof("GET", URL, access_token=t.token, nonce=t.nonce), url=text)
    else:
        t.verify_async(text)


def seeds() -> list[bytes]:
    """Starting inputs: a genuine proof, its parts, and the DPoP attack corpus."""
    t = target()
    found = [bytes([mode]) + t.proof.encode() for mode in (0, 1, 8)]
    found += [b"\x02" + _genuine_header(t), b"\x03" + _genuine_claims(t), b"\x04" + _genuine_claims(t)]
    found += [b"\x05" + _genuine_header(t), b"\x06" + base64.urlsafe_b64decode(t.signature + "==")]
    found += [b"\x07" + URL.encode(), b"\x07" + b"HTTPS://API.FUZZ.TEST:443/./items?x#y"]
    found.append(b"\x04" + json.dumps({"jti": "x", "htm": "GET", "htu": URL, "iat": 1_800_000_000}).encode())
    try:
        if str(_ROOT) not in sys.path:
            sys.path.insert(0, str(_ROOT))
        from tests.security.dpop_attacks import DPoPKit, dpop_corpus
    except ImportError:  # run outside a checkout: the genuine proof only
        return found
    kit = DPoPKit(t.issuer)
    for attack in dpop_corpus():
        for proof in attack.build(kit).proofs:
            found.append(b"\x00" + proof.encode("utf-8", "surrogatepass"))
    return found


def selftest(iterations: int, seed: int = 0) -> int:
    """Run the seeds and *iterations* random mutations of them through :func:`check`."""
    return _driver.selftest(HARNESS, iterations, seed)


def write_seeds(directory: Path) -> int:
    return _driver.write_seeds(HARNESS, directory)


def main(argv: list[str] | None = None) -> None:
    _driver.main(HARNESS, argv)


HARNESS = _driver.Harness(__doc__ or "", MODES, seeds, check, target)


if __name__ == "__main__":
    main()
