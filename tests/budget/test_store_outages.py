"""A shared store that hangs or goes away: calls wait at most the store's timeout, once per breaker
interval; budgets fail open (spend journaled, booked once when the store is back) or closed (refused
before sending). Through the real clients, a real redis-server stopped with SIGSTOP, and SQLite held
by another connection's write lock."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import pytest

import costaware
from costaware import Budget, BudgetExceededError, cost_aware
from costaware.core.budget import Charge, Reservation
from costaware.steps.spend import BudgetStoreUnavailableError, shared_ledger
from costaware.stores.guarded import GuardedStore
from costaware.stores.sqlite import SQLiteStore

from helpers import HAIKU, start_redis_server, user

QUESTION = user("What is the capital of France?")
OPTIONS = "timeout=250ms&retry_after=1s"


@pytest.fixture
def redis_server() -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A redis-server of this test's own, so it can be stopped (SIGSTOP) and resumed."""
    server, url = start_redis_server()
    try:
        yield server, url
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait(timeout=10)


def _cost(span: Any) -> Decimal:
    return Decimal(span.attributes["costaware.cost.usd_exact"])


def _timed(function: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = function()
    return result, time.perf_counter() - started


def test_a_hung_redis_costs_one_timeout_then_spend_is_booked_once(
    redis_server: tuple[Any, str], anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    server, url = redis_server
    # A breaker interval (3 s) longer than the five calls take even on a busy machine.
    budget = Budget(1, period="day", key="hung", store=f"{url}?timeout=250ms&retry_after=3s")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    ask()
    os.kill(server.pid, signal.SIGSTOP)
    waits = [_timed(ask)[1] for _ in range(5)]
    assert sim.requests() == 6  # failing open: every call went out
    # The first call waits for the store's timeout; the breaker spares the others.
    assert 0.2 <= waits[0] < 1.0
    assert max(waits[1:]) < 0.2
    store = shared_ledger(budget).store
    # Kept to replay: five settlements, and the release of the reservation that timed out (the
    # stopped server still makes it when it resumes).
    assert store.pending == 6  # type: ignore[attr-defined]

    os.kill(server.pid, signal.SIGCONT)
    time.sleep(3.1)  # the breaker's interval
    ask()  # the store answers: the journal is replayed first
    assert store.pending == 0  # type: ignore[attr-defined]
    store.replay()  # type: ignore[attr-defined]  # nothing left: replaying again books nothing
    status = costaware.budget_status(budget)
    spans = [s for s in telemetry.our_spans() if s.name == f"chat {HAIKU}"]
    assert len(spans) == 7
    assert status.spent == sum(_cost(s) for s in spans) and status.reserved == 0


def test_failing_closed_refuses_before_sending(
    redis_server: tuple[Any, str], anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    server, url = redis_server
    budget = Budget(1, key="closed", store=f"{url}?{OPTIONS}", on_store_error="closed")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    ask()
    os.kill(server.pid, signal.SIGSTOP)
    for _ in range(3):
        with pytest.raises(BudgetStoreUnavailableError) as refused:
            ask()
        assert isinstance(refused.value, BudgetExceededError)
        assert "on_store_error='closed'" in str(refused.value)
    assert sim.requests() == 1
    refusals = [s for s in telemetry.our_spans() if s.attributes.get("costaware.budget.refused")]
    assert len(refusals) == 3


def test_a_reservation_made_before_the_outage_is_settled_after_it(
    redis_server: tuple[Any, str], anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    server, url = redis_server
    budget = Budget(1, key="mid-call", store=f"{url}?{OPTIONS}")

    @cost_aware(budget=budget)
    def ask() -> list[Any]:
        stream = anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION, stream=True)
        events = [next(stream)]
        os.kill(server.pid, signal.SIGSTOP)  # the store hangs while the answer streams in
        events.extend(stream)
        return events

    ask()
    ledger = shared_ledger(budget)
    assert ledger.store.pending == 1  # type: ignore[attr-defined]  # the settlement, kept
    os.kill(server.pid, signal.SIGCONT)
    time.sleep(1.1)
    assert ledger.store.replay() == 0  # type: ignore[attr-defined]
    spent, reserved = ledger.usage()
    assert reserved == 0  # the worst case is given back at once, not after its 15-minute TTL
    assert spent == _cost(telemetry.span())


async def test_async_calls_do_not_queue_behind_a_hung_store(
    redis_server: tuple[Any, str], sim: Any, telemetry: Any
) -> None:
    server, url = redis_server
    budget = Budget(1, key="async-hung", store=f"{url}?{OPTIONS}")
    client = anthropic.AsyncAnthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)

    @cost_aware(budget=budget)
    async def ask() -> Any:
        return await client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    await ask()
    os.kill(server.pid, signal.SIGSTOP)
    started = time.perf_counter()
    answers = await asyncio.gather(*(ask() for _ in range(5)))
    took = time.perf_counter() - started
    assert len(answers) == 5 and sim.requests() == 6
    assert took < 1.5  # one timeout, not five queued on the budget worker


def test_a_locked_sqlite_database_costs_one_timeout(
    tmp_path: Path, anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    path = tmp_path / "budget.db"
    budget = Budget(1, key="locked", store=f"sqlite:///{path}?timeout=250ms&retry_after=3s")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    ask()
    holder = sqlite3.connect(path, isolation_level=None)  # another process stuck in a transaction
    holder.execute("BEGIN IMMEDIATE")
    waits = [_timed(ask)[1] for _ in range(4)]
    assert 0.2 <= waits[0] < 1.0 and max(waits[1:]) < 0.2
    holder.execute("COMMIT")
    holder.close()
    time.sleep(3.1)
    ask()
    status = costaware.budget_status(budget)
    spans = [s for s in telemetry.our_spans() if s.name == f"chat {HAIKU}"]
    assert status.spent == sum(_cost(s) for s in spans) and status.reserved == 0


class _AppliesThenTimesOut:
    """A store whose settle is applied but whose answer is lost the first time (a timeout after
    the server did the work): the journal's replay must not book it twice."""

    def __init__(self, inner: SQLiteStore) -> None:
        self.inner, self.lost = inner, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        self.inner.settle(reservation, charge)
        if not self.lost:
            self.lost += 1
            raise TimeoutError("the answer was lost")


def test_a_replayed_settlement_is_never_booked_twice(tmp_path: Path) -> None:
    inner = SQLiteStore(str(tmp_path / "b.db"))
    store = GuardedStore(_AppliesThenTimesOut(inner), name="test", retry_after=0.05)  # type: ignore[arg-type]
    reservation, _, _ = store.reserve("k", "none", Decimal("0.5"), Decimal(1))
    assert reservation is not None
    store.settle(reservation, Charge(budget_key="k", amount=Decimal("0.125")))
    assert store.pending == 1 and not store.available
    time.sleep(0.06)
    assert store.replay() == 0
    assert store.usage("k", "none") == (Decimal("0.125"), Decimal(0))
    inner.close()


def test_the_first_reservation_after_an_outage_sees_its_spend(
    tmp_path: Path, anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    # Room for about two calls' worst case; three are sent while the store is locked (failing open).
    path = tmp_path / "budget.db"
    budget = Budget("0.0006", key="after-outage", store=f"sqlite:///{path}?{OPTIONS}")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    ask()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ask()
    ask()
    holder.execute("COMMIT")
    holder.close()
    time.sleep(1.1)
    with pytest.raises(BudgetExceededError):
        ask()  # the journal is replayed before this reservation: the budget is spent
    assert sim.requests() == 3
    assert costaware.budget_status(budget).spent == sum(
        _cost(s)
        for s in telemetry.our_spans()
        if s.name == f"chat {HAIKU}" and "costaware.cost.usd_exact" in s.attributes
    )


def test_a_read_only_redis_replica_is_refused_at_decoration(redis_server: tuple[Any, str]) -> None:
    import redis

    _, url = redis_server
    primary = redis.Redis.from_url(url)
    primary.config_set("replica-read-only", "yes")
    primary.execute_command("REPLICAOF", "127.0.0.1", "1")  # a replica of nothing: read-only
    try:
        with pytest.raises(costaware.ConfigurationError, match="cannot write to the budget store"):
            cost_aware(budget=Budget(1, key="replica", store=f"{url}?{OPTIONS}"))
    finally:
        primary.execute_command("REPLICAOF", "NO", "ONE")
        primary.close()


def test_a_settle_that_fails_part_way_is_replayed_and_booked(
    redis_server: tuple[Any, str], anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    # The budget's usage hash turns into a string (WRONGTYPE): every script on it fails part-way.
    # Once an operator deletes the key, the journal's settlements must book: a failed script must
    # not have left the "settled" marker behind.
    import redis

    _, url = redis_server
    budget = Budget(1, key="wrongtype", store=f"{url}?timeout=250ms&retry_after=200ms")
    usage_key = shared_ledger(budget).store.inner._window_keys("wrongtype", "none")[0]  # type: ignore[attr-defined]

    @cost_aware(budget=budget)
    def ask() -> list[Any]:
        stream = anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION, stream=True)
        first = next(stream)
        time.sleep(0.3)  # past the breaker interval: the settlement is tried against the bad key
        return [first, *stream]

    raw = redis.Redis.from_url(url)
    ask()  # settles into the hash
    raw.delete(usage_key)
    raw.set(usage_key, "not a hash")
    ask()
    ask()
    raw.delete(usage_key)
    raw.close()
    time.sleep(0.3)
    assert shared_ledger(budget).store.replay() == 0  # type: ignore[attr-defined]
    spans = [s for s in telemetry.our_spans() if s.name == f"chat {HAIKU}"]
    # The first call's spend went with the deleted key; the two made during the fault are booked.
    assert costaware.budget_status(budget).spent == _cost(spans[1]) + _cost(spans[2])


def test_the_budget_gauge_leaves_an_outage_to_the_calls(
    redis_server: tuple[Any, str], anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    """A metrics collection during an outage neither waits on the store nor counts as one of its
    failures, and once the store is back it does not replay the journal (on the reader's thread,
    perhaps an event loop): it keeps the last value until a call has replayed it."""
    server, url = redis_server
    budget = Budget(1, period="day", key="gauge-outage", store=f"{url}?timeout=250ms&retry_after=1s")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    before = telemetry.budget_remaining("gauge-outage") if ask() else None
    assert before is not None and 0 < before < 1
    store = shared_ledger(budget).store
    os.kill(server.pid, signal.SIGSTOP)
    ask()  # fails open: its spend is journalled
    failures, pending = store.failures, store.pending  # type: ignore[attr-defined]
    assert pending > 0
    values, waited = _timed(lambda: [telemetry.budget_remaining("gauge-outage") for _ in range(3)])
    assert values == [before] * 3 and waited < 0.2  # no store timeout was waited for
    assert store.failures == failures  # type: ignore[attr-defined]

    os.kill(server.pid, signal.SIGCONT)
    time.sleep(1.1)  # the breaker's interval
    assert telemetry.budget_remaining("gauge-outage") == before
    assert store.pending == pending  # type: ignore[attr-defined]  # left for a call to replay
    ask()
    assert store.pending == 0  # type: ignore[attr-defined]
    spent = sum(_cost(s) for s in telemetry.our_spans() if s.name == f"chat {HAIKU}")
    assert telemetry.budget_remaining("gauge-outage") == pytest.approx(float(1 - spent))


def test_a_call_cancelled_while_its_reservation_is_being_made_releases_it(
    tmp_path: Path, async_anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    """An async call reserves on the budget worker; its task is cancelled while the store makes it wait
    (SQLite locked by another connection). The reservation the worker makes once the lock is gone
    reaches nobody: it is released, not left holding the budget until its TTL, and nothing is sent."""
    path = tmp_path / "budget.db"
    budget = Budget(1, key="cancelled", store=f"sqlite:///{path}?timeout=3s")

    @cost_aware(budget=budget)
    async def ask() -> Any:
        return await async_anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    async def main() -> None:
        await ask()  # the database exists, the worker is up
        holder = sqlite3.connect(path, isolation_level=None)  # another process in a transaction
        holder.execute("BEGIN IMMEDIATE")
        task = asyncio.create_task(ask())
        await asyncio.sleep(0.3)  # the worker now waits for the lock
        task.cancel()
        await asyncio.sleep(0.1)  # the cancellation reaches the task (its scope then waits its turn)
        holder.execute("COMMIT")  # the worker's reservation goes through, for nobody
        holder.close()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    deadline = time.monotonic() + 5
    while costaware.budget_status(budget).reserved and time.monotonic() < deadline:
        time.sleep(0.05)
    status = costaware.budget_status(budget)
    assert status.reserved == 0 and sim.requests() == 1
    (first,) = [
        s for s in telemetry.our_spans() if s.name == f"chat {HAIKU}" and "error.type" not in s.attributes
    ]
    assert status.spent == _cost(first)
