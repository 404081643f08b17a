"""OpenAI Responses API replay: what an answer depends on, the stored response, its wire bodies.

A stored response is the ``response`` dict of the terminal event (or of the JSON body). Served back
as a stream, it becomes the events the API sends for it, each with its ``sequence_number``:
``response.created``, ``response.in_progress``, per output item ``output_item.added``, its parts
(text, refusal, function-call arguments, reasoning summaries) with their deltas, ``output_item.done``,
then ``response.completed`` (or ``response.incomplete``). Every token count is zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from costaware.core.types import CacheParts
from costaware.providers.replay import (
    EVENT_STREAM,
    cache_parts_of,
    drop_fields,
    get,
    json_body,
    mark_question,
    pieces,
    question_marker,
    request_parts,
    sse,
    types_in,
    wire_dict,
    zero_counts,
)

ENDPOINT = "openai.responses"
_TEXT = frozenset({"input_text"})
_MEDIA = frozenset({"input_image", "input_file", "input_audio"})
_TERMINAL = frozenset({"response.completed", "response.incomplete"})


def cache_parts(kwargs: Mapping[str, Any]) -> CacheParts:
    """What the answer to a ``responses.create`` call depends on (see ``CacheParts``).

    >>> cache_parts({"model": "m", "input": "Hi", "store": False}).question
    'Hi'
    """
    blockers: set[str] = set()
    parts = request_parts(kwargs, ENDPOINT, blockers)
    # A replayed response keeps its id: one made with store=False was never kept by the API, so a
    # caller that stores (the default) and may continue from the id must not be given it.
    parts["store"] = kwargs.get("store") is not False
    question = None
    items = parts.get("input")
    if isinstance(items, str):
        question, parts["input"] = items, question_marker()
    elif isinstance(items, list) and items:
        question = mark_question(items, _TEXT)
        kinds = types_in(items)
        if any(kind.endswith("_call_output") or kind == "mcp_approval_response" for kind in kinds):
            blockers.add("tool_results")
        if kinds & _MEDIA:
            blockers.add("images")
    if parts.get("conversation") is not None:
        blockers.add("conversation")  # the conversation grows between calls: same id, new context
    return cache_parts_of(parts, question, blockers, kwargs)


def final_of(value: Any) -> dict[str, Any] | None:
    """The wire dict of a ``Response`` (a ``ParsedResponse`` without what ``.parse()`` derived)."""
    final = wire_dict(value)
    if final is None or final.get("object") != "response":
        return None
    output = []
    for item in final.get("output") or ():
        if isinstance(item, dict):
            item = {key: field for key, field in item.items() if key != "parsed_arguments"}
            if isinstance(item.get("content"), list):
                item["content"] = drop_fields(item["content"], "parsed")
        output.append(item)
    final["output"] = output
    return final


class ResponseFinalAccumulator:
    """The stream's terminal event carries the whole response: complete at ``response.completed``
    (or ``response.incomplete``: a truncated answer is still the answer the API gave)."""

    __slots__ = ("_final",)

    def __init__(self) -> None:
        self._final: dict[str, Any] | None = None

    def add(self, event: Any) -> None:
        if get(event, "type") in _TERMINAL:
            self._final = final_of(get(event, "response"))

    def final(self) -> dict[str, Any] | None:
        return self._final


def replay_body(final: Mapping[str, Any], stream: bool, kwargs: Mapping[str, Any]) -> tuple[str, bytes]:
    """The HTTP body the SDK parses back into ``final`` (with zero usage): JSON, or the events."""
    usage = final.get("usage")
    done = {**final, "usage": zero_counts(usage)} if usage is not None else dict(final)
    if not stream:
        return json_body(done)
    snapshot = {**done, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
    if "completed_at" in snapshot:
        snapshot["completed_at"] = None
    steps: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": snapshot}),
        ("response.in_progress", {"response": snapshot}),
    ]
    for index, item in enumerate(final.get("output") or ()):
        if isinstance(item, dict):
            steps += _item_steps(index, item)
    status = final.get("status")
    steps.append(
        (
            f"response.{status}" if status in ("incomplete", "failed") else "response.completed",
            {"response": done},
        )
    )
    events = [
        sse({"type": name, "sequence_number": number, **payload}, name)
        for number, (name, payload) in enumerate(steps)
    ]
    return EVENT_STREAM, b"".join(events)


def _item_steps(index: int, item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``output_item.added``, the item's part events, ``output_item.done``."""
    kind = item.get("type")
    opening = dict(item)
    if "status" in item:
        opening["status"] = "in_progress"
    inner: list[tuple[str, dict[str, Any]]] = []
    if kind == "message":
        opening["content"] = []
        for number, part in enumerate(item.get("content") or ()):
            where = {"item_id": item.get("id"), "output_index": index, "content_index": number}
            inner += _part_steps(where, part) if isinstance(part, dict) else []
    elif kind == "function_call":
        opening["arguments"] = ""
        where = {"item_id": item.get("id"), "output_index": index}
        arguments = item.get("arguments") or ""
        inner += [
            ("response.function_call_arguments.delta", {**where, "delta": p}) for p in pieces(arguments, 8)
        ]
        done = {**where, "arguments": arguments, "name": item.get("name")}
        inner.append(("response.function_call_arguments.done", done))
    elif kind == "reasoning" and item.get("summary"):
        opening["summary"] = []
        for number, part in enumerate(item["summary"]):
            where = {"item_id": item.get("id"), "output_index": index, "summary_index": number}
            inner += _summary_steps(where, part) if isinstance(part, dict) else []
    return [
        ("response.output_item.added", {"output_index": index, "item": opening}),
        *inner,
        ("response.output_item.done", {"output_index": index, "item": item}),
    ]


def _part_steps(where: dict[str, Any], part: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    kind = part.get("type")
    if kind == "output_text":
        text = part.get("text") or ""
        logprobs = part.get("logprobs") or []
        steps = [("response.content_part.added", {**where, "part": {**part, "text": "", "annotations": []}})]
        steps += [("response.output_text.delta", {**where, "delta": p, "logprobs": []}) for p in pieces(text)]
        steps += [
            ("response.output_text.annotation.added", {**where, "annotation_index": n, "annotation": a})
            for n, a in enumerate(part.get("annotations") or ())
        ]
        steps.append(("response.output_text.done", {**where, "text": text, "logprobs": logprobs}))
    elif kind == "refusal":
        refusal = part.get("refusal") or ""
        steps = [("response.content_part.added", {**where, "part": {**part, "refusal": ""}})]
        steps += [("response.refusal.delta", {**where, "delta": p}) for p in pieces(refusal)]
        steps.append(("response.refusal.done", {**where, "refusal": refusal}))
    else:
        steps = [("response.content_part.added", {**where, "part": part})]
    steps.append(("response.content_part.done", {**where, "part": part}))
    return steps


def _summary_steps(where: dict[str, Any], part: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    text = part.get("text") or ""
    return [
        ("response.reasoning_summary_part.added", {**where, "part": {**part, "text": ""}}),
        *[("response.reasoning_summary_text.delta", {**where, "delta": p}) for p in pieces(text)],
        ("response.reasoning_summary_text.done", {**where, "text": text}),
        ("response.reasoning_summary_part.done", {**where, "part": part}),
    ]
