"""Store faults a process meets in its life: a database it cannot write, a fork while another thread
holds a store's lock, and a thousand budget objects naming one store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

import costaware
from costaware import Budget
from costaware.core.errors import ConfigurationError
from costaware.steps.spend import shared_ledger

from .conftest import SRC, url_for
from helpers import held_by_another_thread, in_forked_child

# --- a read-only SQLite database is refused when the budget is declared ---------------------------

READ_ONLY_APP = """
import costaware
from costaware import Budget
try:
    costaware.cost_aware(budget=Budget(1, key="ro", store="sqlite:///{path}"))
except costaware.ConfigurationError as error:
    print("refused:", error)
else:
    print("accepted")
"""


def _as_unprivileged() -> list[str]:
    """A command prefix under which file permissions apply: root bypasses them, so drop the
    capabilities that let it (util-linux ``setpriv``)."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.parametrize("directory_writable", [True, False])
def test_read_only_sqlite_is_refused_at_decoration(tmp_path: Path, directory_writable: bool) -> None:
    path = tmp_path / "budget.db"
    with costaware.scope(budget=Budget(1, key="ro", store=f"sqlite:///{path}")):
        pass  # creates the database and its tables, as a first deployment would
    path.chmod(0o444)
    if not directory_writable:
        tmp_path.chmod(0o555)
    try:
        done = subprocess.run(
            [*_as_unprivileged(), sys.executable, "-c", READ_ONLY_APP.format(path=path)],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(SRC)},
        )
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: cannot open the budget database"), done.stdout
    assert "readonly" in done.stdout


# --- a child forked while a thread holds a store's lock does not hang -----------------------------


def _fork_and_reserve(budget: Budget) -> int | None:
    return in_forked_child(lambda: shared_ledger(budget).reserve(Decimal("0.001")) is not None)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_fork_while_another_thread_is_inside_the_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    budget = Budget(10, key=f"fork-held-{kind}", store=url_for(kind, tmp_path, request))
    ledger = shared_ledger(budget)
    ledger.reserve(Decimal("0.001"))  # the store is open and in use
    with held_by_another_thread(ledger.store._lock):  # type: ignore[attr-defined]
        assert _fork_and_reserve(budget) == 0


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
def test_fork_from_a_parent_busy_with_budget_calls(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    budget = Budget(1000, key=f"fork-busy-{kind}", store=url_for(kind, tmp_path, request))
    ledger = shared_ledger(budget)
    stop = threading.Event()

    def busy() -> None:
        while not stop.is_set():  # a call's reserve and release, about a thousand a second
            held = ledger.reserve(Decimal("0.0001"))
            ledger.release(held)
            time.sleep(0.001)

    workers = [threading.Thread(target=busy) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        results = [_fork_and_reserve(budget) for _ in range(20)]
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert results == [0] * 20  # None would be a child that hung


# --- one store connection per URL, however many budget objects name it ----------------------------


def _open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_many_budget_objects_share_one_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = url_for(kind, tmp_path, request)
    first = Budget(1, key="tenant-0", store=url)
    with costaware.scope(budget=first):
        pass
    before = _open_files()
    for i in range(1000):
        with costaware.scope(budget=Budget(1, key=f"tenant-{i % 50}", store=url)):
            pass
    assert _open_files() - before <= 2
    assert shared_ledger(Budget(1, key="x", store=url)).store is shared_ledger(first).store


def test_budget_objects_with_memory_stores_stay_separate() -> None:
    one, two = Budget(1), Budget(1)  # same key, default memory:// store: two separate ledgers
    shared_ledger(one).reserve(Decimal("0.9"))
    assert shared_ledger(two).remaining() == Decimal(1)
    with pytest.raises(ConfigurationError):
        Budget(1, store="nosuch://x")


def test_many_budgets_under_a_low_file_limit(tmp_path: Path) -> None:
    # The defect report's shape: new Budget objects per scope, `ulimit -n 256`.
    code = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        import costaware
        from costaware import Budget
        for i in range(1000):
            with costaware.scope(budget=Budget(1, key=f"k{{i}}", store="sqlite:///{tmp_path / "many.db"}")):
                pass
        print("ok")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
