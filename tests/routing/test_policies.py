"""Specification of the policies and of route(): choices resolved on the ladder, never across providers.

Bars on the labelled set (corpus.ALL): Threshold follows its length/item rule on 100% of requests
(it is a rule, not a guess); Labels with a team's plausible task map gets at least 90% of tiers right.
"""

from __future__ import annotations

from typing import Any

import pytest

from costaware.core.errors import ConfigurationError
from costaware.core.pricing import PriceBook
from costaware.core.routing import (
    AutoClassifier,
    CallablePolicy,
    Decision,
    ForceModel,
    Labels,
    Ladders,
    RouteRequest,
    Threshold,
    Tier,
    TierLadder,
    as_policy,
    cheapest_fitting,
    ladders,
    route,
    signals,
)

from .corpus import ALL, ask

TASK_TIERS = {
    "support": "small", "lookup": "small", "classify": "small", "extract": "small", "translate": "small",
    "rephrase": "small", "label": "small", "convert": "small", "reply": "small", "chat": "small",
    "summarize": "medium", "review": "medium", "debug": "medium", "optimize": "medium", "howto": "medium",
    "plan": "medium", "compare": "medium", "refactor": "medium", "qa": "medium", "agent": "medium",
    "vision": "medium", "prove": "large", "architecture": "large", "analyze": "large", "security": "large",
}  # fmt: skip


@pytest.fixture(scope="module")
def tiers() -> Ladders:
    return ladders(environ={})


def test_threshold_follows_its_rule_on_every_labelled_request(tiers: Ladders) -> None:
    policy = Threshold(max_chars={"small": 2000, "medium": 12000}, max_items={"small": 4})
    for ex in ALL:
        s = signals(ex.kwargs)
        if s.prompt_chars <= 2000 and s.messages <= 4:
            expected = "small"
        elif s.prompt_chars <= 12000:
            expected = "medium"
        else:
            expected = "large"
        assert route(policy, ex.provider, ex.kwargs, tiers).tier == expected, ex.name


def test_threshold_ignores_tiers_without_limits_and_validates_names(tiers: Ladders) -> None:
    policy = Threshold(max_chars={"medium": 100})
    assert route(policy, "anthropic", ask("short"), tiers).tier == "medium"
    assert route(policy, "anthropic", ask("x" * 200), tiers).tier == "large"
    policy.validate(tiers)
    with pytest.raises(ConfigurationError, match=r"unknown tier\(s\) \['tiny'\]"):
        Threshold(max_chars={"tiny": 10}).validate(tiers)
    with pytest.raises(ConfigurationError, match="non-negative int"):
        Threshold(max_chars={"small": -1})
    with pytest.raises(ConfigurationError, match="needs max_chars or max_items"):
        Threshold(max_chars={})


def test_labels_route_a_teams_task_map(tiers: Ladders) -> None:
    policy = Labels(TASK_TIERS)
    right = sum(route(policy, ex.provider, ex.kwargs, tiers, label=ex.task).tier == ex.tier for ex in ALL)
    assert right / len(ALL) >= 0.90


def test_labels_match_parts_of_a_scope_name(tiers: Ladders) -> None:
    policy = Labels({"classify": "small", "review": "large"})
    kwargs = ask("anything", model="claude-sonnet-4-6")
    assert route(policy, "anthropic", kwargs, tiers, label="support.classify-ticket").tier == "small"
    assert route(policy, "anthropic", kwargs, tiers, label="Code/Review").tier == "large"
    kept = route(policy, "anthropic", kwargs, tiers, label="chat")
    assert kept.chosen_model == kwargs["model"] and "matches no rule" in kept.reason
    assert (
        route(Labels({"x": "small"}, default="medium"), "anthropic", kwargs, tiers, label="y").tier
        == "medium"
    )
    assert route(Labels({"review": "large"}, label="review"), "anthropic", kwargs, tiers).tier == "large"


def test_labels_validation(tiers: Ladders) -> None:
    with pytest.raises(ConfigurationError, match=r"unknown tier\(s\) \['huge'\]"):
        Labels({"review": "huge"}).validate(tiers)
    with pytest.raises(ConfigurationError, match="needs a mapping"):
        Labels({})


def test_force_model_and_force_tier(tiers: Ladders) -> None:
    decision = route(ForceModel("claude-haiku-4-5"), "anthropic", ask("hi", model="claude-opus-4-6"), tiers)
    assert (decision.chosen_model, decision.tier, decision.policy) == ("claude-haiku-4-5", "small", "force")
    assert route("medium", "openai", {"model": "gpt-4.1-mini", "input": "x"}, tiers).chosen_model == "gpt-4.1"


def test_force_model_of_another_provider_keeps_the_requested_model(tiers: Ladders) -> None:
    decision = route(ForceModel("claude-haiku-4-5"), "openai", {"model": "gpt-4.1", "input": "hi"}, tiers)
    assert decision.chosen_model == "gpt-4.1"
    assert "anthropic model and this is an openai call" in decision.reason


def test_force_model_validation(tiers: Ladders) -> None:
    ForceModel("claude-haiku-4-5").validate(tiers)
    ForceModel("large").validate(tiers)
    with pytest.raises(ConfigurationError, match="neither a tier name"):
        ForceModel("my-fancy-model").validate(tiers)


def test_a_callable_may_answer_a_tier_or_a_model(tiers: Ladders) -> None:
    seen: list[RouteRequest] = []

    def pick(request: RouteRequest) -> str:
        seen.append(request)
        return "large" if request.signals.questions > 1 else "claude-haiku-4-5"

    assert route(pick, "anthropic", ask("A? B?"), tiers, label="qa").tier == "large"
    assert route(pick, "anthropic", ask("A."), tiers).chosen_model == "claude-haiku-4-5"
    assert (
        seen[0].label == "qa"
        and seen[0].ladder is tiers["anthropic"]
        and seen[0].model == "claude-sonnet-4-6"
    )


def test_a_callable_returning_another_providers_model_is_refused(tiers: Ladders) -> None:
    decision = route(lambda request: "gpt-4.1", "anthropic", ask("hi", model="claude-sonnet-4-6"), tiers)
    assert decision.chosen_model == "claude-sonnet-4-6" and decision.tier == "medium"
    assert "gpt-4.1 is an openai model and this is an anthropic call" in decision.reason
    assert "never crosses providers" in decision.reason


def test_a_callable_may_pick_a_same_provider_model_outside_the_ladder(tiers: Ladders) -> None:
    decision = route(lambda request: "claude-sonnet-4-5", "anthropic", ask("hi"), tiers)
    assert (decision.chosen_model, decision.tier) == ("claude-sonnet-4-5", None)
    book = PriceBook({"openai:house-model": {"input": 1, "output": 2}})
    priced = ladders(environ={}, prices=book)
    assert (
        route(lambda r: "house-model", "openai", {"model": "gpt-4.1"}, priced).chosen_model == "house-model"
    )


def test_a_callable_answering_nonsense_keeps_the_requested_model(tiers: Ladders) -> None:
    for answer in ("no-such-model", "", None, 42):
        decision = route(lambda request, a=answer: a, "anthropic", ask("hi"), tiers)
        assert decision.chosen_model == "claude-sonnet-4-6", answer


def test_a_raising_callable_keeps_the_requested_model(tiers: Ladders) -> None:
    def broken(request: RouteRequest) -> str:
        raise RuntimeError("boom")

    decision = route(broken, "anthropic", ask("hi"), tiers)
    assert decision.chosen_model == "claude-sonnet-4-6" and decision.tier == "medium"
    assert decision.reason.startswith("routing failed (RuntimeError: boom)")
    assert decision.policy == "callable:test_a_raising_callable_keeps_the_requested_model.<locals>.broken"


def test_a_requested_model_outside_the_ladder_can_move_to_a_tier(tiers: Ladders) -> None:
    decision = route("auto", "anthropic", ask("What's 2+2?", model="claude-3-5-sonnet-20241022"), tiers)
    assert (decision.chosen_model, decision.tier, decision.changed) == ("claude-haiku-4-5", "small", True)


def test_upgrades_can_be_disallowed(tiers: Ladders) -> None:
    kwargs = ask(
        "Prove step by step that the consensus protocol below preserves its safety invariant under network "
        "partitions, then compare the trade-offs of two alternative architectures for scalability.",
        model="claude-haiku-4-5",
    )
    assert route("auto", "anthropic", kwargs, tiers).chosen_model == "claude-sonnet-4-6"
    kept = route("auto", "anthropic", kwargs, tiers, allow_upgrade=False)
    assert kept.chosen_model == "claude-haiku-4-5" and "upgrades disallowed" in kept.reason
    down = route("auto", "anthropic", ask("hi", model="claude-opus-4-6"), tiers, allow_upgrade=False)
    assert down.chosen_model == "claude-haiku-4-5"


def test_a_cheaper_model_outside_the_ladder_is_not_moved_to_a_dearer_tier(tiers: Ladders) -> None:
    """gpt-4o-mini is outside the default ladder and cheaper than its small tier (gpt-4.1-mini): routing
    it there would raise the bill."""
    kwargs = ask("hi", model="gpt-4o-mini")
    kept = route("auto", "openai", kwargs, tiers, allow_upgrade=False)
    assert kept.chosen_model == "gpt-4o-mini" and "costs more" in kept.reason
    assert route("auto", "openai", kwargs, tiers, allow_upgrade=True).chosen_model == "gpt-4.1-mini"


def test_no_ladder_for_the_provider_keeps_the_model(tiers: Ladders) -> None:
    only_openai = {"openai": tiers["openai"]}
    decision = route("auto", "anthropic", ask("hi"), only_openai)
    assert decision.chosen_model == "claude-sonnet-4-6" and "no tier ladder for anthropic" in decision.reason


def test_a_request_without_a_model_is_not_routed(tiers: Ladders) -> None:
    decision = route("auto", "anthropic", {"messages": []}, tiers)
    assert (decision.requested_model, decision.chosen_model, decision.changed) == ("", "", False)


def test_route_accepts_plain_dicts_of_ladders() -> None:
    ladder = TierLadder("anthropic", [Tier("cheap", "claude-haiku-4-5"), Tier("best", "claude-opus-4-6")])
    policy = AutoClassifier(thresholds={"best": 0.9})
    assert route(policy, "anthropic", ask("hello"), {"anthropic": ladder}).tier == "cheap"


def test_as_policy_turns_route_values_into_policies(tiers: Ladders) -> None:
    assert isinstance(as_policy("auto"), AutoClassifier)
    assert as_policy("claude-haiku-4-5") == ForceModel("claude-haiku-4-5")
    assert isinstance(as_policy(lambda r: "small"), CallablePolicy)
    labels = Labels({"a": "small"})
    assert as_policy(labels, tiers) is labels
    with pytest.raises(ConfigurationError, match="route= takes"):
        as_policy(42)
    with pytest.raises(ConfigurationError, match="unknown tier"):
        as_policy(Labels({"a": "tiny"}), tiers)


def test_cheapest_fitting_and_downgrades(tiers: Ladders) -> None:
    ladder = tiers["anthropic"]
    affordable = {"claude-sonnet-4-6", "claude-haiku-4-5"}
    assert cheapest_fitting(ladder, lambda m: m in affordable) == Tier("small", "claude-haiku-4-5")
    assert cheapest_fitting(ladder, lambda m: False) is None
    decision: Decision = route("auto", "anthropic", ask("Prove it by induction, rigorously."), tiers)
    down = decision.downgraded_to("claude-sonnet-4-6", tier="medium", reason="budget: $0.40 left")
    assert (down.chosen_model, down.tier, down.requested_model) == (
        "claude-sonnet-4-6",
        "medium",
        "claude-sonnet-4-6",
    )
    assert down.reason.endswith("; budget: $0.40 left") and down.signals == decision.signals


def test_decisions_are_frozen(tiers: Ladders) -> None:
    decision = route("auto", "anthropic", ask("hi"), tiers)
    with pytest.raises(AttributeError):
        decision.chosen_model = "x"


def test_every_policy_satisfies_the_protocol() -> None:
    from costaware.core.routing import Policy

    policies: list[Any] = [
        AutoClassifier(),
        Threshold(),
        Labels({"a": "small"}),
        ForceModel("x"),
        CallablePolicy(str),
    ]
    assert all(isinstance(p, Policy) for p in policies)


def test_an_unknown_requested_model_is_not_moved(tiers: Ladders) -> None:
    # a model neither named like nor priced as an OpenAI model may be served by a compatible server
    kwargs = {"model": "meta-llama/Llama-3.1-70B-Instruct", "messages": [{"role": "user", "content": "hi"}]}
    decision = route("auto", "openai", kwargs, tiers)
    assert decision.chosen_model == "meta-llama/Llama-3.1-70B-Instruct" and not decision.changed
    assert "not a known openai model" in decision.reason
