"""The OpenAI endpoints, through the real ``openai`` client (strict parsing)."""

from __future__ import annotations

import math

import openai
import pytest

from costaware.sim import Simulator, count_tokens, prompt_tokens

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
CHAT = {"model": "gpt-4.1-mini", "messages": MESSAGES}
RESPONSES = {"model": "gpt-4.1-mini", "input": "Name a colour.", "instructions": "Be brief."}


def test_chat_create_usage(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(**CHAT)
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert completion.choices[0].finish_reason == "stop"
    assert usage.prompt_tokens == prompt_tokens("openai", CHAT)
    assert usage.completion_tokens == count_tokens(completion.choices[0].message.content or "")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_chat_max_tokens_gives_length(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(**CHAT, max_completion_tokens=4)
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage is not None and completion.usage.completion_tokens == 4


def test_chat_reasoning_model_reports_reasoning_tokens(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(**{**CHAT, "model": "o4-mini"})
    usage = completion.usage
    assert usage is not None and usage.completion_tokens_details is not None
    visible = count_tokens(completion.choices[0].message.content or "")
    assert usage.completion_tokens_details.reasoning_tokens == visible
    assert usage.completion_tokens == 2 * visible


def test_chat_stream_with_usage_ends_with_a_usage_chunk(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert chunks[-1].usage.completion_tokens == count_tokens(text)


def test_chat_stream_without_usage_option_has_no_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(**CHAT, stream=True))
    assert all(chunk.usage is None and chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_chat_stream_helper(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(**CHAT, stream_options={"include_usage": True}) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta"]
        final = stream.get_final_completion()
    assert final.choices[0].message.content == "".join(deltas)
    assert final.usage is not None and final.usage.prompt_tokens == prompt_tokens("openai", CHAT)


def test_responses_create_usage(oai: openai.OpenAI) -> None:
    response = oai.responses.create(**RESPONSES)
    assert response.status == "completed"
    assert response.usage is not None
    assert response.usage.input_tokens == prompt_tokens("openai-responses", RESPONSES)
    assert response.usage.output_tokens == count_tokens(response.output_text)
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0


def test_responses_truncation_is_incomplete(oai: openai.OpenAI) -> None:
    response = oai.responses.create(**RESPONSES, max_output_tokens=16)
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"
    assert response.usage is not None and response.usage.output_tokens == 16


def test_responses_stream_events_carry_sequence_numbers(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(**RESPONSES, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert [e.type for e in events[:4]] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert [e.type for e in events[-4:]] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]


def test_responses_stream_helper_final_response(oai: openai.OpenAI) -> None:
    with oai.responses.stream(**RESPONSES) as stream:
        text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert final.output_text == text
    assert final.usage is not None and final.usage.output_tokens == count_tokens(text)


def test_responses_truncated_stream_ends_with_incomplete(oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(**RESPONSES, stream=True, max_output_tokens=8))
    assert events[-1].type == "response.incomplete"


def test_embeddings_float_vectors_are_deterministic_unit_vectors(oai: openai.OpenAI) -> None:
    result = oai.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta"], dimensions=64, encoding_format="float"
    )
    again = oai.embeddings.create(model="text-embedding-3-small", input="alpha", encoding_format="float")
    first = result.data[0].embedding
    assert len(first) == 64 and len(again.data[0].embedding) == 256
    assert math.isclose(sum(v * v for v in first), 1.0, rel_tol=1e-9)
    assert result.data[1].embedding != first
    assert (
        result.usage.prompt_tokens
        == result.usage.total_tokens
        == count_tokens("alpha") + count_tokens("beta")
    )


def test_embeddings_default_base64_decodes_to_the_same_vector(sim: Simulator) -> None:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="test", max_retries=0)
    packed = client.embeddings.create(model="m", input="alpha", dimensions=16).data[0].embedding
    plain = client.embeddings.create(model="m", input="alpha", dimensions=16, encoding_format="float")
    assert packed == pytest.approx(plain.data[0].embedding, abs=1e-6)


async def test_async_chat_responses_and_streams(async_oai: openai.AsyncOpenAI) -> None:
    completion = await async_oai.chat.completions.create(**CHAT)
    async with async_oai.chat.completions.stream(**CHAT) as chat_stream:
        final_chat = await chat_stream.get_final_completion()
    async with async_oai.responses.stream(**RESPONSES) as response_stream:
        final_response = await response_stream.get_final_response()
    response = await async_oai.responses.create(**RESPONSES)
    assert final_chat.choices[0].message.content == completion.choices[0].message.content
    assert final_response.output_text == response.output_text
