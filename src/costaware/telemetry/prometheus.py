"""A Prometheus scrape endpoint for costaware's metrics: ``configure(prometheus_port=9464)``, or
``OTEL_METRICS_EXPORTER=prometheus`` with ``import costaware.auto`` or ``opentelemetry-instrument``.

Needs ``opentelemetry-exporter-prometheus`` (``pip install 'costaware[prometheus]'``), imported only
here. The endpoint listens on ``OTEL_EXPORTER_PROMETHEUS_HOST`` (default ``localhost``; ``0.0.0.0``
for a Prometheus on another machine) and serves ``/metrics``.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from costaware.core.errors import ConfigurationError

_served: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def meter_provider(port: int, host: str | None = None) -> Any:
    """A ``MeterProvider`` whose metrics are served for scraping at ``host:port`` (started once per
    address; later calls return the same provider)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigurationError(f"prometheus_port must be a port number, not {port!r}")
    address = (host or os.environ.get("OTEL_EXPORTER_PROMETHEUS_HOST") or "localhost", port)
    with _lock:
        provider = _served.get(address)
        if provider is not None:
            return provider
        try:
            from opentelemetry.exporter.prometheus import PrometheusMetricReader
            from prometheus_client import start_http_server
        except ImportError:
            raise ConfigurationError(
                "a Prometheus endpoint needs opentelemetry-exporter-prometheus: "
                "pip install 'costaware[prometheus]'"
            ) from None
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource

        try:
            start_http_server(port=address[1], addr=address[0])
        except OSError as error:
            raise ConfigurationError(f"cannot serve metrics on {address[0]}:{address[1]}: {error}") from None
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "costaware-app")})
        provider = _served[address] = MeterProvider(
            resource=resource, metric_readers=[PrometheusMetricReader()]
        )
        return provider
