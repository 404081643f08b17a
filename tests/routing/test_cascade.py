"""Specification of cascade checks (each fails on its input, passes good answers) and escalation."""

from __future__ import annotations

import pytest

from costaware.core.errors import ConfigurationError
from costaware.core.routing import (
    DEFAULT_CHECKS,
    Answer,
    Cascade,
    Ladders,
    ToolCall,
    check,
    empty_answer,
    failed_tool_call,
    invalid_json,
    ladders,
    parse_json_answer,
    refusal,
    schema_error,
    schema_mismatch,
    truncated,
)

SCHEMA = {
    "type": "object",
    "required": ["name", "age", "tags"],
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "plan": {"enum": ["free", "pro"]},
    },
}
GOOD = [
    Answer(text="Paris is the capital of France.", finish_reason="end_turn"),
    Answer(text="I can confirm the meeting at 3pm.", finish_reason="stop"),
    Answer(text=None, finish_reason="tool_use", tool_calls=(ToolCall("get_weather", {"city": "Oslo"}),)),
    Answer(text="", finish_reason="tool_calls", tool_calls=(ToolCall("get_weather", '{"city": "Oslo"}'),)),
    Answer(text='{"name": "Ada", "age": 36, "tags": ["math"]}', wants_json=True, json_schema=SCHEMA),
    Answer(text='```json\n{"name": "Ada", "age": 36.0, "tags": []}\n```', json_schema=SCHEMA),
    Answer(text="[1, 2, 3]", wants_json=True),
]


@pytest.mark.parametrize("answer", GOOD)
def test_good_answers_pass_every_check(answer: Answer) -> None:
    assert check(answer) == (True, "ok")


@pytest.mark.parametrize("text", [None, "", "   \n"])
def test_empty_answer_fails(text: str | None) -> None:
    assert empty_answer(Answer(text=text)) == "empty answer"


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that request.",
        "I cannot provide medical advice.",
        "I'm unable to access your account.",
        "I\u2019m not able to do that.",  # typographic apostrophe
        "  **I won't** write that.",
        "Sorry, but I can't share internal documents.",
        "As an AI, I don't have opinions.",
    ],
)
def test_refusals_fail(text: str) -> None:
    assert (problem := refusal(Answer(text=text))) is not None and problem.startswith("refusal")


@pytest.mark.parametrize("reason", ["refusal", "content_filter"])
def test_refusal_finish_reasons_fail(reason: str) -> None:
    assert refusal(Answer(text="...", finish_reason=reason)) == f"refused (finish reason {reason})"


def test_refusal_language_later_in_an_answer_passes() -> None:
    assert (
        refusal(Answer(text="The function returns None, so I cannot see why it fails... Actually: fix X."))
        is None
    )


@pytest.mark.parametrize("reason", ["max_tokens", "length", "incomplete", "MAX_OUTPUT_TOKENS"])
def test_truncated_answers_fail(reason: str) -> None:
    assert (
        truncated(Answer(text="The answer is", finish_reason=reason)) == f"truncated: finish reason {reason}"
    )


@pytest.mark.parametrize("reason", [None, "end_turn", "stop", "stop_sequence", "tool_use", "completed"])
def test_finished_answers_are_not_truncated(reason: str | None) -> None:
    assert truncated(Answer(text="Done.", finish_reason=reason)) is None


def test_invalid_json_fails_only_when_json_was_asked_for() -> None:
    assert (problem := invalid_json(Answer(text='{"a": 1', wants_json=True))) is not None
    assert problem.startswith("invalid JSON")
    assert invalid_json(Answer(text="Sure! Here it is: {}", json_schema={"type": "object"})) is not None
    assert invalid_json(Answer(text='{"a": 1')) is None


def test_parse_json_answer_allows_one_fence() -> None:
    assert parse_json_answer('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_answer("```\n[1]\n```") == [1]
    with pytest.raises(ValueError):
        parse_json_answer("```json\nnope\n```")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"name": "Ada", "tags": []}', "$: missing required key 'age'"),
        ('{"name": "Ada", "age": "36", "tags": []}', "$.age: expected integer, got string"),
        ('{"name": "Ada", "age": true, "tags": []}', "$.age: expected integer, got boolean"),
        ('{"name": "Ada", "age": 36.5, "tags": []}', "$.age: expected integer, got number"),
        ('{"name": "Ada", "age": 36, "tags": ["a", 2]}', "$.tags[1]: expected string, got integer"),
        (
            '{"name": "Ada", "age": 36, "tags": [], "plan": "gold"}',
            "$.plan: 'gold' is not one of ['free', 'pro']",
        ),
        ('["Ada", 36]', "$: expected object, got array"),
    ],
)
def test_schema_mismatch_fails_with_the_path(text: str, problem: str) -> None:
    assert (
        schema_mismatch(Answer(text=text, json_schema=SCHEMA)) == f"JSON does not match the schema: {problem}"
    )


def test_schema_validator_subset() -> None:
    closed = {"type": "object", "properties": {"a": {"type": "number"}}, "additionalProperties": False}
    assert schema_error({"a": 1, "b": 2}, closed) == "$: unexpected key 'b'"
    assert schema_error({"a": 1.5}, closed) is None
    assert schema_error([1, 2, 3], {"type": "array", "maxItems": 2}) == "$: 3 items, more than 2"
    assert schema_error(None, {"type": ["string", "null"]}) is None
    assert schema_error("x", {"const": "y"}) == "$: expected 'y', got 'x'"
    assert schema_error({"a": 1}, {"name": "w", "schema": {"type": "object", "required": ["b"]}}) == (
        "$: missing required key 'b'"
    )
    assert schema_error({"x": 1}, {"$ref": "#/defs/x"}) is None  # unknown keywords are not judged
    deep: dict[str, object] = {"type": "array"}
    deep["items"] = deep  # a cyclic schema must not recurse forever
    value: list[object] = []
    for _ in range(200):
        value = [value]
    assert schema_error(value, deep) is None


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (ToolCall("search", '{"q": "oslo"'), "arguments are not valid JSON"),
        (ToolCall("search", '["oslo"]'), "not a JSON object"),
        (ToolCall("", "{}"), "tool call without a name"),
        (ToolCall("search", 42), "arguments are int"),
    ],
)
def test_failed_tool_calls_fail(call: ToolCall, fragment: str) -> None:
    answer = Answer(text=None, tool_calls=(ToolCall("ok", "{}"), call))
    assert (problem := failed_tool_call(answer)) is not None and fragment in problem


def test_check_reports_the_first_failure_in_order_then_accept() -> None:
    answer = Answer(text="I cannot", finish_reason="max_tokens")
    assert check(answer) == (False, "refusal: the answer starts 'i cannot'")
    assert check(answer, checks=(truncated, refusal))[1] == "truncated: finish reason max_tokens"
    assert check(Answer(text="short"), accept=lambda text: len(text) > 10) == (
        False,
        "rejected by <lambda>()",
    )
    assert check(Answer(text="long enough"), accept=lambda text: len(text) > 10) == (True, "ok")
    assert check(Answer(text=""), checks=()) == (True, "ok")


def test_default_checks_are_the_six() -> None:
    assert (
        empty_answer,
        refusal,
        truncated,
        invalid_json,
        schema_mismatch,
        failed_tool_call,
    ) == DEFAULT_CHECKS


@pytest.fixture(scope="module")
def tiers() -> Ladders:
    return ladders(environ={})


def test_cascade_climbs_the_ladder_and_stops_at_the_top(tiers: Ladders) -> None:
    ladder = tiers["anthropic"]
    cascade = Cascade()
    assert cascade.next_model("claude-haiku-4-5", ladder=ladder) == "claude-sonnet-4-6"
    assert cascade.next_model("claude-sonnet-4-6", hops=1, ladder=ladder) == "claude-opus-4-6"
    assert cascade.next_model("claude-opus-4-6", hops=0, ladder=ladder) is None
    assert cascade.next_model("claude-3-haiku-20240307", ladder=ladder) is None  # not on the ladder
    assert cascade.next_model("claude-haiku-4-5") is None  # no ladder, no models


def test_cascade_stops_at_the_hop_cap(tiers: Ladders) -> None:
    ladder = tiers["openai"]
    assert Cascade(max_hops=1).next_model("gpt-4.1", hops=1, ladder=ladder) is None
    assert Cascade(max_hops=1).chain("gpt-4.1-mini", ladder) == ("gpt-4.1-mini", "gpt-4.1")
    assert Cascade(max_hops=0).chain("gpt-4.1-mini", ladder) == ("gpt-4.1-mini",)
    assert Cascade(max_hops=5).chain("gpt-4.1-mini", ladder) == ("gpt-4.1-mini", "gpt-4.1", "o3")


def test_cascade_with_explicit_models(tiers: Ladders) -> None:
    cascade = Cascade(models=["claude-sonnet-4-6", "gpt-4.1", "claude-opus-4-6"], max_hops=3)
    assert cascade.next_model("claude-haiku-4-5") == "claude-sonnet-4-6"  # not listed: start of the list
    assert cascade.next_model("claude-sonnet-4-6") == "gpt-4.1"
    anthropic = tiers["anthropic"]
    assert cascade.next_model("claude-sonnet-4-6", ladder=anthropic) == "claude-opus-4-6"  # never crosses
    assert cascade.chain("claude-haiku-4-5", anthropic) == (
        "claude-haiku-4-5",
        "claude-sonnet-4-6",
        "claude-opus-4-6",
    )


def test_cascade_check_uses_its_checks_and_accept() -> None:
    cascade = Cascade(accept=lambda text: "because" in text, checks=(empty_answer,))
    assert cascade.check(Answer(text="I can't")) == (False, "rejected by <lambda>()")
    assert cascade.check(Answer(text="It is blue because of scattering.")) == (True, "ok")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_hops": -1}, "max_hops must be an int >= 0"),
        ({"max_hops": True}, "max_hops must be an int >= 0"),
        ({"models": []}, "non-empty list"),
        ({"models": "gpt-4.1"}, "non-empty list"),
        ({"models": ["a", "a"]}, "twice"),
        ({"accept": "yes"}, "accept must be a callable"),
        ({"checks": [None]}, "checks must be callables"),
    ],
)
def test_bad_cascade_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Cascade(**kwargs)


def test_a_cascade_naming_an_unpriced_model_is_refused_at_decoration() -> None:
    import costaware
    from costaware import cost_aware

    with pytest.raises(costaware.ConfigurationError, match=r"Cascade model\(s\) \['claude-imaginary-9'\]"):
        cost_aware(route=Cascade(models=["claude-haiku-4-5", "claude-imaginary-9"]))
    cost_aware(route=Cascade(models=["claude-haiku-4-5", "claude-sonnet-4-6"]))  # priced: accepted
