"""Specification of costaware.core.caching's Anthropic planner: where breakpoints go, with which TTL."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest

from costaware.core.caching import (
    Breakpoint,
    CachePlan,
    CachePolicy,
    ReuseTracker,
    apply,
    estimate_tokens,
    min_cacheable_tokens,
    plan_anthropic,
)
from costaware.sim.caching import min_cacheable_tokens as sim_min_cacheable_tokens

SONNET = "claude-sonnet-4-6"
MINUTE = 60.0
LONG_SYSTEM = "You answer questions about the costaware library. " * 120  # ~1500 tokens
TOOLS = [
    {"name": f"tool_{i}", "description": "Looks things up. " * 100, "input_schema": {"type": "object"}}
    for i in range(3)
]  # ~1300 tokens together


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def request(
    system: Any = LONG_SYSTEM, messages: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": SONNET, "max_tokens": 100, "messages": messages or [user("Hi")]}
    if system is not None:
        kwargs["system"] = system
    return {**kwargs, **extra}


class Planner:
    """Plans successive calls on one tracker, like the pipeline would, with a clock the test moves."""

    def __init__(self, model: str = SONNET, policy: CachePolicy | None = None) -> None:
        self.tracker = ReuseTracker()
        self.now = 10_000.0
        self.model = model
        self.policy = policy or CachePolicy()

    def plan(self, kwargs: dict[str, Any], *, after: float = 0.0) -> CachePlan:
        self.now += after
        return plan_anthropic(
            kwargs, model=self.model, tracker=self.tracker, now=self.now, policy=self.policy
        )


def where(plan: CachePlan) -> list[tuple[str, str]]:
    return [(b.location, b.ttl) for b in plan.breakpoints]


# -- the minimum cacheable prefix -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-sonnet-4-6", 1024),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-opus-4-20250514", 1024),
        ("claude-opus-4-1", 1024),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-haiku-4-5", 4096),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("anthropic.claude-3-5-haiku-20241022-v1:0", 2048),
        ("claude-haiku-4-5@20251001", 4096),
        ("claude-3-7-sonnet-latest", 1024),
        ("my-fine-tuned-thing", 1024),
    ],
)
def test_minimum_cacheable_prefix_follows_the_model_table(model: str, minimum: int) -> None:
    assert min_cacheable_tokens(model) == minimum
    assert sim_min_cacheable_tokens(model) == minimum  # the simulator agrees


def test_token_estimate_is_utf8_bytes_over_four_rounded_up() -> None:
    assert [estimate_tokens(t) for t in ("", "a", "abcd", "abcde", "é" * 4)] == [0, 1, 1, 2, 2]


# -- placement ---------------------------------------------------------------------------------------


def test_a_long_new_system_prompt_is_marked_eagerly_as_a_one_block_list() -> None:
    kwargs = request()
    plan = Planner().plan(kwargs)
    assert where(plan) == [("system[0]", "5m")]
    sent = apply(kwargs, plan)
    assert sent["system"] == [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    assert kwargs["system"] == LONG_SYSTEM


def test_a_short_prompt_gets_no_breakpoint_and_says_why() -> None:
    kwargs = request(system="Be brief.")
    planner = Planner()
    first, second = planner.plan(kwargs), planner.plan(kwargs, after=1)
    assert first.breakpoints == () and second.breakpoints == ()
    assert any("below minimum" in reason and "< 1024 tokens" in reason for reason in second.skipped)
    assert apply(kwargs, second) == kwargs


def test_the_minimum_depends_on_the_model() -> None:
    kwargs = request()  # ~1500 tokens: enough for Sonnet, not for Opus 4.5+
    assert Planner(SONNET).plan(kwargs).breakpoints
    plan = Planner("claude-opus-4-6").plan(kwargs)
    assert plan.breakpoints == ()
    assert any("below minimum" in r and "< 4096 tokens" in r for r in plan.skipped)


def test_min_tokens_overrides_the_table() -> None:
    kwargs = request(system="short system prompt " * 10)
    plan = plan_anthropic(kwargs, model=SONNET, tracker=ReuseTracker(), now=0.0, min_tokens=10)
    assert where(plan) == [("system[0]", "5m")]


def test_tools_and_system_are_marked_in_prompt_order() -> None:
    kwargs = request(tools=TOOLS)
    plan = Planner().plan(kwargs)
    assert where(plan) == [("tools[2]", "5m"), ("system[0]", "5m")]
    sent = apply(kwargs, plan)
    assert sent["tools"][2]["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in sent["tools"][0]
    assert plan.breakpoints[0].prefix_tokens < plan.breakpoints[1].prefix_tokens


def test_the_last_system_block_is_marked() -> None:
    blocks = [{"type": "text", "text": LONG_SYSTEM}, {"type": "text", "text": "Today is Monday."}]
    plan = Planner().plan(request(system=blocks))
    assert where(plan) == [("system[1]", "5m")]


def test_a_caller_top_level_cache_control_means_automatic_caching_and_no_plan() -> None:
    kwargs = request(cache_control={"type": "ephemeral"})
    plan = Planner().plan(kwargs)
    assert plan.automatic and plan.breakpoints == ()
    assert apply(kwargs, plan) == kwargs


def test_the_callers_own_marker_is_kept_and_not_doubled() -> None:
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    kwargs = request(system=system)
    plan = Planner().plan(kwargs)
    assert plan.breakpoints == () and plan.caller_breakpoints == 1
    assert "system: already marked by the caller" in plan.skipped
    assert apply(kwargs, plan)["system"] == system


def test_four_caller_markers_leave_no_room() -> None:
    marker = {"type": "ephemeral"}
    system = [{"type": "text", "text": f"part {i} " * 300, "cache_control": marker} for i in range(4)]
    plan = Planner().plan(request(system=system))
    assert plan.breakpoints == () and plan.caller_breakpoints == 4


def test_with_one_slot_left_the_system_prompt_wins_over_the_tools() -> None:
    marker = {"type": "ephemeral"}
    messages = [
        {"role": "user", "content": [{"type": "text", "text": f"doc {i} " * 10, "cache_control": marker}]}
        for i in range(3)
    ]
    plan = Planner().plan(request(tools=TOOLS, messages=messages))
    assert where(plan) == [("system[0]", "5m")]
    assert any(r.startswith("tools: no breakpoint left") for r in plan.skipped)


def test_with_one_slot_left_a_growing_conversation_wins_over_the_system_prompt() -> None:
    marker = {"type": "ephemeral"}
    documents = [{"type": "text", "text": f"doc {i} " * 10, "cache_control": marker} for i in range(3)]
    first = [{"role": "user", "content": documents}]
    planner = Planner()
    planner.plan(request(messages=first))
    later = [*first, {"role": "assistant", "content": "Read them."}, user("Compare them.")]
    plan = planner.plan(request(messages=later), after=10)
    assert where(plan) == [("messages[2].content[0]", "5m")]  # its prefix holds the system prompt too
    assert any(r.startswith("system: no breakpoint left") for r in plan.skipped)


def test_markers_nested_in_a_tool_result_count_against_the_limit() -> None:
    marker = {"type": "ephemeral"}
    nested = [{"type": "text", "text": "result", "cache_control": marker}]
    content = [{"type": "tool_result", "tool_use_id": f"t{i}", "content": nested} for i in range(4)]
    plan = Planner().plan(request(messages=[{"role": "user", "content": content}]))
    assert plan.caller_breakpoints == 4 and plan.breakpoints == ()


# -- conversations -----------------------------------------------------------------------------------


def conversation(turns: int, words: int = 60) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for turn in range(turns):
        if turn:
            messages.append({"role": "assistant", "content": f"answer {turn} " + "yes " * words})
        messages.append(user(f"question {turn} " + "why " * words))
    return messages


def test_a_growing_conversation_marks_the_last_user_message_from_the_second_turn() -> None:
    planner = Planner()
    first = planner.plan(request(messages=conversation(1)))
    assert where(first) == [("system[0]", "5m")]
    assert "conversation: no earlier turn seen (a first turn or a one-off prompt)" in first.skipped
    second = planner.plan(request(messages=conversation(2)), after=30)
    assert where(second) == [("system[0]", "5m"), ("messages[2].content[0]", "5m")]
    assert second.breakpoints[1].reason.startswith("conversation: growing conversation")
    third = planner.plan(request(messages=conversation(3)), after=30)
    assert where(third)[-1] == ("messages[4].content[0]", "5m")


def _whole(messages: list[dict[str, Any]]) -> int:
    """The planner's token estimate of a system-less request (its canonical text)."""
    return estimate_tokens(
        "\n".join(
            f"user: {m['content']}" if m["role"] == "user" else f"assistant: {m['content']}" for m in messages
        )
    )


def _plan_turns(minimum: int, turns: int) -> list[CachePlan]:
    tracker, plans = ReuseTracker(), []
    for turn in range(1, turns + 1):
        kwargs = request(system=None, messages=conversation(turn))
        plans.append(
            plan_anthropic(kwargs, model=SONNET, tracker=tracker, now=float(turn), min_tokens=minimum)
        )
    return plans


def test_a_turn_from_half_the_minimum_up_is_remembered_for_the_next() -> None:
    first_turn, second_turn = _whole(conversation(1)), _whole(conversation(2))
    minimum = 2 * first_turn  # the first turn is exactly half: remembered
    assert second_turn >= minimum
    first, second = _plan_turns(minimum, 2)
    assert first.breakpoints == ()
    assert where(second) == [("messages[2].content[0]", "5m")]


def test_a_request_under_half_the_minimum_is_neither_planned_nor_remembered() -> None:
    first_turn, second_turn = _whole(conversation(1)), _whole(conversation(2))
    minimum = 2 * first_turn + 2  # the first turn is just under half
    assert second_turn >= minimum
    first, second, third = _plan_turns(minimum, 3)
    assert first.breakpoints == ()
    assert first.skipped == (
        f"request below minimum ({first_turn} < {minimum} tokens, under half of it): not planned or tracked",
    )
    # Its conversation's next turn crosses the minimum unseen: its breakpoint waits one turn.
    assert second.breakpoints == ()
    assert "conversation: no earlier turn seen (a first turn or a one-off prompt)" in second.skipped
    assert where(third) == [("messages[4].content[0]", "5m")]


def test_a_small_request_still_counts_the_callers_markers() -> None:
    marked = {"type": "text", "text": "Hi", "cache_control": {"type": "ephemeral"}}
    plan = Planner().plan(request(system=None, messages=[{"role": "user", "content": [marked]}]))
    assert plan.breakpoints == () and plan.caller_breakpoints == 1
    assert plan.skipped[0].startswith("request below minimum (")


def test_the_conversation_tail_becomes_a_one_block_list_and_nothing_else_is_copied() -> None:
    planner = Planner()
    planner.plan(request(messages=conversation(1)))
    kwargs = request(messages=conversation(2))
    sent = apply(kwargs, planner.plan(kwargs, after=5))
    tail = sent["messages"][2]["content"]
    assert tail == [
        {"type": "text", "text": kwargs["messages"][2]["content"], "cache_control": {"type": "ephemeral"}}
    ]
    assert sent["messages"][0] is kwargs["messages"][0]  # untouched messages are shared, not copied
    assert sent["messages"] is not kwargs["messages"]


def test_an_assistant_prefill_leaves_the_marker_on_the_last_user_message() -> None:
    planner = Planner()
    planner.plan(request(messages=conversation(1)))
    prefill = {"role": "assistant", "content": "{"}
    plan = planner.plan(request(messages=[*conversation(2), prefill]), after=5)
    assert where(plan)[-1] == ("messages[2].content[0]", "5m")


def test_a_repeated_prompt_marks_its_tail() -> None:
    planner = Planner()
    kwargs = request(messages=conversation(2))
    planner.plan(kwargs)
    plan = planner.plan(kwargs, after=10)
    assert where(plan)[-1] == ("messages[2].content[0]", "5m")
    assert plan.breakpoints[-1].reason.startswith("conversation: repeated prompt")


def test_questions_over_one_shared_history_mark_the_end_of_that_history() -> None:
    document = "The contract says many things. " * 200
    history = [user(document), {"role": "assistant", "content": "I have read it."}]
    planner = Planner()
    planner.plan(request(system="Be exact.", messages=[*history, user("Who signs?")]))
    plan = planner.plan(request(system="Be exact.", messages=[*history, user("When does it end?")]), after=20)
    assert where(plan) == [("messages[1].content[0]", "5m")]
    assert plan.breakpoints[0].reason.startswith("history: shared history")


def test_a_document_block_shared_by_questions_in_one_message_is_marked() -> None:
    document = {"type": "text", "text": "The contract says many things. " * 200}
    planner = Planner()
    for question in ("Who signs?", "When does it end?"):
        content = [document, {"type": "text", "text": question}]
        plan = planner.plan(request(system=None, messages=[{"role": "user", "content": content}]), after=20)
    assert where(plan) == [("messages[0].content[0]", "5m")]


def test_a_long_new_turn_also_marks_the_previous_turn_within_the_lookback() -> None:
    planner = Planner()
    first = conversation(2)
    planner.plan(request(messages=first))
    tool_turns: list[dict[str, Any]] = []
    for i in range(12):  # 24 blocks after the previous tail: beyond the API's 20-block lookback
        tool_turns.append(
            {"role": "assistant", "content": [{"type": "tool_use", "id": f"t{i}", "name": "f", "input": {}}]}
        )
        tool_turns.append(
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"t{i}", "content": "ok"}]}
        )
    plan = planner.plan(request(messages=[*first, *tool_turns]), after=5)
    assert where(plan) == [
        ("system[0]", "5m"),
        ("messages[2].content[0]", "5m"),
        ("messages[26].content[0]", "5m"),
    ]
    assert plan.breakpoints[1].reason.startswith("bridge")


def test_thinking_blocks_are_never_marked() -> None:
    document = "The contract says many things. " * 200
    assistant = {
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Read."},
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
        ],
    }
    planner = Planner()
    planner.plan(request(system=None, messages=[user(document), assistant, user("Who signs?")]))
    kwargs = request(system=None, messages=[user(document), assistant, user("When?")])
    plan = planner.plan(kwargs, after=20)
    assert where(plan) == [("messages[1].content[0]", "5m")]  # the text block before the thinking block
    assert "cache_control" not in apply(kwargs, plan)["messages"][1]["content"][1]


def test_sdk_response_blocks_in_the_history_are_sent_as_marked_dicts() -> None:
    from anthropic.types import TextBlock

    document = "The contract says many things. " * 200
    reply = {"role": "assistant", "content": [TextBlock(type="text", text="I have read it.")]}
    planner = Planner()
    planner.plan(request(system=None, messages=[user(document), reply, user("Who signs?")]))
    kwargs = request(system=None, messages=[user(document), reply, user("When?")])
    sent = apply(kwargs, planner.plan(kwargs, after=20))
    assert sent["messages"][1]["content"][0] == {
        "type": "text",
        "text": "I have read it.",
        "cache_control": {"type": "ephemeral"},
    }
    assert isinstance(kwargs["messages"][1]["content"][0], TextBlock)


def test_an_iterator_of_messages_is_not_planned_nor_consumed() -> None:
    messages = iter([user("Hi")])
    plan = Planner().plan({"model": SONNET, "max_tokens": 5, "system": LONG_SYSTEM, "messages": messages})
    assert plan.breakpoints == () and plan.skipped == ("messages is not a list or tuple: not planned",)
    assert next(messages) == user("Hi")


def test_a_plan_applied_to_other_kwargs_never_exceeds_four_markers() -> None:
    marker = {"type": "ephemeral"}
    plan = CachePlan(breakpoints=tuple(Breakpoint("system", i, None, "5m", 2000, "test") for i in range(4)))
    system = [
        {"type": "text", "text": f"block {i}", **({"cache_control": marker} if i < 2 else {})}
        for i in range(5)
    ]
    sent = apply(request(system=system), plan)
    assert sum("cache_control" in block for block in sent["system"]) == 4
    assert apply(request(system=None), plan) == request(system=None)  # nothing fits: nothing changes


# -- TTL choice --------------------------------------------------------------------------------------


def test_reuse_within_five_minutes_keeps_the_5m_ttl() -> None:
    planner = Planner()
    plans = [planner.plan(request(messages=[user(f"q{i}")]), after=4 * MINUTE) for i in range(4)]
    assert all(where(plan) == [("system[0]", "5m")] for plan in plans)


def test_reuse_every_twenty_minutes_earns_the_1h_ttl_after_two_gaps() -> None:
    planner = Planner()
    first = planner.plan(request(messages=[user("q0")]))
    second = planner.plan(request(messages=[user("q1")]), after=20 * MINUTE)
    third = planner.plan(request(messages=[user("q2")]), after=20 * MINUTE)
    assert where(first) == [("system[0]", "5m")]  # eager: nothing known yet
    assert second.breakpoints == ()  # a 1h write needs two reads to pay: one gap is not enough evidence
    assert any("waiting for one more" in reason for reason in second.skipped)
    assert where(third) == [("system[0]", "1h")]
    sent = apply(request(messages=[user("q2")]), third)
    assert sent["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_one_long_gap_keeps_the_1h_ttl_until_it_leaves_the_window() -> None:
    planner = Planner()
    for gap in (0, 20 * MINUTE, 20 * MINUTE):
        planner.plan(request(), after=gap)
    ttls = [where(planner.plan(request(), after=MINUTE))[0][1] for _ in range(4)]
    # The last four gaps, the current one included: (20m, 20m, 1m), (20m, 20m, 1m, 1m), (20m, 1m, 1m, 1m), (1m x 4)
    assert ttls == ["1h", "1h", "1h", "5m"]


def test_a_prefix_unseen_for_over_an_hour_counts_as_new() -> None:
    planner = Planner(policy=CachePolicy(eager_static=False))
    planner.plan(request())
    plan = planner.plan(request(), after=61 * MINUTE)
    assert plan.breakpoints == () and "system: not seen in the last hour" in plan.skipped


def test_without_eager_marking_a_system_prompt_is_marked_from_its_second_sighting() -> None:
    planner = Planner(policy=CachePolicy(eager_static=False))
    assert planner.plan(request(messages=[user("q1")])).breakpoints == ()
    assert where(planner.plan(request(messages=[user("q2")]), after=30)) == [("system[0]", "5m")]


def test_with_1h_disabled_slow_reuse_gets_no_breakpoint() -> None:
    planner = Planner(policy=CachePolicy(allow_1h=False))
    for _ in range(3):
        plan = planner.plan(request(), after=20 * MINUTE)
    assert plan.breakpoints == () and any("1h TTL is off" in reason for reason in plan.skipped)


def test_eager_marking_pauses_when_new_system_prompts_never_recur() -> None:
    planner = Planner()
    plans = [planner.plan(request(system=f"Request {i} at a new time. " * 200), after=1) for i in range(12)]
    assert where(plans[0]) == [("system[0]", "5m")]
    assert plans[-1].breakpoints == ()
    assert any("eager marking paused" in reason for reason in plans[-1].skipped)
    assert planner.tracker.eager_reuse_rate < 0.22


def test_a_slow_conversation_gets_1h_on_its_tail_and_upgrades_an_earlier_5m_breakpoint() -> None:
    planner = Planner()
    # Other users keep the system prompt warm every minute; this conversation's turns are 20 min apart.
    planner.plan(request(messages=conversation(1)))
    for turn in (2, 3):
        for _ in range(20):
            planner.plan(request(messages=[user("someone else")]), after=MINUTE)
        plan = planner.plan(request(messages=conversation(turn)))
    assert where(plan) == [("system[0]", "1h"), ("messages[4].content[0]", "1h")]
    assert plan.breakpoints[0].reason.endswith("1h because a later breakpoint is 1h")


def test_no_1h_breakpoint_of_ours_follows_a_5m_marker_of_the_callers() -> None:
    planner = Planner()
    system = [{"type": "text", "text": LONG_SYSTEM, "cache_control": {"type": "ephemeral"}}]
    planner.plan(request(system=system, messages=conversation(1)))
    for turn in (2, 3):
        plan = planner.plan(request(system=system, messages=conversation(turn)), after=20 * MINUTE)
    assert plan.breakpoints == ()
    assert "conversation: 1h wanted, but a 5m marker of the caller's comes first" in plan.skipped


# -- the tracker ---------------------------------------------------------------------------------------


def test_the_tracker_forgets_the_least_recently_seen_prefix_past_its_bound() -> None:
    tracker = ReuseTracker(max_entries=10)
    for i in range(100):
        tracker.record(bytes([i]), float(i))
    assert len(tracker) == 10
    assert tracker.sighting(bytes([0])) is None and tracker.sighting(bytes([99])) is not None


def test_the_tracker_keeps_the_last_four_gaps_and_restarts_after_an_hour() -> None:
    tracker = ReuseTracker()
    for t in (0, 10, 30, 60, 100, 150):
        tracker.record(b"k", float(t))
    seen = tracker.sighting(b"k")
    assert seen is not None and seen.count == 6 and seen.gaps == (20, 30, 40, 50)
    tracker.record(b"k", 150 + 3601.0)
    seen = tracker.sighting(b"k")
    assert seen is not None and seen.gaps == ()


def test_a_new_tail_inherits_the_conversations_gaps() -> None:
    tracker = ReuseTracker()
    tracker.record(b"turn1", 0.0)
    tracker.record(b"turn2", 100.0, inherit=b"turn1")
    tracker.record(b"turn3", 250.0, inherit=b"turn2")
    seen = tracker.sighting(b"turn3")
    assert seen is not None and seen.count == 3 and seen.gaps == (100.0, 150.0)


def test_the_tracker_is_safe_to_share_between_threads() -> None:
    tracker = ReuseTracker(max_entries=50)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        try:
            for i in range(300):
                tracker.record(bytes([seed, i % 60]), float(i), static=True)
                tracker.sighting(bytes([seed, i % 7]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(tracker) == 50
    assert 0 < tracker.eager_reuse_rate < 1


def test_plan_attributes_summarise_the_plan_for_a_span() -> None:
    kwargs = request(tools=TOOLS)
    attributes = Planner().plan(kwargs).attributes()
    assert attributes["costaware.cache.breakpoints"] == 2
    assert attributes["costaware.cache.locations"] == ("tools[2]:5m", "system[0]:5m")
    assert attributes["costaware.cache.caller_breakpoints"] == 0


def test_planning_and_applying_never_mutate_the_callers_kwargs() -> None:
    planner = Planner()
    planner.plan(request(messages=conversation(1), tools=TOOLS))
    kwargs = request(messages=conversation(2), tools=TOOLS)
    before = copy.deepcopy(kwargs)
    sent = apply(kwargs, planner.plan(kwargs, after=5))
    assert kwargs == before
    assert sent != kwargs


def test_no_breakpoint_goes_between_a_callers_5m_and_1h_markers() -> None:
    """Found by the property tests: the caller marked its tools 5m and a later tool result 1h; our
    system breakpoint can be neither (a 1h after a 5m, or a 5m before a 1h, is refused by the API)."""
    from costaware.core.caching import ReuseTracker
    from costaware.core.caching.planner import plan_anthropic

    kwargs = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 10,
        "tools": [
            {"name": "t0", "description": "é" * 1398, "input_schema": {"type": "object"},
             "cache_control": {"type": "ephemeral"}}
        ],
        "system": "word " * 245,
        "messages": [
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [
                {"type": "text", "text": "", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]}
        ],
    }  # fmt: skip
    plan = plan_anthropic(kwargs, model="claude-sonnet-4-6", tracker=ReuseTracker(), now=0.0)
    assert plan.breakpoints == ()
    assert any("no TTL is legal" in why for why in plan.skipped)
