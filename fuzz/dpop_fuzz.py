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

import argparse
import asyncio
import base64
import contextlib
import json
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

MODES = 9
URL = "https://api.fuzz.test/items"
_ROOT = Path(__file__).resolve().parents[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


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
        t.verify(f"{_b64url(body)}.{t.claims}.{t.signature}")
    elif mode == 3:
        t.verify(f"{t.header}.{_b64url(body)}.{t.signature}")
    elif mode == 4:
        t.verify(t.signed(_genuine_header(t), body))
    elif mode == 5:
        t.verify(t.signed(body, _genuine_claims(t)))
    elif mode == 6:
        t.verify(f"{t.header}.{t.claims}.{_b64url(body)}")
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


def mutations(rng: random.Random, pool: list[bytes]) -> Iterator[bytes]:
    """A plain random mutator for ``--selftest`` (no coverage guidance)."""
    operations: list[Callable[[bytearray], None]] = [
        lambda b: b.__setitem__(rng.randrange(len(b)), rng.randrange(256)) if b else None,
        lambda b: b.insert(rng.randrange(len(b) + 1), rng.randrange(256)),
        lambda b: b.__delitem__(rng.randrange(len(b))) if b else None,
        lambda b: b.extend(rng.choice(pool)[: rng.randrange(64)]),
        lambda b: b.__delitem__(slice(rng.randrange(len(b) + 1), None)),
        lambda b: b.__setitem__(0, rng.randrange(MODES)) if b else None,
    ]
    while True:
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 4)):
            rng.choice(operations)(data)
        yield bytes(data)


def selftest(iterations: int, seed: int = 0) -> int:
    """Run *iterations* random mutations of the seeds through :func:`check`."""
    rng = random.Random(seed)
    pool = seeds()
    for data in pool:
        check(data)
    source = mutations(rng, pool)
    for _ in range(iterations):
        check(next(source))
    return len(pool) + iterations


def write_seeds(directory: Path) -> int:
    directory.mkdir(parents=True, exist_ok=True)
    pool = seeds()
    for index, data in enumerate(pool):
        (directory / f"seed-{index:04d}").write_bytes(data)
    return len(pool)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=False)
    parser.add_argument("--selftest", type=int, metavar="N", help="run N random mutations without atheris")
    parser.add_argument("--write-seeds", type=Path, metavar="DIR", help="write the seed corpus into DIR")
    parser.add_argument("--help", action="store_true")
    known, rest = parser.parse_known_args(argv[1:])
    if known.help:
        parser.print_help()
        print("\nAny other arguments go to libFuzzer (e.g. -runs=100000 -max_len=16384 CORPUS_DIR).")
        return
    if known.write_seeds is not None:
        print(f"wrote {write_seeds(known.write_seeds)} seeds to {known.write_seeds}")
        return
    if known.selftest is not None:
        print(f"selftest: {selftest(known.selftest)} inputs, no escaped exception")
        return

    import atheris

    with atheris.instrument_imports(include=["jwt_guard", "jose"]):
        target()
    atheris.Setup([argv[0], *rest], check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
