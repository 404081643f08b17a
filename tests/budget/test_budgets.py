"""Budgets through the real clients: refused before sending, never overspent under concurrency,
shared across processes (SQLite, Redis), attributed, validated at decoration time."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import pytest

import costaware
from costaware import Budget, BudgetExceededError, cost_aware

from helpers import HAIKU, SONNET, anthropic_cost, run_concurrent_budget, user

QUESTION = user("What is the capital of France?")


def test_refused_call_sends_nothing(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(budget=0.000001)
    def ask() -> Any:
        return anthropic_client.messages.create(model=SONNET, max_tokens=1000, messages=QUESTION)

    with pytest.raises(BudgetExceededError) as caught:
        ask()
    assert sim.requests() == 0
    refusal = caught.value
    assert refusal.limit == Decimal("0.000001") and refusal.spent == 0 and refusal.needed > refusal.limit
    assert refusal.key == costaware.last_scope().name  # per-invocation budgets are keyed by scope name
    span = telemetry.span_named(f"chat {SONNET}")
    assert span.attributes["costaware.budget.refused"] is True
    assert span.attributes["error.type"] == "BudgetExceededError"
    assert telemetry.counter_value("costaware.budget.refusals") == 1


def test_per_invocation_budget_is_fresh_each_time(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(budget=0.01)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=500, messages=QUESTION)

    for _ in range(3):
        ask()
    assert sim.requests() == 3


def test_shared_budget_charges_exact_costs_and_refuses_when_spent(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    # Worst case of one call: (prompt estimate + 300 output tokens) at Haiku prices, about $0.0016.
    daily = Budget(limit="0.005", period="day", key="support-bot")

    @cost_aware(budget=daily)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=300, messages=QUESTION)

    spent = Decimal(0)
    with pytest.raises(BudgetExceededError):
        for _ in range(10):
            spent += anthropic_cost(HAIKU, ask().usage)
    from costaware.steps.spend import shared_ledger

    ledger = shared_ledger(daily)
    assert ledger.remaining() == Decimal("0.005") - spent
    assert spent <= Decimal("0.005")
    assert 2 <= sim.requests() < 10


def test_on_exceed_warn_sends_anyway(
    anthropic_client: Any, sim: Any, telemetry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    budget = Budget(limit="0.000001", key="warned", on_exceed="warn")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    message = ask()
    assert sim.requests() == 1
    assert any("would be exceeded" in r.getMessage() for r in caplog.records)
    from costaware.steps.spend import shared_ledger

    spent, reserved = shared_ledger(budget).usage()
    assert spent == anthropic_cost(HAIKU, message.usage) and reserved == 0  # the overspend is on the books


def test_nested_call_is_charged_to_every_enclosing_budget(anthropic_client: Any, telemetry: Any) -> None:
    outer_budget = Budget(limit=1, key="outer")
    inner_budget = Budget(limit=1, key="inner")

    @cost_aware(budget=inner_budget)
    def inner() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    @cost_aware(budget=outer_budget)
    def outer() -> Any:
        return inner()

    cost = anthropic_cost(HAIKU, outer().usage)
    from costaware.steps.spend import shared_ledger

    assert shared_ledger(outer_budget).remaining() == 1 - cost
    assert shared_ledger(inner_budget).remaining() == 1 - cost


def test_unpriced_model_under_a_budget_is_refused_clearly(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware(budget=1)
    def ask() -> Any:
        return anthropic_client.messages.create(model="mystery-model", max_tokens=50, messages=QUESTION)

    with pytest.raises(BudgetExceededError, match="no known price"):
        ask()
    assert sim.requests() == 0


def test_uncapped_openai_call_under_a_budget_gets_an_output_cap(
    openai_client: Any, sim: Any, telemetry: Any
) -> None:
    costaware.configure(budget_max_output_tokens=5)

    @cost_aware(budget=1)
    def ask() -> Any:
        return openai_client.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION)

    completion = ask()
    assert completion.choices[0].finish_reason == "length"  # the cap reached the server
    assert completion.usage.completion_tokens == 5


def test_uncapped_call_without_a_budget_is_left_alone(openai_client: Any, telemetry: Any) -> None:
    costaware.configure(budget_max_output_tokens=5)
    completion = openai_client.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION)
    assert completion.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("budget", [-1, "lots", float("nan")])
def test_bad_budget_fails_at_decoration(budget: Any) -> None:
    with pytest.raises(costaware.ConfigurationError, match="limit"):
        cost_aware(budget=budget)


def test_bad_budget_fields_fail_at_construction() -> None:
    with pytest.raises(costaware.ConfigurationError, match="period"):
        Budget(limit=1, period="fortnight")  # type: ignore[arg-type]
    with pytest.raises(costaware.ConfigurationError, match="timezone"):
        Budget(limit=1, period="day", timezone="Mars/Olympus")
    with pytest.raises(costaware.ConfigurationError):
        cost_aware(on_exceed="shout")  # type: ignore[arg-type]


def test_unreachable_redis_fails_at_decoration() -> None:
    with pytest.raises(costaware.ConfigurationError, match=r"redis://127\.0\.0\.1:1"):
        cost_aware(budget=Budget(limit=1, period="day", store="redis://127.0.0.1:1/0"))


@pytest.mark.parametrize("run", range(3))
def test_concurrent_calls_never_overspend(sim: Any, telemetry: Any, run: int) -> None:
    def factory(asynchronous: bool) -> Any:
        cls = anthropic.AsyncAnthropic if asynchronous else anthropic.Anthropic
        return cls(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)

    # One worst case is about $0.00105: a limit that fits about 50 of them.
    limit = Decimal("0.05")
    budget = Budget(limit=limit, key=f"concurrency-{run}")
    spent = run_concurrent_budget(factory, budget)
    from costaware.steps.spend import shared_ledger

    ledger = shared_ledger(budget)
    assert spent <= limit
    assert ledger.remaining() == limit - spent  # every call settled, no reservation left behind
    assert 40 <= sim.requests() <= 580
    assert spent > limit / 2  # the budget was really used, not refused wholesale


PROCESS_SCRIPT = """
import sys, json, anthropic, costaware
from decimal import Decimal
from costaware import Budget, cost_aware, BudgetExceededError
budget = Budget(limit="0.03", period="day", key="shared-across-processes", store=sys.argv[1])
client = anthropic.Anthropic(base_url=sys.argv[2], api_key="k", max_retries=0)
spent = Decimal(0)
@cost_aware(budget=budget)
def ask():
    return client.messages.create(model="claude-haiku-4-5", max_tokens=200,
                                  messages=[{"role": "user", "content": "What is the capital of France?"}])
for _ in range(40):
    try:
        u = ask().usage
        spent += (Decimal(u.input_tokens) * 1 + Decimal(u.output_tokens) * 5) / Decimal(10**6)
    except BudgetExceededError:
        pass
print(spent)
"""


def run_processes(store: str, sim: Any, count: int = 4) -> Decimal:
    env = {**os.environ}
    env.pop("PYTEST_CURRENT_TEST", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(PROCESS_SCRIPT), store, sim.anthropic_base_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    total = Decimal(0)
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
        total += Decimal(out.strip())
    return total


def test_processes_sharing_sqlite_never_overspend(sim: Any, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'spend.db'}"
    total = run_processes(store, sim)
    assert total <= Decimal("0.03")
    assert total > Decimal("0.015")
    from costaware.stores import open_store

    opened = open_store(store)
    budget = Budget(limit="0.03", period="day", key="shared-across-processes")
    spent, reserved = opened.usage(budget.key, budget.window())
    assert spent == total and reserved == 0


def test_processes_sharing_redis_never_overspend(sim: Any, redis_url: str) -> None:
    total = run_processes(redis_url, sim)
    assert total <= Decimal("0.03")
    assert total > Decimal("0.015")


def test_global_budget_applies_to_undecorated_code(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    costaware.configure(budget=Budget(limit="0.000001", key="global"))
    with pytest.raises(BudgetExceededError):
        anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)
    assert sim.requests() == 0


def test_budget_from_environment() -> None:
    from costaware.config import settings_from_env

    found = settings_from_env(
        {
            "COSTAWARE_BUDGET_LIMIT": "20",
            "COSTAWARE_BUDGET_PERIOD": "day",
            "COSTAWARE_BUDGET_KEY": "bot",
            "COSTAWARE_RETRIES": "3",
        }
    )
    assert found["budget"].limit == 20 and found["budget"].period == "day" and found["retries"] == 3
    with pytest.raises(costaware.ConfigurationError, match="COSTAWARE_BUDGET_PERIOD"):
        settings_from_env({"COSTAWARE_BUDGET_PERIOD": "day"})


def test_retry_that_no_longer_fits_is_not_made(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    from costaware.core.pricing import PriceBook
    from costaware.providers.anthropic import MESSAGES
    from costaware.sim import Fault
    from costaware.steps.spend import SpendGuard

    # A dropped connection may have been billed, so each failed attempt is charged its worst case.
    sim.add_fault(Fault(drop=True))
    kwargs = {"model": HAIKU, "max_tokens": 300, "messages": QUESTION}
    worst = SpendGuard([], PriceBook()).worst_case(MESSAGES, HAIKU, kwargs)
    assert worst is not None

    @cost_aware(budget=Budget(limit=worst * Decimal("2.5"), key="retry-fit"), retries=5)
    def ask() -> Any:
        return anthropic_client.messages.create(**kwargs)

    with costaware.retry_testing(), pytest.raises(BudgetExceededError):
        ask()
    assert sim.requests() == 2  # the third attempt no longer fitted: refused, not sent


def test_budget_metrics(anthropic_client: Any, telemetry: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    budget = Budget(limit=1, key="metered")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    cost = anthropic_cost(HAIKU, ask().usage)
    assert telemetry.counter_value(
        "costaware.budget.spend", costaware__budget__key="metered"
    ) == pytest.approx(float(cost))
    (remaining,) = [
        p
        for p in telemetry.points("costaware.budget.remaining")
        if p.attributes["costaware.budget.key"] == "metered"
    ]
    assert remaining.value == pytest.approx(float(1 - cost))


def test_budget_gauges_read_the_store_at_collection(
    anthropic_client: Any, telemetry: Any, tmp_path: Path
) -> None:
    """The remaining gauge is the budget's current state when the reader collects: spend made by
    another process (here another ledger on the same SQLite file) after our last call shows."""
    from costaware.core.budget import Charge

    store = f"sqlite:///{tmp_path / 'g.db'}"
    budget = Budget(limit=2, period="day", key="gauged", store=store)

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    cost = anthropic_cost(HAIKU, ask().usage)
    assert telemetry.budget_remaining("gauged") == pytest.approx(float(2 - cost))
    other = costaware.steps.spend.shared_ledger(Budget(limit=2, period="day", key="gauged", store=store))
    held = other.reserve(Decimal("0.5"))
    other.settle(held, Charge(budget_key="gauged", amount=Decimal("0.5")))
    assert telemetry.budget_remaining("gauged") == pytest.approx(float(Decimal("1.5") - cost))
    limits = [
        p.value
        for p in telemetry.points("costaware.budget.limit")
        if p.attributes["costaware.budget.key"] == "gauged"
    ]
    assert limits == [2.0]


def test_budget_gauge_keeps_its_last_value_while_the_store_is_down(
    anthropic_client: Any, telemetry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from helpers import start_redis_server

    server, url = start_redis_server()
    budget = Budget(limit=1, period="day", key="gauge-down", store=url)

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    try:
        cost = anthropic_cost(HAIKU, ask().usage)
        assert telemetry.budget_remaining("gauge-down") == pytest.approx(float(1 - cost))
    finally:
        server.terminate()
        server.wait(10)
    assert telemetry.budget_remaining("gauge-down") == pytest.approx(float(1 - cost))


def test_budget_status_reads_the_store(anthropic_client: Any, telemetry: Any, tmp_path: Path) -> None:
    budget = Budget(limit=2, period="day", key="status", store=f"sqlite:///{tmp_path / 's.db'}")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    cost = anthropic_cost(HAIKU, ask().usage)
    status = costaware.budget_status(budget)
    assert (status.spent, status.reserved, status.remaining) == (cost, 0, 2 - cost)
    assert status.window == budget.window() and status.limit == 2


def test_a_failing_store_never_breaks_the_call(
    anthropic_client: Any, sim: Any, telemetry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from helpers import start_redis_server

    server, url = start_redis_server()
    budget = Budget(limit=1, period="day", key="flaky", store=url)

    @cost_aware(budget=budget)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=QUESTION)

    try:
        ask()
    finally:
        server.terminate()
        server.wait(timeout=10)
    message = ask()  # the store is gone: the call still goes out (on_store_error="open") and returns
    assert message.content
    assert sim.requests() == 2
    assert any("budget store" in r.getMessage() and "failed" in r.getMessage() for r in caplog.records)
    from costaware.steps.spend import shared_ledger

    # Kept to replay: its spend, and the release of the reservation it tried to make.
    assert shared_ledger(budget).store.pending == 2  # type: ignore[attr-defined]


def test_a_refusal_of_an_uncapped_call_says_what_cap_it_assumed(
    openai_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware(budget=0.001)
    def ask(**cap: Any) -> Any:
        return openai_client.chat.completions.create(model="gpt-4.1", messages=QUESTION, **cap)

    with pytest.raises(BudgetExceededError) as refused:
        ask()
    assert "assumed 16,384 output tokens" in str(refused.value)
    assert "max_tokens" in str(refused.value)
    with pytest.raises(BudgetExceededError) as capped:
        ask(max_completion_tokens=5000)  # the caller's own cap: nothing to explain
    assert "output tokens (costaware" not in str(capped.value)
    assert sim.requests() == 0
