"""Every patched Anthropic method, through the real client over HTTP against the simulator."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from costaware.sim import prompt_tokens

from helpers import HAIKU, SONNET, anthropic_cost, total_input, user


def assert_call_span(
    telemetry: Any,
    message: Any,
    model: str,
    *,
    stream: bool,
    max_tokens: int = 200,
    response_id: str | None = None,
) -> Any:
    """Check the one span against ``message`` (whose usage the streamed call must equal)."""
    span = telemetry.span()
    attrs = span.attributes
    assert span.name == f"chat {model}"
    assert span.kind is SpanKind.CLIENT
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "anthropic"
    assert attrs["gen_ai.request.model"] == model
    assert attrs["gen_ai.response.model"] == message.model
    assert attrs["gen_ai.response.id"] == (response_id or message.id)
    assert attrs["gen_ai.request.max_tokens"] == max_tokens
    assert attrs["gen_ai.request.stream"] is stream
    assert attrs["gen_ai.response.finish_reasons"] == (message.stop_reason,)
    assert attrs["gen_ai.usage.input_tokens"] == total_input(message.usage)
    assert attrs["gen_ai.usage.output_tokens"] == message.usage.output_tokens
    assert attrs["server.address"] == "127.0.0.1"
    assert isinstance(attrs["server.port"], int)
    expected = anthropic_cost(model, message.usage)
    assert Decimal(attrs["costaware.cost.usd_exact"]) == expected
    assert attrs["costaware.cost.usd"] == float(expected)
    assert attrs["costaware.cost.unpriced"] is False
    assert attrs["costaware.cost.source"] == "genai-prices"
    assert span.status.status_code is not StatusCode.ERROR
    return span


def assert_metrics(telemetry: Any, message: Any, model: str) -> None:
    assert telemetry.histogram_sum("gen_ai.client.token.usage", gen_ai__token__type="input") == total_input(
        message.usage
    )
    assert telemetry.histogram_sum("gen_ai.client.token.usage", gen_ai__token__type="output") == (
        message.usage.output_tokens
    )
    assert telemetry.histogram_count("gen_ai.client.operation.duration", gen_ai__request__model=model) == 1
    cost = telemetry.counter_value("costaware.cost", costaware__model=message.model)
    assert cost == pytest.approx(float(anthropic_cost(model, message.usage)), rel=1e-12)


def test_create_records_span_tokens_and_exact_cost(anthropic_client: Any, telemetry: Any) -> None:
    kwargs = {"model": HAIKU, "max_tokens": 200, "messages": user("What is the capital of France?")}
    message = anthropic_client.messages.create(**kwargs)

    assert isinstance(message, anthropic.types.Message)
    assert message.usage.input_tokens == prompt_tokens("anthropic", kwargs)
    assert_call_span(telemetry, message, HAIKU, stream=False)
    assert_metrics(telemetry, message, HAIKU)


async def test_async_create(async_anthropic_client: Any, telemetry: Any) -> None:
    message = await async_anthropic_client.messages.create(
        model=SONNET, max_tokens=200, messages=user("Explain recursion briefly.")
    )
    assert isinstance(message, anthropic.types.Message)
    assert_call_span(telemetry, message, SONNET, stream=False)
    assert_metrics(telemetry, message, SONNET)


def test_create_stream_true_counts_cumulative_usage_once(anthropic_client: Any, telemetry: Any) -> None:
    kwargs = {"model": HAIKU, "max_tokens": 200, "messages": user("Stream me a poem about the sea.")}
    reference = anthropic_client.messages.create(**kwargs)
    telemetry.exporter.clear()

    stream = anthropic_client.messages.create(**kwargs, stream=True)
    assert isinstance(stream, anthropic.Stream)  # the proxy keeps the SDK's type
    events = list(stream)

    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    span = assert_call_span(telemetry, reference, HAIKU, stream=True, response_id=events[0].message.id)
    assert span.attributes["costaware.stream.end"] == "completed"
    assert span.attributes["costaware.time_to_first_chunk_s"] > 0
    assert telemetry.histogram_count("gen_ai.client.operation.time_to_first_chunk") == 1


async def test_async_create_stream_true(async_anthropic_client: Any, telemetry: Any) -> None:
    kwargs = {"model": HAIKU, "max_tokens": 200, "messages": user("An async stream, please.")}
    reference = await async_anthropic_client.messages.create(**kwargs)
    telemetry.exporter.clear()

    stream = await async_anthropic_client.messages.create(**kwargs, stream=True)
    assert isinstance(stream, anthropic.AsyncStream)
    events = [event async for event in stream]

    assert events[-1].type == "message_stop"
    assert_call_span(telemetry, reference, HAIKU, stream=True, response_id=events[0].message.id)


def test_stream_helper_text_stream_and_final_message(anthropic_client: Any, telemetry: Any) -> None:
    with anthropic_client.messages.stream(
        model=HAIKU, max_tokens=200, messages=user("Tell me about stream helpers.")
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == final.content[0].text
    span = assert_call_span(telemetry, final, HAIKU, stream=True)
    assert span.attributes["costaware.sdk.method"] == "anthropic.messages.stream"
    assert_metrics(telemetry, final, HAIKU)


def test_stream_helper_get_final_message_without_iterating(anthropic_client: Any, telemetry: Any) -> None:
    with anthropic_client.messages.stream(
        model=SONNET, max_tokens=200, messages=user("Just the result.")
    ) as s:
        final = s.get_final_message()
    assert_call_span(telemetry, final, SONNET, stream=True)


async def test_async_stream_helper(async_anthropic_client: Any, telemetry: Any) -> None:
    async with async_anthropic_client.messages.stream(
        model=HAIKU, max_tokens=200, messages=user("Async helper.")
    ) as stream:
        chunks = [text async for text in stream.text_stream]
        final = await stream.get_final_message()

    assert "".join(chunks) == final.content[0].text
    assert_call_span(telemetry, final, HAIKU, stream=True)


async def test_async_stream_helper_until_done(async_anthropic_client: Any, telemetry: Any) -> None:
    async with async_anthropic_client.messages.stream(model=HAIKU, max_tokens=200, messages=user("u")) as s:
        await s.until_done()
        final = await s.get_final_message()
    assert_call_span(telemetry, final, HAIKU, stream=True)


def test_with_raw_response(anthropic_client: Any, telemetry: Any) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model=HAIKU, max_tokens=200, messages=user("raw please")
    )
    assert raw.headers.get("request-id")
    # The SDK's own object, not a proxy: its type, copies and pickling behave as without costaware.
    assert type(raw) is anthropic._response.APIResponse
    assert type(copy.copy(raw)) is anthropic._response.APIResponse
    assert telemetry.span().attributes["gen_ai.usage.output_tokens"] > 0  # recorded before any parse()
    message = raw.parse()
    assert isinstance(message, anthropic.types.Message)
    assert raw.parse() is message
    assert_call_span(telemetry, message, HAIKU, stream=False)


async def test_async_with_raw_response(async_anthropic_client: Any, telemetry: Any) -> None:
    raw = await async_anthropic_client.messages.with_raw_response.create(
        model=HAIKU, max_tokens=200, messages=user("raw async")
    )
    assert type(raw) is anthropic._response.AsyncAPIResponse
    message = await raw.parse()
    assert isinstance(message, anthropic.types.Message)
    assert_call_span(telemetry, message, HAIKU, stream=False)


def test_with_streaming_response_of_a_stream(anthropic_client: Any, telemetry: Any) -> None:
    kwargs = {"model": HAIKU, "max_tokens": 200, "messages": user("streaming response")}
    reference = anthropic_client.messages.create(**kwargs)
    telemetry.exporter.clear()

    with anthropic_client.messages.with_streaming_response.create(**kwargs, stream=True) as response:
        events = list(response.parse())

    assert events[-1].type == "message_stop"
    assert_call_span(telemetry, reference, HAIKU, stream=True, response_id=events[0].message.id)


def test_with_streaming_response_non_stream(anthropic_client: Any, telemetry: Any) -> None:
    with anthropic_client.messages.with_streaming_response.create(
        model=HAIKU, max_tokens=200, messages=user("streaming response, parsed whole")
    ) as response:
        message = response.parse()
    assert_call_span(telemetry, message, HAIKU, stream=False)


def test_parse_with_output_format(anthropic_client: Any, telemetry: Any) -> None:
    message = anthropic_client.messages.parse(model=HAIKU, max_tokens=200, messages=user("parse me"))
    assert_call_span(telemetry, message, HAIKU, stream=False)
    assert telemetry.span().attributes["costaware.sdk.method"] == "anthropic.messages.parse"


def test_beta_messages_create(anthropic_client: Any, telemetry: Any) -> None:
    message = anthropic_client.beta.messages.create(model=HAIKU, max_tokens=200, messages=user("beta"))
    assert_call_span(telemetry, message, HAIKU, stream=False)
    assert telemetry.span().attributes["costaware.sdk.method"] == "anthropic.beta.messages.create"


def test_beta_stream_helper(anthropic_client: Any, telemetry: Any) -> None:
    with anthropic_client.beta.messages.stream(model=HAIKU, max_tokens=200, messages=user("beta s")) as s:
        final = s.get_final_message()
    assert_call_span(telemetry, final, HAIKU, stream=True)


def test_cache_write_then_read_is_priced_per_kind(anthropic_client: Any, telemetry: Any) -> None:
    system = [
        {"type": "text", "text": "You are a support agent. " * 800, "cache_control": {"type": "ephemeral"}}
    ]
    kwargs = {"model": SONNET, "max_tokens": 100, "system": system, "messages": user("Where is my order?")}
    first = anthropic_client.messages.create(**kwargs)
    second = anthropic_client.messages.create(**kwargs)

    assert first.usage.cache_creation_input_tokens > 0 and second.usage.cache_read_input_tokens > 0
    write_span, read_span = telemetry.our_spans()
    assert (
        write_span.attributes["gen_ai.usage.cache_creation.input_tokens"]
        == first.usage.cache_creation_input_tokens
    )
    assert (
        read_span.attributes["gen_ai.usage.cache_read.input_tokens"] == second.usage.cache_read_input_tokens
    )
    assert read_span.attributes["gen_ai.usage.input_tokens"] == total_input(second.usage)
    assert Decimal(write_span.attributes["costaware.cost.usd_exact"]) == anthropic_cost(SONNET, first.usage)
    assert Decimal(read_span.attributes["costaware.cost.usd_exact"]) == anthropic_cost(SONNET, second.usage)
    assert Decimal(read_span.attributes["costaware.cost.usd_exact"]) < Decimal(
        write_span.attributes["costaware.cost.usd_exact"]
    )


def test_one_hour_cache_write_priced_at_twice_input(anthropic_client: Any, telemetry: Any) -> None:
    system = [
        {
            "type": "text",
            "text": "Policy manual. " * 1200,
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    message = anthropic_client.messages.create(model=SONNET, max_tokens=50, system=system, messages=user("q"))
    assert message.usage.cache_creation.ephemeral_1h_input_tokens > 0
    span = telemetry.span()
    assert span.attributes["costaware.usage.cache_creation_1h.input_tokens"] == (
        message.usage.cache_creation.ephemeral_1h_input_tokens
    )
    assert Decimal(span.attributes["costaware.cost.usd_exact"]) == anthropic_cost(SONNET, message.usage)
