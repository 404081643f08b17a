"""Routing, cascades, prompt-cache breakpoints, output caps and savings, through the real clients."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import anthropic
import pytest

import costaware
from costaware import Budget, cost_aware
from costaware.core.routing import Auto, Cascade, Labels
from costaware.sim import Fault

from helpers import HAIKU, SONNET, anthropic_cost, user

OPUS = "claude-opus-4-6"
TRIVIAL = user("Is this review positive or negative? 'Loved it, five stars.'")
HARD = user(
    "Prove step by step that the consensus protocol below preserves its safety invariant under "
    "network partitions, then compare the trade-offs of two alternative architectures for scalability."
)


def test_auto_routes_a_trivial_request_to_the_cheapest_tier(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware(route="auto")
    def ask() -> Any:
        return anthropic_client.messages.create(model=OPUS, max_tokens=100, messages=TRIVIAL)

    message = ask()
    assert message.model == HAIKU
    assert sim.requests(model=HAIKU) == 1 and sim.requests(model=OPUS) == 0
    attrs = telemetry.span().attributes
    assert attrs["costaware.route.requested_model"] == OPUS
    assert attrs["costaware.route.chosen_model"] == HAIKU
    assert attrs["costaware.route.tier"] == "small"
    assert attrs["costaware.route.policy"] == "auto"
    assert attrs["costaware.route.reason"]
    assert any(k.startswith("costaware.route.signal.") for k in attrs)
    # Savings: what Opus would have cost for the same tokens, minus what Haiku cost.
    opus_cost = (Decimal(message.usage.input_tokens) * 5 + Decimal(message.usage.output_tokens) * 25) / 10**6
    assert attrs["costaware.savings.baseline_usd"] == pytest.approx(float(opus_cost))
    assert attrs["costaware.savings.routing_usd"] == pytest.approx(
        float(opus_cost - anthropic_cost(HAIKU, message.usage))
    )
    assert telemetry.counter_value("costaware.routing.decisions", costaware__route__tier="small") == 1
    assert telemetry.counter_value("costaware.savings", costaware__technique="routing") > 0


def test_auto_keeps_hard_requests_on_a_strong_tier(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(route="auto")
    def ask() -> Any:
        return anthropic_client.messages.create(model=OPUS, max_tokens=2000, messages=HARD)

    assert ask().model == SONNET  # the middle tier: the top one only at a higher quality setting

    @cost_aware(route=Auto(quality=1.0))
    def eager() -> Any:
        return anthropic_client.messages.create(model=OPUS, max_tokens=2000, messages=HARD)

    assert eager().model == OPUS


def test_routing_never_upgrades_unless_allowed(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(route="auto")
    def ask() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=2000, messages=HARD)

    assert ask().model == HAIKU  # the requested model is the ceiling: routing cuts the bill
    assert "upgrad" in telemetry.span().attributes["costaware.route.reason"]
    costaware.configure(allow_upgrade=True)
    assert ask().model in (SONNET, OPUS)


def test_callable_policy_cannot_cross_providers(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(route=lambda request: "gpt-4.1-mini")
    def ask() -> Any:
        return anthropic_client.messages.create(model=SONNET, max_tokens=50, messages=TRIVIAL)

    assert ask().model == SONNET
    assert "never crosses providers" in telemetry.span().attributes["costaware.route.reason"]


def test_labels_policy_uses_the_feature(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(route=Labels({"review": "large", "triage": "small"}), feature="triage")
    def ask() -> Any:
        return anthropic_client.messages.create(model=SONNET, max_tokens=50, messages=HARD)

    assert ask().model == HAIKU


def test_routing_never_leaves_the_scope_without_a_policy(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    anthropic_client.messages.create(model=OPUS, max_tokens=20, messages=TRIVIAL)
    assert sim.requests(model=OPUS) == 1
    assert "costaware.route.policy" not in telemetry.span().attributes


def test_bad_route_fails_at_decoration() -> None:
    with pytest.raises(costaware.ConfigurationError):
        cost_aware(route=42)
    with pytest.raises(costaware.ConfigurationError):
        cost_aware(route=Labels({"review": "gigantic"}))
    with pytest.raises(costaware.ConfigurationError):
        Cascade(max_hops=-1)


def test_cascade_escalates_until_accepted_and_charges_every_hop(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    verdicts = iter([False, True])

    @cost_aware(route=Cascade([HAIKU, SONNET, OPUS], accept=lambda text: next(verdicts)))
    def ask() -> Any:
        return anthropic_client.messages.create(model=OPUS, max_tokens=1000, messages=TRIVIAL)

    final = ask()
    assert final.model == SONNET
    assert (
        sim.requests(model=HAIKU) == 1 and sim.requests(model=SONNET) == 1 and sim.requests(model=OPUS) == 0
    )
    span = telemetry.span()
    events = [e for e in span.events if e.name == "costaware.cascade.escalated"]
    assert len(events) == 1 and events[0].attributes["costaware.cascade.to"] == SONNET
    assert span.attributes["costaware.cascade.escalations"] == 1
    tracker = costaware.last_scope().tracker
    # The simulator is deterministic: the rejected Haiku answer cost what the same call costs alone.
    haiku_alone = anthropic_client.messages.create(model=HAIKU, max_tokens=1000, messages=TRIVIAL)
    haiku_hop = anthropic_cost(HAIKU, haiku_alone.usage)
    assert events[0].attributes["costaware.cascade.cost_usd"] == pytest.approx(float(haiku_hop))
    assert tracker.total_cost == anthropic_cost(SONNET, final.usage) + haiku_hop
    assert telemetry.counter_value("costaware.cascade.checks", costaware__cascade__escalated=True) == 1


def _raising(error: Exception) -> Any:
    """A caller's function (a cascade's accept, a routing policy) with a bug: it raises ``error``."""

    def broken(*_: Any) -> Any:
        raise error

    return broken


def test_an_accept_function_that_raises_rejects_the_answer_and_is_logged(
    anthropic_client: Any, sim: Any, telemetry: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="costaware")

    @cost_aware(
        route=Cascade([HAIKU, SONNET], accept=_raising(ZeroDivisionError("my check's bug")), max_hops=1)
    )
    def ask() -> Any:
        return anthropic_client.messages.create(model=OPUS, max_tokens=1000, messages=TRIVIAL)

    assert ask().model == SONNET  # the cheap answer its check could not pass is not trusted
    assert sim.requests(model=HAIKU) == 1 and sim.requests(model=SONNET) == 1
    (event,) = [e for e in telemetry.span().events if e.name == "costaware.cascade.escalated"]
    assert "accept raised ZeroDivisionError: my check's bug" in event.attributes["costaware.cascade.reason"]
    assert any("accept function raised ZeroDivisionError" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if "internal error" in r.getMessage()]


def test_a_routing_callable_that_raises_keeps_the_requested_model_and_is_logged_once(
    anthropic_client: Any, sim: Any, telemetry: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="costaware")

    @cost_aware(route=_raising(RuntimeError("my policy's bug")))
    def ask() -> Any:
        return anthropic_client.messages.create(model=OPUS, max_tokens=100, messages=TRIVIAL)

    assert ask().model == OPUS and ask().model == OPUS
    warnings = [r for r in caplog.records if "routing policy" in r.getMessage()]
    assert len(warnings) == 1 and "RuntimeError: my policy's bug" in warnings[0].getMessage()
    assert warnings[0].exc_info is not None  # with its traceback
    routed = [s for s in telemetry.spans() if "costaware.route.reason" in s.attributes]
    assert len(routed) == 2
    assert all("routing failed (RuntimeError" in s.attributes["costaware.route.reason"] for s in routed)


def test_cascade_never_starts_on_another_providers_model(
    openai_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware(route=Cascade([HAIKU, "gpt-4.1-mini", "gpt-4.1"]))
    def ask() -> Any:
        return openai_client.chat.completions.create(model="gpt-4.1", messages=TRIVIAL)

    assert ask().model == "gpt-4.1-mini"
    assert sim.requests(model=HAIKU) == 0


def test_cascade_with_a_tuned_start_policy(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(route=Cascade(start=Labels({"triage": "medium"}), max_hops=1), feature="triage")
    def ask() -> Any:
        return anthropic_client.messages.create(model=OPUS, max_tokens=1000, messages=TRIVIAL)

    assert ask().model == SONNET


def test_each_cascade_hop_gets_breakpoints_for_its_own_model(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    # About 2,300 tokens: below Haiku 4.5's 4,096-token minimum, above Sonnet's 1,024.
    system = "Support policy. " + "Orders ship within two days. " * 320

    @cost_aware(route=Cascade([HAIKU, SONNET], accept=lambda text: False, max_hops=1))
    def ask() -> Any:
        return anthropic_client.messages.create(
            model=SONNET, max_tokens=1000, system=system, messages=TRIVIAL
        )

    ask()
    second = ask()
    assert second.model == SONNET
    assert second.usage.cache_read_input_tokens > 0  # the Sonnet hop was planned for Sonnet


def test_cascade_stops_at_the_hop_cap(openai_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(route=Cascade(["gpt-4.1-mini", "gpt-4.1", "o3"], max_hops=1))
    def ask() -> Any:  # the simulator answers prose, so a JSON request fails every hop's check
        return openai_client.chat.completions.create(
            model="o3", messages=TRIVIAL, response_format={"type": "json_object"}
        )

    final = ask()
    assert final.model == "gpt-4.1"
    assert sim.requests() == 2
    assert [e.name for e in telemetry.span().events][-1] == "costaware.cascade.exhausted"


def test_each_cascade_hop_is_checked_against_the_budget(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    from costaware.core.pricing import PriceBook
    from costaware.providers.anthropic import MESSAGES
    from costaware.steps.spend import SpendGuard

    kwargs = {"model": HAIKU, "max_tokens": 100, "messages": TRIVIAL}
    worst_haiku = SpendGuard([], PriceBook()).worst_case(MESSAGES, HAIKU, kwargs)

    @cost_aware(budget=worst_haiku * Decimal("1.5"), route=Cascade([HAIKU, OPUS], accept=lambda text: False))
    def ask() -> Any:
        return anthropic_client.messages.create(**kwargs)

    with pytest.raises(costaware.BudgetExceededError):
        ask()
    assert sim.requests(model=HAIKU) == 1 and sim.requests(model=OPUS) == 0


def test_downgrade_on_exceed_routes_to_the_cheapest_model_that_fits(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    from costaware.core.pricing import PriceBook
    from costaware.providers.anthropic import MESSAGES
    from costaware.steps.spend import SpendGuard

    kwargs = {"model": OPUS, "max_tokens": 300, "messages": TRIVIAL}
    worst_haiku = SpendGuard([], PriceBook()).worst_case(MESSAGES, HAIKU, {**kwargs, "model": HAIKU})

    @cost_aware(budget=Budget(limit=worst_haiku * Decimal("1.2"), key="downgrade"), on_exceed="downgrade")
    def ask() -> Any:
        return anthropic_client.messages.create(**kwargs)

    assert ask().model == HAIKU
    assert telemetry.span().attributes["costaware.budget.downgraded_to"] == HAIKU
    assert sim.requests(model=OPUS) == 0


LONG_POLICY = "You are the support agent of a large retailer. Policy: " + "Refunds within 30 days. " * 900


def test_breakpoints_inside_scopes_produce_cache_reads(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    @cost_aware
    def ask(question: str) -> Any:
        return anthropic_client.messages.create(
            model=SONNET, max_tokens=50, system=LONG_POLICY, messages=user(question)
        )

    first, second = ask("Where is my order?"), ask("Can I return shoes?")
    assert first.usage.cache_creation_input_tokens > 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    spans = [s for s in telemetry.our_spans() if s.name == f"chat {SONNET}"]
    assert spans[0].attributes["costaware.cache.breakpoints"] == 1
    saved = spans[1].attributes["costaware.savings.prompt_cache_usd"]
    reads = second.usage.cache_read_input_tokens
    assert saved == pytest.approx(float(Decimal(reads) * (3 - Decimal("0.3")) / 10**6))
    assert telemetry.counter_value("costaware.savings", costaware__technique="prompt_cache") == pytest.approx(
        saved
    )


def test_callers_own_request_objects_are_not_modified(anthropic_client: Any, telemetry: Any) -> None:
    system = [{"type": "text", "text": LONG_POLICY}]
    messages = user("hello")

    @cost_aware
    def ask() -> Any:
        return anthropic_client.messages.create(model=SONNET, max_tokens=20, system=system, messages=messages)

    ask()
    ask()
    assert system == [{"type": "text", "text": LONG_POLICY}]
    assert messages == user("hello")


def test_no_breakpoints_outside_scopes_by_default(anthropic_client: Any, telemetry: Any) -> None:
    for _ in range(2):
        message = anthropic_client.messages.create(
            model=SONNET, max_tokens=20, system=LONG_POLICY, messages=user("q")
        )
    assert message.usage.cache_read_input_tokens == 0
    assert "costaware.cache.breakpoints" not in telemetry.our_spans()[-1].attributes


def test_prompt_cache_key_for_openai(openai_client: Any, telemetry: Any) -> None:
    messages = [{"role": "system", "content": LONG_POLICY}, *user("Where is my order?")]

    @cost_aware
    def ask() -> Any:
        return openai_client.chat.completions.create(model="gpt-4.1-mini", messages=messages)

    ask()
    second = ask()
    assert second.usage.prompt_tokens_details.cached_tokens >= 1024
    key = telemetry.our_spans()[0].attributes["costaware.cache.prompt_cache_key"]
    assert key.startswith("cw-")


def test_scope_output_cap(anthropic_client: Any, telemetry: Any) -> None:
    @cost_aware(max_output_tokens=7)
    def ask() -> Any:
        return anthropic_client.messages.create(
            model=HAIKU, max_tokens=500, messages=user("Tell me a long story")
        )

    message = ask()
    assert message.usage.output_tokens == 7 and message.stop_reason == "max_tokens"
    assert telemetry.span().attributes["costaware.output_cap"] == 7


def test_streams_under_a_route_are_routed(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    @cost_aware(route="auto")
    def ask() -> str:
        with anthropic_client.messages.stream(model=OPUS, max_tokens=100, messages=TRIVIAL) as stream:
            return stream.get_final_text()

    assert ask()
    assert sim.requests(model=HAIKU) == 1


def test_explain_command(capsys: Any) -> None:
    from costaware.cli import main

    assert main(["explain", "Prove that the algorithm terminates, step by step."]) == 0
    out = capsys.readouterr().out
    assert "why:" in out.lower() and "claude-" in out


def auto_chat(client: Any) -> Any:
    """A chat under ``route="auto"`` with a long system prompt (so prompt caching applies), asking Opus."""

    @cost_aware(route="auto")
    def chat(messages: list[dict[str, Any]]) -> Any:
        return client.messages.create(model=OPUS, max_tokens=1000, system=LONG_POLICY, messages=messages)

    return chat


def test_a_conversation_stays_on_the_model_holding_its_cache(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    chat = auto_chat(anthropic_client)

    first_turn = user(HARD[0]["content"])
    first = chat(first_turn)
    assert first.model != HAIKU  # a hard first turn
    history = [*first_turn, {"role": "assistant", "content": first.content[0].text}]
    second = chat([*history, *user("Thanks!")])  # alone, a trivial turn would go to the small tier
    assert second.model == first.model
    assert second.usage.cache_read_input_tokens > 0  # the conversation's cache was on that model
    reason = telemetry.call_spans()[-1].attributes["costaware.route.reason"]
    assert "from an earlier turn of the conversation" in reason  # the follow-up inherits the first turn

    unrelated = chat(user("Thanks!"))  # a new conversation is routed on its own merits
    assert unrelated.model == HAIKU


def test_a_long_conversation_stays_where_its_cache_is_after_its_hard_turn_scrolls_out(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    # auto reads the last, the first and the previous user turn: by the fourth turn the hard second
    # one is none of them, and only the cache affinity keeps the conversation where its cache is.
    chat = auto_chat(anthropic_client)

    history: list[dict[str, Any]] = []
    models = []
    for text in ("Hello!", HARD[0]["content"], "Ok.", "Thanks!"):
        history.append({"role": "user", "content": text})
        answer = chat(history)
        models.append(answer.model)
        history.append({"role": "assistant", "content": answer.content[0].text})
    assert models[0] == HAIKU and models[1] != HAIKU
    assert models[3] == models[1]
    reason = telemetry.call_spans()[-1].attributes["costaware.route.reason"]
    assert "its prompt cache holds this conversation" in reason


def test_explain_command_reads_the_provider_from_the_model_and_refuses_an_unknown_policy(capsys: Any) -> None:
    from costaware.cli import main

    assert main(["explain", "What is 2+2?", "--model", "gpt-4.1"]) == 0
    out = capsys.readouterr().out
    assert "(openai)" in out and "not a known anthropic model" not in out
    assert main(["explain", "hi", "--policy", "nonsense"]) == 2  # as @cost_aware(route="nonsense") refuses it
    assert "neither a tier name" in capsys.readouterr().err


def test_explain_command_takes_a_quality(capsys: Any) -> None:
    from costaware.cli import main

    assert main(["explain", "Play some jazz in the kitchen", "--quality", "1"]) == 0
    assert "Chosen: medium" in capsys.readouterr().out
    assert main(["explain", "hi", "--quality", "2"]) == 2
    assert "quality must be a number from 0 to 1" in capsys.readouterr().err
    assert main(["explain", "hi", "--policy", "small", "--quality", "0.5"]) == 2
    assert "--quality applies to --policy auto only" in capsys.readouterr().err


@pytest.mark.parametrize("requested", [HAIKU, OPUS])
@pytest.mark.parametrize("policy", ["auto", "threshold"])
def test_explain_chooses_what_a_call_sends(
    anthropic_client: Any, sim: Any, telemetry: Any, capsys: Any, requested: str, policy: str
) -> None:
    from costaware.cli import main
    from costaware.core.routing import Threshold, explain

    prompts = [
        HARD[0]["content"],
        "Play some jazz in the kitchen",
        "Summarise this in one line: the cat sat.",
    ]
    route = Threshold() if policy == "threshold" else "auto"
    for text in prompts:
        for max_tokens in (64, 4096):

            @cost_aware(route=route)
            def ask(text: str, max_tokens: int) -> Any:
                return anthropic_client.messages.create(
                    model=requested, max_tokens=max_tokens, messages=user(text)
                )

            sent = ask(text, max_tokens).model
            if policy == "threshold":  # a policy object: the library's explain(), which the CLI calls
                out = explain(text, policy=Threshold(), model=requested, max_tokens=max_tokens)
            else:
                assert main(["explain", text, "--model", requested, "--max-tokens", str(max_tokens)]) == 0
                out = capsys.readouterr().out
            chosen = out.split("Chosen: ")[1].split(" (")[0]
            assert chosen.endswith(sent), (text, max_tokens, chosen, sent)


def test_auto_weighs_leaving_a_warm_prompt_cache(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    """An ask just over the cut-off stays on the model whose cache holds the long system prompt; a
    clearly hard one still moves; once the dearer model holds the prefix too, the plain cut-off
    applies; without a cached prefix nothing changes."""
    marginal_text = "Which of our plans includes priority support, and how do I upgrade to it?"
    p = Auto().probability(marginal_text)
    assert Auto().probability(TRIVIAL[0]["content"]) < p - 0.05 < p < Auto().probability(HARD[0]["content"])
    policy = Auto(thresholds={"medium": p - 0.01, "large": 0.99999})

    def chat(text: str, system: str | None = LONG_POLICY) -> Any:
        @cost_aware(route=policy)
        def ask() -> Any:
            extra = {"system": system} if system is not None else {}
            return anthropic_client.messages.create(model=OPUS, max_tokens=300, messages=user(text), **extra)

        return ask()

    assert chat(marginal_text, system=None).model == SONNET  # no prefix to keep warm: the plain cut-off
    assert chat(TRIVIAL[0]["content"]).model == HAIKU  # Haiku now holds the policy prompt
    kept = chat(marginal_text)
    assert kept.model == HAIKU and kept.usage.cache_read_input_tokens > 0
    attributes = telemetry.call_spans()[-1].attributes
    assert "kept on claude-haiku-4-5: its prompt cache holds the" in attributes["costaware.route.reason"]
    assert attributes["costaware.route.tier"] == "small"
    assert p < attributes["costaware.route.signal.warm_cutoff"] < 1
    assert chat(HARD[0]["content"]).model == SONNET  # clearly hard: worth the cold cache
    assert chat(marginal_text).model == SONNET  # Sonnet holds the prefix now: nothing to weigh


def test_a_prefix_is_warm_only_where_a_model_answered_it(
    anthropic_client: Any, sim: Any, telemetry: Any
) -> None:
    """The warm-cache rule remembers the model that answered, after it answered: a request that
    failed leaves no cache behind, and a cascade's prefix is remembered as routed (before its cache
    breakpoints were placed) on the model whose answer was accepted."""
    marginal_text = "Which of our plans includes priority support, and how do I upgrade to it?"
    p = Auto().probability(marginal_text)
    policy = Auto(thresholds={"medium": p - 0.01, "large": 0.99999})

    def chat(text: str, route: Any = policy, system: str = LONG_POLICY) -> Any:
        @cost_aware(route=route)
        def ask() -> Any:
            return anthropic_client.messages.create(
                model=OPUS, max_tokens=300, system=system, messages=user(text)
            )

        return ask()

    sim.add_fault(Fault(status=400, times=1))
    with pytest.raises(anthropic.BadRequestError):
        chat(TRIVIAL[0]["content"])  # routed to Haiku, which never answered
    assert chat(marginal_text).model == SONNET  # so no warm cache holds it back

    other = "Second product. " + LONG_POLICY  # a prefix no model has answered yet
    cascade = Cascade(models=[HAIKU, SONNET], accept=lambda text: True)
    accepted = chat(TRIVIAL[0]["content"], route=cascade, system=other)
    assert accepted.model == HAIKU  # accepted on Haiku: warm there
    kept = chat(marginal_text, system=other)
    assert kept.model == HAIKU and kept.usage.cache_read_input_tokens > 0


def test_warm_prefixes_follow_the_configured_clock(anthropic_client: Any, sim: Any, telemetry: Any) -> None:
    """``configure(clock=...)``: a simulation that moves time itself moves the warm-prefix memory with
    it: five minutes after Haiku last answered the prefix, it no longer holds a borderline ask back."""
    marginal_text = "Which of our plans includes priority support, and how do I upgrade to it?"
    p = Auto().probability(marginal_text)
    policy = Auto(thresholds={"medium": p - 0.01, "large": 0.99999})
    now = [1000.0]
    costaware.configure(clock=lambda: now[0])

    @cost_aware(route=policy)
    def chat(text: str) -> Any:
        return anthropic_client.messages.create(
            model=OPUS, max_tokens=300, system=LONG_POLICY, messages=user(text)
        )

    assert chat(TRIVIAL[0]["content"]).model == HAIKU
    now[0] += 299
    assert chat(marginal_text).model == HAIKU  # within the cache's lifetime: kept
    now[0] += 301  # Haiku last answered 301 s ago (the kept ask was Haiku's, so count from it)
    assert chat(marginal_text).model == SONNET
    with pytest.raises(costaware.ConfigurationError, match="clock must be a callable"):
        costaware.configure(clock=5)
