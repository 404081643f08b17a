"""The derived ``prompt_cache_key`` sent by the real openai client to the simulator, which keeps one
prompt cache per key: reads show which key a request carried."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from costaware.core.caching import apply_openai, openai_cache_key
from costaware.sim import Simulator

SYSTEM = "You are the support assistant of a library that cuts LLM bills. Be precise. " * 70


@pytest.fixture
def client(cache_sim: Simulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=cache_sim.openai_base_url, api_key="k", max_retries=0) as client:
        yield client


def chat(question: str, system: str = SYSTEM) -> dict[str, Any]:
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return {"model": "gpt-4o-mini", "messages": messages}


def send(client: openai.OpenAI, kwargs: dict[str, Any]) -> int:
    """Send with the derived key; return the cached prompt tokens."""
    response = client.chat.completions.create(**apply_openai(kwargs, openai_cache_key(kwargs)))
    return response.usage.prompt_tokens_details.cached_tokens


def test_requests_sharing_a_system_prompt_read_the_same_cache(client: openai.OpenAI) -> None:
    first = send(client, chat("How do I install it?"))
    second = send(client, chat("Does it support streaming?"))
    assert first == 0
    assert second >= 1024 and (second - 1024) % 128 == 0


def test_the_derived_key_is_sent(client: openai.OpenAI) -> None:
    send(client, chat("How do I install it?"))
    unkeyed = client.chat.completions.create(**chat("Does it support streaming?"))
    assert unkeyed.usage.prompt_tokens_details.cached_tokens == 0  # another cache partition: ours had a key
    assert send(client, chat("What does it cost?")) >= 1024


def test_the_callers_key_is_kept(client: openai.OpenAI) -> None:
    mine = {**chat("How do I install it?"), "prompt_cache_key": "tenant-7"}
    assert openai_cache_key(mine) is None
    client.chat.completions.create(**apply_openai(mine, openai_cache_key(mine)))
    assert send(client, chat("Does it support streaming?")) == 0  # ours differs from the caller's key
    again = client.chat.completions.create(**{**chat("What does it cost?"), "prompt_cache_key": "tenant-7"})
    assert again.usage.prompt_tokens_details.cached_tokens >= 1024


def test_a_short_system_prompt_sends_no_key(client: openai.OpenAI) -> None:
    kwargs = chat("Hi", system="Be brief.")
    assert openai_cache_key(kwargs) is None and "prompt_cache_key" not in apply_openai(kwargs, None)
    assert send(client, kwargs) == 0


def test_responses_instructions_are_keyed_and_read(client: openai.OpenAI) -> None:
    def respond(question: str) -> int:
        kwargs = {"model": "gpt-4o-mini", "instructions": SYSTEM, "input": question}
        response = client.responses.create(**apply_openai(kwargs, openai_cache_key(kwargs)))
        return response.usage.input_tokens_details.cached_tokens

    assert respond("How do I install it?") == 0
    assert respond("Does it support streaming?") >= 1024
