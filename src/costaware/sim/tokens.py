"""The simulator's token estimate and the canonical serialisation of prompts.

Every count the simulator reports comes from one formula::

    count_tokens(text) = ceil(len(text.encode("utf-8")) / 4)     # 0 for "", else >= 1

applied to a *canonical serialisation* of the prompt: a list of segments, one per block,
joined with ``"\\n"``. ``JSON(x)`` below is ``json.dumps(x, separators=(",", ":"),
sort_keys=True, ensure_ascii=False)`` and a ``cache_control`` key is dropped from a block
before it is serialised (markers never change a prompt's size or identity).

Anthropic Messages (``provider="anthropic"``), in the API's prefix order:

1. each entry of ``tools``: ``JSON(tool)``;
2. ``system``: a string gives ``"system: " + system`` (omitted when empty); a list gives, per
   block, ``"system: " + block["text"]`` for text blocks, else ``"system: " + JSON(block)``;
3. each message, each content block: ``f"{role}: {text}"`` for text blocks (a string content is
   one text block), else ``f"{role}: " + JSON(block)``.

OpenAI Chat Completions (``provider="openai"`` or ``"openai-chat"``):

1. each entry of ``tools``: ``JSON(tool)``;
2. each message: a string content gives ``f"{role}: {content}"``; a list gives one segment per
   part, ``f"{role}: {part['text']}"`` for text parts else ``f"{role}: " + JSON(part)``;
   ``tool_calls`` add ``f"{role}: " + JSON(tool_calls)``; a message with none of these gives
   ``f"{role}: "``.

OpenAI Responses (``provider="openai-responses"``):

1. each entry of ``tools``: ``JSON(tool)``;
2. ``instructions``: ``"system: " + instructions`` (omitted when empty);
3. ``input``: a string gives ``"user: " + input``; a list gives, per item with a ``role``, the
   same segments as a chat message (``input_text``/``output_text`` parts count as text);
   items without a role (function calls, their outputs, ...) give ``JSON(item)``.

OpenAI Embeddings (``provider="openai-embeddings"``): the sum of ``count_tokens`` over the input
strings (a token array counts its length).

The prompt's token count is ``count_tokens(canonical_text)``; a cache prefix "through block k"
is ``count_tokens("\\n".join(segments[: k + 1]))``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "Block",
    "anthropic_blocks",
    "canonical_text",
    "chat_blocks",
    "count_tokens",
    "embedding_inputs",
    "last_user_text",
    "prompt_blocks",
    "prompt_tokens",
    "responses_blocks",
    "tokens_for_length",
]

# One block of the canonical serialisation: its text and its cache_control marker (or None).
Block = tuple[str, Mapping[str, Any] | None]

_PROVIDERS = {
    "anthropic": "anthropic",
    "openai": "chat",
    "openai-chat": "chat",
    "openai-responses": "responses",
    "openai-embeddings": "embeddings",
}


def count_tokens(text: str) -> int:
    """Return the simulator's token estimate for ``text``: ``ceil(utf8_bytes / 4)``.

    >>> count_tokens(""), count_tokens("a"), count_tokens("abcd"), count_tokens("abcde")
    (0, 1, 1, 2)
    """
    return tokens_for_length(len(text.encode("utf-8")))


def tokens_for_length(n_bytes: int) -> int:
    """Return ``ceil(n_bytes / 4)``: the token count of a UTF-8 text of ``n_bytes`` bytes."""
    return (n_bytes + 3) // 4


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def _strip_marker(block: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in block.items() if k != "cache_control"}


def _marker(value: Any) -> Mapping[str, Any] | None:
    return value.get("cache_control") if isinstance(value, Mapping) else None


def _is_text_part(part: Any) -> bool:
    return (
        isinstance(part, Mapping)
        and part.get("type") in ("text", "input_text", "output_text")
        and isinstance(part.get("text"), str)
    )


def _part_blocks(prefix: str, content: Any) -> list[Block]:
    """Segments for one message's content: a string or a list of parts."""
    if isinstance(content, str):
        return [(prefix + content, None)]
    if not isinstance(content, list):
        return []
    blocks: list[Block] = []
    for part in content:
        if _is_text_part(part):
            blocks.append((prefix + part["text"], _marker(part)))
        elif isinstance(part, Mapping):
            blocks.append((prefix + _json(_strip_marker(part)), _marker(part)))
        else:
            blocks.append((prefix + _json(part), None))
    return blocks


def _tool_blocks(body: Mapping[str, Any]) -> list[Block]:
    tools = body.get("tools")
    if not isinstance(tools, list):
        return []
    return [
        (_json(_strip_marker(tool)) if isinstance(tool, Mapping) else _json(tool), _marker(tool))
        for tool in tools
    ]


def _message_blocks(message: Any) -> list[Block]:
    if not isinstance(message, Mapping):
        return [(_json(message), None)]
    prefix = f"{message.get('role', 'user')}: "
    blocks = _part_blocks(prefix, message.get("content"))
    if message.get("tool_calls"):
        blocks.append((prefix + _json(message["tool_calls"]), None))
    return blocks or [(prefix, None)]


def anthropic_blocks(body: Mapping[str, Any]) -> list[Block]:
    """Return the canonical blocks of an Anthropic Messages request (tools, system, messages)."""
    blocks = _tool_blocks(body)
    system = body.get("system")
    if isinstance(system, str):
        if system:
            blocks.append(("system: " + system, None))
    elif isinstance(system, list):
        blocks.extend(_part_blocks("system: ", system))
    for message in body.get("messages") or ():
        blocks.extend(_message_blocks(message))
    return blocks


def chat_blocks(body: Mapping[str, Any]) -> list[Block]:
    """Return the canonical blocks of an OpenAI Chat Completions request (tools, messages)."""
    blocks = _tool_blocks(body)
    for message in body.get("messages") or ():
        blocks.extend(_message_blocks(message))
    return blocks


def responses_blocks(body: Mapping[str, Any]) -> list[Block]:
    """Return the canonical blocks of an OpenAI Responses request (tools, instructions, input)."""
    blocks = _tool_blocks(body)
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        blocks.append(("system: " + instructions, None))
    items = body.get("input")
    if isinstance(items, str):
        blocks.append(("user: " + items, None))
    elif isinstance(items, list):
        for item in items:
            if isinstance(item, Mapping) and "role" in item:
                blocks.extend(_message_blocks(item))
            else:
                blocks.append((_json(item), None))
    return blocks


def embedding_inputs(body: Mapping[str, Any]) -> list[str | list[int]]:
    """Return the inputs of an embeddings request as a list (strings or token arrays)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        if value and all(isinstance(v, int) for v in value):
            return [list(value)]
        return [v if isinstance(v, (str, list)) else _json(v) for v in value]
    return []


def prompt_blocks(provider: str, body: Mapping[str, Any]) -> list[Block]:
    """Return the canonical blocks for ``provider`` (see the module docstring)."""
    kind = _kind(provider)
    if kind == "anthropic":
        return anthropic_blocks(body)
    if kind == "chat":
        return chat_blocks(body)
    if kind == "responses":
        return responses_blocks(body)
    raise ValueError(f"{provider!r} has no canonical blocks; use prompt_tokens()")


def canonical_text(blocks: Sequence[Block]) -> str:
    """Join the blocks' texts with newlines: the text whose tokens the simulator counts."""
    return "\n".join(text for text, _ in blocks)


def prompt_tokens(provider: str, body: Mapping[str, Any]) -> int:
    """Return the prompt's token count exactly as the simulator reports it (before caching).

    ``provider`` is ``"anthropic"``, ``"openai"`` (Chat Completions; also ``"openai-chat"``),
    ``"openai-responses"`` or ``"openai-embeddings"``; ``body`` is the JSON request body.
    For Anthropic this is ``input_tokens + cache_read + cache_creation`` (and the answer of
    ``/v1/messages/count_tokens``); for OpenAI it is ``prompt_tokens`` / ``input_tokens``.

    >>> prompt_tokens("anthropic", {"messages": [{"role": "user", "content": "Hello"}]})
    3
    """
    if _kind(provider) == "embeddings":
        return sum(len(v) if isinstance(v, list) else count_tokens(v) for v in embedding_inputs(body))
    return count_tokens(canonical_text(prompt_blocks(provider, body)))


def last_user_text(provider: str, body: Mapping[str, Any]) -> str:
    """Return the canonical text of the last user turn (the seed of the simulated answer)."""
    kind = _kind(provider)
    if kind == "responses":
        items = body.get("input")
        if isinstance(items, str):
            return "user: " + items
        messages: Any = items if isinstance(items, list) else []
    else:
        messages = body.get("messages") or []
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            return canonical_text(_message_blocks(message))
    return canonical_text(prompt_blocks(provider, body))


def _kind(provider: str) -> str:
    try:
        return _PROVIDERS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}; expected one of {sorted(_PROVIDERS)}") from None
