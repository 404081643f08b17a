"""Leaving a warm prompt cache: the rule (pure) and how a request's static prefix is read, by shape."""

from __future__ import annotations

import doctest
import json
from decimal import Decimal

import pytest

from costaware.core.pricing import ModelPrice
from costaware.core.routing import warmth
from costaware.core.routing.warmth import characters_after, leave_cutoff, static_prefix

HAIKU = ModelPrice(input=Decimal(1), output=Decimal(5), cache_read=Decimal("0.1"))
SONNET = ModelPrice(input=Decimal(3), output=Decimal(15), cache_read=Decimal("0.3"))


def test_doctests() -> None:
    assert doctest.testmod(warmth).failed == 0


@pytest.mark.parametrize("cutoff", [0.05, 0.2, 0.42, 0.6, 0.9])
def test_the_cutoff_only_rises_and_by_at_most_the_price_structure(cutoff: float) -> None:
    all_prefix = leave_cutoff(cutoff, 10_000, 10_000, HAIKU, SONNET)
    half = leave_cutoff(cutoff, 5_000, 10_000, HAIKU, SONNET)
    none = leave_cutoff(cutoff, 0, 10_000, HAIKU, SONNET)
    assert none == pytest.approx(cutoff)
    assert cutoff < half < all_prefix < 1.0
    odds = all_prefix / (1 - all_prefix) / (cutoff / (1 - cutoff))
    assert odds == pytest.approx((3 - 0.1) / (3 - 1))  # the largest the move's extra cost can be


def test_no_change_when_the_cold_model_is_not_dearer_or_the_cutoff_is_degenerate() -> None:
    assert leave_cutoff(0.42, 10_000, 10_050, SONNET, HAIKU) == 0.42
    assert leave_cutoff(0.0, 10_000, 10_050, HAIKU, SONNET) == 0.0
    assert leave_cutoff(1.0, 10_000, 10_050, HAIKU, SONNET) == 1.0
    assert leave_cutoff(0.42, 10_000, 0, HAIKU, SONNET) == 0.42
    no_read_price = ModelPrice(input=Decimal(1), output=Decimal(5))
    assert leave_cutoff(0.42, 10_000, 10_050, no_read_price, SONNET) == pytest.approx(0.42)


def test_static_prefix_reads_every_shape() -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    anthropic = static_prefix(
        {"system": "Policy.", "tools": tools, "messages": [{"role": "user", "content": "Q"}]}
    )
    chat = static_prefix(
        {
            "messages": [
                {"role": "system", "content": "Policy."},
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Q"},
            ]
        }
    )
    responses = static_prefix({"instructions": "Policy.", "input": "Q"})
    assert anthropic is not None and "Policy." in anthropic[0] and "lookup" in anthropic[0]
    assert chat is not None and "Be brief." in chat[0] and '"Q"' not in chat[0]
    assert responses is not None and "Policy." in responses[0] and (characters_after(responses) or 0) > 0
    # The prefix is the same text whatever the question: the question is not part of it.
    other = static_prefix({"instructions": "Policy.", "input": "Another question entirely"})
    assert other is not None and other[0] == responses[0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"messages": [{"role": "user", "content": "Hi"}]},
        {"input": "Hi"},
        "not a mapping",
        {"messages": 3},
    ],
)
def test_no_static_prefix(kwargs: object) -> None:
    assert static_prefix(kwargs) is None  # type: ignore[arg-type]


def test_an_unserialisable_request_has_no_prefix_rather_than_an_error() -> None:
    loop: list[object] = []
    loop.append(loop)
    assert static_prefix({"system": loop, "messages": []}) is None


def test_what_follows_the_prefix_is_measured_as_its_json_only_when_asked() -> None:
    turns = [{"role": "user", "content": [{"type": "text", "text": "Read this, caf\u00e9."}]}]
    found = static_prefix({"system": "Policy.", "messages": turns})
    assert found is not None and "Policy." in found.text and found.after == turns
    assert characters_after(found) == len(json.dumps(turns, ensure_ascii=False))
    loop: list[object] = []
    loop.append(loop)
    cyclic = static_prefix({"system": "Policy.", "messages": [{"role": "user", "content": loop}]})
    assert cyclic is not None and characters_after(cyclic) is None  # nothing to weigh, no error


def test_a_turns_conversation_key_is_the_next_turns_previous_key() -> None:
    from costaware.steps.routing import Affinity

    blocks = [{"type": "text", "text": "Read this."}]
    turns = [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi"},
        {"role": "user", "content": blocks},
    ]
    previous, current = Affinity.keys("anthropic", {"system": "S", "messages": turns[:1]})
    assert previous is None and current is not None
    later_previous, later = Affinity.keys("anthropic", {"system": "S", "messages": turns})
    assert later_previous == current and later not in (None, current)
    # Another system prompt or provider is another conversation; so is a string spelling a turn's JSON.
    assert Affinity.keys("anthropic", {"system": "T", "messages": turns[:1]})[1] != current
    assert Affinity.keys("openai", {"system": "S", "messages": turns[:1]})[1] != current
    spelled = {"role": "user", "content": '[{"text": "Read this.", "type": "text"}]'}
    assert Affinity.keys("anthropic", {"system": "S", "messages": [*turns[:2], spelled]})[1] != later
    assert Affinity.keys("anthropic", {"messages": "not a list"}) == (None, None)


def test_a_prefix_stays_warm_for_the_cache_lifetime_only() -> None:
    """A model counts as holding a prefix for ``WARM_S`` after it read it (the prompt cache's default
    lifetime), for that provider, model and prefix only."""
    from costaware.steps import routing

    now = [100.0]
    affinity = routing.Affinity(clock=lambda: now[0])
    kwargs = {
        "system": "You answer questions about costaware.",
        "messages": [{"role": "user", "content": "Hi"}],
    }
    prefix = static_prefix(kwargs)
    footprint = affinity.footprint("anthropic", kwargs, prefix)
    assert footprint is not None and prefix is not None
    affinity.remember(footprint, "claude-haiku-4-5", at=90.0)  # read 10 s ago, answered now
    assert affinity.warm("anthropic", "claude-haiku-4-5", prefix[0])
    assert not affinity.warm("anthropic", "claude-sonnet-4-6", prefix[0])
    assert not affinity.warm("openai", "claude-haiku-4-5", prefix[0])
    now[0] = 90.0 + routing.WARM_S
    assert affinity.warm("anthropic", "claude-haiku-4-5", prefix[0])
    now[0] += 0.5  # the lifetime counts from when the prompt was read, not from the answer's end
    assert not affinity.warm("anthropic", "claude-haiku-4-5", prefix[0])
