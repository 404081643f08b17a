"""Shared pieces of response replay: canonical request JSON, stored answers and SSE bodies.

A response cache answers a hit by letting the SDK parse a stored body, so every provider needs the
same few tools: a canonical form of a request (what the answer depends on), the wire dict of a
response (what is stored), and the bytes of a JSON or event-stream body (what is served). Pure:
no SDK import, no I/O.
"""

from __future__ import annotations

import base64
import copy
import enum
import json
from collections.abc import Iterable, Mapping, Set
from typing import Any

from costaware.core.types import CacheParts

UNREADABLE = "unreadable"
"""A blocker: a request value that has no faithful canonical form (or would be consumed by reading)."""

TRANSPORT_KEYS = frozenset(
    {
        "stream",
        "stream_options",
        "extra_headers",
        "extra_query",
        "timeout",
        "metadata",
        "user",
        "store",
        "prompt_cache_key",
        "prompt_cache_retention",
        "service_tier",
        "safety_identifier",
        "cache_control",
    }
)
"""Top-level arguments that never change the answer: transport, bookkeeping and prompt caching."""

CACHE_MARKER = "cache_control"
"""The prompt-cache breakpoint key: costaware's planner adds it anywhere, so it never counts."""

SENTINELS = frozenset({"NotGiven", "Omit"})
"""Class names of the SDKs' "argument not given" values: a key holding one was not sent."""

JSON = "application/json"
EVENT_STREAM = "text/event-stream; charset=utf-8"


def question_marker(index: int | None = None, length: int | None = None) -> str:
    """What stands for the last user turn's text in ``context`` (a part's index and length when the
    turn has several parts, so that ``context`` and the question together give back the request)."""
    if index is None:
        return "\x00question"
    return f"\x00question[{index}:{length}]"


def is_sentinel(value: Any) -> bool:
    return type(value).__name__ in SENTINELS


def canonical(value: Any) -> str:
    """Compact JSON with sorted keys: equal requests give equal strings.

    >>> canonical({"b": 1, "a": [True, None]})
    '{"a":[true,null],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def plain(value: Any, blockers: set[str]) -> Any:
    """``value`` as deterministic JSON data, without prompt-cache markers or unsent arguments.

    Pydantic models are dumped as the SDK sends them; a pydantic model class (a ``.parse()``
    output format) becomes its JSON schema; a value with no faithful JSON form (or an iterator,
    which reading would consume) adds ``"unreadable"`` to ``blockers``.

    >>> blockers: set[str] = set()
    >>> plain({"text": "hi", "cache_control": {"type": "ephemeral"}, "x": (1, 2.0)}, blockers)
    {'text': 'hi', 'x': [1, 2]}
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value.value if isinstance(value, enum.Enum) else value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {
            str(key): plain(item, blockers)
            for key, item in value.items()
            if not (key == CACHE_MARKER and _is_marker(item)) and not is_sentinel(item)
        }
    if isinstance(value, (list, tuple)):
        return [plain(item, blockers) for item in value]
    if isinstance(value, enum.Enum):
        return plain(value.value, blockers)
    if isinstance(value, type):
        return _type_form(value)
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return plain(dump(mode="json", by_alias=True, exclude_unset=True), blockers)
    if isinstance(value, Iterable) and iter(value) is not value:  # a set, a deque: re-iterable
        items = [plain(item, blockers) for item in value]
        return sorted(items, key=canonical) if isinstance(value, (set, frozenset)) else items
    blockers.add(UNREADABLE)
    return {"$unreadable": f"{type(value).__module__}.{type(value).__qualname__}"}


def _is_marker(value: Any) -> bool:
    """A prompt-cache breakpoint (``{"type": "ephemeral", ...}``), not a user field that happens to
    share the name (a tool schema's property, say)."""
    return value is None or (isinstance(value, Mapping) and "type" in value)


def _type_form(cls: type) -> Any:
    """A class given as an output format: its JSON schema when pydantic knows it, else its name."""
    name = f"{cls.__module__}.{cls.__qualname__}"
    schema = getattr(cls, "model_json_schema", None)
    if callable(schema):
        try:
            return {"$type": name, "schema": schema()}
        except Exception:  # a model whose schema cannot be generated is still told apart by name
            return {"$type": name}
    return {"$type": name}


def request_parts(kwargs: Mapping[str, Any], endpoint: str, blockers: set[str]) -> dict[str, Any]:
    """The arguments that change the answer, as plain JSON, tagged with the endpoint (a stored body
    only replays through the endpoint whose wire format it has)."""
    parts = {
        key: plain(value, blockers)
        for key, value in kwargs.items()
        if key not in TRANSPORT_KEYS and not is_sentinel(value)
    }
    parts["$endpoint"] = endpoint
    return parts


def cache_parts_of(
    parts: dict[str, Any],
    question: str | None,
    blockers: set[str],
    kwargs: Mapping[str, Any],
    copies: int = 1,
) -> CacheParts:
    """Assemble ``CacheParts`` from a request's plain parts (its last turn already replaced)."""
    temperature = kwargs.get("temperature")
    return CacheParts(
        context=canonical(parts),
        question=question,
        blockers=tuple(sorted(blockers)),
        temperature=float(temperature)
        if isinstance(temperature, (int, float)) and not isinstance(temperature, bool)
        else None,
        copies=copies,
    )


def text_turn(content: Any, text_types: Set[str]) -> tuple[str, Any] | None:
    """``(question, content with markers)`` when ``content`` is only text (a string, or a list of
    parts whose type is in ``text_types``); ``None`` when it is anything else.

    >>> parts = [{"type": "text", "text": "a"}, {"type": "text", "text": "bc"}]
    >>> question, marked = text_turn(parts, {"text"})
    >>> question, [part["text"] for part in marked]
    ('a\\nbc', ['\\x00question[0:1]', '\\x00question[1:2]'])
    """
    if isinstance(content, str):
        return content, question_marker()
    if not isinstance(content, list) or not content:
        return None
    texts = []
    for part in content:
        if not (
            isinstance(part, dict) and part.get("type") in text_types and isinstance(part.get("text"), str)
        ):
            return None
        texts.append(part["text"])
    if len(texts) == 1:
        return texts[0], [{**content[0], "text": question_marker()}]
    marked = [
        {**part, "text": question_marker(index, len(text))}
        for index, (part, text) in enumerate(zip(content, texts, strict=True))
    ]
    return "\n".join(texts), marked


def mark_question(turns: Any, text_types: Set[str]) -> str | None:
    """The last turn's text when it is a user message made only of text, replaced in ``turns`` (a
    list of plain turns, changed in place) by question markers; ``None`` (``turns`` unchanged) when
    the last turn is anything else.

    >>> turns = [{"role": "user", "content": "Hi"}]
    >>> mark_question(turns, {"text"}), turns
    ('Hi', [{'role': 'user', 'content': '\\x00question'}])
    """
    if not isinstance(turns, list) or not turns:
        return None
    last = turns[-1]
    if not (
        isinstance(last, dict) and last.get("role") == "user" and last.get("type", "message") == "message"
    ):
        return None
    turn = text_turn(last.get("content"), text_types)
    if turn is None:
        return None
    turns[-1] = {**last, "content": turn[1]}
    return turn[0]


def with_blocks(turns: Any, text_type: str) -> Any:
    """``turns`` with every string ``content`` as the one text block it means (see ``as_blocks``)."""
    if not isinstance(turns, list):
        return turns
    return [
        {**turn, "content": as_blocks(turn["content"], text_type)}
        if isinstance(turn, dict) and "content" in turn
        else turn
        for turn in turns
    ]


def as_blocks(content: Any, text_type: str) -> Any:
    """A string prompt as the one text block it means (the planner turns one into the other when it
    adds a cache marker, so both must read the same); anything else as it is.

    >>> as_blocks("Hi", "text")
    [{'type': 'text', 'text': 'Hi'}]
    """
    return [{"type": text_type, "text": content}] if isinstance(content, str) else content


def types_in(value: Any, found: set[str] | None = None) -> set[str]:
    """Every ``type`` of a dict inside ``value`` (plain JSON data): what kinds of parts it holds.

    >>> sorted(types_in([{"type": "text"}, {"content": [{"type": "image"}]}]))
    ['image', 'text']
    """
    found = set() if found is None else found
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str):
            found.add(kind)
        for item in value.values():
            types_in(item, found)
    elif isinstance(value, list):
        for item in value:
            types_in(item, found)
    return found


def wire_dict(value: Any) -> dict[str, Any] | None:
    """The JSON-able dict of an SDK response model as it came over the wire (``None``: not one);
    a plain mapping is copied (it may be mutated by the caller)."""
    if isinstance(value, Mapping):
        return copy.deepcopy(dict(value))
    # warnings off: a ``.parse()`` result's parsed fields are typed as generics pydantic warns about
    # when it serialises them (they are dropped anyway: the SDK derives them again on replay)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        result = to_dict(mode="json", warnings=False)
    else:
        dump = getattr(value, "model_dump", None)
        if not callable(dump):
            return None
        result = dump(mode="json", by_alias=True, exclude_unset=True, warnings=False)
    return result if isinstance(result, dict) else None


def get(value: Any, name: str, default: Any = None) -> Any:
    """A field of an SDK object or of a plain dict."""
    if isinstance(value, Mapping):
        return value.get(name, default)
    return getattr(value, name, default)


def zero_counts(value: Any) -> Any:
    """``value`` (a usage object) with every count set to 0: a replayed answer bills nothing."""
    if isinstance(value, dict):
        return {key: zero_counts(item) for key, item in value.items()}
    if isinstance(value, list):
        return [zero_counts(item) for item in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return 0
    return value


def pieces(text: str, size: int = 20) -> list[str]:
    """``text`` in stream deltas of whole words, about ``size`` characters each (a word longer than
    twice that, such as compact JSON, is cut anywhere); ``"".join`` gives it back.

    >>> pieces("the quick brown fox jumps over the lazy dog", 10)
    ['the quick ', 'brown fox ', 'jumps over ', 'the lazy dog']
    """
    out: list[str] = []
    current = ""
    words = text.split(" ")
    for word in [w + " " for w in words[:-1]] + [words[-1]]:
        while len(word) > 2 * size:
            if current:
                out.append(current)
                current = ""
            out.append(word[:size])
            word = word[size:]
        current += word
        if len(current) >= size:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return out


def sse(data: Mapping[str, Any], event: str | None = None) -> bytes:
    """One server-sent event: a ``data:`` line of compact JSON, after an ``event:`` line if named."""
    line = b"data: " + json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n\n"
    return f"event: {event}\n".encode() + line if event else line


def json_body(final: Mapping[str, Any]) -> tuple[str, bytes]:
    return JSON, json.dumps(final, separators=(",", ":"), ensure_ascii=False).encode()


def drop_fields(items: Any, *names: str) -> list[Any]:
    """Copies of the dicts in ``items`` without the fields ``names`` (what ``.parse()`` adds)."""
    return [
        {key: value for key, value in item.items() if key not in names} if isinstance(item, dict) else item
        for item in items or ()
    ]
