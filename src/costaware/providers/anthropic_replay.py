"""Anthropic Messages replay: what an answer depends on, the stored message, and its wire bodies.

A stored message is the ``Message`` dict as the API sent it. Served back, it is a JSON body or the
event stream the API would have sent for it (``message_start``, then ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` per block, ``message_delta``, ``message_stop``),
with every token count at zero: a replayed answer bills nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from costaware.core.types import CacheParts
from costaware.providers.replay import (
    EVENT_STREAM,
    as_blocks,
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

ENDPOINT = "anthropic.messages"
_TEXT = frozenset({"text"})
_TOOL_RESULTS = frozenset({"tool_result"})
_MEDIA = frozenset({"image", "document", "file", "container_upload", "audio"})


def cache_parts(kwargs: Mapping[str, Any]) -> CacheParts:
    """What the answer to a ``messages.create`` call depends on (see ``CacheParts``).

    >>> a = cache_parts({"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "Hi"}]})
    >>> b = cache_parts({"model": "m", "max_tokens": 9, "stream": True,
    ...                  "messages": [{"role": "user", "content": [{"type": "text", "text": "Yo",
    ...                                "cache_control": {"type": "ephemeral"}}]}]})
    >>> a.context == b.context, a.question, b.question
    (True, 'Hi', 'Yo')
    """
    blockers: set[str] = set()
    parts = request_parts(kwargs, ENDPOINT, blockers)
    if "system" in parts:
        parts["system"] = as_blocks(parts["system"], "text")
    messages = parts["messages"] = with_blocks(parts.get("messages"), "text")
    question = mark_question(messages, _TEXT)
    kinds = types_in([parts.get("system"), messages])
    if kinds & _TOOL_RESULTS:
        blockers.add("tool_results")
    if kinds & _MEDIA:
        blockers.add("images")
    return cache_parts_of(parts, question, blockers, kwargs)


def final_of(value: Any) -> dict[str, Any] | None:
    """The wire dict of a ``Message`` (or a ``ParsedMessage``: its parsed output is re-derived by the
    SDK on replay, so only the wire fields are kept)."""
    final = wire_dict(value)
    if final is None or final.get("type") != "message":
        return None
    if "content" in final:
        final["content"] = drop_fields(final["content"], "parsed_output")
    return final


class MessageFinalAccumulator:
    """Rebuilds the ``Message`` dict from a stream's raw events; complete at ``message_stop``."""

    __slots__ = ("_broken", "_done", "_json", "_message")

    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._json: dict[int, str] = {}
        self._done = False
        self._broken = False

    def add(self, event: Any) -> None:
        kind = get(event, "type")
        message = self._message
        if kind == "message_start":
            self._message = wire_dict(get(event, "message")) or {}
            self._message["content"] = []
        elif message is None:
            return
        elif kind == "content_block_delta":
            self._delta(message["content"], get(event, "index"), get(event, "delta"))
        elif kind == "content_block_start":
            message["content"].append(wire_dict(get(event, "content_block")) or {})
        elif kind == "content_block_stop":
            self._close(message["content"], get(event, "index"))
        elif kind == "message_delta":
            self._message_delta(message, event)
        elif kind == "message_stop":
            self._done = True

    def _delta(self, content: list[dict[str, Any]], index: Any, delta: Any) -> None:
        if not isinstance(index, int) or not 0 <= index < len(content):
            self._broken = True
            return
        block = content[index]
        kind = get(delta, "type")
        if kind == "text_delta":
            block["text"] = block.get("text", "") + get(delta, "text", "")
        elif kind == "input_json_delta":
            self._json[index] = self._json.get(index, "") + get(delta, "partial_json", "")
        elif kind == "thinking_delta":
            block["thinking"] = block.get("thinking", "") + get(delta, "thinking", "")
        elif kind == "signature_delta":
            block["signature"] = get(delta, "signature")
        elif kind == "citations_delta":
            citation = wire_dict(get(delta, "citation"))
            block["citations"] = [*(block.get("citations") or []), citation]

    def _close(self, content: list[dict[str, Any]], index: Any) -> None:
        buffered = self._json.pop(index, "") if isinstance(index, int) else ""
        if buffered and isinstance(index, int) and 0 <= index < len(content):
            try:
                content[index]["input"] = json.loads(buffered)
            except ValueError:  # a cut or garbled tool input is not an answer to store
                self._broken = True

    @staticmethod
    def _message_delta(message: dict[str, Any], event: Any) -> None:
        message.update(wire_dict(get(event, "delta")) or {})
        management = get(event, "context_management")
        if management is not None:
            message["context_management"] = wire_dict(management)
        usage = wire_dict(get(event, "usage")) or {}
        # message_delta usage is cumulative: each count it carries replaces the one before
        merged = dict(message.get("usage") or {})
        merged.update({key: value for key, value in usage.items() if value is not None})
        message["usage"] = merged

    def final(self) -> dict[str, Any] | None:
        if not self._done or self._broken or self._message is None:
            return None
        return self._message


def replay_body(final: Mapping[str, Any], stream: bool, kwargs: Mapping[str, Any]) -> tuple[str, bytes]:
    """The HTTP body the SDK parses back into ``final`` (with zero usage): JSON, or the event stream."""
    usage = zero_counts(final.get("usage") or {"input_tokens": 0, "output_tokens": 0})
    if not stream:
        return json_body({**final, "usage": usage})
    start = {
        **final,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    start.pop("stop_details", None)
    events = [sse({"type": "message_start", "message": start}, "message_start")]
    events.append(sse({"type": "ping"}, "ping"))
    for index, block in enumerate(final.get("content") or ()):
        events += _block_events(index, block)
    delta = {key: final.get(key) for key in ("stop_reason", "stop_sequence")}
    delta.update({key: final[key] for key in ("stop_details", "container") if key in final})
    closing: dict[str, Any] = {"type": "message_delta", "delta": delta, "usage": _delta_usage(usage)}
    if "context_management" in final:
        closing["context_management"] = final["context_management"]
    events.append(sse(closing, "message_delta"))
    events.append(sse({"type": "message_stop"}, "message_stop"))
    return EVENT_STREAM, b"".join(events)


def _delta_usage(usage: dict[str, Any]) -> dict[str, Any]:
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    out = {key: usage.get(key, 0) for key in keys}
    if "server_tool_use" in usage:
        out["server_tool_use"] = usage["server_tool_use"]
    return out


def _block_events(index: int, block: Any) -> list[bytes]:
    """``content_block_start``, its deltas and ``content_block_stop`` for one content block."""
    if not isinstance(block, dict):
        return []
    kind = block.get("type")
    deltas: list[dict[str, Any]] = []
    start = dict(block)
    if kind == "text":
        start["text"] = ""
        citations = block.get("citations")
        if isinstance(citations, list):
            start["citations"] = []
            deltas += [{"type": "citations_delta", "citation": citation} for citation in citations]
        deltas += [{"type": "text_delta", "text": piece} for piece in pieces(block.get("text") or "")]
    elif kind == "thinking":
        start.update(thinking="", signature="")
        deltas += [
            {"type": "thinking_delta", "thinking": piece} for piece in pieces(block.get("thinking") or "")
        ]
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif isinstance(block.get("input"), dict):  # tool_use, server_tool_use, mcp_tool_use
        start["input"] = {}
        arguments = (
            json.dumps(block["input"], separators=(",", ":"), ensure_ascii=False) if block["input"] else ""
        )
        deltas += [{"type": "input_json_delta", "partial_json": piece} for piece in pieces(arguments, 8)]
    events = [
        sse({"type": "content_block_start", "index": index, "content_block": start}, "content_block_start")
    ]
    events += [
        sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
        for delta in deltas
    ]
    events.append(sse({"type": "content_block_stop", "index": index}, "content_block_stop"))
    return events
