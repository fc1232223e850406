"""DPoP configuration: which proofs a verifier accepts and where it records them.

Validated once, at construction (:class:`~jwt_guard.errors.ConfigurationError`
for any mistake), frozen afterwards. The proof check itself lives in
:mod:`jwt_guard._dpop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from jwt_guard._dpop_nonce import MIN_SECRET_BYTES, DPoPNonces
from jwt_guard._token import HeaderCache
from jwt_guard.errors import ConfigurationError

__all__ = ["DEFAULT_PROOF_ALGORITHMS", "MAX_AGE_CEILING", "PROOF_ALGORITHMS", "DPoPOptions", "ReplayStore"]

#: Algorithms a proof may use: asymmetric only (RFC 9449 §4.2), never none or HS*.
PROOF_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
DEFAULT_PROOF_ALGORITHMS = ("ES256", "ES384", "EdDSA", "PS256", "RS256")
#: Longest acceptance window DPoPOptions allows: proofs are meant to be fresh.
MAX_AGE_CEILING = 3600
#: Proof headers remembered per DPoPOptions: a client sends the same header
#: (typ, alg, its jwk) with every proof.
PROOF_HEADER_CACHE_SIZE = 256


class ReplayStore(Protocol):
    """What DPoP replay detection needs from a store (``jwt_guard.stores``)."""

    def claim_once(self, key: str, ttl_seconds: float) -> bool:
        """Record *key* for *ttl_seconds*; False if it was already recorded."""
        ...

    async def claim_once_async(self, key: str, ttl_seconds: float) -> bool:
        """:meth:`claim_once` for async code."""
        ...


@dataclass(frozen=True, kw_only=True)
class DPoPOptions:
    """How a verifier accepts DPoP-bound tokens (RFC 9449).

    :param required: refuse plain bearer tokens; every request needs a proof.
    :param max_age: seconds a proof stays acceptable after its ``iat`` (plus
        the verifier's leeway either side); at most 3600.
    :param nonce_secret: turns server nonces on (RFC 9449 §9): at least 32
        random bytes, shared by every host of the API.
    :param store: where used proofs are recorded (an object with
        ``claim_once`` and ``claim_once_async``, like ``jwt_guard.stores``);
        share one store between hosts so that a proof replayed against another
        host is refused too. ``None``: the verifier keeps a per-process record.
    :param algorithms: proof algorithms accepted, independent of the token
        allowlist; asymmetric only. Listed in ``algs`` of DPoP challenges.
    :param nonce_lifetime: seconds a server nonce stays good.

    .. warning::
       Without a shared ``store``, a proof replayed against another process or
       host within ``max_age`` is not detected.
    """

    required: bool = False
    max_age: float = 300
    nonce_secret: bytes | None = field(default=None, repr=False)
    store: ReplayStore | None = None
    algorithms: Sequence[str] = DEFAULT_PROOF_ALGORITHMS
    nonce_lifetime: float = 300
    #: The nonce source built from ``nonce_secret``, or None.
    nonces: DPoPNonces | None = field(init=False, repr=False, compare=False)
    _algorithm_set: frozenset[str] = field(init=False, repr=False, compare=False)
    #: Proof headers already parsed and checked against :attr:`algorithms`
    #: (a client sends the same one with every proof).
    header_cache: HeaderCache = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.required, bool):
            raise ConfigurationError("DPoPOptions.required must be True or False")
        _check_seconds("max_age", self.max_age, MAX_AGE_CEILING)
        _check_seconds("nonce_lifetime", self.nonce_lifetime, 86400)
        if isinstance(self.algorithms, str):
            raise ConfigurationError("DPoPOptions.algorithms must be a list of algorithm names, not a string")
        try:
            algorithms = tuple(dict.fromkeys(self.algorithms))
        except TypeError:
            raise ConfigurationError("DPoPOptions.algorithms must be a list of algorithm names") from None
        if not algorithms:
            raise ConfigurationError("DPoPOptions.algorithms must name at least one algorithm")
        for alg in algorithms:
            if alg not in PROOF_ALGORITHMS:
                raise ConfigurationError(
                    f"DPoPOptions.algorithms: {alg!r} is not an asymmetric JWS algorithm "
                    f"(choose from {', '.join(sorted(PROOF_ALGORITHMS))})"
                )
        nonces = None
        if self.nonce_secret is not None:
            if not isinstance(self.nonce_secret, bytes) or len(self.nonce_secret) < MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"DPoPOptions.nonce_secret must be at least {MIN_SECRET_BYTES} random bytes "
                    "(for example secrets.token_bytes(32))"
                )
            nonces = DPoPNonces(self.nonce_secret, lifetime=self.nonce_lifetime)
        store = self.store
        if store is not None and not (
            callable(getattr(store, "claim_once", None)) and callable(getattr(store, "claim_once_async", None))
        ):
            raise ConfigurationError(
                f"DPoPOptions.store must have claim_once and claim_once_async, got {type(store).__name__}"
            )
        object.__setattr__(self, "algorithms", algorithms)
        object.__setattr__(self, "nonces", nonces)
        object.__setattr__(self, "_algorithm_set", frozenset(algorithms))
        object.__setattr__(self, "header_cache", HeaderCache(PROOF_HEADER_CACHE_SIZE))


def _check_seconds(name: str, value: object, ceiling: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= ceiling:
        raise ConfigurationError(f"DPoPOptions.{name} must be a number of seconds above 0 and at most {ceiling}")
