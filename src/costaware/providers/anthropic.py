"""Anthropic adapter: the methods to patch and how to read their requests, responses and streams.

Reads the SDK's objects by attribute only, so it never imports ``anthropic`` itself and tolerates
malformed or missing fields (a field that is not a count reads as absent, never raises).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from costaware.core import caching
from costaware.core.types import CallResult, Usage, integral
from costaware.providers import anthropic_replay
from costaware.providers.base import (
    Endpoint,
    PatchTarget,
    Replay,
    as_int,
    is_count,
    resource_targets,
    str_or_none,
    usage_or_none,
)

PROVIDER: Final = "anthropic"


def _read_request(kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, bool]:
    model = kwargs.get("model")
    max_tokens = kwargs.get("max_tokens")
    return (
        model if isinstance(model, str) else None,
        integral(max_tokens),
        kwargs.get("stream") is True,
    )


def _read_input(kwargs: Mapping[str, Any]) -> Any:
    system = kwargs.get("system")
    messages = list(kwargs.get("messages") or ())
    return ([{"role": "system", "content": system}] if system else []) + messages


def read_usage(usage: Any) -> Usage | None:
    """Normalise an Anthropic ``usage`` object: ``input_tokens`` there excludes cached tokens."""
    if usage is None:
        return None
    plain = getattr(usage, "input_tokens", None)
    output = getattr(usage, "output_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    written = getattr(usage, "cache_creation_input_tokens", None)
    write_5m, write_1h = _split_writes(as_int(written), getattr(usage, "cache_creation", None))
    details = getattr(usage, "output_tokens_details", None)
    thinking = getattr(details, "thinking_tokens", None) if details is not None else None
    normalised = Usage(
        input_tokens=as_int(plain) + as_int(read) + write_5m + write_1h,
        output_tokens=as_int(output),
        cache_read_tokens=as_int(read),
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=as_int(thinking),
    )
    return usage_or_none(normalised, plain, output, read, written)


def _split_writes(written: int, split: Any) -> tuple[int, int]:
    """Cache writes by TTL; writes the response does not split are 5-minute writes (the default TTL)."""
    if split is None:
        return written, 0
    five = getattr(split, "ephemeral_5m_input_tokens", None)
    hour = getattr(split, "ephemeral_1h_input_tokens", None)
    if not (is_count(five) or is_count(hour)):
        return written, 0
    five_n, hour_n = as_int(five), as_int(hour)
    return max(five_n, written - hour_n), hour_n


def _text_of(content: Any) -> str | None:
    if not content:
        return None
    texts = [t for block in content if isinstance(t := getattr(block, "text", None), str)]
    return "".join(texts) if texts else None


def read_response(message: Any, with_text: bool = False) -> CallResult:
    stop = getattr(message, "stop_reason", None)
    return CallResult(
        usage=read_usage(getattr(message, "usage", None)),
        response_model=str_or_none(getattr(message, "model", None)),
        response_id=str_or_none(getattr(message, "id", None)),
        finish_reasons=(stop,) if isinstance(stop, str) else (),
        output_text=_text_of(getattr(message, "content", None)) if with_text else None,
    )


class MessageStreamAccumulator:
    """Usage from ``message_start`` then ``message_delta`` events.

    ``message_delta`` usage is cumulative: each count it carries replaces the one before (adding
    would double-count output tokens).
    """

    __slots__ = ("_fields", "_id", "_model", "_stop", "_texts")

    def __init__(self, capture_text: bool = False) -> None:
        self._fields: dict[str, Any] = {}
        self._id: str | None = None
        self._model: str | None = None
        self._stop: str | None = None
        self._texts: list[str] | None = [] if capture_text else None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "content_block_delta":
            if self._texts is not None:
                text = getattr(getattr(event, "delta", None), "text", None)
                if isinstance(text, str):
                    self._texts.append(text)
        elif kind == "message_start":
            message = getattr(event, "message", None)
            self._id = str_or_none(getattr(message, "id", None))
            self._model = str_or_none(getattr(message, "model", None))
            self._merge(getattr(message, "usage", None))
        elif kind == "message_delta":
            self._merge(getattr(event, "usage", None))
            stop = getattr(getattr(event, "delta", None), "stop_reason", None)
            if isinstance(stop, str):
                self._stop = stop

    def _merge(self, usage: Any) -> None:
        if usage is None:
            return
        for name in _USAGE_FIELDS:
            value = getattr(usage, name, None)
            if value is not None:
                self._fields[name] = value

    def result(self) -> CallResult:
        return CallResult(
            usage=read_usage(_Fields(self._fields)) if self._fields else None,
            response_model=self._model,
            response_id=self._id,
            finish_reasons=(self._stop,) if self._stop else (),
            output_text="".join(self._texts) if self._texts else None,
        )


_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens_details",
)


class _Fields:
    """Attribute access over the merged usage fields of a stream."""

    __slots__ = ("_values",)

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getattr__(self, name: str) -> Any:
        return self._values.get(name)


def read_tool_calls(message: Any) -> tuple[tuple[str | None, Any], ...]:
    return tuple(
        (str_or_none(getattr(block, "name", None)), getattr(block, "input", None))
        for block in getattr(message, "content", None) or ()
        if getattr(block, "type", None) == "tool_use"
    )


def _plan_cache(
    kwargs: dict[str, Any], model: str | None, tracker: Any, now: float
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """``cache_control`` breakpoints where they pay off (``core/caching``)."""
    if model is None:
        return kwargs, []
    plan = caching.plan_anthropic(kwargs, model=model, tracker=tracker, now=now)
    planned = caching.apply(kwargs, plan) if plan.breakpoints else kwargs
    return planned, list(plan.attributes().items())


MESSAGES = Endpoint(
    provider=PROVIDER,
    operation="chat",
    read_request=_read_request,
    read_response=read_response,
    new_accumulator=MessageStreamAccumulator,
    read_input=_read_input,
    read_tool_calls=read_tool_calls,
    prompt_fields=("system", "messages", "tools", "tool_choice"),
    output_cap_fields=("max_tokens",),
    plan_cache=_plan_cache,
    replay=Replay(
        anthropic_replay.cache_parts,
        anthropic_replay.final_of,
        anthropic_replay.MessageFinalAccumulator,
        anthropic_replay.replay_body,
    ),
)


def targets() -> list[PatchTarget]:
    """Every Anthropic method costaware wraps. A method missing from the installed SDK is skipped."""
    return resource_targets(
        "anthropic", "anthropic.resources.messages.messages", "Messages", "messages", MESSAGES
    ) + resource_targets(
        "anthropic", "anthropic.resources.beta.messages.messages", "Messages", "beta.messages", MESSAGES
    )
