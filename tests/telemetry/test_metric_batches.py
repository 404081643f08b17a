"""Histogram points are queued and recorded in batches: nothing is lost, late or mislinked for a reader.

Through the real anthropic client against the simulator, into the real OpenTelemetry SDK.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    InMemoryMetricReader,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
)

import costaware
from conftest import Telemetry
from costaware import config
from costaware.telemetry.metrics import BATCH_POINTS, Batched, instruments_for

DURATION = "gen_ai.client.operation.duration"
TOKENS = "gen_ai.client.token.usage"


def _alongside(background: Callable[[], None], workers: list[Callable[[], None]]) -> list[BaseException]:
    """Run ``workers`` in threads while ``background()`` runs in a loop in another; returns what the
    workers raised (a thread's failure must fail the test)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        while not stop.is_set():
            background()

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:
                errors.append(exc)

        return run

    looping = threading.Thread(target=loop)
    threads = [threading.Thread(target=guarded(work)) for work in workers]
    looping.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    looping.join()
    return errors


def _ask(client: Any, text: str = "What is a budget?") -> Any:
    return client.messages.create(
        model="claude-haiku-4-5", max_tokens=50, messages=[{"role": "user", "content": text}]
    )


def test_a_reader_gets_points_still_queued(anthropic_client: Any, telemetry: Telemetry) -> None:
    message = _ask(anthropic_client)
    queued = instruments_for(config.current_settings().meter_provider).pending
    assert len(queued) == 4  # duration, input and output tokens, cost: fewer than a batch, still queued
    assert telemetry.histogram_count(DURATION) == 1
    assert telemetry.histogram_sum(TOKENS, gen_ai__token__type="output") == message.usage.output_tokens
    assert len(queued) == 0
    telemetry.reader.get_metrics_data()  # collecting again adds nothing
    assert telemetry.histogram_count(DURATION) == 1


def test_a_full_batch_is_recorded_without_a_reader(anthropic_client: Any, telemetry: Telemetry) -> None:
    queued = instruments_for(config.current_settings().meter_provider).pending
    calls = BATCH_POINTS // 4  # 4 points a call
    for _ in range(calls - 1):
        _ask(anthropic_client)
    assert len(queued) == BATCH_POINTS - 4
    _ask(anthropic_client)
    assert len(queued) == 0
    assert telemetry.histogram_count(DURATION) == calls


def test_counts_survive_a_reconfiguration(anthropic_client: Any, telemetry: Telemetry) -> None:
    """A new runtime on the same meter provider reports through the same instruments (the SDK would
    hand a second registration the first one's callbacks, so its counts would never be read)."""
    _ask(anthropic_client)
    costaware.configure(retries=0)
    _ask(anthropic_client)
    assert telemetry.counter_value("costaware.calls") == 2
    assert telemetry.histogram_count(DURATION) == 2


def _exemplar_spans(telemetry: Telemetry, *names: str) -> list[set[tuple[int, int]]]:
    """(trace id, span id) of every exemplar on each metric's points, from one collection (a
    collection hands the exemplars over: the next one starts without them)."""
    data = telemetry.reader.get_metrics_data()
    metrics = [m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics]
    return [
        {
            (e.trace_id, e.span_id)
            for m in metrics
            if m.name == name
            for p in m.data.data_points
            for e in p.exemplars
        }
        for name in names
    ]


def test_exemplars_link_the_call_inside_the_trace_it_was_made_in(
    anthropic_client: Any, telemetry: Telemetry
) -> None:
    tracer = config.current_settings().tracer_provider.get_tracer("the-app")
    with tracer.start_as_current_span("handle request") as parent:
        _ask(anthropic_client)
    (call,) = telemetry.call_spans()
    assert call.context is not None and call.parent is not None
    assert call.context.trace_id == parent.get_span_context().trace_id
    expected = {(call.context.trace_id, call.context.span_id)}
    assert _exemplar_spans(telemetry, DURATION, "costaware.call.cost") == [expected] * 2


def test_a_call_outside_any_span_links_its_own_trace(anthropic_client: Any, telemetry: Telemetry) -> None:
    """An application with no tracing of its own (``import costaware.auto`` in a script) still gets
    a link from a costly or slow call's point to that call's trace."""
    _ask(anthropic_client)
    (call,) = telemetry.call_spans()
    assert call.context is not None and call.parent is None
    expected = {(call.context.trace_id, call.context.span_id)}
    assert _exemplar_spans(telemetry, DURATION, "costaware.call.cost", TOKENS) == [expected] * 3


def test_a_call_inside_a_scope_links_its_own_span_not_the_scope(
    anthropic_client: Any, telemetry: Telemetry
) -> None:
    costaware.cost_aware(name="job")(_ask)(anthropic_client)
    (call,) = telemetry.call_spans()
    scope = telemetry.span_named("costaware.scope job")
    assert call.context is not None and call.parent is not None
    assert call.parent.span_id == scope.context.span_id  # type: ignore[union-attr]
    assert _exemplar_spans(telemetry, DURATION) == [{(call.context.trace_id, call.context.span_id)}]


def test_threads_and_a_collecting_reader_lose_no_point(anthropic_client: Any, telemetry: Telemetry) -> None:
    threads, calls = 6, 25

    def work() -> None:
        for i in range(calls):
            _ask(anthropic_client, f"Question {i}?")

    errors = _alongside(lambda: telemetry.reader.get_metrics_data(), [work] * threads)
    assert errors == []
    spans = telemetry.call_spans()
    assert len(spans) == threads * calls
    assert telemetry.histogram_count(DURATION) == threads * calls
    expected_output = sum(s.attributes["gen_ai.usage.output_tokens"] for s in spans)  # type: ignore[index, misc]
    assert telemetry.histogram_sum(TOKENS, gen_ai__token__type="output") == expected_output


def test_concurrent_flushes_record_every_point_once() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    histogram = provider.get_meter("test").create_histogram("h")
    batched = Batched(7)
    threads, points = 4, 5000

    def recording(offset: int) -> Callable[[], None]:
        def record() -> None:
            for i in range(points):
                batched.record(histogram, offset * points + i, {"k": "v"})

        return record

    assert _alongside(batched.flush, [recording(n) for n in range(threads)]) == []
    batched.flush()
    data = reader.get_metrics_data()
    assert data is not None
    (point,) = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    total = threads * points
    assert point.count == total
    assert point.sum == total * (total - 1) // 2  # every value 0 .. total-1 exactly once
    provider.shutdown()


class _Kept(MetricExporter):
    """A metric exporter that keeps what it is given (the test reads it)."""

    def __init__(self) -> None:
        super().__init__()
        self.exported: list[MetricsData] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        self.exported.append(metrics_data)
        return MetricExportResult.SUCCESS

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass


def _counts(exported: Sequence[MetricsData], name: str) -> int:
    return sum(
        point.count
        for data in exported
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == name
        for point in metric.data.data_points
    )


def test_points_queued_at_shutdown_are_exported(anthropic_client: Any, telemetry: Telemetry) -> None:
    exporter = _Kept()
    provider = MeterProvider(
        metric_readers=[PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)]
    )
    costaware.configure(meter_provider=provider)
    _ask(anthropic_client)
    _ask(anthropic_client)
    assert _counts(exporter.exported, DURATION) == 0  # nothing exported yet: the interval is an hour
    provider.shutdown()  # the reader's last collection
    assert _counts(exporter.exported, DURATION) == 2


def test_a_meter_provider_without_weak_references_is_supported(
    anthropic_client: Any, telemetry: Telemetry
) -> None:
    class Slotted:
        """A meter provider that delegates to the SDK's and cannot be weakly referenced."""

        __slots__ = ("inner",)

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def get_meter(self, *args: Any, **kwargs: Any) -> Any:
            return self.inner.get_meter(*args, **kwargs)

    reader = InMemoryMetricReader()
    provider = Slotted(MeterProvider(metric_readers=[reader]))
    costaware.configure(meter_provider=provider)
    _ask(anthropic_client)
    costaware.configure(retries=0)  # a second runtime on the same provider
    _ask(anthropic_client)
    assert instruments_for(provider) is instruments_for(provider)
    data = reader.get_metrics_data()
    assert data is not None
    counts = {
        metric.name: sum(getattr(p, "count", getattr(p, "value", 0)) for p in metric.data.data_points)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert counts[DURATION] == 2
    assert counts["costaware.calls"] == 2
    provider.inner.shutdown()


def test_a_point_the_sdk_refuses_does_not_stop_the_others() -> None:
    """A queue that kept what a failing flush left would grow with every call: it is always emptied."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    good = provider.get_meter("test").create_histogram("good")

    class Refusing:
        def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
            raise ValueError("refused")

    batched = Batched(100)
    batched.record(good, 1, {"k": "v"})
    batched.record(Refusing(), 2, {"k": "v"})
    batched.record(good, 3, {"k": "v"})
    with pytest.raises(ValueError, match="refused"):
        batched.flush()
    assert len(batched) == 0
    data = reader.get_metrics_data()
    assert data is not None
    (point,) = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    assert (point.count, point.sum) == (2, 4)
    provider.shutdown()
