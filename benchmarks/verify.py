"""Verification cost per algorithm, against a floor and against peers.

Run: ``python benchmarks/verify.py [--rounds N] [--quick]``

For each algorithm (RS256, PS256, ES256, EdDSA, HS256) on a ~600-byte access
token, measured in the same run and interleaved round by round (the machine
may be shared and noisy, so every figure is a median over rounds and every
ratio is taken within a round):

* ``floor``    cryptography's verify on the signing input, plus base64url
               decoding of the three segments and ``json.loads`` of header
               and payload: what any correct verifier must at least do;
* ``jwt_guard`` ``Verifier.verify`` with the verified-token cache off;
* ``default``  ``Verifier.verify`` as configured by default (verified-token
               cache on), fed distinct tokens: every call is a cache miss
               plus an insert (and, once full, an eviction);
* ``pyjwt``    ``jwt.decode`` with a pre-loaded key (iss/aud/exp checked);
* ``joserfc``  ``jwt.decode`` with an imported key plus its claims registry.

Every variant is fed a token freshly decoded from bytes, as an adapter
decodes it from a request header (so no variant profits from a string's
cached hash), cycling through a pool of distinct tokens larger than the
verified-token cache.

Plus a verified-token cache hit, compared with a cold RS256 verification.
Targets: jwt_guard and the default configuration <= 1.10x floor for
RS/PS/ES/EdDSA, <= 1.3x for HS256, faster than PyJWT and joserfc everywhere,
cache hit <= 2% of cold RS256.
"""

from __future__ import annotations

import argparse
import base64
import gc
import itertools
import json
import os
import random
import secrets
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jwt as pyjwt
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc import jwt as jose_rfc
from joserfc.jwk import ECKey, OctKey, OKPKey, RSAKey

from jwt_guard import Verifier
from jwt_guard.testing import LocalIssuer

ISSUER = "https://idp.example.com/"
AUDIENCE = "https://api.example.com"
ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA", "HS256")
TARGETS = {"RS256": 1.10, "PS256": 1.10, "ES256": 1.10, "EdDSA": 1.10, "HS256": 1.30}


def _b64d(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


#: Distinct tokens per algorithm: more than the verified-token cache holds.
POOL = int(os.environ.get("JWT_GUARD_BENCH_POOL", "1536"))


def _claims(issuer: LocalIssuer) -> dict[str, Any]:
    # A realistic access token: registered claims, client, scopes, a unique id.
    # With an RS256 signature (342 characters) this makes a ~630-byte token.
    return issuer.claims(
        sub="auth0|5f7c8ec7c33c",
        scope="read:messages write:messages",
        client_id=None,
        jti=secrets.token_hex(8),
        nbf=None,
        expires_in=3600,
    )


def _feed(tokens: list[str]) -> Callable[[], str]:
    """Each call: the next token of the pool, as a new string object."""
    pool = itertools.cycle([token.encode("ascii") for token in tokens])
    return lambda: next(pool).decode("latin-1")


def _floor_for(alg: str, feed: Callable[[], str], key: Any) -> Callable[[], None]:
    """The minimum work: decode, parse JSON, verify the signature."""
    if alg == "RS256":

        def verify(sig: bytes, data: bytes) -> None:
            key.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)

        def verify(sig: bytes, data: bytes) -> None:
            key.verify(sig, data, pss, hashes.SHA256())
    elif alg == "ES256":

        def verify(sig: bytes, data: bytes) -> None:
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    elif alg == "EdDSA":

        def verify(sig: bytes, data: bytes) -> None:
            key.verify(sig, data)
    else:

        def verify(sig: bytes, data: bytes) -> None:
            mac = hmac.HMAC(key, hashes.SHA256())
            mac.update(data)
            mac.verify(sig)

    def floor() -> None:
        header, payload, signature = feed().split(".")
        json.loads(_b64d(header))
        json.loads(_b64d(payload))
        verify(_b64d(signature), f"{header}.{payload}".encode())

    return floor


def _joserfc_key(alg: str, issuer: LocalIssuer) -> Any:
    signing = issuer.signing_key
    if alg == "HS256":
        return OctKey.import_key(signing.private_key)
    kind = {"RS256": RSAKey, "PS256": RSAKey, "ES256": ECKey, "EdDSA": OKPKey}[alg]
    return kind.import_key(signing.public_key)


def build(alg: str) -> tuple[str, dict[str, Callable[[], object]]]:
    issuer = LocalIssuer(ISSUER, audience=AUDIENCE, algorithm=alg)
    tokens = [issuer.sign(_claims(issuer)) for _ in range(POOL)]
    token = tokens[0]
    feed = _feed(tokens)
    public = issuer.signing_key.public_key
    verifier_options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE}
    if alg == "HS256":
        verifier_options.update(secret=issuer.signing_key.private_key, algorithms=["HS256"])
    else:
        verifier_options.update(keys=issuer.jwks())
    ours = Verifier(**verifier_options, result_cache_size=0)
    # instructions.py shrinks the pool (signing under valgrind is slow) and
    # the cache with it: a FIFO cache of N entries misses every token of a
    # cyclic pool of N + 1.
    cache_size = os.environ.get("JWT_GUARD_BENCH_CACHE")
    default = Verifier(**verifier_options, **({"result_cache_size": int(cache_size)} if cache_size else {}))
    ours.verify(token)  # sanity check: it verifies

    pyjwt_alg = "EdDSA" if alg == "EdDSA" else alg
    pyjwt_key = public

    def with_pyjwt() -> object:
        return pyjwt.decode(feed(), pyjwt_key, algorithms=[pyjwt_alg], audience=AUDIENCE, issuer=ISSUER)

    rfc_key = _joserfc_key(alg, issuer)
    registry = jose_rfc.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": AUDIENCE}
    )

    def with_joserfc() -> object:
        decoded = jose_rfc.decode(feed(), rfc_key, algorithms=[alg])
        registry.validate(decoded.claims)
        return decoded

    with_pyjwt()
    with_joserfc()
    variants: dict[str, Callable[[], object]] = {
        "floor": _floor_for(alg, feed, public),
        "jwt_guard": lambda: ours.verify(feed()),
        "default": lambda: default.verify(feed()),
        "pyjwt": with_pyjwt,
        "joserfc": with_joserfc,
    }
    if alg == "RS256":
        cached = Verifier(issuer=ISSUER, audience=AUDIENCE, keys=issuer.jwks())
        cached.verify(token)
        header = token.encode("ascii")
        variants["cache hit"] = lambda: cached.verify(header.decode("latin-1"))
    return token, variants


def _time_per_call(fn: Callable[[], object], iterations: int) -> float:
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for _ in range(iterations):
            fn()
        return (time.perf_counter_ns() - start) / iterations / 1000.0
    finally:
        gc.enable()


def measure(variants: dict[str, Callable[[], object]], rounds: int, budget_s: float) -> dict[str, list[float]]:
    # Calibrate iterations so each variant runs for about budget_s per round.
    iterations = {}
    for name, fn in variants.items():
        single = max(_time_per_call(fn, 20), 0.05)
        iterations[name] = max(20, int(budget_s * 1e6 / single))
    samples: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for _ in range(rounds):
        random.shuffle(names)
        for name in names:
            samples[name].append(_time_per_call(variants[name], iterations[name]))
    return samples


def main() -> int:
    # joserfc warns that the name "EdDSA" is deprecated (RFC 9864); JWTs still use it.
    warnings.simplefilter("ignore")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds per algorithm (default 15)")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    budget = 0.02 if args.quick else 0.05

    print(f"Python {sys.version.split()[0]}, {rounds} interleaved rounds; medians in µs per verification")
    columns = [("alg", "<7"), ("token", ">5"), ("floor", ">8"), ("jwt_guard", ">10"), ("x floor", ">8")]
    columns += [("default", ">8"), ("x floor", ">8")]
    columns += [("target", ">7"), ("pyjwt", ">8"), ("x ours", ">7"), ("joserfc", ">8"), ("x ours", ">7")]
    header = " ".join(f"{name:{spec}}" for name, spec in columns)
    print(header)
    print("-" * len(header))
    cold_rs256: list[float] = []
    cache_hit: list[float] = []
    verdicts: list[str] = []
    for alg in ALGORITHMS:
        token, variants = build(alg)
        samples = measure(variants, rounds, budget)
        med = {name: statistics.median(values) for name, values in samples.items()}
        ratio = statistics.median(o / f for o, f in zip(samples["jwt_guard"], samples["floor"], strict=True))
        default_ratio = statistics.median(d / f for d, f in zip(samples["default"], samples["floor"], strict=True))
        vs_pyjwt = statistics.median(p / o for p, o in zip(samples["pyjwt"], samples["jwt_guard"], strict=True))
        vs_joserfc = statistics.median(j / o for j, o in zip(samples["joserfc"], samples["jwt_guard"], strict=True))
        print(
            f"{alg:<7} {len(token):>5} {med['floor']:>8.1f} {med['jwt_guard']:>10.1f} {ratio:>7.2f}x"
            f" {med['default']:>8.1f} {default_ratio:>7.2f}x"
            f" {TARGETS[alg]:>6.2f}x {med['pyjwt']:>8.1f} {vs_pyjwt:>6.2f}x {med['joserfc']:>8.1f} {vs_joserfc:>6.2f}x"
        )
        ok = max(ratio, default_ratio) <= TARGETS[alg] and vs_pyjwt > 1 and vs_joserfc > 1
        verdicts.append(f"{alg}: {'meets' if ok else 'MISSES'} targets")
        if alg == "RS256":
            cold_rs256 = samples["jwt_guard"]
            cache_hit = samples["cache hit"]
    hit_share = statistics.median(h / c for h, c in zip(cache_hit, cold_rs256, strict=True))
    print(
        f"\nverified-token cache hit: {statistics.median(cache_hit):.2f} µs = {hit_share * 100:.1f}% of a cold RS256"
        f" verification (target <= 2%)"
    )
    print("'x ours' = how many times slower the peer is than jwt_guard (higher is better for jwt_guard).")
    print("; ".join(verdicts))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
