"""The one place that orders the steps of an LLM call.

For every patched SDK method: read the request -> start the span -> send (the SDK's own method) ->
read usage (now, or from the stream as the caller reads it) -> price -> emit telemetry, exactly once.
Sync and async wrappers drive the same :class:`Call`.

Later steps (routing, budgets, retries, cache breakpoints) slot in between "read the request" and
"send"; nothing else in the package decides the order.
"""

from __future__ import annotations

import logging
import threading
import time
from contextvars import ContextVar, Token
from decimal import Decimal
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from costaware.config import Settings, internal_error
from costaware.core.pricing import PriceBook
from costaware.core.types import UNPRICED, CallOutcome, CallRequest, CallResult, Cost, StreamEnd
from costaware.providers.base import PatchTarget, StreamAccumulator, request_of
from costaware.telemetry import Telemetry

log = logging.getLogger("costaware")

_ACTIVE: ContextVar[Call | None] = ContextVar("costaware_active_call", default=None)
"""The call whose SDK method is running in this context: a patched method reached from inside it
(an SDK helper calling ``create``) is part of that call, not a new one."""

_SUPPRESS_KEY = otel_context._SUPPRESS_INSTRUMENTATION_KEY

# An HTTP error response is not billed; a call that failed without one may or may not have been.
_NOT_BILLED = Cost(total=Decimal(0), source="not-billed")


def is_suppressed() -> bool:
    return bool(otel_context.get_value(_SUPPRESS_KEY))


def active_call() -> Call | None:
    return _ACTIVE.get()


class Runtime:
    """The configured machinery the wrappers use: telemetry, prices, settings."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.telemetry = Telemetry(
            tracer_provider=settings.tracer_provider,
            meter_provider=settings.meter_provider,
            capture_content=settings.capture_content,
        )
        self.prices = PriceBook(overrides=settings.prices)
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()

    def begin(self, target: PatchTarget, instance: Any, kwargs: dict[str, Any]) -> Call | None:
        """Open a call, or ``None`` if that fails (the caller then sends the request uninstrumented)."""
        try:
            request = request_of(target, kwargs, getattr(instance, "_client", None))
            prompt = None
            if self.telemetry.capture_content and target.endpoint.read_input is not None:
                prompt = target.endpoint.read_input(kwargs)
            span = self.telemetry.start(request, prompt)
            return Call(self, target, request, span)
        except Exception:
            internal_error("starting a call")
            return None

    def complete(
        self,
        call: Call,
        result: CallResult,
        error: BaseException | None,
        stream_end: StreamEnd | None,
    ) -> None:
        end = time.perf_counter()
        request = call.request
        cost = self._price(request, result, error)
        first = call.first_chunk_at
        outcome = CallOutcome(
            request=request,
            result=result,
            cost=cost,
            duration_s=end - call.started_at,
            error_type=_error_type(error) if error is not None else None,
            time_to_first_chunk_s=(first - call.started_at) if first is not None else None,
            stream_end=stream_end,
        )
        self.telemetry.end(call.span, outcome)

    def _price(self, request: CallRequest, result: CallResult, error: BaseException | None) -> Cost:
        if result.usage is None:
            if error is not None and isinstance(getattr(error, "status_code", None), int):
                return _NOT_BILLED
            return UNPRICED
        cost = self.prices.cost(
            request.provider,
            result.usage,
            response_model=result.response_model,
            request_model=request.model,
            batch=request.batch,
        )
        if cost.total is None:
            self._warn_unpriced(result.response_model or request.model or "<no model>")
        return cost

    def _warn_unpriced(self, model: str) -> None:
        with self._warn_lock:
            if model in self._warned:
                return
            self._warned.add(model)
        log.warning(
            "costaware: no price known for model %r; its calls are recorded as unpriced "
            "(add one with costaware.configure(prices={...}) or COSTAWARE_PRICES)",
            model,
        )


def _error_type(error: BaseException) -> str:
    status = getattr(error, "status_code", None)
    if isinstance(status, int):
        return str(status)
    return type(error).__qualname__


class Call:
    """One in-flight LLM call. Finishes exactly once, whichever way it ends."""

    __slots__ = (
        "_done",
        "_lock",
        "accumulator",
        "first_chunk_at",
        "request",
        "runtime",
        "span",
        "started_at",
        "stream_attached",
        "target",
    )

    def __init__(self, runtime: Runtime, target: PatchTarget, request: CallRequest, span: Any) -> None:
        self.runtime = runtime
        self.target = target
        self.request = request
        self.span = span
        self.started_at = time.perf_counter()
        self.first_chunk_at: float | None = None
        self.accumulator: StreamAccumulator | None = None
        self.stream_attached = False
        self._done = False
        self._lock = threading.Lock()

    # -- context -----------------------------------------------------------------------------
    def activate(self) -> tuple[Token[Call | None], object]:
        """Make this call current while its SDK method runs (parent span of the SDK's HTTP spans)."""
        return _ACTIVE.set(self), otel_context.attach(trace.set_span_in_context(self.span))

    @staticmethod
    def deactivate(tokens: tuple[Token[Call | None], object]) -> None:
        otel_context.detach(tokens[1])  # type: ignore[arg-type]
        _ACTIVE.reset(tokens[0])

    # -- endings -----------------------------------------------------------------------------
    def _claim(self) -> bool:
        with self._lock:
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
                self.runtime.complete(self, result, None, stream_end)
            except Exception:
                internal_error("recording a call")

    def fail(self, error: BaseException, stream_end: StreamEnd | None = None) -> None:
        if self._claim():
            try:
                partial = self.accumulator.result() if self.accumulator is not None else CallResult()
                self.runtime.complete(self, partial, error, stream_end)
            except Exception:
                internal_error("recording a failed call")

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

    def note_first_chunk(self) -> None:
        if self.first_chunk_at is None:
            self.first_chunk_at = time.perf_counter()

    # -- results -----------------------------------------------------------------------------
    def observe(self, value: Any) -> Any:
        """Record a returned value: a model now, a stream as it is read, a raw response when parsed.

        Returns what the caller gets: ``value`` itself, or a transparent proxy of it.
        """
        from costaware import streams

        try:
            if _is_stream(value):
                return self.attach_stream(value)
            if hasattr(value, "http_response") and hasattr(value, "parse"):
                return streams.wrap_raw_response(value, self)
            self.finish(self.target.endpoint.read_response(value))
        except Exception:
            internal_error("reading a response")
        return value

    def attach_stream(self, stream: Any) -> Any:
        from costaware import streams

        self.stream_attached = True
        self.accumulator = self.target.endpoint.new_accumulator(self.runtime.telemetry.capture_content)
        return streams.wrap_stream(stream, self)


def _pass_through_nested(call: Call, value: Any) -> Any:
    """A patched method reached from inside ``call`` (an SDK helper calling ``create``): the stream it
    returns feeds ``call`` when ``call`` is a stream helper still waiting for its stream."""
    waiting = call.target.kind == "stream_helper" and not call.stream_attached and not call.done
    if waiting and _is_stream(value):
        return call.attach_stream(value)
    return value


def _is_stream(value: Any) -> bool:
    """Streams are recognised by behaviour, not class (another instrumentor may have proxied them)."""
    return hasattr(value, "__next__") or hasattr(value, "__anext__")


def make_wrapper(target: PatchTarget, runtime_of: Any) -> Any:
    """The ``wrapt`` wrapper for ``target``; ``runtime_of()`` gives the current :class:`Runtime`."""
    if target.kind == "stream_helper":
        from costaware import streams

        return streams.make_helper_wrapper(target, runtime_of)
    if target.is_async:

        async def async_wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            runtime = runtime_of()
            if runtime is None or is_suppressed():
                return await wrapped(*args, **kwargs)
            outer = _ACTIVE.get()
            if outer is not None:
                return _pass_through_nested(outer, await wrapped(*args, **kwargs))
            call = runtime.begin(target, instance, kwargs)
            if call is None:
                return await wrapped(*args, **kwargs)
            tokens = call.activate()
            try:
                value = await wrapped(*args, **kwargs)
            except BaseException as exc:
                call.deactivate(tokens)
                call.fail(exc)
                raise
            call.deactivate(tokens)
            return call.observe(value)

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        runtime = runtime_of()
        if runtime is None or is_suppressed():
            return wrapped(*args, **kwargs)
        outer = _ACTIVE.get()
        if outer is not None:
            return _pass_through_nested(outer, wrapped(*args, **kwargs))
        call = runtime.begin(target, instance, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        tokens = call.activate()
        try:
            value = wrapped(*args, **kwargs)
        except BaseException as exc:
            call.deactivate(tokens)
            call.fail(exc)
            raise
        call.deactivate(tokens)
        return call.observe(value)

    return wrapper
