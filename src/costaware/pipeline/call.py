"""The one place that orders the steps of an LLM call.

For every patched SDK method (after ``Runtime.prepare`` has routed the request, capped its output and
planned its cache breakpoints)::

    read the request -> start the span ->
    for each attempt: reserve the budget -> send (the SDK's own method) -> on a transient failure,
    settle the failed attempt and wait -> read usage (now, or from the stream as the caller reads it)
    -> price -> settle the budget -> record in the scopes -> emit telemetry, exactly once.

The attempt loop is one generator (:meth:`Call.attempts`) that the sync and async drivers
(:mod:`costaware.pipeline.drive`) run, so both take exactly the same steps.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Generator
from contextvars import ContextVar, Token
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from costaware.config import internal_error
from costaware.core.budget import Charge
from costaware.core.errors import BudgetExceededError
from costaware.core.retry import Failure, RetryPolicy, classify, http_status
from costaware.core.types import (
    FROM_CACHE,
    NOT_BILLED,
    NOT_SENT,
    UNPRICED,
    ZERO,
    CallOutcome,
    CallRequest,
    CallResult,
    Cost,
    CostRecord,
    StreamEnd,
)
from costaware.pipeline import streams
from costaware.pipeline.drive import LookUp, Replay, Reserve, Send, Sleep, Step
from costaware.pipeline.runtime import Runtime
from costaware.providers.base import PatchTarget, StreamAccumulator, request_of
from costaware.steps import response_cache
from costaware.steps.prepare import Prepared, Savings, savings
from costaware.steps.spend import Reservations, SpendGuard

if TYPE_CHECKING:
    from costaware.current import Scope

log = logging.getLogger("costaware")

_ACTIVE: ContextVar[Call | None] = ContextVar("costaware_active_call", default=None)
"""The call whose SDK method is running in this context: a patched method reached from inside it
(an SDK helper calling ``create``) is part of that call, not a new one."""

_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY


_CLAIM_LOCK = threading.Lock()
"""Makes a call's ending happen once when a stream's reader and its finaliser race."""


def is_suppressed() -> bool:
    return bool(otel_context.get_value(_SUPPRESS_KEY))


def active_call() -> Call | None:
    return _ACTIVE.get()


def _has_cache(result: CallResult) -> bool:
    usage = result.usage
    return usage is not None and bool(usage.cache_read_tokens or usage.cache_write_tokens)


def _plus(cost: Cost, overhead: Decimal) -> Cost:
    """``cost`` with the money of failed attempts and rejected cascade answers added to its total."""
    if not overhead or cost.total is None:
        return cost
    return Cost(
        total=cost.total + overhead,
        input=cost.input,
        cache_read=cost.cache_read,
        cache_write=cost.cache_write,
        output=cost.output,
        source=cost.source,
        priced_model=cost.priced_model,
    )


def _was_sent(error: BaseException, not_sent: frozenset[str]) -> bool:
    """Whether a failed attempt's request may have reached the provider (and so may be billed);
    ``not_sent``: the endpoint's exception names that say it never left."""
    if http_status(error) is not None:
        return True
    cause: BaseException | None = error
    while cause is not None:
        if type(cause).__name__ in not_sent:
            return False
        cause = cause.__cause__
    return True


class Call:
    """One LLM call, all its attempts included. Finishes exactly once, whichever way it ends."""

    def __init__(
        self,
        runtime: Runtime,
        target: PatchTarget,
        request: CallRequest,
        span: Any,
        scope: Scope | None,
        guard: SpendGuard,
        retry: RetryPolicy | None,
    ) -> None:
        self.runtime = runtime
        self.target = target
        self.request = request
        self.span = span
        self.scope = scope
        self.guard = guard
        self.retry = retry
        self.started_at = time.perf_counter()
        self.first_chunk_at: float | None = None
        self.accumulator: StreamAccumulator | None = None
        self.stream_attached = False
        self.attempts_made = 0
        self.held: Reservations | None = None
        self.failed_attempts_cost = ZERO
        self.sent_model = request.model
        self.requested_model = request.model
        self.cascade: Any = None
        self.default_cap: int | None = None
        self.cascade_cost = ZERO
        self.escalations = 0
        self.route: Any = None
        self.footprint: Any = None
        """What routing remembers once a model has answered (``costaware.steps.routing.Footprint``)."""
        self.answered_at: float | None = None
        """When the last attempt's answer began to arrive (the runtime's clock): its prompt was read."""
        self.client: Any = None
        """The SDK client the call goes through (its server is part of a response-cache key)."""
        self.retried: list[str] = []
        self.cascade_checks: list[tuple[str, bool]] = []
        self.response_cache: Any = (
            runtime.setting(scope, "response_cache") if target.endpoint.replay is not None else None
        )
        """The call's response cache (the innermost scope's, else ``configure()``'s); ``None`` or
        ``False``: none, or an endpoint whose answers are never cached."""
        self.cache_plan: response_cache.Plan | None = None
        self._replayed_plan: response_cache.Plan | None = None
        """The response cache's keys for this call, when its answer is to be stored."""
        self.cache_lookup: response_cache.Lookup | None = None
        self._cached_model: Any = None
        self._answer: dict[str, Any] | None = None
        self._answer_stream: Any = None
        self._done = False

    # -- context -----------------------------------------------------------------------------
    def activate(self) -> tuple[Token[Call | None], object]:
        """Make this call current while its SDK method runs (parent span of the SDK's HTTP spans)."""
        return _ACTIVE.set(self), otel_context.attach(trace.set_span_in_context(self.span))

    @staticmethod
    def deactivate(tokens: tuple[Token[Call | None], object]) -> None:
        otel_context.detach(tokens[1])  # type: ignore[arg-type]
        _ACTIVE.reset(tokens[0])

    # -- attempts ----------------------------------------------------------------------------
    def attempts(self, kwargs: dict[str, Any], look_up: bool = False) -> Generator[Step, Any, Any]:
        """A call's steps: the response cache first (``look_up``), then the attempt loop. Yields steps
        for a driver; returns the SDK's value (or the cache's, :attr:`from_cache`) or raises its error."""
        if look_up and self.response_cache:
            hit = yield LookUp(kwargs)
            if hit is not None:
                value, served = yield Replay(hit, kwargs)
                if served:
                    return value
                self.replay_failed()
        overloads = 0
        while True:
            held, kwargs = (yield from self._reserve(kwargs)) if self.guard else (None, kwargs)
            self.attempts_made += 1
            self.sent_model = kwargs.get("model", self.request.model)
            value, error = yield Send(kwargs)
            if error is None:
                self.held = held
                if self.footprint is not None:
                    self.answered_at = self.runtime.clock()
                return value
            failure = classify(error)
            self._settle_failed(held, error)
            delay = None
            if self.retry is not None:
                delay = self.retry.next_delay(
                    failure, self.attempts_made, time.perf_counter() - self.started_at
                )
            self._note_attempt(failure, delay)
            if delay is None:
                self.fail(error)
                raise error
            overloads = overloads + 1 if failure.overloaded else 0
            kwargs = self._maybe_fall_back(kwargs, overloads)
            yield Sleep(delay)

    def _reserve(
        self, kwargs: dict[str, Any]
    ) -> Generator[Step, Any, tuple[Reservations | None, dict[str, Any]]]:
        """Reserve the worst case of an attempt: a :class:`Reserve` step, which the driver makes
        with :meth:`reserve` (off the event loop when a budget's store does I/O) and which throws a
        refusal back in here. Returns the reservation and the arguments to send."""
        try:
            held, to_send = yield Reserve(kwargs)
        except BudgetExceededError as refusal:
            self.refuse(refusal)
            raise
        return held, to_send

    def reserve(self, kwargs: dict[str, Any]) -> tuple[Reservations, dict[str, Any]]:
        """Reserve one attempt's worst case in every budget of the call; returns the reservation and the
        arguments to send. ``on_exceed="downgrade"``: a call that does not fit moves to the cheapest
        configured model that does (reading the budgets as it looks). Raises the refusal otherwise."""
        endpoint = self.target.endpoint
        try:
            return self.guard.reserve(endpoint, kwargs.get("model"), kwargs), kwargs
        except BudgetExceededError as refusal:
            cheaper = self._downgrade(refusal, kwargs)
            if cheaper is None:
                raise
        kwargs = {**kwargs, "model": cheaper}
        self.span.set_attribute("costaware.budget.downgraded_to", cheaper)
        return self.guard.reserve(endpoint, cheaper, kwargs), kwargs

    def unreserve(self, reserved: tuple[Reservations, dict[str, Any]]) -> None:
        """Release what :meth:`reserve` made for an attempt that will never be sent (its task was
        cancelled while the reservation was being made on the budget worker)."""
        self.guard.release(reserved[0])

    def _downgrade(self, refusal: BudgetExceededError, kwargs: dict[str, Any]) -> str | None:
        if getattr(refusal, "on_exceed", None) != "downgrade":
            return None
        from costaware.steps import routing

        try:
            cheaper = routing.downgrade_model(self, kwargs)
        except Exception:
            internal_error("choosing a cheaper model")
            return None
        return cheaper if cheaper != kwargs.get("model") else None

    def escalate(self, value: Any, current: str, following: str, reason: str) -> None:
        """A cascade rejected ``value``: charge it (it was paid for) and note the escalation."""
        try:
            result = self.target.endpoint.read_response(value)
            cost = self.runtime.price(self.request, result, None)
            if self.held is not None:
                self.guard.settle(self.held, cost, self._charge())
                self.held = None
            paid = cost.total if cost.total is not None else ZERO
            self.cascade_cost += paid
            self.escalations += 1
            self.span.add_event(
                "costaware.cascade.escalated",
                {
                    "costaware.cascade.from": current,
                    "costaware.cascade.to": following,
                    "costaware.cascade.reason": reason,
                    "costaware.cascade.cost_usd": float(paid),
                },
            )
        except Exception:
            internal_error("recording a cascade escalation")

    def _settle_failed(self, held: Reservations | None, error: BaseException) -> None:
        if held is None:
            return
        try:
            if not _was_sent(error, self.target.endpoint.not_sent_errors):
                self.guard.release(held)
                return
            cost = NOT_BILLED if http_status(error) is not None else UNPRICED
            self.guard.settle(held, cost, self._charge())
            if cost.total is None:
                self.failed_attempts_cost += held.amount
        except Exception:
            internal_error("settling a failed attempt")

    def _note_attempt(self, failure: Failure, delay: float | None) -> None:
        try:
            attributes: dict[str, Any] = {
                "costaware.attempt": self.attempts_made,
                "error.type": failure.error_type,
                "costaware.retry.transient": failure.transient,
                "costaware.retry.will_retry": delay is not None,
            }
            if delay is not None:
                attributes["costaware.retry.delay_s"] = delay
                self.retried.append(failure.error_type)
            self.span.add_event("costaware.attempt_failed", attributes)
        except Exception:
            internal_error("recording an attempt")

    def _maybe_fall_back(self, kwargs: dict[str, Any], overloads: int) -> dict[str, Any]:
        retry = self.retry
        if retry is None or retry.fallback is None or overloads < retry.fallback_after:
            return kwargs
        if kwargs.get("model") != retry.fallback:
            self.span.add_event("costaware.fallback", {"costaware.fallback.model": retry.fallback})
            return {**kwargs, "model": retry.fallback}
        return kwargs

    def sender(self, wrapped: Any, instance: Any) -> Any:
        """The function that sends one attempt: the SDK's own, with its retries off if we drive them."""
        if self.retry is None:
            return wrapped
        return rebind(wrapped, self.runtime.without_sdk_retries(self.target, instance))

    # -- response cache ----------------------------------------------------------------------
    def consult_cache(self, kwargs: dict[str, Any]) -> response_cache.Hit | None:
        """The response cache's answer to this request, if it has one (and the keys to store the
        answer under when it has not)."""
        try:
            plan = self._cache_plan(kwargs)
            if plan is None:
                return None
            return self._looked_up(plan, response_cache.look_up(plan))
        except Exception:
            internal_error("looking up the response cache")
            return None

    async def consult_cache_async(self, kwargs: dict[str, Any]) -> response_cache.Hit | None:
        """:meth:`consult_cache` from async code: a store or embedder that does I/O is asked from a
        worker thread, not the event loop."""
        try:
            plan = self._cache_plan(kwargs)
            if plan is None:
                return None
            if plan.cache.local:
                lookup = response_cache.look_up(plan)
            else:
                import asyncio

                lookup = await asyncio.to_thread(response_cache.look_up, plan)
            return self._looked_up(plan, lookup)
        except Exception:
            internal_error("looking up the response cache")
            return None

    def _cache_plan(self, kwargs: dict[str, Any]) -> response_cache.Plan | None:
        cache = self.response_cache
        if not cache:  # off (cache=False), or an endpoint never cached
            return None
        arguments, tenant = _invocation_of(self.scope, cache)
        try:
            namespace = cache.namespace_for(arguments, tenant)
        except Exception as exc:  # the caller's namespace function failed: no cache, rather than a wrong one
            cache.warn_once(
                "namespace", f"its namespace function failed ({exc!r}): those calls are not cached"
            )
            self.cache_lookup = response_cache.Lookup("skipped", skipped="namespace_error")
            return None
        if namespace is None:  # the namespace function's way of saying "not this call"
            self.cache_lookup = response_cache.Lookup("skipped", skipped="no_namespace")
            return None
        target = self.target
        family = response_cache.family_of(
            f"{target.endpoint.provider}.{target.resource_path}",
            str(getattr(self.client, "base_url", "")),  # answers from one server never answer another's
            kwargs.get("extra_headers"),
        )
        plan = response_cache.plan(cache, target.endpoint, family, kwargs, namespace)
        if isinstance(plan, response_cache.Lookup):
            self.cache_lookup = plan
            return None
        self._cached_model = kwargs.get("model")
        return plan

    def _looked_up(
        self, plan: response_cache.Plan, lookup: response_cache.Lookup
    ) -> response_cache.Hit | None:
        self.cache_lookup = lookup
        if lookup.hit is None:
            self.cache_plan = plan
        else:
            self._replayed_plan = plan
        return lookup.hit

    def replay(
        self, hit: response_cache.Hit, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Answer from the cache: ``send`` (the SDK's method on a replaying client) gets the stored
        answer as its HTTP response, so the caller receives the SDK's own objects."""
        token = response_cache.REPLAY.set(self._replay_body(hit, kwargs))
        tokens = self.activate()
        try:
            return send(*args, **kwargs)
        finally:
            self.deactivate(tokens)
            response_cache.REPLAY.reset(token)

    async def replay_async(
        self, hit: response_cache.Hit, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        token = response_cache.REPLAY.set(self._replay_body(hit, kwargs))
        tokens = self.activate()
        try:
            return await send(*args, **kwargs)
        finally:
            self.deactivate(tokens)
            response_cache.REPLAY.reset(token)

    def _replay_body(self, hit: response_cache.Hit, kwargs: dict[str, Any]) -> tuple[str, bytes]:
        replay = self.target.endpoint.replay
        assert replay is not None  # a hit needs a plan, which needs the endpoint's replay
        return replay.replay_body(hit.final, self.request.stream, kwargs)

    @property
    def from_cache(self) -> bool:
        """Whether the call was answered from the response cache."""
        lookup = self.cache_lookup
        return lookup is not None and lookup.hit is not None

    def replay_failed(self) -> None:
        """The cached answer could not be served (an internal error, logged): the provider answers
        instead, and this call is priced, charged and stored as the miss it now is."""
        lookup = self.cache_lookup
        if lookup is not None:
            self.cache_lookup = dataclasses.replace(lookup, result="error", hit=None)
            self.cache_plan = self._replayed_plan

    def replayer(self, wrapped: Any, instance: Any) -> Any:
        """The SDK's method bound to a copy of the caller's client that answers from the cache."""
        if getattr(wrapped, "__func__", None) is None:  # sent as is, it would reach the provider
            raise TypeError(f"cannot answer {wrapped!r} from the cache: not a bound method")
        return rebind(wrapped, self.runtime.replaying(self.target, instance))

    def keep_answer(self, value: Any) -> None:
        """Note a whole answer (a non-streamed response) for the response cache."""
        replay = self.target.endpoint.replay
        if self.cache_plan is not None and replay is not None:
            try:
                self._answer = replay.final_of(value)
            except Exception:
                internal_error("reading an answer for the response cache")

    def _store_answer(
        self, error: BaseException | None, cost: Cost, stream_end: StreamEnd | None
    ) -> int | None:
        """Keep this call's answer in the response cache: only a whole answer (a stream read to its
        end), from the model the request was keyed on (not a fallback or a cascade's later hop)."""
        plan = self.cache_plan
        if plan is None or error is not None or self.escalations or self.sent_model != self._cached_model:
            return None
        answer = self._answer
        if answer is None and self._answer_stream is not None and stream_end == "completed":
            answer = self._answer_stream.final()
        if answer is None:
            return None
        if self.target.is_async and not plan.cache.local:
            response_cache.store_later(plan, answer, cost.total)
            return 0
        return response_cache.store(plan, answer, cost.total)

    # -- endings -----------------------------------------------------------------------------
    def _claim(self) -> bool:
        with _CLAIM_LOCK:  # held for two lines: one lock for all calls costs less than one per call
            if self._done:
                return False
            self._done = True
            return True

    @property
    def done(self) -> bool:
        return self._done

    def finish(self, result: CallResult, stream_end: StreamEnd | None = None) -> None:
        if self._claim():
            try:
                self._complete(result, None, stream_end)
            except Exception:
                internal_error("recording a call")

    def fail(self, error: BaseException, stream_end: StreamEnd | None = None) -> None:
        if self._claim():
            try:
                partial = self.accumulator.result() if self.accumulator is not None else CallResult()
                self._complete(partial, error, stream_end)
            except Exception:
                internal_error("recording a failed call")

    def refuse(self, refusal: BudgetExceededError) -> None:
        """End the call refused by a budget: nothing was sent."""
        if self.default_cap is not None and refusal.args and not getattr(refusal, "_cap_noted", False):
            refusal._cap_noted = True  # type: ignore[attr-defined]
            refusal.args = (
                f"{refusal.args[0]}; the call set no output cap, so its worst case assumed "
                f"{self.default_cap:,} output tokens (costaware's cap for calls under a budget): give "
                "the call max_tokens, or configure(budget_max_output_tokens=...), to lower it",
                *refusal.args[1:],
            )
        if self._claim():
            try:
                self.span.set_attribute("costaware.budget.refused", True)
                self.span.set_attribute("costaware.budget.key", refusal.key)
                self._complete(CallResult(), refusal, None, sent=False, refused_by=refusal.key)
            except Exception:
                internal_error("recording a refused call")

    def finish_stream(self, stream_end: StreamEnd) -> None:
        """End a streamed call with what its stream delivered so far (partial usage included)."""
        if self._done:
            return
        try:
            result = self.accumulator.result() if self.accumulator is not None else CallResult()
        except Exception:
            internal_error("reading a stream's usage")
            result = CallResult()
        self.finish(result, stream_end)

    def _charge(self) -> Charge:
        spec = self.scope.spec if self.scope is not None else None
        return Charge(
            budget_key="",
            amount=ZERO,
            provider=self.request.provider,
            model=self.sent_model or "",
            feature=(spec.feature or "") if spec else "",
            tenant=(spec.tenant or "") if spec else "",
            at=datetime.now(timezone.utc),
        )

    def _complete(
        self,
        result: CallResult,
        error: BaseException | None,
        stream_end: StreamEnd | None,
        sent: bool = True,
        refused_by: str | None = None,
    ) -> None:
        """Price the call, settle its budget, record it in its scopes, then hand it to telemetry."""
        end = time.perf_counter()
        cost = self._settled_cost(result, error, sent)
        unknown = cost.total is None and result.usage is None  # not a response-cache hit ($0)
        if unknown and sent and error is None and stream_end in (None, "completed"):
            self.runtime.warn_no_usage(self.request, self.target.endpoint.no_usage_hint)
        overhead = self.failed_attempts_cost + self.cascade_cost
        total_cost = _plus(cost, overhead)
        if self.scope is not None and sent:
            self._record_in_scope(result, total_cost)
        lookup = self.cache_lookup
        if self.answered_at is not None and error is None and stream_end != "abandoned":
            self._remember_answer(self.answered_at)
        saved = None
        if lookup is not None and lookup.hit is not None:
            saved = Savings(baseline=lookup.hit.cost or ZERO, response_cache=lookup.hit.cost or ZERO)
        elif sent and (self.requested_model != cost.priced_model or overhead or _has_cache(result)):
            saved = savings(
                self.runtime, self.request.provider, self.requested_model, result.usage, cost, overhead
            )
        if self.cache_plan is not None and lookup is not None:
            evicted = self._store_answer(error, cost, stream_end)  # what the answer itself cost
            if evicted is not None:
                lookup = dataclasses.replace(lookup, stored=True, evicted=evicted)
        first = self.first_chunk_at
        outcome = CallOutcome(
            request=self.request,
            result=result,
            cost=total_cost,
            duration_s=end - self.started_at,
            error_type=classify(error).error_type if error is not None else None,
            time_to_first_chunk_s=(first - self.started_at) if first is not None else None,
            stream_end=stream_end,
            attempts=self.attempts_made,
            extra_attributes=self._extra_attributes(),
            savings=saved,
            sent=sent,
            feature=self.scope.spec.feature if self.scope is not None else None,
            tenant=self.scope.spec.tenant if self.scope is not None else None,
            response_cache=lookup,
            route=self.route,
            retried=tuple(self.retried),
            cascade_checks=tuple(self.cascade_checks),
            refused_by=refused_by,
        )
        telemetry = self.runtime.telemetry
        telemetry.end(self.span, outcome)
        if self.guard:
            telemetry.record_budgets(outcome, self.guard.ledgers)

    def _remember_answer(self, at: float) -> None:
        """Routing's memory: the sent model now holds this request's prompt in its cache (not for a
        stream collected unread: that ending runs in a finaliser, where no lock may be waited for)."""
        try:
            self.runtime.affinity.remember(self.footprint, self.sent_model or "", at)
        except Exception:
            internal_error("remembering which model answered")

    def _settled_cost(self, result: CallResult, error: BaseException | None, sent: bool) -> Cost:
        """The last attempt's cost, settled in the budgets (an unknown cost is charged its reservation)."""
        lookup = self.cache_lookup
        if lookup is not None and lookup.hit is not None and error is None:
            return FROM_CACHE  # nothing was sent, whatever the stored answer's usage says
        cost = NOT_SENT if not sent else self.runtime.price(self.request, result, error)
        if self.held is not None:
            self.guard.settle(self.held, cost, self._charge())
            if cost.total is None:
                cost = Cost(total=None, source=cost.source)
        return cost

    def _record_in_scope(self, result: CallResult, cost: Cost) -> None:
        spec = self.scope.spec  # type: ignore[union-attr]
        self.scope.record(  # type: ignore[union-attr]
            CostRecord(
                provider=self.request.provider,
                model=result.response_model or self.sent_model,
                usage=result.usage,
                cost=cost,
                attempts=self.attempts_made,
                feature=spec.feature,
                tenant=spec.tenant,
            )
        )

    def _extra_attributes(self) -> tuple[tuple[str, Any], ...]:
        """Span attributes only some calls have: retries, a model other than asked, escalations."""
        extra: list[tuple[str, Any]] = []
        if self.attempts_made > 1:
            extra.append(("costaware.attempts", self.attempts_made))
        if self.sent_model != self.request.model and self.sent_model is not None:
            extra.append(("costaware.model.sent", self.sent_model))
        if self.escalations:
            extra.append(("costaware.cascade.escalations", self.escalations))
            extra.append(("costaware.cascade.overhead_usd", float(self.cascade_cost)))
        return tuple(extra)

    def note_first_chunk(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    # -- results -----------------------------------------------------------------------------
    def observe(self, value: Any) -> Any:
        """Record a returned value: a model now, a stream as it is read; a raw response now when its
        body is already read (``with_raw_response``), else when the caller parses it.

        Returns what the caller gets: ``value`` itself, or a transparent proxy of a stream or of a
        raw response whose body is still to be read (the only way to see its usage).
        """
        try:
            kind = streams.kind_of(value)
            if kind is streams.STREAM:
                return self.attach_stream(value)
            if kind is streams.RAW:
                if not self._body_is_read(value):
                    return streams.wrap_raw_response(value, self)
                try:
                    parsed = value.parse()
                except Exception:  # the caller's own parse() raises the same: the call is unpriced
                    parsed = None
                self._finish_parsed(parsed)
                return value
            self.keep_answer(value)
            self.finish(self.target.endpoint.read_response(value, self.runtime.telemetry.capture_content))
        except Exception:
            internal_error("reading a response")
        return value

    async def observe_async(self, value: Any) -> Any:
        """:meth:`observe` for async clients, whose raw responses parse with ``await``."""
        if streams.kind_of(value) is not streams.RAW or not self._body_is_read(value):
            return self.observe(value)
        try:
            parsed = await value.parse()
        except Exception:
            parsed = None
        try:
            self._finish_parsed(parsed)
        except Exception:
            internal_error("reading a response")
        return value

    def _body_is_read(self, raw: Any) -> bool:
        """A raw response to a non-streamed request whose body is already in memory
        (``with_raw_response``) is parsed here and handed back as the SDK's own object; the SDK
        caches ``parse()``, so the caller's own call returns the same parsed object. A body still to
        be read (``with_streaming_response``, streamed requests) is wrapped instead."""
        if self.request.stream:
            return False
        try:
            raw.http_response.content  # noqa: B018 -- httpx raises ResponseNotRead when unread
        except Exception:
            return False
        return True

    def _finish_parsed(self, parsed: Any) -> None:
        if parsed is None:  # a body the SDK cannot parse: no usage, the call is unpriced
            self.finish(CallResult())
        else:
            self.keep_answer(parsed)
            self.finish(self.target.endpoint.read_response(parsed, self.runtime.telemetry.capture_content))

    def attach_stream(self, stream: Any) -> Any:
        self.stream_attached = True
        self.accumulator = self.target.endpoint.new_accumulator(self.runtime.telemetry.capture_content)
        replay = self.target.endpoint.replay
        if self.cache_plan is not None and replay is not None:
            self._answer_stream = replay.new_final_accumulator()
            self.accumulator = _BothAccumulators(self.accumulator, self._answer_stream)
        return streams.wrap_stream(stream, self)


class _BothAccumulators:
    """Feeds a stream's events to the usage accumulator and to the response cache's answer builder."""

    __slots__ = ("_answer", "_usage")

    def __init__(self, usage: StreamAccumulator, answer: Any) -> None:
        self._usage, self._answer = usage, answer

    def add(self, event: Any) -> None:
        self._usage.add(event)
        self._answer.add(event)

    def result(self) -> CallResult:
        return self._usage.result()


def _invocation_of(scope: Scope | None, cache: Any) -> tuple[Any, str | None]:
    """The arguments of the invocation whose scope set ``cache`` (for a namespace callable) and the
    nearest tenant."""
    arguments = None
    tenant = None
    while scope is not None:
        if arguments is None and scope.spec.response_cache is cache:
            arguments = scope.arguments
        if tenant is None:
            tenant = scope.spec.tenant
        scope = scope.parent
    return arguments, tenant


def open_call(
    runtime: Runtime, target: PatchTarget, instance: Any, prepared: Prepared, scope: Scope | None
) -> Call | None:
    """Open a call, or ``None`` if that fails (the caller then sends the request uninstrumented)."""
    try:
        kwargs = prepared.kwargs
        client = target.endpoint.client_of(instance)
        request = request_of(target, kwargs, client)
        prompt = None
        if runtime.telemetry.capture_content and target.endpoint.read_input is not None:
            prompt = target.endpoint.read_input(kwargs)
        span = runtime.telemetry.start(request, prompt, prepared.attributes)
        call = Call(runtime, target, request, span, scope, runtime.guard(scope), runtime.retry_policy(scope))
        call.requested_model = prepared.requested_model
        call.route = prepared.decision
        call.footprint = prepared.footprint
        call.client = client
        call.cascade = prepared.cascade
        call.default_cap = prepared.default_cap
        return call
    except Exception:
        internal_error("starting a call")
        return None


def rebind(method: Any, resource: Any) -> Any:
    """``method`` (a bound SDK method) bound to another resource instead (anything else: unchanged)."""
    function = getattr(method, "__func__", None)
    return function.__get__(resource) if function is not None else method
