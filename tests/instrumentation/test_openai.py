"""Every patched OpenAI method, through the real client over HTTP against the simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import openai
import pytest
from opentelemetry.trace import SpanKind

from costaware.core.pricing import PriceBook
from costaware.sim import prompt_tokens

CHAT_MODEL = "gpt-4.1-mini"
EMBED_MODEL = "text-embedding-3-small"
MESSAGES = [{"role": "user", "content": "Summarise the plot of Hamlet in two lines."}]


def price_of(model: str) -> Any:
    """The bundled per-million prices of ``model`` (checked against list prices in test_pricing)."""
    price = PriceBook().lookup("openai", model)
    assert price is not None
    return price


def openai_cost(model: str, prompt: int, cached: int, completion: int) -> Decimal:
    price = price_of(model)
    cache_rate = price.cache_read if price.cache_read is not None else price.input
    return ((prompt - cached) * price.input + cached * cache_rate + completion * price.output) / Decimal(
        10**6
    )


def assert_chat_span(telemetry: Any, response_model: str, usage: Any, *, stream: bool, method: str) -> Any:
    span = telemetry.span()
    attrs = span.attributes
    assert span.name == f"chat {CHAT_MODEL}" and span.kind is SpanKind.CLIENT
    assert attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == CHAT_MODEL
    assert attrs["gen_ai.response.model"] == response_model
    assert attrs["gen_ai.request.stream"] is stream
    assert attrs["costaware.sdk.method"] == method
    prompt, completion = _counts(usage)
    cached = _cached(usage)
    assert attrs["gen_ai.usage.input_tokens"] == prompt
    assert attrs["gen_ai.usage.output_tokens"] == completion
    expected = openai_cost(CHAT_MODEL, prompt, cached, completion)
    assert Decimal(attrs["costaware.cost.usd_exact"]) == expected
    assert telemetry.counter_value("costaware.cost") == pytest.approx(float(expected), rel=1e-12)
    assert telemetry.histogram_sum("gen_ai.client.token.usage", gen_ai__token__type="input") == prompt
    assert telemetry.histogram_sum("gen_ai.client.token.usage", gen_ai__token__type="output") == completion
    return span


def _counts(usage: Any) -> tuple[int, int]:
    if hasattr(usage, "prompt_tokens"):
        return usage.prompt_tokens, usage.completion_tokens
    return usage.input_tokens, usage.output_tokens


def _cached(usage: Any) -> int:
    details = getattr(usage, "prompt_tokens_details", None) or getattr(usage, "input_tokens_details", None)
    return (details.cached_tokens or 0) if details is not None else 0


def test_chat_create(openai_client: Any, telemetry: Any) -> None:
    completion = openai_client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, max_tokens=300)
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert completion.usage.prompt_tokens == prompt_tokens(
        "openai", {"model": CHAT_MODEL, "messages": MESSAGES}
    )
    span = assert_chat_span(
        telemetry, completion.model, completion.usage, stream=False, method="openai.chat.completions.create"
    )
    assert span.attributes["gen_ai.request.max_tokens"] == 300
    assert span.attributes["gen_ai.response.finish_reasons"] == ("stop",)


async def test_async_chat_create(async_openai_client: Any, telemetry: Any) -> None:
    completion = await async_openai_client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES)
    assert_chat_span(
        telemetry, completion.model, completion.usage, stream=False, method="openai.chat.completions.create"
    )


def test_chat_stream_with_usage(openai_client: Any, telemetry: Any) -> None:
    stream = openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert isinstance(stream, openai.Stream)
    chunks = list(stream)
    usage = chunks[-1].usage
    assert usage is not None and chunks[-1].choices == []
    span = assert_chat_span(
        telemetry, chunks[0].model, usage, stream=True, method="openai.chat.completions.create"
    )
    assert span.attributes["costaware.stream.end"] == "completed"


def test_chat_stream_without_usage_is_unpriced_not_zero(openai_client: Any, telemetry: Any) -> None:
    stream = openai_client.chat.completions.create(model=CHAT_MODEL, messages=MESSAGES, stream=True)
    list(stream)
    attrs = telemetry.span().attributes
    assert attrs["costaware.usage.missing"] is True
    assert attrs["costaware.cost.unpriced"] is True
    assert "costaware.cost.usd" not in attrs
    assert telemetry.counter_value("costaware.cost") == 0


async def test_async_chat_stream(async_openai_client: Any, telemetry: Any) -> None:
    stream = await async_openai_client.chat.completions.create(
        model=CHAT_MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert_chat_span(
        telemetry, chunks[0].model, chunks[-1].usage, stream=True, method="openai.chat.completions.create"
    )


def test_chat_stream_helper_is_one_span(openai_client: Any, telemetry: Any) -> None:
    with openai_client.chat.completions.stream(
        model=CHAT_MODEL, messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        final = stream.get_final_completion()
    assert_chat_span(
        telemetry, final.model, final.usage, stream=True, method="openai.chat.completions.stream"
    )


async def test_async_chat_stream_helper(async_openai_client: Any, telemetry: Any) -> None:
    async with async_openai_client.chat.completions.stream(
        model=CHAT_MODEL, messages=MESSAGES, stream_options={"include_usage": True}
    ) as stream:
        final = await stream.get_final_completion()
    assert_chat_span(
        telemetry, final.model, final.usage, stream=True, method="openai.chat.completions.stream"
    )


def test_chat_parse(openai_client: Any, telemetry: Any) -> None:
    completion = openai_client.chat.completions.parse(model=CHAT_MODEL, messages=MESSAGES)
    assert_chat_span(
        telemetry, completion.model, completion.usage, stream=False, method="openai.chat.completions.parse"
    )


def test_chat_with_raw_response(openai_client: Any, telemetry: Any) -> None:
    raw = openai_client.chat.completions.with_raw_response.create(model=CHAT_MODEL, messages=MESSAGES)
    assert type(raw) is openai._legacy_response.LegacyAPIResponse  # the SDK's own object
    completion = raw.parse()
    assert isinstance(completion, openai.types.chat.ChatCompletion)
    assert_chat_span(
        telemetry, completion.model, completion.usage, stream=False, method="openai.chat.completions.create"
    )


async def test_async_chat_with_streaming_response(async_openai_client: Any, telemetry: Any) -> None:
    async with async_openai_client.chat.completions.with_streaming_response.create(
        model=CHAT_MODEL, messages=MESSAGES
    ) as response:
        completion = await response.parse()
    assert_chat_span(
        telemetry, completion.model, completion.usage, stream=False, method="openai.chat.completions.create"
    )


def test_responses_create(openai_client: Any, telemetry: Any) -> None:
    response = openai_client.responses.create(model=CHAT_MODEL, input="What is 2 + 2?", max_output_tokens=100)
    assert response.output_text
    span = assert_chat_span(
        telemetry, response.model, response.usage, stream=False, method="openai.responses.create"
    )
    assert span.attributes["gen_ai.request.max_tokens"] == 100


async def test_async_responses_create_stream(async_openai_client: Any, telemetry: Any) -> None:
    stream = await async_openai_client.responses.create(model=CHAT_MODEL, input="Stream it", stream=True)
    events = [event async for event in stream]
    final = events[-1].response
    assert_chat_span(telemetry, final.model, final.usage, stream=True, method="openai.responses.create")


def test_responses_stream_helper(openai_client: Any, telemetry: Any) -> None:
    with openai_client.responses.stream(model=CHAT_MODEL, input="Helper stream") as stream:
        final = stream.get_final_response()
    span = assert_chat_span(
        telemetry, final.model, final.usage, stream=True, method="openai.responses.stream"
    )
    assert span.attributes["costaware.stream.end"] == "completed"


async def test_async_responses_stream_helper(async_openai_client: Any, telemetry: Any) -> None:
    async with async_openai_client.responses.stream(model=CHAT_MODEL, input="Async helper") as stream:
        final = await stream.get_final_response()
    assert_chat_span(telemetry, final.model, final.usage, stream=True, method="openai.responses.stream")


def test_responses_stream_helper_left_early_ends_span_on_exit(openai_client: Any, telemetry: Any) -> None:
    with openai_client.responses.stream(model=CHAT_MODEL, input="Leave early") as stream:
        for _event in stream:
            break
    span = telemetry.span()
    assert span.end_time is not None
    assert span.attributes["costaware.stream.end"] == "closed"


def test_embeddings(openai_client: Any, telemetry: Any) -> None:
    result = openai_client.embeddings.create(model=EMBED_MODEL, input=["alpha", "beta gamma"])
    span = telemetry.span()
    assert span.name == f"embeddings {EMBED_MODEL}"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens
    expected = result.usage.prompt_tokens * price_of(EMBED_MODEL).input / Decimal(10**6)
    assert Decimal(span.attributes["costaware.cost.usd_exact"]) == expected
    assert telemetry.histogram_count("gen_ai.client.token.usage", gen_ai__token__type="output") == 0


async def test_async_embeddings(async_openai_client: Any, telemetry: Any) -> None:
    result = await async_openai_client.embeddings.create(model=EMBED_MODEL, input="alpha")
    assert telemetry.span().attributes["gen_ai.usage.input_tokens"] == result.usage.prompt_tokens


def test_cached_prompt_tokens_priced_at_cached_rate(openai_client: Any, telemetry: Any) -> None:
    messages = [{"role": "system", "content": "Shared instructions. " * 400}, *MESSAGES]
    openai_client.chat.completions.create(model=CHAT_MODEL, messages=messages)
    second = openai_client.chat.completions.create(model=CHAT_MODEL, messages=messages)
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= 1024
    span = telemetry.our_spans()[-1]
    assert span.attributes["gen_ai.usage.cache_read.input_tokens"] == cached
    expected = openai_cost(CHAT_MODEL, second.usage.prompt_tokens, cached, second.usage.completion_tokens)
    assert Decimal(span.attributes["costaware.cost.usd_exact"]) == expected
