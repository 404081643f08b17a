"""Cheap signals read from an SDK call's keyword arguments, for routing policies.

:func:`signals` reads the arguments of Anthropic ``messages.create`` (``system``, ``messages``),
OpenAI ``chat.completions.create`` (``messages``) and OpenAI ``responses.create`` (``instructions``,
``input``) as the user passed them: plain dicts and lists, any of which may be malformed (then it is
skipped, never an error).

It is built to be fast (tens of microseconds for a few KB of prompt), so it scans bounded windows:

- lengths and counts (characters, messages, user turns, images, tools) cover the whole request;
- words and phrases (:mod:`~costaware.core.routing.vocabulary`), question marks and numbered items
  are looked for where a task is stated: the first ``SCAN_SYSTEM`` characters of the system prompt
  and the last user message; of a message longer than ``SCAN_HEAD + SCAN_TAIL`` characters, only its
  first paragraph within its first ``SCAN_HEAD`` characters and its last paragraph within its last
  ``SCAN_TAIL`` ("Summarize the report below: ...", "... Now compare the two"), so the words of a
  pasted document in between do not count;
- code is looked for in the first ``SCAN_CODE`` characters of the last user message.

Words are matched whole (``improve`` is not ``prove``), case-insensitively, ASCII only: a prompt in
another script gets its length and structure signals but no word signals.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, TypeGuard

from costaware.core.routing.vocabulary import PHRASES, TERM_GROUPS
from costaware.core.tokens import typical_tokens_of_length

__all__ = ["SCAN_CODE", "SCAN_HEAD", "SCAN_SYSTEM", "SCAN_TAIL", "Signals", "requested_json", "signals"]

SCAN_HEAD = 1500
SCAN_TAIL = 700
SCAN_SYSTEM = 600
SCAN_CODE = 4000
_MIN_PARAGRAPH = 40  # a shorter first/last "paragraph" ("Hi,") is not where the task is

_WORDS: Mapping[bytes, tuple[str, str]] = MappingProxyType(
    {
        form.encode(): (group, canonical)
        for group, terms in TERM_GROUPS.items()
        for canonical, forms in terms.items()
        for form in forms
    }
)
# A phrase is looked for only when its first word is among the message's words.
_PHRASE_TRIGGERS: Mapping[bytes, tuple[bytes, ...]] = MappingProxyType(
    {
        first: tuple(p for p in PHRASES if p.split()[0] == first)
        for first in {phrase.split()[0] for phrase in PHRASES}
    }
)
_WORD_KEYS = frozenset(_WORDS) | frozenset(_PHRASE_TRIGGERS)
# Lower-case ASCII letters and digits, everything else (punctuation, UTF-8 bytes) becomes a space.
_CLEAN = bytes(b + 32 if 65 <= b <= 90 else b if 48 <= b <= 57 or 97 <= b <= 122 else 32 for b in range(256))
_NUMBERED = re.compile(r"\n[ \t]*\d{1,2}[.)][ \t]")  # starts with a literal: scanned by fast search
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})
_IMAGE_PARTS = frozenset({"image", "image_url", "input_image"})
_FILE_PARTS = frozenset({"document", "file", "input_file", "input_audio"})


class Signals(NamedTuple):
    """What a request looks like, cheaply. Counts cover the whole request; terms the scanned windows.

    Term tuples hold the canonical terms found (``("compare", "why")``), each once. Immutable: a
    NamedTuple rather than a frozen dataclass because one is built per call and a frozen dataclass
    of 23 fields takes longer to build than reading the request does.
    """

    prompt_chars: int = 0
    """Characters of text in the system prompt and every message (tool definitions excluded)."""
    estimated_tokens: int = 0
    """:func:`costaware.core.tokens.typical_tokens_of_length` of ``prompt_chars`` (for the explanation)."""
    messages: int = 0
    """Messages (or Responses input items)."""
    user_turns: int = 0
    """Messages from the user that carry more than tool results: the conversation's depth."""
    last_user_chars: int = 0
    tools: int = 0
    images: int = 0
    files: int = 0
    """Documents, files and audio parts."""
    has_code: bool = False
    """A code fence, or at least two code-shaped line endings (``;``, ``{``, ``):``)."""
    numbered_items: int = 0
    """Lines of the scanned text starting ``1.`` / ``2)`` ...: a multi-part ask."""
    step_language: bool = False
    """"step by step", or "first" with "then"/"next"/"finally"."""
    questions: int = 0
    """Question marks in the scanned text."""
    hard_terms: tuple[str, ...] = ()
    analysis_terms: tuple[str, ...] = ()
    simple_terms: tuple[str, ...] = ()
    summary_terms: tuple[str, ...] = ()
    review_terms: tuple[str, ...] = ()
    json_requested: bool = False
    """A JSON response format or output schema was set."""
    json_mentioned: bool = False
    """The scanned text says JSON."""
    json_schema: bool = False
    """A JSON schema was given for the output."""
    max_tokens: int = 0
    """The output cap asked for (``max_tokens``, ``max_completion_tokens`` or ``max_output_tokens``),
    0 if none."""

    @property
    def multi_step(self) -> bool:
        """Step-by-step language or a numbered list of at least two items."""
        return self.step_language or self.numbered_items >= 2

    def as_pairs(self) -> tuple[tuple[str, float], ...]:
        """Every signal as ``(name, number)``; term tuples as their counts. For decisions and spans."""
        values: list[Any] = list(self)
        for index in _TERM_FIELDS:
            values[index] = len(values[index])
        return tuple(zip(self._fields, map(float, values), strict=True))


def is_mapping(value: object) -> TypeGuard[Mapping[str, object]]:
    """``isinstance(value, Mapping)``, without the ABC check's cost for the usual dicts and scalars."""
    if isinstance(value, dict):
        return True
    if value is None or isinstance(value, (str, list, tuple, int, float)):
        return False
    return isinstance(value, Mapping)


_TERM_FIELDS = tuple(i for i, name in enumerate(Signals._fields) if name.endswith("_terms"))


@dataclass(slots=True)
class _Walk:
    """What one pass over the request's messages collects."""

    chars: int = 0
    messages: int = 0
    user_turns: int = 0
    images: int = 0
    files: int = 0
    last_user: str = ""
    system: str = ""


def signals(kwargs: Mapping[str, object]) -> Signals:
    """Read the routing signals of one SDK call from its keyword arguments. Never raises on bad input.

    >>> s = signals({"model": "claude-haiku-4-5", "max_tokens": 100,
    ...     "messages": [{"role": "user", "content": "Why is the sky blue? Explain step by step."}]})
    >>> s.questions, s.step_language, s.analysis_terms, s.max_tokens
    (1, True, ('why',), 100)
    """
    if not is_mapping(kwargs):
        return Signals()
    walk = _Walk()
    # Read by shape: Anthropic's ``system``, Responses' ``instructions``; ``messages``, else ``input``.
    system = kwargs.get("system")
    if system is None:
        system = kwargs.get("instructions")
    walk.system = _text_of(system, walk)
    walk.chars += len(walk.system)
    messages = kwargs.get("messages")
    if messages is None:
        messages = kwargs.get("input")
    if isinstance(messages, str):  # Responses: input="..."
        messages = ({"role": "user", "content": messages},)
    if isinstance(messages, (list, tuple)):
        for message in messages:
            _read_message(message, walk)
    return _from_walk(walk, kwargs)


def _from_walk(walk: _Walk, kwargs: Mapping[str, object]) -> Signals:
    last = walk.last_user
    window = f"\n{walk.system[:SCAN_SYSTEM]}\n{_task_text(last)}"
    clean = window.encode("utf-8", "ignore").translate(_CLEAN)
    groups: dict[str, set[str]] = {}
    for word in _WORD_KEYS.intersection(clean.split()):
        found = _WORDS.get(word)
        if found is not None:
            groups.setdefault(found[0], set()).add(found[1])
        for phrase in _PHRASE_TRIGGERS.get(word, ()):
            if phrase in clean:
                group, canonical = PHRASES[phrase]
                groups.setdefault(group, set()).add(canonical)
    sequence = groups.get("sequence", set())
    wants_json, schema = requested_json(kwargs)
    tools = kwargs.get("tools")
    return Signals(
        prompt_chars=walk.chars,
        estimated_tokens=typical_tokens_of_length(walk.chars),
        messages=walk.messages,
        user_turns=walk.user_turns,
        last_user_chars=len(last),
        tools=len(tools) if isinstance(tools, (list, tuple)) else 0,
        images=walk.images,
        files=walk.files,
        has_code=_looks_like_code(last[:SCAN_CODE]),
        numbered_items=len(_NUMBERED.findall(window)) if "1" in window else 0,
        step_language="step by step" in sequence or ("first" in sequence and "then" in sequence),
        questions=window.count("?"),
        hard_terms=_sorted(groups.get("hard")),
        analysis_terms=_sorted(groups.get("analysis")),
        simple_terms=_sorted(groups.get("simple")),
        summary_terms=_sorted(groups.get("summary")),
        review_terms=_sorted(groups.get("review")),
        json_requested=wants_json,
        json_mentioned="json" in groups,
        json_schema=schema is not None,
        max_tokens=_max_tokens(kwargs),
    )


_FENCED_CODE = re.compile(r"```.*?(?:```|\Z)", re.S)


def _task_text(message: str) -> str:
    """Where a message states its task: all of a short one; the first and last paragraphs (within
    ``SCAN_HEAD`` / ``SCAN_TAIL`` characters) of a long one, so words inside a pasted document do
    not count as the ask. Fenced code is left out too: ``tags=[]`` in code under review is not a
    request to tag something."""
    if "```" in message:
        message = _FENCED_CODE.sub("\n", message)
    if len(message) <= SCAN_HEAD + SCAN_TAIL:
        return message
    head, tail = message[:SCAN_HEAD], message[-SCAN_TAIL:]
    end = head.find("\n\n", _MIN_PARAGRAPH)
    start = tail.rfind("\n\n", 0, len(tail) - _MIN_PARAGRAPH)
    return f"{head[:end] if end > 0 else head}\n{tail[start:] if start >= 0 else tail}"


def _sorted(terms: set[str] | None) -> tuple[str, ...]:
    return tuple(sorted(terms)) if terms else ()


def _read_message(message: object, walk: _Walk) -> None:
    walk.messages += 1
    if not is_mapping(message):
        return
    role = message.get("role")
    content = message.get("content")
    if content is None and message.get("type") in ("function_call_output", "function_call"):
        content = message.get("output") or message.get("arguments")  # Responses tool items
    before = (walk.images, walk.files)
    text = _text_of(content, walk)
    walk.chars += len(text)
    if role in ("system", "developer"):
        walk.system = f"{walk.system}\n{text}" if walk.system else text
    elif role == "user" and (text.strip() or (walk.images, walk.files) != before):
        walk.user_turns += 1
        walk.last_user = text
    calls = message.get("tool_calls")  # Chat Completions: the assistant's calls carry JSON arguments
    if isinstance(calls, list):
        for call in calls:
            function = call.get("function") if is_mapping(call) else None
            arguments = function.get("arguments") if is_mapping(function) else None
            if isinstance(arguments, str):
                walk.chars += len(arguments)


def _text_of(content: object, walk: _Walk) -> str:
    """The text of a content value (a string or a list of parts); counts image and file parts."""
    if isinstance(content, str):
        return content
    if not isinstance(content, (list, tuple)):
        return ""
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
            continue
        if not is_mapping(part):
            continue
        kind = part.get("type")
        if kind in _TEXT_PARTS:
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
        elif kind in _IMAGE_PARTS:
            walk.images += 1
        elif kind in _FILE_PARTS:
            walk.files += 1
        elif kind == "tool_result":  # Anthropic: its content counts towards length, not the ask
            walk.chars += len(_text_of(part.get("content"), walk))
    return "\n".join(texts)


def _looks_like_code(text: str) -> bool:
    if "```" in text:
        return True
    # Single-character tests (memchr-fast) gate the counts: prose rarely has ';' or '{' at all.
    lines = text.count(";\n") if ";" in text else 0
    if "{" in text:
        lines += text.count("{\n")
    if lines < 2 and "):" in text:
        lines += text.count("):\n")
    return lines >= 2


def _max_tokens(kwargs: Mapping[str, object]) -> int:
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = kwargs.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return 0


def requested_json(kwargs: Mapping[str, object]) -> tuple[bool, Mapping[str, object] | None]:
    """Whether the request set a JSON output format, and its schema if one was given.

    Reads OpenAI Chat ``response_format``, OpenAI Responses ``text={"format": ...}`` and Anthropic
    ``output_config={"format": ...}`` (or the beta ``output_format``). A Pydantic class passed to a
    ``parse()`` method counts as JSON without a schema here. The prompt's wording is not read.

    >>> requested_json({"response_format": {"type": "json_object"}})
    (True, None)
    """
    if not is_mapping(kwargs):
        return False, None
    candidates: list[object] = [kwargs.get("response_format"), kwargs.get("output_format")]
    for holder in (kwargs.get("text"), kwargs.get("output_config")):
        if is_mapping(holder):
            candidates.append(holder.get("format"))
    for spec in candidates:
        if spec is None:
            continue
        if isinstance(spec, type):
            return True, None
        if not is_mapping(spec):
            continue
        kind = spec.get("type")
        if kind == "json_object":
            return True, None
        if kind == "json_schema":
            schema = spec.get("schema")
            inner = spec.get("json_schema")  # Chat Completions nests it: {"json_schema": {"schema": ...}}
            if schema is None and is_mapping(inner):
                schema = inner.get("schema")
            return True, schema if is_mapping(schema) else None
    return False, None
