"""Shared fixtures: the provider simulator on loopback, real SDK clients, in-memory OpenTelemetry."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import costaware
from costaware import config
from costaware.sim import Simulator

from helpers import FakeClock, start_redis_server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def sim_server() -> Iterator[Simulator]:
    with Simulator() as server:
        yield server


@pytest.fixture
def sim(sim_server: Simulator) -> Simulator:
    sim_server.reset()
    return sim_server


@dataclass
class Telemetry:
    """What costaware emitted during one test."""

    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self) -> ReadableSpan:
        """The one costaware call span of the test (fails if there is not exactly one)."""
        ours = [s for s in self.our_spans() if s.kind is SpanKind.CLIENT]
        assert len(ours) == 1, [s.name for s in ours]
        return ours[0]

    def call_spans(self) -> list[ReadableSpan]:
        """costaware's LLM call spans, in the order the calls started."""
        calls = [s for s in self.our_spans() if s.kind is SpanKind.CLIENT]
        return sorted(calls, key=lambda s: s.start_time or 0)

    def span_named(self, name: str) -> ReadableSpan:
        (span,) = [s for s in self.our_spans() if s.name == name]
        return span

    def our_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.instrumentation_scope.name == "costaware"]

    def points(self, name: str) -> list[Any]:
        """Every data point of metric ``name`` collected so far."""
        data = self.reader.get_metrics_data()
        found = []
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def histogram_sum(self, name: str, **attributes: Any) -> float:
        return sum(p.sum for p in self.points(name) if _matches(p, attributes))

    def histogram_count(self, name: str, **attributes: Any) -> int:
        return sum(p.count for p in self.points(name) if _matches(p, attributes))

    def counter_value(self, name: str, **attributes: Any) -> float:
        return sum(p.value for p in self.points(name) if _matches(p, attributes))

    def budget_remaining(self, key: str) -> float | None:
        """The ``costaware.budget.remaining`` gauge of budget ``key`` at a new collection, if observed."""
        values = [
            p.value
            for p in self.points("costaware.budget.remaining")
            if p.attributes["costaware.budget.key"] == key
        ]
        return values[-1] if values else None


def _matches(point: Any, attributes: dict[str, Any]) -> bool:
    return all(point.attributes.get(k.replace("__", ".")) == v for k, v in attributes.items())


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """Instrument with fresh in-memory providers; uninstrument and restore settings afterwards."""
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    saved = config.current_settings()
    costaware.configure(tracer_provider=tracer_provider, meter_provider=meter_provider)
    costaware.instrument()
    try:
        yield Telemetry(exporter, reader)
    finally:
        costaware.uninstrument()
        config.set_settings(saved)
        tracer_provider.shutdown()
        meter_provider.shutdown()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real redis-server on a free loopback port (the test command installs the binary)."""
    try:
        server, url = start_redis_server()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def anthropic_client(sim: Simulator, telemetry: Telemetry) -> Any:
    import anthropic

    return anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def async_anthropic_client(sim: Simulator, telemetry: Telemetry) -> Any:
    import anthropic

    return anthropic.AsyncAnthropic(base_url=sim.anthropic_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def openai_client(sim: Simulator, telemetry: Telemetry) -> Any:
    import openai

    return openai.OpenAI(base_url=sim.openai_base_url, api_key="test-key", max_retries=0)


@pytest.fixture
def async_openai_client(sim: Simulator, telemetry: Telemetry) -> Any:
    import openai

    return openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="test-key", max_retries=0)
