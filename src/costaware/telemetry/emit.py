"""Spans and metrics from a call's outcome. A consumer of the pipeline: it decides nothing.

One CLIENT span per call, named ``{gen_ai.operation.name} {gen_ai.request.model}`` with the GenAI
semantic-convention attributes plus ``costaware.*`` cost attributes; metrics per the conventions
(token usage and duration histograms with the advised buckets, time to first chunk) and a cost
counter in USD.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from costaware._version import __version__
from costaware.core.types import CallOutcome, CallRequest
from costaware.telemetry.metrics import Sums, instruments_for

log = logging.getLogger("costaware")

MAX_CONTENT_CHARS = 64_000


class Telemetry:
    """Tracer and instruments, created once; ``start`` opens a call's span, ``end`` records the outcome."""

    def __init__(
        self, *, tracer_provider: Any = None, meter_provider: Any = None, capture_content: bool = False
    ) -> None:
        self.capture_content = capture_content
        self._series: dict[tuple[str | None, ...], _Points] = {}
        self._tracer = trace.get_tracer("costaware", __version__, tracer_provider=tracer_provider)
        self.metrics = instruments_for(meter_provider)

    def start(self, request: CallRequest, prompt: Any = None, extra: Sequence[tuple[str, Any]] = ()) -> Span:
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": request.operation,
            "gen_ai.provider.name": request.provider,
            "costaware.sdk.method": request.method,
        }
        if request.model is not None:
            attributes["gen_ai.request.model"] = request.model
        if request.max_tokens is not None:
            attributes["gen_ai.request.max_tokens"] = request.max_tokens
        if request.operation == "chat":
            attributes["gen_ai.request.stream"] = request.stream
        if request.server_address is not None:
            attributes["server.address"] = request.server_address
            if request.server_port is not None:
                attributes["server.port"] = request.server_port
        if prompt is not None and self.capture_content:
            attributes["gen_ai.input.messages"] = _content(_with_parts(prompt))
        attributes.update(extra)
        name = f"{request.operation} {request.model}" if request.model else request.operation
        return self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)

    def end(self, span: Span, outcome: CallOutcome) -> None:
        """Everything about a finished call, from its outcome alone: the span, then the metrics."""
        self._record_span(span, outcome)
        request = outcome.request
        if outcome.route is not None:
            self._count_route(request.provider, outcome.route)
        for error_type in outcome.retried:
            self._count_retry(request, error_type)
        for model, escalated in outcome.cascade_checks:
            self._count_cascade(request.provider, model, escalated=escalated)
        if outcome.sent:
            # Each point in the call's own span's context: its exemplar links to this call, inside
            # the caller's trace or, for a call made outside any span, in a trace of its own.
            self._record_metrics(outcome, trace.set_span_in_context(span))
        elif outcome.refused_by is not None:  # a refused call is counted by costaware.budget.refusals only
            self.metrics.refusals.add(
                1, {"costaware.budget.key": outcome.refused_by, "gen_ai.request.model": request.model or ""}
            )

    def record_budgets(self, outcome: CallOutcome, ledgers: Sequence[Any]) -> None:
        """What a call charged to each budget; the budgets' gauges read their stores at collection."""
        charged = outcome.cost.total
        if charged:
            for ledger in ledgers:
                self.metrics.budget_spend.add(float(charged), {"costaware.budget.key": ledger.budget.key})
        self.metrics.budgets.note(ledgers)

    def _count_retry(self, request: CallRequest, error_type: str) -> None:
        self.metrics.retries.add(
            1,
            {
                "gen_ai.provider.name": request.provider,
                "gen_ai.request.model": request.model or "",
                "error.type": error_type,
            },
        )

    def _count_route(self, provider: str, decision: Any) -> None:
        self.metrics.routes.add(
            1,
            {
                "gen_ai.provider.name": provider,
                "costaware.route.policy": decision.policy,
                "costaware.route.tier": decision.tier or "",
                "costaware.route.changed": decision.changed,
            },
        )

    def _count_cascade(self, provider: str, model: str, *, escalated: bool) -> None:
        self.metrics.cascade.add(
            1,
            {
                "gen_ai.provider.name": provider,
                "costaware.model": model,
                "costaware.cascade.escalated": escalated,
            },
        )

    def open_scope(self, scope: Any) -> tuple[Span, object]:
        """Start the INTERNAL span of one scope invocation and make it current; :meth:`close_scope`
        ends it. (What ``start_as_current_span`` does, without its two generator-based context
        managers on every decorated call.)"""
        span = self._tracer.start_span(
            f"costaware.scope {scope.spec.name}",
            kind=SpanKind.INTERNAL,
            attributes={"costaware.scope.name": scope.spec.name},
        )
        return span, attach(trace.set_span_in_context(span))

    def close_scope(self, opened: tuple[Span, object], scope: Any, error: BaseException | None) -> None:
        """Set the scope's totals on its span and end it; an ``Exception`` that left the scope is
        recorded on the span and sets its status, as ``start_as_current_span`` would."""
        span, token = opened
        detach(token)  # type: ignore[arg-type]
        try:
            tracker = scope.tracker
            attributes: dict[str, Any] = {
                "costaware.scope.calls": tracker.calls,
                "costaware.scope.attempts": tracker.attempts,
                "costaware.scope.cost.usd": float(tracker.total_cost),
                "costaware.scope.cost.usd_exact": format(tracker.total_cost, "f"),
                "costaware.scope.unpriced_calls": tracker.unpriced_calls,
                "gen_ai.usage.input_tokens": tracker.input_tokens,
                "gen_ai.usage.output_tokens": tracker.output_tokens,
            }
            if scope.spec.feature:
                attributes["costaware.feature"] = scope.spec.feature
            if scope.spec.tenant:
                attributes["costaware.tenant"] = scope.spec.tenant
            for key, remaining in scope.remaining.items():  # read by the scope's opener
                attributes["costaware.budget.key"] = key
                if remaining is not None:
                    attributes["costaware.budget.remaining_usd"] = remaining
            span.set_attributes(attributes)
            if isinstance(error, Exception) and span.is_recording():  # not GeneratorExit and the like
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        finally:
            span.end()

    def _record_span(self, span: Span, outcome: CallOutcome) -> None:
        result, cost = outcome.result, outcome.cost
        attributes: dict[str, Any] = {}
        if result.response_model is not None:
            attributes["gen_ai.response.model"] = result.response_model
        if result.response_id is not None:
            attributes["gen_ai.response.id"] = result.response_id
        if result.finish_reasons:
            attributes["gen_ai.response.finish_reasons"] = result.finish_reasons
        usage = result.usage
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
            if usage.cache_read_tokens:
                attributes["gen_ai.usage.cache_read.input_tokens"] = usage.cache_read_tokens
            if usage.cache_write_tokens:
                attributes["gen_ai.usage.cache_creation.input_tokens"] = usage.cache_write_tokens
                if usage.cache_write_1h_tokens:
                    attributes["costaware.usage.cache_creation_1h.input_tokens"] = usage.cache_write_1h_tokens
            if usage.reasoning_tokens:
                attributes["gen_ai.usage.reasoning.output_tokens"] = usage.reasoning_tokens
        else:
            attributes["costaware.usage.missing"] = True
        if cost.total is not None:
            attributes["costaware.cost.usd"] = float(cost.total)
            attributes["costaware.cost.usd_exact"] = format(cost.total, "f")  # never "4E-8"
            attributes["costaware.cost.unpriced"] = False
            if cost.priced_model is not None and cost.priced_model != result.response_model:
                attributes["costaware.cost.priced_model"] = cost.priced_model
        else:
            attributes["costaware.cost.unpriced"] = True
        attributes["costaware.cost.source"] = cost.source
        if outcome.time_to_first_chunk_s is not None:
            attributes["costaware.time_to_first_chunk_s"] = outcome.time_to_first_chunk_s
        if outcome.stream_end is not None:
            attributes["costaware.stream.end"] = outcome.stream_end
        if result.output_text is not None and self.capture_content:
            attributes["gen_ai.output.messages"] = _content(
                [{"role": "assistant", "parts": [{"type": "text", "content": result.output_text}]}]
            )
        attributes.update(outcome.extra_attributes)
        saved = outcome.savings
        if saved is not None:
            attributes["costaware.savings.baseline_usd"] = float(saved.baseline)
            attributes["costaware.savings.routing_usd"] = float(saved.routing)
            attributes["costaware.savings.prompt_cache_usd"] = float(saved.cache)
            attributes["costaware.savings.cascade_overhead_usd"] = float(saved.cascade_overhead)
            if saved.response_cache:
                attributes["costaware.savings.response_cache_usd"] = float(saved.response_cache)
        if outcome.response_cache is not None:
            attributes.update(_cache_attributes(outcome.response_cache, self.capture_content))
        if outcome.error_type is not None:
            attributes["error.type"] = outcome.error_type
            span.set_status(Status(StatusCode.ERROR, outcome.error_type))
        span.set_attributes(attributes)
        span.end()

    def _record_metrics(self, outcome: CallOutcome, context: Context) -> None:
        request, result, cost = outcome.request, outcome.result, outcome.cost
        points = self._points(
            request,
            result.response_model,
            outcome.error_type,
            cost.priced_model,
            outcome.feature,
            outcome.tenant,
        )
        record = self.metrics.pending.record
        record(self.metrics.duration, outcome.duration_s, points.duration, context)
        self.metrics.calls.add_to(1, points.calls_key)
        if outcome.time_to_first_chunk_s is not None:
            record(self.metrics.first_chunk, outcome.time_to_first_chunk_s, points.base, context)
        usage = result.usage
        if usage is not None:
            record(self.metrics.tokens, usage.input_tokens, points.input, context)
            if request.operation != "embeddings":
                record(self.metrics.tokens, usage.output_tokens, points.output, context)
        if cost.total is not None:
            record(self.metrics.call_cost, float(cost.total), points.base, context)
            if cost.total:
                self.metrics.cost.add_to(float(cost.total), points.cost_key)
            saved = outcome.savings
            baseline = cost.total if saved is None else saved.baseline
            if baseline:
                self.metrics.baseline.add_to(float(baseline), points.cost_key)
            if saved is not None:
                self._record_savings(saved, points.cost)
        elif usage is not None:
            self.metrics.unpriced.add(1, points.base)
        if outcome.response_cache is not None:
            self._record_cache(outcome.response_cache, points.base)

    def _record_cache(self, lookup: Any, attributes: Mapping[str, Any]) -> None:
        metrics = self.metrics
        metrics.cache_lookups.add(1, {**attributes, "costaware.response_cache.result": lookup.result})
        for check in lookup.checks:
            metrics.cache_rejections.add(1, {**attributes, "costaware.response_cache.check": check})
        if lookup.evicted:
            metrics.cache_evictions.add(lookup.evicted, attributes)

    def _points(
        self,
        request: CallRequest,
        response_model: str | None,
        error_type: str | None,
        priced: str | None,
        feature: str | None = None,
        tenant: str | None = None,
    ) -> _Points:
        """The attribute sets of one call's metric points, built once per series and then reused."""
        key = (
            request.provider,
            request.operation,
            request.model,
            response_model,
            error_type,
            priced,
            feature,
            tenant,
        )
        points = self._series.get(key)
        if points is None:
            if len(self._series) >= _SERIES_LIMIT:
                self._series = {}
            points = self._series[key] = _Points(request, response_model, error_type, priced, feature, tenant)
        return points

    def _record_savings(self, saved: Any, attributes: Mapping[str, Any]) -> None:
        overhead = saved.cascade_overhead
        for technique, amount in (
            ("routing", saved.routing),
            ("prompt_cache", saved.cache),
            ("response_cache", saved.response_cache),
        ):
            if amount > 0:
                self.metrics.savings.add(float(amount), {**attributes, "costaware.technique": technique})
            elif amount < 0:
                self.metrics.overhead.add(float(-amount), {**attributes, "costaware.technique": technique})
        if overhead > 0:
            self.metrics.overhead.add(float(overhead), {**attributes, "costaware.technique": "cascade"})


def _cache_attributes(lookup: Any, with_text: bool) -> dict[str, Any]:
    """The span attributes of a call's response-cache lookup; why candidates were turned down names
    words of the prompts ("names differ: smith"), so without content capture only the checks."""
    attributes: dict[str, Any] = {"costaware.response_cache.result": lookup.result}
    if lookup.key is not None:
        attributes["costaware.response_cache.key"] = lookup.key
    if lookup.skipped is not None:
        attributes["costaware.response_cache.skipped"] = lookup.skipped
    hit = lookup.hit
    if hit is not None:
        attributes["costaware.response_cache.layer"] = hit.layer
        attributes["costaware.response_cache.age_s"] = hit.age_s
        if hit.cost is not None:
            attributes["costaware.response_cache.saved_usd"] = float(hit.cost)
        if hit.similarity is not None:
            attributes["costaware.response_cache.similarity"] = hit.similarity
        if hit.verdict is not None:
            attributes["costaware.response_cache.verdict"] = hit.verdict
    elif lookup.best_similarity is not None:
        attributes["costaware.response_cache.similarity"] = lookup.best_similarity
    if lookup.rejected:
        attributes["costaware.response_cache.rejected"] = list(
            lookup.rejected if with_text else lookup.checks
        )
    if lookup.stored:
        attributes["costaware.response_cache.stored"] = True
    return attributes


_SERIES_LIMIT = 1024
"""Attribute sets kept for reuse; past this many series (models x errors) the cache starts over."""


class _Points:
    """The attribute sets of the metric points of calls in one series. Never mutated: the SDK copies
    what it keeps, and ``Sums`` keys are tuples."""

    __slots__ = ("base", "calls_key", "cost", "cost_key", "duration", "input", "output")

    def __init__(
        self,
        request: CallRequest,
        response_model: str | None,
        error_type: str | None,
        priced: str | None,
        feature: str | None = None,
        tenant: str | None = None,
    ) -> None:
        base: dict[str, Any] = {
            "gen_ai.operation.name": request.operation,
            "gen_ai.provider.name": request.provider,
        }
        if request.model is not None:
            base["gen_ai.request.model"] = request.model
        if response_model is not None:
            base["gen_ai.response.model"] = response_model
        # server.address stays on spans: on every metric point it would multiply series for no gain.
        self.base = base
        self.duration = base if error_type is None else {**base, "error.type": error_type}
        # Attribution (a scope's feature= and tenant=) labels the call and cost counters only, not
        # the histograms, whose series are each a dozen buckets.
        attribution = {"costaware.feature": feature or "", "costaware.tenant": tenant or ""}
        self.calls_key = Sums.key({**self.duration, **attribution})
        self.input = {**base, "gen_ai.token.type": "input"}
        self.output = {**base, "gen_ai.token.type": "output"}
        self.cost = {
            "gen_ai.provider.name": request.provider,
            "gen_ai.operation.name": request.operation,
            "gen_ai.request.model": request.model or "",
            "costaware.model": priced or request.model or "",
            **attribution,
        }
        self.cost_key = Sums.key(self.cost)


_PART_TYPES = {
    "text": "text",
    "input_text": "text",
    "tool_use": "tool_call",
    "tool_result": "tool_call_response",
}


def _with_parts(messages: Any) -> Any:
    """Prompt messages in the GenAI conventions' shape, ``{"role", "parts": [...]}``, as
    ``gen_ai.output.messages`` already is: a string is one text part; Anthropic / Responses blocks
    become text, tool-call and tool-call-response parts; other blocks keep their fields."""
    if not isinstance(messages, (list, tuple)):
        return messages
    shaped = []
    for message in messages:
        if not isinstance(message, dict):
            shaped.append(message)
            continue
        content = message.get("content")
        blocks = content if isinstance(content, (list, tuple)) else [content] if content is not None else []
        parts = [_part(block) for block in blocks]
        shaped.append({"role": message.get("role"), "parts": parts})
    return shaped


def _part(block: Any) -> Any:
    if isinstance(block, str):
        return {"type": "text", "content": block}
    if not isinstance(block, dict):
        return {"type": "text", "content": str(block)}
    kind = _PART_TYPES.get(str(block.get("type")))
    if kind == "text":
        return {"type": "text", "content": block.get("text")}
    if kind == "tool_call":
        return {
            "type": "tool_call",
            "id": block.get("id"),
            "name": block.get("name"),
            "arguments": block.get("input"),
        }
    if kind == "tool_call_response":
        return {
            "type": "tool_call_response",
            "id": block.get("tool_use_id"),
            "response": block.get("content"),
        }
    return dict(block)


def _content(value: Any) -> str:
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        text = str(value)
    return text[:MAX_CONTENT_CHARS]
