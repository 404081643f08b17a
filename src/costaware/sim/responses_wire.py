"""OpenAI Responses API wire format: the ``response`` object and its SSE events.

A truncated answer (``max_output_tokens`` reached) has ``status: "incomplete"`` and
``incomplete_details.reason: "max_output_tokens"``; its stream ends with
``response.incomplete`` instead of ``response.completed``, as the real API does (the SDK's
``get_final_response()`` then raises, because it only accepts ``response.completed``).
"""

from __future__ import annotations

import json
from typing import Any

from .answers import Answer, split_for_stream

__all__ = ["response_body", "response_events", "responses_usage_body"]


def responses_usage_body(*, prompt: int, cached: int, answer: Answer, mode: str) -> dict[str, Any] | None:
    """Return Responses ``usage``; ``input_tokens`` INCLUDES the cached tokens."""
    if mode == "missing":
        return None
    if mode == "malformed":
        return {
            "input_tokens": None,
            "input_tokens_details": None,
            "output_tokens": str(answer.output_tokens),
            "output_tokens_details": {"reasoning_tokens": None},
            "total_tokens": None,
        }
    return {
        "input_tokens": prompt,
        # this SDK requires cache_write_tokens; OpenAI charges nothing for writes, so it stays 0
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": answer.output_tokens,
        "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
        "total_tokens": prompt + answer.output_tokens,
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _final_status(answer: Answer) -> str:
    return "incomplete" if answer.truncated else "completed"


def response_body(
    *,
    response_id: str,
    item_id: str,
    model: str,
    created: int,
    request: dict[str, Any],
    answer: Answer | None,
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """Return a ``response`` object; ``answer=None`` gives the in-progress snapshot."""
    instructions = request.get("instructions")
    reasoning = request.get("reasoning")
    body: dict[str, Any] = {
        "id": response_id,
        "object": "response",
        "created_at": created,
        "status": "in_progress" if answer is None else _final_status(answer),
        "error": None,
        "incomplete_details": None,
        "instructions": instructions if isinstance(instructions, str) else None,
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": True,
        "previous_response_id": request.get("previous_response_id"),
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": {
            "effort": reasoning.get("effort") if isinstance(reasoning, dict) else None,
            "summary": None,
        },
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": None,
        "metadata": {},
    }
    if answer is not None:
        body["output"] = [_message_item(item_id, _final_status(answer), [_text_part(answer.text)])]
        if answer.truncated:
            body["incomplete_details"] = {"reason": "max_output_tokens"}
        if usage is None:
            del body["usage"]
        else:
            body["usage"] = usage
    return body


def _event(name: str, sequence: int, payload: dict[str, Any]) -> bytes:
    data = {"type": name, "sequence_number": sequence, **payload}
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def response_events(
    *,
    response_id: str,
    item_id: str,
    model: str,
    created: int,
    request: dict[str, Any],
    answer: Answer,
    usage: dict[str, Any] | None,
) -> list[bytes]:
    """Return the SSE events of a streamed response, each with its ``sequence_number``."""
    common: dict[str, Any] = {
        "response_id": response_id,
        "item_id": item_id,
        "model": model,
        "created": created,
    }
    snapshot = response_body(**common, request=request, answer=None, usage=None)
    final = response_body(**common, request=request, answer=answer, usage=usage)
    status = _final_status(answer)
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    steps: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": snapshot}),
        ("response.in_progress", {"response": snapshot}),
        (
            "response.output_item.added",
            {"output_index": 0, "item": _message_item(item_id, "in_progress", [])},
        ),
        ("response.content_part.added", {**where, "part": _text_part("")}),
    ]
    steps.extend(
        ("response.output_text.delta", {**where, "delta": piece, "logprobs": []})
        for piece in split_for_stream(answer.text)
    )
    steps += [
        ("response.output_text.done", {**where, "text": answer.text, "logprobs": []}),
        ("response.content_part.done", {**where, "part": _text_part(answer.text)}),
        (
            "response.output_item.done",
            {"output_index": 0, "item": _message_item(item_id, status, [_text_part(answer.text)])},
        ),
        (f"response.{status}", {"response": final}),
    ]
    return [_event(name, sequence, payload) for sequence, (name, payload) in enumerate(steps)]
