"""The ``opentelemetry_instrumentor`` entry point (name ``costaware``) for ``opentelemetry-instrument``.

``opentelemetry-instrument python app.py`` loads it and calls ``instrument()``; the providers that
``opentelemetry-instrument`` configured from ``OTEL_*`` are then the global ones costaware uses.
That configuration is done by a distro (``pip install 'costaware[instrument]'`` brings
``opentelemetry-distro`` and the OTLP exporters); without one nothing would be exported, so
costaware says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

try:  # present whenever opentelemetry-instrument is, since it ships that command
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - only when used without opentelemetry-instrumentation
    BaseInstrumentor = object


log = logging.getLogger("costaware")


def _no_sdk_configured() -> bool:
    from opentelemetry import trace

    return type(trace.get_tracer_provider()).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider")


class CostawareInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the ``anthropic`` and ``openai`` clients (whichever are installed)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        # Neither SDK is required: a missing one is skipped, so no dependency check may veto loading.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        from costaware import config
        from costaware.instrumentation import api

        settings = config.settings_from_env()
        for key in ("tracer_provider", "meter_provider"):
            if kwargs.get(key) is not None:
                settings[key] = kwargs[key]
        api.configure(**settings)
        api.instrument()
        if settings.get("tracer_provider") is None and _no_sdk_configured():
            log.warning(
                "costaware: instrumented, but no OpenTelemetry SDK is configured, so spans and metrics "
                "go nowhere; install opentelemetry-distro (pip install 'costaware[instrument]') or "
                "set up providers in your code"
            )

    def _uninstrument(self, **kwargs: Any) -> None:
        from costaware.instrumentation import api

        api.uninstrument()

    if BaseInstrumentor is object:  # pragma: no cover

        def instrument(self, **kwargs: Any) -> None:
            self._instrument(**kwargs)

        def uninstrument(self, **kwargs: Any) -> None:
            self._uninstrument(**kwargs)
