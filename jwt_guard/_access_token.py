"""The verified result: :class:`AccessToken`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

__all__ = ["AccessToken", "prepared_token"]


def _as_datetime(value: object) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    return None


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


class AccessToken:
    """A verified access token. Immutable.

    Built only by :class:`jwt_guard.Verifier` after the signature and every
    claim rule passed. ``raw`` holds the JWT itself; it never appears in
    ``repr`` so that logging the object does not leak the credential.
    """

    __slots__ = ("_claims", "_claims_view", "_header", "_raw", "_scopes")

    _claims_view: Mapping[str, Any]

    def __init__(
        self,
        *,
        claims: Mapping[str, Any],
        header: Mapping[str, Any],
        scopes: frozenset[str],
        raw: str,
    ) -> None:
        # Slots plus read-only properties keep the public surface immutable
        # at a fraction of the cost of a frozen dataclass.
        self._claims = claims if isinstance(claims, dict) else dict(claims)
        self._header = header if isinstance(header, dict) else dict(header)
        self._scopes = scopes
        self._raw = raw
        # Made here, not on first use: raising and catching AttributeError
        # would cost more than the view itself.
        self._claims_view = MappingProxyType(self._claims)

    # Pickling and copying carry the values, not the view (a mappingproxy
    # cannot be pickled); the copy makes its own.
    def __getstate__(self) -> tuple[dict[str, Any], dict[str, Any], frozenset[str], str]:
        return (self._claims, self._header, self._scopes, self._raw)

    def __setstate__(self, state: tuple[dict[str, Any], dict[str, Any], frozenset[str], str]) -> None:
        self._claims, self._header, self._scopes, self._raw = state
        self._claims_view = MappingProxyType(self._claims)

    @property
    def claims(self) -> Mapping[str, Any]:
        """The verified claims set (read-only).

        The same view every time: reading it is cheap enough for the request
        path (a revocation check reads it on every request, cache hits too).
        """
        try:
            return self._claims_view
        except AttributeError:  # a token built without __init__ or prepared_token
            view = self._claims_view = MappingProxyType(self._claims)
            return view

    @property
    def header(self) -> Mapping[str, Any]:
        """The JOSE header (read-only)."""
        return MappingProxyType(self._header)

    @property
    def scopes(self) -> frozenset[str]:
        """Scopes granted, read from the configured scope claims."""
        return self._scopes

    @property
    def subject(self) -> str | None:
        """``sub``: who the token is about."""
        return _as_str(self._claims.get("sub"))

    @property
    def issuer(self) -> str:
        """``iss``: who issued the token (always one of the configured issuers)."""
        return self._claims["iss"]  # type: ignore[no-any-return]

    @property
    def audience(self) -> tuple[str, ...]:
        """``aud`` as a tuple (a single string becomes a 1-tuple)."""
        aud = self._claims.get("aud")
        if isinstance(aud, str):
            return (aud,)
        if isinstance(aud, list):
            return tuple(item for item in aud if isinstance(item, str))
        return ()

    @property
    def expires_at(self) -> datetime | None:
        """``exp`` as an aware UTC datetime."""
        return _as_datetime(self._claims.get("exp"))

    @property
    def issued_at(self) -> datetime | None:
        """``iat`` as an aware UTC datetime."""
        return _as_datetime(self._claims.get("iat"))

    @property
    def not_before(self) -> datetime | None:
        """``nbf`` as an aware UTC datetime."""
        return _as_datetime(self._claims.get("nbf"))

    @property
    def token_id(self) -> str | None:
        """``jti``: the token's unique identifier."""
        return _as_str(self._claims.get("jti"))

    @property
    def client_id(self) -> str | None:
        """The OAuth client: ``client_id`` (RFC 9068), else ``azp`` (OIDC)."""
        return _as_str(self._claims.get("client_id")) or _as_str(self._claims.get("azp"))

    @property
    def raw(self) -> str:
        """The JWT as received. Treat it as a secret: never log it."""
        return self._raw

    def has_scopes(self, *scopes: str) -> bool:
        """True if the token grants every one of *scopes*."""
        return self._scopes.issuperset(scopes)

    def has_any_scope(self, *scopes: str) -> bool:
        """True if the token grants at least one of *scopes*."""
        return not self._scopes.isdisjoint(scopes)

    def __getitem__(self, claim: str) -> Any:
        return self._claims[claim]

    def get(self, claim: str, default: Any = None) -> Any:
        """A claim's value, or *default*."""
        return self._claims.get(claim, default)

    def __repr__(self) -> str:
        return (
            f"AccessToken(subject={self.subject!r}, issuer={self._claims.get('iss')!r}, "
            f"scopes={sorted(self._scopes)!r}, expires_at={self.expires_at!r})"
        )


def prepared_token(claims: dict[str, Any], header: dict[str, Any], scopes: frozenset[str], raw: str) -> AccessToken:
    """An :class:`AccessToken` from values that are already checked and never
    mutated, without copying them (a cache hit rebuilding its result around
    a token). Internal to the package."""
    token = object.__new__(AccessToken)
    token._claims = claims
    token._header = header
    token._scopes = scopes
    token._raw = raw
    token._claims_view = MappingProxyType(claims)
    return token
