"""Specification of explain(): a readable account of a routing decision, and the modules' examples."""

from __future__ import annotations

import doctest
import importlib

import pytest

from costaware.core.routing import AutoClassifier, Labels, explain, ladders


def test_explain_shows_p_the_features_and_the_choice() -> None:
    text = explain("Write a Python function that returns the longest palindromic substring of a string.")
    assert "Prompt: 83 chars, ~21 tokens (anthropic)" in text
    assert "p(hard): 0.9" in text and "(auto, quality 0.56: medium >= 0.44, large >= 0.99999)" in text
    features = text.split("Features that moved it", 1)[1].splitlines()[1:4]
    assert any("topic code" in line for line in features), features  # the largest come first
    assert "Chosen: medium -> claude-sonnet-4-6 (requested claude-opus-4-6, policy auto)" in text
    assert "Why: p(hard) 0.9" in text and ">= 0.44: medium; topic code" in text


def test_explain_for_openai_and_a_small_prompt() -> None:
    text = explain("Translate 'good morning' to Spanish.", provider="openai")
    assert "topic writing" in text and "Chosen: small -> gpt-4.1-mini (requested o3, policy auto)" in text


def test_explain_decides_as_a_call_does_never_above_the_requested_model() -> None:
    prompt = "Prove that there are infinitely many primes, then derive the density of primes step by step."
    text = explain(prompt, model="claude-haiku-4-5")
    assert "Chosen: small -> claude-haiku-4-5" in text and "upgrades disallowed" in text
    assert "Chosen: small" not in explain(prompt, model="claude-haiku-4-5", allow_upgrade=True)


def test_explain_with_another_quality() -> None:
    text = explain("Play some jazz in the kitchen", policy=AutoClassifier(quality=1.0))
    assert "(auto, quality 1: medium >= 0, large >= 0.99)" in text and "Chosen: medium" in text


def test_explain_other_policies_without_scores() -> None:
    text = explain("anything", policy=Labels({"faq": "small"}), label="support.faq", model="claude-opus-4-6")
    assert "p(hard)" not in text and "Signals:" in text and "Chosen: small -> claude-haiku-4-5" in text
    assert "label 'support.faq' -> small" in text


def test_explain_with_given_ladders() -> None:
    tiers = ladders({"anthropic": [["only", "claude-sonnet-4-6"]]}, environ={})
    assert "Ladder: only claude-sonnet-4-6" in explain("hi", tier_ladders=tiers)


@pytest.mark.parametrize(
    "module",
    [
        "cascade",
        "classifier",
        "decision",
        "explanation",
        "features",
        "policies",
        "reading",
        "router",
        "schema",
        "tiers",
        "__init__",
    ],
)
def test_module_examples_hold(module: str) -> None:
    name = "costaware.core.routing" + ("" if module == "__init__" else f".{module}")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
