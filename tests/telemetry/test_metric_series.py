"""Metric series stay bounded and count what they say: a per-invocation budget adds no series per
invocation, its refusals accumulate in one series, refused calls (never sent) are neither calls
nor errors, and the response cache adds a series per lookup result and per paraphrase check, not per
question."""

from __future__ import annotations

from typing import Any

import pytest

from costaware import BudgetExceededError, ResponseCache, cost_aware

from helpers import HAIKU, user

BUDGET_METRICS = ("costaware.budget.remaining", "costaware.budget.spend", "costaware.budget.refusals")


def test_per_invocation_budgets_add_no_series(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(budget=0.01)
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"))

    @cost_aware(budget=0.000001)
    def refused() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"))

    for _ in range(130):
        ask()
        with pytest.raises(BudgetExceededError):
            refused()

    keys = {
        point.attributes["costaware.budget.key"]
        for name in BUDGET_METRICS
        for point in telemetry.points(name)
    }
    assert keys == {ask.__qualname__, refused.__qualname__}  # scope names: bounded
    for name in BUDGET_METRICS:
        assert len(telemetry.points(name)) <= 2, name
    # One series that keeps counting: increase() over it sees every refusal.
    (series,) = telemetry.points("costaware.budget.refusals")
    assert series.value == 130
    assert telemetry.counter_value("costaware.budget.spend") > 0


def test_refused_calls_are_not_calls_nor_errors(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(budget=0.000001)
    def refused() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"))

    anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("sent"))
    for _ in range(3):
        with pytest.raises(BudgetExceededError):
            refused()

    assert sim.requests() == 1
    assert telemetry.counter_value("costaware.calls") == 1
    assert telemetry.histogram_count("gen_ai.client.operation.duration") == 1
    errors = [p for p in telemetry.points("gen_ai.client.operation.duration") if "error.type" in p.attributes]
    assert errors == []
    assert telemetry.counter_value("costaware.budget.refusals") == 3
    refused_spans = [s for s in telemetry.our_spans() if s.attributes.get("costaware.budget.refused")]
    assert len(refused_spans) == 3  # each refusal still has its span, with error.type
    assert all(s.attributes["error.type"] == "BudgetExceededError" for s in refused_spans)


def test_response_cache_series_are_per_result_and_check_not_per_question(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware(cache=ResponseCache(semantic=True, max_entries=5))
    def ask(question: str) -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user(question))

    for days in range(10, 130, 10):  # twelve lookalikes, each asked twice
        ask(f"Can I get a refund after {days} days?")
        ask(f"Can I get a refund after {days} days?")

    lookups = telemetry.points("costaware.response_cache.lookups")
    counts = {p.attributes["costaware.response_cache.result"]: p.value for p in lookups}
    assert counts == {"miss": 12, "exact_hit": 12}
    # Each new number is turned down by the same check: labelled by its name, not the numbers compared.
    (rejections,) = telemetry.points("costaware.response_cache.rejections")
    assert rejections.attributes["costaware.response_cache.check"] == "numbers differ"
    assert rejections.value >= 11
    (evictions,) = telemetry.points("costaware.response_cache.evictions")
    assert evictions.value == 12 - 5
