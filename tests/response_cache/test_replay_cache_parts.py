"""What a request's answer depends on: ``Endpoint.replay.cache_parts`` for every cacheable endpoint.

``context`` must change with everything that changes the answer except the last user turn's wording,
and with nothing else (transport options, prompt-cache markers); the wording is ``question``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import anthropic
import openai
import pydantic
import pytest

from costaware.core.types import CacheParts
from costaware.providers.anthropic import MESSAGES
from costaware.providers.openai import CHAT, EMBEDDINGS, RESPONSES

EPHEMERAL = {"type": "ephemeral"}
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
ANTHROPIC: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 300,
    "system": "You are terse.",
    "tools": [TOOL],
    "messages": [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi. What do you need?"},
        {"role": "user", "content": "What is the weather in Paris?"},
    ],
}
CHAT_REQUEST: dict[str, Any] = {
    "model": "gpt-4.1-mini",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "What is the weather in Paris?"},
    ],
}
RESPONSES_REQUEST: dict[str, Any] = {
    "model": "gpt-4.1-mini",
    "instructions": "You are terse.",
    "input": "What is the weather in Paris?",
}


def anthropic_parts(kwargs: Mapping[str, Any]) -> CacheParts:
    assert MESSAGES.replay is not None
    return MESSAGES.replay.cache_parts(kwargs)


def chat_parts(kwargs: Mapping[str, Any]) -> CacheParts:
    assert CHAT.replay is not None
    return CHAT.replay.cache_parts(kwargs)


def responses_parts(kwargs: Mapping[str, Any]) -> CacheParts:
    assert RESPONSES.replay is not None
    return RESPONSES.replay.cache_parts(kwargs)


def changed(base: dict[str, Any], edit: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    new = copy.deepcopy(base)
    edit(new)
    return new


def with_markers(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``kwargs`` with prompt-cache markers on the tools, the system prompt and every message, as
    costaware's planner (or a user) places them; string prompts become the text blocks they mean."""
    marked = copy.deepcopy(kwargs)
    marked["tools"] = [{**tool, "cache_control": EPHEMERAL} for tool in marked["tools"]]
    marked["system"] = [
        {"type": "text", "text": marked["system"], "cache_control": {**EPHEMERAL, "ttl": "1h"}}
    ]
    marked["messages"] = [
        {**m, "content": [{"type": "text", "text": m["content"], "cache_control": EPHEMERAL}]}
        for m in marked["messages"]
    ]
    marked["cache_control"] = EPHEMERAL
    return marked


# -- what does not change the context --------------------------------------------------------------


def test_prompt_cache_markers_do_not_change_the_anthropic_context() -> None:
    plain, marked = anthropic_parts(ANTHROPIC), anthropic_parts(with_markers(ANTHROPIC))
    assert marked == plain


@pytest.mark.parametrize(
    ("parts", "base"),
    [(anthropic_parts, ANTHROPIC), (chat_parts, CHAT_REQUEST), (responses_parts, RESPONSES_REQUEST)],
)
def test_transport_and_bookkeeping_options_do_not_change_the_context(
    parts: Callable[[Mapping[str, Any]], CacheParts], base: dict[str, Any]
) -> None:
    noisy = {
        **base,
        "stream": True,
        "stream_options": {"include_usage": True},
        "extra_headers": {"x-trace": "1"},
        "extra_query": {"q": "1"},
        "timeout": 30,
        "metadata": {"user_id": "u1"},
        "user": "u1",
        "store": True,
        "prompt_cache_key": "k",
        "service_tier": "auto",
        "safety_identifier": "s",
    }
    assert parts(noisy) == parts(base)


def test_arguments_left_unset_by_sentinels_do_not_change_the_context() -> None:
    assert anthropic_parts({**ANTHROPIC, "temperature": anthropic.NOT_GIVEN, "top_k": anthropic.omit}) == (
        anthropic_parts(ANTHROPIC)
    )
    assert chat_parts({**CHAT_REQUEST, "seed": openai.omit, "n": openai.NOT_GIVEN}) == chat_parts(
        CHAT_REQUEST
    )


def test_an_integral_float_reads_as_the_integer() -> None:
    assert (
        chat_parts({**CHAT_REQUEST, "temperature": 1.0}).context
        == chat_parts({**CHAT_REQUEST, "temperature": 1}).context
    )


# -- what changes the context ----------------------------------------------------------------------


class Capital(pydantic.BaseModel):
    country: str
    city: str


class Weather(pydantic.BaseModel):
    city: str
    celsius: float


ANTHROPIC_EDITS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "model": lambda k: k.update(model="claude-haiku-4-5"),
    "system": lambda k: k.update(system="You are verbose."),
    "tools": lambda k: k["tools"][0].update(description="Weather and wind for a city"),
    "tool_choice": lambda k: k.update(tool_choice={"type": "any"}),
    "earlier turn": lambda k: k["messages"][1].update(content="Hello! What do you need?"),
    "temperature": lambda k: k.update(temperature=0.2),
    "max_tokens": lambda k: k.update(max_tokens=301),
    "stop_sequences": lambda k: k.update(stop_sequences=["END"]),
    "thinking": lambda k: k.update(thinking={"type": "enabled", "budget_tokens": 2048}),
    "output format": lambda k: k.update(output_format=Capital),
    "unknown argument": lambda k: k.update(extra_body={"inference_geo": "eu"}),
    "last turn structure": lambda k: k["messages"][-1].update(role="assistant"),
}


@pytest.mark.parametrize("edit", ANTHROPIC_EDITS.values(), ids=ANTHROPIC_EDITS.keys())
def test_what_changes_the_answer_changes_the_anthropic_context(edit: Callable[[dict[str, Any]], Any]) -> None:
    assert anthropic_parts(changed(ANTHROPIC, edit)).context != anthropic_parts(ANTHROPIC).context


CHAT_EDITS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "model": lambda k: k.update(model="gpt-4.1"),
    "system": lambda k: k["messages"][0].update(content="You are verbose."),
    "tools": lambda k: k.update(tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]),
    "temperature": lambda k: k.update(temperature=0.3),
    "top_p": lambda k: k.update(top_p=0.5),
    "seed": lambda k: k.update(seed=7),
    "max_completion_tokens": lambda k: k.update(max_completion_tokens=50),
    "reasoning_effort": lambda k: k.update(reasoning_effort="low"),
    "response_format dict": lambda k: k.update(response_format={"type": "json_object"}),
    "response_format class": lambda k: k.update(response_format=Capital),
    "earlier turn": lambda k: k["messages"].insert(1, {"role": "user", "content": "Earlier question"}),
}


@pytest.mark.parametrize("edit", CHAT_EDITS.values(), ids=CHAT_EDITS.keys())
def test_what_changes_the_answer_changes_the_chat_context(edit: Callable[[dict[str, Any]], Any]) -> None:
    assert chat_parts(changed(CHAT_REQUEST, edit)).context != chat_parts(CHAT_REQUEST).context


RESPONSES_EDITS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "model": lambda k: k.update(model="gpt-4.1"),
    "instructions": lambda k: k.update(instructions="You are verbose."),
    "text format": lambda k: k.update(text={"format": {"type": "json_object"}}),
    "text_format class": lambda k: k.update(text_format=Capital),
    "reasoning": lambda k: k.update(reasoning={"effort": "high"}),
    "max_output_tokens": lambda k: k.update(max_output_tokens=64),
    "previous_response_id": lambda k: k.update(previous_response_id="resp_1"),
    "input as items": lambda k: k.update(
        input=[
            {"role": "user", "content": "Earlier question"},
            {"role": "assistant", "content": "Earlier answer"},
            {"role": "user", "content": k["input"]},
        ]
    ),
}


@pytest.mark.parametrize("edit", RESPONSES_EDITS.values(), ids=RESPONSES_EDITS.keys())
def test_what_changes_the_answer_changes_the_responses_context(edit: Callable[[dict[str, Any]], Any]) -> None:
    assert (
        responses_parts(changed(RESPONSES_REQUEST, edit)).context
        != responses_parts(RESPONSES_REQUEST).context
    )


def test_different_output_schemas_give_different_contexts() -> None:
    assert (
        chat_parts({**CHAT_REQUEST, "response_format": Capital}).context
        != chat_parts({**CHAT_REQUEST, "response_format": Weather}).context
    )


def test_the_endpoint_is_part_of_the_context() -> None:
    """A stored chat completion must never answer a Responses call, whatever the arguments."""
    same = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    assert chat_parts(same).context != responses_parts(same).context


# -- the question ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parts", "base", "reword"),
    [
        (anthropic_parts, ANTHROPIC, lambda k: k["messages"][-1].update(content="How warm is Paris today?")),
        (chat_parts, CHAT_REQUEST, lambda k: k["messages"][-1].update(content="How warm is Paris today?")),
        (responses_parts, RESPONSES_REQUEST, lambda k: k.update(input="How warm is Paris today?")),
    ],
)
def test_rewording_the_last_user_turn_changes_only_the_question(
    parts: Callable[[Mapping[str, Any]], CacheParts],
    base: dict[str, Any],
    reword: Callable[[dict[str, Any]], Any],
) -> None:
    before, after = parts(base), parts(changed(base, reword))
    assert before.question == "What is the weather in Paris?"
    assert after.question == "How warm is Paris today?"
    assert after.context == before.context
    assert after.blockers == before.blockers == ()


def test_a_text_block_last_turn_reads_as_a_string_one() -> None:
    blocks = changed(ANTHROPIC, lambda k: k["messages"][-1].update(content=[{"type": "text", "text": "Hi"}]))
    string = changed(ANTHROPIC, lambda k: k["messages"][-1].update(content="Hi"))
    assert anthropic_parts(blocks) == anthropic_parts(string)


def test_text_parts_are_joined_and_their_split_stays_in_the_context() -> None:
    def last(*texts: str) -> dict[str, Any]:
        content = [{"type": "text", "text": text} for text in texts]
        return changed(CHAT_REQUEST, lambda k: k["messages"][-1].update(content=content))

    one, other = chat_parts(last("ab", "c")), chat_parts(last("a", "bc"))
    assert one.question == "ab\nc"
    assert one.context != other.context  # context + question give back the exact request


def test_responses_item_list_ending_in_user_text_has_a_question() -> None:
    request = {
        **RESPONSES_REQUEST,
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi there"}]}
        ],
    }
    assert responses_parts(request).question == "Hi there"


@pytest.mark.parametrize(
    "last",
    [
        {"role": "assistant", "content": "The weather in Paris is"},  # a prefill
        {
            "role": "user",
            "content": [{"type": "text", "text": "What is this?"}, {"type": "image", "source": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "18C"}]},
    ],
    ids=["prefill", "image", "tool result"],
)
def test_a_last_turn_that_is_not_only_user_text_has_no_question(last: dict[str, Any]) -> None:
    parts = anthropic_parts(changed(ANTHROPIC, lambda k: k["messages"].__setitem__(-1, last)))
    assert parts.question is None


# -- blockers, temperature, copies -----------------------------------------------------------------


def test_tool_results_block_caching() -> None:
    anthropic_request = changed(
        ANTHROPIC,
        lambda k: k["messages"].insert(
            2, {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "x"}]}
        ),
    )
    chat_request = changed(
        CHAT_REQUEST,
        lambda k: k["messages"].insert(1, {"role": "tool", "tool_call_id": "c", "content": "18C"}),
    )
    responses_request = {
        **RESPONSES_REQUEST,
        "input": [
            {"type": "function_call_output", "call_id": "c", "output": "18C"},
            {"role": "user", "content": "So?"},
        ],
    }
    assert "tool_results" in anthropic_parts(anthropic_request).blockers
    assert "tool_results" in chat_parts(chat_request).blockers
    assert "tool_results" in responses_parts(responses_request).blockers


def test_images_and_files_block_caching() -> None:
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    anthropic_request = changed(ANTHROPIC, lambda k: k["messages"][0].update(content=[image]))
    chat_request = changed(
        CHAT_REQUEST,
        lambda k: k["messages"][-1].update(
            content=[{"type": "text", "text": "What?"}, {"type": "image_url", "image_url": {"url": "u"}}]
        ),
    )
    responses_request = {
        **RESPONSES_REQUEST,
        "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}],
    }
    assert anthropic_parts(anthropic_request).blockers == ("images",)
    assert chat_parts(chat_request).blockers == ("images",)
    assert chat_parts(chat_request).question is None
    assert responses_parts(responses_request).blockers == ("images",)


def test_several_choices_block_caching_and_are_counted() -> None:
    parts = chat_parts({**CHAT_REQUEST, "n": 3})
    assert parts.blockers == ("n>1",)
    assert parts.copies == 3
    assert chat_parts(CHAT_REQUEST).copies == 1


def test_a_server_side_conversation_blocks_caching() -> None:
    assert responses_parts({**RESPONSES_REQUEST, "conversation": "conv_1"}).blockers == ("conversation",)


def test_temperature_is_reported_for_the_caller_to_judge() -> None:
    assert anthropic_parts({**ANTHROPIC, "temperature": 0.7}).temperature == 0.7
    assert chat_parts(CHAT_REQUEST).temperature is None
    assert chat_parts({**CHAT_REQUEST, "temperature": 0}).temperature == 0.0


def test_messages_given_as_an_iterator_are_not_consumed_and_block_caching() -> None:
    messages = iter(CHAT_REQUEST["messages"])
    parts = chat_parts({**CHAT_REQUEST, "messages": messages})
    assert parts.blockers == ("unreadable",)
    assert len(list(messages)) == 2


def test_pydantic_request_values_read_as_their_wire_form() -> None:
    class Message(pydantic.BaseModel):
        role: str
        content: str

    as_models = {**CHAT_REQUEST, "messages": [Message(**m) for m in CHAT_REQUEST["messages"]]}
    assert chat_parts(as_models) == chat_parts(CHAT_REQUEST)


def test_embeddings_are_not_cacheable() -> None:
    assert EMBEDDINGS.replay is None


def test_a_responses_answer_made_with_store_false_never_answers_a_storing_call() -> None:
    """A replayed response keeps its id, which the API never kept when store=False."""
    assert responses_parts({**RESPONSES_REQUEST, "store": False}) != responses_parts(RESPONSES_REQUEST)
    assert responses_parts({**RESPONSES_REQUEST, "store": True}) == responses_parts(RESPONSES_REQUEST)
