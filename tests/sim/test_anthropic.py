"""The Anthropic Messages endpoints, through the real ``anthropic`` client (strict parsing)."""

from __future__ import annotations

import anthropic

from costaware.sim import Simulator, count_tokens, prompt_tokens
from costaware.sim.answers import answer_text

MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "What does a prompt cache do?"}]
BODY = {"model": MODEL, "max_tokens": 1000, "messages": MESSAGES}


def test_create_parses_and_counts_tokens_by_the_formula(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(**BODY)
    assert message.model == MODEL
    assert message.stop_reason == "end_turn"
    text = message.content[0].text
    assert text == answer_text("user: What does a prompt cache do?")
    assert message.usage.input_tokens == prompt_tokens("anthropic", BODY)
    assert message.usage.output_tokens == count_tokens(text)
    assert message.usage.cache_read_input_tokens == message.usage.cache_creation_input_tokens == 0


def test_same_prompt_same_answer(claude: anthropic.Anthropic) -> None:
    first = claude.messages.create(**BODY)
    second = claude.messages.create(**BODY)
    assert first.content[0].text == second.content[0].text
    assert first.id != second.id


def test_max_tokens_truncates(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(**{**BODY, "max_tokens": 5})
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 5 == count_tokens(message.content[0].text)


def test_raw_stream_sends_every_event_type_with_cumulative_usage(claude: anthropic.Anthropic) -> None:
    events = list(claude.messages.create(**BODY, stream=True))
    types = [event.type for event in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert "content_block_delta" in types  # the SDK itself drops "ping"
    start, delta = events[0], events[-2]
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    assert start.message.usage.input_tokens == prompt_tokens("anthropic", BODY)
    assert start.message.usage.cache_creation is not None
    assert delta.usage.output_tokens == count_tokens(text)  # a total, not an increment
    assert delta.usage.input_tokens == start.message.usage.input_tokens


def test_stream_helper_text_stream_and_final_message(claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(**BODY) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[0].text == text
    assert final.usage.output_tokens == count_tokens(text)
    assert final.stop_reason == "end_turn"


def test_count_tokens_endpoint(claude: anthropic.Anthropic) -> None:
    counted = claude.messages.count_tokens(model=MODEL, messages=MESSAGES, system="Be brief.")
    assert counted.input_tokens == prompt_tokens("anthropic", {"messages": MESSAGES, "system": "Be brief."})


def test_unknown_model_is_answered(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(**{**BODY, "model": "claude-imaginary-9"})
    assert message.model == "claude-imaginary-9"


def test_response_model_header_overrides_the_model(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        **BODY, extra_headers={"x-sim-response-model": "claude-haiku-4-5-20251001"}
    )
    assert message.model == "claude-haiku-4-5-20251001"


def test_request_id_header(claude: anthropic.Anthropic) -> None:
    raw = claude.messages.with_raw_response.create(**BODY)
    assert raw.headers["request-id"].startswith("req_")


def test_beta_messages_path_with_query(claude: anthropic.Anthropic, sim: Simulator) -> None:
    message = claude.beta.messages.create(**BODY)
    assert message.content[0].text
    assert sim.requests(path="/v1/messages") == 1


async def test_async_create_and_stream(async_claude: anthropic.AsyncAnthropic) -> None:
    message = await async_claude.messages.create(**BODY)
    async with async_claude.messages.stream(**BODY) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()
    assert text == message.content[0].text == final.content[0].text
    assert final.usage.output_tokens == message.usage.output_tokens
