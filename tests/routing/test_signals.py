"""Specification of request signals: what is read from each SDK's arguments, within what bounds."""

from __future__ import annotations

import time
from typing import Any

import pytest

from costaware.core.routing import Signals, requested_json, signals
from costaware.core.routing.reading import SCAN_HEAD, SCAN_TAIL
from costaware.sim.tokens import prompt_tokens

from .corpus import ALL, GO_CODE, PY_CODE, document


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-haiku-4-5",
        "max_tokens": 500,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def test_anthropic_counts_system_messages_turns_and_images() -> None:
    kwargs = {
        "system": [{"type": "text", "text": "Be brief."}],
        "messages": [
            {
                "role": "user",
                "content": [{"type": "image", "source": {}}, {"type": "text", "text": "What is this?"}],
            },
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "look", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a cat"}]},
            {
                "role": "user",
                "content": [{"type": "document", "source": {}}, {"type": "text", "text": "And this?"}],
            },
        ],
        "tools": [{"name": "look"}],
        "max_tokens": 300,
    }
    s = signals(kwargs)
    assert s.prompt_chars == len("Be brief.") + len("What is this?") + len("a cat") + len("And this?")
    assert (s.messages, s.user_turns, s.images, s.files, s.tools, s.max_tokens) == (4, 2, 1, 1, 1, 300)
    assert s.questions == 1  # only the last user message is scanned for the ask


def test_openai_chat_reads_system_role_tool_calls_and_response_format() -> None:
    kwargs = {
        "model": "gpt-4.1",
        "messages": [
            {"role": "developer", "content": "Answer in JSON."},
            {
                "role": "user",
                "content": [{"type": "text", "text": "Weather?"}, {"type": "image_url", "image_url": {}}],
            },
            {
                "role": "assistant",
                "tool_calls": [{"function": {"name": "w", "arguments": '{"city":"Oslo"}'}}],
            },
            {"role": "tool", "content": "sunny"},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "w", "schema": {"type": "object"}},
        },
        "max_completion_tokens": 64,
    }
    s = signals(kwargs)
    assert s.prompt_chars == len("Answer in JSON.") + len("Weather?") + len('{"city":"Oslo"}') + len("sunny")
    assert (s.user_turns, s.images, s.max_tokens) == (1, 1, 64)
    assert s.json_requested and s.json_schema and s.json_mentioned


def test_openai_responses_reads_instructions_and_input_items() -> None:
    kwargs = {
        "model": "gpt-4.1",
        "instructions": "You review code.",
        "input": [
            {
                "role": "user",
                "content": [{"type": "input_text", "text": "Review this"}, {"type": "input_image"}],
            },
            {"type": "function_call", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "output": "done"},
        ],
        "text": {"format": {"type": "json_object"}},
        "max_output_tokens": 2000,
    }
    s = signals(kwargs)
    assert (s.messages, s.user_turns, s.images, s.max_tokens) == (3, 1, 1, 2000)
    assert s.review_terms == ("review",) and s.json_requested and not s.json_schema
    assert signals({"input": "Why?"}).questions == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PY_CODE, True),
        (GO_CODE, True),  # no fence: line endings tell
        ("See `foo()` in the docs; it is fine.", False),
        ("Use a dict like {a: 1} and call it a day.", False),
    ],
)
def test_code_detection(text: str, expected: bool) -> None:
    assert signals(user(text)).has_code is expected


def test_multi_step_language_and_numbered_parts() -> None:
    assert signals(user("Explain step-by-step how TLS works.")).step_language
    assert signals(user("First list the files, then delete the old ones.")).step_language
    assert not signals(user("Then what?")).step_language
    s = signals(user("Answer:\n1. What is X?\n2) Why Y?\n3. How Z?"))
    assert s.numbered_items == 3 and s.multi_step and s.questions == 3


def test_words_match_whole_and_in_groups() -> None:
    s = signals(user("How can we improve the proofreading of our approval flow?"))
    assert s.hard_terms == ()  # "improve" is not "prove", "proofreading" is not "proof"
    s = signals(user("Prove the lemma by induction and analyze the trade-offs. Why?"))
    assert s.hard_terms == ("induction", "prove", "theorem", "trade-off")
    assert s.analysis_terms == ("analyze", "why")
    s = signals(user("Please CLASSIFY and Extract; summarise. Review & debug."))
    assert (s.simple_terms, s.summary_terms, s.review_terms) == (
        ("classify", "extract"),
        ("summarize",),
        ("debug", "review"),
    )


def test_words_deep_inside_a_pasted_document_do_not_count() -> None:
    middle = "We must prove the theorem and analyze the architecture."
    doc = document("report", 3000, 1) + "\n\n" + middle + "\n\n" + document("report", 3000, 2)
    s = signals(user("Summarize this.\n\n" + doc + "\n\nThanks, keep it short."))
    assert s.summary_terms == ("summarize",)
    assert s.hard_terms == () and "analyze" not in s.analysis_terms


def test_the_task_in_the_last_paragraph_of_a_long_message_counts() -> None:
    doc = document("contract", 10_000, 3)
    s = signals(user(doc + "\n\nCompare the termination clauses and explain why they differ."))
    assert s.analysis_terms == ("compare", "why")


def test_estimated_tokens_agree_with_the_simulator() -> None:
    for example in ALL:
        if example.kwargs.get("tools") or example.provider != "anthropic":
            continue
        found = signals(example.kwargs)
        if found.images:
            continue  # the simulator counts an image block's JSON; we count text only
        sims = prompt_tokens("anthropic", example.kwargs)
        # the simulator also counts a "role: " prefix and a newline per message (~3 tokens)
        assert abs(found.estimated_tokens - sims) <= 3 * found.messages + 0.05 * sims, example.name


def test_requested_json_reads_every_sdks_format_option() -> None:
    schema = {"type": "object", "required": ["a"]}
    assert requested_json(
        {"response_format": {"type": "json_schema", "json_schema": {"schema": schema}}}
    ) == (True, schema)
    assert requested_json({"text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}}) == (
        True,
        schema,
    )
    assert requested_json({"output_config": {"format": {"type": "json_schema", "schema": schema}}}) == (
        True,
        schema,
    )
    assert requested_json({"output_format": dict}) == (True, None)
    assert requested_json({"response_format": {"type": "text"}}) == (False, None)
    assert requested_json({}) == (False, None)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"messages": None},
        {"messages": "hello"},
        {"messages": [None, 3, "x", {"role": "user", "content": 5}]},
        {"messages": [{"role": "user", "content": [None, 1, {"type": "text", "text": None}]}]},
        {"system": 12, "tools": "many", "max_tokens": True},
        {"input": [{"type": "function_call_output", "output": None}]},
        {"messages": [{"role": "assistant", "tool_calls": [None, {"function": "x"}]}]},
    ],
)
def test_malformed_arguments_give_signals_not_errors(kwargs: dict[str, Any]) -> None:
    assert isinstance(signals(kwargs), Signals)
    assert signals("not a mapping") == Signals()


def test_as_pairs_are_numbers_named_like_the_fields() -> None:
    s = signals(user("Compare A and B. Why?"))
    pairs = dict(s.as_pairs())
    assert list(pairs) == list(Signals._fields)
    assert pairs["analysis_terms"] == 2.0 and pairs["questions"] == 1.0
    assert all(isinstance(value, float) for value in pairs.values())


def test_scanning_is_bounded_on_huge_and_adversarial_text() -> None:
    nasty = [
        "a" * 2_000_000,
        "1. " * 300_000,
        "\n1." * 300_000,
        "```" * 300_000,
        ";\n{\n):\n" * 200_000,
        "prove " * 300_000,
    ]
    for text in nasty:
        started = time.perf_counter()
        signals(user(text))
        assert time.perf_counter() - started < 0.05, text[:10]


def test_scan_windows_are_documented_sizes() -> None:
    # the word window of a long message is at most its first and last paragraph within these bounds
    assert (SCAN_HEAD, SCAN_TAIL) == (1500, 700)


def test_routing_a_request_stays_far_below_a_millisecond() -> None:
    # A regression guard, not the benchmark (that is in the module docs): a generous bound so a
    # loaded machine does not fail it, while a quadratic scan or a backtracking regex would.
    from costaware.core.routing import ladders, route

    tiers = ladders(environ={})
    costs = []
    for example in ALL:
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter()
            route("auto", example.provider, example.kwargs, tiers)
            best = min(best, time.perf_counter() - started)
        costs.append(best)
    costs.sort()
    assert costs[len(costs) // 2] < 0.0005 and costs[-1] < 0.005
