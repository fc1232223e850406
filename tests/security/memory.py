"""Memory bounds under floods of distinct tokens, measured with tracemalloc.

Each workload sends *count* distinct tokens through one verifier. After a
warm-up that fills every bounded structure (the verified-token cache, the
memory of absent ``kid`` values), traced memory must stop growing: whatever
the verifier keeps per token has to be evicted as fast as it is added.

Minting cost decides the workloads: HS256 tokens (a MAC each) and Ed25519
tokens (about 50 µs to sign, 100 µs to verify) can be made by the hundred
thousand; RSA signing (about 1 ms) cannot, and verifying RSA exercises the
same cache and key paths anyway.
"""

from __future__ import annotations

import gc
import json
import secrets
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from jwt_guard import JWTGuardError, KeyCacheOptions, Verifier
from jwt_guard._sources import remote_sources
from jwt_guard._verifier import key_sources
from jwt_guard.testing import FakeClock, KeyServer, LocalIssuer, SigningKey, b64url, mock_transport

__all__ = ["WORKLOADS", "Growth", "measure"]

#: Growth allowed after warm-up, whatever the count: a verifier that kept
#: anything per token would exceed it many times over (a cached result
#: costs about 2 KiB, so 10^4 kept tokens would be ~20 MiB).
GROWTH_LIMIT = 1024 * 1024
CACHE_SIZE = 256
ABSENT_KIDS = 64


@dataclass(frozen=True)
class Growth:
    """What one flood did to traced memory."""

    workload: str
    count: int
    warmup: int
    baseline: int  # bytes traced after warm-up
    growth: int  # bytes traced at the end minus baseline
    peak_growth: int  # highest traced bytes during the flood minus baseline
    refused: int
    accepted: int
    bounded_sizes: dict[str, tuple[int, int]]  # structure -> (size, limit)
    seconds: float

    @property
    def within_limits(self) -> bool:
        return self.growth < GROWTH_LIMIT and all(size <= limit for size, limit in self.bounded_sizes.values())


class _Workload:
    """Builds a verifier and an endless supply of distinct tokens."""

    def __init__(self, clock: FakeClock, cache_size: int = CACHE_SIZE) -> None:
        self.clock = clock
        self.cache_size = cache_size
        self.issuer = LocalIssuer(
            "https://issuer.memory.test/", audience="https://api.memory.test", clock=clock, keys=self.signing_keys()
        )
        self.verifier = self.build()

    def signing_keys(self) -> list[SigningKey]:
        """The issuer's keys, the first one signing (EdDSA: cheap to make)."""
        return [SigningKey("EdDSA")]

    def build(self) -> Verifier:
        raise NotImplementedError

    def tokens(self) -> Iterator[str]:
        raise NotImplementedError

    def sizes(self) -> dict[str, tuple[int, int]]:
        cache = self.verifier._cache
        return {"verified-token cache": (len(cache) if cache is not None else 0, self.cache_size)}

    def close(self) -> None:
        self.verifier.close()


def _unknown_kid(index: int) -> str:
    # An allowed alg and an unknown kid: parsed, then refused at key lookup.
    header = b'{"alg":"EdDSA","kid":"k%d"}' % index
    return ".".join((b64url(header), b64url(b"{}"), b64url(bytes(64))))


def _disallowed_alg(index: int) -> str:
    header = b'{"alg":"HS256","n":%d}' % index
    return ".".join((b64url(header), b64url(b"{}"), b64url(bytes(32))))


def _random_segments(index: int) -> str:
    return ".".join(b64url(secrets.token_bytes(size)) for size in (24, 48, 64))


def _not_base64url(index: int) -> str:
    return f"garbage token number {index} with spaces and {'!' * (index % 50)}"


def _jwe_shape(index: int) -> str:
    return ".".join(b64url(b"%d" % (index + n)) for n in range(5))


_GARBAGE_SHAPES: tuple[Callable[[int], str], ...] = (
    _unknown_kid,
    _disallowed_alg,
    _random_segments,
    _not_base64url,
    _jwe_shape,
)


class _Garbage(_Workload):
    """Distinct garbage tokens against static keys: nothing may be kept."""

    def build(self) -> Verifier:
        return self.issuer.verifier(clock=self.clock, result_cache_size=self.cache_size)

    def tokens(self) -> Iterator[str]:
        index = 0
        while True:
            yield _GARBAGE_SHAPES[index % len(_GARBAGE_SHAPES)](index)
            index += 1


class _UnknownKids(_Workload):
    """Tokens naming ever new ``kid`` values against fetched keys, with the
    refetch cooldown off so every kid is fetched for and then remembered as
    absent: that memory must stay within ``max_absent_kids``."""

    def build(self) -> Verifier:
        self.server = KeyServer(self.issuer)
        transport = mock_transport(self.server)
        return Verifier(
            issuer=self.issuer.issuer,
            audience=self.issuer.audience,
            clock=self.clock,
            transport=transport,
            async_transport=transport,
            key_cache=KeyCacheOptions(unknown_kid_cooldown=0, max_absent_kids=ABSENT_KIDS),
        )

    def tokens(self) -> Iterator[str]:
        key = self.issuer.signing_key
        server = self.server
        index = 0
        while True:
            if index % 100 == 0:
                server.reset_counts()  # the test server's own request log
            yield self.issuer.token(key=key, headers={"kid": f"absent-{index}"})
            index += 1

    def sizes(self) -> dict[str, tuple[int, int]]:
        sizes = super().sizes()
        remote = remote_sources(key_sources(self.verifier))[0]
        sizes["absent kids"] = (len(remote.state.absent_kids), ABSENT_KIDS)
        return sizes


def _minted(issuer: LocalIssuer, key: SigningKey, **claims: object) -> Iterator[str]:
    """Distinct valid tokens, made cheaply: a fixed header, a counter as jti."""
    header = b64url(json.dumps({"alg": key.alg, "typ": "at+jwt", "kid": key.kid}, separators=(",", ":")))
    body = issuer.claims(**claims)
    index = 0
    while True:
        body["jti"] = f"jti-{index:012d}"
        signing_input = f"{header}.{b64url(json.dumps(body, separators=(',', ':')))}"
        yield f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"
        index += 1


class _ValidHS256(_Workload):
    """Distinct valid HS256 tokens (minted by the hundred thousand)."""

    def __init__(self, clock: FakeClock, cache_size: int = CACHE_SIZE) -> None:
        self.secret = SigningKey("HS256", kid="memory-hs256")
        super().__init__(clock, cache_size)

    def signing_keys(self) -> list[SigningKey]:
        return [self.secret]

    def build(self) -> Verifier:
        return Verifier(
            issuer=self.issuer.issuer,
            audience=self.issuer.audience,
            secret=self.secret.private_key,
            algorithms=["HS256"],
            clock=self.clock,
            result_cache_size=self.cache_size,
        )

    def tokens(self) -> Iterator[str]:
        return _minted(self.issuer, self.secret, scope="read write")


class _ValidEdDSA(_Workload):
    """Distinct valid Ed25519 tokens through static JWKS keys."""

    def build(self) -> Verifier:
        return self.issuer.verifier(clock=self.clock, result_cache_size=self.cache_size)

    def tokens(self) -> Iterator[str]:
        return _minted(self.issuer, self.issuer.signing_key, scope="read")


#: name -> workload class; "valid" workloads expect every token accepted.
WORKLOADS: dict[str, type[_Workload]] = {
    "garbage": _Garbage,
    "unknown-kids": _UnknownKids,
    "valid-hs256": _ValidHS256,
    "valid-eddsa": _ValidEdDSA,
}


def _run(verifier: Verifier, tokens: Iterator[str], count: int, tally: list[int]) -> None:
    verify = verifier.verify
    for _ in range(count):
        token = next(tokens)
        try:
            verify(token)
        except JWTGuardError:
            tally[0] += 1
        else:
            tally[1] += 1


def measure(workload: str, count: int, *, warmup: int | None = None, cache_size: int = CACHE_SIZE) -> Growth:
    """Send *count* distinct tokens of *workload*; report traced growth.

    The warm-up (default: four times the bounded structures' size) runs
    first and is not counted in ``count``.
    """
    warmup = 4 * max(cache_size, ABSENT_KIDS) if warmup is None else warmup
    subject = WORKLOADS[workload](FakeClock(1_800_000_000), cache_size)
    tokens = subject.tokens()
    tally = [0, 0]
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    started = time.monotonic()
    try:
        _run(subject.verifier, tokens, warmup, [0, 0])
        gc.collect()
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        _run(subject.verifier, tokens, count, tally)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        sizes = subject.sizes()
    finally:
        if not was_tracing:
            tracemalloc.stop()
        subject.close()
    return Growth(
        workload=workload,
        count=count,
        warmup=warmup,
        baseline=baseline,
        growth=current - baseline,
        peak_growth=peak - baseline,
        refused=tally[0],
        accepted=tally[1],
        bounded_sizes=sizes,
        seconds=time.monotonic() - started,
    )


def describe(growth: Growth) -> str:
    """One report line."""
    sizes = ", ".join(f"{name} {size}/{limit}" for name, (size, limit) in growth.bounded_sizes.items())
    return (
        f"{growth.workload}: {growth.count} tokens ({growth.accepted} accepted, {growth.refused} refused), "
        f"traced growth {growth.growth / 1024:+.1f} KiB (peak {growth.peak_growth / 1024:+.1f} KiB), "
        f"{sizes}, {growth.seconds:.1f} s"
    )
