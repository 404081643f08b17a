"""Fixtures for the budget tests: one fresh store of each kind per test.

Redis comes from the session-wide ``redis_url`` fixture (tests/conftest.py), which starts a real
``redis-server`` on a free loopback port and fails if the binary is missing. Each test gets its own
key prefix on it, so tests never see each other's budgets.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from costaware.core.budget import Store
from costaware.stores import open_store

STORE_KINDS = ("memory", "sqlite", "redis")
WORKER = Path(__file__).with_name("_worker.py")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A URL naming a store no other test uses: a new SQLite file, a new Redis key prefix."""
    return url_for(store_kind, tmp_path, request)


def url_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "memory":
        return "memory://"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'budget.db'}"  # tmp_path is absolute: four slashes
    base = request.getfixturevalue("redis_url")
    return f"{base}?prefix=test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_store(store_url: str) -> Iterator[Callable[..., Store]]:
    """Open the test's store (again: same file or prefix), with extra URL options; closed afterwards."""
    opened: list[Store] = []

    def make(**options: str) -> Store:
        url = store_url
        if options:
            query = "&".join(f"{name}={value}" for name, value in options.items())
            url += ("&" if "?" in url else "?") + query
        store = open_store(url)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


@pytest.fixture
def start_worker() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Run tests/budget/_worker.py in new interpreters (stdout: text lines); all killed afterwards."""
    started: list[subprocess.Popen[str]] = []
    path = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))

    def start(*args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(WORKER), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(os.environ, PYTHONPATH=path),
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
