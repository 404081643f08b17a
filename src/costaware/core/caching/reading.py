"""A planned request: breakpoints, plans and policy, and how a request is read into prefix segments."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from costaware.core.caching.tracker import _UNMARKABLE_TYPES, TTL, Section
from costaware.core.tokens import typical_tokens, typical_tokens_of_length

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


@dataclass(slots=True)
class _Segment:
    """One block of the canonical serialisation (the simulator's, see ``costaware.sim.tokens``). Not
    frozen: one is made for every block of every planned request, and a frozen dataclass's
    ``__init__`` (``object.__setattr__`` per field) took twice as long."""

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


_CANONICAL_JSON = json.JSONEncoder(
    separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=_json_default
)
"""One encoder for every segment (``json.dumps`` with options builds one per call)."""


def _json(value: Any) -> str:
    return _CANONICAL_JSON.encode(value)


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
    roles, ends = request.roles, request.message_ends
    for m, message in enumerate(messages):
        # The common shape, a dict with text content, read here as _read_message would read it.
        if (
            type(message) is dict
            and type(content := message.get("content")) is str
            and not message.get("tool_calls")
        ):
            role = message.get("role", "user")
            roles.append(role)
            segments.append(_Segment(f"{role}: {content}", "messages", m, 0, None, bool(content)))
            ends.append(len(segments) - 1)
            continue
        message = _dump(message)
        roles.append(message.get("role", "user") if _is_mapping(message) else None)
        _read_message(request, m, message)
        ends.append(len(segments) - 1)
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
        self._sizes: list[int] = []
        """UTF-8 bytes of the prompt through each segment, newlines between segments included."""
        hasher = hashlib.blake2b(model.encode("utf-8") + b"\0", digest_size=16)
        size = -1
        for text in self._texts:
            data = text.encode("utf-8")
            if size >= 0:
                hasher.update(b"\n")
            hasher.update(data)
            size += len(data) + 1
            self._sizes.append(size)
            self.digests.append(hasher.copy().digest())

    def tokens(self, end: int) -> int:
        """Estimated tokens of the prompt through segment ``end`` (the default estimate from the
        sizes read while hashing: a long conversation is not joined again for each candidate)."""
        if end not in self._tokens:
            if self._estimate is typical_tokens:
                self._tokens[end] = typical_tokens_of_length(self._sizes[end])
            else:
                self._tokens[end] = self._estimate("\n".join(self._texts[: end + 1]))
        return self._tokens[end]
