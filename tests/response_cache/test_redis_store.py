"""The Redis response store against a real redis-server: what it keeps, finds, expires, evicts and
forgets, and that a hung, stopped or corrupt store never holds a call longer than its timeout."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import redis

from costaware.core.errors import ConfigurationError
from costaware.stores import open_response_store
from costaware.stores.response_redis import RedisResponseStore
from costaware.stores.responses import Entry

from helpers import start_redis_server, wait_until_listening

DIM = 256


def unit(vector: Any) -> np.ndarray:
    array = np.asarray(vector, dtype=np.float32)
    return np.asarray(array / np.linalg.norm(array, axis=-1, keepdims=True), dtype=np.float32)


def random_unit(seed: int, count: int | None = None) -> np.ndarray:
    shape = (DIM,) if count is None else (count, DIM)
    return unit(np.random.default_rng(seed).standard_normal(shape))


def near(vector: np.ndarray, cosine: float, seed: int) -> np.ndarray:
    """A unit vector at exactly ``cosine`` from ``vector``."""
    noise = random_unit(seed)
    noise = unit(noise - float(noise @ vector) * vector)
    return unit(cosine * vector + np.sqrt(1 - cosine**2) * noise)


def entry(key: str, vector: Any = None, **fields: Any) -> Entry:
    values: dict[str, Any] = {
        "key": key,
        "partition": "p1",
        "namespace": "",
        "question": f"question {key}",
        "vector": vector,
        "payload": f"answer {key}".encode(),
        "created_at": time.time(),
    }
    values.update(fields)
    return Entry(**values)


@pytest.fixture
def store_url(redis_url: str) -> str:
    """A key prefix no other test uses, on the session's redis-server."""
    return f"{redis_url}?prefix=test-rc-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[..., RedisResponseStore]]:
    opened: list[RedisResponseStore] = []

    def make(url: str | None = None, **options: Any) -> RedisResponseStore:
        store = RedisResponseStore.from_url(url or store_url, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., RedisResponseStore]) -> RedisResponseStore:
    return make_store()


@pytest.fixture
def own_server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of this test's own, so it can be stopped (SIGSTOP) and resumed."""
    server, url = start_redis_server()
    try:
        yield server, url
    finally:
        if server.poll() is None:
            os.kill(server.pid, signal.SIGCONT)
            server.terminate()
        server.wait(timeout=10)


# -- keeping and finding -------------------------------------------------------------------------


def test_an_entry_comes_back_as_it_was_put(store: RedisResponseStore) -> None:
    vector = random_unit(1)
    stored = entry("k1", vector, namespace="tenant-a", payload=b"\x00\xffbytes", expires_at=time.time() + 60)
    store.put(stored)
    found = store.get("k1")
    assert found is not None
    assert (found.key, found.partition, found.namespace, found.question, found.payload) == (
        "k1",
        "p1",
        "tenant-a",
        "question k1",
        b"\x00\xffbytes",
    )
    assert found.created_at == stored.created_at and found.expires_at == stored.expires_at
    np.testing.assert_array_equal(found.vector, vector)


def test_an_entry_without_a_vector_is_found_by_key_only(store: RedisResponseStore) -> None:
    store.put(entry("k1", None))
    found = store.get("k1")
    assert found is not None and found.vector is None and found.expires_at is None
    assert store.candidates("p1", random_unit(1), 5, -1.0) == []


def test_an_unknown_key_is_a_miss(store: RedisResponseStore) -> None:
    assert store.get("nothing") is None


def test_a_put_replaces_the_entry_with_the_same_key(store: RedisResponseStore) -> None:
    first, second = random_unit(1), random_unit(2)
    store.put(entry("k1", first, payload=b"old"))
    store.put(entry("k1", second, payload=b"new"))
    assert store.get("k1").payload == b"new"  # type: ignore[union-attr]
    assert store.candidates("p1", first, 5, 0.9) == []
    [(similarity, found)] = store.candidates("p1", second, 5, 0.9)
    assert found.payload == b"new" and similarity == pytest.approx(1.0)


def test_candidates_come_best_first_above_the_threshold(store: RedisResponseStore) -> None:
    query = random_unit(1)
    for key, cosine in (("c95", 0.95), ("c88", 0.88), ("c99", 0.99), ("c70", 0.70)):
        store.put(entry(key, near(query, cosine, seed=len(key) + int(cosine * 100))))
    found = store.candidates("p1", query, 10, 0.85)
    assert [e.key for _, e in found] == ["c99", "c95", "c88"]
    assert [round(s, 3) for s, _ in found] == [0.99, 0.95, 0.88]
    assert [e.key for _, e in store.candidates("p1", query, 2, 0.85)] == ["c99", "c95"]


def test_an_entry_of_another_partition_is_never_a_candidate(store: RedisResponseStore) -> None:
    vector = random_unit(1)
    store.put(entry("other", vector, partition="p2"))
    assert store.candidates("p1", vector, 5, 0.0) == []
    assert [e.key for _, e in store.candidates("p2", vector, 5, 0.0)] == ["other"]


def test_planted_neighbours_among_2000_vectors_are_found(store: RedisResponseStore) -> None:
    background = random_unit(7, 2000)
    for i, vector in enumerate(background):
        store.put(entry(f"bg{i}", vector))
    found = 0
    for i in range(200):
        query = near(background[i], 0.9, seed=10_000 + i)
        hits = store.candidates("p1", query, 3, 0.85)
        found += bool(hits) and hits[0][1].key == f"bg{i}"
    assert found >= 196  # the LSH parameters give ~100% at cosine 0.9


# -- expiry and size -------------------------------------------------------------------------------


def test_an_expired_entry_is_never_returned(make_store: Callable[..., RedisResponseStore]) -> None:
    now = [1_000_000.0]
    store = make_store(clock=lambda: now[0])
    vector = random_unit(1)
    store.put(entry("k1", vector, created_at=now[0], expires_at=now[0] + 30))
    assert store.get("k1") is not None
    assert len(store.candidates("p1", vector, 5, 0.5)) == 1
    now[0] += 31
    assert store.get("k1") is None
    assert store.candidates("p1", vector, 5, 0.5) == []


def test_redis_drops_an_entry_after_its_ttl(store_url: str, store: RedisResponseStore) -> None:
    store.put(entry("k1", random_unit(1), expires_at=time.time() + 1))
    client = redis.Redis.from_url(store_url.split("?")[0])
    prefix = store_url.split("prefix=")[1]
    ttl_ms = client.pttl(f"{prefix}:e:k1")
    assert 0 < ttl_ms <= 1000 * 601  # the expiry plus the grace for the sweep to unindex it
    time.sleep(1.1)
    assert store.get("k1") is None


def test_an_entry_put_already_expired_is_not_kept(store: RedisResponseStore) -> None:
    store.put(entry("k1", expires_at=time.time() - 1))
    assert store.get("k1") is None


def test_the_least_recently_used_entries_are_evicted(make_store: Callable[..., RedisResponseStore]) -> None:
    store = make_store(max_entries=5)
    for i in range(5):
        store.put(entry(f"k{i}", random_unit(i)))
    assert store.get("k0") is not None  # a use
    store.touch("k1")  # a semantic hit
    store.put(entry("k5", random_unit(5)))
    store.put(entry("k6", random_unit(6)))
    assert store.evictions == 2
    assert [k for k in (f"k{i}" for i in range(7)) if store.get(k) is not None] == [
        "k0",
        "k1",
        "k4",
        "k5",
        "k6",
    ]
    assert store.candidates("p1", random_unit(2), 5, 0.99) == []


def test_no_limit_evicts_nothing(make_store: Callable[..., RedisResponseStore]) -> None:
    store = make_store(max_entries=None)
    for i in range(50):
        store.put(entry(f"k{i}"))
    assert store.evictions == 0 and all(store.get(f"k{i}") for i in range(50))


# -- invalidation -----------------------------------------------------------------------------------


def test_invalidating_a_key_removes_only_that_entry(store: RedisResponseStore) -> None:
    vector = random_unit(1)
    store.put(entry("k1", vector))
    store.put(entry("k2", near(vector, 0.95, seed=2)))
    assert store.invalidate(key="k1") == 1
    assert store.invalidate(key="k1") == 0
    assert store.get("k1") is None and store.get("k2") is not None
    assert [e.key for _, e in store.candidates("p1", vector, 5, 0.5)] == ["k2"]


def test_invalidating_a_namespace_removes_only_its_entries(store: RedisResponseStore) -> None:
    vector = random_unit(1)
    for i in range(3):
        store.put(entry(f"a{i}", near(vector, 0.95, seed=i), namespace="a", partition="pa"))
    store.put(entry("b0", vector, namespace="b", partition="pb"))
    assert store.invalidate(namespace="a") == 3
    assert all(store.get(f"a{i}") is None for i in range(3))
    assert store.candidates("pa", vector, 5, 0.5) == []
    assert store.get("b0") is not None and len(store.candidates("pb", vector, 5, 0.5)) == 1
    store.put(entry("a-new", vector, namespace="a", partition="pa"))  # the namespace lives on
    assert [e.key for _, e in store.candidates("pa", vector, 5, 0.5)] == ["a-new"]


def test_an_invalidated_namespace_is_reclaimed_by_later_puts(
    store_url: str, store: RedisResponseStore
) -> None:
    for i in range(20):
        store.put(entry(f"a{i}", random_unit(i), namespace="a"))
    store.invalidate(namespace="a")
    store.put(entry("b0", namespace="b"))
    store.put(entry("b1", namespace="b"))
    client = redis.Redis.from_url(store_url.split("?")[0])
    prefix = store_url.split("prefix=")[1]
    assert [i for i in range(20) if client.exists(f"{prefix}:e:a{i}")] == []
    assert client.zcard(f"{prefix}:lru") == 2


# -- sharing ----------------------------------------------------------------------------------------


def _write_and_read(store: RedisResponseStore, name: str, count: int, errors: Any) -> None:
    try:
        for i in range(count):
            key = f"{name}-{i}"
            vector = random_unit(hash(key) % 2**32)
            store.put(entry(key, vector, payload=key.encode()))
            assert store.get(key).payload == key.encode()  # type: ignore[union-attr]
            hits = store.candidates("p1", vector, 1, 0.99)
            assert hits and hits[0][1].key == key
    except Exception as error:
        errors.put(repr(error))
        raise


def test_threads_and_processes_share_one_store(store: RedisResponseStore) -> None:
    errors: Any = multiprocessing.get_context("fork").Queue()
    # Forked children use the parent's store object: redis-py gives them new connections.
    store.get("warm-up")
    processes = [
        multiprocessing.get_context("fork").Process(
            target=_write_and_read, args=(store, f"proc{n}", 40, errors)
        )
        for n in range(2)
    ]
    threads = [
        threading.Thread(target=_write_and_read, args=(store, f"thread{n}", 40, errors)) for n in range(4)
    ]
    for process in processes:
        process.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert errors.empty()
    names = [f"proc{n}" for n in range(2)] + [f"thread{n}" for n in range(4)]
    missing = [f"{name}-{i}" for name in names for i in range(40) if store.get(f"{name}-{i}") is None]
    assert missing == []


def test_the_store_opens_from_a_url(store_url: str) -> None:
    store = open_response_store(store_url, max_entries=10)
    try:
        assert isinstance(store, RedisResponseStore)
        store.put(entry("k1"))
        assert store.get("k1") is not None
    finally:
        store.close()


# -- failures ---------------------------------------------------------------------------------------


def _each_operation(store: RedisResponseStore) -> dict[str, Callable[[], object]]:
    vector = random_unit(1)
    return {
        "get": lambda: store.get("k1"),
        "candidates": lambda: store.candidates("p1", vector, 3, 0.5),
        "touch": lambda: store.touch("k1"),
        "put": lambda: store.put(entry("k2", vector)),
        "invalidate key": lambda: store.invalidate(key="k2"),
        "invalidate namespace": lambda: store.invalidate(namespace="n"),
    }


def test_a_hung_server_fails_each_operation_within_the_timeout(own_server: tuple[Any, str]) -> None:
    server, url = own_server
    store = RedisResponseStore.from_url(f"{url}?timeout=0.1")
    try:
        store.put(entry("k1", random_unit(1)))
        os.kill(server.pid, signal.SIGSTOP)
        for name, operation in _each_operation(store).items():
            started = time.perf_counter()
            with pytest.raises(redis.RedisError):
                operation()
            assert time.perf_counter() - started < 1.0, name
        os.kill(server.pid, signal.SIGCONT)
        assert store.get("k1") is not None  # back: the next operation works
        for operation in _each_operation(store).values():
            operation()
    finally:
        store.close()


def test_a_stopped_server_fails_each_operation_at_once_until_it_is_back(
    own_server: tuple[Any, str],
) -> None:
    server, url = own_server
    store = RedisResponseStore.from_url(f"{url}?timeout=0.1")
    restarted = None
    try:
        server.terminate()
        server.wait(timeout=10)
        for name, operation in _each_operation(store).items():
            started = time.perf_counter()
            with pytest.raises(redis.RedisError):
                operation()
            assert time.perf_counter() - started < 1.0, name
        restarted = _restart_on(url, server.args)
        for operation in _each_operation(store).values():
            operation()  # an empty server now (no persistence), but answering
    finally:
        store.close()
        if restarted is not None:
            restarted.terminate()
            restarted.wait(timeout=10)


def _restart_on(url: str, args: list[str]) -> subprocess.Popen[bytes]:
    """The same redis-server command again (same port), once it accepts connections."""
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    wait_until_listening(server, port)
    return server


def test_an_unreachable_server_is_a_configuration_error_at_open() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConfigurationError, match="cannot write to the response store"):
        RedisResponseStore.from_url(f"redis://127.0.0.1:{port}/0?timeout=0.1")


@pytest.mark.parametrize(
    "query",
    ["timeout=0", "timeout=-1", "timeout=soon", "prefix=", "socket_timeout=5", "retry_on_timeout=true", "x"],
)
def test_bad_url_options_are_configuration_errors(redis_url: str, query: str) -> None:
    with pytest.raises(ConfigurationError):
        RedisResponseStore.from_url(f"{redis_url}?{query}")


def test_a_bad_max_entries_is_a_configuration_error(redis_url: str) -> None:
    with pytest.raises(ConfigurationError):
        RedisResponseStore.from_url(redis_url, max_entries=0)


@pytest.mark.parametrize(
    "damage",
    [{"vector": b"\x01\x02\x03\x04\x05"}, {"vector": b"\xff\xff\xff\xff" * DIM}, {"created_at": b"never"}],
)
def test_a_corrupt_entry_is_a_miss(store_url: str, store: RedisResponseStore, damage: dict[Any, Any]) -> None:
    vector = random_unit(1)
    store.put(entry("k1", vector))
    client = redis.Redis.from_url(store_url.split("?")[0])
    client.hset(f"{store_url.split('prefix=')[1]}:e:k1", mapping=damage)
    assert store.get("k1") is None
    assert store.candidates("p1", vector, 5, 0.0) == []


def test_an_entry_missing_its_payload_is_a_miss(store_url: str, store: RedisResponseStore) -> None:
    vector = random_unit(1)
    store.put(entry("k1", vector))
    client = redis.Redis.from_url(store_url.split("?")[0])
    client.hdel(f"{store_url.split('prefix=')[1]}:e:k1", "payload")
    assert store.get("k1") is None
    assert store.candidates("p1", vector, 5, 0.0) == []
