"""Forking a process that uses budget or response stores, from any thread, at any time.

Before a fork, the forking thread takes every store's lock, so no other thread is inside a store
operation when the process is copied: the child gets each store in a consistent state, and no SQLite
connection in the middle of a transaction (SQLite's per-process lock bookkeeping, copied into the
child mid-transaction, would make every later write there fail with "database is locked"). The
parent then releases the locks; the child gets fresh ones, since a copied lock can be held by a
thread that does not exist there, and each store's ``_after_fork`` drops what it must not share (the
SQLite store reconnects on its next use). A fork waits for the store operations in flight, which
take milliseconds (a SQLite write waiting for another process: up to its busy timeout).
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

_stores: weakref.WeakSet[Any] = weakref.WeakSet()
_held: list[Any] = []


_RLOCK = type(threading.RLock())


def register(store: Any, *, reentrant: bool = False) -> Any:
    """A new lock for ``store`` (kept as ``store._lock``; an ``RLock`` if ``reentrant``), taken around
    forks."""
    _stores.add(store)
    return threading.RLock() if reentrant else threading.Lock()


def _before_fork() -> None:
    for store in list(_stores):
        store._lock.acquire()
        _held.append(store)


def _after_fork_in_parent() -> None:
    while _held:
        _held.pop()._lock.release()


def _after_fork_in_child() -> None:
    _held.clear()
    for store in list(_stores):
        store._lock = threading.RLock() if isinstance(store._lock, _RLOCK) else threading.Lock()
        reset = getattr(store, "_after_fork", None)
        if reset is not None:
            reset()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)
