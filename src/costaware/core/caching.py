"""The prompt-cache planner: where to put Anthropic ``cache_control`` breakpoints, which OpenAI
``prompt_cache_key`` to send, and what a call's cache reads saved and its writes cost.

Pure: no SDK, no OpenTelemetry, no I/O. The pipeline calls :func:`plan_anthropic` with an SDK
call's keyword arguments before sending, then :func:`apply` to get *new* kwargs (the caller's dicts
and lists are never mutated: only what changes is copied)::

    plan = plan_anthropic(kwargs, model=model, tracker=tracker, now=time.monotonic())
    response = client.messages.create(**apply(kwargs, plan))

Where breakpoints go (Anthropic)
--------------------------------
Candidates, in the API's prefix order tools -> system -> messages:

* **tools**: the last tool (a tools-only prefix survives a changing system prompt);
* **system**: the last system block (a string ``system`` becomes a one-block list to carry it);
* **conversation tail**: the last content block of the last user message, when the conversation is
  *growing*: an earlier message boundary of this request is a prefix this tracker saw (the previous
  turn's tail), so marking the tail now lets the next turn read it; also when the very same prompt
  was seen before (a repeated call);
* **stable history**: when the history before the last user message was seen before with a different
  last message (several questions over one document, a regenerated answer), the last block of the
  message that ends that shared history;
* **bridge**: in a growing conversation whose new part is more than 20 blocks long, the previous
  turn's tail is marked too, because the API only looks 20 blocks back from a breakpoint for a hit.

Rules: at most 4 breakpoints including the caller's own (with few slots left, a conversation or
history breakpoint wins, as its prefix holds the system prompt too, then the system prompt, then
the tools, then a bridge); the caller's markers are never moved, changed or removed, and a block
the caller marked is not marked again; a top-level ``cache_control`` (automatic caching) makes the
planner do nothing; no breakpoint whose prefix is below the model's minimum
(:func:`min_cacheable_tokens`); a 1h breakpoint never follows a 5m one (the API requires longer
TTLs first: our 5m markers before a 1h one are upgraded, and a 1h marker of ours that would follow
a 5m marker of the caller's is dropped). Token counts are estimates
(``estimate_tokens``, by default ``ceil(utf8 bytes / 4)`` over the canonical serialisation that the
simulator uses); a marker placed on a prefix the real tokenizer counts under the minimum is
harmless: the API caches nothing there and raises no error.

When a breakpoint pays (the TTL rule)
-------------------------------------
Per token of the marked prefix, in units of the base input price: no caching costs 1 per call; a
5m write costs 1.25 and a 1h write 2, a read 0.1, and a read refreshes the entry's TTL. So:

* a 5m write followed by ``r`` reads costs ``1.25 + 0.1 r`` against ``1 + r``: it pays from the
  first read (1.35 < 2); unread it costs 0.25 more;
* a 1h write costs ``2 + 0.1 r`` against ``1 + r``: one read loses 0.1 (2.1 > 2), two reads win
  (2.2 < 3); unread it costs 1 more;
* when every gap between uses is at most 5 minutes the 5m entry never lapses (reads refresh it), so
  5m is always cheaper; when gaps exceed 5 minutes but stay under an hour, every 5m write lapses
  unread (1.25 a call, worse than not caching) while one 1h write is read by every later call;
  gaps over an hour make every write lapse: no breakpoint.

The :class:`ReuseTracker` remembers, per prefix (a hash), when it was last seen and its last four
gaps between sightings (gaps over an hour start a new history: the cache would have lapsed).
With ``gaps`` the last four gaps, the current one (now - last seen) included: max(gaps) <= 5 min
gives **5m**; 5 min < max(gaps) <= 1 h gives **1h** once at least two such gaps were observed (a 1h
write needs two reads to pay, and one recurrence is weak evidence of two more), otherwise no
breakpoint yet. The max, not the mean: one long gap is enough to make a 5m entry
lapse. A conversation's tail is new every turn, so its history is the conversation's: each turn's
tail inherits the gaps of the previous turn's.

A prefix never seen (or last seen over an hour ago) gets no breakpoint, except a tools/system
prefix under ``CachePolicy.eager_static`` (the default): system prompts and tool definitions are
usually shared by many calls, so the first call writes them (5m). That bet pays when the chance
``p`` of a reuse within 5 minutes satisfies ``0.9 p > 0.25 (1 - p)``, i.e. ``p > 0.25 / 1.15 ~ 22%``
(a read saves 0.9, an unread write loses 0.25). The tracker measures ``p`` over the new static
prefixes it sees (smoothed, decaying), and eager marking stops while it is below that break-even,
e.g. for a system prompt that embeds a timestamp and so is new on every call.

OpenAI
------
OpenAI caches prompts of 1024+ tokens automatically (in 128-token steps, no write fee), routed by a
hash of the prompt's start and ``prompt_cache_key``. :func:`openai_cache_key` derives a stable key
from the stable prefix (tools + leading system/developer messages, or Responses ``instructions``)
when that prefix is itself 1024+ tokens, so requests sharing it are steered to the same cache;
a caller's own key is always kept.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any, Literal, Protocol, TypeGuard

from costaware.core.pricing import ModelPrice

__all__ = [
    "DEFAULT_POLICY",
    "Breakpoint",
    "CacheCounts",
    "CachePlan",
    "CachePolicy",
    "ReuseTracker",
    "Sighting",
    "apply",
    "apply_openai",
    "cache_savings",
    "estimate_tokens",
    "min_cacheable_tokens",
    "openai_cache_key",
    "plan_anthropic",
]

TTL = Literal["5m", "1h"]
Section = Literal["tools", "system", "messages"]

MAX_BREAKPOINTS = 4
SHORT_TTL_S = 300.0
LONG_TTL_S = 3600.0
OPENAI_MIN_TOKENS = 1024
_MAX_GAPS = 4  # gaps remembered per prefix
_EAGER_BREAK_EVEN = 0.25 / 1.15  # P(reuse within 5m) above which an eager 5m write pays
_EAGER_DECAY_AT = 256.0  # halve the eager statistics past this many new prefixes: adapt to change
_UNMARKABLE_TYPES = frozenset({"thinking", "redacted_thinking"})  # the API rejects cache_control there


def estimate_tokens(text: str) -> int:
    """``ceil(utf8 bytes / 4)``: the default token estimate (the simulator's formula).

    >>> estimate_tokens(""), estimate_tokens("abcd"), estimate_tokens("abcde")
    (0, 1, 2)
    """
    return (len(text.encode("utf-8")) + 3) // 4


# -- minimum cacheable prefix ------------------------------------------------------------------

# (family, lowest version, minimum tokens): the first row whose family matches and whose version is
# at or above the model's wins. Models matching no row (unknown names, other families) get 1024.
_MIN_TOKENS_TABLE: tuple[tuple[str, tuple[int, int], int], ...] = (
    ("opus", (4, 5), 4096),
    ("haiku", (4, 5), 4096),
    ("haiku", (3, 0), 2048),
    ("opus", (3, 0), 1024),
    ("sonnet", (3, 0), 1024),
)
_UNKNOWN_MIN_TOKENS = 1024
_NEW_NAME = re.compile(r"claude-(opus|sonnet|haiku)-(\d{1,2})(?:[-.](\d{1,2}))?(?!\d)")
_OLD_NAME = re.compile(r"claude-(\d{1,2})(?:[-.](\d{1,2}))?-(opus|sonnet|haiku)")


def _model_version(model: str) -> tuple[str, tuple[int, int]] | None:
    """``claude-opus-4-5-20251101`` -> ``("opus", (4, 5))``; ``claude-3-5-haiku`` -> ``("haiku", (3, 5))``.

    A date suffix (``-20250514``) is not a minor version: only 1-2 digit parts count.
    """
    name = model.lower()
    match = _NEW_NAME.search(name)
    if match:
        return match.group(1), (int(match.group(2)), int(match.group(3) or 0))
    match = _OLD_NAME.search(name)
    if match:
        return match.group(3), (int(match.group(1)), int(match.group(2) or 0))
    return None


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix ``model`` caches: 4096 (Opus 4.5+, Haiku 4.5), 2048 (Haiku 3 / 3.5),
    1024 (Sonnet, Opus 4 / 4.1, and any model not in the table).

    >>> min_cacheable_tokens("claude-opus-4-5"), min_cacheable_tokens("claude-3-5-haiku-20241022")
    (4096, 2048)
    """
    parsed = _model_version(model)
    if parsed is not None:
        family, version = parsed
        for row_family, lowest, tokens in _MIN_TOKENS_TABLE:
            if family == row_family and version >= lowest:
                return tokens
    return _UNKNOWN_MIN_TOKENS


# -- the reuse tracker -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sighting:
    """What a :class:`ReuseTracker` remembers of one prefix."""

    last_seen: float
    """When it was last seen (the planner's clock, seconds)."""
    count: int
    """How many times it was seen (a conversation tail counts its conversation's turns)."""
    gaps: tuple[float, ...] = ()
    """The last few gaps between sightings, oldest first, all at most an hour."""


@dataclass(slots=True)
class _Entry:
    sighting: Sighting
    fresh: bool  # a new static prefix whose first repeat has not been seen yet


class ReuseTracker:
    """Recently seen prompt prefixes (hashes) and when: the planner's memory. Thread-safe.

    Memory is bounded: the least recently recorded prefix is forgotten past ``max_entries``
    (a few hundred bytes each). One tracker per process (or per tenant) is enough; the pipeline owns it.
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._new_static = 0.0  # static prefixes seen for the first time (decayed)
        self._reused_static = 0.0  # ...of which were seen again within 5 minutes (decayed)

    def sighting(self, key: bytes) -> Sighting | None:
        """What is remembered of ``key``, if anything."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry.sighting

    def record(self, key: bytes, now: float, *, inherit: bytes | None = None, static: bool = False) -> None:
        """Remember that ``key`` was seen at ``now``.

        ``inherit``: a new key continues that key's history (a conversation's new tail continues
        the previous turn's). ``static``: a tools/system prefix, counted in :attr:`eager_reuse_rate`.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.sighting.last_seen <= LONG_TTL_S:
                gap = max(now - entry.sighting.last_seen, 0.0)
                if static and entry.fresh and gap <= SHORT_TTL_S:
                    self._reused_static += 1
                entry.sighting = _next_sighting(entry.sighting, now)
                entry.fresh = False
            else:
                parent = self._entries.get(inherit) if inherit is not None else None
                if parent is not None and now - parent.sighting.last_seen <= LONG_TTL_S:
                    sighting = _next_sighting(parent.sighting, now)
                else:
                    sighting = Sighting(last_seen=now, count=1 if entry is None else entry.sighting.count + 1)
                if static:
                    self._count_new_static()
                entry = _Entry(sighting, fresh=static)
                self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def _count_new_static(self) -> None:
        self._new_static += 1
        if self._new_static >= _EAGER_DECAY_AT:
            self._new_static /= 2
            self._reused_static /= 2

    @property
    def eager_reuse_rate(self) -> float:
        """How often a new tools/system prefix was seen again within 5 minutes (smoothed: starts at 1/2)."""
        with self._lock:
            return (self._reused_static + 1) / (self._new_static + 2)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._new_static = self._reused_static = 0.0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _next_sighting(previous: Sighting, now: float) -> Sighting:
    gap = max(now - previous.last_seen, 0.0)
    return Sighting(last_seen=now, count=previous.count + 1, gaps=(*previous.gaps, gap)[-_MAX_GAPS:])


# -- plans ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Breakpoint:
    """One ``cache_control`` marker the planner adds."""

    section: Section
    index: int
    """The tool, system block or message index."""
    block: int | None
    """For ``messages``: the content block index (0 for a string content); else ``None``."""
    ttl: TTL
    prefix_tokens: int
    """Estimated tokens of the prompt through this block (what a write through it would cache)."""
    reason: str

    @property
    def location(self) -> str:
        """``tools[2]``, ``system[0]`` or ``messages[4].content[1]``."""
        if self.section == "messages":
            return f"messages[{self.index}].content[{self.block}]"
        return f"{self.section}[{self.index}]"


@dataclass(frozen=True, slots=True)
class CachePlan:
    """Where :func:`apply` puts markers, and why other places got none (for span attributes)."""

    breakpoints: tuple[Breakpoint, ...] = ()
    """In prompt order."""
    skipped: tuple[str, ...] = ()
    """Why a candidate got no breakpoint, e.g. ``"system: prefix below minimum (2300 < 4096 tokens)"``."""
    caller_breakpoints: int = 0
    """``cache_control`` markers the caller placed (counted against the 4)."""
    automatic: bool = False
    """The caller asked for automatic caching (a top-level ``cache_control``): nothing planned."""

    def attributes(self) -> dict[str, int | str | tuple[str, ...]]:
        """A flat summary for span attributes."""
        return {
            "costaware.cache.breakpoints": len(self.breakpoints),
            "costaware.cache.locations": tuple(f"{b.location}:{b.ttl}" for b in self.breakpoints),
            "costaware.cache.caller_breakpoints": self.caller_breakpoints,
            "costaware.cache.skipped": self.skipped,
        }


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """Knobs of the placement policy (see the module docstring)."""

    eager_static: bool = True
    """Mark a tools/system prefix on its first sighting while that bet pays on this traffic."""
    allow_1h: bool = True
    """Use the 1h TTL for prefixes reused at 5-60 minute gaps (else they get no breakpoint)."""
    lookback_blocks: int = 20
    """How far back from a breakpoint the API looks for a cached prefix."""


DEFAULT_POLICY = CachePolicy()


# -- reading a request ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Segment:
    """One block of the canonical serialisation (the simulator's, see ``costaware.sim.tokens``)."""

    text: str
    section: Section
    index: int
    block: int | None
    marker: Any  # the caller's cache_control, or None
    markable: bool


@dataclass(slots=True)
class _Request:
    segments: list[_Segment] = field(default_factory=list)
    tools_end: int = -1  # the last segment of the tools, -1 when there are none
    system_end: int = -1  # the last segment of the system prompt, -1 when there is none
    messages_start: int = 0
    message_ends: list[int] = field(default_factory=list)  # per message, its last segment
    roles: list[str | None] = field(default_factory=list)
    nested_markers: list[tuple[int, Any]] = field(default_factory=list)  # (segment, marker) in tool_result

    def last_markable(self, first: int, last: int) -> int:
        """The last segment in ``first..last`` that can carry a marker, or -1."""
        for i in range(last, first - 1, -1):
            if self.segments[i].markable:
                return i
        return -1

    def message_start(self, m: int) -> int:
        return self.message_ends[m - 1] + 1 if m else self.messages_start


def _dump(value: Any) -> Any:
    """A pydantic object as the SDK sends it (duck-typed, no SDK import); anything else unchanged."""
    if type(value) is dict or type(value) is str:  # the common case, without the slower checks
        return value
    model_dump = getattr(value, "model_dump", None)
    if model_dump is None or _is_mapping(value) or isinstance(value, str):
        return value
    try:
        return model_dump(
            exclude_unset=True, mode="json", by_alias=True, exclude=getattr(value, "__api_exclude__", None)
        )
    except Exception:  # not a pydantic model after all: the JSON fallback takes it
        return value


def _json_default(value: Any) -> Any:
    dumped = _dump(value)
    if dumped is not value:
        return dumped
    if _is_mapping(value):
        return dict(value)
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=_json_default)


def _without_marker(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


def _is_list(value: Any) -> TypeGuard[list[Any] | tuple[Any, ...]]:
    return isinstance(value, (list, tuple))


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)  # plain dicts skip the ABC check


def _is_unreadable(value: Any) -> bool:
    """An iterable other than a list, tuple or string: reading it could consume it."""
    return not isinstance(value, (list, tuple, str, bytes)) and hasattr(value, "__iter__")


def _part_segment(prefix: str, part: Any, section: Section, index: int, block: int | None) -> _Segment:
    part = _dump(part)
    if not _is_mapping(part):
        return _Segment(prefix + _json(part), section, index, block, None, False)
    marker = part.get("cache_control")
    text = part.get("text")
    if part.get("type") in ("text", "input_text", "output_text") and isinstance(text, str):
        return _Segment(prefix + text, section, index, block, marker, bool(text))
    markable = part.get("type") not in _UNMARKABLE_TYPES
    return _Segment(prefix + _json(_without_marker(part)), section, index, block, marker, markable)


def _read_anthropic(kwargs: Mapping[str, Any]) -> _Request | str:
    """The canonical segments of a Messages request, or why it cannot be planned."""
    tools, system, messages = kwargs.get("tools"), kwargs.get("system"), kwargs.get("messages")
    if not _is_list(messages):
        return "messages is not a list or tuple: not planned"
    if _is_unreadable(tools) or _is_unreadable(system):
        return "tools or system is an iterator (reading it would consume it): not planned"
    request = _Request()
    segments = request.segments
    for i, tool in enumerate(tools if _is_list(tools) else ()):
        tool = _dump(tool)
        if _is_mapping(tool):
            text, marker = _json(_without_marker(tool)), tool.get("cache_control")
            segments.append(_Segment(text, "tools", i, None, marker, True))
        else:
            segments.append(_Segment(_json(tool), "tools", i, None, None, False))
    request.tools_end = len(segments) - 1
    if isinstance(system, str) and system:
        segments.append(_Segment("system: " + system, "system", 0, None, None, True))
    elif _is_list(system):
        segments.extend(_part_segment("system: ", part, "system", i, None) for i, part in enumerate(system))
    request.system_end = len(segments) - 1 if len(segments) - 1 > request.tools_end else -1
    request.messages_start = len(segments)
    for m, message in enumerate(messages):
        message = _dump(message)
        request.roles.append(message.get("role", "user") if _is_mapping(message) else None)
        _read_message(request, m, message)
        request.message_ends.append(len(segments) - 1)
    return request


def _read_message(request: _Request, m: int, message: Any) -> None:
    segments = request.segments
    if not _is_mapping(message):
        segments.append(_Segment(_json(message), "messages", m, None, None, False))
        return
    prefix = f"{message.get('role', 'user')}: "
    content = message.get("content")
    start = len(segments)
    if isinstance(content, str):
        segments.append(_Segment(prefix + content, "messages", m, 0, None, bool(content)))
    elif _is_list(content):
        for b, part in enumerate(content):
            segments.append(_part_segment(prefix, part, "messages", m, b))
            request.nested_markers.extend((len(segments) - 1, marker) for marker in _nested_markers(part))
    if message.get("tool_calls"):  # OpenAI chat messages
        segments.append(_Segment(prefix + _json(message["tool_calls"]), "messages", m, None, None, False))
    if len(segments) == start:
        segments.append(_Segment(prefix, "messages", m, None, None, False))


def _nested_markers(part: Any) -> list[Any]:
    """Markers inside a block's own content (a tool_result's blocks): they count against the 4 too."""
    inner = getattr(part, "content", None) if not _is_mapping(part) else part.get("content")
    found = []
    for item in inner if _is_list(inner) else ():
        marker = item.get("cache_control") if _is_mapping(item) else getattr(item, "cache_control", None)
        if marker is not None:
            found.append(marker)
    return found


def _caller_markers(request: _Request) -> list[tuple[int, TTL]]:
    """(segment, ttl) of every marker the caller placed, in prompt order."""
    found = [(i, _ttl_of(s.marker)) for i, s in enumerate(request.segments) if s.marker is not None]
    found += [(i, _ttl_of(marker)) for i, marker in request.nested_markers]
    return sorted(found)


def _ttl_of(marker: Any) -> TTL:
    ttl = marker.get("ttl") if _is_mapping(marker) else getattr(marker, "ttl", None)
    return "1h" if ttl == "1h" else "5m"


class _Prefixes:
    """Tracker keys (hashes) and token estimates of a request's prefixes; tokens computed on demand."""

    def __init__(self, model: str, request: _Request, estimate: Callable[[str], int]) -> None:
        self._texts = [s.text for s in request.segments]
        self._estimate = estimate
        self._tokens: dict[int, int] = {}
        self.digests: list[bytes] = []
        hasher = hashlib.blake2b(model.encode("utf-8") + b"\0", digest_size=16)
        for i, text in enumerate(self._texts):
            hasher.update(("\n" + text if i else text).encode("utf-8"))
            self.digests.append(hasher.copy().digest())

    def tokens(self, end: int) -> int:
        """Estimated tokens of the prompt through segment ``end``."""
        if end not in self._tokens:
            self._tokens[end] = self._estimate("\n".join(self._texts[: end + 1]))
        return self._tokens[end]


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
        for candidate in legal:
            if candidate.ttl == "5m" and candidate.segment < last_1h:
                candidate.ttl = "1h"
                candidate.reason += "; 1h because a later breakpoint is 1h"
        return legal

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
    planner = _Planner(request, _Prefixes(model, request, estimate_tokens), tracker, now, policy)
    minimum = min_cacheable_tokens(model) if min_tokens is None else min_tokens
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


# -- OpenAI ------------------------------------------------------------------------------------------


def _openai_stable_text(kwargs: Mapping[str, Any]) -> str:
    """The canonical text of tools + instructions + leading system/developer messages."""
    texts: list[str] = []
    tools = kwargs.get("tools")
    for tool in tools if _is_list(tools) else ():
        tool = _dump(tool)
        texts.append(_json(_without_marker(tool)) if _is_mapping(tool) else _json(tool))
    instructions = kwargs.get("instructions")
    if isinstance(instructions, str) and instructions:
        texts.append("system: " + instructions)
    items = kwargs.get("messages") if "messages" in kwargs else kwargs.get("input")
    for item in items if _is_list(items) else ():
        item = _dump(item)
        if not _is_mapping(item) or item.get("role") not in ("system", "developer"):
            break
        request = _Request()
        _read_message(request, 0, item)
        texts.extend(s.text for s in request.segments)
    return "\n".join(texts)


def openai_cache_key(
    kwargs: Mapping[str, Any],
    *,
    estimate_tokens: Callable[[str], int] = estimate_tokens,
    min_tokens: int = OPENAI_MIN_TOKENS,
) -> str | None:
    """A ``prompt_cache_key`` for a chat/responses call, or ``None`` to send none.

    ``None`` when the caller set a key of their own, or when the stable prefix (tools, Responses
    ``instructions``, leading system/developer messages) is under ``min_tokens``: a shorter shared
    part never reaches OpenAI's 1024-token cache granule, so steering on it buys nothing. The key is
    ``"cw-"`` + 16 hex digits of a hash of that prefix: the same prefix always gives the same key.
    """
    if isinstance(kwargs.get("prompt_cache_key"), str):
        return None
    extra = kwargs.get("extra_body")
    if isinstance(extra, Mapping) and "prompt_cache_key" in extra:
        return None
    text = _openai_stable_text(kwargs)
    if not text or estimate_tokens(text) < min_tokens:
        return None
    return "cw-" + hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def apply_openai(kwargs: Mapping[str, Any], key: str | None) -> dict[str, Any]:
    """New kwargs with ``prompt_cache_key=key``, unless ``key`` is None or the caller set their own."""
    new = dict(kwargs)
    if key is not None and not isinstance(kwargs.get("prompt_cache_key"), str):
        new["prompt_cache_key"] = key
    return new


# -- savings -----------------------------------------------------------------------------------------


class CacheCounts(Protocol):
    """The token counts :func:`cache_savings` reads (``costaware.core.types.Usage`` has them)."""

    @property
    def input_tokens(self) -> int: ...

    @property
    def cache_read_tokens(self) -> int: ...

    @property
    def cache_write_5m_tokens(self) -> int: ...

    @property
    def cache_write_1h_tokens(self) -> int: ...


_EXACT = Context(prec=80)
_MTOK = Decimal(1_000_000)


def cache_savings(usage: CacheCounts, price: ModelPrice, *, batch: bool = False) -> tuple[Decimal, Decimal]:
    """``(saved, extra)`` in USD versus the same call without caching.

    ``saved``: what the cache reads would have cost at the input rate, minus what they cost.
    ``extra``: what the cache writes cost above the input rate (0 for OpenAI: writes are free).
    A missing cache price is the input rate (so it saves or costs nothing), as in pricing.
    ``batch`` uses the batch prices (or half of every price). Exact: never rounded.

    >>> p = ModelPrice(input=Decimal(3), output=Decimal(15), cache_read=Decimal("0.3"),
    ...                cache_write_5m=Decimal("3.75"))
    >>> from costaware.core.types import Usage
    >>> cache_savings(Usage(input_tokens=3000, cache_read_tokens=1000, cache_write_5m_tokens=1000), p)
    (Decimal('0.0027'), Decimal('0.00075'))
    """
    rates = price.batch if batch and price.batch is not None else price
    rates = rates.for_prompt(usage.input_tokens)
    plain = rates.input
    read = plain if rates.cache_read is None else rates.cache_read
    write_5m = plain if rates.cache_write_5m is None else rates.cache_write_5m
    write_1h = write_5m if rates.cache_write_1h is None else rates.cache_write_1h
    mul, sub, add = _EXACT.multiply, _EXACT.subtract, _EXACT.add
    saved = mul(sub(plain, read), usage.cache_read_tokens)
    extra = add(
        mul(sub(write_5m, plain), usage.cache_write_5m_tokens),
        mul(sub(write_1h, plain), usage.cache_write_1h_tokens),
    )
    scale = _MTOK * 2 if batch and price.batch is None else _MTOK
    return _EXACT.divide(saved, scale), _EXACT.divide(extra, scale)
