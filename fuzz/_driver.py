"""What both atheris harnesses share: the plain mutation loop of
``--selftest``, ``--write-seeds`` and the command line.

A harness module describes itself as a :class:`Harness` and hands that to
:func:`main`, :func:`selftest` or :func:`write_seeds`.
"""

from __future__ import annotations

import argparse
import base64
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple


class Harness(NamedTuple):
    """One harness: its docstring, how many values its first input byte
    selects among, its seed corpus, its check and the target it builds."""

    doc: str
    modes: int
    seeds: Callable[[], list[bytes]]
    check: Callable[[bytes], None]
    target: Callable[[], Any]


def b64url(data: bytes) -> str:
    """base64url without padding. The harnesses import no jwt_guard module
    before atheris instruments it, so they cannot borrow the library's."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def mutations(rng: random.Random, pool: list[bytes], modes: int) -> Iterator[bytes]:
    """A plain random mutator for ``--selftest`` (no coverage guidance)."""
    operations: list[Callable[[bytearray], None]] = [
        lambda b: b.__setitem__(rng.randrange(len(b)), rng.randrange(256)) if b else None,
        lambda b: b.insert(rng.randrange(len(b) + 1), rng.randrange(256)),
        lambda b: b.__delitem__(rng.randrange(len(b))) if b else None,
        lambda b: b.extend(rng.choice(pool)[: rng.randrange(64)]),
        lambda b: b.__delitem__(slice(rng.randrange(len(b) + 1), None)),
        lambda b: b.__setitem__(0, rng.randrange(modes)) if b else None,
    ]
    while True:
        data = bytearray(rng.choice(pool))
        for _ in range(rng.randint(1, 4)):
            rng.choice(operations)(data)
        yield bytes(data)


def selftest(harness: Harness, iterations: int, seed: int = 0) -> int:
    """Run the seeds and *iterations* random mutations of them through ``harness.check``."""
    rng = random.Random(seed)
    pool: list[bytes] = harness.seeds()
    for data in pool:
        harness.check(data)
    source = mutations(rng, pool, harness.modes)
    for _ in range(iterations):
        harness.check(next(source))
    return len(pool) + iterations


def write_seeds(harness: Harness, directory: Path) -> int:
    """Write the harness's seed corpus into *directory*, a file a seed."""
    directory.mkdir(parents=True, exist_ok=True)
    pool: list[bytes] = harness.seeds()
    for index, data in enumerate(pool):
        (directory / f"seed-{index:04d}").write_bytes(data)
    return len(pool)


def main(harness: Harness, argv: list[str] | None = None) -> None:
    """The command line of a harness: ``--selftest N``, ``--write-seeds DIR``,
    else libFuzzer's own arguments, with atheris."""
    argv = list(sys.argv if argv is None else argv)
    description = harness.doc.splitlines()[0]
    parser = argparse.ArgumentParser(description=description, add_help=False)
    parser.add_argument("--selftest", type=int, metavar="N", help="run N random mutations without atheris")
    parser.add_argument("--write-seeds", type=Path, metavar="DIR", help="write the seed corpus into DIR")
    parser.add_argument("--help", action="store_true")
    known, rest = parser.parse_known_args(argv[1:])
    if known.help:
        parser.print_help()
        print("\nAny other arguments go to libFuzzer (e.g. -runs=100000 -max_len=16384 CORPUS_DIR).")
        return
    if known.write_seeds is not None:
        print(f"wrote {write_seeds(harness, known.write_seeds)} seeds to {known.write_seeds}")
        return
    if known.selftest is not None:
        print(f"selftest: {selftest(harness, known.selftest)} inputs, no escaped exception")
        return

    import atheris

    with atheris.instrument_imports(include=["jwt_guard", "jose"]):
        harness.target()
    atheris.Setup([argv[0], *rest], harness.check)
    atheris.Fuzz()
