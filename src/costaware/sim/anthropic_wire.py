"""Anthropic Messages API wire format: message bodies, SSE events and error bodies."""

from __future__ import annotations

import json
from typing import Any

from .answers import Answer, split_for_stream
from .caching import CacheUsage

__all__ = ["error_body", "message_body", "sse_event", "stream_events", "usage_body"]

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str, request_id: str) -> dict[str, Any]:
    """Return an Anthropic error body for ``status``."""
    kind = ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": request_id}


def usage_body(*, prompt: int, cache: CacheUsage, output_tokens: int, mode: str) -> dict[str, Any] | None:
    """Return the ``usage`` object; ``mode`` is ``"normal"``, ``"missing"``, ``"malformed"`` or
    ``"negative"`` (a valid input count, a negative output count).

    ``input_tokens`` excludes cached tokens: prompt = input + cache read + cache creation.
    """
    if mode == "missing":
        return None
    if mode == "malformed":
        return {
            "input_tokens": None,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": str(cache.read),
            "cache_creation": None,
            "output_tokens": str(output_tokens),
        }
    return {
        "input_tokens": prompt - cache.read - cache.written,
        "cache_creation_input_tokens": cache.written,
        "cache_read_input_tokens": cache.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.write_5m,
            "ephemeral_1h_input_tokens": cache.write_1h,
        },
        "output_tokens": -output_tokens if mode == "negative" else output_tokens,
        "service_tier": "standard",
    }


def _stop_reason(answer: Answer) -> str:
    return "max_tokens" if answer.truncated else "end_turn"


def _message(msg_id: str, model: str, content: list[Any], stop_reason: str | None) -> dict[str, Any]:
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
    }


def message_body(*, msg_id: str, model: str, answer: Answer, usage: dict[str, Any] | None) -> dict[str, Any]:
    """Return a non-streamed ``Message``."""
    body = _message(msg_id, model, [{"type": "text", "text": answer.text}], _stop_reason(answer))
    if usage is not None:
        body["usage"] = usage
    return body


def sse_event(name: str, data: dict[str, Any]) -> bytes:
    """Encode one named server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _start_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    if usage is None:
        return None
    start = dict(usage)
    if isinstance(start["output_tokens"], int):
        start["output_tokens"] = min(1, start["output_tokens"])
    return start


def _delta_usage(usage: dict[str, Any] | None) -> dict[str, Any] | None:
    """The CUMULATIVE usage of ``message_delta``: totals so far, never increments."""
    if usage is None:
        return None
    keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
    return {key: usage[key] for key in keys}


def stream_events(*, msg_id: str, model: str, answer: Answer, usage: dict[str, Any] | None) -> list[bytes]:
    """Return the SSE events of a streamed message, in the API's order."""
    start = _message(msg_id, model, [], None)
    start_usage = _start_usage(usage)
    if start_usage is not None:
        start["usage"] = start_usage
    events = [
        sse_event("message_start", {"type": "message_start", "message": start}),
        sse_event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        sse_event("ping", {"type": "ping"}),
    ]
    events.extend(
        sse_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
        )
        for piece in split_for_stream(answer.text)
    )
    events.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": 0}))
    delta: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": _stop_reason(answer), "stop_sequence": None},
    }
    delta_usage = _delta_usage(usage)
    if delta_usage is not None:
        delta["usage"] = delta_usage
    events.append(sse_event("message_delta", delta))
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return events
