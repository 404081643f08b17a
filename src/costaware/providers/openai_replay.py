"""OpenAI Chat Completions replay: what an answer depends on, the stored completion, its wire bodies.

A stored completion is the ``chat.completion`` dict as the API sent it. Served back, it is a JSON
body or the chunks the API would have streamed for it (per choice: the role, content deltas, tool
call deltas, a ``finish_reason`` chunk; a usage chunk when ``stream_options.include_usage``; then
``[DONE]``), with every token count at zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from costaware.core.types import CacheParts, integral
from costaware.providers.replay import (
    EVENT_STREAM,
    cache_parts_of,
    drop_fields,
    get,
    json_body,
    mark_question,
    pieces,
    request_parts,
    sse,
    types_in,
    wire_dict,
    with_blocks,
    zero_counts,
)

ENDPOINT = "openai.chat.completions"
DONE = b"data: [DONE]\n\n"
_TEXT = frozenset({"text"})
_MEDIA = frozenset({"image_url", "input_audio", "file", "input_image", "input_file"})
_TOOL_ROLES = frozenset({"tool", "function"})


def cache_parts(kwargs: Mapping[str, Any]) -> CacheParts:
    """What the answer to a ``chat.completions.create`` call depends on (see ``CacheParts``).

    >>> parts = cache_parts({"model": "m", "n": 2, "messages": [{"role": "user", "content": "Hi"}]})
    >>> parts.question, parts.blockers, parts.copies
    ('Hi', ('n>1',), 2)
    """
    blockers: set[str] = set()
    parts = request_parts(kwargs, ENDPOINT, blockers)
    messages = parts["messages"] = with_blocks(parts.get("messages"), "text")
    question = mark_question(messages, _TEXT)
    if isinstance(messages, list):
        if any(isinstance(m, dict) and m.get("role") in _TOOL_ROLES for m in messages):
            blockers.add("tool_results")
        if types_in(messages) & _MEDIA:
            blockers.add("images")
    copies = integral(kwargs.get("n")) or 1
    if copies > 1:
        blockers.add("n>1")
    return cache_parts_of(parts, question, blockers, kwargs, copies=max(copies, 1))


def final_of(value: Any) -> dict[str, Any] | None:
    """The wire dict of a ``ChatCompletion`` (a ``ParsedChatCompletion`` without what ``.parse()``
    derived: the SDK derives it again on replay)."""
    final = wire_dict(value)
    if final is None or final.get("object") != "chat.completion":
        return None
    choices = []
    for choice in final.get("choices") or ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict):
            message = {key: item for key, item in message.items() if key != "parsed"}
            if message.get("tool_calls"):
                message["tool_calls"] = [
                    {**call, "function": drop_fields([call["function"]], "parsed_arguments")[0]}
                    if isinstance(call, dict) and isinstance(call.get("function"), dict)
                    else call
                    for call in message["tool_calls"]
                ]
            choice = {**choice, "message": message}
        choices.append(choice)
    final["choices"] = choices
    return final


_ENVELOPE = ("id", "created", "model", "service_tier", "system_fingerprint")


class ChatFinalAccumulator:
    """Rebuilds the ``chat.completion`` dict from a stream's chunks; complete once every choice has
    its ``finish_reason`` (the usage chunk, when asked for, comes after and is kept if it does)."""

    __slots__ = ("_choices", "_envelope", "_usage")

    def __init__(self) -> None:
        self._envelope: dict[str, Any] = {}
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None

    def add(self, chunk: Any) -> None:
        for key in _ENVELOPE:
            value = get(chunk, key)
            if value and key not in self._envelope:  # Azure's first chunk has an empty id and model
                self._envelope[key] = value
        usage = get(chunk, "usage")
        if usage is not None:
            self._usage = wire_dict(usage)
        for choice in get(chunk, "choices") or ():
            index = get(choice, "index")
            if isinstance(index, int):
                self._choices.setdefault(index, _Choice()).add(choice)

    def final(self) -> dict[str, Any] | None:
        if not self._choices or any(c.finish_reason is None for c in self._choices.values()):
            return None
        final: dict[str, Any] = {"object": "chat.completion", **self._envelope}
        final["choices"] = [self._choices[index].as_dict(index) for index in sorted(self._choices)]
        if self._usage is not None:
            final["usage"] = self._usage
        return final


class _Choice:
    """One choice's deltas, joined."""

    __slots__ = ("annotations", "content", "finish_reason", "logprobs", "refusal", "role", "tool_calls")

    def __init__(self) -> None:
        self.role: str | None = None
        self.content: list[str] | None = None
        self.refusal: list[str] | None = None
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.annotations: list[Any] = []
        self.logprobs: dict[str, Any] | None = None
        self.finish_reason: str | None = None

    def add(self, choice: Any) -> None:
        delta = get(choice, "delta")
        if delta is not None:
            self._delta(delta)
        logprobs = get(choice, "logprobs")
        if logprobs is not None:
            self._logprobs(wire_dict(logprobs) or {})
        reason = get(choice, "finish_reason")
        if isinstance(reason, str):
            self.finish_reason = reason

    def _delta(self, delta: Any) -> None:
        role = get(delta, "role")
        if isinstance(role, str):
            self.role = role
        content = get(delta, "content")
        if isinstance(content, str):
            self.content = [*(self.content or []), content]
        refusal = get(delta, "refusal")
        if isinstance(refusal, str):
            self.refusal = [*(self.refusal or []), refusal]
        self.annotations += [wire_dict(a) for a in get(delta, "annotations") or ()]
        for call in get(delta, "tool_calls") or ():
            index = get(call, "index")
            if not isinstance(index, int):
                continue
            known = self.tool_calls.setdefault(index, {"function": {"name": "", "arguments": ""}})
            for key in ("id", "type"):
                if get(call, key):
                    known[key] = get(call, key)
            function = get(call, "function")
            if function is not None:
                known["function"]["name"] += get(function, "name") or ""
                known["function"]["arguments"] += get(function, "arguments") or ""

    def _logprobs(self, logprobs: dict[str, Any]) -> None:
        if self.logprobs is None:
            self.logprobs = {"content": None, "refusal": None}
        for key in ("content", "refusal"):
            if logprobs.get(key):
                self.logprobs[key] = [*(self.logprobs[key] or []), *logprobs[key]]

    def as_dict(self, index: int) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role or "assistant",
            "content": "".join(self.content) if self.content is not None else None,
            "refusal": "".join(self.refusal) if self.refusal else None,
            "annotations": self.annotations,
        }
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": call.get("id"), "type": call.get("type", "function"), "function": call["function"]}
                for _, call in sorted(self.tool_calls.items())
            ]
        return {
            "index": index,
            "message": message,
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
        }


def replay_body(final: Mapping[str, Any], stream: bool, kwargs: Mapping[str, Any]) -> tuple[str, bytes]:
    """The HTTP body the SDK parses back into ``final`` (with zero usage): JSON, or the chunks."""
    usage = final.get("usage")
    if not stream:
        return json_body({**final, "usage": zero_counts(usage)} if usage is not None else dict(final))
    options = kwargs.get("stream_options")
    include_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    envelope = {key: final[key] for key in _ENVELOPE if key in final}
    envelope["object"] = "chat.completion.chunk"
    if include_usage:
        envelope["usage"] = None
    events = [
        sse({**envelope, "choices": [{"index": choice.get("index", i), "logprobs": None, **part}]})
        for i, choice in enumerate(final.get("choices") or ())
        for part in _choice_parts(choice)
    ]
    if include_usage:
        zero = zero_counts(usage) if usage is not None else {}
        events.append(sse({**envelope, "choices": [], "usage": zero or _NO_USAGE}))
    events.append(DONE)
    return EVENT_STREAM, b"".join(events)


_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _choice_parts(choice: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``delta`` / ``finish_reason`` / ``logprobs`` of each chunk of one choice, in order."""
    message = choice.get("message") or {}
    content = message.get("content")
    first = {"role": message.get("role", "assistant"), "content": "" if isinstance(content, str) else None}
    first["refusal"] = None
    parts: list[dict[str, Any]] = [{"delta": first, "finish_reason": None}]
    if choice.get("logprobs") is not None:
        parts[0]["logprobs"] = choice["logprobs"]
    parts += [{"delta": {"content": piece}, "finish_reason": None} for piece in pieces(content or "")]
    refusal = message.get("refusal")
    parts += [{"delta": {"refusal": piece}, "finish_reason": None} for piece in pieces(refusal or "")]
    if message.get("annotations"):
        parts.append({"delta": {"annotations": message["annotations"]}, "finish_reason": None})
    for index, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        opening = {"index": index, "id": call.get("id"), "type": call.get("type", "function")}
        opening["function"] = {"name": function.get("name"), "arguments": ""}
        parts.append({"delta": {"tool_calls": [opening]}, "finish_reason": None})
        parts += [
            {
                "delta": {"tool_calls": [{"index": index, "function": {"arguments": piece}}]},
                "finish_reason": None,
            }
            for piece in pieces(function.get("arguments") or "", 8)
        ]
    parts.append({"delta": {}, "finish_reason": choice.get("finish_reason")})
    return parts
