"""Specification of explain(): a readable account of a routing decision, and the modules' examples."""

from __future__ import annotations

import doctest
import importlib

import pytest

from costaware.core.routing import Labels, explain, ladders


def test_explain_lists_signals_contributions_and_the_choice() -> None:
    text = explain("Prove by induction that 1 + 3 + ... + (2n-1) = n^2. Why does it work?")
    assert "Prompt: 69 chars, ~18 tokens (anthropic)" in text
    assert "hard-problem words" in text and "induction, prove" in text
    assert "+5.00  hard" in text and "thresholds: medium >= 2.00, large >= 4.50" in text
    assert "Chosen: large -> claude-opus-4-6" in text
    assert "Why: score 6.00 >= large threshold 4.50 -> claude-opus-4-6" in text


def test_explain_for_openai_and_a_small_prompt() -> None:
    text = explain("Translate 'good morning' to Spanish.", provider="openai")
    assert "-1.50  simple" in text and "Chosen: small -> gpt-4.1-mini (requested o3, policy auto)" in text


def test_explain_other_policies_without_scores() -> None:
    text = explain("anything", policy=Labels({"faq": "small"}), label="support.faq", model="claude-opus-4-6")
    assert "Score (auto)" not in text and "Chosen: small -> claude-haiku-4-5" in text
    assert "label 'support.faq' -> small" in text


def test_explain_with_given_ladders() -> None:
    tiers = ladders({"anthropic": [["only", "claude-sonnet-4-6"]]}, environ={})
    assert "Ladder: only claude-sonnet-4-6" in explain("hi", tier_ladders=tiers)


@pytest.mark.parametrize(
    "module",
    ["cascade", "classifier", "decision", "policies", "reading", "router", "schema", "tiers", "__init__"],
)
def test_module_examples_hold(module: str) -> None:
    name = "costaware.core.routing" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
