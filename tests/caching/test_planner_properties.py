"""Properties of the Anthropic planner over arbitrary requests, checked against the simulator's own
reading of the request (``costaware.sim.tokens``) rather than the planner's."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from costaware.core.caching import CachePlan, ReuseTracker, apply, plan_anthropic
from costaware.sim.caching import AnthropicPromptCache, min_cacheable_tokens
from costaware.sim.tokens import anthropic_blocks, tokens_for_length

MODELS = ["claude-sonnet-4-6", "claude-haiku-4-5", "claude-3-5-haiku-20241022", "claude-opus-4-1", "other"]
GAPS = [0.0, 5.0, 200.0, 400.0, 1200.0, 4000.0]

markers = st.sampled_from(
    [
        None,
        None,
        None,
        {"type": "ephemeral"},
        {"type": "ephemeral", "ttl": "1h"},
        {"type": "ephemeral", "ttl": "5m"},
    ]
)
texts = st.builds(
    lambda word, n: word * n, st.sampled_from(["a", "é", "word ", "tool "]), st.integers(0, 2500)
)


def with_marker(block: dict[str, Any], marker: Any) -> dict[str, Any]:
    return block if marker is None else {**block, "cache_control": marker}


text_blocks = st.builds(lambda t, m: with_marker({"type": "text", "text": t}, m), texts, markers)
tool_results = st.builds(
    lambda content, m: with_marker({"type": "tool_result", "tool_use_id": "t1", "content": content}, m),
    st.one_of(texts, st.lists(text_blocks, min_size=1, max_size=2)),
    markers,
)
images = st.builds(
    lambda m: with_marker(
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}, m
    ),
    markers,
)
thinking = st.just({"type": "thinking", "thinking": "let me think", "signature": "sig"})
user_content = st.one_of(
    texts, st.lists(st.one_of(text_blocks, tool_results, images), min_size=1, max_size=3)
)
assistant_content = st.one_of(texts, st.lists(st.one_of(text_blocks, thinking), min_size=1, max_size=3))


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": draw(st.sampled_from(MODELS)), "max_tokens": 10}
    tools = draw(
        st.lists(
            st.builds(
                lambda i, d, m: with_marker(
                    {"name": f"t{i}", "description": d, "input_schema": {"type": "object"}}, m
                ),
                st.integers(0, 9),
                texts,
                markers,
            ),
            max_size=3,
        )
    )
    if tools:
        kwargs["tools"] = tools
    system = draw(st.one_of(st.none(), texts, st.lists(text_blocks, min_size=1, max_size=3)))
    if system is not None:
        kwargs["system"] = system
    turns = draw(st.integers(1, 6))
    kwargs["messages"] = [
        {
            "role": "user" if i % 2 == 0 else "assistant",
            "content": draw(user_content if i % 2 == 0 else assistant_content),
        }
        for i in range(turns)
    ]
    if draw(st.integers(0, 9)) == 0:
        kwargs["cache_control"] = {"type": "ephemeral"}
    return kwargs


@st.composite
def histories(draw: st.DrawFn, kwargs: dict[str, Any]) -> list[tuple[dict[str, Any], float]]:
    """Earlier calls the tracker saw: this request, its previous turn, or a sibling question."""
    variants = [kwargs, {**kwargs, "messages": kwargs["messages"][:-2] or kwargs["messages"]}]
    variants.append({**kwargs, "messages": [*kwargs["messages"][:-1], {"role": "user", "content": "other?"}]})
    return draw(st.lists(st.tuples(st.sampled_from(variants), st.sampled_from(GAPS)), max_size=4))


def sim_markers(body: dict[str, Any]) -> list[tuple[int, Any]]:
    """(block index, marker) of every top-level block marker, as the simulator reads the request."""
    return [(i, marker) for i, (_, marker) in enumerate(anthropic_blocks(body)) if marker is not None]


def nested_marker_count(body: dict[str, Any]) -> int:
    count = 0
    for message in body["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else ():
            inner = part.get("content")
            count += sum("cache_control" in item for item in inner) if isinstance(inner, list) else 0
    return count


def normalised(body: dict[str, Any]) -> dict[str, Any]:
    """The request with string system/content written as one text block, as apply may rewrite them."""
    body = copy.deepcopy(body)
    if isinstance(body.get("system"), str):
        body["system"] = [{"type": "text", "text": body["system"]}]
    for message in body["messages"]:
        if isinstance(message["content"], str):
            message["content"] = [{"type": "text", "text": message["content"]}]
    return body


def block_at(body: dict[str, Any], section: str, index: int, block: int | None) -> dict[str, Any]:
    if section == "messages":
        assert block is not None
        return body["messages"][index]["content"][block]
    return body[section][index]


def plan_after(kwargs: dict[str, Any], history: list[tuple[dict[str, Any], float]]) -> CachePlan:
    tracker, now = ReuseTracker(), 0.0
    for earlier, gap in history:
        now += gap
        plan_anthropic(earlier, model=earlier["model"], tracker=tracker, now=now)
    return plan_anthropic(kwargs, model=kwargs["model"], tracker=tracker, now=now + 30.0)


@st.composite
def planned(draw: st.DrawFn) -> tuple[dict[str, Any], CachePlan]:
    kwargs = draw(requests())
    return kwargs, plan_after(kwargs, draw(histories(kwargs)))


@st.composite
def planned_with_snapshot(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(kwargs, a deep copy taken before planning, the kwargs sent)."""
    kwargs = draw(requests())
    history = draw(histories(kwargs))
    before = copy.deepcopy(kwargs)
    return kwargs, before, apply(kwargs, plan_after(kwargs, history))


PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(planned())
def test_never_more_than_four_breakpoints_in_total(case: tuple[dict[str, Any], CachePlan]) -> None:
    kwargs, plan = case
    sent = apply(kwargs, plan)
    callers = len(sim_markers(kwargs)) + nested_marker_count(kwargs)
    total = len(sim_markers(sent)) + nested_marker_count(sent)
    assert total == callers + len(plan.breakpoints)
    assert total <= 4 or not plan.breakpoints
    if callers <= 4 and "cache_control" not in kwargs:  # what the simulator (and the API) accept
        AnthropicPromptCache(clock=lambda: 0.0).apply(kwargs["model"], anthropic_blocks(sent))


@PROPERTY_SETTINGS
@given(planned_with_snapshot())
def test_the_callers_kwargs_are_never_mutated(
    case: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    kwargs, before, _ = case
    assert kwargs == before


@PROPERTY_SETTINGS
@given(planned())
def test_only_planned_blocks_change_and_the_callers_markers_stay_put(
    case: tuple[dict[str, Any], CachePlan],
) -> None:
    kwargs, plan = case
    sent = normalised(apply(kwargs, plan))
    expected = normalised(kwargs)
    for point in plan.breakpoints:
        original = block_at(expected, point.section, point.index, point.block)
        assert "cache_control" not in original  # never on a block the caller marked
        marked = block_at(sent, point.section, point.index, point.block)
        wanted = {"type": "ephemeral", "ttl": "1h"} if point.ttl == "1h" else {"type": "ephemeral"}
        assert marked == {**original, "cache_control": wanted}
        original["cache_control"] = wanted
    assert sent == expected


@PROPERTY_SETTINGS
@given(planned())
def test_no_breakpoint_below_the_models_minimum(case: tuple[dict[str, Any], CachePlan]) -> None:
    kwargs, plan = case
    sent = apply(kwargs, plan)
    blocks = anthropic_blocks(sent)
    callers = {i for i, _ in sim_markers(kwargs)}
    ours = [i for i, _ in sim_markers(sent) if i not in callers]
    assert len(ours) == len(plan.breakpoints)
    for i, point in zip(ours, plan.breakpoints, strict=True):
        tokens = tokens_for_length(len("\n".join(text for text, _ in blocks[: i + 1]).encode("utf-8")))
        assert tokens == point.prefix_tokens  # the planner's estimate is the simulator's count
        assert tokens >= min_cacheable_tokens(kwargs["model"])


@PROPERTY_SETTINGS
@given(planned())
def test_a_1h_breakpoint_never_follows_a_5m_one_unless_the_caller_did_that(
    case: tuple[dict[str, Any], CachePlan],
) -> None:
    kwargs, plan = case

    def ordered(body: dict[str, Any]) -> bool:
        ttls = [(m or {}).get("ttl", "5m") for _, m in sim_markers(body)]
        return all(not (a == "5m" and b == "1h") for i, a in enumerate(ttls) for b in ttls[i + 1 :])

    if ordered(kwargs):
        assert ordered(apply(kwargs, plan))


@PROPERTY_SETTINGS
@given(planned())
def test_automatic_caching_is_left_alone(case: tuple[dict[str, Any], CachePlan]) -> None:
    kwargs, plan = case
    if "cache_control" in kwargs:
        assert plan.automatic and plan.breakpoints == ()
        assert apply(kwargs, plan) == kwargs


@given(requests())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_prefix_sizes_and_keys_are_those_of_the_joined_prompt(kwargs: dict[str, Any]) -> None:
    """The planner's prefix estimates (read from sizes while hashing) and tracker keys are exactly
    those of the prompt through each segment, joined by newlines, as first written."""
    import hashlib

    from costaware.core.caching import estimate_tokens
    from costaware.core.caching.reading import _Prefixes, _read_anthropic

    request = _read_anthropic(kwargs)
    if isinstance(request, str):
        return
    model = kwargs["model"]
    prefixes = _Prefixes(model, request, estimate_tokens)
    joined = _Prefixes(model, request, lambda text: estimate_tokens(text))  # not the default: joins
    texts = [segment.text for segment in request.segments]
    for end in range(len(texts)):
        whole = "\n".join(texts[: end + 1])
        assert prefixes.tokens(end) == joined.tokens(end) == estimate_tokens(whole)
        key = hashlib.blake2b(model.encode() + b"\0" + whole.encode(), digest_size=16).digest()
        assert prefixes.digests[end] == key
