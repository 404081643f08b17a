"""A stream's span ends exactly once whichever way the stream ends, with the usage read so far."""

from __future__ import annotations

import gc
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from opentelemetry.trace import StatusCode

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
