"""DPoP cost, part 1: checking a proof next to verifying the access token.

Run: ``python benchmarks/dpop.py [--rounds N] [--quick]``

Everything is ES256 and measured in one run, in process, as CPU time,
interleaved round by round (the machine may be shared and noisy: every
figure is a median over rounds, every ratio is taken within a round):

* ``bearer``        ``Verifier.verify`` of an ES256 access token with the
                    verified-token cache off: a cold bearer-only verification,
                    the baseline;
* ``signature``     one bare ES256 signature check with ``cryptography``: the
                    least a proof check can cost;
* ``proof``         ``verify_proof`` of a fresh proof (a new ``jti`` and
                    signature each time) from a client whose key was seen
                    before, as every request after a client's first;
* ``proof new key`` the same, each proof from a key not seen before (the
                    parsed-key memo misses): a client's first request, or a
                    flood of throwaway keys;
* ``dpop request``  what a DPoP request adds up to without the store: the
                    bearer verification, reading ``cnf.jkt``, the proof check
                    and the replay key.

Target (issue 14): a DPoP request <= 2.1x a bearer-only verification of the
same token; two signature checks are the floor. The replay store's round
trip comes on top and is measured in part 2, with the stores.

``--instructions`` counts executed instructions instead (valgrind's
callgrind, N calls minus 0 calls in fresh processes, as
``instructions.py`` does): the same ratios without the noise of a shared
machine (``apt-get install valgrind``).
"""

from __future__ import annotations

import argparse
import base64
import itertools
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable

# This script's directory is on sys.path; _harness puts the checkout first too.
from _harness import cpu_ns_per_batch
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from jwt_guard import Verifier
from jwt_guard._dpop import DPoPOptions, bound_thumbprint, verify_proof
from jwt_guard.testing import LocalIssuer
from jwt_guard.testing._dpop import DPoPKey, bound_token

ISSUER = "https://idp.example.com/"
AUDIENCE = "https://api.example.com"
URL = "https://api.example.com/v1/messages"
NOW = 1_800_000_000
TARGET = 2.1
VARIANTS = ("bearer", "signature", "proof", "proof new key", "dpop request")
#: Distinct proofs per variant, cycled: more than the parsed-key memo holds.
PROOFS = 600


def build() -> tuple[dict[str, Callable[[], object]], int, int]:
    """The variants, and the sizes of the token and of a proof."""
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, algorithm="ES256", clock=lambda: NOW, token_lifetime=3600)
    client = DPoPKey("ES256", clock=lambda: NOW)
    token = bound_token(issuer, client, sub="auth0|5f7c8ec7c33c", scope="read:messages write:messages")
    verifier = Verifier(issuer=ISSUER, audience=AUDIENCE, keys=issuer.jwks(), result_cache_size=0, clock=lambda: NOW)
    options = DPoPOptions()

    # (proof, thumbprint of its key): the binding is checked in every variant.
    same_key = [(client.proof("GET", URL, access_token=token), client.thumbprint) for _ in range(PROOFS)]
    new_keys = []
    for _ in range(PROOFS):
        other = DPoPKey("ES256", clock=lambda: NOW)
        new_keys.append((other.proof("GET", URL, access_token=token), other.thumbprint))
    next_same, next_new = itertools.cycle(same_key).__next__, itertools.cycle(new_keys).__next__

    def proof(source: Callable[[], tuple[str, str]]) -> object:
        text, jkt = source()
        return verify_proof(
            text, method="GET", url=URL, options=options, now=NOW, leeway=60, access_token=token, jkt=jkt
        )

    def dpop_request() -> object:
        verified = verifier.verify(token)
        result = verify_proof(
            next_same()[0],
            method="GET",
            url=URL,
            options=options,
            now=NOW,
            leeway=60,
            access_token=token,
            jkt=bound_thumbprint(verified.claims),
        )
        return result.replay_key, result.replay_ttl(NOW)

    public = issuer.signing_key.public_key
    head, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    ecdsa = ec.ECDSA(hashes.SHA256())

    variants: dict[str, Callable[[], object]] = {
        "bearer": lambda: verifier.verify(token),
        "signature": lambda: public.verify(der, head.encode(), ecdsa),
        "proof": lambda: proof(next_same),
        "proof new key": lambda: proof(next_new),
        "dpop request": dpop_request,
    }
    for run in variants.values():
        run()  # sanity: each variant works
    return variants, len(token), len(same_key[0][0])


def measure(variants: dict[str, Callable[[], object]], rounds: int, budget_s: float) -> dict[str, list[float]]:
    """CPU µs per call of every variant, one sample per round, shuffled order."""
    iterations = {}
    for name, run in variants.items():
        single_ns = max(cpu_ns_per_batch(run, 50) / 50, 1000.0)
        iterations[name] = max(20, int(budget_s * 1e9 / single_ns))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    order = list(variants)
    shuffle = random.Random(0).shuffle
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            samples[name].append(cpu_ns_per_batch(variants[name], iterations[name]) / iterations[name] / 1000.0)
    return samples


def ratio(samples: dict[str, list[float]], variant: str, baseline: str) -> float:
    return statistics.median(a / b for a, b in zip(samples[variant], samples[baseline], strict=True))


def _instructions(variant: str, count: int) -> int:
    """Instructions a fresh process executes to build the variants and call *variant* *count* times."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
    completed = subprocess.run(
        [*command, "--child", variant, str(count)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONHASHSEED="0"),
        timeout=900,
        check=True,
    )
    match = re.search(r"Collected : (\d+)", completed.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{completed.stderr[-2000:]}")
    return int(match.group(1))


def count_instructions(count: int) -> dict[str, list[float]]:
    """Instructions per call of every variant (one sample each, kept as a list for :func:`ratio`)."""
    return {name: [(_instructions(name, count) - _instructions(name, 0)) / count] for name in VARIANTS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--budget", type=float, default=0.1, help="CPU seconds per variant and round (default 0.1)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run: 5 rounds of 0.03 s")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind instead")
    parser.add_argument("--count", type=int, default=300, help="calls per callgrind run (default 300)")
    parser.add_argument("--child", nargs=2, metavar=("VARIANT", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        run = build()[0][args.child[0]]
        for _ in range(int(args.child[1])):
            run()
        return 0
    if args.quick:
        args.rounds, args.budget = 5, 0.03

    variants, token_size, proof_size = build()
    if args.instructions:
        if shutil.which("valgrind") is None:
            print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
            return 2
        samples = count_instructions(args.count)
        unit = f"instructions per call (callgrind, {args.count} calls minus 0)"
    else:
        samples = measure(variants, args.rounds, args.budget)
        unit = f"{args.rounds} interleaved rounds, CPU µs per call (median, min, max)"
    print(
        f"Python {sys.version.split()[0]}; ES256 token of {token_size} bytes, ES256 proofs of {proof_size} bytes; "
        + unit
    )
    print(f"{'variant':<14} {'median':>10} {'min':>10} {'max':>10} {'x bearer':>9} {'x signature':>12}")
    for name in VARIANTS:
        values = samples[name]
        print(
            f"{name:<14} {statistics.median(values):>10.1f} {min(values):>10.1f} {max(values):>10.1f}"
            f" {ratio(samples, name, 'bearer'):>8.2f}x {ratio(samples, name, 'signature'):>11.2f}x"
        )
    request = ratio(samples, "dpop request", "bearer")
    floor = 1 + ratio(samples, "signature", "bearer")
    verdict = "met" if request <= TARGET else "MISSED"
    print(
        f"\nDPoP request = {request:.2f}x a bearer-only verification (target <= {TARGET}x): {verdict}; "
        f"the bearer verification plus one bare signature check would be {floor:.2f}x."
    )
    print(
        f"Proof check alone = {ratio(samples, 'proof', 'signature'):.2f}x one bare ES256 signature check, "
        f"{ratio(samples, 'proof', 'bearer'):.2f}x the bearer verification."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
