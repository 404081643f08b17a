"""Prompt-cache simulation as the real clients see it."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from costaware.sim import prompt_tokens
from costaware.sim.caching import min_cacheable_tokens

from helpers import FakeClock

SONNET = "claude-sonnet-4-5"
EPHEMERAL = {"type": "ephemeral"}


def text_of(n_tokens: int, prefix: str = "") -> str:
    """A text whose block ``prefix + text`` is exactly ``n_tokens`` tokens."""
    return "x" * (4 * n_tokens - len(prefix))


def cached_system(n_tokens: int, **marker: Any) -> list[dict[str, Any]]:
    text = text_of(n_tokens, "system: ")
    return [{"type": "text", "text": text, "cache_control": {**EPHEMERAL, **marker}}]


def ask(claude: anthropic.Anthropic, model: str = SONNET, **body: Any) -> anthropic.types.Message:
    body.setdefault("messages", [{"role": "user", "content": "Question?"}])
    return claude.messages.create(model=model, max_tokens=50, **body)


def test_repeated_prefix_is_written_then_read(claude: anthropic.Anthropic) -> None:
    system = cached_system(2000)
    first, second = ask(claude, system=system), ask(claude, system=system)
    total = prompt_tokens(
        "anthropic", {"system": system, "messages": [{"role": "user", "content": "Question?"}]}
    )
    assert first.usage.cache_creation_input_tokens == 2000
    assert (
        first.usage.cache_creation is not None
        and first.usage.cache_creation.ephemeral_5m_input_tokens == 2000
    )
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens == total - 2000
    assert second.usage.cache_read_input_tokens == 2000
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == total - 2000


def test_prefix_under_the_model_minimum_is_not_cached(claude: anthropic.Anthropic) -> None:
    system = cached_system(2000)  # Haiku 4.5 needs 4096 tokens
    for _ in range(2):
        usage = ask(claude, model="claude-haiku-4-5", system=system).usage
        assert usage.cache_creation_input_tokens == usage.cache_read_input_tokens == 0


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-sonnet-4-5", 1024),
        ("claude-sonnet-4-6", 1024),
        ("claude-opus-4-1-20250805", 1024),
        ("claude-opus-4-20250514", 1024),
        ("claude-opus-4-5", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-haiku-4-5-20251001", 4096),
        ("claude-3-5-haiku-latest", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("claude-3-7-sonnet-latest", 1024),
        ("some-unknown-model", 1024),
    ],
)
def test_minimum_cacheable_prefix_per_model(model: str, minimum: int) -> None:
    assert min_cacheable_tokens(model) == minimum


def test_five_breakpoints_are_a_bad_request(claude: anthropic.Anthropic) -> None:
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": EPHEMERAL} for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="maximum of 4 blocks"):
        ask(claude, messages=[{"role": "user", "content": blocks}])


def test_entry_expires_after_its_ttl(claude: anthropic.Anthropic, clock: FakeClock) -> None:
    system = cached_system(1500)
    ask(claude, system=system)
    clock.advance(299)
    assert ask(claude, system=system).usage.cache_read_input_tokens == 1500  # refreshes the TTL
    clock.advance(299)
    assert ask(claude, system=system).usage.cache_read_input_tokens == 1500
    clock.advance(301)
    usage = ask(claude, system=system).usage
    assert usage.cache_read_input_tokens == 0 and usage.cache_creation_input_tokens == 1500


def test_one_hour_ttl_outlives_five_minutes(claude: anthropic.Anthropic, clock: FakeClock) -> None:
    system = cached_system(1500, ttl="1h")
    first = ask(claude, system=system)
    assert first.usage.cache_creation is not None
    assert first.usage.cache_creation.ephemeral_1h_input_tokens == 1500
    clock.advance(3000)
    assert ask(claude, system=system).usage.cache_read_input_tokens == 1500


def test_writes_are_split_by_the_ttl_of_each_breakpoint(claude: anthropic.Anthropic) -> None:
    tool = {"name": "t", "input_schema": {"type": "object", "description": "d" * 6000}}
    tools = [{**tool, "cache_control": {**EPHEMERAL, "ttl": "1h"}}]
    system = cached_system(1000)
    body = {"tools": tools, "system": system, "messages": [{"role": "user", "content": "Question?"}]}
    through_tool = prompt_tokens("anthropic", {"tools": tools})
    through_system = prompt_tokens("anthropic", {"tools": tools, "system": system})
    usage = ask(claude, **body).usage
    assert usage.cache_creation is not None
    assert usage.cache_creation.ephemeral_1h_input_tokens == through_tool
    assert usage.cache_creation.ephemeral_5m_input_tokens == through_system - through_tool
    assert usage.cache_creation_input_tokens == through_system


def test_top_level_cache_control_caches_the_growing_conversation(claude: anthropic.Anthropic) -> None:
    turn = [{"role": "user", "content": text_of(1200, "user: ")}]
    first = ask(claude, messages=turn, extra_body={"cache_control": EPHEMERAL})
    longer = [*turn, {"role": "assistant", "content": "Sure."}, {"role": "user", "content": "More?"}]
    second = ask(claude, messages=longer, extra_body={"cache_control": EPHEMERAL})
    assert first.usage.cache_creation_input_tokens == 1200
    assert second.usage.cache_read_input_tokens == 1200
    assert second.usage.cache_creation_input_tokens == prompt_tokens("anthropic", {"messages": longer}) - 1200
    assert second.usage.input_tokens == 0


def test_stream_reports_the_cache_read_in_message_start(claude: anthropic.Anthropic) -> None:
    system = cached_system(1500)
    ask(claude, system=system)
    messages = [{"role": "user", "content": "Question?"}]
    with claude.messages.stream(model=SONNET, max_tokens=50, system=system, messages=messages) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == 1500


def chat_messages(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": text_of(1500, "system: ")}, {"role": "user", "content": user}]


def chat(oai: openai.OpenAI, user: str, **extra: Any) -> openai.types.CompletionUsage:
    usage = oai.chat.completions.create(model="gpt-4.1", messages=chat_messages(user), **extra).usage
    assert usage is not None and usage.prompt_tokens_details is not None
    return usage


def test_openai_repeated_long_prompt_is_cached_in_128_token_steps(oai: openai.OpenAI) -> None:
    first, second = chat(oai, "Hi"), chat(oai, "Hi")
    assert first.prompt_tokens_details and first.prompt_tokens_details.cached_tokens == 0
    assert second.prompt_tokens_details and second.prompt_tokens_details.cached_tokens == 1408
    assert (
        second.prompt_tokens
        == first.prompt_tokens
        == prompt_tokens("openai", {"messages": chat_messages("Hi")})
    )
    assert second.prompt_tokens == 1503  # 1408 = the longest 128-token step within it


def test_openai_shared_prefix_is_cached_up_to_the_divergence(oai: openai.OpenAI) -> None:
    chat(oai, "first question")
    usage = chat(oai, "another question")
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 1408


def test_openai_prompt_cache_key_partitions_the_cache(oai: openai.OpenAI) -> None:
    chat(oai, "Hi", prompt_cache_key="tenant-a")
    usage = chat(oai, "Hi", prompt_cache_key="tenant-b")
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 0


def test_openai_cache_expires_after_ten_minutes(oai: openai.OpenAI, clock: FakeClock) -> None:
    chat(oai, "Hi")
    clock.advance(601)
    usage = chat(oai, "Hi")
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 0


def test_openai_short_prompts_are_never_cached(oai: openai.OpenAI) -> None:
    for _ in range(2):
        usage = oai.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
        ).usage
        assert usage is not None and usage.prompt_tokens_details is not None
        assert usage.prompt_tokens_details.cached_tokens == 0


def test_responses_report_cached_tokens(oai: openai.OpenAI) -> None:
    body = {"model": "gpt-5-mini", "input": text_of(1100, "user: ")}
    oai.responses.create(**body)
    usage = oai.responses.create(**body).usage
    assert usage is not None and usage.input_tokens_details.cached_tokens == 1024
    assert usage.input_tokens == 1100
