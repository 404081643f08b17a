"""configure() and COSTAWARE_* validate at configuration time; auto touches no network at import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
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
        ({"prices": "no-such-prices.json"}, "cannot read price file"),
        ({"prices": 42}, "prices must be a mapping"),
        ({"tracer_provider": "bogus"}, "tracer_provider must be an OpenTelemetry TracerProvider"),
        ({"meter_provider": 42}, "meter_provider must be an OpenTelemetry MeterProvider"),
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
    from costaware.instrumentation import patching

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


@pytest.mark.parametrize("instrumented", [False, True])
def test_bad_provider_changes_nothing_and_calls_go_on(
    instrumented: bool, sim: Any, anthropic_client: Any, telemetry: Any
) -> None:
    if instrumented:
        costaware.instrument()
    before = config.current_settings()
    for bad in ({"tracer_provider": "bogus"}, {"meter_provider": 42}):
        with pytest.raises(ConfigurationError):
            costaware.configure(**bad)
        assert config.current_settings() is before

    @costaware.cost_aware()
    def ask() -> Any:
        return anthropic_client.messages.create(
            model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )

    assert ask().content
    assert telemetry.span().name == "chat claude-haiku-4-5"


def test_prices_from_a_file_path(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"my-finetune": {"input": 0.5, "output": 1.5}}))
    assert "my-finetune" in costaware.configure(prices=path).prices
    assert "my-finetune" in costaware.configure(prices=str(path)).prices


def test_unknown_costaware_variable_is_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="costaware")
    env = {"COSTAWARE_BUDGET_LIMT": "5", "COSTAWARE_ENABLED": "true", "OTHER_THING": "1"}
    assert settings_from_env(env) == {"enabled": True}
    settings_from_env(env)
    warnings = [r.getMessage() for r in caplog.records if "COSTAWARE_BUDGET_LIMT" in r.getMessage()]
    assert warnings == [
        "costaware: ignoring unknown environment variable COSTAWARE_BUDGET_LIMT "
        "(did you mean COSTAWARE_BUDGET_LIMIT?)"
    ]
    assert not [r for r in caplog.records if "COSTAWARE_ENABLED" in r.getMessage()]


HUNG_COLLECTOR_APP = """
import socket, sys, time
hung = socket.socket()
hung.bind(("127.0.0.1", 0))
hung.listen(16)  # accepts connections, never answers
import os
os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{hung.getsockname()[1]}"
import costaware.auto
from opentelemetry import trace
with trace.get_tracer("app").start_as_current_span("work"):
    pass
print(time.monotonic(), flush=True)
"""


@pytest.mark.parametrize("timeout", ["1", ""])
def test_exit_flush_is_bounded_when_the_collector_hangs(timeout: str) -> None:
    done = run_isolated(HUNG_COLLECTOR_APP, COSTAWARE_EXIT_FLUSH_TIMEOUT=timeout)
    assert done.returncode == 0, done.stderr
    exited = time.monotonic()  # CLOCK_MONOTONIC: the same clock in both processes
    last_line = float(done.stdout.split()[-1])
    bound = float(timeout or 3)
    # The exporter alone would wait 10 s per attempt; the exit flush gives up after `bound` seconds.
    assert exited - last_line < bound + 3.0


def test_a_missing_tiers_file_fails_when_the_environment_is_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="COSTAWARE_TIERS"):
        settings_from_env({"COSTAWARE_TIERS": str(tmp_path / "no-such-tiers.toml")})
    good = tmp_path / "tiers.json"
    good.write_text(json.dumps({"anthropic": {"small": "claude-haiku-4-5"}}))
    assert settings_from_env({"COSTAWARE_TIERS": str(good)}) == {}  # known, valid: no warning either
