"""instrument()/uninstrument(), late imports, suppression, coexistence with the SDK's own tracing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from typing import Any

import anthropic
import openai
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import costaware
from costaware.instrumentation import patching

from helpers import HAIKU, user

MESSAGES_CLASS = anthropic.resources.messages.messages.Messages
COMPLETIONS_CLASS = openai.resources.chat.completions.completions.Completions


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter (import state matters here) and return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_uninstrument_restores_the_original_methods() -> None:
    original_create = MESSAGES_CLASS.__dict__["create"]
    original_chat = COMPLETIONS_CLASS.__dict__["create"]
    costaware.instrument()
    costaware.instrument()  # idempotent: wraps once
    assert MESSAGES_CLASS.__dict__["create"] is not original_create
    assert MESSAGES_CLASS.__dict__["create"].__wrapped__ is original_create
    costaware.uninstrument()
    costaware.uninstrument()
    assert MESSAGES_CLASS.__dict__["create"] is original_create
    assert COMPLETIONS_CLASS.__dict__["create"] is original_chat
    assert patching.patched_methods() == []


def test_instrument_twice_still_one_span_per_call(anthropic_client: Any, telemetry: Any) -> None:
    costaware.instrument()
    anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("once"))
    assert len(telemetry.our_spans()) == 1


def test_no_spans_after_uninstrument(anthropic_client: Any, telemetry: Any) -> None:
    costaware.uninstrument()
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("plain"))
    assert isinstance(message, anthropic.types.Message)
    assert telemetry.our_spans() == []


def test_every_documented_method_is_patched(telemetry: Any) -> None:
    import openai.resources.embeddings
    import openai.resources.responses.responses  # noqa: F401 - the SDK imports these lazily

    patched = set(patching.patched_methods())
    for name in ("create", "parse", "stream"):
        for cls in ("Messages", "AsyncMessages"):
            assert f"anthropic.resources.messages.messages.{cls}.{name}" in patched
            assert f"anthropic.resources.beta.messages.messages.{cls}.{name}" in patched
        for cls in ("Completions", "AsyncCompletions"):
            assert f"openai.resources.chat.completions.completions.{cls}.{name}" in patched
        for cls in ("Responses", "AsyncResponses"):
            assert f"openai.resources.responses.responses.{cls}.{name}" in patched
    assert "openai.resources.embeddings.Embeddings.create" in patched
    assert "openai.resources.embeddings.AsyncEmbeddings.create" in patched


def test_suppression_key_is_honoured(anthropic_client: Any, telemetry: Any) -> None:
    token = otel_context.attach(otel_context.set_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("quiet"))
    finally:
        otel_context.detach(token)
    assert telemetry.our_spans() == []


def test_native_anthropic_span_nests_under_ours_and_nothing_is_counted_twice(
    sim: Any, telemetry: Any
) -> None:
    native_exporter = InMemorySpanExporter()
    native_provider = TracerProvider()
    native_provider.add_span_processor(SimpleSpanProcessor(native_exporter))
    client = anthropic.Anthropic(
        base_url=sim.anthropic_base_url,
        api_key="k",
        max_retries=0,
        open_telemetry={"tracer_provider": native_provider},
    )
    message = client.messages.create(model=HAIKU, max_tokens=20, messages=user("two tracers"))

    ours = telemetry.span()
    (native,) = native_exporter.get_finished_spans()
    assert native.name == "anthropic.messages.create"
    assert native.parent is not None and native.parent.span_id == ours.context.span_id
    assert telemetry.histogram_sum("gen_ai.client.token.usage", gen_ai__token__type="output") == (
        message.usage.output_tokens
    )
    assert telemetry.histogram_count("gen_ai.client.operation.duration") == 1


def test_sdk_imported_after_instrument_is_patched(sim: Any) -> None:
    out = run_python(
        f"""
        import sys, json
        import costaware
        costaware.instrument()
        assert "anthropic" not in sys.modules and "openai" not in sys.modules
        import anthropic, openai
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        provider = TracerProvider(); provider.add_span_processor(SimpleSpanProcessor(exporter))
        costaware.configure(tracer_provider=provider)
        a = anthropic.Anthropic(base_url="{sim.anthropic_base_url}", api_key="k")
        a.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{{"role": "user", "content": "x"}}])
        o = openai.OpenAI(base_url="{sim.openai_base_url}", api_key="k")
        o.chat.completions.create(model="gpt-4.1-mini", messages=[{{"role": "user", "content": "x"}}])
        print(json.dumps([s.name for s in exporter.get_finished_spans() if s.instrumentation_scope.name == "costaware"]))
        """
    )
    assert json.loads(out.strip().splitlines()[-1]) == ["chat claude-haiku-4-5", "chat gpt-4.1-mini"]


def test_missing_sdk_is_skipped_quietly() -> None:
    out = run_python(
        """
        import sys, logging, warnings
        logging.basicConfig(level=logging.DEBUG)
        sys.modules["openai"] = None  # as if not installed
        warnings.simplefilter("error")
        import costaware
        costaware.instrument()
        import anthropic
        from costaware.instrumentation import patching
        print(len(patching.patched_methods()), any("openai" in m for m in patching.patched_methods()))
        """
    )
    assert out.split() == ["12", "False"]


def test_import_costaware_loads_no_heavy_modules() -> None:
    out = run_python(
        """
        import sys
        import costaware
        heavy = ["wrapt", "opentelemetry", "genai_prices", "anthropic", "openai"]
        print(",".join(m for m in heavy if m in sys.modules) or "none")
        """
    )
    assert out.strip() == "none"


def test_entry_point_is_registered_under_our_own_name() -> None:
    (entry,) = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "costaware"]
    assert entry.value == "costaware.instrumentation.instrumentor:CostawareInstrumentor"
    instrumentor = entry.load()()
    instrumentor.instrument()
    try:
        assert costaware.is_instrumented()
    finally:
        instrumentor.uninstrument()
    assert not costaware.is_instrumented()


def _opentelemetry_instrument(app: Any, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``opentelemetry-instrument python app.py`` as the README says, with ``env`` added."""
    import os
    import shutil

    command = shutil.which("opentelemetry-instrument") or str(
        __import__("pathlib").Path(sys.executable).parent / "opentelemetry-instrument"
    )
    full_env = {**os.environ, **env}
    full_env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run(
        [command, sys.executable, str(app)], capture_output=True, text=True, env=full_env, timeout=120
    )


def _unchanged_app(sim: Any, tmp_path: Any) -> Any:
    app = tmp_path / "app.py"
    app.write_text(
        textwrap.dedent(
            f"""
            import anthropic
            client = anthropic.Anthropic(base_url="{sim.anthropic_base_url}", api_key="k")
            client.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=[{{"role": "user", "content": "x"}}])
            print("done")
            """
        )
    )
    return app


def test_opentelemetry_instrument_command_exports_an_unchanged_app(sim: Any, tmp_path: Any) -> None:
    # costaware[instrument] brings opentelemetry-distro, which configures the SDK from OTEL_*; the
    # app has no OpenTelemetry code. The receiver speaks OTLP/HTTP, so the protocol is set to it.
    from otlp_receiver import OtlpReceiver, attributes

    with OtlpReceiver() as receiver:
        done = _opentelemetry_instrument(
            _unchanged_app(sim, tmp_path),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_LOGS_EXPORTER="none",
            OTEL_SERVICE_NAME="unchanged-app",
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "done"
        spans = [s for s in receiver.spans if s.name == "chat claude-haiku-4-5"]
    assert len(spans) == 1
    assert attributes(spans[0].attributes)["costaware.cost.unpriced"] is False
    assert "no OpenTelemetry SDK is configured" not in done.stderr


def test_opentelemetry_instrument_without_a_distro_says_nothing_is_exported(sim: Any, tmp_path: Any) -> None:
    # A name matching no installed distro or configurator: as if opentelemetry-distro were missing.
    done = _opentelemetry_instrument(
        _unchanged_app(sim, tmp_path), OTEL_PYTHON_DISTRO="none-here", OTEL_PYTHON_CONFIGURATOR="none-here"
    )
    assert done.returncode == 0, done.stderr
    assert "no OpenTelemetry SDK is configured" in done.stderr
    assert "costaware[instrument]" in done.stderr


def test_a_decorated_call_after_uninstrument_leaves_the_sdks_alone_until_instrument() -> None:
    out = run_python(
        """
        import anthropic
        import costaware
        from costaware.sim import Simulator

        with Simulator() as sim:
            client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="x", max_retries=0)

            @costaware.cost_aware(budget=1)
            def ask():
                return client.messages.create(
                    model="claude-haiku-4-5", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
                )

            ask()  # the decorator instruments on first use
            seen = [costaware.is_instrumented(), costaware.last_scope().tracker.calls]
            costaware.uninstrument()
            ask()  # the application asked for the SDKs as they were: no patching behind its back
            seen += [costaware.is_instrumented(), costaware.last_scope().tracker.calls]
            costaware.instrument()
            ask()
            seen += [costaware.is_instrumented(), costaware.last_scope().tracker.calls]
        print(*seen)
        """
    )
    assert out.split() == ["True", "1", "False", "0", "True", "1"]
