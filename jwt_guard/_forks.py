"""One fork-safety registry for every object that holds locks, threads or
pooled connections.

After ``os.fork()`` the child has only the thread that forked: a lock held by
any other parent thread stays held for ever, and pooled sockets are shared
with the parent. Objects that hold such things register here and get
``after_fork()`` called in the child, where they drop (never close) what
belongs to the parent and make fresh locks.
"""

from __future__ import annotations

import os
import weakref
from typing import Protocol

__all__ = ["ForkAware", "register"]


class ForkAware(Protocol):
    def after_fork(self) -> None: ...


_LIVE: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def register(obj: ForkAware) -> None:
    """Call ``obj.after_fork()`` in every child forked while *obj* lives."""
    _LIVE.add(obj)


def _reinit_in_child() -> None:
    for obj in list(_LIVE):
        obj.after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows
    os.register_at_fork(after_in_child=_reinit_in_child)
