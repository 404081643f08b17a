"""Where the response cache keeps answers: what an entry is, and what every store must do.

A store holds :class:`Entry` values under two indexes: the *exact* key (a hash of the whole normalised
request) and, for the semantic layer, the entry's *partition* (a hash of everything in the request but
the wording of the last user turn, namespace included) with the embedding of that wording. A semantic
lookup only ever compares entries of one partition, so an answer cannot cross a model, a tier, a system
prompt, tools, earlier turns or a tenant, whatever the embeddings say.

Stores are opened from a URL by :func:`costaware.stores.open_response_store`:

- ``memory://`` (the default): this process only; ``sqlite:///path.db``: the same in-process index,
  written through to a SQLite file so it survives restarts and is shared by the processes of one machine;
- ``redis://host:port/db``: shared by processes on many machines (plain Redis types, any version >= 6).

Stores raise on I/O failure (after their own bounded timeout); the response cache turns a failure into a
miss with one warning. Expired entries are never returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["Entry", "ResponseStore"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One cached answer."""

    key: str
    """The exact key: hex digest of the normalised request (unique per entry)."""
    partition: str
    """Hex digest of everything that must match for a semantic hit (namespace included)."""
    namespace: str
    """The tenant or namespace the entry belongs to ('' when none); invalidation works per namespace."""
    question: str
    """The wording of the last user turn, for the paraphrase check of a semantic candidate."""
    vector: Any
    """The question's embedding (a unit-length 1-D ``numpy.float32`` array), or ``None`` when the entry
    was stored for the exact layer only."""
    payload: bytes
    """The stored answer, opaque to the store."""
    created_at: float
    """Epoch seconds."""
    expires_at: float | None = None
    """Epoch seconds after which the entry is gone; ``None``: no TTL."""


@runtime_checkable
class ResponseStore(Protocol):
    """What the response cache needs from a store. Thread-safe; every method may raise on I/O failure."""

    def get(self, key: str) -> Entry | None:
        """The live entry with this exact key, or ``None``. A hit counts as a use (for LRU eviction)."""
        ...

    def candidates(
        self, partition: str, vector: Any, limit: int, min_similarity: float
    ) -> list[tuple[float, Entry]]:
        """Live entries of ``partition`` whose cosine similarity to ``vector`` is at least
        ``min_similarity``, best first, at most ``limit``; each with its similarity."""
        ...

    def touch(self, key: str) -> None:
        """Count a semantic hit on ``key`` as a use (for LRU eviction)."""
        ...

    def put(self, entry: Entry) -> None:
        """Store ``entry`` (replacing an entry with the same key), evicting the least recently used
        entries beyond the store's ``max_entries``."""
        ...

    def invalidate(self, *, key: str | None = None, namespace: str | None = None) -> int:
        """Remove the entry with ``key``, or every entry of ``namespace``; returns how many were removed
        (a shared store may return an estimate for a namespace)."""
        ...

    @property
    def evictions(self) -> int:
        """Entries evicted by this store object for size since it was opened."""
        ...

    def close(self) -> None: ...
