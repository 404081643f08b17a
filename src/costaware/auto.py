"""``import costaware.auto``: configure from the environment and instrument, at start-up.

When no global tracer or meter provider has been set and an OTLP endpoint is configured
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or the per-signal ``..._TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``),
it also sets up OTLP/HTTP export with the standard ``OTEL_*`` variables, and flushes at exit.
Nothing is sent over the network at import: exporters only send once there is telemetry.

The flush at exit is bounded: it gets ``COSTAWARE_EXIT_FLUSH_TIMEOUT`` seconds in all (default 3),
so a collector that is down or hanging delays the process's exit by at most that much (the
OpenTelemetry SDK's own exit handler can wait for its exporters' retries, 10 s or more). What is not
exported by then is dropped.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
from collections.abc import Callable

from opentelemetry import metrics, trace

from costaware import config
from costaware.instrumentation import api

_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
_EXIT_TIMEOUT = "COSTAWARE_EXIT_FLUSH_TIMEOUT"
DEFAULT_EXIT_FLUSH_TIMEOUT = 3.0


def exit_flush_timeout() -> float:
    """Seconds the exit flush may take in all (``COSTAWARE_EXIT_FLUSH_TIMEOUT``, default 3)."""
    raw = os.environ.get(_EXIT_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_EXIT_FLUSH_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise config.ConfigurationError(f"{_EXIT_TIMEOUT}={raw!r} must be a number of seconds >= 0")
    return value


def _bounded_shutdown(shutdowns: list[Callable[[], object]], timeout: float) -> None:
    """Run the providers' shutdowns (each flushes what it holds) on a daemon thread and wait for them
    at most ``timeout`` seconds: the process then exits even if an exporter is still waiting."""

    def run() -> None:
        for shutdown in shutdowns:
            with contextlib.suppress(Exception):  # an exporter failing at exit: no traceback
                shutdown()

    worker = threading.Thread(target=run, name="costaware-exit-flush", daemon=True)
    worker.start()
    worker.join(timeout)


def _wants(signal: str) -> bool:
    return bool(os.environ.get(_ENDPOINT) or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"))


def _provider_is_default(provider: object) -> bool:
    # The API's placeholders before anyone sets a provider.
    return type(provider).__name__ in {
        "ProxyTracerProvider",
        "ProxyMeterProvider",
        "NoOpTracerProvider",
        "NoOpMeterProvider",
        "_ProxyMeterProvider",
    }


def setup_otlp_export() -> None:
    """Install OTLP/HTTP exporting tracer and meter providers where none is set and an endpoint is."""
    from opentelemetry.sdk.resources import Resource

    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "costaware-app")})
    timeout = exit_flush_timeout()
    shutdowns: list[Callable[[], object]] = []
    if _wants("TRACES") and _provider_is_default(trace.get_tracer_provider()):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
        shutdowns.append(tracer_provider.shutdown)
    if os.environ.get("OTEL_METRICS_EXPORTER", "").strip() == "prometheus":
        if _provider_is_default(metrics.get_meter_provider()):
            from costaware.telemetry.prometheus import meter_provider as prometheus_provider

            port = int(os.environ.get("OTEL_EXPORTER_PROMETHEUS_PORT", "9464"))
            metrics.set_meter_provider(prometheus_provider(port))
    elif _wants("METRICS") and _provider_is_default(metrics.get_meter_provider()):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader], shutdown_on_exit=False)
        metrics.set_meter_provider(meter_provider)
        shutdowns.append(meter_provider.shutdown)
    if shutdowns:
        atexit.register(_bounded_shutdown, shutdowns, timeout)


api.configure(**config.settings_from_env())
setup_otlp_export()
api.instrument()
