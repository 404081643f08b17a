"""The worst case a budget reserves covers everything a request can be billed for, and a call is never
charged less than it could have cost: OpenAI's ``n`` choices, output caps given as int subclasses,
impossible usage from the provider. Through the real clients against the simulator."""

from __future__ import annotations

import enum
import logging
from decimal import Decimal
from typing import Any

import pytest

import costaware
from costaware import Budget, BudgetExceededError, cost_aware
from costaware.providers.anthropic import MESSAGES
from costaware.providers.openai import CHAT
from costaware.steps.spend import output_cap, output_copies

from helpers import HAIKU, user

MINI = "gpt-4.1-mini"


class Cap(enum.IntEnum):
    SHORT = 40


def test_n_choices_are_in_the_worst_case(openai_client: Any, sim: Any, telemetry: Any) -> None:
    # One choice of 1000 tokens fits in $0.02 at gpt-4.1-mini's $1.60/Mtok output; sixteen do not.
    budget = Budget("0.02", key="n-choices")

    @cost_aware(budget=budget)
    def ask(n: int) -> Any:
        return openai_client.chat.completions.create(
            model=MINI, messages=user("Write a haiku about rain."), max_completion_tokens=1000, n=n
        )

    one = ask(1)
    assert len(one.choices) == 1
    with pytest.raises(BudgetExceededError) as refused:
        ask(16)
    assert sim.requests() == 1  # the 16-choice request was never sent
    assert refused.value.needed > 16 * 1000 * Decimal("1.60") / 1_000_000

    many = ask(4)  # 4 x 1000 tokens at most: fits, is sent, and its real cost (4 answers) is booked
    assert len(many.choices) == 4 and many.usage.completion_tokens == 4 * one.usage.completion_tokens
    status = costaware.budget_status(budget)
    assert status.spent <= budget.limit and status.reserved == 0


def test_n_choices_streamed_are_booked(openai_client: Any, sim: Any, telemetry: Any) -> None:
    budget = Budget("0.05", key="n-stream")

    @cost_aware(budget=budget)
    def ask() -> list[Any]:
        stream = openai_client.chat.completions.create(
            model=MINI,
            messages=user("Name three rivers."),
            max_completion_tokens=200,
            n=3,
            stream=True,
            stream_options={"include_usage": True},
        )
        return list(stream)

    chunks = ask()
    assert {c.choices[0].index for c in chunks if c.choices} == {0, 1, 2}
    completion_tokens = chunks[-1].usage.completion_tokens
    span = telemetry.span()
    assert span.attributes["gen_ai.usage.output_tokens"] == completion_tokens
    assert costaware.budget_status(budget).spent == Decimal(span.attributes["costaware.cost.usd_exact"])


def test_output_copies_reads_integral_values() -> None:
    assert output_copies({}, CHAT) == 1
    assert output_copies({"n": 16}, CHAT) == 16
    assert output_copies({"n": Cap.SHORT}, CHAT) == 40
    assert output_copies({"n": 0}, CHAT) == 1 and output_copies({"n": "3"}, CHAT) == 1
    assert output_copies({"n": True}, CHAT) == 1
    assert output_copies({"n": 4}, MESSAGES) == 1  # Anthropic has no n


@pytest.mark.parametrize("cap", [Cap.SHORT, type("MyInt", (int,), {})(40)])
def test_int_subclass_output_cap_is_kept_under_a_budget(
    anthropic_client: Any, sim: Any, telemetry: Any, cap: int
) -> None:
    @cost_aware(budget=1.0)
    def ask() -> Any:
        return anthropic_client.messages.create(
            model=HAIKU, max_tokens=cap, messages=user("Tell me a long story about a lighthouse.")
        )

    message = ask()
    assert message.usage.output_tokens <= 40  # the caller's cap, not the 16,384-token budget default
    span = telemetry.span()
    assert span.attributes["gen_ai.request.max_tokens"] == 40
    assert output_cap({"max_tokens": cap}, MESSAGES) == 40


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_negative_output_usage_is_charged_its_worst_case(
    anthropic_client: Any,
    openai_client: Any,
    sim: Any,
    telemetry: Any,
    caplog: pytest.LogCaptureFixture,
    provider: str,
) -> None:
    caplog.set_level(logging.WARNING, logger="costaware")
    budget = Budget("1", key=f"negative-{provider}")
    impossible = {"x-sim-usage": "negative"}

    @cost_aware(budget=budget)
    def ask() -> Any:
        if provider == "anthropic":
            return anthropic_client.messages.create(
                model=HAIKU, max_tokens=300, messages=user("hi"), extra_headers=impossible
            )
        return openai_client.chat.completions.create(
            model=MINI, max_completion_tokens=300, messages=user("hi"), extra_headers=impossible
        )

    response = ask()
    # The caller sees exactly what the provider sent.
    raw_output = response.usage.output_tokens if provider == "anthropic" else response.usage.completion_tokens
    assert raw_output < 0
    spent = costaware.budget_status(budget).spent
    # Charged the reserved worst case: at least the 300 output tokens the call could have been billed.
    output_rate = Decimal("5") if provider == "anthropic" else Decimal("1.60")
    assert spent >= 300 * output_rate / 1_000_000
    attributes = telemetry.span().attributes
    assert attributes["costaware.usage.missing"] is True
    assert "gen_ai.usage.output_tokens" not in attributes
    assert any("impossible token counts" in r.getMessage() for r in caplog.records)


def test_azure_stream_takes_the_first_nonempty_model_and_id(openai_client: Any, telemetry: Any) -> None:
    stream = openai_client.chat.completions.create(
        model=MINI,
        messages=user("hi"),
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-flavour": "azure"},
    )
    chunks = list(stream)
    assert chunks[0].model == "" and chunks[0].id == ""  # Azure's content-filter preamble
    attributes = telemetry.span().attributes
    assert attributes["gen_ai.response.model"] == MINI
    assert attributes["gen_ai.response.id"] == chunks[1].id != ""
    assert attributes["costaware.cost.unpriced"] is False


def test_an_endpoint_that_declares_no_prompt_fields_counts_every_argument() -> None:
    # A new adapter that forgets to declare its prompt fields over-estimates; it never undercounts.
    from dataclasses import replace

    from costaware.steps.spend import estimate_input_tokens

    undeclared = replace(CHAT, prompt_fields=())
    kwargs = {"model": MINI, "contents": "word " * 3000}
    assert estimate_input_tokens(kwargs, undeclared) >= 5 * 3000 // 3
    assert estimate_input_tokens(kwargs, CHAT) < 10  # "contents" is not a chat argument


def test_a_str_enum_key_counts_by_its_value() -> None:
    from costaware.core.tokens import tokens_at_most
    from costaware.steps.spend import estimate_input_tokens

    class Field(str, enum.Enum):
        DESCRIPTION = "description " * 250

    schema = {"type": "object", "properties": {Field.DESCRIPTION: {"type": "string"}}}
    kwargs = {"model": MINI, "messages": user("hi"), "tools": [{"type": "function", "parameters": schema}]}
    assert estimate_input_tokens(kwargs, CHAT) >= tokens_at_most(Field.DESCRIPTION.value)
