"""The ``opentelemetry_instrumentor`` entry point (name ``costaware``) for ``opentelemetry-instrument``.

``opentelemetry-instrument python app.py`` loads it and calls ``instrument()``; the providers that
``opentelemetry-instrument`` configured from ``OTEL_*`` are then the global ones costaware uses.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

try:  # present whenever opentelemetry-instrument is, since it ships that command
    from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - only when used without opentelemetry-instrumentation
    BaseInstrumentor = object


class CostawareInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the ``anthropic`` and ``openai`` clients (whichever are installed)."""

    def instrumentation_dependencies(self) -> Collection[str]:
        # Neither SDK is required: a missing one is skipped, so no dependency check may veto loading.
        return ()

    def _instrument(self, **kwargs: Any) -> None:
        from costaware import api, config

        settings = config.settings_from_env()
        for key in ("tracer_provider", "meter_provider"):
            if kwargs.get(key) is not None:
                settings[key] = kwargs[key]
        api.configure(**settings)
        api.instrument()

    def _uninstrument(self, **kwargs: Any) -> None:
        from costaware import api

        api.uninstrument()

    if BaseInstrumentor is object:  # pragma: no cover

        def instrument(self, **kwargs: Any) -> None:
            self._instrument(**kwargs)

        def uninstrument(self, **kwargs: Any) -> None:
            self._uninstrument(**kwargs)
