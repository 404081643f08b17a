"""``import costaware.auto``: configure from the environment and instrument, at start-up.

When no global tracer or meter provider has been set and an OTLP endpoint is configured
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or the per-signal ``..._TRACES_ENDPOINT`` / ``..._METRICS_ENDPOINT``),
it also sets up OTLP/HTTP export with the standard ``OTEL_*`` variables, and flushes at exit.
Nothing is sent over the network at import: exporters only send once there is telemetry.
"""

from __future__ import annotations

import atexit
import os

from opentelemetry import metrics, trace

from costaware import api, config

_ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


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
    if _wants("TRACES") and _provider_is_default(trace.get_tracer_provider()):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        tracer_provider = TracerProvider(resource=resource)
        tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(tracer_provider)
        atexit.register(tracer_provider.shutdown)
    if _wants("METRICS") and _provider_is_default(metrics.get_meter_provider()):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(meter_provider)
        atexit.register(meter_provider.shutdown)


api.configure(**config.settings_from_env())
setup_otlp_export()
api.instrument()
