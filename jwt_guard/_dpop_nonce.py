"""Stateless DPoP server nonces (RFC 9449 §8, §9).

A nonce is ``base64url(t || HMAC-SHA256(secret, label || t || context))``,
where ``t`` is the second it was issued (8 bytes, big-endian). Every host
that holds the secret can check a nonce any other host issued, with no shared
state: the MAC proves the server made it, ``t`` how old it is. A nonce is
good for ``lifetime`` seconds; once it is past ``refresh_after`` (half the
lifetime by default) a good request is answered with the next one
(``DPoP-Nonce`` on the successful response, §8.2), so a busy client never
has to take a ``use_dpop_nonce`` round trip.

``context`` separates services that share a secret: a nonce issued with one
context never passes a check with another. Pure: the clock is a parameter.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import NamedTuple, Protocol

from jwt_guard._token import b64url_decode, b64url_encode

__all__ = ["MIN_SECRET_BYTES", "DPoPNonces", "NonceChecker", "NonceVerdict"]

#: Shortest accepted secret: 256 bits, the HMAC-SHA256 output size.
MIN_SECRET_BYTES = 32
_LABEL = b"jwt_guard DPoP nonce v1\x00"
_TIME_BYTES = 8
# 8 + 32 bytes in base64url without padding.
_NONCE_LENGTH = 54


class NonceVerdict(NamedTuple):
    """What a nonce check found."""

    #: The proof's nonce is current.
    accepted: bool
    #: A nonce to send in ``DPoP-Nonce``: a fresh one when *accepted* is
    #: false, the next one when the current nonce is due for refresh, else None.
    next_nonce: str | None


class NonceChecker(Protocol):
    """Decides whether a proof's ``nonce`` claim is current (RFC 9449 §9)."""

    def check(self, value: str | None, now: float, leeway: float) -> NonceVerdict:
        """Judge *value* (``None``: the proof has no nonce) at time *now*."""
        ...


class DPoPNonces:
    """Issues and checks stateless HMAC nonces.

    ::

        nonces = DPoPNonces(secrets.token_bytes(32), lifetime=300)
        value = nonces.issue(time.time())
        nonces.check(value, time.time(), leeway=5)   # NonceVerdict(True, None)

    .. warning::
       Anyone holding the secret can mint nonces; keep it as secret as a
       signing key and at least 32 random bytes long.
    """

    __slots__ = ("_context", "_secret", "lifetime", "refresh_after")

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime: float = 300,
        refresh_after: float | None = None,
        context: bytes = b"",
    ) -> None:
        if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the nonce secret must be at least {MIN_SECRET_BYTES} bytes")
        if not 0 < lifetime <= 86400:
            raise ValueError("the nonce lifetime must be between 0 and 86400 seconds")
        if refresh_after is None:
            refresh_after = lifetime / 2
        if not 0 <= refresh_after <= lifetime:
            raise ValueError("refresh_after must lie between 0 and the lifetime")
        self._secret = secret
        self._context = bytes(context)
        #: Seconds a nonce stays good.
        self.lifetime = lifetime
        #: Age at which a good request is answered with the next nonce.
        self.refresh_after = refresh_after

    def _mac(self, stamp: bytes) -> bytes:
        return hmac.new(self._secret, _LABEL + stamp + self._context, hashlib.sha256).digest()

    def issue(self, now: float) -> str:
        """A new nonce, issued at *now*."""
        stamp = max(0, int(now)).to_bytes(_TIME_BYTES, "big")
        return b64url_encode(stamp + self._mac(stamp))

    def issued_at(self, value: object) -> int | None:
        """The issue time of a nonce this object made, or ``None`` if *value*
        is not one (garbled, forged, another context or secret)."""
        if not isinstance(value, str) or len(value) != _NONCE_LENGTH or not value.isascii():
            return None
        try:
            raw = b64url_decode(value.encode("ascii"))
        except ValueError:
            return None
        stamp, mac = raw[:_TIME_BYTES], raw[_TIME_BYTES:]
        # Constant time: the comparison must not tell how much of a forgery was right.
        if not hmac.compare_digest(mac, self._mac(stamp)):
            return None
        return int.from_bytes(stamp, "big")

    def check(self, value: str | None, now: float, leeway: float = 0) -> NonceVerdict:
        """Accept a nonce issued at most ``lifetime`` seconds ago (and not
        more than *leeway* in the future: another host's clock)."""
        issued = self.issued_at(value)
        if issued is None or not now - self.lifetime <= issued <= now + leeway:
            return NonceVerdict(False, self.issue(now))
        if now - issued >= self.refresh_after:
            return NonceVerdict(True, self.issue(now))
        return NonceVerdict(True, None)

    def __repr__(self) -> str:
        return f"DPoPNonces(lifetime={self.lifetime!r}, refresh_after={self.refresh_after!r})"
