"""Specification of route="auto": accuracy on the labelled sets, a spread of tiers, tunable scoring.

Bars (stated here, checked below):
- calibration set (48 requests, used to set the weights): at least 90% exact tier, and never two
  tiers off (no small request sent to large, no large request left on small);
- held-out set (14 requests, written with the calibration set but never tuned against): at least 85%;
- every tier gets at least 20% of the combined set: ordinary traffic is not all sent to one tier.
"""

from __future__ import annotations

from collections import Counter
from statistics import mean

import pytest

from costaware.core.errors import ConfigurationError
from costaware.core.routing import DEFAULT_WEIGHTS, AutoClassifier, Ladders, ladders, route, signals
from costaware.core.routing.classifier import RULES, amounts
from costaware.sim.quality import difficulty

from .corpus import ALL, CALIBRATION, HELD_OUT, Example, ask

ORDER = {"small": 0, "medium": 1, "large": 2}


@pytest.fixture(scope="module")
def tiers() -> Ladders:
    return ladders(environ={})


def routed(examples: tuple[Example, ...], tiers: Ladders) -> list[tuple[Example, str | None]]:
    return [(ex, route("auto", ex.provider, ex.kwargs, tiers).tier) for ex in examples]


def accuracy(results: list[tuple[Example, str | None]]) -> float:
    return sum(ex.tier == tier for ex, tier in results) / len(results)


def test_calibration_set_accuracy(tiers: Ladders) -> None:
    results = routed(CALIBRATION, tiers)
    misses = [(ex.name, ex.tier, tier) for ex, tier in results if ex.tier != tier]
    assert accuracy(results) >= 0.90, misses
    assert all(abs(ORDER[want] - ORDER[got or "small"]) < 2 for _, want, got in misses), misses


def test_held_out_set_accuracy(tiers: Ladders) -> None:
    results = routed(HELD_OUT, tiers)
    assert accuracy(results) >= 0.85, [(ex.name, ex.tier, tier) for ex, tier in results if ex.tier != tier]


def test_tier_distribution_is_not_degenerate(tiers: Ladders) -> None:
    shares = Counter(tier for _, tier in routed(ALL, tiers))
    assert set(shares) == {"small", "medium", "large"}
    assert all(count / len(ALL) >= 0.20 for count in shares.values()), shares


def test_labelled_sets_are_big_enough_and_balanced() -> None:
    assert len(ALL) >= 40
    labels = Counter(ex.tier for ex in ALL)
    assert min(labels.values()) >= 10, labels


def test_routing_agrees_with_the_simulators_difficulty(tiers: Ladders) -> None:
    # The simulator's difficulty is half prompt length, half a hash of the text; only the length half
    # carries meaning, so the sensible agreement is on averages: what we keep on the small tier is
    # on average easier for the simulator than what we move up to medium.
    by_tier: dict[str | None, list[float]] = {}
    for ex, tier in routed(ALL, tiers):
        by_tier.setdefault(tier, []).append(difficulty(ex.text))
    assert mean(by_tier["small"]) < mean(by_tier["medium"])


def test_longer_filler_never_lowers_the_tier(tiers: Ladders) -> None:
    seen = []
    for size in (100, 1_000, 5_000, 12_000, 25_000, 60_000):
        kwargs = ask("Please read this.\n\n" + "The quick brown fox jumps over the lazy dog. " * (size // 45))
        seen.append(ORDER[route("auto", "anthropic", kwargs, tiers).tier or "small"])
    assert seen == sorted(seen)
    assert seen[-1] == ORDER["medium"]  # length alone never reaches the top tier


def test_score_is_the_sum_of_contributions() -> None:
    auto = AutoClassifier()
    for ex in ALL:
        s = signals(ex.provider, ex.kwargs)
        assert auto.score(s) == pytest.approx(sum(c.points for c in auto.contributions(s)))


def test_rules_weights_and_amounts_line_up() -> None:
    assert tuple(DEFAULT_WEIGHTS) == RULES
    assert len(amounts(signals("anthropic", ask("hi")))) == len(RULES)


def test_thresholds_are_tunable(tiers: Ladders) -> None:
    kwargs = ask("Review this function for bugs:\n```python\ndef f(x):\n    return x / 0\n```")
    assert route("auto", "anthropic", kwargs, tiers).tier == "medium"
    strict = AutoClassifier(thresholds={"medium": 10, "large": 20})
    assert route(strict, "anthropic", kwargs, tiers).tier == "small"
    eager = AutoClassifier(thresholds={"medium": 0.5, "large": 2.0})
    assert route(eager, "anthropic", kwargs, tiers).tier == "large"


def test_weights_are_tunable(tiers: Ladders) -> None:
    kwargs = ask("Prove that sqrt(2) is irrational.")
    assert route("auto", "anthropic", kwargs, tiers).tier == "medium"
    assert route(AutoClassifier(weights={"hard": 5.0}), "anthropic", kwargs, tiers).tier == "large"


def test_decision_carries_the_score_and_the_signals(tiers: Ladders) -> None:
    decision = route("auto", "anthropic", ask("Compare Raft and Paxos. Why?"), tiers)
    pairs = dict(decision.signals)
    assert pairs["score"] == 2.0 and pairs["analysis_terms"] == 2.0
    assert decision.policy == "auto" and "score 2.00 >= medium threshold 2.00" in decision.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"thresholds": {}}, "must map tier names"),
        ({"thresholds": {"medium": float("nan")}}, "not a finite number"),
        ({"thresholds": {"medium": True}}, "not a finite number"),
        ({"weights": {"lenght": 1.0}}, r"unknown rules \['lenght'\]"),
        ({"weights": {"code": "high"}}, "not a finite number"),
    ],
)
def test_bad_classifier_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        AutoClassifier(**kwargs)


def test_validate_checks_thresholds_against_the_ladders(tiers: Ladders) -> None:
    AutoClassifier().validate(tiers)
    with pytest.raises(ConfigurationError, match=r"unknown tier\(s\) \['huge'\]"):
        AutoClassifier(thresholds={"huge": 3}).validate(tiers)
    with pytest.raises(ConfigurationError, match="must rise with"):
        AutoClassifier(thresholds={"medium": 5, "large": 2}).validate(tiers)


def test_thresholds_naming_no_tier_keep_the_requested_model(tiers: Ladders) -> None:
    decision = route(AutoClassifier(thresholds={"huge": 1}), "anthropic", ask("hi"), tiers)
    assert decision.chosen_model == decision.requested_model
    assert "no threshold names a tier" in decision.reason


def test_words_inside_fenced_code_are_not_the_ask() -> None:
    from costaware.core.routing import ladders, route

    review = (
        "Please review this function for bugs:\n\n```python\n"
        "def add_tag(item, tag, tags=[]):\n    tags.append(tag)\n    item['tags'] = tags\n    return item\n```"
    )
    kwargs = {
        "model": "claude-opus-4-6",
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": review}],
    }
    decision = route("auto", "anthropic", kwargs, ladders())
    assert decision.tier != "small", decision.reason  # "tag" in the code is not a tagging task
