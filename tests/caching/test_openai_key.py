"""Specification of the OpenAI ``prompt_cache_key`` derivation."""

from __future__ import annotations

import copy
from typing import Any

from costaware.core.caching import apply_openai, openai_cache_key

SYSTEM = "You are the support assistant of a library that cuts LLM bills. " * 70  # ~1100 tokens


def chat(system: str = SYSTEM, question: str = "Hi", **extra: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return {"model": "gpt-4o-mini", "messages": messages, **extra}


def test_the_same_stable_prefix_gives_the_same_key_whatever_the_question() -> None:
    key = openai_cache_key(chat(question="How do I install it?"))
    assert key is not None and key == openai_cache_key(chat(question="What does it cost?"))
    assert key.startswith("cw-") and len(key) == 19


def test_a_different_system_prompt_gives_a_different_key() -> None:
    assert openai_cache_key(chat()) != openai_cache_key(chat(system=SYSTEM + " Answer in French."))


def test_tools_are_part_of_the_stable_prefix() -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    other = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    assert openai_cache_key(chat(tools=[tool])) != openai_cache_key(chat(tools=[other]))


def test_developer_messages_count_and_the_first_user_message_ends_the_prefix() -> None:
    developer = {"role": "developer", "content": SYSTEM}
    key = openai_cache_key({"model": "o3", "messages": [developer, {"role": "user", "content": "a"}]})
    assert key is not None
    assert key == openai_cache_key(
        {
            "model": "o3",
            "messages": [developer, {"role": "user", "content": "b"}, {"role": "system", "content": "x"}],
        }
    )


def test_a_short_stable_prefix_gets_no_key() -> None:
    assert openai_cache_key(chat(system="Be brief.")) is None
    assert openai_cache_key({"model": "gpt-4o", "messages": [{"role": "user", "content": SYSTEM}]}) is None


def test_the_callers_own_key_is_respected() -> None:
    kwargs = chat(prompt_cache_key="tenant-42")
    assert openai_cache_key(kwargs) is None
    assert apply_openai(kwargs, "cw-0000000000000000")["prompt_cache_key"] == "tenant-42"
    assert openai_cache_key(chat(extra_body={"prompt_cache_key": "tenant-42"})) is None


def test_responses_instructions_give_a_key() -> None:
    kwargs = {"model": "gpt-5", "instructions": SYSTEM, "input": "Hi"}
    key = openai_cache_key(kwargs)
    assert key is not None and key == openai_cache_key(
        {**kwargs, "input": [{"role": "user", "content": "Yo"}]}
    )
    assert key != openai_cache_key({**kwargs, "instructions": SYSTEM + "!"})


def test_apply_openai_returns_new_kwargs_and_leaves_the_callers_alone() -> None:
    kwargs = chat()
    before = copy.deepcopy(kwargs)
    key = openai_cache_key(kwargs)
    sent = apply_openai(kwargs, key)
    assert sent["prompt_cache_key"] == key and sent is not kwargs
    assert kwargs == before
    assert apply_openai(kwargs, None) == kwargs
