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

MODES = 8
_ROOT = Path(__file__).resolve().parents[1]


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
        signing_input = f"{self.header}.{_driver.b64url(payload)}"
        return f"{signing_input}.{_driver.b64url(self.eddsa.sign(signing_input.encode()))}"


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
        t.verify(f"{_driver.b64url(body)}.{t.payload}.{t.signature}")
    elif mode == 4:
        t.verify(f"{t.header}.{_driver.b64url(body)}.{t.signature}")
    elif mode == 5:
        t.verify(t.signed(body))
    elif mode == 6:
        t.verify(f"{t.header}.{t.payload}.{_driver.b64url(body)}")
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
