"""The capability model: ``x-sim-difficulty`` opts a request in; verdicts, failures and ground truth."""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections import Counter
from typing import Any

import anthropic
import openai
import pytest

from costaware.core.routing import Answer, invalid_json, refusal, schema_mismatch
from costaware.sim import Simulator
from costaware.sim.answers import answer_text
from costaware.sim.quality import (
    BAR,
    P_DETECT,
    TIER_SKILL,
    capability,
    judge,
    need,
    skill,
)
from costaware.sim.tokens import count_tokens

HAIKU, SONNET, OPUS = "claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6"
KEYS = [f"request {i}" for i in range(2000)]
SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["positive", "negative", "mixed"]},
        "confidence": {"type": "number"},
        "topics": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
    },
    "required": ["label", "confidence", "topics"],
    "additionalProperties": False,
}
JSON_FORMAT = {"format": {"type": "json_schema", "schema": SCHEMA}}


def ask(
    client: anthropic.Anthropic, text: str, difficulty: float | None, model: str = HAIKU, **extra: Any
) -> Any:
    headers = {} if difficulty is None else {"x-sim-difficulty": str(difficulty)}
    return client.messages.create(
        model=model,
        max_tokens=extra.pop("max_tokens", 1000),
        messages=[{"role": "user", "content": text}],
        extra_headers={**headers, **extra.pop("headers", {})},
        **extra,
    )


def test_the_difficulty_header_decides_the_verdict(claude: anthropic.Anthropic, sim: Simulator) -> None:
    easy = ask(claude, "Is 'Loved it' positive?", 0.1)
    hard = ask(claude, "Is 'Loved it' positive?", 0.9)
    log = sim.engine.quality_log()
    assert log[easy._request_id]["passed"] is True and log[easy._request_id]["difficulty"] == 0.1
    assert log[hard._request_id]["passed"] is False and log[hard._request_id]["difficulty"] == 0.9
    assert log[hard._request_id]["failure"] in ("detectable", "undetectable")


def test_need_rises_and_skill_orders_the_tiers() -> None:
    grid = [i / 100 for i in range(101)]
    assert all(need(a) < need(b) for a, b in itertools.pairwise(grid))
    assert list(TIER_SKILL) == sorted(TIER_SKILL) and skill(HAIKU) < skill(SONNET) < skill(OPUS)
    assert skill("gpt-4.1-mini") < skill("gpt-4.1") < skill("o3")
    for model in (HAIKU, SONNET, OPUS):
        values = [capability(model, difficulty=d) for d in grid]
        assert values == sorted(values, reverse=True)
        assert all(
            (capability(model, difficulty=d) >= BAR) == (skill(model) >= need(d) - 1e-12) for d in grid
        )


@pytest.mark.parametrize(
    ("model", "always", "never"),
    [(HAIKU, 0.25, 0.35), ("gpt-4.1-mini", 0.25, 0.35), (SONNET, 0.55, 0.65), ("gpt-4.1", 0.55, 0.65)],
)
def test_each_tier_meets_the_bar_up_to_its_stated_difficulty(model: str, always: float, never: float) -> None:
    assert all(judge(model, always, key).passed for key in KEYS)
    assert not any(judge(model, never + 0.001, key).passed for key in KEYS)
    middle = (always + never) / 2
    share = sum(judge(model, middle, key).passed for key in KEYS) / len(KEYS)
    assert 0.45 < share < 0.55


@pytest.mark.parametrize("model", [OPUS, "o3"])
def test_the_large_tier_meets_the_bar_up_to_095(model: str) -> None:
    assert all(judge(model, d / 100, key).passed for d in range(0, 96, 5) for key in KEYS[:200])
    assert all(judge(model, 0.95, key).passed for key in KEYS)


def test_failures_are_detectable_at_the_stated_rate() -> None:
    kinds = Counter(judge(HAIKU, 0.8, key).failure for key in KEYS)
    assert set(kinds) == {"detectable", "undetectable"}
    assert abs(kinds["detectable"] / len(KEYS) - P_DETECT) < 0.03


def test_verdicts_are_deterministic_per_request_and_model() -> None:
    assert [judge(HAIKU, 0.3, key) for key in KEYS[:50]] == [judge(HAIKU, 0.3, key) for key in KEYS[:50]]


def _answers(
    client: anthropic.Anthropic, sim: Simulator, **extra: Any
) -> dict[str, tuple[Any, dict[str, Any]]]:
    """One failing answer of each kind (Haiku always fails at d = 0.8), found by trying prompts."""
    found: dict[str, tuple[Any, dict[str, Any]]] = {}
    for i in range(60):
        message = ask(client, f"Review number {i}: it broke after a week.", 0.8, **extra)
        record = sim.engine.quality_log()[message._request_id]
        found.setdefault(record["failure"], (message, record))
        if len(found) == 2:
            return found
    raise AssertionError(f"found only {sorted(found)}")


def test_a_detectable_failure_is_a_refusal_the_cascade_checks_see(
    claude: anthropic.Anthropic, sim: Simulator
) -> None:
    found = _answers(claude, sim)
    bad = found["detectable"][0].content[0].text
    assert bad.startswith("I'm unable to") and refusal(Answer(text=bad)) is not None
    hidden = found["undetectable"][0].content[0].text
    assert refusal(Answer(text=hidden)) is None and hidden.strip()


def test_a_detectable_json_failure_is_invalid_json(claude: anthropic.Anthropic, sim: Simulator) -> None:
    found = _answers(claude, sim, output_config=JSON_FORMAT)
    broken = Answer(text=found["detectable"][0].content[0].text, wants_json=True, json_schema=SCHEMA)
    assert invalid_json(broken) is not None
    hidden = Answer(text=found["undetectable"][0].content[0].text, wants_json=True, json_schema=SCHEMA)
    assert invalid_json(hidden) is None and schema_mismatch(hidden) is None


def test_a_passing_json_answer_fits_the_schema(oai: openai.OpenAI, sim: Simulator) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4.1",
        messages=[{"role": "user", "content": "Classify: 'great value'"}],
        response_format={"type": "json_schema", "json_schema": {"name": "label", "schema": SCHEMA}},
        extra_headers={"x-sim-difficulty": "0.1"},
    )
    answer = Answer(text=completion.choices[0].message.content, wants_json=True, json_schema=SCHEMA)
    assert invalid_json(answer) is None and schema_mismatch(answer) is None
    assert sim.engine.quality_log()[completion._request_id]["passed"] is True


def test_ground_truth_is_in_headers_the_log_and_the_control_endpoint(
    claude: anthropic.Anthropic, sim: Simulator
) -> None:
    raw = claude.messages.with_raw_response.create(
        model=OPUS,
        max_tokens=500,
        messages=[{"role": "user", "content": "Prove it."}],
        extra_headers={"x-sim-difficulty": "0.9"},
    )
    assert raw.headers["x-sim-quality"] == "pass" and "x-sim-quality-failure" not in raw.headers
    request_id = raw.parse()._request_id
    with urllib.request.urlopen(f"{sim.url}/_sim/quality") as response:
        served = json.load(response)
    assert served[request_id]["model"] == OPUS and served[request_id]["passed"] is True
    failing = claude.messages.with_raw_response.create(
        model=HAIKU,
        max_tokens=500,
        messages=[{"role": "user", "content": "Prove it."}],
        extra_headers={"x-sim-difficulty": "0.9"},
    )
    assert failing.headers["x-sim-quality"] == "fail"
    assert failing.headers["x-sim-quality-failure"] in ("detectable", "undetectable")
    sim.reset()
    assert sim.engine.quality_log() == {}


def test_streams_are_judged_too(claude: anthropic.Anthropic, sim: Simulator) -> None:
    with claude.messages.stream(
        model=SONNET,
        max_tokens=500,
        messages=[{"role": "user", "content": "Summarise this."}],
        extra_headers={"x-sim-difficulty": "0.4"},
    ) as stream:
        text = stream.get_final_text()
    (record,) = sim.engine.quality_log().values()
    assert record["passed"] is True and text


def test_answer_tokens_header_sets_the_answer_length(claude: anthropic.Anthropic) -> None:
    message = ask(claude, "Review this code.", 0.2, headers={"x-sim-answer-tokens": "400"})
    assert 380 <= message.usage.output_tokens <= 400


def test_an_answer_cut_by_max_tokens_fails_the_bar(claude: anthropic.Anthropic, sim: Simulator) -> None:
    message = ask(claude, "Explain.", 0.1, max_tokens=10, headers={"x-sim-answer-tokens": "300"})
    assert message.stop_reason == "max_tokens"
    assert sim.engine.quality_log()[message._request_id]["failure"] == "truncated"


def test_requests_without_the_header_are_answered_as_before(
    claude: anthropic.Anthropic, sim: Simulator
) -> None:
    message = ask(claude, "Hello there", None, model=HAIKU)
    assert message.content[0].text == answer_text("user: Hello there")
    assert message.usage.output_tokens == count_tokens(answer_text("user: Hello there"))
    assert sim.engine.quality_log() == {}
    assert 0.0 <= capability(HAIKU, "Hello there") <= 1.0


@pytest.mark.parametrize(
    "headers", [{"x-sim-difficulty": "1.5"}, {"x-sim-difficulty": "hard"}, {"x-sim-answer-tokens": "0"}]
)
def test_bad_quality_headers_are_a_400(claude: anthropic.Anthropic, headers: dict[str, str]) -> None:
    with pytest.raises(anthropic.BadRequestError):
        claude.messages.create(
            model=HAIKU, max_tokens=10, messages=[{"role": "user", "content": "hi"}], extra_headers=headers
        )
