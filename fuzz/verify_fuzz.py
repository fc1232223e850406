"""Coverage-guided fuzzing of the verifier with atheris (see fuzz/README.md).

Each input is one byte choosing a mode, then the data::

    0  the data as bytes            -> Verifier.verify
    1  the data as text             -> Verifier.verify
    2  the data as a header value   -> parse_authorization -> Verifier.verify
    3  the data as the header JSON of a genuine token (signature kept)
    4  the data as the payload of a genuine token (signature kept)
    5  the data as the payload, *correctly signed* (claims parsing and rules)
    6  the data as the signature of a genuine token
    7  the data as text             -> Verifier.verify_async

Only the contract's errors (``jwt_guard.JWTGuardError`` subclasses) may
escape the verifier; anything else propagates and atheris reports it as a
crash, with the input saved for reproduction. :func:`check` needs no atheris,
so the test suite and ``--selftest`` run the same code.
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

MODES = 8
_ROOT = Path(__file__).resolve().parents[1]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class Target:
    """A verifier with one key of each family, and genuine tokens for it."""

    def __init__(self) -> None:
        from jwt_guard._guard import parse_authorization
        from jwt_guard.errors import InvalidRequest, JWTGuardError
        from jwt_guard.testing import FakeClock, LocalIssuer

        self.contract = JWTGuardError
        self.invalid_request = InvalidRequest
        self.parse_authorization = parse_authorization
        clock = FakeClock(1_800_000_000)
        self.issuer = LocalIssuer("https://issuer.fuzz.test/", audience="https://api.fuzz.test", clock=clock)
        self.keys = [self.issuer.signing_key]
        for alg in ("PS256", "ES256", "ES512", "EdDSA"):
            self.keys.append(self.issuer.add_key(alg, kid=f"fuzz-{alg.lower()}"))
        self.eddsa = self.keys[-1]
        self.verifier = self.issuer.verifier(clock=clock, result_cache_size=0)
        self.tokens = [self.issuer.token(key=key, scope="read write") for key in self.keys]
        self.header, self.payload, self.signature = self.tokens[-1].split(".")
        self.loop = asyncio.new_event_loop()

    def verify(self, token: str | bytes) -> None:
        with contextlib.suppress(self.contract):
            self.verifier.verify(token)

    def verify_async(self, token: str) -> None:
        with contextlib.suppress(self.contract):
            self.loop.run_until_complete(self.verifier.verify_async(token))

    def close(self) -> None:
        self.loop.run_until_complete(self.verifier.aclose())
        self.loop.close()

    def signed(self, payload: bytes) -> str:
        signing_input = f"{self.header}.{_b64url(payload)}"
        return f"{signing_input}.{_b64url(self.eddsa.sign(signing_input.encode()))}"


_TARGET: Target | None = None


def target() -> Target:
    global _TARGET
    if _TARGET is None:
        _TARGET = Target()
    return _TARGET


def close() -> None:
    """Release the target's event loop and HTTP clients (tests call this)."""
    global _TARGET
    if _TARGET is not None:
        _TARGET.close()
        _TARGET = None


def check(data: bytes) -> None:
    """Feed one input; raises only if something outside the contract escapes."""
    t = target()
    mode, body = (data[0] % MODES, data[1:]) if data else (0, b"")
    if mode == 0:
        t.verify(body)
    elif mode == 1:
        t.verify(body.decode("utf-8", "surrogateescape"))
    elif mode == 2:
        try:
            token = t.parse_authorization(body.decode("latin-1"))
        except t.invalid_request:
            return
        if token is not None:
            t.verify(token)
    elif mode == 3:
        t.verify(f"{_b64url(body)}.{t.payload}.{t.signature}")
    elif mode == 4:
        t.verify(f"{t.header}.{_b64url(body)}.{t.signature}")
    elif mode == 5:
        t.verify(t.signed(body))
    elif mode == 6:
        t.verify(f"{t.header}.{t.payload}.{_b64url(body)}")
    else:
        t.verify_async(body.decode("utf-8", "surrogateescape"))


def seeds() -> list[bytes]:
    """Starting inputs: genuine tokens, their parts, and the attack corpus."""
    t = target()
    found = [bytes([mode]) + token.encode() for token in t.tokens for mode in (0, 1, 7)]
    found += [b"\x02Bearer " + token.encode() for token in t.tokens]
    for mode, segment in ((3, t.header), (4, t.payload), (6, t.signature)):
        found.append(bytes([mode]) + base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    found.append(b"\x05" + json.dumps(t.issuer.claims(scope="read")).encode())
    try:
        if str(_ROOT) not in sys.path:
            sys.path.insert(0, str(_ROOT))
        from tests.security.attacks import AttackKit, corpus
    except ImportError:  # run outside a checkout: genuine tokens only
        return found
    kit = AttackKit(t.issuer)
    for attack in corpus():
        raw = attack.token(kit).encode("utf-8", "surrogatepass")
        if len(raw) <= 64 * 1024:
            found.append(b"\x01" + raw)
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
