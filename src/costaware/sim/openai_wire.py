"""OpenAI wire format: Chat Completions (JSON and SSE chunks), Embeddings and error bodies."""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
from typing import Any

from .answers import Answer, split_for_stream

__all__ = [
    "DONE",
    "chat_chunks",
    "chat_completion_body",
    "chat_usage_body",
    "embedding_vector",
    "embeddings_body",
    "error_body",
]

DONE = b"data: [DONE]\n\n"
DEFAULT_DIMENSIONS = 256

_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    503: ("server_error", "service_unavailable"),
    529: ("server_error", "overloaded"),
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Return an OpenAI error body for ``status``."""
    kind, code = _ERRORS.get(status) or (
        ("server_error", None) if status >= 500 else ("invalid_request_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def chat_usage_body(*, prompt: int, cached: int, answer: Answer, mode: str) -> dict[str, Any] | None:
    """Return Chat Completions ``usage``: ``prompt_tokens`` INCLUDES the cached tokens.

    ``mode`` is ``"normal"``, ``"missing"`` (None), ``"malformed"`` (nulls and strings) or
    ``"negative"`` (a valid prompt count, a negative completion count).
    """
    if mode == "missing":
        return None
    if mode == "malformed":
        return {
            "prompt_tokens": None,
            "completion_tokens": str(answer.output_tokens),
            "total_tokens": None,
            "prompt_tokens_details": {"cached_tokens": None},
            "completion_tokens_details": None,
        }
    return {
        "prompt_tokens": prompt,
        "completion_tokens": -answer.output_tokens if mode == "negative" else answer.output_tokens,
        "total_tokens": prompt + answer.output_tokens,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": answer.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _finish_reason(answer: Answer) -> str:
    return "length" if answer.truncated else "stop"


def _envelope(completion_id: str, model: str, created: int, obj: str) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": obj,
        "created": created,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_costaware_sim",
    }


def chat_completion_body(
    *,
    completion_id: str,
    model: str,
    created: int,
    answer: Answer,
    usage: dict[str, Any] | None,
    choices: int = 1,
) -> dict[str, Any]:
    """Return a non-streamed ``chat.completion`` with ``choices`` choices (the request's ``n``)."""
    body = _envelope(completion_id, model, created, "chat.completion")
    body["choices"] = [
        {
            "index": index,
            "message": {"role": "assistant", "content": answer.text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": _finish_reason(answer),
        }
        for index in range(choices)
    ]
    if usage is not None:
        body["usage"] = usage
    return body


def _data(payload: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"


def chat_chunks(
    *,
    completion_id: str,
    model: str,
    created: int,
    answer: Answer,
    usage: dict[str, Any] | None,
    include_usage: bool,
    choices: int = 1,
    azure_preamble: bool = False,
) -> list[bytes]:
    """Return the SSE events of a streamed completion, ending with ``data: [DONE]``.

    With ``include_usage`` every chunk carries ``"usage": null`` and a last chunk with
    ``choices: []`` carries the usage (left out when usage is "missing"). ``choices`` > 1 (the
    request's ``n``) streams each choice in turn, by its index. ``azure_preamble`` starts the stream
    as Azure OpenAI does: a chunk with only the prompt's content-filter results, and an empty
    ``id`` and ``model``.
    """

    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None) -> bytes:
        body = _envelope(completion_id, model, created, "chat.completion.chunk")
        body["choices"] = [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        if include_usage:
            body["usage"] = None
        return _data(body)

    events: list[bytes] = []
    if azure_preamble:
        filtered = {"hate": {"filtered": False, "severity": "safe"}}
        events.append(
            _data(
                {
                    "id": "",
                    "object": "",
                    "created": 0,
                    "model": "",
                    "choices": [],
                    "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filtered}],
                }
            )
        )
    for index in range(choices):
        events.append(chunk(index, {"role": "assistant", "content": "", "refusal": None}, None))
        events.extend(chunk(index, {"content": piece}, None) for piece in split_for_stream(answer.text))
        events.append(chunk(index, {}, _finish_reason(answer)))
    if include_usage and usage is not None:
        last = _envelope(completion_id, model, created, "chat.completion.chunk")
        last["choices"] = []
        last["usage"] = usage
        events.append(_data(last))
    events.append(DONE)
    return events


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """Return the deterministic unit vector of ``text`` (``shake_256`` of it, normalised)."""
    raw = hashlib.shake_256(text.encode("utf-8")).digest(4 * dimensions)
    values = [v / 2147483648.0 - 1.0 for v in struct.unpack(f"<{dimensions}I", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings_body(
    *,
    inputs: list[str | list[int]],
    model: str,
    dimensions: int,
    encoding_format: str,
    usage: dict[str, Any] | None,
) -> dict[str, Any]:
    """Return a ``list`` of embeddings; ``encoding_format="base64"`` packs little-endian float32."""
    data = []
    for index, item in enumerate(inputs):
        text = item if isinstance(item, str) else json.dumps(item)
        vector: Any = embedding_vector(text, dimensions)
        if encoding_format == "base64":
            vector = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": vector})
    body: dict[str, Any] = {"object": "list", "data": data, "model": model}
    if usage is not None:
        body["usage"] = usage
    return body
