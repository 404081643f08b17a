"""The token formula, the canonical serialisation, answers and the capability model."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from costaware.sim import count_tokens, prompt_tokens
from costaware.sim.answers import answer_text, is_reasoning_model, make_answer, split_for_stream
from costaware.sim.quality import capability, difficulty, model_tier


@given(st.text())
def test_count_tokens_is_ceil_of_utf8_bytes_over_four(text: str) -> None:
    assert count_tokens(text) == math.ceil(len(text.encode("utf-8")) / 4)


def test_count_tokens_small_values() -> None:
    assert [count_tokens(t) for t in ("", "a", "abcd", "abcde", "é")] == [0, 1, 1, 2, 1]


def test_anthropic_canonical_serialisation() -> None:
    tool = {"name": "get", "input_schema": {"type": "object"}, "cache_control": {"type": "ephemeral"}}
    body = {
        "tools": [tool],
        "system": [{"type": "text", "text": "Be terse."}],
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": [{"type": "text", "text": "Yes?"}]},
        ],
    }
    tool_json = json.dumps({"input_schema": {"type": "object"}, "name": "get"}, separators=(",", ":"))
    expected = "\n".join([tool_json, "system: Be terse.", "user: Hi", "assistant: Yes?"])
    assert prompt_tokens("anthropic", body) == count_tokens(expected)


def test_anthropic_system_string_and_non_text_blocks() -> None:
    block = {"type": "tool_result", "tool_use_id": "t1", "content": "42"}
    body = {"system": "S", "messages": [{"role": "user", "content": [block]}]}
    block_json = json.dumps(block, separators=(",", ":"), sort_keys=True)
    assert prompt_tokens("anthropic", body) == count_tokens("system: S\nuser: " + block_json)


def test_chat_canonical_serialisation() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        ]
    }
    assert prompt_tokens("openai", body) == count_tokens("system: Be terse.\nuser: Hi")
    assert prompt_tokens("openai-chat", body) == prompt_tokens("openai", body)


def test_responses_canonical_serialisation() -> None:
    assert prompt_tokens("openai-responses", {"input": "Hi", "instructions": "Be terse."}) == count_tokens(
        "system: Be terse.\nuser: Hi"
    )
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}]
    assert prompt_tokens("openai-responses", {"input": items}) == count_tokens("user: Hi")


def test_embeddings_count_each_input() -> None:
    assert prompt_tokens("openai-embeddings", {"input": ["abcde", "a"]}) == 3
    assert prompt_tokens("openai-embeddings", {"input": [1, 2, 3]}) == 3


def test_unknown_provider_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        prompt_tokens("gemini", {})


def test_answers_are_deterministic_and_20_to_200ish_tokens() -> None:
    assert answer_text("user: Hello") == answer_text("user: Hello")
    assert answer_text("user: Hello") != answer_text("user: Goodbye")
    lengths = [count_tokens(answer_text(str(i))) for i in range(300)]
    assert min(lengths) >= 20
    assert max(lengths) <= 205


def test_truncated_answer_has_exactly_max_tokens() -> None:
    answer = make_answer("seed", max_tokens=7)
    assert answer.truncated
    assert answer.output_tokens == count_tokens(answer.text) == 7


def test_reasoning_tokens_count_first_against_the_limit() -> None:
    full = make_answer("seed", max_tokens=None, reasoning=True)
    assert full.reasoning_tokens == count_tokens(full.text)
    assert full.output_tokens == 2 * full.reasoning_tokens
    cut = make_answer("seed", max_tokens=full.reasoning_tokens + 3, reasoning=True)
    assert cut.truncated and cut.output_tokens == full.reasoning_tokens + 3


def test_reasoning_models() -> None:
    assert is_reasoning_model("o3-mini") and is_reasoning_model("gpt-5")
    assert not is_reasoning_model("gpt-5", effort="none")
    assert not is_reasoning_model("gpt-5-chat-latest") and not is_reasoning_model("gpt-4.1")


def test_stream_deltas_rebuild_the_text() -> None:
    text = answer_text("x")
    assert "".join(split_for_stream(text)) == text


def test_capability_orders_tiers_for_any_prompt() -> None:
    for prompt in ("hi", "prove the Riemann hypothesis " * 300):
        small, mid, large = (
            capability(m, prompt) for m in ("claude-haiku-4-5", "gpt-4.1", "claude-opus-4-6")
        )
        assert 0.0 <= small < mid < large <= 1.0


def test_model_tiers_and_difficulty_range() -> None:
    assert [model_tier(m) for m in ("gpt-4o-mini", "o3-mini", "claude-sonnet-4-5", "gpt-5", "o3")] == [
        0,
        0,
        1,
        1,
        2,
    ]
    assert 0.0 <= difficulty("") <= 1.0 and difficulty("x") == difficulty("x")
