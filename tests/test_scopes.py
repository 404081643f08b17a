"""``@cost_aware`` and ``costaware.scope()``: grouping, nesting, isolation, traces, accessors."""

from __future__ import annotations

import asyncio
import inspect
import threading
from dataclasses import FrozenInstanceError
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry.trace import SpanKind

import costaware
from costaware import cost_aware

from helpers import HAIKU, anthropic_cost, user


def test_decorator_keeps_signature_docstring_and_kind() -> None:
    def plain(doc: str, *, words: int = 50) -> str:
        """Summarise a document."""
        return doc[:words]

    summarize = cost_aware(budget=1)(plain)

    @cost_aware
    async def asummarize(doc: str) -> str:
        return doc

    assert summarize.__name__ == "plain"
    assert summarize.__doc__ == "Summarise a document."
    assert inspect.signature(summarize) == inspect.signature(plain)
    assert inspect.iscoroutinefunction(asummarize)
    assert summarize("abcdef", words=3) == "abc"


def test_methods_stay_methods(anthropic_client: Any, telemetry: Any) -> None:
    class Bot:
        def __init__(self, client: Any) -> None:
            self.client = client

        @cost_aware(feature="bot")
        def ask(self, question: str) -> str:
            return (
                self.client.messages.create(model=HAIKU, max_tokens=30, messages=user(question))
                .content[0]
                .text
            )

    assert Bot(anthropic_client).ask("hello")
    assert costaware.last_scope().spec.feature == "bot"


def test_scope_records_calls_and_is_the_parent_span(anthropic_client: Any, telemetry: Any) -> None:
    @cost_aware(feature="summarize", tenant="acme")
    def summarize() -> list[Any]:
        inside = costaware.current_scope()
        assert inside is not None and inside.name.endswith("summarize")
        return [
            anthropic_client.messages.create(model=HAIKU, max_tokens=40, messages=user(q)) for q in ("a", "b")
        ]

    messages = summarize()
    scope = costaware.last_scope()
    assert scope is not None and costaware.current_scope() is None
    tracker = scope.tracker
    assert tracker.calls == 2
    assert tracker.total_cost == sum(anthropic_cost(HAIKU, m.usage) for m in messages)
    assert tracker.records[0].feature == "summarize" and tracker.records[0].tenant == "acme"
    with pytest.raises(FrozenInstanceError):
        tracker.records = ()  # type: ignore[misc]

    spans = telemetry.our_spans()
    (scope_span,) = [s for s in spans if s.kind is SpanKind.INTERNAL]
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    assert scope_span.name.startswith("costaware.scope ")
    assert all(c.parent.span_id == scope_span.context.span_id for c in calls)
    assert Decimal(scope_span.attributes["costaware.scope.cost.usd_exact"]) == tracker.total_cost
    assert scope_span.attributes["costaware.scope.calls"] == 2
    assert scope_span.attributes["gen_ai.usage.output_tokens"] == sum(m.usage.output_tokens for m in messages)


def test_tracker_add_returns_a_new_tracker() -> None:
    from costaware.core.types import Cost, CostRecord, CostTracker

    empty = CostTracker()
    one = empty.add(
        CostRecord(provider="anthropic", model=HAIKU, usage=None, cost=Cost(total=Decimal("0.5")))
    )
    assert empty.calls == 0 and one.calls == 1 and one.total_cost == Decimal("0.5")


def test_scopes_nest_and_outer_sees_inner_calls(anthropic_client: Any, telemetry: Any) -> None:
    @cost_aware(name="inner")
    def inner() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("inner"))

    with costaware.scope("outer") as outer:
        anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("outer"))
        inner()
        inner_scope = costaware.last_scope()
        assert inner_scope.parent is outer
    assert outer.tracker.calls == 2
    assert inner_scope.tracker.calls == 1


async def test_concurrent_tasks_never_see_each_others_scope(
    async_anthropic_client: Any, telemetry: Any
) -> None:
    seen: dict[str, str] = {}

    @cost_aware
    async def job(label: str) -> None:
        await asyncio.sleep(0)
        await async_anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user(label))
        seen[label] = costaware.current_scope().id

    @cost_aware
    async def run(label: str) -> Any:
        await job(label)
        return costaware.current_scope()

    scopes = await asyncio.gather(*(run(str(i)) for i in range(20)))
    assert len({s.id for s in scopes}) == 20
    assert all(s.tracker.calls == 1 for s in scopes)
    assert len(set(seen.values())) == 20


def test_threads_never_see_each_others_scope(anthropic_client: Any, telemetry: Any) -> None:
    results: dict[int, int] = {}

    @cost_aware
    def work(i: int) -> None:
        for _ in range(i % 3 + 1):
            anthropic_client.messages.create(model=HAIKU, max_tokens=10, messages=user(str(i)))
        results[i] = costaware.current_scope().tracker.calls

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: i % 3 + 1 for i in range(8)}


async def test_last_scope_after_await(async_anthropic_client: Any, telemetry: Any) -> None:
    @cost_aware(budget=0.5)
    async def ask() -> str:
        m = await async_anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("q"))
        return m.content[0].text

    await ask()
    assert costaware.last_scope().tracker.calls == 1


def test_a_scope_has_one_id_when_threads_ask_for_it_first_together() -> None:
    """The id is made on first read; threads racing to read it first all get the same one."""
    import sys
    import threading

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: widen any race
    try:
        for _ in range(50):
            with costaware.scope("shared") as scope:
                start = threading.Barrier(8)
                ids: list[str] = []

                def read(scope: Any = scope, start: threading.Barrier = start, ids: list[str] = ids) -> None:
                    start.wait()
                    ids.append(scope.id)

                threads = [threading.Thread(target=read) for _ in range(8)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                assert len(set(ids)) == 1 and len(ids) == 8
    finally:
        sys.setswitchinterval(interval)


def test_a_scope_span_records_an_exception_that_leaves_it(anthropic_client: Any, telemetry: Any) -> None:
    """As ``start_as_current_span`` would: an ``Exception`` leaving the scope is an exception event and
    an ERROR status on its span; a normal end, and a generator closed early, leave the status unset."""
    from opentelemetry.trace import StatusCode

    @cost_aware
    def fails() -> None:
        anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))
        raise ValueError("bad input")

    @cost_aware
    def works() -> None:
        anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    @cost_aware
    def feed() -> Any:
        yield 1
        yield 2

    with pytest.raises(ValueError, match="bad input"):
        fails()
    works()
    stream = feed()
    next(stream)
    stream.close()  # GeneratorExit leaves the scope: not an error

    failed = telemetry.span_named(f"costaware.scope {fails.__qualname__}")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ValueError: bad input"
    (event,) = failed.events
    assert event.name == "exception" and event.attributes["exception.type"] == "ValueError"
    assert failed.attributes["costaware.scope.calls"] == 1
    for name in (works.__qualname__, feed.__qualname__):
        span = telemetry.span_named(f"costaware.scope {name}")
        assert span.status.status_code is StatusCode.UNSET and not span.events


@pytest.mark.parametrize(
    "make",
    [lambda: cost_aware(budgt=1), lambda: costaware.scope("batch", budgt=1)],
    ids=["decorator", "scope"],
)
def test_a_misspelled_option_is_a_configuration_error_naming_the_right_one(make: Any) -> None:
    with pytest.raises(
        costaware.ConfigurationError, match=r"unknown option 'budgt' \(did you mean 'budget'\?\)"
    ):
        make()


def test_a_response_cache_mapping_with_a_misspelled_argument_is_a_configuration_error() -> None:
    with pytest.raises(costaware.ConfigurationError, match=r"response_cache: .*'semantc'"):
        costaware.configure(response_cache={"semantc": True})
