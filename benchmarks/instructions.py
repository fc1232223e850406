"""Instruction counts per verification: a noise-free companion to verify.py.

Run: ``python benchmarks/instructions.py [--algorithms RS256 HS256 ...]``
(needs valgrind: ``apt-get install valgrind``).

Wall-clock medians on a shared machine move by several percent from run to
run; ``valgrind --tool=callgrind`` counts executed instructions instead,
which repeat exactly for the same program and input, whatever else the
machine is doing. For each algorithm and variant of ``verify.py`` (floor,
jwt_guard, pyjwt, joserfc) this script runs the variant under callgrind twice
in fresh processes, 0 and N times, with a fixed key (so key generation costs
the same in both runs), and reports the difference divided by N.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA", "HS256")
VARIANTS = ("floor", "jwt_guard", "default", "pyjwt", "joserfc")

# Runs inside valgrind: build the variants of verify.py around a fixed key,
# then call one of them COUNT times.
_CHILD = """
import sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, {here!r})
from cryptography.hazmat.primitives import serialization
from jwt_guard.testing import SigningKey
import verify

alg, variant, count, key_file = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
data = open(key_file, "rb").read()
if alg.startswith("HS"):
    fixed = data
else:
    fixed = serialization.load_pem_private_key(data, None)
SigningKey._generate = staticmethod(lambda alg, bits: fixed)
token, variants = verify.build(alg)
call = variants[variant]
for _ in range(count):
    call()
"""


def _fixed_key(alg: str, directory: Path) -> Path:
    from jwt_guard.testing import SigningKey

    key = SigningKey(alg)
    path = directory / f"{alg}.key"
    path.write_bytes(key.private_key if alg.startswith("HS") else key.private_pem().encode())
    return path


def _instructions(script: Path, alg: str, variant: str, count: int, key: Path) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0", JWT_GUARD_BENCH_POOL="65", JWT_GUARD_BENCH_CACHE="64")
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, str(script)]
    completed = subprocess.run(
        [*command, alg, variant, str(count), str(key)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", completed.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{completed.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    parser.add_argument("--count", type=int, default=300, help="verifications per measured run (default 300)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    print(f"instructions per verification (callgrind, {args.count} verifications minus 0, fixed keys)")
    print(
        f"{'alg':<7} {'floor':>9} {'jwt_guard':>10} {'x floor':>8} {'default':>9} {'x floor':>8}"
        f" {'pyjwt':>9} {'x ours':>7} {'joserfc':>9} {'x ours':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        script = directory / "child.py"
        script.write_text(_CHILD.format(here=str(HERE)))
        for alg in args.algorithms:
            key = _fixed_key(alg, directory)
            per_call = {}
            for variant in VARIANTS:
                base = _instructions(script, alg, variant, 0, key)
                loaded = _instructions(script, alg, variant, args.count, key)
                per_call[variant] = (loaded - base) / args.count
            ours = per_call["jwt_guard"]
            default = per_call["default"]
            print(
                f"{alg:<7} {per_call['floor']:>9.0f} {ours:>10.0f} {ours / per_call['floor']:>7.3f}x"
                f" {default:>9.0f} {default / per_call['floor']:>7.3f}x"
                f" {per_call['pyjwt']:>9.0f} {per_call['pyjwt'] / ours:>6.2f}x"
                f" {per_call['joserfc']:>9.0f} {per_call['joserfc'] / ours:>6.2f}x"
            )
    print("'x ours' = instructions of the peer / instructions of jwt_guard (higher is better for jwt_guard).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
