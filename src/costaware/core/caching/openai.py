"""The OpenAI prompt_cache_key from the stable prefix."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

from costaware.core.caching.reading import (
    _dump,
    _is_list,
    _is_mapping,
    _json,
    _read_message,
    _Request,
    _without_marker,
)
from costaware.core.caching.tracker import OPENAI_MIN_TOKENS, estimate_tokens

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
