"""``route="auto"``: a weighted score over a request's signals, mapped to a tier.

The score starts at 0 and each rule below adds ``weight x amount`` (weights are
:data:`DEFAULT_WEIGHTS`, each overridable by name). With the default thresholds a score of 2.0 or
more goes to ``medium`` and 4.5 or more to ``large``; anything lower stays on the cheapest tier.

=============  ======  ==================================================================================
rule           weight  amount, and why
=============  ======  ==================================================================================
length         1.0     0.5 from ~400 estimated tokens, 1 from 1,500, 1.5 from 3,000, 2 from 6,000: more
                       text is more to hold together; capped so length alone reaches ``medium``, never
                       ``large`` (a long document to read is not by itself a hard problem).
code           1.5     1 if the last user message holds code: code is where small models slip most.
review         1.0     1 if it asks to review, debug, refactor or optimise, or reports an error, a crash,
                       a failure or a vulnerability: diagnosis needs more than recall.
summary        1.0     1 if it asks for a summary: with a long input (1,500+ tokens) that is ``medium``.
steps          2.0     1 for "step by step" or "first ... then": the user asks for a chain of reasoning.
parts          0.5     per numbered item beyond the first, up to 4: each part is another sub-task.
analysis       1.0     per distinct analysis word (analyze, compare, pros and cons, evaluate, why,
                       design, recommend ...), up to 3: two of them reach ``medium`` on their own.
hard           2.5     per distinct hard-problem word (prove, theorem, induction, invariant,
                       architecture, trade-off, scalability, consensus ...), up to 2: two of them, or
                       one with two analysis words, reach ``large``: proofs and system design.
questions      0.4     per question mark beyond the first, up to 3: a multi-part inquiry.
depth          0.5     per user turn beyond the second, up to 3: a long conversation has more to track.
tools          0.5     1 if tools are offered: the model must choose and chain actions.
attachments    0.75    1 if images or documents are attached: perception on top of the task.
simple         -1.5    1 if it asks to classify, label, extract, translate, rephrase or convert:
                       small models do these well whatever the input's size.
json           -0.5    1 if a JSON output format is set: structured output is usually extraction.
short_output   -1.0    1 if max_tokens is at most 256: the caller expects a short answer.
long_output    1.0     1 if max_tokens is at least 16,000: the caller expects a long generation.
=============  ======  ==================================================================================

Typical results: a support question or a field extraction scores below 1 (``small``); a long
document to summarise (length 1-2 + summary 1), a code review (code 1.5 + review 1), a debugging
conversation or a step-by-step question (steps 2) lands in ``medium``; a proof by induction or a
system design weighing trade-offs (two hard words, 5) or a long multi-part analysis goes ``large``.

Known limits: it reads words, not meaning. A single hard word ("Prove that ...") alone gives 2.5,
``medium``; words inside a pasted document's first or last paragraph count as if they were the ask;
an agentic request is only as hard as its wording says.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import mul
from types import MappingProxyType

from costaware.core.errors import ConfigurationError
from costaware.core.routing.decision import Choice, RouteRequest
from costaware.core.routing.reading import Signals
from costaware.core.routing.tiers import TierLadder

__all__ = ["DEFAULT_THRESHOLDS", "DEFAULT_WEIGHTS", "AutoClassifier"]

DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {
        "length": 1.0,
        "code": 1.5,
        "review": 1.0,
        "summary": 1.0,
        "steps": 2.0,
        "parts": 0.5,
        "analysis": 1.0,
        "hard": 2.5,
        "questions": 0.4,
        "depth": 0.5,
        "tools": 0.5,
        "attachments": 0.75,
        "simple": -1.5,
        "json": -0.5,
        "short_output": -1.0,
        "long_output": 1.0,
    }
)
DEFAULT_THRESHOLDS: Mapping[str, float] = MappingProxyType({"medium": 2.0, "large": 4.5})
_LENGTH_STEPS = ((6_000, 2.0), (3_000, 1.5), (1_500, 1.0), (400, 0.5))


def _length(s: Signals) -> float:
    return next((amount for tokens, amount in _LENGTH_STEPS if s.estimated_tokens >= tokens), 0.0)


def amounts(s: Signals) -> tuple[float, ...]:
    """Each rule's amount for these signals, in :data:`RULES` order (one function: it runs per call)."""
    return (
        _length(s),
        1.0 if s.has_code else 0.0,
        1.0 if s.review_terms else 0.0,
        1.0 if s.summary_terms else 0.0,
        1.0 if s.step_language else 0.0,
        float(min(max(s.numbered_items - 1, 0), 4)),
        float(min(len(s.analysis_terms), 3)),
        float(min(len(s.hard_terms), 2)),
        float(min(max(s.questions - 1, 0), 3)),
        float(min(max(s.user_turns - 2, 0), 3)),
        1.0 if s.tools else 0.0,
        1.0 if s.images or s.files else 0.0,
        1.0 if s.simple_terms else 0.0,
        1.0 if s.json_requested else 0.0,
        1.0 if 0 < s.max_tokens <= 256 else 0.0,
        1.0 if s.max_tokens >= 16_000 else 0.0,
    )


# What each rule saw, for explanations only.
_DETAILS: Mapping[str, Callable[[Signals], str]] = MappingProxyType(
    {
        "length": lambda s: f"~{s.estimated_tokens} tokens",
        "code": lambda s: "code in the last user message",
        "review": lambda s: ", ".join(s.review_terms),
        "summary": lambda s: ", ".join(s.summary_terms),
        "steps": lambda s: "step-by-step / first-then language",
        "parts": lambda s: f"{s.numbered_items} numbered items",
        "analysis": lambda s: ", ".join(s.analysis_terms),
        "hard": lambda s: ", ".join(s.hard_terms),
        "questions": lambda s: f"{s.questions} questions",
        "depth": lambda s: f"{s.user_turns} user turns",
        "tools": lambda s: f"{s.tools} tools offered",
        "attachments": lambda s: f"{s.images} images, {s.files} files",
        "simple": lambda s: ", ".join(s.simple_terms),
        "json": lambda s: "JSON output format",
        "short_output": lambda s: f"max_tokens={s.max_tokens}",
        "long_output": lambda s: f"max_tokens={s.max_tokens}",
    }
)
RULES: tuple[str, ...] = tuple(_DETAILS)
"""The rules, in the order :func:`amounts` returns them."""


@dataclass(frozen=True, slots=True)
class Contribution:
    """One rule's share of a score: ``weight x amount``, and what the rule saw."""

    rule: str
    points: float
    detail: str


@dataclass(frozen=True)
class AutoClassifier:
    """Scores a request's signals (see the module docstring) and picks the tier whose threshold it reaches.

    ``thresholds`` maps tier names to the minimum score for that tier (default ``medium`` >= 2.0,
    ``large`` >= 4.5); the ladder's cheapest tier is taken when no threshold is reached.
    ``weights`` overrides rules' weights by name. Both are checked when built.

    >>> from costaware.core.routing.reading import signals
    >>> auto = AutoClassifier()
    >>> auto.score(signals("anthropic", {"messages": [{"role": "user", "content": "Classify: 'great!'"}]}))
    -1.5
    """

    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    weights: Mapping[str, float] | None = None
    _weights: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.thresholds, Mapping) or not self.thresholds:
            raise ConfigurationError("AutoClassifier thresholds must map tier names to minimum scores")
        for name, value in self.thresholds.items():
            if not isinstance(name, str) or not _finite(value):
                raise ConfigurationError(
                    f"AutoClassifier threshold {name!r}: {value!r} is not a finite number"
                )
        object.__setattr__(self, "thresholds", MappingProxyType(dict(self.thresholds)))
        unknown = sorted(set(self.weights or ()) - set(DEFAULT_WEIGHTS))
        if unknown:
            raise ConfigurationError(
                f"AutoClassifier weights: unknown rules {unknown}; known: {', '.join(DEFAULT_WEIGHTS)}"
            )
        for name, value in (self.weights or {}).items():
            if not _finite(value):
                raise ConfigurationError(f"AutoClassifier weight {name!r}: {value!r} is not a finite number")
        merged = {**DEFAULT_WEIGHTS, **(self.weights or {})}
        object.__setattr__(self, "_weights", tuple(float(merged[rule]) for rule in RULES))

    @property
    def name(self) -> str:
        return "auto"

    def contributions(self, signals: Signals) -> tuple[Contribution, ...]:
        """Each rule that fired and the points it added, in rule order."""
        return tuple(
            Contribution(rule, weight * amount, _DETAILS[rule](signals))
            for rule, weight, amount in zip(RULES, self._weights, amounts(signals), strict=True)
            if weight and amount
        )

    def score(self, signals: Signals) -> float:
        """The request's score: the sum of its contributions."""
        return round(float(sum(map(mul, self._weights, amounts(signals)))), 6)

    def tier_for(self, score: float, ladder: TierLadder) -> tuple[str | None, str]:
        """The tier a score maps to on ``ladder`` (the dearest whose threshold it reaches), and why."""
        named = [(tier.name, self.thresholds.get(tier.name)) for tier in ladder.tiers]
        for name, threshold in reversed(named):
            if threshold is not None and score >= threshold:
                return name, f"score {score:.2f} >= {name} threshold {threshold:.2f}"
        lowest = min((t for _, t in named if t is not None), default=None)
        if lowest is None:
            return None, f"no threshold names a tier of the {ladder.provider} ladder"
        return named[0][0], f"score {score:.2f} < {lowest:.2f}: cheapest tier"

    def choose(self, request: RouteRequest) -> Choice:
        score = self.score(request.signals)
        if request.ladder is None:
            return Choice(None, f"no tier ladder for {request.provider}", (("score", score),))
        tier, why = self.tier_for(score, request.ladder)
        return Choice(tier, why, (("score", score),))

    def validate(self, ladders: Mapping[str, TierLadder]) -> None:
        """Each threshold must name a tier of every ladder, and rise with the ladder's order."""
        for provider, ladder in ladders.items():
            missing = [name for name in self.thresholds if ladder.tier_named(name) is None]
            if missing:
                raise ConfigurationError(
                    f"AutoClassifier thresholds name unknown tier(s) {missing} for {provider} "
                    f"(its ladder has {', '.join(ladder.names)})"
                )
            ordered = [self.thresholds[n] for n in ladder.names if n in self.thresholds]
            if ordered != sorted(ordered):
                raise ConfigurationError(
                    f"AutoClassifier thresholds must rise with the {provider} ladder's order "
                    f"({', '.join(ladder.names)}), got {dict(self.thresholds)}"
                )


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
