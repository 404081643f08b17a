"""Planning Anthropic breakpoints and applying a plan to new kwargs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from costaware.core.caching.reading import (
    DEFAULT_POLICY,
    Breakpoint,
    CachePlan,
    CachePolicy,
    _caller_markers,
    _dump,
    _is_list,
    _is_mapping,
    _nested_markers,
    _Prefixes,
    _read_anthropic,
    _Request,
)
from costaware.core.caching.tracker import (
    _EAGER_BREAK_EVEN,
    _MAX_GAPS,
    _UNMARKABLE_TYPES,
    LONG_TTL_S,
    MAX_BREAKPOINTS,
    SHORT_TTL_S,
    TTL,
    ReuseTracker,
    Sighting,
    estimate_tokens,
    min_cacheable_tokens,
)

# -- planning --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Candidate:
    name: str  # tools, system, conversation, history, bridge
    segment: int
    priority: int  # lower is kept first when breakpoints are short
    ttl: TTL
    reason: str


@dataclass(slots=True)
class _Planner:
    request: _Request
    prefixes: _Prefixes
    tracker: ReuseTracker
    now: float
    policy: CachePolicy
    skipped: list[str] = field(default_factory=list)

    def recent(self, segment: int) -> Sighting | None:
        """The tracker's memory of the prefix through ``segment``, if seen within the hour."""
        seen = self.tracker.sighting(self.prefixes.digests[segment])
        return seen if seen is not None and self.now - seen.last_seen <= LONG_TTL_S else None

    def static_candidates(self) -> list[_Candidate]:
        """The last tool and the last system block, when their prefixes are likely reused."""
        request, found = self.request, []
        eager_rate = self.tracker.eager_reuse_rate
        for name, first, end in (
            ("tools", 0, request.tools_end),
            ("system", request.tools_end + 1, request.system_end),
        ):
            if end < first:
                continue
            segment = request.last_markable(first, end)
            seen = self.recent(end)
            if segment < 0:
                self.skipped.append(f"{name}: no block can carry cache_control")
                continue
            if seen is not None:
                ttl, why = _choose_ttl(seen, self.now, self.policy)
            elif not self.policy.eager_static:
                ttl, why = None, "not seen in the last hour"
            elif eager_rate < _EAGER_BREAK_EVEN:
                ttl, why = None, f"new; eager marking paused (new prefixes recur {eager_rate:.0%} < 22%)"
            else:
                ttl, why = "5m", f"new, marked eagerly (new prefixes recur {eager_rate:.0%})"
            if ttl is None:
                self.skipped.append(f"{name}: {why}")
            else:
                found.append(_Candidate(name, segment, 1, ttl, why))
        if len(found) == 2:
            found[0].priority = 2  # the system breakpoint caches the tools too: tools are the spare
        return found

    def conversation_candidates(self) -> tuple[list[_Candidate], bytes | None]:
        """Message breakpoints, and the key whose history the new tail continues (if growing)."""
        request = self.request
        users = [m for m, role in enumerate(request.roles) if role == "user"]
        if not users:
            return [], None
        tail_msg = users[-1]
        tail_end = request.message_ends[tail_msg]
        tail = request.last_markable(request.message_start(tail_msg), tail_end)
        if (seen := self.recent(tail_end)) is not None:
            return self._candidate("conversation", tail, seen, "repeated prompt", 0), None
        stem = tail_end - 1
        if stem >= request.messages_start and (seen := self.recent(stem)) is not None:
            # The history before the last block was seen with another ending: keep that history.
            anchor = request.last_markable(request.messages_start, stem)
            return self._candidate("history", anchor, seen, "shared history", 0), None
        for m in range(tail_msg - 1, -1, -1):
            end = request.message_ends[m]
            if (seen := self.recent(end)) is None:
                continue
            found = self._candidate("conversation", tail, seen, "growing conversation", 0)
            anchor = request.last_markable(request.message_start(m), end)
            if found and anchor >= 0 and tail - anchor > self.policy.lookback_blocks:
                why = f"previous turn, more than {self.policy.lookback_blocks} blocks back"
                found.append(_Candidate("bridge", anchor, 3, found[0].ttl, why))
            return found, self.prefixes.digests[end]
        self.skipped.append("conversation: no earlier turn seen (a first turn or a one-off prompt)")
        return [], None

    def _candidate(
        self, name: str, segment: int, seen: Sighting, what: str, priority: int
    ) -> list[_Candidate]:
        if segment < 0:
            self.skipped.append(f"{name}: {what}, but no block there can carry cache_control")
            return []
        ttl, why = _choose_ttl(seen, self.now, self.policy)
        if ttl is None:
            self.skipped.append(f"{name}: {what}; {why}")
            return []
        return [_Candidate(name, segment, priority, ttl, f"{what}; {why}")]

    def select(
        self, candidates: list[_Candidate], caller: list[tuple[int, TTL]], minimum: int
    ) -> list[_Candidate]:
        """Drop the marked, the too short and the surplus; then make the TTLs legal (1h before 5m)."""
        marked = {segment for segment, _ in caller}
        usable: list[_Candidate] = []
        for candidate in candidates:
            tokens = self.prefixes.tokens(candidate.segment)
            if candidate.segment in marked:
                self.skipped.append(f"{candidate.name}: already marked by the caller")
            elif tokens < minimum:
                self.skipped.append(f"{candidate.name}: prefix below minimum ({tokens} < {minimum} tokens)")
            elif all(c.segment != candidate.segment for c in usable):
                usable.append(candidate)
        slots = max(MAX_BREAKPOINTS - len(caller), 0)
        usable.sort(key=lambda c: c.priority)
        for candidate in usable[slots:]:
            self.skipped.append(f"{candidate.name}: no breakpoint left ({len(caller)} placed by the caller)")
        return self._legal_ttls(sorted(usable[:slots], key=lambda c: c.segment), caller)

    def _legal_ttls(self, chosen: list[_Candidate], caller: list[tuple[int, TTL]]) -> list[_Candidate]:
        """The API wants longer TTLs first: drop our 1h after a caller's 5m, upgrade our 5m before a 1h."""
        first_caller_5m = min((s for s, ttl in caller if ttl == "5m"), default=len(self.request.segments))
        legal = []
        for candidate in chosen:
            if candidate.ttl == "1h" and candidate.segment > first_caller_5m:
                self.skipped.append(
                    f"{candidate.name}: 1h wanted, but a 5m marker of the caller's comes first"
                )
            else:
                legal.append(candidate)
        later_1h = [s for s, ttl in caller if ttl == "1h"] + [c.segment for c in legal if c.ttl == "1h"]
        last_1h = max(later_1h, default=-1)
        kept = []
        for candidate in legal:
            if candidate.ttl == "5m" and candidate.segment < last_1h:
                if candidate.segment > first_caller_5m:  # between the caller's 5m and a 1h: no TTL is legal
                    self.skipped.append(
                        f"{candidate.name}: between a 5m and a 1h marker of the caller's, no TTL is legal"
                    )
                    continue
                candidate.ttl = "1h"
                candidate.reason += "; 1h because a later breakpoint is 1h"
            kept.append(candidate)
        return kept

    def record(self, minimum: int, inherit: bytes | None) -> None:
        """Remember the static prefixes (long enough to matter), the tail and the history before it."""
        request, digests = self.request, self.prefixes.digests
        for end in (request.tools_end, request.system_end):
            if end >= 0 and self.prefixes.tokens(end) >= minimum:
                self.tracker.record(digests[end], self.now, static=True)
        users = [m for m, role in enumerate(request.roles) if role == "user"]
        if users:
            tail_end = request.message_ends[users[-1]]
            if tail_end - 1 >= request.messages_start:
                self.tracker.record(digests[tail_end - 1], self.now)
            self.tracker.record(digests[tail_end], self.now, inherit=inherit)


def _choose_ttl(sighting: Sighting, now: float, policy: CachePolicy) -> tuple[TTL | None, str]:
    """The TTL a prefix seen before earns (None: no breakpoint), and why (see the module docstring)."""
    gaps = (*sighting.gaps, max(now - sighting.last_seen, 0.0))[-_MAX_GAPS:]
    widest = max(gaps)
    if widest <= SHORT_TTL_S:
        return "5m", f"reused at gaps <= {widest:.0f}s"
    if not policy.allow_1h:
        return None, f"reused at gaps up to {widest:.0f}s > 5m, and the 1h TTL is off"
    if len(gaps) < 2:
        return (
            None,
            f"reused once {widest:.0f}s later: a 1h write needs two reads to pay, waiting for one more",
        )
    return "1h", f"reused at gaps up to {widest:.0f}s (5m-1h)"


def plan_anthropic(
    kwargs: Mapping[str, Any],
    *,
    model: str,
    tracker: ReuseTracker,
    now: float,
    estimate_tokens: Callable[[str], int] = estimate_tokens,
    min_tokens: int | None = None,
    policy: CachePolicy = DEFAULT_POLICY,
) -> CachePlan:
    """Plan the ``cache_control`` breakpoints of a ``messages.create`` call (see the module docstring).

    Records the request's prefixes in ``tracker`` at ``now`` (seconds, any steady clock), so call it
    once per request. ``estimate_tokens`` counts a prefix's canonical text; ``min_tokens`` overrides
    :func:`min_cacheable_tokens`. Never raises for a malformed request: it plans nothing, says why.

    >>> tracker = ReuseTracker()
    >>> kwargs = {"system": "You are terse. " * 400, "messages": [{"role": "user", "content": "Hi"}]}
    >>> plan = plan_anthropic(kwargs, model="claude-sonnet-4-6", tracker=tracker, now=0.0)
    >>> [(b.location, b.ttl) for b in plan.breakpoints]
    [('system[0]', '5m')]
    >>> apply(kwargs, plan)["system"][0]["cache_control"]
    {'type': 'ephemeral'}
    """
    extra = kwargs.get("extra_body")
    extra = extra if _is_mapping(extra) else {}
    if isinstance(kwargs.get("cache_control"), Mapping) or isinstance(extra.get("cache_control"), Mapping):
        return CachePlan(skipped=("automatic caching requested by the caller",), automatic=True)
    if any(key in extra for key in ("tools", "system", "messages")):
        return CachePlan(skipped=("extra_body replaces the prompt: not planned",))
    request = _read_anthropic(kwargs)
    if isinstance(request, str):
        return CachePlan(skipped=(request,))
    caller = _caller_markers(request)
    if len(caller) >= MAX_BREAKPOINTS:
        why = f"the caller's {len(caller)} markers use every breakpoint"
        return CachePlan(skipped=(why,), caller_breakpoints=len(caller))
    minimum = min_cacheable_tokens(model) if min_tokens is None else min_tokens
    if (small := _too_small(request, minimum, estimate_tokens)) is not None:
        return CachePlan(skipped=(small,), caller_breakpoints=len(caller))
    planner = _Planner(request, _Prefixes(model, request, estimate_tokens), tracker, now, policy)
    static = planner.static_candidates()
    conversation, inherit = planner.conversation_candidates()
    chosen = planner.select(static + conversation, caller, minimum)
    planner.record(minimum, inherit)
    breakpoints = tuple(
        Breakpoint(
            section=request.segments[c.segment].section,
            index=request.segments[c.segment].index,
            block=request.segments[c.segment].block,
            ttl=c.ttl,
            prefix_tokens=planner.prefixes.tokens(c.segment),
            reason=f"{c.name}: {c.reason}",
        )
        for c in chosen
    )
    return CachePlan(breakpoints=breakpoints, skipped=tuple(planner.skipped), caller_breakpoints=len(caller))


def _too_small(request: _Request, minimum: int, estimate: Callable[[str], int]) -> str | None:
    """Why a request is neither planned nor tracked, if the whole of it is under half the minimum.

    No prefix of it can be cached, and remembering it would only matter if the next turn of its
    conversation more than doubled it past the minimum (then that turn's breakpoint waits one turn).
    Skipping it spares the hashing and planning of every short prompt, and keeps the tracker's
    memory for prefixes that can pay."""
    texts = [segment.text for segment in request.segments]
    if sum(map(len, texts)) >= 4 * minimum:  # four characters or more per token estimated: not small
        return None
    tokens = estimate("\n".join(texts))
    if 2 * tokens >= minimum:
        return None
    return f"request below minimum ({tokens} < {minimum} tokens, under half of it): not planned or tracked"


# -- applying a plan --------------------------------------------------------------------------------


def _marker(ttl: TTL) -> dict[str, str]:
    # The bare marker is the API's 5m default and what every Anthropic-compatible endpoint accepts.
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def _with_marker(items: Any, index: int | None, ttl: TTL) -> list[Any] | None:
    """A copy of ``items`` (a string is one text block) with block ``index`` marked, or None."""
    if isinstance(items, str):
        items = [items]
    if not _is_list(items) or index is None or not 0 <= index < len(items):
        return None
    block = items[index]
    if isinstance(block, str):
        if not block:
            return None
        marked: dict[str, Any] = {"type": "text", "text": block}
    else:
        block = _dump(block)
        if not _is_mapping(block) or block.get("cache_control") is not None:
            return None
        if block.get("type") in _UNMARKABLE_TYPES:
            return None
        marked = dict(block)
    marked["cache_control"] = _marker(ttl)
    copy = list(items)
    copy[index] = marked
    return copy


def _apply_one(kwargs: dict[str, Any], point: Breakpoint) -> bool:
    """Place one marker in ``kwargs``, copying the containers it changes; False if it does not fit."""
    if point.section != "messages":
        new = _with_marker(kwargs.get(point.section), point.index, point.ttl)
        if new is not None:
            kwargs[point.section] = new
        return new is not None
    messages = kwargs.get("messages")
    if not _is_list(messages) or not 0 <= point.index < len(messages):
        return False
    message = _dump(messages[point.index])
    if not _is_mapping(message):
        return False
    content = _with_marker(message.get("content"), point.block, point.ttl)
    if content is None:
        return False
    new_messages = list(messages)
    new_messages[point.index] = {**message, "content": content}
    kwargs["messages"] = new_messages
    return True


def _count_markers(kwargs: Mapping[str, Any]) -> int:
    """The caller's markers, counted without serialising the prompt."""

    def marker_of(block: Any) -> Any:
        return block.get("cache_control") if _is_mapping(block) else getattr(block, "cache_control", None)

    def blocks(value: Any) -> list[Any]:
        return list(value) if _is_list(value) else []

    count = sum(
        marker_of(b) is not None for b in [*blocks(kwargs.get("tools")), *blocks(kwargs.get("system"))]
    )
    for message in blocks(kwargs.get("messages")):
        content = message.get("content") if _is_mapping(message) else getattr(message, "content", None)
        for part in blocks(content):
            count += (marker_of(part) is not None) + len(_nested_markers(part))
    return count


def apply(kwargs: Mapping[str, Any], plan: CachePlan) -> dict[str, Any]:
    """New kwargs with ``plan``'s markers placed; the caller's dicts and lists are left untouched.

    Only the containers on the way to a new marker are copied. A breakpoint that does not fit the
    kwargs (a plan made for other kwargs) is left out, and the 4-breakpoint limit is checked again.
    """
    new = dict(kwargs)
    room = MAX_BREAKPOINTS - _count_markers(kwargs) if plan.breakpoints else 0
    for point in plan.breakpoints:
        if room <= 0:
            break
        if _apply_one(new, point):
            room -= 1
    return new
