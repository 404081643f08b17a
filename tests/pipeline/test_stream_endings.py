"""A stream's span ends exactly once whichever way the stream ends, with the usage read so far."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from opentelemetry.trace import StatusCode

from costaware import cost_aware
from costaware.sim import Fault

from helpers import HAIKU, user

KWARGS = {
    "model": HAIKU,
    "max_tokens": 400,
    "messages": user("Write a long story about a lighthouse keeper."),
}


def ended_once(telemetry: Any) -> Any:
    """The one costaware span, checked to be ended; SimpleSpanProcessor exports a span when it ends,
    so exactly one exported span means it ended exactly once."""
    span = telemetry.span()
    assert span.end_time is not None
    assert telemetry.histogram_count("gen_ai.client.operation.duration") == 1
    return span


def test_exhausted(anthropic_client: Any, telemetry: Any) -> None:
    stream = anthropic_client.messages.create(**KWARGS, stream=True)
    for _ in stream:
        pass
    stream.close()  # a close after the end changes nothing
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "completed"


def test_close_midway_records_partial_usage(anthropic_client: Any, telemetry: Any) -> None:
    stream = anthropic_client.messages.create(**KWARGS, stream=True)
    first = next(iter(stream))
    assert first.type == "message_start"
    stream.close()

    attrs = ended_once(telemetry).attributes
    assert attrs["costaware.stream.end"] == "closed"
    assert attrs["gen_ai.usage.input_tokens"] == first.message.usage.input_tokens
    assert attrs["costaware.cost.unpriced"] is False  # input tokens from message_start are priced


def test_break_then_garbage_collected(anthropic_client: Any, telemetry: Any) -> None:
    stream = anthropic_client.messages.create(**KWARGS, stream=True)
    for event in stream:
        if event.type == "content_block_delta":
            break
    assert telemetry.our_spans() == []  # still open: the caller may resume
    del stream, event
    gc.collect()
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "abandoned"


def test_loop_over_a_temporary_stream_completes(anthropic_client: Any, telemetry: Any) -> None:
    """The loop keeps only the stream's iterator, not the stream: that must not count as abandoned."""
    events = [event.type for event in anthropic_client.messages.create(**KWARGS, stream=True)]
    gc.collect()
    assert events[-1] == "message_stop"
    attrs = ended_once(telemetry).attributes
    assert attrs["costaware.stream.end"] == "completed"
    assert attrs["gen_ai.usage.output_tokens"] > 0


def test_iterator_outliving_its_stream_keeps_the_call_open(anthropic_client: Any, telemetry: Any) -> None:
    events = iter(anthropic_client.messages.create(**KWARGS, stream=True))
    gc.collect()
    assert telemetry.our_spans() == []  # the stream object is gone, its iterator is not
    assert next(events).type == "message_start"
    for _ in events:
        pass
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "completed"


def test_stream_never_read_is_abandoned_when_collected(anthropic_client: Any, telemetry: Any) -> None:
    stream = anthropic_client.messages.create(**KWARGS, stream=True)
    assert telemetry.our_spans() == []
    del stream
    gc.collect()
    attrs = ended_once(telemetry).attributes
    assert attrs["costaware.stream.end"] == "abandoned"
    assert "gen_ai.usage.input_tokens" not in attrs  # nothing was read


def test_context_manager_exit(anthropic_client: Any, telemetry: Any) -> None:
    with anthropic_client.messages.create(**KWARGS, stream=True) as stream:
        next(iter(stream))
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "closed"


def test_helper_with_block_left_early(anthropic_client: Any, telemetry: Any) -> None:
    with anthropic_client.messages.stream(**KWARGS) as stream:
        for _text in stream.text_stream:
            break
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "closed"


def test_helper_never_entered_is_not_a_call(anthropic_client: Any, telemetry: Any, sim: Any) -> None:
    manager = anthropic_client.messages.stream(**KWARGS)
    del manager
    gc.collect()
    assert telemetry.our_spans() == []
    assert sim.requests() == 0


def test_connection_dropped_mid_stream(anthropic_client: Any, telemetry: Any, sim: Any) -> None:
    sim.add_fault(Fault(drop_mid_stream_after=3))
    stream = anthropic_client.messages.create(**KWARGS, stream=True)
    # What the SDK itself raises mid-stream: the transport's error (anthropic <= 2.16), wrapped in an
    # APIConnectionError since 2.17.
    with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)):
        for _ in stream:
            pass

    span = ended_once(telemetry)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["costaware.stream.end"] == "error"
    assert span.attributes["error.type"]
    assert span.attributes["gen_ai.usage.input_tokens"] > 0  # partial usage from message_start


async def test_async_break_then_garbage_collected(async_anthropic_client: Any, telemetry: Any) -> None:
    stream = await async_anthropic_client.messages.create(**KWARGS, stream=True)
    async for _event in stream:
        break
    await stream.close()
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "closed"


async def test_async_helper_left_early(async_anthropic_client: Any, telemetry: Any) -> None:
    async with async_anthropic_client.messages.stream(**KWARGS) as stream:
        async for _text in stream.text_stream:
            break
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "closed"


async def test_async_abandoned_without_close(async_anthropic_client: Any, telemetry: Any) -> None:
    stream = await async_anthropic_client.messages.create(**KWARGS, stream=True)
    async for _event in stream:
        break
    del stream
    gc.collect()
    assert ended_once(telemetry).attributes["costaware.stream.end"] == "abandoned"


def test_openai_stream_closed_early(openai_client: Any, telemetry: Any) -> None:
    stream = openai_client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=user("long answer please"),
        stream=True,
        stream_options={"include_usage": True},
    )
    next(iter(stream))
    stream.close()
    attrs = ended_once(telemetry).attributes
    assert attrs["costaware.stream.end"] == "closed"
    assert attrs["costaware.usage.missing"] is True  # OpenAI sends usage only at the end


def test_openai_error_status_propagates_unchanged(openai_client: Any, telemetry: Any, sim: Any) -> None:
    sim.add_fault(Fault(status=503))
    with pytest.raises(openai.InternalServerError) as caught:
        openai_client.chat.completions.create(model="gpt-4.1-mini", messages=user("hi"), stream=True)
    assert caught.value.status_code == 503
    span = ended_once(telemetry)
    assert span.attributes["error.type"] == "503"
    assert span.attributes["costaware.cost.usd"] == 0.0  # an error response is not billed


def test_an_async_stream_helper_that_never_sends_its_own_request_closes_it(
    async_anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    """The request an async helper's manager prepares at ``stream()`` time is closed, not left
    un-awaited, when that manager is never entered: a budget refusal (nothing is sent) and a budget
    downgrade (a fresh request for the cheaper model is sent instead)."""
    import asyncio
    from decimal import Decimal

    from costaware import Budget, BudgetExceededError
    from costaware.core.pricing import PriceBook
    from costaware.providers.anthropic import MESSAGES
    from costaware.steps.spend import SpendGuard

    from helpers import unawaited_requests

    sonnet = "claude-sonnet-4-6"
    kwargs = {"model": sonnet, "max_tokens": 300, "messages": user("Name three rivers.")}
    managers: list[Any] = []

    async def stream() -> Any:
        manager = async_anthropic_client.messages.stream(**kwargs)
        managers.append(manager)
        async with manager as events:
            return await events.get_final_message()

    worst_haiku = SpendGuard([], PriceBook()).worst_case(MESSAGES, HAIKU, {**kwargs, "model": HAIKU})
    refused = cost_aware(budget=Budget(limit=worst_haiku / 2, key="refused-helper"))(stream)
    downgraded = cost_aware(
        budget=Budget(limit=worst_haiku * Decimal("1.2"), key="downgraded-helper"), on_exceed="downgrade"
    )(stream)

    with pytest.raises(BudgetExceededError):
        asyncio.run(refused())
    assert sim.requests() == 0 and not unawaited_requests(managers[0])
    assert asyncio.run(downgraded()).model == HAIKU
    assert sim.requests(model=HAIKU) == 1 and sim.requests(model=sonnet) == 0
    assert not unawaited_requests(managers[1])


def test_a_call_cancelled_while_it_waits_to_retry_ends_its_span(
    async_anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    """A task cancelled during the wait before a retry (the driver's own await, not the SDK's): the
    call still ends, its span with the cancellation as its error, and the cancellation propagates."""
    import asyncio

    sim.add_fault(Fault(status=529, retry_after=5, times=1))

    @cost_aware(retries=2)
    async def ask() -> Any:
        return await async_anthropic_client.messages.create(**KWARGS)

    async def main() -> None:
        task = asyncio.create_task(ask())
        while sim.requests() < 1:  # the first attempt was refused: the call now waits 5 s
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    (span,) = telemetry.call_spans()
    assert span.attributes["error.type"] == "CancelledError"
    assert span.status.status_code is StatusCode.ERROR
    assert sim.requests() == 1
