"""Values that cross module boundaries: what a call asked for, what it used, what it cost.

Pure: no SDK, no OpenTelemetry, no I/O. Every type here is a frozen dataclass.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal
from typing import Any, Literal

Provider = Literal["anthropic", "openai"]
Operation = Literal["chat", "embeddings"]

ZERO = Decimal(0)

MONEY_CONTEXT = Context(prec=80)
"""The decimal context all money is computed in (prices, costs, budget sums): exact for any realistic
amount, and our own, so an application's ``decimal.getcontext().prec = 6`` cannot round money."""


def money_column(amounts: Sequence[Decimal]) -> list[str]:
    """Exact amounts printed with one number of decimals for the whole column (the most any of them
    needs), so a table lines up and nothing is rounded.

    >>> money_column([Decimal("0.000259"), Decimal("1.5"), Decimal("4E-8")])
    ['0.00025900', '1.50000000', '0.00000004']
    """
    places = max([-a.as_tuple().exponent for a in amounts if a.is_finite()] + [2])  # type: ignore[operator]
    return [format(a, f".{places}f") for a in amounts]


def integral(value: Any) -> int | None:
    """A request's integer argument as a plain ``int``: any integral value (an ``int`` subclass,
    an ``IntEnum``, a NumPy integer) counts as given; ``bool``, floats and anything else do not.

    >>> import enum
    >>> class Cap(enum.IntEnum):
    ...     SHORT = 300
    >>> integral(Cap.SHORT), integral(300), integral(True), integral(3.0), integral(None)
    (300, 300, None, None, None)
    """
    if type(value) is int:
        return value
    if isinstance(value, bool) or value is None:
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call, normalised across providers.

    ``input_tokens`` is the whole prompt, cached tokens included (the OpenTelemetry GenAI convention):
    for Anthropic it is ``input_tokens + cache_read_input_tokens + cache_creation_input_tokens``, for
    OpenAI it is ``prompt_tokens`` as sent. ``output_tokens`` includes reasoning tokens.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def cache_write_tokens(self) -> int:
        """Prompt tokens written to the provider's cache, whatever the TTL."""
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens billed at the plain input rate (neither read from nor written to a cache)."""
        return max(self.input_tokens - self.cache_read_tokens - self.cache_write_tokens, 0)


@dataclass(frozen=True, slots=True)
class Cost:
    """What one call cost, in USD, as exact decimals.

    ``total`` is ``None`` when the model has no known price ("unpriced"): an unknown price is never $0.
    The parts say where the money went; they are zero for an unpriced call.
    """

    total: Decimal | None
    input: Decimal = ZERO
    cache_read: Decimal = ZERO
    cache_write: Decimal = ZERO
    output: Decimal = ZERO
    source: str = "unpriced"
    """Where the price came from: ``genai-prices``, ``override`` or ``unpriced``; for a call that cost
    nothing, why: ``not-billed``, ``not-sent``, ``response-cache``."""
    priced_model: str | None = None
    """The model whose price was used (the response model, else the request model)."""

    @property
    def unpriced(self) -> bool:
        return self.total is None


UNPRICED = Cost(total=None)
"""A call whose cost is unknown (no usage, or no price): never counted as $0."""

NOT_BILLED = Cost(total=ZERO, source="not-billed")
"""An HTTP error response: the provider bills nothing for it."""

NOT_SENT = Cost(total=ZERO, source="not-sent")
"""A call refused before sending: it cost nothing."""

FROM_CACHE = Cost(total=ZERO, source="response-cache")
"""A call answered by the response cache: it cost nothing."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    """What an instrumented SDK method was asked to do, read from its arguments before sending."""

    provider: Provider
    operation: Operation
    method: str
    """The SDK method, e.g. ``anthropic.messages.create`` or ``openai.responses.stream``."""
    model: str | None
    stream: bool = False
    max_tokens: int | None = None
    server_address: str | None = None
    server_port: int | None = None
    batch: bool = False


@dataclass(frozen=True, slots=True)
class CallResult:
    """What a finished call returned, read by a provider adapter from the response or stream."""

    usage: Usage | None = None
    """``None`` when the response carried no usable usage (malformed, missing, or a stream cut short
    before any usage arrived)."""
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    output_text: str | None = None


StreamEnd = Literal["completed", "error", "closed", "abandoned"]
"""How a stream finished: read to the end, raised, closed by the caller, or dropped (garbage collected)."""


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """Everything telemetry needs about one finished call. Produced once per call by the pipeline."""

    request: CallRequest
    result: CallResult
    cost: Cost
    duration_s: float
    error_type: str | None = None
    time_to_first_chunk_s: float | None = None
    stream_end: StreamEnd | None = None
    attempts: int = 1
    extra_attributes: tuple[tuple[str, str | int | float | bool], ...] = field(default=())
    savings: Any = None
    """``costaware.steps.prepare.Savings`` when the call was routed, cached or cascaded."""
    sent: bool = True
    """``False`` for a call a budget refused before sending: it has a span and counts as a refusal,
    never as a call (no duration, no call count, no error rate)."""
    feature: str | None = None
    tenant: str | None = None
    """The attribution of the call's innermost scope (labels on the cost and call counters)."""
    response_cache: Any = None
    """``costaware.steps.response_cache.Lookup`` when a response cache applied to the call."""
    route: Any = None
    """The routing decision (``costaware.core.routing.Decision``) when a policy routed the call."""
    retried: tuple[str, ...] = ()
    """The error type of each failed attempt that was retried."""
    cascade_checks: tuple[tuple[str, bool], ...] = ()
    """Each cascade answer checked: (model, whether it was escalated)."""
    refused_by: str | None = None
    """The key of the budget that refused the call before it was sent."""


@dataclass(frozen=True, slots=True)
class CostRecord:
    """One finished LLM call as a scope records it."""

    provider: str
    model: str | None
    usage: Usage | None
    cost: Cost
    attempts: int = 1
    feature: str | None = None
    tenant: str | None = None


@dataclass(frozen=True)  # no slots: then assigning any attribute, ``records`` too, is a FrozenInstanceError
class CostTracker:
    """An immutable record of a scope's calls; ``add`` returns a new tracker.

    A record, not a limit: budgets are enforced by the shared ledger, which sibling tasks and
    threads all see (a tracker copied into each task's context would not be).
    """

    calls: int = 0
    attempts: int = 0
    total_cost: Decimal = ZERO
    """USD of the priced calls (see ``unpriced_calls`` for those that could not be priced)."""
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    _last: tuple[CostRecord, Any] | None = field(default=None, repr=False)
    """The records, newest first, as a chain of pairs: adding one is O(1), not a copy of them all."""

    def add(self, record: CostRecord) -> CostTracker:
        """A tracker with ``record`` added (its totals kept up to date, so reading them is O(1)).

        >>> one = Usage(input_tokens=10, output_tokens=2)
        >>> t = CostTracker().add(CostRecord("p", "m", one, Cost(total=Decimal("0.5"))))
        >>> t = t.add(CostRecord("p", "m", None, Cost(total=None), attempts=2))
        >>> t.calls, t.attempts, t.total_cost, t.unpriced_calls, t.input_tokens, len(t.records)
        (2, 3, Decimal('0.5'), 1, 10, 2)
        """
        priced, usage = record.cost.total, record.usage
        return CostTracker(
            calls=self.calls + 1,
            attempts=self.attempts + record.attempts,
            total_cost=self.total_cost if priced is None else self.total_cost + priced,
            unpriced_calls=self.unpriced_calls + (priced is None),
            input_tokens=self.input_tokens + (usage.input_tokens if usage is not None else 0),
            output_tokens=self.output_tokens + (usage.output_tokens if usage is not None else 0),
            _last=(record, self._last),
        )

    @property
    def records(self) -> tuple[CostRecord, ...]:
        """Every call recorded, oldest first."""
        found = []
        node = self._last
        while node is not None:
            found.append(node[0])
            node = node[1]
        return tuple(reversed(found))


@dataclass(frozen=True, slots=True)
class CacheParts:
    """What a request's answer depends on, split for a response cache's two layers.

    The exact layer keys on ``context`` and ``question`` together; the semantic layer partitions by
    ``context`` alone and compares ``question`` wordings inside a partition. ``context`` therefore
    determines everything but the wording of the last user turn: where that wording sits in the
    request is a placeholder in it.

    >>> parts = CacheParts(context='{"model":"m"}', question="hi")
    >>> parts.cacheable, parts.copies
    (True, 1)
    """

    context: str
    """Canonical JSON (sorted keys, no whitespace) of everything that changes the answer except the
    last user turn's text: model, system prompt, tools, output format, sampling, earlier turns."""
    question: str | None
    """The last turn's plain text when it is a user turn made only of text, else ``None`` (then only
    an exact match on ``context`` may answer)."""
    blockers: tuple[str, ...] = ()
    """Why the request should not be cached unless the user opts in: ``"tool_results"``, ``"images"``,
    ``"n>1"``, ``"conversation"`` (server-side state that changes between calls); ``"unreadable"`` (a
    value that cannot be read without consuming it, or has no faithful form) is never safe to cache."""
    temperature: float | None = None
    """The request's sampling temperature, ``None`` when it sets none (the caller applies its limit)."""
    copies: int = 1
    """How many answers one call returns (OpenAI's ``n``)."""

    @property
    def cacheable(self) -> bool:
        """No blocker at all (a caller with opt-ins checks ``blockers`` itself)."""
        return not self.blockers
