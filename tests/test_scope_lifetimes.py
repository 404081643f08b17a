"""A scope lasts as long as the code it decorates runs: the life of a generator or async generator,
not the instant it is created; and inside OpenTelemetry's suppression context the money rules
(budgets, refusals, retries) still apply while no telemetry is emitted."""

from __future__ import annotations

import gc
import inspect
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

import costaware
from costaware import Budget, BudgetExceededError, cost_aware, retry_testing
from costaware.sim import Fault

from helpers import HAIKU, user


def _ask(client: Any, text: str = "hi") -> Any:
    return client.messages.create(model=HAIKU, max_tokens=200, messages=user(text))


# --- generators --------------------------------------------------------------------------------------


def test_a_generator_over_budget_sends_nothing(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(budget=0.000001)
    def answers(questions: list[str]) -> Iterator[str]:
        for question in questions:
            yield _ask(anthropic_client, question).content[0].text

    stream = answers(["one", "two"])
    assert inspect.isgenerator(stream)
    with pytest.raises(BudgetExceededError):
        next(stream)
    assert sim.requests() == 0


def test_a_generator_scope_spans_its_life_and_never_leaks(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    budget = Budget("0.01", key="generator-life")
    seen: list[Any] = []

    @cost_aware(budget=budget, feature="feed")
    def answers(n: int) -> Iterator[str]:
        for i in range(n):
            seen.append(costaware.current_scope())
            yield _ask(anthropic_client, f"question {i}").content[0].text
        return

    with costaware.scope("outer") as outer:
        texts = []
        for text in answers(3):
            assert costaware.current_scope() is outer  # the generator's scope is not the caller's
            texts.append(text)
    assert len(texts) == 3 and sim.requests() == 3
    inner = seen[0]
    assert seen == [inner] * 3 and inner.name.endswith("answers") and inner.parent is outer
    assert inner.tracker.calls == 3 and outer.tracker.calls == 3
    scope_span = telemetry.span_named(f"costaware.scope {inner.name}")
    assert scope_span.attributes["costaware.scope.calls"] == 3
    calls = [s for s in telemetry.our_spans() if s.name == f"chat {HAIKU}"]
    assert {s.parent.span_id for s in calls} == {scope_span.context.span_id}
    assert costaware.budget_status(budget).spent == inner.tracker.total_cost > 0


def test_a_generator_closed_early_or_collected_ends_its_scope(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware(name="feed")
    def answers() -> Iterator[str]:
        while True:
            yield _ask(anthropic_client).content[0].text

    for text in answers():
        assert text
        break  # the loop drops the generator: collected, closed
    gc.collect()
    abandoned = answers()
    next(abandoned)
    abandoned.close()
    spans = [s for s in telemetry.our_spans() if s.name == "costaware.scope feed"]
    assert [s.attributes["costaware.scope.calls"] for s in spans] == [1, 1]
    assert costaware.current_scope() is None


def test_send_and_throw_reach_the_generator_body(anthropic_client: Any, telemetry: Any) -> None:
    @cost_aware(name="echo")
    def echo() -> Iterator[Any]:
        received = yield "ready"
        try:
            yield received
        except ValueError as error:
            yield f"caught {error}"
        return

    gen = echo()
    assert next(gen) == "ready"
    assert gen.send("hello") == "hello"
    assert gen.throw(ValueError("boom")) == "caught boom"
    with pytest.raises(StopIteration):
        next(gen)


async def test_an_async_generator_over_budget_sends_nothing(
    async_anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware(budget=0.000001)
    async def answers() -> AsyncIterator[str]:
        message = await async_anthropic_client.messages.create(
            model=HAIKU, max_tokens=200, messages=user("hi")
        )
        yield message.content[0].text

    stream = answers()
    assert inspect.isasyncgen(stream)
    with pytest.raises(BudgetExceededError):
        await stream.__anext__()
    assert sim.requests() == 0


async def test_an_async_generator_scope_spans_its_life(
    async_anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    budget = Budget("0.01", key="async-generator-life")
    seen: list[Any] = []

    @cost_aware(budget=budget, name="afeed")
    async def answers(n: int) -> AsyncIterator[str]:
        for i in range(n):
            seen.append(costaware.current_scope())
            message = await async_anthropic_client.messages.create(
                model=HAIKU, max_tokens=200, messages=user(f"q{i}")
            )
            yield message.content[0].text

    texts = []
    async for text in answers(3):
        assert costaware.current_scope() is None
        texts.append(text)
    assert len(texts) == 3 and sim.requests() == 3
    assert seen == [seen[0]] * 3 and seen[0].tracker.calls == 3
    assert telemetry.span_named("costaware.scope afeed").attributes["costaware.scope.calls"] == 3
    assert costaware.budget_status(budget).spent == seen[0].tracker.total_cost

    early = answers(5)
    assert await early.__anext__()
    await early.aclose()
    spans = [s for s in telemetry.our_spans() if s.name == "costaware.scope afeed"]
    assert [s.attributes["costaware.scope.calls"] for s in spans] == [3, 1]


# --- OpenTelemetry's suppression context -------------------------------------------------------------


def test_suppression_turns_off_telemetry_not_budgets(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    budget = Budget("0.002", key="suppressed")

    @cost_aware(budget=budget)
    def ask() -> Any:
        return _ask(anthropic_client)

    with suppress_instrumentation():
        spent = Decimal(0)
        with pytest.raises(BudgetExceededError):
            for _ in range(20):
                ask()
                spent = costaware.budget_status(budget).spent
        with costaware.scope(budget=0.000001), pytest.raises(BudgetExceededError):
            _ask(anthropic_client)
    assert 1 <= sim.requests() < 20
    assert 0 < spent <= budget.limit
    assert telemetry.our_spans() == []
    assert telemetry.counter_value("costaware.budget.refusals") == 0


def test_suppression_keeps_retries(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    sim.add_fault(Fault(status=503, times=2))

    @cost_aware(retries=3)
    def ask() -> Any:
        return _ask(anthropic_client)

    with retry_testing(), suppress_instrumentation():
        assert ask().content
    assert sim.requests() == 3
    assert telemetry.our_spans() == []
