"""The embedded response store: an in-process index, optionally written through to SQLite.

Exact lookups are a dict (no numpy needed: an exact-only cache stores ``vector=None``). Semantic
lookups compare a question only with the entries of its partition. Each partition keeps its vectors
as a float32 matrix (for exact scores) and, beside it, one sign bit per dimension of the vector after
a fixed random rotation (SimHash): two unit vectors at angle θ differ in each such bit with probability
θ/π, so the number of differing bits (Hamming distance) bounds the similarity. A lookup over a large
partition XORs and counts the packed bits of every entry (bit-planes stored column-major: a few
vectorised passes over contiguous ``uint64`` rows, ~0.3 ms for 100,000 entries against ~4.4 ms for the
float matrix-vector product) and rescores only the entries within a bound set five standard deviations
above the Hamming distance expected at ``min_similarity`` (a true candidate is dropped with probability
below 1e-6). Small partitions, and thresholds too low for the bound to prune, are scored in full.

With ``path``, every change is written through to a SQLite file (WAL) and the file is loaded at open;
other processes of the machine that write the same file become visible: at most every
``refresh_interval`` seconds a lookup reads the rows and removals newer than the last it saw.
"""

from __future__ import annotations

import functools
import heapq
import math
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from costaware.core.errors import ConfigurationError
from costaware.stores import _forksafe
from costaware.stores.responses import Entry

__all__ = ["MemoryResponseStore"]

FULL_SCAN_BELOW = 4096
"""Partitions smaller than this are scored in full: the float product is then cheaper than two passes."""
_SIGMAS = 5.0
_ROTATION_SEED = 20261205

_SCHEMA = """
CREATE TABLE IF NOT EXISTS response_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    partition TEXT NOT NULL,
    namespace TEXT NOT NULL,
    question TEXT NOT NULL,
    vector BLOB,
    payload BLOB NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL
);
CREATE TABLE IF NOT EXISTS response_removals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT,
    namespace TEXT,
    before_seq INTEGER NOT NULL
);
"""


@functools.lru_cache(maxsize=8)
def _rotation(dimensions: int) -> Any:
    """The fixed random rotation the sign bits are taken after: one per dimension, shared by every
    partition (each conversation turn can be a partition of its own; a d x d matrix each would cost
    ~256 KiB and a QR decomposition per partition)."""
    import numpy as np

    rng = np.random.default_rng(_ROTATION_SEED + dimensions)
    q, _ = np.linalg.qr(rng.standard_normal((dimensions, dimensions)))
    rotation = np.ascontiguousarray(q.T, dtype=np.float32)
    rotation.setflags(write=False)
    return rotation


class _PartitionIndex:
    """The vectors of one partition: float32 rows, packed SimHash bit-planes, and their keys."""

    def __init__(self, dimensions: int) -> None:
        import numpy as np

        self.np = np
        self.dimensions = dimensions
        self.words = (dimensions + 63) // 64
        self.rotation = _rotation(dimensions)
        self.count = 0
        self.vectors = np.empty((2, dimensions), dtype=np.float32)  # most partitions hold an entry or two
        self.signs = np.empty((self.words, 2), dtype=np.uint64)
        self.keys: list[str] = []
        self.slot: dict[str, int] = {}

    def signature(self, vector: Any) -> Any:
        np = self.np
        bits = (self.rotation @ vector) >= 0
        padded = np.zeros(self.words * 64, dtype=bool)
        padded[: self.dimensions] = bits
        return np.packbits(padded, bitorder="little").view(np.uint64)

    def add(self, key: str, vector: Any) -> None:
        if key in self.slot:
            self.remove(key)
        if self.count == self.vectors.shape[0]:
            self._grow()
        i = self.count
        self.vectors[i] = vector
        self.signs[:, i] = self.signature(vector)
        self.keys.append(key)
        self.slot[key] = i
        self.count += 1

    def _grow(self) -> None:
        np = self.np
        capacity = 2 * self.vectors.shape[0]
        vectors = np.empty((capacity, self.dimensions), dtype=np.float32)
        vectors[: self.count] = self.vectors[: self.count]
        signs = np.empty((self.words, capacity), dtype=np.uint64)
        signs[:, : self.count] = self.signs[:, : self.count]
        self.vectors, self.signs = vectors, signs

    def remove(self, key: str) -> None:
        """Swap-remove: the last row moves into the freed slot, so rows stay dense."""
        i = self.slot.pop(key)
        last = self.count - 1
        if i != last:
            moved = self.keys[last]
            self.vectors[i] = self.vectors[last]
            self.signs[:, i] = self.signs[:, last]
            self.keys[i] = moved
            self.slot[moved] = i
        self.keys.pop()
        self.count = last

    def search(self, vector: Any, min_similarity: float) -> list[tuple[float, str]]:
        """Every entry with cosine >= ``min_similarity`` (up to the bound's 1e-6 miss rate), best first."""
        np = self.np
        n = self.count
        if n == 0:
            return []
        bound = self.hamming_bound(min_similarity)
        if n < FULL_SCAN_BELOW or bound >= self.dimensions // 2:
            scores = self.vectors[:n] @ vector
            rows = np.flatnonzero(scores >= min_similarity)
            scores = scores[rows]
        else:
            query = self.signature(vector)
            distance = np.bitwise_count(self.signs[0, :n] ^ query[0])
            for w in range(1, self.words):
                distance += np.bitwise_count(self.signs[w, :n] ^ query[w])
            rows = np.flatnonzero(distance <= bound)
            scores = self.vectors[rows] @ vector
            keep = scores >= min_similarity
            rows, scores = rows[keep], scores[keep]
        order = np.argsort(-scores, kind="stable")
        return [(float(scores[j]), self.keys[int(rows[j])]) for j in order]

    def hamming_bound(self, min_similarity: float) -> int:
        """The most differing sign bits a vector at ``min_similarity`` shows, with five sigmas of margin."""
        theta = math.acos(max(-1.0, min(1.0, min_similarity)))
        p = theta / math.pi
        d = self.dimensions
        return math.ceil(d * p + _SIGMAS * math.sqrt(d * p * (1 - p)) + 1)

    def nbytes_per_entry(self) -> int:
        return self.dimensions * 4 + self.words * 8


class MemoryResponseStore:
    """The default :class:`~costaware.stores.responses.ResponseStore`: this process's memory, and
    optionally a SQLite file (``path``) shared by the processes of one machine.

    ``max_entries`` bounds the entries kept (least recently used evicted first; ``None``: no bound).
    ``clock`` gives epoch seconds (tests move it). ``refresh_interval``: how stale, at most, this
    process's view of other processes' writes may be, in seconds. A file that is not a usable SQLite
    database raises :class:`ConfigurationError` here, at open.

    >>> store = MemoryResponseStore()
    >>> store.put(Entry("k1", "p", "", "What is 2+2?", None, b"4", created_at=0.0))
    >>> store.get("k1").payload
    b'4'
    >>> store.invalidate(key="k1"), store.get("k1")
    (1, None)
    """

    def __init__(
        self,
        max_entries: int | None = 100_000,
        path: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        refresh_interval: float = 0.05,
        busy_timeout: float = 0.25,
    ) -> None:
        if max_entries is not None and max_entries < 1:
            raise ConfigurationError(f"max_entries must be at least 1 or None, not {max_entries!r}")
        self._max_entries = max_entries
        self._clock = clock
        self._lock = _forksafe.register(self, reentrant=True)  # held around forks: a consistent copy
        self._entries: OrderedDict[str, Entry] = OrderedDict()  # least recently used first
        self._indexes: dict[str, _PartitionIndex] = {}
        self._expiries: list[tuple[float, str]] = []  # a heap; stale items are skipped
        self._evictions = 0
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._seq: dict[str, int] = {}  # key -> its row in the file
        self._seen_entry = 0
        self._seen_removal = 0
        self._refresh_interval = refresh_interval
        self._refreshed_at = -math.inf
        self._busy_timeout = busy_timeout
        if path is not None:
            self._open(path, busy_timeout)

    # -- the ResponseStore protocol ------------------------------------------------------------

    @property
    def path(self) -> str | None:
        """The SQLite file the store writes through to, or ``None`` (this process only)."""
        return self._path

    @property
    def evictions(self) -> int:
        """Entries evicted for size by this store object since it was opened."""
        return self._evictions

    def get(self, key: str) -> Entry | None:
        """The live entry with this exact key, counted as a use."""
        with self._lock:
            self._maybe_refresh()
            entry = self._entries.get(key)
            if entry is None:
                return None
            if self._expired(entry):
                self._drop(key, write=True)
                return None
            self._entries.move_to_end(key)
            return entry

    def candidates(
        self, partition: str, vector: Any, limit: int, min_similarity: float
    ) -> list[tuple[float, Entry]]:
        """Live entries of ``partition`` at cosine >= ``min_similarity`` to ``vector``, best first."""
        with self._lock:
            self._maybe_refresh()
            index = self._indexes.get(partition)
            if index is None or limit <= 0:
                return []
            query = index.np.asarray(vector, dtype=index.np.float32).reshape(-1)
            if query.shape[0] != index.dimensions:
                return []  # another embedder: nothing here is comparable
            found: list[tuple[float, Entry]] = []
            for score, key in index.search(query, min_similarity):
                entry = self._entries[key]
                if self._expired(entry):
                    self._drop(key, write=True)
                    continue
                found.append((score, entry))
                if len(found) == limit:
                    break
            return found

    def touch(self, key: str) -> None:
        """Count a semantic hit on ``key`` as a use."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)

    def put(self, entry: Entry) -> None:
        """Store ``entry`` (replacing its key), then purge expired and evict beyond ``max_entries``."""
        with self._lock:
            self._maybe_refresh()
            seq = self._write(entry) if self._db is not None else None
            self._insert(entry, seq)
            self._purge_expired()
            self._evict()

    def invalidate(self, *, key: str | None = None, namespace: str | None = None) -> int:
        """Remove the entry with ``key`` or every entry of ``namespace``; how many were removed."""
        if (key is None) == (namespace is None):
            raise ValueError("invalidate takes exactly one of key= or namespace=")
        with self._lock:
            self._maybe_refresh()
            if key is not None:
                keys = [key] if key in self._entries else []
            else:
                keys = [k for k, e in self._entries.items() if e.namespace == namespace]
            for k in keys:
                self._drop(k, write=False)
            if self._db is not None:
                with self._db:
                    before = self._db.execute(
                        "SELECT coalesce(max(seq), 0) FROM response_entries"
                    ).fetchone()[0]
                    if key is not None:
                        self._db.execute("DELETE FROM response_entries WHERE key = ?", (key,))
                    else:
                        self._db.execute("DELETE FROM response_entries WHERE namespace = ?", (namespace,))
                    self._db.execute(
                        "INSERT INTO response_removals (key, namespace, before_seq) VALUES (?, ?, ?)",
                        (key, namespace, before),
                    )
            return len(keys)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __len__(self) -> int:
        return len(self._entries)

    def bytes_per_vector(self) -> int:
        """Index bytes per semantic entry (float32 vector and packed signs), for capacity planning."""
        return next(iter(self._indexes.values())).nbytes_per_entry() if self._indexes else 0

    # -- in memory -------------------------------------------------------------------------------

    def _expired(self, entry: Entry) -> bool:
        return entry.expires_at is not None and entry.expires_at <= self._clock()

    def _insert(self, entry: Entry, seq: int | None) -> None:
        if entry.key in self._entries:
            self._drop(entry.key, write=False)
        self._entries[entry.key] = entry
        if seq is not None:
            self._seq[entry.key] = seq
        if entry.expires_at is not None:
            heapq.heappush(self._expiries, (entry.expires_at, entry.key))
        if entry.vector is not None:
            self._index_vector(entry)

    def _index_vector(self, entry: Entry) -> None:
        import numpy as np

        vector = np.asarray(entry.vector, dtype=np.float32).reshape(-1)
        index = self._indexes.get(entry.partition)
        if index is None or index.dimensions != vector.shape[0]:
            # A new partition, or another embedder: the old vectors are not comparable with the new.
            index = self._indexes[entry.partition] = _PartitionIndex(vector.shape[0])
        index.add(entry.key, vector)

    def _drop(self, key: str, *, write: bool) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        seq = self._seq.pop(key, None)
        index = self._indexes.get(entry.partition)
        if index is not None and key in index.slot:
            index.remove(key)
            if index.count == 0:
                del self._indexes[entry.partition]
        if write and self._db is not None and seq is not None:
            with self._db:  # only this very row: a newer one another process wrote stays
                self._db.execute("DELETE FROM response_entries WHERE seq = ?", (seq,))

    def _purge_expired(self) -> None:
        now = self._clock()
        while self._expiries and self._expiries[0][0] <= now:
            expires_at, key = heapq.heappop(self._expiries)
            entry = self._entries.get(key)
            if entry is not None and entry.expires_at == expires_at:
                self._drop(key, write=True)

    def _evict(self) -> None:
        if self._max_entries is None:
            return
        while len(self._entries) > self._max_entries:
            key = next(iter(self._entries))
            self._drop(key, write=True)
            self._evictions += 1

    def _after_fork(self) -> None:
        """In a forked child: a connection of its own (SQLite connections must not cross a fork; the
        parent's is left alone, not closed, as closing it here could release the parent's locks)."""
        if self._db is not None and self._path is not None:
            self._db = sqlite3.connect(
                self._path, timeout=self._busy_timeout, check_same_thread=False, isolation_level=None
            )

    # -- the SQLite file -------------------------------------------------------------------------

    def _open(self, path: str, busy_timeout: float) -> None:
        try:
            db = sqlite3.connect(path, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            db.execute("PRAGMA quick_check(1)").fetchone()
            self._db = db
            now = self._clock()
            with db:
                db.execute(
                    "DELETE FROM response_entries WHERE expires_at IS NOT NULL AND expires_at <= ?", (now,)
                )
            self._seen_removal = db.execute("SELECT coalesce(max(seq), 0) FROM response_removals").fetchone()[
                0
            ]
            self._load_new_rows()
            self._refreshed_at = time.monotonic()
        except sqlite3.Error as exc:
            self._db = None
            raise ConfigurationError(f"cannot open the response store {path!r}: {exc}") from exc

    def _write(self, entry: Entry) -> int:
        assert self._db is not None
        vector = None
        if entry.vector is not None:
            import numpy as np

            vector = np.asarray(entry.vector, dtype=np.float32).tobytes()
        with self._db:
            cursor = self._db.execute(
                "INSERT OR REPLACE INTO response_entries (key, partition, namespace, question, vector,"
                " payload, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.key,
                    entry.partition,
                    entry.namespace,
                    entry.question,
                    vector,
                    entry.payload,
                    entry.created_at,
                    entry.expires_at,
                ),
            )
        seq = cursor.lastrowid
        assert seq is not None
        return seq

    def _maybe_refresh(self) -> None:
        if self._db is None:
            return
        now = time.monotonic()
        if now - self._refreshed_at < self._refresh_interval:
            return
        self._refreshed_at = now
        removals = self._db.execute(
            "SELECT seq, key, namespace, before_seq FROM response_removals WHERE seq > ? ORDER BY seq",
            (self._seen_removal,),
        ).fetchall()
        for seq, key, namespace, before in removals:
            self._seen_removal = seq
            if key is not None:
                doomed = [key] if self._seq.get(key, before + 1) <= before else []
            else:
                doomed = [
                    k
                    for k, e in self._entries.items()
                    if e.namespace == namespace and self._seq.get(k, before + 1) <= before
                ]
            for k in doomed:
                self._drop(k, write=False)
        self._load_new_rows()

    def _load_new_rows(self) -> None:
        assert self._db is not None
        rows = self._db.execute(
            "SELECT seq, key, partition, namespace, question, vector, payload, created_at, expires_at"
            " FROM response_entries WHERE seq > ? ORDER BY seq",
            (self._seen_entry,),
        ).fetchall()
        now = self._clock()
        for seq, key, partition, namespace, question, blob, payload, created_at, expires_at in rows:
            self._seen_entry = seq
            if self._seq.get(key) == seq or (expires_at is not None and expires_at <= now):
                continue  # our own write, or already gone
            vector = None
            if blob is not None:
                import numpy as np

                vector = np.frombuffer(blob, dtype=np.float32).copy()
            entry = Entry(key, partition, namespace, question, vector, bytes(payload), created_at, expires_at)
            self._insert(entry, seq)
        self._evict()
