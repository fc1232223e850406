"""The in-memory revocation index that answers on the request path. Pure: no I/O.

A :class:`MemoryStore` keeps its records here; a :class:`RedisStore` keeps
its local mirror here. Lookups are plain ``dict`` reads with no lock: writers
(holding the owning store's lock) only add or remove keys, which readers
observe atomically. Memory is bounded by ``max_records``; a full index refuses
a new record instead of evicting an active one, since an evicted revocation
would silently let a stolen token back in.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from jwt_guard.stores._records import KINDS, Revocation, RevocationKind

__all__ = ["IndexFull", "RevocationIndex"]


class IndexFull(Exception):
    """No room for another active record (after expired ones were dropped)."""


class _IssuerRecords:
    __slots__ = ("clients", "subjects", "tokens")

    def __init__(self) -> None:
        self.tokens: dict[str, float] = {}  # jti -> the token's exp
        self.subjects: dict[str, float] = {}  # sub -> cutoff
        self.clients: dict[str, float] = {}  # client_id -> cutoff

    def table(self, kind: RevocationKind) -> dict[str, float]:
        if kind == "token":
            return self.tokens
        return self.subjects if kind == "subject" else self.clients


def _refused_by_cutoff(iat: object, cutoff: float) -> bool:
    # A cutoff refuses tokens issued at or before it, and tokens whose iat
    # cannot be compared (absent, not a number, NaN): fail closed.
    if type(iat) is int or type(iat) is float:
        return not iat > cutoff
    return True


class RevocationIndex:
    """Revocation records by issuer, kind and value, with their expiry.

    :param max_records: most active records held.
    :param token_grace: seconds a ``jti`` record outlives the token's ``exp``
        (the clock skew verifiers tolerate on ``exp``).
    :param cutoff_lifetime: seconds a cutoff record lives after its cutoff
        (the longest accepted token lifetime plus that skew).
    """

    __slots__ = ("_by_issuer", "_count", "_cutoff_lifetime", "_heap", "_max_records", "_token_grace")

    def __init__(self, *, max_records: int, token_grace: float, cutoff_lifetime: float) -> None:
        self._by_issuer: dict[str, _IssuerRecords] = {}
        self._count = 0
        self._max_records = max_records
        self._token_grace = token_grace
        self._cutoff_lifetime = cutoff_lifetime
        # (expires_at, kind, issuer, value); entries superseded by a later
        # cutoff are skipped when popped and dropped when the heap is rebuilt.
        self._heap: list[tuple[float, RevocationKind, str, str]] = []

    def __len__(self) -> int:
        return self._count

    def expires_at(self, kind: RevocationKind, at: float) -> float:
        """When a record of *kind* whose instant is *at* lapses."""
        return at + (self._token_grace if kind == "token" else self._cutoff_lifetime)

    # -- the request path ------------------------------------------------------------

    def check(
        self, issuer: str, jti: str | None, sub: str | None, client_id: str | None, iat: object
    ) -> RevocationKind | None:
        """The kind of the first record that refuses this token, or ``None``."""
        records = self._by_issuer.get(issuer)
        if records is None:
            return None
        if records.tokens and type(jti) is str and jti in records.tokens:
            return "token"
        if records.subjects and type(sub) is str:
            cutoff = records.subjects.get(sub)
            if cutoff is not None and _refused_by_cutoff(iat, cutoff):
                return "subject"
        if records.clients and type(client_id) is str:
            cutoff = records.clients.get(client_id)
            if cutoff is not None and _refused_by_cutoff(iat, cutoff):
                return "client"
        return None

    def check_claims(self, claims: Mapping[str, Any]) -> RevocationKind | None:
        """:meth:`check` for a verified claims set: the same answer, read lazily.

        The client is ``client_id``, else ``azp`` (as ``AccessToken.client_id``).
        A claim is read only when its issuer holds records of that kind, so
        most tokens cost one or two lookups.
        """
        # This runs on every request, cache hits included: no call it can
        # avoid, no dict built, each claim read at most once.
        issuer = claims.get("iss")
        records = self._by_issuer.get(issuer) if type(issuer) is str else None
        if records is None:
            return None
        tokens = records.tokens
        if tokens:
            jti = claims.get("jti")
            if type(jti) is str and jti in tokens:
                return "token"
        subjects = records.subjects
        if subjects:
            sub = claims.get("sub")
            if type(sub) is str:
                cutoff = subjects.get(sub)
                if cutoff is not None and _refused_by_cutoff(claims.get("iat"), cutoff):
                    return "subject"
        clients = records.clients
        if clients:
            client_id = claims.get("client_id")
            if type(client_id) is not str or not client_id:
                client_id = claims.get("azp")
            if type(client_id) is str:
                cutoff = clients.get(client_id)
                if cutoff is not None and _refused_by_cutoff(claims.get("iat"), cutoff):
                    return "client"
        return None

    # -- writers (the owner holds its lock) ------------------------------------------

    def add(self, kind: RevocationKind, issuer: str, value: str, at: float, now: float) -> bool:
        """Record a revocation; a later instant wins over an earlier one.

        Returns whether anything changed. Raises :class:`IndexFull` when a new
        record finds no room after expired records were dropped.
        """
        expires = self.expires_at(kind, at)
        if expires <= now:
            return False
        records = self._by_issuer.get(issuer)
        table = records.table(kind) if records is not None else None
        current = table.get(value) if table is not None else None
        if current is not None and current >= at:
            return False
        if current is None and self._count >= self._max_records:
            self.prune(now)
            if self._count >= self._max_records:
                raise IndexFull
            records = self._by_issuer.get(issuer)
            table = records.table(kind) if records is not None else None
        if records is None or table is None:
            records = self._by_issuer[issuer] = _IssuerRecords()
            table = records.table(kind)
        if current is None:
            self._count += 1
        table[value] = at
        heapq.heappush(self._heap, (expires, kind, issuer, value))
        if len(self._heap) > 2 * self._count + 1024:
            self._rebuild_heap()
        return True

    def prune(self, now: float) -> int:
        """Drop every record that has lapsed by *now*; returns how many."""
        dropped = 0
        heap = self._heap
        while heap and heap[0][0] <= now:
            expires, kind, issuer, value = heapq.heappop(heap)
            records = self._by_issuer.get(issuer)
            if records is None:
                continue
            table = records.table(kind)
            at = table.get(value)
            if at is None or self.expires_at(kind, at) != expires:
                continue  # superseded by a later instant: a newer entry is queued
            del table[value]
            self._count -= 1
            dropped += 1
            if not (records.tokens or records.subjects or records.clients):
                del self._by_issuer[issuer]
        return dropped

    def _rebuild_heap(self) -> None:
        self._heap = [
            (self.expires_at(kind, at), kind, issuer, value)
            for issuer, records in self._by_issuer.items()
            for kind in KINDS
            for value, at in records.table(kind).items()
        ]
        heapq.heapify(self._heap)

    # -- listing ---------------------------------------------------------------------

    def records(self, issuer: str | None, now: float) -> list[Revocation]:
        """Active records (of *issuer*, or all), ordered by issuer, kind and value."""
        issuers: Iterable[str] = sorted(self._by_issuer) if issuer is None else [issuer]
        found: list[Revocation] = []
        for name in issuers:
            records = self._by_issuer.get(name)
            if records is None:
                continue
            for kind in KINDS:
                for value, at in sorted(records.table(kind).items()):
                    expires = self.expires_at(kind, at)
                    if expires > now:
                        found.append(Revocation(kind, name, value, at, expires))
        return found
