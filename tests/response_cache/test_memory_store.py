"""The embedded response store: exact and semantic lookups, expiry, eviction, invalidation, the file."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from costaware.core.errors import ConfigurationError
from costaware.stores import open_response_store
from costaware.stores.response_memory import FULL_SCAN_BELOW, MemoryResponseStore
from costaware.stores.responses import Entry, ResponseStore

from helpers import FakeClock

SRC = Path(__file__).parents[2] / "src"


def unit(seed: int, dimensions: int = 16) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dimensions).astype(np.float32)
    return v / np.linalg.norm(v)


def near(v: np.ndarray, cosine: float, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).standard_normal(v.shape).astype(np.float32)
    noise -= (noise @ v) * v
    noise /= np.linalg.norm(noise)
    return (cosine * v + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


def entry(
    key: str,
    vector: np.ndarray | None = None,
    *,
    partition: str = "p",
    namespace: str = "",
    expires_at: float | None = None,
) -> Entry:
    return Entry(key, partition, namespace, f"question {key}?", vector, key.encode(), 0.0, expires_at)


def test_it_is_a_response_store() -> None:
    assert isinstance(MemoryResponseStore(), ResponseStore)
    assert isinstance(open_response_store("memory://"), MemoryResponseStore)


def test_get_returns_the_entry_put_under_its_key() -> None:
    store = MemoryResponseStore()
    store.put(entry("k"))
    assert store.get("k") == entry("k")
    assert store.get("other") is None


def test_a_put_replaces_the_entry_with_the_same_key() -> None:
    store = MemoryResponseStore()
    store.put(entry("k", unit(1)))
    store.put(Entry("k", "p", "", "new?", unit(2), b"new", 0.0))
    assert store.get("k").payload == b"new"
    assert [e.payload for _, e in store.candidates("p", unit(2), 5, 0.99)] == [b"new"]
    assert store.candidates("p", unit(1), 5, 0.99) == []


def test_candidates_are_the_entries_above_the_threshold_best_first() -> None:
    store = MemoryResponseStore()
    base = unit(1)
    store.put(entry("far", unit(2)))
    store.put(entry("close", near(base, 0.9)))
    store.put(entry("closer", near(base, 0.97)))
    found = store.candidates("p", base, 5, 0.85)
    assert [e.key for _, e in found] == ["closer", "close"]
    assert found[0][0] == pytest.approx(0.97, abs=1e-5)
    assert [e.key for _, e in store.candidates("p", base, 1, 0.85)] == ["closer"]


def test_a_partition_sees_only_its_own_entries() -> None:
    store = MemoryResponseStore()
    store.put(entry("mine", unit(1), partition="a"))
    store.put(entry("theirs", unit(1), partition="b"))
    assert [e.key for _, e in store.candidates("a", unit(1), 5, 0.5)] == ["mine"]
    assert store.candidates("c", unit(1), 5, 0.5) == []


def test_a_large_partition_finds_every_entry_above_the_threshold() -> None:
    rng = np.random.default_rng(7)
    n = FULL_SCAN_BELOW * 3
    vectors = rng.standard_normal((n, 256)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = MemoryResponseStore(max_entries=None)
    for i in range(n):
        store.put(entry(f"k{i}", vectors[i]))
    for i in range(0, n, 97):
        query = near(vectors[i], 0.83, seed=i)
        assert f"k{i}" in [e.key for _, e in store.candidates("p", query, 3, 0.8)]


def test_expired_entries_are_never_returned() -> None:
    clock = FakeClock()
    store = MemoryResponseStore(clock=clock)
    store.put(entry("k", unit(1), expires_at=clock.now + 60))
    clock.advance(59)
    assert store.get("k") is not None
    clock.advance(1)
    assert store.get("k") is None
    assert store.candidates("p", unit(1), 5, 0.5) == []


def test_expired_entries_are_purged_on_put() -> None:
    clock = FakeClock()
    store = MemoryResponseStore(clock=clock)
    store.put(entry("old", expires_at=clock.now + 1))
    clock.advance(2)
    store.put(entry("new"))
    assert len(store) == 1


def test_the_least_recently_used_entry_is_evicted_and_counted() -> None:
    store = MemoryResponseStore(max_entries=2)
    store.put(entry("a", unit(1)))
    store.put(entry("b", unit(2)))
    store.get("a")
    store.put(entry("c", unit(3)))
    assert (store.get("a") is not None, store.get("b"), store.get("c") is not None) == (True, None, True)
    assert store.evictions == 1


def test_a_semantic_hit_touched_counts_as_a_use() -> None:
    store = MemoryResponseStore(max_entries=2)
    store.put(entry("a", unit(1)))
    store.put(entry("b", unit(2)))
    store.touch("a")
    store.put(entry("c", unit(3)))
    assert store.get("b") is None and store.get("a") is not None


def test_invalidate_by_key() -> None:
    store = MemoryResponseStore()
    store.put(entry("a", unit(1)))
    store.put(entry("b", unit(2)))
    assert store.invalidate(key="a") == 1
    assert store.invalidate(key="a") == 0
    assert store.get("a") is None and store.candidates("p", unit(1), 5, 0.99) == []
    assert store.get("b") is not None


def test_invalidate_by_namespace() -> None:
    store = MemoryResponseStore()
    store.put(entry("a", unit(1), namespace="tenant-1"))
    store.put(entry("b", unit(2), namespace="tenant-1"))
    store.put(entry("c", unit(3), namespace="tenant-2"))
    assert store.invalidate(namespace="tenant-1") == 2
    assert [store.get(k) is not None for k in "abc"] == [False, False, True]


def test_exact_entries_need_no_vector() -> None:
    store = MemoryResponseStore()
    store.put(entry("k", None))
    assert store.get("k") is not None
    assert store.candidates("p", unit(1), 5, 0.0) == []


def test_entries_survive_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    store = MemoryResponseStore(path=path)
    store.put(entry("a", unit(1), namespace="n"))
    store.put(entry("b", None))
    store.put(entry("gone", unit(3)))
    store.invalidate(key="gone")
    store.close()
    reopened = MemoryResponseStore(path=path)
    loaded = reopened.get("a")
    assert (loaded.payload, loaded.namespace, loaded.question) == (b"a", "n", "question a?")
    assert np.array_equal(loaded.vector, unit(1))
    assert reopened.get("b") is not None and reopened.get("gone") is None
    assert [e.key for _, e in reopened.candidates("p", unit(1), 5, 0.99)] == ["a"]


def test_expired_rows_are_not_loaded(tmp_path: Path) -> None:
    clock = FakeClock()
    path = str(tmp_path / "cache.db")
    MemoryResponseStore(path=path, clock=clock).put(entry("k", expires_at=clock.now + 5))
    clock.advance(10)
    assert MemoryResponseStore(path=path, clock=clock).get("k") is None


def test_another_process_sees_writes_and_invalidations(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    store = MemoryResponseStore(path=path, refresh_interval=0.0)
    store.put(entry("mine", unit(1)))
    script = f"""
import sys; sys.path.insert(0, {str(SRC)!r})
import numpy as np
from costaware.stores.response_memory import MemoryResponseStore
from costaware.stores.responses import Entry
other = MemoryResponseStore(path={path!r})
assert other.get("mine") is not None
other.put(Entry("theirs", "p", "", "q?", np.ones(16, dtype=np.float32) / 4, b"t", 0.0))
other.invalidate(key="mine")
"""
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    assert store.get("theirs").payload == b"t"
    assert store.get("mine") is None
    assert [e.key for _, e in store.candidates("p", np.ones(16, dtype=np.float32) / 4, 5, 0.99)] == ["theirs"]


def test_a_corrupt_file_raises_at_open(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    path.write_bytes(b"this is not a SQLite database" * 100)
    with pytest.raises(ConfigurationError, match="cannot open the response store"):
        MemoryResponseStore(path=str(path))


def test_threads_write_and_read_concurrently() -> None:
    store = MemoryResponseStore(max_entries=500)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(300):
                v = unit(t * 1000 + i)
                store.put(entry(f"{t}-{i}", v))
                assert store.get(f"{t}-{i}") is not None or store.evictions
                found = store.candidates("p", v, 3, 0.99)
                assert all(score >= 0.99 for score, _ in found)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store) == 500 and store.evictions == 700


def test_forking_while_threads_use_the_store_leaves_the_child_a_working_store(tmp_path: Path) -> None:
    """Threads busy on the store (and its SQLite file) while the process forks: the child gets a
    consistent store with a connection of its own, never a lock held by a thread it does not have."""
    import faulthandler
    import os

    store = MemoryResponseStore(path=str(tmp_path / "cache.db"))
    stop = threading.Event()

    def busy(worker: int) -> None:
        n = 0
        while not stop.is_set():
            store.put(entry(f"w{worker}-{n % 50}", vector=unit(n % 7)))
            store.candidates("p", unit(n % 7), 4, 0.5)
            n += 1

    threads = [threading.Thread(target=busy, args=(i,), daemon=True) for i in range(3)]
    for thread in threads:
        thread.start()

    mine = unit(1)  # made here: the child must not import (a busy thread may hold the import lock)
    try:
        for _ in range(10):
            pid = os.fork()
            if pid == 0:  # the child: a watchdog ends it with a traceback if it hangs
                faulthandler.dump_traceback_later(10, exit=True)
                store.put(entry("from-child", vector=mine))
                os._exit(0 if store.get("from-child") is not None else 3)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, "the child hung or failed"
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    store.close()
