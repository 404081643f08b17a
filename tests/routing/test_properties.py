"""Properties of route(): it never raises on any arguments and never leaves the call's provider."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costaware.core.routing import (
    AutoClassifier,
    ForceModel,
    Labels,
    RouteRequest,
    Signals,
    Threshold,
    ladders,
    provider_of_model,
    route,
    signals,
)

TIERS = ladders(environ={})
MODELS = [
    *TIERS["anthropic"].models, *TIERS["openai"].models, "claude-3-5-sonnet-20241022", "gpt-4o", "llama-3-70b", "",
]  # fmt: skip

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
parts = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "image", "input_text", "image_url", "tool_result", "document", "x"])},
    optional={"text": json_values | st.text(max_size=300), "content": json_values},
)
messages = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["user", "assistant", "system", "developer", "tool"]) | json_values,
        "content": st.text(max_size=500) | st.lists(parts | json_values, max_size=4) | json_values,
        "tool_calls": json_values,
        "type": st.sampled_from(["function_call", "function_call_output", "message"]),
        "output": json_values,
    },
)
kwargs_strategy = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(MODELS) | json_values,
        "messages": st.lists(messages | json_values, max_size=5) | json_values,
        "input": st.text(max_size=300) | st.lists(messages | json_values, max_size=4) | json_values,
        "system": st.text(max_size=200) | json_values,
        "instructions": json_values,
        "tools": json_values,
        "max_tokens": json_values,
        "response_format": json_values,
        "text": json_values,
        "output_config": json_values,
    },
)
answers = st.sampled_from([*MODELS, "small", "medium", "large", "gpt-5", "claude-opus-4-5", "o1-preview"])
policies = st.sampled_from(
    [
        "auto",
        AutoClassifier(thresholds={"medium": 0.0, "large": 1.0}),
        Threshold(),
        Labels({"a": "small", "b": "large"}, default="medium"),
        ForceModel("claude-haiku-4-5"),
        ForceModel("gpt-4.1"),
        "large",
    ]
) | answers.map(lambda answer: lambda request: answer)


def right_provider(chosen: str, requested: str, provider: str) -> bool:
    if chosen == requested or chosen in TIERS[provider].models:
        return True
    owner = provider_of_model(chosen)
    return owner == provider or (owner is None and TIERS.prices.lookup(provider, chosen) is not None)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policy=policies,
    provider=st.sampled_from(["anthropic", "openai"]),
    kwargs=kwargs_strategy,
    label=st.none() | st.text(max_size=20),
    upgrade=st.booleans(),
)
def test_route_never_raises_and_never_crosses_providers(
    policy: Any, provider: str, kwargs: dict[str, Any], label: str | None, upgrade: bool
) -> None:
    decision = route(policy, provider, kwargs, TIERS, label, allow_upgrade=upgrade)
    requested = kwargs.get("model")
    if not isinstance(requested, str) or not requested:
        assert decision.chosen_model == decision.requested_model == ""
        return
    assert decision.requested_model == requested
    assert right_provider(decision.chosen_model, requested, provider), decision
    assert not decision.reason.startswith("routing failed"), decision.reason  # no internal error
    if decision.tier is not None:
        assert TIERS[provider].tier_named(decision.tier).model == decision.chosen_model
    if not upgrade:  # routing never raises the bill unless upgrades are allowed
        chosen_price = TIERS.prices.lookup(provider, decision.chosen_model)
        requested_price = TIERS.prices.lookup(provider, requested)
        if chosen_price is not None and requested_price is not None:
            assert chosen_price.input + chosen_price.output <= requested_price.input + requested_price.output
    assert all(isinstance(name, str) and isinstance(value, float) for name, value in decision.signals)


@settings(max_examples=300, deadline=None)
@given(kwargs=kwargs_strategy | json_values)
def test_signals_never_raise(kwargs: Any) -> None:
    found = signals(kwargs)
    assert isinstance(found, Signals)
    assert found.prompt_chars >= 0 and found.estimated_tokens * 4 >= found.prompt_chars


@settings(max_examples=100, deadline=None)
@given(kwargs=kwargs_strategy)
def test_a_callable_always_sees_a_well_formed_request(kwargs: dict[str, Any]) -> None:
    seen: list[RouteRequest] = []

    def spy(request: RouteRequest) -> str:
        seen.append(request)
        return "small"

    route(
        spy,
        "anthropic",
        {**kwargs, "model": "claude-opus-4-6"},
        TIERS,
    )
    assert len(seen) == 1 and isinstance(seen[0].signals, Signals) and seen[0].model == "claude-opus-4-6"
