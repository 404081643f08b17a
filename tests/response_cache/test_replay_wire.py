"""Replayed answers come back through the real SDKs as the objects a real call gives.

Each answer is taken from a real call to the simulator over loopback HTTP (text answers), or written
as the API sends it (tool calls, thinking, structured output: the simulator answers only text). It is
stored with ``final_of`` (or rebuilt from the stream by ``new_final_accumulator``), rendered with
``replay_body`` and served to an SDK client through ``httpx2.MockTransport``, the SDKs' supported
``http_client`` option and the way costaware replays a hit.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

import anthropic
import httpx2
import openai
import pydantic
import pytest

from costaware.providers.anthropic import MESSAGES
from costaware.providers.base import Endpoint
from costaware.providers.openai import CHAT, RESPONSES
from costaware.providers.replay import zero_counts
from costaware.sim import Simulator

ANTHROPIC_KWARGS: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 400,
    "system": "Answer briefly.",
    "messages": [{"role": "user", "content": "What does a response cache save?"}],
}
CHAT_KWARGS: dict[str, Any] = {
    "model": "gpt-4.1-mini",
    "messages": [{"role": "user", "content": "What does a response cache save?"}],
}
RESPONSES_KWARGS: dict[str, Any] = {"model": "gpt-4.1-mini", "input": "What does a response cache save?"}


# -- helpers ---------------------------------------------------------------------------------------


def handler_for(endpoint: Endpoint, final: Mapping[str, Any]) -> Any:
    """An HTTP handler that answers every request with ``final``, streamed when the request asks."""

    def handle(request: httpx2.Request) -> httpx2.Response:
        sent = json.loads(request.content or b"{}")
        assert endpoint.replay is not None
        content_type, body = endpoint.replay.replay_body(final, sent.get("stream") is True, sent)
        return httpx2.Response(200, headers={"content-type": content_type}, content=body)

    return handle


def replay_client(sdk_class: type, endpoint: Endpoint, final: Mapping[str, Any]) -> Any:
    """An SDK client (sync or async, by class) whose every answer is ``final`` replayed."""
    transport = httpx2.MockTransport(handler_for(endpoint, final))
    is_async = sdk_class.__name__.startswith("Async")
    http = httpx2.AsyncClient(transport=transport) if is_async else httpx2.Client(transport=transport)
    return sdk_class(api_key="test-key", base_url="http://replay.invalid/v1", http_client=http, max_retries=0)


def zeroed(final: Mapping[str, Any]) -> dict[str, Any]:
    """``final`` as a replay shows it: the same answer, no tokens billed."""
    out = copy.deepcopy(dict(final))
    if out.get("usage") is not None:
        out["usage"] = zero_counts(out["usage"])
    return out


def accumulate(endpoint: Endpoint, events: Iterable[Any]) -> dict[str, Any] | None:
    assert endpoint.replay is not None
    accumulator = endpoint.replay.new_final_accumulator()
    for event in events:
        accumulator.add(event)
    return accumulator.final()


def final_of(endpoint: Endpoint, value: Any) -> dict[str, Any]:
    assert endpoint.replay is not None
    final = endpoint.replay.final_of(value)
    assert final is not None
    return final


def without(final: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in final.items() if key not in keys}


def no_nones(value: Any) -> Any:
    """``value`` without ``None`` fields: the stream helpers set fields the wire left out to ``None``."""
    if isinstance(value, dict):
        return {key: no_nones(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [no_nones(item) for item in value]
    return value


def same_answer(model: Any, final: Mapping[str, Any]) -> bool:
    return no_nones(model.to_dict()) == no_nones(zeroed(final))


def types_of(events: Iterable[Any]) -> list[str]:
    """Event types with runs of the same type folded into one."""
    kinds: list[str] = []
    for event in events:
        if not kinds or kinds[-1] != event.type:
            kinds.append(event.type)
    return kinds


@pytest.fixture
def real_anthropic(sim: Simulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def real_openai(sim: Simulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.openai_base_url, api_key="test-key", max_retries=0)


# -- Anthropic messages ----------------------------------------------------------------------------

THINKING_TOOL_MESSAGE: dict[str, Any] = {
    "id": "msg_01ThinkTool",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {
            "type": "thinking",
            "thinking": "The user wants the weather in Paris, so I should call the weather tool with it.",
            "signature": "EqQBCkgIARABGAIiQL2sig",
        },
        {"type": "text", "text": "Let me look up the weather in Paris for you."},
        {
            "type": "tool_use",
            "id": "toolu_01Weather",
            "name": "get_weather",
            "input": {"city": "Paris", "unit": "celsius", "days": [1, 2, 3]},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 412,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 2048,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 96,
        "service_tier": "standard",
    },
}
ANTHROPIC_EVENT_ORDER = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
]


def test_anthropic_stream_accumulates_to_the_non_streamed_message(
    real_anthropic: anthropic.Anthropic,
) -> None:
    final = final_of(MESSAGES, real_anthropic.messages.create(**ANTHROPIC_KWARGS))
    streamed = accumulate(MESSAGES, real_anthropic.messages.create(**ANTHROPIC_KWARGS, stream=True))
    assert streamed is not None
    assert without(streamed, "id") == without(final, "id")  # each simulated call has a new id


def test_anthropic_cut_stream_gives_no_final(real_anthropic: anthropic.Anthropic) -> None:
    events = list(real_anthropic.messages.create(**ANTHROPIC_KWARGS, stream=True))
    assert accumulate(MESSAGES, events[:-1]) is None


def test_anthropic_replayed_message_equals_the_original_with_zero_usage(
    real_anthropic: anthropic.Anthropic,
) -> None:
    original = real_anthropic.messages.create(**ANTHROPIC_KWARGS)
    final = final_of(MESSAGES, original)
    replayed = replay_client(anthropic.Anthropic, MESSAGES, final).messages.create(**ANTHROPIC_KWARGS)
    assert type(replayed) is type(original)
    assert replayed.to_dict() == zeroed(final)
    assert replayed.usage.input_tokens == replayed.usage.output_tokens == 0
    assert replayed.usage.cache_read_input_tokens == replayed.usage.cache_creation_input_tokens == 0


def test_anthropic_replayed_stream_has_every_event_in_order(real_anthropic: anthropic.Anthropic) -> None:
    final = final_of(MESSAGES, real_anthropic.messages.create(**ANTHROPIC_KWARGS))
    client = replay_client(anthropic.Anthropic, MESSAGES, final)
    events = list(client.messages.create(**ANTHROPIC_KWARGS, stream=True))
    assert types_of(events) == ANTHROPIC_EVENT_ORDER
    assert sum(e.type == "content_block_delta" for e in events) > 1  # a real stream, not one blob
    assert accumulate(MESSAGES, events) == zeroed(final)


def test_anthropic_stream_helper_gives_back_the_message(real_anthropic: anthropic.Anthropic) -> None:
    final = final_of(MESSAGES, real_anthropic.messages.create(**ANTHROPIC_KWARGS))
    client = replay_client(anthropic.Anthropic, MESSAGES, final)
    with client.messages.stream(**ANTHROPIC_KWARGS) as stream:
        text = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert text == final["content"][0]["text"]
    assert same_answer(message, final)


def test_anthropic_thinking_and_tool_use_replay_non_streamed() -> None:
    client = replay_client(anthropic.Anthropic, MESSAGES, THINKING_TOOL_MESSAGE)
    message = client.messages.create(**ANTHROPIC_KWARGS)
    assert message.to_dict() == zeroed(THINKING_TOOL_MESSAGE)
    assert final_of(MESSAGES, message) == zeroed(THINKING_TOOL_MESSAGE)


def test_anthropic_thinking_and_tool_use_replay_as_a_stream() -> None:
    client = replay_client(anthropic.Anthropic, MESSAGES, THINKING_TOOL_MESSAGE)
    events = list(client.messages.create(**ANTHROPIC_KWARGS, stream=True))
    deltas = [e.delta.type for e in events if e.type == "content_block_delta"]
    assert list(dict.fromkeys(deltas)) == [
        "thinking_delta",
        "signature_delta",
        "text_delta",
        "input_json_delta",
    ]
    assert deltas.count("input_json_delta") > 1
    assert types_of(events) == [
        "message_start",
        *["content_block_start", "content_block_delta", "content_block_stop"] * 3,
        "message_delta",
        "message_stop",
    ]
    assert accumulate(MESSAGES, events) == zeroed(THINKING_TOOL_MESSAGE)


def test_anthropic_stream_helper_rebuilds_thinking_and_tool_use() -> None:
    client = replay_client(anthropic.Anthropic, MESSAGES, THINKING_TOOL_MESSAGE)
    with client.messages.stream(**ANTHROPIC_KWARGS) as stream:
        message = stream.get_final_message()
    assert same_answer(message, THINKING_TOOL_MESSAGE)
    assert message.content[2].input == THINKING_TOOL_MESSAGE["content"][2]["input"]


def test_anthropic_beta_messages_replay_the_same_body() -> None:
    client = replay_client(anthropic.Anthropic, MESSAGES, THINKING_TOOL_MESSAGE)
    message = client.beta.messages.create(**ANTHROPIC_KWARGS)
    assert message.to_dict() == zeroed(THINKING_TOOL_MESSAGE)
    with client.beta.messages.stream(**ANTHROPIC_KWARGS) as stream:
        assert same_answer(stream.get_final_message(), THINKING_TOOL_MESSAGE)


class Capital(pydantic.BaseModel):
    country: str
    city: str


def test_anthropic_parse_is_stored_without_its_parsed_output() -> None:
    answer = copy.deepcopy(THINKING_TOOL_MESSAGE)
    answer["content"] = [{"type": "text", "text": '{"country":"France","city":"Paris"}'}]
    answer["stop_reason"] = "end_turn"
    client = replay_client(anthropic.Anthropic, MESSAGES, answer)
    parsed = client.messages.parse(**ANTHROPIC_KWARGS, output_format=Capital)
    assert parsed.parsed_output == Capital(country="France", city="Paris")
    assert final_of(MESSAGES, parsed) == zeroed(answer)


def test_anthropic_async_replay_streams_and_answers() -> None:
    async def main() -> tuple[Any, Any, list[Any]]:
        client = replay_client(anthropic.AsyncAnthropic, MESSAGES, THINKING_TOOL_MESSAGE)
        message = await client.messages.create(**ANTHROPIC_KWARGS)
        async with client.messages.stream(**ANTHROPIC_KWARGS) as stream:
            helper_final = await stream.get_final_message()
        events = [event async for event in await client.messages.create(**ANTHROPIC_KWARGS, stream=True)]
        return message, helper_final, events

    message, helper_final, events = asyncio.run(main())
    assert message.to_dict() == zeroed(THINKING_TOOL_MESSAGE)
    assert same_answer(helper_final, THINKING_TOOL_MESSAGE)
    assert accumulate(MESSAGES, events) == zeroed(THINKING_TOOL_MESSAGE)


# -- OpenAI chat completions -----------------------------------------------------------------------

TOOL_COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-tools1",
    "object": "chat.completion",
    "created": 1767225600,
    "model": "gpt-4.1-mini-2025-04-14",
    "service_tier": "default",
    "system_fingerprint": "fp_tools",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "annotations": [],
                "tool_calls": [
                    {
                        "id": "call_weather",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"celsius"}'},
                    },
                    {
                        "id": "call_time",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": '{"timezone":"Europe/Paris"}'},
                    },
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {
        "prompt_tokens": 120,
        "completion_tokens": 40,
        "total_tokens": 160,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    },
}


def structured_completion() -> dict[str, Any]:
    answer = copy.deepcopy(TOOL_COMPLETION)
    message = answer["choices"][0]["message"]
    message["content"] = '{"country":"France","city":"Paris"}'
    del message["tool_calls"]
    answer["choices"][0]["finish_reason"] = "stop"
    return answer


def test_chat_stream_accumulates_to_the_non_streamed_completion(real_openai: openai.OpenAI) -> None:
    final = final_of(CHAT, real_openai.chat.completions.create(**CHAT_KWARGS))
    chunks = real_openai.chat.completions.create(
        **CHAT_KWARGS, stream=True, stream_options={"include_usage": True}
    )
    streamed = accumulate(CHAT, chunks)
    assert streamed is not None
    assert without(streamed, "id", "created") == without(final, "id", "created")


def test_chat_replayed_completion_equals_the_original_with_zero_usage(real_openai: openai.OpenAI) -> None:
    original = real_openai.chat.completions.create(**CHAT_KWARGS)
    final = final_of(CHAT, original)
    replayed = replay_client(openai.OpenAI, CHAT, final).chat.completions.create(**CHAT_KWARGS)
    assert type(replayed) is type(original)
    assert replayed.to_dict() == zeroed(final)
    assert replayed.usage is not None and replayed.usage.total_tokens == 0


def test_chat_replayed_stream_ends_with_usage_only_when_asked(real_openai: openai.OpenAI) -> None:
    final = final_of(CHAT, real_openai.chat.completions.create(**CHAT_KWARGS))
    client = replay_client(openai.OpenAI, CHAT, final)
    with_usage = list(
        client.chat.completions.create(**CHAT_KWARGS, stream=True, stream_options={"include_usage": True})
    )
    plain = list(client.chat.completions.create(**CHAT_KWARGS, stream=True))
    assert with_usage[0].choices[0].delta.role == "assistant"
    assert with_usage[-2].choices[0].finish_reason == "stop"
    assert with_usage[-1].choices == [] and with_usage[-1].usage.total_tokens == 0
    assert plain[-1].choices[0].finish_reason == "stop" and all(c.usage is None for c in plain)
    assert sum(bool(c.choices and c.choices[0].delta.content) for c in plain) > 1
    assert accumulate(CHAT, with_usage) == zeroed(final)
    assert accumulate(CHAT, plain) == without(final, "usage")


def test_chat_stream_helper_gives_back_the_completion(real_openai: openai.OpenAI) -> None:
    final = final_of(CHAT, real_openai.chat.completions.create(**CHAT_KWARGS))
    client = replay_client(openai.OpenAI, CHAT, final)
    with client.chat.completions.stream(**CHAT_KWARGS) as stream:
        completion = stream.get_final_completion()
    assert completion.choices[0].message.content == final["choices"][0]["message"]["content"]
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.id, completion.model) == (final["id"], final["model"])


def test_chat_tool_calls_replay_non_streamed_and_streamed() -> None:
    client = replay_client(openai.OpenAI, CHAT, TOOL_COMPLETION)
    assert client.chat.completions.create(**CHAT_KWARGS).to_dict() == zeroed(TOOL_COMPLETION)
    chunks = list(
        client.chat.completions.create(**CHAT_KWARGS, stream=True, stream_options={"include_usage": True})
    )
    calls = [c.choices[0].delta.tool_calls[0] for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert [(c.index, c.id, c.function.name) for c in calls if c.id] == [
        (0, "call_weather", "get_weather"),
        (1, "call_time", "get_time"),
    ]
    assert sum(c.index == 0 and c.id is None for c in calls) > 1  # the arguments arrive in pieces
    assert accumulate(CHAT, chunks) == zeroed(TOOL_COMPLETION)


def test_chat_stream_helper_rebuilds_tool_calls() -> None:
    client = replay_client(openai.OpenAI, CHAT, TOOL_COMPLETION)
    with client.chat.completions.stream(**CHAT_KWARGS) as stream:
        completion = stream.get_final_completion()
    calls = completion.choices[0].message.tool_calls
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for c in TOOL_COMPLETION["choices"][0]["message"]["tool_calls"]
    ]


def test_chat_parse_rederives_the_parsed_answer_and_stores_only_the_wire() -> None:
    answer = structured_completion()
    client = replay_client(openai.OpenAI, CHAT, answer)
    parsed = client.chat.completions.parse(**CHAT_KWARGS, response_format=Capital)
    assert parsed.choices[0].message.parsed == Capital(country="France", city="Paris")
    stored = final_of(CHAT, parsed)
    assert "parsed" not in stored["choices"][0]["message"]
    again = replay_client(openai.OpenAI, CHAT, stored).chat.completions.parse(
        **CHAT_KWARGS, response_format=Capital
    )
    assert again.choices[0].message.parsed == Capital(country="France", city="Paris")
    with client.chat.completions.stream(**CHAT_KWARGS, response_format=Capital) as stream:
        assert stream.get_final_completion().choices[0].message.parsed == Capital(
            country="France", city="Paris"
        )


def test_chat_async_replay_streams_and_answers() -> None:
    async def main() -> tuple[Any, list[Any], Any]:
        client = replay_client(openai.AsyncOpenAI, CHAT, TOOL_COMPLETION)
        completion = await client.chat.completions.create(**CHAT_KWARGS)
        stream = await client.chat.completions.create(**CHAT_KWARGS, stream=True)
        chunks = [chunk async for chunk in stream]
        async with client.chat.completions.stream(**CHAT_KWARGS) as helper:
            helper_final = await helper.get_final_completion()
        return completion, chunks, helper_final

    completion, chunks, helper_final = asyncio.run(main())
    assert completion.to_dict() == zeroed(TOOL_COMPLETION)
    assert accumulate(CHAT, chunks) == without(TOOL_COMPLETION, "usage")
    assert helper_final.choices[0].message.tool_calls[1].function.name == "get_time"


# -- OpenAI Responses ------------------------------------------------------------------------------

RESPONSE_EVENT_ORDER = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def tool_response(real_openai: openai.OpenAI) -> dict[str, Any]:
    """A real response's envelope with reasoning and function-call output written in."""
    final = final_of(RESPONSES, real_openai.responses.create(**RESPONSES_KWARGS))
    message = final["output"][0]
    final["output"] = [
        {
            "id": "rs_1",
            "type": "reasoning",
            "summary": [
                {"type": "summary_text", "text": "The user asks for the weather in Paris; call the tool."}
            ],
        },
        message,
        {
            "id": "fc_1",
            "type": "function_call",
            "call_id": "call_weather",
            "name": "get_weather",
            "arguments": '{"city":"Paris","unit":"celsius"}',
            "status": "completed",
        },
    ]
    return final


def test_responses_stream_accumulates_to_the_non_streamed_response(real_openai: openai.OpenAI) -> None:
    final = final_of(RESPONSES, real_openai.responses.create(**RESPONSES_KWARGS))
    streamed = accumulate(RESPONSES, real_openai.responses.create(**RESPONSES_KWARGS, stream=True))
    assert streamed is not None
    ids = ("id", "created_at", "output")
    assert without(streamed, *ids) == without(final, *ids)
    assert [without(item, "id") for item in streamed["output"]] == [
        without(item, "id") for item in final["output"]
    ]


def test_responses_cut_stream_gives_no_final(real_openai: openai.OpenAI) -> None:
    events = list(real_openai.responses.create(**RESPONSES_KWARGS, stream=True))
    assert accumulate(RESPONSES, events[:-1]) is None


def test_responses_replay_non_streamed_and_streamed(real_openai: openai.OpenAI) -> None:
    original = real_openai.responses.create(**RESPONSES_KWARGS)
    final = final_of(RESPONSES, original)
    client = replay_client(openai.OpenAI, RESPONSES, final)
    replayed = client.responses.create(**RESPONSES_KWARGS)
    assert type(replayed) is type(original)
    assert replayed.to_dict() == zeroed(final)
    assert replayed.output_text == original.output_text
    events = list(client.responses.create(**RESPONSES_KWARGS, stream=True))
    assert types_of(events) == RESPONSE_EVENT_ORDER
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert accumulate(RESPONSES, events) == zeroed(final)


def test_responses_stream_helper_gives_back_the_response(real_openai: openai.OpenAI) -> None:
    final = tool_response(real_openai)
    client = replay_client(openai.OpenAI, RESPONSES, final)
    with client.responses.stream(**RESPONSES_KWARGS) as stream:
        kinds = [event.type for event in stream]
        response = stream.get_final_response()
    assert "response.function_call_arguments.delta" in kinds
    assert "response.reasoning_summary_text.delta" in kinds
    assert final_of(RESPONSES, response) == zeroed(final)


def test_responses_function_calls_replay_as_a_stream(real_openai: openai.OpenAI) -> None:
    final = tool_response(real_openai)
    client = replay_client(openai.OpenAI, RESPONSES, final)
    assert client.responses.create(**RESPONSES_KWARGS).to_dict() == zeroed(final)
    events = list(client.responses.create(**RESPONSES_KWARGS, stream=True))
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert arguments == final["output"][2]["arguments"]
    assert accumulate(RESPONSES, events) == zeroed(final)


def test_responses_parse_rederives_the_parsed_answer(real_openai: openai.OpenAI) -> None:
    final = final_of(RESPONSES, real_openai.responses.create(**RESPONSES_KWARGS))
    final["output"][0]["content"][0]["text"] = '{"country":"France","city":"Paris"}'
    client = replay_client(openai.OpenAI, RESPONSES, final)
    parsed = client.responses.parse(**RESPONSES_KWARGS, text_format=Capital)
    assert parsed.output_parsed == Capital(country="France", city="Paris")
    assert final_of(RESPONSES, parsed) == zeroed(final)
    with client.responses.stream(**RESPONSES_KWARGS, text_format=Capital) as stream:
        assert stream.get_final_response().output_parsed == Capital(country="France", city="Paris")


def test_responses_async_replay(real_openai: openai.OpenAI) -> None:
    final = final_of(RESPONSES, real_openai.responses.create(**RESPONSES_KWARGS))

    async def main() -> tuple[Any, Any]:
        client = replay_client(openai.AsyncOpenAI, RESPONSES, final)
        response = await client.responses.create(**RESPONSES_KWARGS)
        async with client.responses.stream(**RESPONSES_KWARGS) as stream:
            helper_final = await stream.get_final_response()
        return response, helper_final

    response, helper_final = asyncio.run(main())
    assert response.to_dict() == zeroed(final)
    assert helper_final.output_text == response.output_text
