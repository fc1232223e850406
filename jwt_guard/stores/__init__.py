"""Shared state for revocation and DPoP replay detection.

::

    from jwt_guard.stores import MemoryStore, RedisStore

    store = MemoryStore()                                    # one process
    store = RedisStore.from_url("redis://127.0.0.1:6379/0")  # many processes and hosts

    store.revoke_token(jti, issuer=iss, expires_at=exp)      # this token, until its exp
    store.revoke_subject(sub, issuer=iss)                    # sub's tokens issued until now
    store.revoke_client(client_id, issuer=iss, before=t)     # the client's tokens issued until t

The request path asks :meth:`Store.check`, which answers from memory. Both
stores are safe to share between threads and between sync and async code.
:class:`RedisStore` needs the ``redis`` extra: ``pip install 'jwt-guard[redis]'``;
importing this module does not.
"""

from jwt_guard.stores._base import Store, StoreFailure
from jwt_guard.stores._memory import MemoryStore
from jwt_guard.stores._records import Revocation, RevocationKind
from jwt_guard.stores._redis import RedisStore

__all__ = ["MemoryStore", "RedisStore", "Revocation", "RevocationKind", "Store", "StoreFailure"]
