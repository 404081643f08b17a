"""The public entry points: ``configure``, ``instrument``, ``uninstrument``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from costaware import config


def configure(**settings: Any) -> config.Settings:
    """Set costaware's defaults, validated now (bad input raises :class:`ConfigurationError` here,
    never during a call). Unset fields keep their current value. Returns the resulting settings.

    ```python
    costaware.configure(prices={"my-finetune": {"input": 0.5, "output": 1.5}}, capture_content=False)
    ```

    Fields: ``enabled``, ``capture_content``, ``prices``, ``raise_internal_errors``,
    ``tracer_provider``, ``meter_provider``, ``response_cache`` (a :class:`costaware.ResponseCache`, or
    the mapping of its arguments) (see :class:`costaware.config.Settings`), and
    ``prometheus_port``: serve the metrics for Prometheus to scrape (``costaware.telemetry.prometheus``).
    """
    old = config.current_settings()
    cache = settings.get("response_cache")
    if isinstance(cache, Mapping):  # the arguments of a ResponseCache (as COSTAWARE_RESPONSE_CACHE* give)
        from costaware.steps.response_cache import ResponseCache

        try:
            settings["response_cache"] = ResponseCache(**cache)
        except TypeError as exc:  # an argument it does not take
            raise config.ConfigurationError(f"response_cache: {exc}") from None
    if callable(getattr(settings.get("response_cache"), "namespace", None)):
        raise config.ConfigurationError(
            "configure(response_cache=...) applies to calls outside decorated functions, which have no "
            "arguments for a namespace function: give it a string namespace, or use @cost_aware(cache=...)"
        )
    port = settings.pop("prometheus_port", None)
    if port is not None:  # a scrape endpoint: its meter provider, unless one is given
        from costaware.telemetry import prometheus

        settings.setdefault("meter_provider", prometheus.meter_provider(port))
    new = config.build_settings(old, **settings)
    if new.budget is not None and new.budget is not old.budget:
        from costaware.steps.spend import shared_ledger

        shared_ledger(new.budget)  # opens its store now: an unreachable store fails here, not at a call
    from costaware.instrumentation import patching

    config.set_settings(new)
    try:
        patching.refresh_runtime()
    except Exception as error:  # a failed configure changes nothing
        config.set_settings(old)
        patching.refresh_runtime()
        if isinstance(error, config.ConfigurationError):
            raise
        raise config.ConfigurationError(f"configure({', '.join(settings)}): {error}") from error
    return new


def instrument(**settings: Any) -> None:
    """Patch the installed ``anthropic`` and ``openai`` clients; keyword arguments go to :func:`configure`.

    Idempotent; an SDK imported later is patched when it is imported.
    """
    if settings:
        configure(**settings)
    from costaware.instrumentation import patching

    patching.instrument()


def uninstrument() -> None:
    """Restore the SDKs' original methods. Idempotent."""
    from costaware.instrumentation import patching

    patching.uninstrument()


def is_instrumented() -> bool:
    from costaware.instrumentation import patching

    return patching.is_instrumented()
