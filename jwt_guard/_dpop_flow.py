"""DPoP in a verification: the bearer rule, the proof check and the replay record.

:class:`~jwt_guard.Verifier` hands every token here once the token itself
passed (signature, claims, validators, revocation):

* a token presented as a *bearer* token (no :class:`DPoPContext`) meets
  :meth:`SenderCheck.bearer`: refused when DPoP is required, and refused
  when it is sender-constrained (``cnf``), whether or not the verifier
  accepts DPoP at all (RFC 9449 §7.2, RFC 8705 §3): such a token is only
  good with a proof of possession. The verifier calls it only when the token
  has a ``cnf`` claim or DPoP is required, so a plain bearer verification
  pays one dictionary lookup for this rule;
* a token presented with the *DPoP* scheme goes through
  :meth:`SenderCheck.flow`, a generator flow like every verification flow:
  the pure proof check (:func:`~jwt_guard._dpop.verify_proof`: proof,
  binding, nonce), then, last, one :class:`ClaimOnce` effect that records the
  proof in the replay store. The sync face runs it with
  ``store.claim_once``, the async face with ``await store.claim_once_async``;
  nothing else differs between them.

A proof is recorded only after every other check passed (RFC 9449 §11.1), so
a request refused for another reason never uses up the client's proof.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any

from jwt_guard._dpop import DPoPProof, bound_thumbprint, verify_proof
from jwt_guard._dpop_errors import DPoPProofReplayed, DPoPRequired, DPoPTokenAsBearer
from jwt_guard._dpop_options import DPoPOptions, ReplayStore
from jwt_guard.errors import ConfigurationError, InvalidToken

if TYPE_CHECKING:
    from jwt_guard._access_token import AccessToken
    from jwt_guard._keysource import Effect

__all__ = ["SENDER_CONSTRAINED", "ClaimOnce", "DPoPContext", "SenderCheck", "presented_with"]

#: The description refusing a token bound by a confirmation method that this
#: request does not prove (mTLS ``x5t#S256``, or DPoP where it is not accepted).
SENDER_CONSTRAINED = "the access token is sender-constrained (cnf) and needs a proof of possession"


class DPoPContext:
    """What a DPoP request carries besides its access token (RFC 9449 §7.1).

    The middlewares build one for every request that uses the ``DPoP``
    authentication scheme. To verify such a request yourself::

        context = DPoPContext(proof=dpop_header, method="GET", url="https://api.example.com/items")
        token = verifier.verify(access_token, dpop=context)
        if context.next_nonce:
            response.headers["DPoP-Nonce"] = context.next_nonce

    :param proof: the request's one ``DPoP`` header value; ``None`` when it
        has none (refused: a DPoP request needs a proof).
    :param method: the request method as received (``GET`` for a WebSocket
        handshake), compared exactly with the proof's ``htm``.
    :param url: the request URL as the client sees it (scheme, host, port
        and path; a query or fragment is ignored), compared with ``htu``
        after RFC 3986 normalisation. Behind a proxy this is the public URL,
        not the one the application server received.
    """

    __slots__ = ("method", "proof", "result", "url")

    def __init__(self, proof: str | None, method: str, url: str) -> None:
        if proof is not None and not isinstance(proof, str):
            raise TypeError(f"DPoPContext.proof must be a str or None, not {type(proof).__name__}")
        if not (isinstance(method, str) and isinstance(url, str)):
            raise TypeError("DPoPContext.method and DPoPContext.url must be strings")
        self.proof = proof
        self.method = method
        self.url = url
        #: The accepted proof, set once the verification succeeded.
        self.result: DPoPProof | None = None

    @property
    def next_nonce(self) -> str | None:
        """A new server nonce for the answer's ``DPoP-Nonce`` header, when the
        proof's nonce is due for refresh (RFC 9449 §8.2); else ``None``."""
        result = self.result
        return None if result is None else result.next_nonce

    def __repr__(self) -> str:
        # The proof is a credential for one request: never shown.
        return f"DPoPContext(method={self.method!r}, url={self.url!r}, verified={self.result is not None})"


def presented_with(token: AccessToken) -> str:
    """The scheme a verified *token* came with: ``"DPoP"`` when it is bound
    to a DPoP key (no other way lets such a token through), else ``"Bearer"``.
    Errors found after verification (missing scopes) are answered with it."""
    cnf = token.claims.get("cnf")
    return "DPoP" if isinstance(cnf, Mapping) and "jkt" in cnf else "Bearer"


class ClaimOnce:
    """Effect: record a proof in the replay store; result: ``True`` the
    first time, ``False`` for a replay (:meth:`ReplayStore.claim_once`)."""

    __slots__ = ("key", "store", "ttl")

    def __init__(self, store: ReplayStore, key: str, ttl: float) -> None:
        self.store = store
        self.key = key
        self.ttl = ttl

    def run_sync(self) -> bool:
        return self.store.claim_once(self.key, self.ttl)

    async def run_async(self) -> bool:
        return await self.store.claim_once_async(self.key, self.ttl)


class SenderCheck:
    """The DPoP rules of one verifier (see the module).

    :param options: the verifier's :class:`~jwt_guard.DPoPOptions`, or
        ``None`` when it does not accept DPoP.
    :param clock: epoch seconds.
    :param leeway: the verifier's clock-skew allowance.
    """

    __slots__ = ("algorithms", "clock", "leeway", "options", "required", "store")

    def __init__(self, options: DPoPOptions | None, *, clock: Callable[[], float], leeway: float) -> None:
        if options is not None and not isinstance(options, DPoPOptions):
            raise ConfigurationError(f"dpop must be a DPoPOptions, not {type(options).__name__}")
        self.options = options
        self.clock = clock
        self.leeway = leeway
        #: True when plain bearer tokens are refused.
        self.required = options is not None and options.required
        #: The proof algorithms accepted, for challenges.
        self.algorithms: tuple[str, ...] = tuple(options.algorithms) if options is not None else ()
        self.store: ReplayStore | None = None
        if options is not None:
            if options.store is not None:
                self.store = options.store
            else:
                from jwt_guard.stores import MemoryStore

                # DPoPOptions(store=None): a record for this process only.
                self.store = MemoryStore()

    def bearer(self, token: AccessToken) -> None:
        """Refuse *token*, presented as a bearer token, where that is not enough."""
        if self.required:
            raise DPoPRequired(algorithms=self.algorithms)
        claims = token.claims
        if bound_thumbprint(claims) is not None:  # an invalid cnf raises InvalidClaim
            if self.options is None:
                raise InvalidToken(SENDER_CONSTRAINED)
            raise DPoPTokenAsBearer(algorithms=self.algorithms)
        if claims.get("cnf"):
            # Another confirmation method (RFC 8705 x5t#S256, RFC 7800 jwk …):
            # nothing here proves possession, so the token is not accepted.
            raise InvalidToken(SENDER_CONSTRAINED)

    def flow(self, token: AccessToken, context: DPoPContext) -> Generator[Effect, Any, None]:
        """Check *context*'s proof for *token*, then record it (one effect)."""
        options = self.options
        if options is None or self.store is None:
            raise ConfigurationError("a DPoP request needs a verifier created with dpop=DPoPOptions(...)")
        claims = token.claims
        jkt = bound_thumbprint(claims)
        if jkt is not None and len(claims["cnf"]) > 1:
            raise InvalidToken(SENDER_CONSTRAINED)  # bound to a certificate too: not provable here
        now = self.clock()
        proof = verify_proof(
            context.proof,
            method=context.method,
            url=context.url,
            options=options,
            now=now,
            leeway=self.leeway,
            access_token=token.raw,
            jkt=jkt,
        )
        # RFC 9449 §11.1: the record lives as long as the proof could still be
        # accepted, plus the leeway once more: another host's clock may run behind.
        first = yield ClaimOnce(self.store, proof.replay_key, proof.replay_ttl(now) + self.leeway)
        if not first:
            raise DPoPProofReplayed(algorithms=options.algorithms)
        context.result = proof
