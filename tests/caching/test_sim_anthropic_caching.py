"""The planner's breakpoints sent by the real anthropic client over HTTP to the simulator, whose
usage shows what was written to and read from its prompt cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costaware.core.caching import CachePlan, ReuseTracker, apply, plan_anthropic
from costaware.sim import Simulator, prompt_tokens

from helpers import FakeClock

SONNET = "claude-sonnet-4-6"
MINUTE = 60.0
SYSTEM = "You are the support assistant of a library that cuts LLM bills. Be precise. " * 60


@pytest.fixture
def client(cache_sim: Simulator) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=cache_sim.anthropic_base_url, api_key="k", max_retries=0) as client:
        yield client


class Caller:
    """Plans and sends calls as the pipeline will: plan, apply, then the SDK call."""

    def __init__(self, client: anthropic.Anthropic, clock: FakeClock, model: str = SONNET) -> None:
        self.client, self.clock, self.model = client, clock, model
        self.tracker = ReuseTracker()
        self.plans: list[CachePlan] = []

    def send(self, **kwargs: Any) -> Any:
        kwargs = {"model": self.model, "max_tokens": 64, **kwargs}
        plan = plan_anthropic(kwargs, model=self.model, tracker=self.tracker, now=self.clock())
        self.plans.append(plan)
        return self.client.messages.create(**apply(kwargs, plan))


def cache(usage: Any) -> tuple[int, int]:
    """(written, read) prompt-cache tokens of a response."""
    return usage.cache_creation_input_tokens, usage.cache_read_input_tokens


def total_prompt(usage: Any) -> int:
    return usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens


def system_tokens(system: str = SYSTEM) -> int:
    return prompt_tokens("anthropic", {"system": system, "messages": []})


def test_a_long_stable_system_prompt_is_written_once_then_read(
    client: anthropic.Anthropic, clock: FakeClock
) -> None:
    caller = Caller(client, clock)
    usages = []
    for question in ("How do I install it?", "Does it support streaming?", "What does it cost?"):
        usages.append(caller.send(system=SYSTEM, messages=[{"role": "user", "content": question}]).usage)
        clock.advance(20)
    assert cache(usages[0]) == (system_tokens(), 0)
    assert cache(usages[1]) == (0, system_tokens())
    assert cache(usages[2]) == (0, system_tokens())
    assert (
        usages[2].input_tokens
        == prompt_tokens(
            "anthropic", {"system": SYSTEM, "messages": [{"role": "user", "content": "What does it cost?"}]}
        )
        - system_tokens()
    )


def test_a_growing_conversation_reads_its_earlier_turns(
    client: anthropic.Anthropic, clock: FakeClock
) -> None:
    caller = Caller(client, clock)
    messages: list[dict[str, Any]] = []
    usages, sent_prefixes = [], []
    for turn in range(5):
        messages.append({"role": "user", "content": f"Turn {turn}: tell me more about caching. " * 8})
        response = caller.send(system=SYSTEM, messages=list(messages))
        usages.append(response.usage)
        sent_prefixes.append(total_prompt(response.usage))
        messages.append({"role": "assistant", "content": response.content})  # the SDK's own blocks
        clock.advance(45)
    assert cache(usages[0]) == (system_tokens(), 0)
    assert usages[1].cache_read_input_tokens == system_tokens()
    for turn in range(2, 5):
        # each turn reads everything through the previous turn's question and writes the rest
        assert usages[turn].cache_read_input_tokens == sent_prefixes[turn - 1]
        assert usages[turn].cache_creation_input_tokens == sent_prefixes[turn] - sent_prefixes[turn - 1]
        assert usages[turn].input_tokens == 0
    assert [b.location for b in caller.plans[4].breakpoints] == ["system[0]", "messages[8].content[0]"]


def test_a_short_prompt_gets_no_breakpoint_and_no_cache_activity(
    client: anthropic.Anthropic, clock: FakeClock
) -> None:
    caller = Caller(client, clock)
    for _ in range(3):
        usage = caller.send(system="Be brief.", messages=[{"role": "user", "content": "Hi"}]).usage
        clock.advance(5)
        assert cache(usage) == (0, 0)
    assert all(plan.breakpoints == () for plan in caller.plans)


def test_questions_over_one_document_read_the_document(client: anthropic.Anthropic, clock: FakeClock) -> None:
    caller = Caller(client, clock)
    document = {"type": "text", "text": "Clause: the supplier delivers monthly. " * 150}
    usages = []
    for question in ("Who delivers?", "How often?", "Since when?"):
        content = [document, {"type": "text", "text": question}]
        usages.append(caller.send(messages=[{"role": "user", "content": content}]).usage)
        clock.advance(30)
    document_tokens = prompt_tokens("anthropic", {"messages": [{"role": "user", "content": [document]}]})
    assert cache(usages[0]) == (0, 0)  # nothing known yet: a one-off prompt is not worth a write
    assert cache(usages[1]) == (document_tokens, 0)
    assert cache(usages[2]) == (0, document_tokens)


def test_reuse_twenty_minutes_apart_is_cached_for_an_hour(
    client: anthropic.Anthropic, clock: FakeClock
) -> None:
    caller = Caller(client, clock)
    usages = []
    for call in range(5):
        usages.append(
            caller.send(system=SYSTEM, messages=[{"role": "user", "content": f"Report {call}"}]).usage
        )
        clock.advance(20 * MINUTE)
    writes_1h = [u.cache_creation.ephemeral_1h_input_tokens for u in usages]
    assert cache(usages[0]) == (system_tokens(), 0)  # eager 5m write, lapsed unread 20 minutes later
    assert cache(usages[1]) == (0, 0)  # one gap seen: not yet worth a 1h write
    assert writes_1h[2] == system_tokens() and usages[2].cache_read_input_tokens == 0
    assert cache(usages[3]) == (0, system_tokens()) and cache(usages[4]) == (0, system_tokens())


def test_the_callers_markers_plus_ours_never_exceed_four(
    client: anthropic.Anthropic, clock: FakeClock
) -> None:
    caller = Caller(client, clock)
    marker = {"type": "ephemeral"}
    tools = [
        {
            "name": "lookup",
            "description": "Finds things. " * 400,
            "input_schema": {"type": "object"},
            "cache_control": marker,
        }
    ]
    system = [
        {"type": "text", "text": SYSTEM, "cache_control": marker},
        {"type": "text", "text": "Extra rules. " * 200},
    ]
    first = [
        {"role": "user", "content": [{"type": "text", "text": "Context. " * 300, "cache_control": marker}]}
    ]
    caller.send(tools=tools, system=system, messages=first)
    clock.advance(10)
    reply = [{"role": "assistant", "content": "Noted."}, {"role": "user", "content": "Now answer."}]
    response = caller.send(tools=tools, system=system, messages=[*first, *reply])
    assert len(caller.plans[-1].breakpoints) == 1 and caller.plans[-1].caller_breakpoints == 3
    assert response.usage.cache_read_input_tokens > 0
    # A fifth marker is what the API refuses: the simulator does too.
    extra = {"type": "text", "text": "x", "cache_control": marker}
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks with cache_control"):
        client.messages.create(
            model=SONNET,
            max_tokens=5,
            tools=tools,
            system=[*system[:1], {**system[1], "cache_control": marker}],
            messages=[
                {"role": "user", "content": [first[0]["content"][0], extra]},
                *reply[:1],
                {"role": "user", "content": [extra]},
            ],
        )


markers = st.sampled_from([None, None, {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}])
long_texts = st.builds(lambda n: "lorem ipsum " * n, st.integers(1, 900))


def marked(text: str, marker: Any) -> dict[str, Any]:
    return {"type": "text", "text": text, **({"cache_control": marker} if marker else {})}


@st.composite
def marked_requests(draw: st.DrawFn) -> dict[str, Any]:
    system = [marked(draw(long_texts), draw(markers)) for _ in range(draw(st.integers(1, 3)))]
    messages: list[dict[str, Any]] = []
    for turn in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": [marked(draw(long_texts), draw(markers))]})
        messages.append({"role": "assistant", "content": f"answer {turn}"})
    return {"system": system, "messages": messages[:-1]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(marked_requests(), min_size=1, max_size=3))
def test_planned_requests_are_never_refused_for_too_many_breakpoints(
    client: anthropic.Anthropic, clock: FakeClock, requests: list[dict[str, Any]]
) -> None:
    caller = Caller(client, clock)
    for kwargs in requests:
        if (
            sum("cache_control" in b for b in kwargs["system"])
            + sum("cache_control" in m["content"][0] for m in kwargs["messages"] if m["role"] == "user")
            > 4
        ):
            continue  # the caller's own request is already invalid
        for _ in range(3):  # the same request again and again: the planner marks more each time
            caller.send(**kwargs)
            clock.advance(30)
