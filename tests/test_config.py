"""configure() and COSTAWARE_* validate at configuration time; auto touches no network at import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import costaware
from costaware import config
from costaware.config import ConfigurationError, settings_from_env


@pytest.fixture(autouse=True)
def restore_settings() -> Iterator[None]:
    saved = config.current_settings()
    yield
    costaware.uninstrument()
    config.set_settings(saved)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"budjet": 3}, "unknown setting"),
        ({"enabled": "yes"}, "enabled must be a bool"),
        ({"capture_content": 1}, "capture_content must be a bool"),
        ({"raise_internal_errors": "sometimes"}, "raise_internal_errors"),
        ({"prices": {"m": {"input": -1, "output": 1}}}, "invalid price override"),
        ({"prices": {"m": {"inptu": 1, "output": 1}}}, "invalid price override"),
        ({"prices": {"m": "cheap"}}, "invalid price override"),
    ],
)
def test_bad_settings_are_refused_at_configuration_time(settings: dict[str, Any], message: str) -> None:
    before = config.current_settings()
    with pytest.raises(ConfigurationError, match=message):
        costaware.configure(**settings)
    assert config.current_settings() is before  # nothing half-applied


def test_configure_keeps_unset_fields() -> None:
    costaware.configure(capture_content=True)
    settings = costaware.configure(prices={"m": {"input": 1, "output": 2}})
    assert settings.capture_content is True
    assert "m" in settings.prices


def test_environment_flags() -> None:
    found = settings_from_env(
        {
            "COSTAWARE_ENABLED": "false",
            "COSTAWARE_RAISE_INTERNAL_ERRORS": "TRUE",
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
        }
    )
    assert found == {"enabled": False, "raise_internal_errors": True, "capture_content": True}
    assert settings_from_env({}) == {}


def test_bad_environment_flag_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="COSTAWARE_ENABLED='maybe'"):
        settings_from_env({"COSTAWARE_ENABLED": "maybe"})


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_prices_file(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"prices{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"my-model": {"input": 0.5, "output": 1.5}}))
    else:
        path.write_text('["my-model"]\ninput = 0.5\noutput = 1.5\n')
    found = settings_from_env({"COSTAWARE_PRICES": str(path)})
    settings = costaware.configure(**found)
    from costaware.core.pricing import PriceBook

    price = PriceBook(overrides=settings.prices).lookup("openai", "my-model")
    assert price is not None and price.input == Decimal("0.5") and price.output == Decimal("1.5")


def test_prices_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        settings_from_env({"COSTAWARE_PRICES": str(tmp_path / "missing.json")})
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not valid"):
        settings_from_env({"COSTAWARE_PRICES": str(broken)})


def test_disabled_means_nothing_is_patched() -> None:
    from costaware import patching

    costaware.configure(enabled=False)
    costaware.instrument()
    assert not costaware.is_instrumented()
    assert patching.patched_methods() == []


def run_isolated(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {**os.environ, **env}
    full_env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_auto_touches_no_network_at_import() -> None:
    done = run_isolated(
        """
        import socket
        def refuse(*args, **kwargs):
            raise AssertionError(f"network at import: {args}")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import costaware.auto
        import costaware
        assert costaware.is_instrumented()
        print("ok")
        """,
        OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:9",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_auto_without_endpoint_sets_no_provider() -> None:
    done = run_isolated(
        """
        import costaware.auto
        from opentelemetry import trace, metrics
        print(type(trace.get_tracer_provider()).__name__, type(metrics.get_meter_provider()).__name__)
        """,
        OTEL_EXPORTER_OTLP_ENDPOINT="",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ProxyTracerProvider", "_ProxyMeterProvider"]  # the API's placeholders


def test_auto_reports_bad_environment_clearly() -> None:
    done = run_isolated("import costaware.auto", COSTAWARE_ENABLED="perhaps")
    assert done.returncode != 0
    assert "COSTAWARE_ENABLED='perhaps' is not a boolean" in done.stderr
