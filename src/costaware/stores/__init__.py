"""Where budget spend lives: ``memory://`` (one process), ``sqlite:///file.db`` (one machine),
``redis://host:port/db`` (many machines). Every store implements :class:`costaware.core.budget.Store`.
The response cache's stores (:func:`open_response_store`) implement
:class:`costaware.stores.responses.ResponseStore`.

```python
from costaware.core.budget import Budget
from costaware.stores import open_ledger

ledger = open_ledger(Budget(20, period="day", store="sqlite:///budget.db"))
```

Open a store once per process and share it: two ``memory://`` stores are two separate ledgers.
SQLite and Redis stores come behind a :class:`~costaware.stores.guarded.GuardedStore`: bounded
waits, a breaker, and a journal of the writes made while the store was unreachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from costaware.core.budget import Budget, BudgetLedger, Store, parse_store_url, redact_url
from costaware.core.errors import ConfigurationError

if TYPE_CHECKING:
    from costaware.stores.responses import ResponseStore

__all__ = ["open_ledger", "open_response_store", "open_store"]


def open_store(url_or_store: Any = None, *, read_only: bool = False) -> Store:
    """Open the store a URL names (``None`` -> a new in-memory store); a Store object is returned as is.
    ``read_only``: the store is only read (``costaware report``), so a Redis replica serves.

    Raises :class:`ConfigurationError` when the URL is invalid or the store cannot be reached
    (an unreachable Redis fails here, not at the first call).
    """
    if url_or_store is None:
        url_or_store = "memory://"
    if not isinstance(url_or_store, str):
        if isinstance(url_or_store, Store):
            return url_or_store
        raise ConfigurationError(
            f"a budget store must be None, a URL or a Store object, not {type(url_or_store).__name__}"
        )
    spec = parse_store_url(url_or_store)
    if spec.scheme == "memory":
        from costaware.stores.memory import MemoryStore

        return MemoryStore(reservation_ttl=spec.reservation_ttl, max_charges=spec.max_charges)
    from costaware.stores.guarded import GuardedStore

    inner: Store
    if spec.scheme == "sqlite":
        from costaware.stores.sqlite import SQLiteStore

        inner = SQLiteStore(
            spec.location,
            reservation_ttl=spec.reservation_ttl,
            busy_timeout=spec.timeout,
            synchronous=spec.synchronous,
        )
    else:
        from costaware.stores.redis import RedisStore

        inner = RedisStore.from_url(
            spec.location,
            reservation_ttl=spec.reservation_ttl,
            prefix=spec.prefix,
            timeout=spec.timeout,
            read_only=read_only,
        )
    return GuardedStore(inner, name=redact_url(url_or_store), retry_after=spec.retry_after)


def open_ledger(budget: Budget) -> BudgetLedger:
    """A ledger for ``budget`` over a freshly opened ``budget.store``."""
    return BudgetLedger(budget, open_store(budget.store))


def open_response_store(url: str = "memory://", *, max_entries: int | None = 100_000) -> ResponseStore:
    """Open the response store a URL names.

    ``memory://``; ``sqlite:///path.db``; ``redis://host:port/db`` with optional query parameters
    ``prefix=`` (key prefix, default ``costaware:rc``) and ``timeout=`` (seconds per operation, default
    0.1). Raises :class:`ConfigurationError` for an invalid URL or an unreachable store.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"a response store must be a URL, not {type(url).__name__}")
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme == "memory":
        from costaware.stores.response_memory import MemoryResponseStore

        return MemoryResponseStore(max_entries=max_entries)
    if scheme == "sqlite":
        from costaware.stores.response_memory import MemoryResponseStore

        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigurationError(f"a SQLite response store needs a path: sqlite:///file.db, not {url!r}")
        return MemoryResponseStore(max_entries=max_entries, path=path)
    if scheme in ("redis", "rediss"):
        from costaware.stores.response_redis import RedisResponseStore

        return RedisResponseStore.from_url(url, max_entries=max_entries)
    raise ConfigurationError(
        f"unknown response store {url!r}: use memory://, sqlite:///file.db or redis://host:port/db"
    )
