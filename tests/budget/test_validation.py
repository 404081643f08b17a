"""A bad budget or store fails when it is configured, with ConfigurationError, never at the first call."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costaware.core.budget import Budget, StoreURL, parse_store_url
from costaware.core.errors import ConfigurationError
from costaware.stores import open_store
from costaware.stores.memory import MemoryStore


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (5, Decimal(5)),
        ("2.50", Decimal("2.50")),
        (0.1, Decimal("0.1")),
        (Decimal("7.1"), Decimal("7.1")),
        (0, 0),
    ],
)
def test_limit_accepts_numbers_and_keeps_floats_as_written(given: Any, expected: Decimal) -> None:
    limit = Budget(given).limit
    assert isinstance(limit, Decimal)
    assert limit == expected
    assert str(limit) == str(expected)


@pytest.mark.parametrize("limit", [-1, "-0.01", "abc", float("nan"), float("inf"), None, True, [1]])
def test_limit_must_be_a_non_negative_number(limit: Any) -> None:
    with pytest.raises(ConfigurationError, match="budget limit"):
        Budget(limit)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"period": "week"}, "period 'week' is unknown"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone 'Mars/Olympus_Mons' is unknown"),
        ({"timezone": ""}, "timezone"),
        ({"on_exceed": "explode"}, "on_exceed 'explode' is unknown"),
        ({"key": ""}, "key must be a non-empty string"),
        ({"store": "postgres://db/budget"}, "unknown scheme 'postgres'"),
        ({"store": 42}, "budget store must be"),
        ({"store": "sqlite://"}, "sqlite:///relative/path.db"),
        ({"store": "sqlite://host/budget.db"}, "sqlite:///relative/path.db"),
        ({"store": "sqlite:///budget.db?synchronus=full"}, "unknown options: synchronus"),
        ({"store": "sqlite:///budget.db?synchronous=off"}, "synchronous must be normal or full"),
        ({"store": "memory://?reservation_ttl=-5"}, "reservation_ttl='-5' is not a positive duration"),
        ({"store": "memory://?reservation_ttl=soon"}, "not a positive duration"),
        ({"store": "memory://somewhere"}, "write memory://"),
        ({"store": "redis://"}, "names no Redis host"),
        ({"store": "redis://localhost:port/0"}, "malformed"),
    ],
)
def test_invalid_budget_raises_configuration_error(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Budget(1, **options)


def test_budget_is_constructed_without_touching_its_store(tmp_path: Path) -> None:
    Budget(1, store="redis://127.0.0.1:1/0")  # nothing listens there: no error yet
    Budget(1, store=f"sqlite:///{tmp_path}/missing-dir/budget.db")
    assert list(tmp_path.iterdir()) == []


def test_budget_accepts_a_store_object() -> None:
    store = MemoryStore()
    assert Budget(1, store=store).store is store


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///budget.db", StoreURL("sqlite:///budget.db", "sqlite", "budget.db")),
        ("sqlite:////var/lib/b.db", StoreURL("sqlite:////var/lib/b.db", "sqlite", "/var/lib/b.db")),
        (
            "sqlite:///b.db?reservation_ttl=2m&busy_timeout=2s&synchronous=FULL",
            StoreURL(
                "sqlite:///b.db?reservation_ttl=2m&busy_timeout=2s&synchronous=FULL",
                "sqlite",
                "b.db",
                reservation_ttl=120.0,
                timeout=2.0,
                synchronous="full",
            ),
        ),
        (
            "sqlite:///b.db?timeout=100ms&retry_after=30s",
            StoreURL(
                "sqlite:///b.db?timeout=100ms&retry_after=30s",
                "sqlite",
                "b.db",
                timeout=0.1,
                retry_after=30.0,
            ),
        ),
        (
            "redis://h/0?timeout=1s",
            StoreURL("redis://h/0?timeout=1s", "redis", "redis://h/0", timeout=1.0),
        ),
        (
            "redis://h:6380/2?prefix=app&socket_timeout=5",
            StoreURL(
                "redis://h:6380/2?prefix=app&socket_timeout=5",
                "redis",
                "redis://h:6380/2?socket_timeout=5",
                prefix="app",
            ),
        ),
        ("memory://?max_charges=5", StoreURL("memory://?max_charges=5", "memory", "", max_charges=5)),
    ],
)
def test_store_urls_are_parsed(url: str, expected: StoreURL) -> None:
    assert parse_store_url(url) == expected


def test_unreachable_redis_fails_at_open_naming_the_url_without_its_password() -> None:
    started = time.monotonic()
    with pytest.raises(
        ConfigurationError, match=r"cannot write to the budget store at 'redis://:\*\*\*@127\.0\.0\.1:1/0'"
    ) as failed:
        open_store("redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in str(failed.value)
    assert time.monotonic() - started < 10


def test_sqlite_that_cannot_be_opened_fails_at_open(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot open the budget database"):
        open_store(f"sqlite:///{tmp_path}/missing-dir/budget.db")


def test_open_store_rejects_what_is_not_a_store() -> None:
    with pytest.raises(ConfigurationError, match="not object"):
        open_store(object())


def test_open_store_passes_a_store_object_through() -> None:
    store = MemoryStore()
    assert open_store(store) is store


def test_open_store_without_a_url_is_a_new_memory_store() -> None:
    assert isinstance(open_store(None), MemoryStore)
    assert open_store(None) is not open_store(None)
