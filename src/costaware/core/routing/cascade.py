"""Cascades: try a cheap model first, escalate when its answer fails deterministic checks.

A check is a pure function ``Answer -> str | None`` (a failure reason, or ``None`` when it passes).
:data:`DEFAULT_CHECKS` refuses an empty answer, a refusal, an answer cut off by the token limit,
invalid JSON when JSON was asked for, JSON that does not fit the requested schema (see
:mod:`~costaware.core.routing.schema` for the subset checked) and a tool call with unparsable
arguments. :func:`check` runs them, then the user's ``accept(text)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from costaware.core.errors import ConfigurationError
from costaware.core.routing.schema import schema_error
from costaware.core.routing.tiers import TierLadder, provider_of_model

__all__ = [
    "DEFAULT_CHECKS",
    "Answer",
    "Cascade",
    "Check",
    "ToolCall",
    "check",
    "empty_answer",
    "failed_tool_call",
    "invalid_json",
    "parse_json_answer",
    "refusal",
    "schema_mismatch",
    "truncated",
]

_REFUSALS = (
    "i can't", "i cannot", "i can not", "i'm unable to", "i am unable to", "i'm not able to",
    "i am not able to", "i won't", "i will not", "sorry, i can't", "sorry, but i can",
    "i'm sorry, but i can", "i'm sorry, i can", "i am sorry, but i can", "i apologize, but i can",
    "unfortunately, i can't", "unfortunately, i cannot", "as an ai",
)  # fmt: skip
_REFUSAL_FINISH = frozenset({"refusal", "content_filter"})
_TRUNCATED_FINISH = frozenset({"max_tokens", "length", "incomplete", "max_output_tokens"})


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call in an answer: its name and arguments, raw JSON text (OpenAI) or parsed (Anthropic)."""

    name: str
    arguments: str | Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What a model answered, as the checks need it (built by the pipeline from a response).

    ``wants_json``/``json_schema`` say what the request asked for (see ``requested_json``).
    """

    text: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    wants_json: bool = False
    json_schema: Mapping[str, object] | None = None


Check = Callable[[Answer], "str | None"]


def parse_json_answer(text: str) -> object:
    """Parse an answer as JSON, allowing one surrounding Markdown fence (```json ... ```).

    Raises ``ValueError`` when it is not JSON.
    """
    body = text.strip()
    if body.startswith("```") and body.endswith("```") and len(body) >= 6:
        body = body[3:-3]
        first_line, newline, rest = body.partition("\n")
        if newline and first_line.strip().isalpha():  # the fence's language tag
            body = rest
    return json.loads(body)


def empty_answer(answer: Answer) -> str | None:
    """Fails an answer with neither text nor tool calls."""
    if answer.tool_calls or (answer.text is not None and answer.text.strip()):
        return None
    return "empty answer"


def refusal(answer: Answer) -> str | None:
    """Fails a refusal: a refusal finish reason, or text starting "I can't", "I'm unable to" ...."""
    if (answer.finish_reason or "").lower() in _REFUSAL_FINISH:
        return f"refused (finish reason {answer.finish_reason})"
    if not answer.text:
        return None
    start = answer.text[:120].lstrip(" \t\r\n*_>\"'`#").lower().replace("\u2019", "'")
    phrase = next((p for p in _REFUSALS if start.startswith(p)), None)
    return None if phrase is None else f"refusal: the answer starts {phrase!r}"


def truncated(answer: Answer) -> str | None:
    """Fails an answer cut off by the output limit (``max_tokens``, ``length``, ``incomplete`` ...)."""
    if (answer.finish_reason or "").lower() in _TRUNCATED_FINISH:
        return f"truncated: finish reason {answer.finish_reason}"
    return None


def invalid_json(answer: Answer) -> str | None:
    """Fails text that is not JSON when JSON was asked for (a fenced block is accepted)."""
    if not (answer.wants_json or answer.json_schema is not None) or answer.text is None:
        return None
    try:
        parse_json_answer(answer.text)
    except ValueError as exc:
        return f"invalid JSON: {exc}"
    return None


def schema_mismatch(answer: Answer) -> str | None:
    """Fails JSON that breaks the requested schema's required keys, types, enums or items."""
    if answer.json_schema is None or answer.text is None:
        return None
    try:
        value = parse_json_answer(answer.text)
    except ValueError:
        return None  # invalid_json reports it
    problem = schema_error(value, answer.json_schema)
    return None if problem is None else f"JSON does not match the schema: {problem}"


def failed_tool_call(answer: Answer) -> str | None:
    """Fails a tool call without a name or whose arguments are not a JSON object."""
    for call in answer.tool_calls:
        name = getattr(call, "name", None)
        arguments = getattr(call, "arguments", None)
        if not isinstance(name, str) or not name:
            return f"tool call without a name: {call!r}"
        if isinstance(arguments, Mapping) or arguments is None:
            continue
        if not isinstance(arguments, str):
            return f"tool call {name}: arguments are {type(arguments).__name__}, not JSON"
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return f"tool call {name}: arguments are not valid JSON ({exc})"
        if not isinstance(parsed, dict):
            return f"tool call {name}: arguments are not a JSON object"
    return None


DEFAULT_CHECKS: tuple[Check, ...] = (
    empty_answer,
    refusal,
    truncated,
    invalid_json,
    schema_mismatch,
    failed_tool_call,
)


def check(
    answer: Answer, checks: Sequence[Check] = DEFAULT_CHECKS, accept: Callable[[str], bool] | None = None
) -> tuple[bool, str]:
    """Run ``checks`` in order, then ``accept(text)``: ``(True, "ok")`` or ``(False, first failure)``.

    An exception from ``accept`` (user code) propagates.

    >>> check(Answer(text="Sorry, but I can't share that."))[0], check(Answer(text="Paris."))
    (False, (True, 'ok'))
    """
    for run in checks:
        problem = run(answer)
        if problem is not None:
            return False, problem
    if accept is not None and not accept(answer.text or ""):
        return False, f"rejected by {getattr(accept, '__name__', 'accept')}()"
    return True, "ok"


@dataclass(frozen=True)
class Cascade:
    """Escalate through ``models`` (default: the provider's ladder above the routed model) while
    the answer fails ``checks`` or ``accept``, at most ``max_hops`` times.

    >>> from costaware.core.routing.tiers import ladders
    >>> Cascade(max_hops=1).chain("claude-haiku-4-5", ladders()["anthropic"])
    ('claude-haiku-4-5', 'claude-sonnet-4-6')
    """

    models: Sequence[str] | None = None
    accept: Callable[[str], bool] | None = None
    """Given the answer's text, whether to keep it. Inside a decorated call, one that raises rejects
    the answer (a warning with the traceback is logged) and the cascade climbs."""
    max_hops: int = 2
    checks: Sequence[Check] = field(default=DEFAULT_CHECKS)
    start: Any = "auto"
    """Without ``models``: the routing policy that picks the first model (``"auto"``, a tuned
    ``AutoClassifier``, ``Labels``, a callable ...); escalation then climbs the ladder from there."""

    def __post_init__(self) -> None:
        if isinstance(self.max_hops, bool) or not isinstance(self.max_hops, int) or self.max_hops < 0:
            raise ConfigurationError(f"Cascade max_hops must be an int >= 0, got {self.max_hops!r}")
        if self.models is not None:
            models = tuple(self.models) if not isinstance(self.models, str) else ()
            if not models or not all(isinstance(m, str) and m for m in models):
                raise ConfigurationError(
                    f"Cascade models must be a non-empty list of model ids, got {self.models!r}"
                )
            if len(set(models)) != len(models):
                raise ConfigurationError(f"Cascade models lists a model twice: {list(models)}")
            object.__setattr__(self, "models", models)
        if self.accept is not None and not callable(self.accept):
            raise ConfigurationError(f"Cascade accept must be a callable(text) -> bool, got {self.accept!r}")
        checks = tuple(self.checks)
        if not all(callable(c) for c in checks):
            raise ConfigurationError("Cascade checks must be callables Answer -> str | None")
        object.__setattr__(self, "checks", checks)

    def next_model(self, current: str, *, hops: int = 0, ladder: TierLadder | None = None) -> str | None:
        """The model to try after ``current``, or ``None`` (top reached, or ``hops`` escalations done).

        With explicit ``models``: the one after ``current`` (the first if ``current`` is not listed),
        skipping models that are plainly another provider's than ``ladder``'s. Without: the next tier
        of ``ladder`` (``None`` without a ladder, or when ``current`` is not in it).
        """
        if hops >= self.max_hops:
            return None
        if self.models is None:
            index = ladder.index_of(current) if ladder is not None else None
            if ladder is None or index is None or index + 1 >= len(ladder.tiers):
                return None
            return ladder.tiers[index + 1].model
        models = self.models
        if ladder is not None:
            models = tuple(m for m in models if provider_of_model(m) in (None, ladder.provider))
        if current in models:
            position = models.index(current) + 1
            return models[position] if position < len(models) else None
        return models[0] if models else None

    def chain(self, start: str, ladder: TierLadder | None = None) -> tuple[str, ...]:
        """Every model the cascade may try, in order, starting with ``start`` (for budget reservations)."""
        tried = [start]
        while (following := self.next_model(tried[-1], hops=len(tried) - 1, ladder=ladder)) is not None:
            if following in tried:
                break
            tried.append(following)
        return tuple(tried)

    def check(self, answer: Answer) -> tuple[bool, str]:
        """:func:`check` with this cascade's checks and ``accept``."""
        return check(answer, self.checks, self.accept)
