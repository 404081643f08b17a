"""The simulator's capability model: does ``model``'s answer to this request meet the quality bar?

The model is stated here once and not tuned afterwards (benchmarks report what it gives).

Difficulty
----------
Each request has a difficulty ``d`` in [0, 1]. The *workload* knows it: a request carrying the
header ``x-sim-difficulty: <d>`` is judged with that ``d`` (a benchmark's generator sets it by task
type and content; costaware never reads it). Without the header :func:`difficulty` gives the old
deterministic stand-in (half prompt length, half a hash of the text), which no router can predict;
such requests are answered exactly as before (see "Opt-in" below).

Skill, need and the bar
-----------------------
* Tier from the model name (:func:`model_tier`): 0 small (``haiku``, ``mini``, ``nano``, ``flash``,
  ``lite``), 2 large (``opus``, ``-pro``, names starting ``o1`` / ``o3``), 1 otherwise (``sonnet``,
  ``gpt-4.1``, ``gpt-4o``, ``gpt-5``, unknown). Small markers win: ``o3-mini`` is small.
* ``skill`` per tier (:data:`TIER_SKILL`): small 0.65, mid 0.80, large 1.00.
* ``need(d) = 0.5 + 0.5 d``: the quality an answer to a request of difficulty ``d`` needs.
* ``capability(model, d) = skill - 0.5 d``, clamped to [0, 1]; the bar is :data:`BAR` = 0.5, so
  ``capability >= BAR`` exactly when ``skill >= need(d)``.
* Per request, a deterministic noise ``e = 0.025 (2u - 1)`` with ``u`` in [0, 1) from
  ``sha256("margin|" + model + "|" + request key)``; the answer **meets the bar** when
  ``skill + e >= need(d)``. The request key is ``sha256`` of the canonical prompt text (cache markers
  excluded, see ``tokens``), so the same prompt to the same model always gets the same verdict.

So the small tier (``claude-haiku-4-5``, ``gpt-4.1-mini``) always meets the bar for ``d <= 0.25``,
never for ``d > 0.35`` and with probability ``(0.35 - d) / 0.1`` in between (half the time at 0.3);
the mid tier (``claude-sonnet-4-6``, ``gpt-4.1``) always for ``d <= 0.55``, never for ``d > 0.65``
(half the time at 0.6); the large tier (``claude-opus-4-6``, ``o3``) always for ``d <= 0.95``.

Failures
--------
An answer that does not meet the bar is bad in one of two ways, drawn deterministically per request
and model (``u' = sha256("detect|" + model + "|" + key)``):

* with probability :data:`P_DETECT` = 0.8 a **detectable** failure, one a deterministic check sees:
  when JSON was requested (``response_format``, Responses ``text.format``, Anthropic
  ``output_config.format`` / ``output_format``) a JSON object cut off before its end (invalid JSON),
  otherwise a refusal starting "I'm unable to ...";
* otherwise an **undetectable** failure: a fluent answer of the usual length, or JSON that fits the
  requested schema, with wrong content. No check can tell it from a good answer.

An answer cut off by ``max_tokens`` fails the bar too (``failure="truncated"``; it is detectable
by its stop reason).

Answer length
-------------
``x-sim-answer-tokens: <n>`` sets the length of a prose answer (good or undetectably wrong) to about
``n`` tokens; without it, 20..200 tokens from the hash as before. A refusal is about 25 tokens; a
JSON answer is as long as the object generated from the schema (``{"answer": ...}`` without one).

Ground truth, and who can read it
---------------------------------
Each judged request's verdict is recorded by the engine (``Simulator.engine.quality_log()``,
``GET /_sim/quality``: ``{request id: {model, difficulty, capability, need, passed, failure}}``) and
sent back in the response headers ``x-sim-quality: pass | fail`` and ``x-sim-quality-failure:
detectable | undetectable | truncated``. They are for benchmarks and tests; costaware's production
code never reads them.

Opt-in
------
Only requests carrying ``x-sim-difficulty`` are judged and shaped. Others keep the simulator's
plain deterministic prose (its token counts are part of other tests' contracts) and no verdict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .answers import answer_text
from .tokens import count_tokens

__all__ = [
    "BAR",
    "P_DETECT",
    "TIER_SKILL",
    "Judged",
    "Verdict",
    "capability",
    "difficulty",
    "judge",
    "model_tier",
    "need",
    "request_key",
    "requested_json",
    "skill",
]

TIER_SKILL = (0.65, 0.80, 1.00)
BAR = 0.5
P_DETECT = 0.8
NOISE = 0.025
_TOLERANCE = 1e-9  # float rounding at the exact edges (the large tier at d = 0.95)
_SMALL = ("haiku", "mini", "nano", "flash", "lite")
_LARGE = ("opus", "-pro")
_LARGE_PREFIXES = ("o1", "o3")
_REFUSAL = (
    "I'm unable to give a reliable answer to this request. It needs more careful analysis than I can "
    "offer here; please escalate it to a specialist."
)
_VOCABULARY = (
    "account", "order", "refund", "invoice", "policy", "shipping", "return", "device", "update",
    "customer", "payment", "service", "delivery", "product", "support", "review", "summary", "total",
)  # fmt: skip


def model_tier(model: str) -> int:
    """Return 0 (small), 1 (mid) or 2 (large) for a model name."""
    name = model.lower().rsplit("/", 1)[-1]
    if any(marker in name for marker in _SMALL):
        return 0
    if any(marker in name for marker in _LARGE) or name.startswith(_LARGE_PREFIXES):
        return 2
    return 1


def skill(model: str) -> float:
    """Return the skill of ``model``'s tier (:data:`TIER_SKILL`)."""
    return TIER_SKILL[model_tier(model)]


def need(d: float) -> float:
    """Return the quality an answer to a request of difficulty ``d`` needs: ``0.5 + 0.5 d``."""
    return 0.5 + 0.5 * d


def difficulty(prompt_text: str) -> float:
    """Return the fallback difficulty in [0, 1] of a request without ``x-sim-difficulty``."""
    length_part = min(count_tokens(prompt_text) / 2000.0, 1.0)
    digest = hashlib.sha256(prompt_text.encode("utf-8")).digest()
    content_part = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF
    return 0.5 * length_part + 0.5 * content_part


def capability(model: str, prompt_text: str = "", *, difficulty: float | None = None) -> float:
    """Return ``skill - 0.5 d`` in [0, 1]: at least :data:`BAR` exactly when ``skill >= need(d)``.

    ``d`` is ``difficulty`` if given, else the fallback :func:`difficulty` of ``prompt_text``.

    >>> capability("claude-opus-4-6", "hi") > capability("claude-sonnet-4-6", "hi") > capability(
    ...     "claude-haiku-4-5", "hi")
    True
    >>> capability("claude-haiku-4-5", difficulty=0.3) >= BAR, capability("gpt-4.1", difficulty=0.7) >= BAR
    (True, False)
    """
    d = _difficulty_of(prompt_text) if difficulty is None else difficulty
    return max(0.0, min(1.0, skill(model) - 0.5 * d))


_difficulty_of = difficulty  # capability's keyword shadows the function inside it


def request_key(canonical_prompt: str) -> str:
    """The key verdicts are drawn with: a hash of the canonical prompt text."""
    return hashlib.sha256(canonical_prompt.encode("utf-8")).hexdigest()


def _unit(*parts: str) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.sha256("|".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Verdict:
    """Whether one answer meets the bar, and how it fails if it does not."""

    model: str
    difficulty: float
    capability: float
    """``skill - 0.5 d + noise``: the answer meets the bar when this is at least :data:`BAR`."""
    need: float
    passed: bool
    failure: str | None = None
    """``None`` (passed), ``"detectable"``, ``"undetectable"`` or ``"truncated"``."""

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


def judge(model: str, d: float, key: str) -> Verdict:
    """The verdict on ``model``'s answer to the request ``key`` of difficulty ``d``.

    >>> judge("claude-opus-4-6", 0.95, "k").passed, judge("claude-haiku-4-5", 0.9, "k").passed
    (True, False)
    """
    noise = NOISE * (2.0 * _unit("margin", model, key) - 1.0)
    margin = skill(model) + noise - need(d)
    quality = skill(model) + noise - 0.5 * d
    if margin >= -_TOLERANCE:
        return Verdict(model, d, quality, need(d), True)
    kind = "detectable" if _unit("detect", model, key) < P_DETECT else "undetectable"
    return Verdict(model, d, quality, need(d), False, kind)


@dataclass(frozen=True)
class Judged:
    """A verdict and the answer text it leads to."""

    verdict: Verdict
    text: str


def answer_for(
    verdict: Verdict,
    *,
    seed: str,
    body: Mapping[str, Any],
    answer_tokens: int | None,
) -> Judged:
    """The answer text for ``verdict``: good, detectably bad or undetectably bad (see the module doc)."""
    wants_json, schema = requested_json(body)
    wrong = not verdict.passed
    if wants_json:
        value = json_instance(schema, seed, wrong=wrong)
        text = json.dumps(value, ensure_ascii=False)
        if verdict.failure == "detectable":
            text = _broken(text)
        return Judged(verdict, text)
    if verdict.failure == "detectable":
        return Judged(verdict, _REFUSAL)
    return Judged(verdict, prose(("wrong|" if wrong else "") + seed, answer_tokens))


def _broken(text: str) -> str:
    """``text`` (JSON) cut before its end, so that it no longer parses."""
    cut = text[: max(len(text) // 2, 1)]
    try:
        json.loads(cut)
    except ValueError:
        return cut
    return "Result: " + cut  # a scalar's prefix can still parse (``12`` of ``123``)


def prose(seed: str, tokens: int | None) -> str:
    """Deterministic fluent-looking text of about ``tokens`` tokens (20..200 from the seed if ``None``)."""
    if tokens is None:
        return answer_text(seed)
    target = 4 * max(int(tokens), 1)
    parts: list[str] = []
    size, index = 0, 0
    while size < target:
        part = answer_text(f"{seed}#{index}")
        parts.append(part)
        size += len(part) + 1
        index += 1
    text = " ".join(parts)[:target]
    cut = text.rfind(" ")
    return (text[:cut] if cut > target // 2 else text).rstrip(" .") + "."


def requested_json(body: Mapping[str, Any]) -> tuple[bool, Mapping[str, Any] | None]:
    """Whether a request body asks for JSON output, and its schema if it gives one."""
    candidates: list[Any] = [body.get("response_format"), body.get("output_format")]
    for holder in (body.get("text"), body.get("output_config")):
        if isinstance(holder, Mapping):
            candidates.append(holder.get("format"))
    for spec in candidates:
        if not isinstance(spec, Mapping):
            continue
        if spec.get("type") == "json_object":
            return True, None
        if spec.get("type") == "json_schema":
            schema = spec.get("schema")
            inner = spec.get("json_schema")
            if schema is None and isinstance(inner, Mapping):
                schema = inner.get("schema")
            return True, schema if isinstance(schema, Mapping) else None
    return False, None


def _bytes(seed: str) -> Iterator[int]:
    counter = 0
    while True:
        yield from hashlib.sha256(f"{seed}|{counter}".encode()).digest()
        counter += 1


def json_instance(schema: Mapping[str, Any] | None, seed: str, *, wrong: bool = False) -> Any:
    """A value fitting ``schema`` (types, properties, enums, array bounds), deterministic from ``seed``.

    ``wrong=True`` gives a value of the same shape with different leaves (another enum member, other
    words, other numbers): valid against the schema, wrong in content.
    """
    if schema is None:
        schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    return _instance(schema, _bytes(seed), wrong, 0)


def _instance(schema: Mapping[str, Any], rng: Iterator[int], wrong: bool, depth: int) -> Any:
    pick = next(rng)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        index = pick % len(enum)
        return enum[(index + 1) % len(enum)] if wrong and len(enum) > 1 else enum[index]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" and depth < 8:
        properties = schema.get("properties")
        if not isinstance(properties, Mapping) or not properties:
            properties = {"answer": {"type": "string"}}
        return {
            name: _instance(sub if isinstance(sub, Mapping) else {}, rng, wrong, depth + 1)
            for name, sub in properties.items()
        }
    if kind == "array" and depth < 8:
        low_value, high_value, items = schema.get("minItems"), schema.get("maxItems"), schema.get("items")
        low = low_value if isinstance(low_value, int) else 1
        high = high_value if isinstance(high_value, int) else max(low, 3)
        count = low + pick % (high - low + 1) if high >= low else low
        item_schema: Mapping[str, Any] = items if isinstance(items, Mapping) else {}
        return [_instance(item_schema, rng, wrong, depth + 1) for _ in range(count)]
    if kind == "integer":
        return pick % 50 + 1 + (7 if wrong else 0)
    if kind == "number":
        return round((pick + 1) * 3.17 * (1.37 if wrong else 1.0), 2)
    if kind == "boolean":
        return (pick % 2 == 0) != wrong
    if kind == "null":
        return None
    words = [_VOCABULARY[(next(rng) + (5 if wrong else 0)) % len(_VOCABULARY)] for _ in range(2 + pick % 3)]
    return " ".join(words)
