"""From async code, a budget store that does I/O (SQLite, Redis) never stalls the event loop.

Reservations are awaited on costaware's budget worker thread; settlements are queued there and the
call returns without waiting for them. A stalled store stands in for a slow one: a second SQLite
connection holding the write lock (another process's transaction), or Redis under ``CLIENT PAUSE``. The
loop must keep ticking while costaware waits for it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
import traceback
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import pytest

import costaware
from costaware import Budget, cost_aware
from costaware.sim import Simulator

from helpers import run_concurrent_budget

HAIKU = "claude-haiku-4-5"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
TICK = 0.01
STALL = 1.2
"""How long a store stalls, in seconds: well above what a busy CI machine adds to a call."""
LONGEST_GAP = 0.35
"""The longest the ticker may wait between ticks (a first call's lazy imports take ~0.1 s)."""


def _budget(tmp_path: Path, key: str, limit: str = "1", store: str | None = None) -> Budget:
    """A daily budget on SQLite in ``tmp_path`` (or on ``store``), its store opened and ready. Its
    timeout (5 s) is above the stalls here: a slow store that calls wait for, not a failed one."""
    where = store or f"sqlite:///{tmp_path / 'budget.db'}"
    where += ("&" if "?" in where else "?") + "timeout=5s"
    budget = Budget(limit=Decimal(limit), period="day", key=key, store=where)
    costaware.budget_status(budget)  # opens the store: its schema exists before the lock is taken
    return budget


def _stall_store(where: str, start_after: float, hold_for: float) -> threading.Thread:
    """Make the store stall ``start_after`` s from now, for ``hold_for`` s: SQLite (``where`` a path)
    by another connection holding its write lock; Redis (``where`` a URL) by ``CLIENT PAUSE``."""

    def stall() -> None:
        time.sleep(start_after)
        if where.startswith("redis://"):
            import redis

            server = redis.Redis.from_url(where)
            server.execute_command("CLIENT", "PAUSE", int(hold_for * 1000))
            server.close()
            return
        conn = sqlite3.connect(where, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        time.sleep(hold_for)
        conn.execute("COMMIT")
        conn.close()

    thread = threading.Thread(target=stall)
    thread.start()
    return thread


STORES = ["sqlite", "redis"]


def _stallable_budget(
    kind: str, name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> tuple[Budget, str]:
    """A budget on a store of ``kind`` ("sqlite" or "redis"), and what ``_stall_store`` stalls for it."""
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        return _budget(tmp_path, f"{name}-{tmp_path.name}", store=url), url
    return _budget(tmp_path, name), str(tmp_path / "budget.db")


async def _longest_gap_while(work: Any) -> tuple[Any, float]:
    """Run ``work`` while a ticker sleeps ``TICK`` s in a loop; returns work's result and the longest
    time between two ticks (how long the event loop was stalled, plus one tick)."""
    stop = asyncio.Event()
    longest = 0.0

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(2 * TICK)  # ticking before the work starts: a stall at its start is seen
    try:
        result = await work
    finally:
        stop.set()
        await ticking
    return result, longest


def _client(sim: Simulator) -> Any:
    return anthropic.AsyncAnthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)


@pytest.mark.parametrize("kind", STORES)
def test_a_reservation_waiting_for_a_stalled_store_leaves_the_loop_running(
    sim: Simulator, telemetry: Any, tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    budget, stalled = _stallable_budget(kind, "async-reserve", tmp_path, request)
    client = _client(sim)

    @cost_aware(budget=budget)
    async def ask() -> Any:
        return await client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    message, took, gap = _while_stalled(stalled, ask, stall_from=-0.1)
    assert took >= STALL - 0.3  # the reservation did wait for the store
    assert gap < LONGEST_GAP  # ... and the loop kept running meanwhile
    status = costaware.budget_status(budget)
    assert status.reserved == 0
    assert status.spent > 0
    assert message.usage.output_tokens > 0


def _while_stalled(stalled: str, ask: Any, *, stall_from: float) -> tuple[Any, float, float]:
    """Run ``ask()`` while the store stalls for ``STALL`` seconds from ``stall_from`` seconds after
    the call starts (negative: already stalled when it starts); returns what ``ask()`` returned, how
    long it took, and the event loop's longest gap meanwhile."""

    async def scenario() -> tuple[Any, float, float]:
        holder = _stall_store(stalled, start_after=max(stall_from, 0), hold_for=STALL)
        if stall_from < 0:
            await asyncio.sleep(-stall_from)
        started = time.perf_counter()
        result, gap = await _longest_gap_while(ask())
        took = time.perf_counter() - started
        await asyncio.to_thread(holder.join)
        return result, took, gap

    return asyncio.run(scenario())


def _settle_while_stalled(stalled: str, ask: Any) -> tuple[float, float]:
    """Run ``ask()`` (a call answered after 0.3 s) while the store stalls from 0.1 s for ``STALL``
    seconds: the reservation is made at once, the settlement waits. Returns (took, longest gap)."""
    _, took, gap = _while_stalled(stalled, ask, stall_from=0.1)
    return took, gap


SLOW = {"x-sim-fault": "delay=0.3"}


async def _ask_slowly(client: Any) -> Any:
    """A call the simulator answers after 0.3 s."""
    return await client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION, extra_headers=SLOW)


@pytest.mark.parametrize("kind", STORES)
def test_a_call_under_a_default_budget_returns_before_its_settlement_is_written(
    sim: Simulator, telemetry: Any, tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    budget, stalled = _stallable_budget(kind, "async-settle", tmp_path, request)
    costaware.configure(budget=budget)  # every call, no scope
    client = _client(sim)

    took, gap = _settle_while_stalled(stalled, lambda: _ask_slowly(client))
    assert took < STALL - 0.2  # returned when the answer came (~0.3 s), not when the store came back
    assert gap < LONGEST_GAP
    status = costaware.budget_status(budget)  # waits for the queued settlement
    assert status.reserved == 0
    assert status.spent > 0


@pytest.mark.parametrize("kind", STORES)
def test_a_scope_waits_for_its_budget_without_stalling_the_loop(
    sim: Simulator, telemetry: Any, tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    """A scope's span says what is left of its budget after its calls, so the scope ends after the
    settlement and the read: awaited on the budget worker, with the loop running meanwhile."""
    budget, stalled = _stallable_budget(kind, "async-scope", tmp_path, request)
    client = _client(sim)

    @cost_aware(budget=budget)
    async def ask() -> Any:
        return await _ask_slowly(client)

    took, gap = _settle_while_stalled(stalled, ask)
    assert took >= STALL  # the scope read its budget after the store came back
    assert gap < LONGEST_GAP
    status = costaware.budget_status(budget)
    assert status.reserved == 0
    span = telemetry.span_named(f"costaware.scope {ask.__qualname__}")
    assert span.attributes["costaware.budget.remaining_usd"] == float(status.remaining)


@pytest.mark.parametrize("store_kind", ["sqlite", "sqlite-again", "redis"])
def test_async_tasks_and_threads_sharing_a_budget_never_overspend(
    sim: Simulator, telemetry: Any, tmp_path: Path, request: pytest.FixtureRequest, store_kind: str
) -> None:
    def factory(asynchronous: bool) -> Any:
        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        return cls(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)

    limit = Decimal("0.05")  # about 50 worst cases
    key = f"async-threads-{store_kind}-{tmp_path.name}"
    if store_kind == "redis":
        budget = Budget(limit=limit, period="day", key=key, store=request.getfixturevalue("redis_url"))
    else:
        budget = _budget(tmp_path, key, str(limit))
    spent = run_concurrent_budget(factory, budget)
    status = costaware.budget_status(budget)
    assert spent <= limit
    assert status.reserved == 0  # every reservation settled or released
    assert status.spent == spent
    assert spent > limit / 2  # the budget was really used, not refused wholesale


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_its_own_budget_worker(sim: Simulator, telemetry: Any, tmp_path: Path) -> None:
    """The parent's worker thread does not exist in a forked child: the child must start its own,
    not queue its reservations behind a thread that will never run them."""
    budget = _budget(tmp_path, "async-fork")

    @cost_aware(budget=budget)
    async def ask() -> Any:  # a client per process: connections do not survive a fork
        return await _client(sim).messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    asyncio.run(ask())  # the worker thread exists in this process now
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status, never return into pytest
        code = 1
        try:
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the alarm kills the child, whatever it waits on
            signal.alarm(20)  # so a hang fails this test instead of stalling the run
            asyncio.run(ask())
            code = 0
        except BaseException:
            (tmp_path / "child-error.txt").write_text(traceback.format_exc())
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    error = tmp_path / "child-error.txt"
    assert os.waitstatus_to_exitcode(status) == 0, error.read_text() if error.exists() else "no traceback"
    assert costaware.budget_status(budget).reserved == 0


def test_with_the_worker_stopped_store_operations_happen_in_place(
    sim: Simulator, telemetry: Any, tmp_path: Path
) -> None:
    """At interpreter shutdown the worker takes no new work: a call finishing then (a stream's
    finaliser, an atexit hook) must still reserve and settle, here, rather than fail."""
    from costaware.steps import spend

    budget = _budget(tmp_path, "async-no-worker")
    costaware.configure(budget=budget)
    spend._budget_worker().shutdown(wait=True)  # what interpreter shutdown does to it
    try:
        message = asyncio.run(_client(sim).messages.create(model=HAIKU, max_tokens=50, messages=QUESTION))
        status = costaware.budget_status(budget)
    finally:
        spend._forget_worker()
    assert message.usage.output_tokens > 0
    assert status.reserved == 0
    assert status.spent > 0


@pytest.mark.parametrize("kind", STORES)
def test_async_with_scope_reads_its_budget_off_the_loop(
    sim: Simulator, telemetry: Any, tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    budget, stalled = _stallable_budget(kind, "async-with", tmp_path, request)
    client = _client(sim)

    async def ask() -> Any:
        async with costaware.scope("batch", budget=budget) as batch:
            await _ask_slowly(client)
        return batch

    took, gap = _settle_while_stalled(stalled, ask)
    assert took >= STALL  # the block ended after the store came back and the budget was read
    assert gap < LONGEST_GAP
    span = telemetry.span_named("costaware.scope batch")
    status = costaware.budget_status(budget)
    assert span.attributes["costaware.budget.remaining_usd"] == float(status.remaining)
    assert span.attributes["costaware.scope.calls"] == 1


class _ThreadRecordingStore:
    """A real SQLite store that notes which thread each of its operations ran on."""

    def __init__(self, path: Path) -> None:
        from costaware.stores.sqlite import SQLiteStore

        self._store = SQLiteStore(str(path))
        self.threads: list[tuple[str, str]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)

        def noted(*args: Any, **kwargs: Any) -> Any:
            self.threads.append((name, threading.current_thread().name))
            return method(*args, **kwargs)

        return noted


def test_a_downgrade_reads_its_budgets_off_the_loop(sim: Simulator, telemetry: Any, tmp_path: Path) -> None:
    """``on_exceed="downgrade"`` reads the budget for each cheaper model it tries: that, the
    reservations, the settlement and the scope's closing read all run on the budget worker."""
    from costaware.core.pricing import PriceBook
    from costaware.providers.anthropic import MESSAGES
    from costaware.steps.spend import SpendGuard

    kwargs = {"model": "claude-opus-4-6", "max_tokens": 300, "messages": QUESTION}
    worst_haiku = SpendGuard([], PriceBook()).worst_case(MESSAGES, HAIKU, {**kwargs, "model": HAIKU})
    assert worst_haiku is not None
    store = _ThreadRecordingStore(tmp_path / "budget.db")
    budget = Budget(limit=worst_haiku * Decimal("1.2"), period="day", key="async-downgrade", store=store)
    client = _client(sim)

    @cost_aware(budget=budget, on_exceed="downgrade")
    async def ask() -> Any:
        return await client.messages.create(**kwargs)

    from costaware.steps.spend import wait_for_budget_worker

    store.threads.clear()
    message = asyncio.run(ask())
    wait_for_budget_worker()  # the queued settlement is made (on the worker too)
    during_the_call = list(store.threads)
    assert message.model == HAIKU
    assert telemetry.call_spans()[0].attributes["costaware.budget.downgraded_to"] == HAIKU
    assert sim.requests(model="claude-opus-4-6") == 0
    operations = {name for name, _ in during_the_call}
    assert {"reserve", "usage", "settle"} <= operations  # a refusal, a downgrade's read, the settlement
    assert {thread for _, thread in during_the_call} == {"costaware-budget_0"}, during_the_call
