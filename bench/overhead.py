#!/usr/bin/env python
"""Per-call overhead of costaware and of OpenLLMetry over the raw anthropic / openai SDKs.

One command, run from the repository root with the project's environment::

    python bench/overhead.py

On its first run it creates ``bench/.venv-bench`` (costaware editable + OpenLLMetry's instrumentors,
SDK versions pinned to this interpreter's); then it starts one simulator (``costaware.sim``) in this
process and, for every (configuration, case), runs a FRESH Python process that sets up the same
OpenTelemetry SDK (global TracerProvider with SimpleSpanProcessor(InMemorySpanExporter), global
MeterProvider with InMemoryMetricReader), instruments (or not), warms up, and times each call with
``time.perf_counter_ns``. The work is split into rounds; in each round the order of configurations is
rotated, so drift on the machine hits all of them alike. Every instrumented process must produce
exactly one span per call (the raw one none), or the run fails loudly.

Configurations: ``raw`` (nothing instrumented), ``costaware`` (``costaware.instrument``) and
``openllmetry`` (``AnthropicInstrumentor`` + ``OpenAIInstrumentor``). Cases: anthropic
``messages.create``, the same with ``stream=True`` read to the end, openai ``chat.completions.create``,
the same streamed with ``stream_options={"include_usage": True}``.

Content capture is off in all (``TRACELOOP_TRACE_CONTENT=false``,
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false``) and the anthropic SDK's own tracing is
off in all (``ANTHROPIC_OPEN_TELEMETRY=false``).

Also measured: the import time of ``costaware`` and the cost of ``costaware.instrument()`` before any
SDK is imported. Results: a table on stdout and ``bench/results/overhead.json``.

Other entry points: ``--quick`` (a smoke run), ``--profile costaware:anthropic`` (cProfile of one
configuration and case), ``--no-openllmetry``, ``--no-setup``; see ``--help``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_VENV = BENCH / ".venv-bench"
DEFAULT_OUTPUT = BENCH / "results" / "overhead.json"
REQUIREMENTS = BENCH / "requirements-bench.txt"

CASES = ("anthropic", "anthropic-stream", "openai", "openai-stream")
CASE_LABELS = {
    "anthropic": "anthropic messages.create",
    "anthropic-stream": "anthropic messages.create(stream=True)",
    "openai": "openai chat.completions.create",
    "openai-stream": "openai chat.completions.create(stream=True)",
}
CONFIGS = ("raw", "costaware", "openllmetry")

# The same environment for every configuration (raw included).
BENCH_ENV = {
    "ANTHROPIC_OPEN_TELEMETRY": "false",  # the anthropic SDK's built-in spans: off everywhere
    "TRACELOOP_TRACE_CONTENT": "false",  # OpenLLMetry: no prompts / completions on spans
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false",  # costaware (already its default)
}
ANTHROPIC_MODEL = "claude-haiku-4-5"
OPENAI_MODEL = "gpt-4o-mini"
MAX_TOKENS = 100
PROMPT = "Say hello to the overhead benchmark."

TARGET_RATIO = 0.5  # costaware's median overhead at most half of OpenLLMetry's
TARGET_IMPORT_MS = 50.0

VERSIONED = (
    "costaware",
    "anthropic",
    "openai",
    "httpx2",
    "wrapt",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "opentelemetry-instrumentation-anthropic",
    "opentelemetry-instrumentation-openai",
    "genai-prices",
)


# --------------------------------------------------------------------------------------------
# The worker: one fresh process per (configuration, case, round)
# --------------------------------------------------------------------------------------------


def _set_up_providers() -> tuple[Any, Any]:
    """Global SDK providers, identical in every configuration: returns (span exporter, metric reader)."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return exporter, reader


def _instrument(config: str) -> None:
    from opentelemetry import metrics, trace

    if config == "costaware":
        import costaware

        costaware.instrument(
            tracer_provider=trace.get_tracer_provider(), meter_provider=metrics.get_meter_provider()
        )
    elif config == "openllmetry":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        AnthropicInstrumentor().instrument()
        OpenAIInstrumentor().instrument()
    elif config != "raw":
        raise ValueError(f"unknown configuration {config!r}")


def _make_call(case: str, anthropic_url: str, openai_url: str) -> Callable[[], int]:
    """A function making one call of ``case``; returns the number of stream events (0 if not streamed).

    The method is looked up on the client at every call, as applications do (wrapt binds its wrapper
    on that lookup: part of the cost being measured).
    """
    messages = [{"role": "user", "content": PROMPT}]
    if case.startswith("anthropic"):
        import anthropic

        client: Any = anthropic.Anthropic(base_url=anthropic_url, api_key="x", max_retries=0)
        kwargs: dict[str, Any] = {"model": ANTHROPIC_MODEL, "max_tokens": MAX_TOKENS, "messages": messages}
        if case == "anthropic":
            return lambda: client.messages.create(**kwargs) and 0

        def anthropic_stream() -> int:
            events = 0
            for _ in client.messages.create(stream=True, **kwargs):
                events += 1
            return events

        return anthropic_stream

    import openai

    client = openai.OpenAI(base_url=openai_url, api_key="x", max_retries=0)
    kwargs = {"model": OPENAI_MODEL, "max_tokens": MAX_TOKENS, "messages": messages}
    if case == "openai":
        return lambda: client.chat.completions.create(**kwargs) and 0

    def openai_stream() -> int:
        events = 0
        for _ in client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs):
            events += 1
        return events

    return openai_stream


def _versions() -> dict[str, str]:
    found = {}
    for dist in VERSIONED:
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return found


def _metric_names(reader: Any) -> list[str]:
    data = reader.get_metrics_data()
    if data is None:
        return []
    return sorted(
        {m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
    )


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Set up, instrument, warm up, then time ``spec["calls"]`` calls of one case."""
    if spec.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {spec["cpu"]})
    exporter, reader = _set_up_providers()
    _instrument(spec["config"])
    call = _make_call(spec["case"], spec["anthropic_url"], spec["openai_url"])

    clock = time.perf_counter_ns
    start = clock()
    events = call()
    first_call_ns = clock() - start
    for _ in range(spec["warmup"] - 1):
        call()
    warmup_spans = len(exporter.get_finished_spans())
    exporter.clear()
    gc.collect()

    profiler = None
    if spec.get("profile_out"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    samples = [0] * spec["calls"]
    for i in range(spec["calls"]):
        start = clock()
        call()
        samples[i] = clock() - start
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec["profile_out"])

    spans = exporter.get_finished_spans()
    last = spans[-1] if spans else None
    attributes = dict(last.attributes or {}) if last is not None else {}
    return {
        "config": spec["config"],
        "case": spec["case"],
        "samples_ns": samples,
        "first_call_ns": first_call_ns,
        "stream_events": events,
        "warmup_spans": warmup_spans,
        "spans": len(spans),
        "span_scopes": sorted({s.instrumentation_scope.name for s in spans if s.instrumentation_scope}),
        "span_name": last.name if last is not None else None,
        "token_attributes": {k: v for k, v in attributes.items() if "token" in k},
        "cost_attributes": {k: v for k, v in attributes.items() if "cost" in k},
        "metrics": _metric_names(reader),
        "python": sys.version.split()[0],
        "executable": sys.executable,
        "versions": _versions(),
    }


def worker_main(raw_spec: str) -> None:
    spec = json.loads(raw_spec)
    result = run_worker(spec)
    Path(spec["out"]).write_text(json.dumps(result), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# The bench virtualenv (OpenLLMetry lives only there)
# --------------------------------------------------------------------------------------------

PROBE_COSTAWARE = "import costaware, anthropic, openai, opentelemetry.sdk.trace"
PROBE_OPENLLMETRY = (
    PROBE_COSTAWARE + ", opentelemetry.instrumentation.anthropic, opentelemetry.instrumentation.openai"
)


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _imports_ok(python: str | Path, probe: str) -> bool:
    try:
        done = subprocess.run([str(python), "-c", probe], capture_output=True, timeout=120, env=_child_env())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _sdk_pins() -> list[str]:
    """Pin the bench venv's SDKs to this interpreter's, so every configuration runs on the same ones."""
    pins = []
    for dist in ("anthropic", "openai", "opentelemetry-api", "opentelemetry-sdk"):
        try:
            pins.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return pins


def ensure_bench_venv(venv: Path, *, setup: bool) -> tuple[str | None, str]:
    """The bench venv's python (created and filled if needed), or ``None`` and why not."""
    python = _venv_python(venv)
    if python.exists() and _imports_ok(python, PROBE_OPENLLMETRY):
        return str(python), f"{venv} (existing)"
    if not setup:
        return None, f"{venv} is missing or incomplete and --no-setup was given"
    log(f"setting up {venv} (costaware editable + OpenLLMetry instrumentors; about a minute)...")
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
        base = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        base += ["-e", f"{REPO}[all]", "-r", str(REQUIREMENTS)]
        done = subprocess.run([*base, *_sdk_pins()], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            log("pip could not install with the SDK versions pinned to this interpreter's; retrying unpinned")
            done = subprocess.run(base, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            tail = "\n".join(line for line in done.stderr.splitlines() if "WARNING" not in line)[-1500:]
            return None, f"pip install into {venv} failed:\n{tail}"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not set up {venv}: {exc}"
    if not _imports_ok(python, PROBE_OPENLLMETRY):
        return None, f"{venv} was set up but cannot import costaware and the OpenLLMetry instrumentors"
    return str(python), f"{venv} (created now)"


# --------------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Pooled median / p99 (µs) of one configuration's runs of one case, plus per-round medians."""
    pooled = sorted(s for run in runs for s in run["samples_ns"])
    return {
        "n": len(pooled),
        "median_us": statistics.median(pooled) / 1e3,
        "p99_us": percentile(pooled, 99) / 1e3,
        "mean_us": statistics.fmean(pooled) / 1e3,
        "min_us": pooled[0] / 1e3,
        "round_medians_us": [statistics.median(run["samples_ns"]) / 1e3 for run in runs],
        "first_call_ms_median": statistics.median(run["first_call_ns"] for run in runs) / 1e6,
        "stream_events": runs[0]["stream_events"],
        "spans_per_call": sum(run["spans"] for run in runs) / len(pooled),
        "span_name": runs[0]["span_name"],
        "span_scopes": runs[0]["span_scopes"],
        "token_attributes": runs[0]["token_attributes"],
        "cost_attributes": runs[0]["cost_attributes"],
        "metrics": runs[0]["metrics"],
    }


# --------------------------------------------------------------------------------------------
# Import time
# --------------------------------------------------------------------------------------------

INSTRUMENT_SNIPPET = (
    "import time, sys; import costaware; t = time.perf_counter(); costaware.instrument(); "
    "t = time.perf_counter() - t; "
    "assert not [m for m in sys.modules if m.split('.')[0] in ('anthropic', 'openai')], 'an SDK was imported'; "
    "print(t)"
)


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=_child_env())
    return time.perf_counter() - start


def _parse_importtime(stderr: str) -> list[tuple[str, int]]:
    """(top-level module, cumulative µs) for every top-level import in ``-X importtime`` output."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        try:
            _, cumulative, name = line[len("import time:") :].split("|", 2)
        except ValueError:
            continue
        if name.startswith(" ") and not name.startswith("  "):  # one space: top level
            found.append((name.strip(), int(cumulative)))
    return found


def measure_import(python: str, runs: int) -> dict[str, Any]:
    """Median over ``runs`` fresh processes of: ``import costaware`` (wall minus an empty interpreter,
    and ``-X importtime``'s own figure) and ``costaware.instrument()`` with no SDK imported."""
    empty = [python, "-c", "pass"]
    plain = [python, "-c", "import costaware"]
    for cmd in (empty, plain, [python, "-c", INSTRUMENT_SNIPPET]):  # fill bytecode caches first
        subprocess.run(cmd, check=True, capture_output=True, env=_child_env())
    wall_empty, wall_import, importtime, instrument_s, instrument_top = [], [], [], [], []
    for _ in range(runs):
        wall_empty.append(_wall(empty))
        wall_import.append(_wall(plain))
        done = subprocess.run(
            [python, "-X", "importtime", "-c", "import costaware"],
            check=True, capture_output=True, text=True, env=_child_env(),
        )
        importtime.append(dict(_parse_importtime(done.stderr)).get("costaware", 0))
        done = subprocess.run(
            [python, "-X", "importtime", "-c", INSTRUMENT_SNIPPET],
            check=True, capture_output=True, text=True, env=_child_env(),
        )
        instrument_s.append(float(done.stdout.strip().splitlines()[-1]))
        instrument_top.append(_parse_importtime(done.stderr))
    heaviest: dict[str, list[int]] = {}
    for modules in instrument_top:
        for name, cumulative in modules:
            heaviest.setdefault(name, []).append(cumulative)
    top = sorted(((statistics.median(v) / 1e3, k) for k, v in heaviest.items()), reverse=True)[:8]
    return {
        "runs": runs,
        "import_costaware_wall_ms": (statistics.median(wall_import) - statistics.median(wall_empty)) * 1e3,
        "empty_interpreter_wall_ms": statistics.median(wall_empty) * 1e3,
        "import_costaware_importtime_ms": statistics.median(importtime) / 1e3,
        "instrument_call_ms": statistics.median(instrument_s) * 1e3,
        "instrument_call_note": "costaware.instrument() after `import costaware`, no SDK imported; "
        "measured under -X importtime, which inflates it slightly",
        "instrument_heaviest_imports_ms": [{"module": k, "ms": round(ms, 1)} for ms, k in top],
    }


# --------------------------------------------------------------------------------------------
# The parent: simulator, rounds, table, JSON
# --------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


PYCACHE = Path(tempfile.gettempdir()) / "costaware-bench-pycache"


def _child_env() -> dict[str, str]:
    """The environment of every child: ``BENCH_ENV``, and bytecode cached outside the repository (under
    ``PYTHONDONTWRITEBYTECODE`` an edited module would be compiled again in every fresh process)."""
    drop = ("OTEL_", "TRACELOOP_", "ANTHROPIC_OPEN", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(BENCH_ENV)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


class WorkerFailed(RuntimeError):
    pass


def run_child(python: str, spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    fd, out = tempfile.mkstemp(prefix="costaware-bench-", suffix=".json")
    os.close(fd)
    try:
        done = subprocess.run(
            [python, str(Path(__file__).resolve()), "--worker", json.dumps({**spec, "out": out})],
            env=_child_env(), capture_output=True, text=True, timeout=timeout,
        )
        if done.returncode != 0:
            raise WorkerFailed(
                f"{spec['config']} / {spec['case']} exited {done.returncode}:\n{done.stderr[-3000:]}"
            )
        return json.loads(Path(out).read_text(encoding="utf-8"))
    finally:
        os.unlink(out)


def check_spans(run: dict[str, Any], warmup: int) -> str | None:
    """Instrumented: exactly one span per call (so it is no no-op and no double span); raw: none."""
    expected_per_call = 0 if run["config"] == "raw" else 1
    calls = len(run["samples_ns"])
    if run["spans"] == expected_per_call * calls and run["warmup_spans"] == expected_per_call * warmup:
        return None
    return (
        f"{run['config']} / {run['case']}: expected {expected_per_call} span per call, got "
        f"{run['spans']} spans for {calls} calls ({run['warmup_spans']} for {warmup} warm-up calls); "
        f"scopes {run['span_scopes']}"
    )


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def run_benchmark(args: argparse.Namespace, python: str, configs: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Rounds of fresh processes against one simulator; returns per-case summaries and errors."""
    sys.path.insert(0, str(REPO / "src"))  # the simulator is stdlib-only: any interpreter can serve it
    from costaware.sim import Simulator

    errors: list[str] = []
    invalid: set[str] = set()
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    per_round = max(1, args.calls // args.rounds)
    cpu = 1 if args.pin else None
    with Simulator() as sim:
        base = {
            "anthropic_url": sim.anthropic_base_url,
            "openai_url": sim.openai_base_url,
            "warmup": args.warmup,
            "calls": per_round,
            "cpu": cpu,
        }
        for round_index in range(args.rounds):
            for case_index, case in enumerate(args.cases):
                shift = (round_index + case_index) % len(configs)
                for config in configs[shift:] + configs[:shift]:
                    if config in invalid:
                        continue
                    started = time.perf_counter()
                    try:
                        run = run_child(python, {**base, "config": config, "case": case}, args.timeout)
                    except (WorkerFailed, subprocess.TimeoutExpired) as exc:
                        errors.append(f"ERROR: {exc}")
                        log(errors[-1])
                        invalid.add(config)
                        continue
                    problem = check_spans(run, args.warmup)
                    if problem is not None:
                        errors.append(f"ERROR (no-op or double spans): {problem}")
                        log(errors[-1])
                        invalid.add(config)
                        continue
                    runs.setdefault((case, config), []).append(run)
                    log(
                        f"round {round_index + 1}/{args.rounds} {case:<17} {config:<12} "
                        f"median {statistics.median(run['samples_ns']) / 1e3:8.1f} µs "
                        f"({time.perf_counter() - started:4.1f} s)"
                    )
    results: dict[str, Any] = {}
    for case in args.cases:
        entry: dict[str, Any] = {"label": CASE_LABELS[case], "configs": {}}
        for config in configs:
            if config in invalid or (case, config) not in runs:
                continue
            entry["configs"][config] = summarize(runs[(case, config)])
            entry["configs"][config]["versions"] = runs[(case, config)][0]["versions"]
        add_overheads(entry)
        results[case] = entry
    return results, errors


def add_overheads(entry: dict[str, Any]) -> None:
    configs = entry["configs"]
    raw = configs.get("raw")
    if raw is None:
        return
    for name, stats in configs.items():
        if name == "raw":
            continue
        stats["overhead_median_us"] = stats["median_us"] - raw["median_us"]
        stats["overhead_p99_us"] = stats["p99_us"] - raw["p99_us"]
        paired = [a - b for a, b in zip(stats["round_medians_us"], raw["round_medians_us"])]
        stats["overhead_round_medians_us"] = paired
    ours, theirs = configs.get("costaware"), configs.get("openllmetry")
    if ours is not None and theirs is not None and theirs["overhead_median_us"] > 0:
        entry["ratio_costaware_to_openllmetry"] = ours["overhead_median_us"] / theirs["overhead_median_us"]
        entry["target_met"] = entry["ratio_costaware_to_openllmetry"] <= TARGET_RATIO


def format_table(results: dict[str, Any], imports: dict[str, Any] | None) -> str:
    lines = []
    header = (
        f"{'case':<42} {'config':<12} {'median µs':>10} {'p99 µs':>9} {'overhead µs':>12} "
        f"{'(rounds min..max)':>19} {'p99 ovh µs':>11} {'1st call ms':>11}"
    )
    lines += [header, "-" * len(header)]
    for entry in results.values():
        first = True
        for name, stats in entry["configs"].items():
            if "overhead_median_us" in stats:
                paired = stats["overhead_round_medians_us"]
                overhead = f"{stats['overhead_median_us']:+12.1f}"
                spread = f"({min(paired):+.0f}..{max(paired):+.0f})"
                p99_overhead = f"{stats['overhead_p99_us']:+11.1f}"
            else:
                overhead, spread, p99_overhead = f"{'-':>12}", "", f"{'-':>11}"
            lines.append(
                f"{entry['label'] if first else '':<42} {name:<12} {stats['median_us']:10.1f} "
                f"{stats['p99_us']:9.1f} {overhead} {spread:>19} {p99_overhead} "
                f"{stats['first_call_ms_median']:11.1f}"
            )
            first = False
        if "ratio_costaware_to_openllmetry" in entry:
            verdict = "met" if entry["target_met"] else "NOT met"
            lines.append(
                f"{'':<42} costaware overhead / OpenLLMetry overhead = "
                f"{entry['ratio_costaware_to_openllmetry']:.2f} (target <= {TARGET_RATIO}: {verdict})"
            )
        lines.append("")
    if imports is not None:
        verdict = "met" if imports["import_costaware_wall_ms"] < TARGET_IMPORT_MS else "NOT met"
        lines.append(
            f"import costaware: {imports['import_costaware_wall_ms']:.1f} ms wall over an empty interpreter "
            f"({imports['import_costaware_importtime_ms']:.1f} ms by -X importtime), median of "
            f"{imports['runs']} fresh processes (target < {TARGET_IMPORT_MS:.0f} ms: {verdict})"
        )
        heaviest = ", ".join(f"{m['module']} {m['ms']:.0f}" for m in imports["instrument_heaviest_imports_ms"][:5])
        lines.append(
            f"costaware.instrument() with no SDK imported: {imports['instrument_call_ms']:.1f} ms "
            f"(heaviest top-level imports, ms: {heaviest})"
        )
    return "\n".join(lines)


def profile(args: argparse.Namespace, python: str) -> None:
    """``--profile CONFIG:CASE``: cProfile the measured loop of one worker and print the top functions."""
    import pstats

    sys.path.insert(0, str(REPO / "src"))
    from costaware.sim import Simulator

    config, _, case = args.profile.partition(":")
    fd, stats_path = tempfile.mkstemp(prefix="costaware-profile-", suffix=".pstats")
    os.close(fd)
    with Simulator() as sim:
        spec = {
            "anthropic_url": sim.anthropic_base_url,
            "openai_url": sim.openai_base_url,
            "warmup": args.warmup,
            "calls": args.calls,
            "cpu": 1 if args.pin else None,
            "config": config,
            "case": case or "anthropic",
            "profile_out": stats_path,
        }
        run = run_child(python, spec, args.timeout)
    print(f"{config} / {spec['case']}: {args.calls} calls under cProfile; divide times by the call count")
    print(f"(median under the profiler: {statistics.median(run['samples_ns']) / 1e3:.1f} µs per call)")
    stats = pstats.Stats(stats_path)
    stats.sort_stats(args.profile_sort).print_stats(args.profile_limit)
    os.unlink(stats_path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000, help="measured calls per (configuration, case)")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per process")
    parser.add_argument("--rounds", type=int, default=4, help="fresh processes per (configuration, case)")
    parser.add_argument("--import-runs", type=int, default=20, help="fresh processes for the import time")
    parser.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="the bench virtualenv")
    parser.add_argument("--no-setup", action="store_true", help="never create or fill the bench venv")
    parser.add_argument("--no-openllmetry", action="store_true", help="raw vs costaware only")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin CPUs")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--timeout", type=float, default=600, help="seconds per worker process")
    parser.add_argument("--quick", action="store_true", help="smoke run: 200 calls, 20 warm-up, 1 round")
    parser.add_argument("--profile", metavar="CONFIG:CASE", help="cProfile one worker, e.g. costaware:anthropic")
    parser.add_argument("--profile-sort", default="tottime", help="pstats sort key (tottime, cumulative)")
    parser.add_argument("--profile-limit", type=int, default=40)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.warmup, args.rounds, args.import_runs = 200, 20, 1, 3
    args.warmup = max(1, args.warmup)
    args.rounds = max(1, min(args.rounds, args.calls))
    if args.pin and (not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2):
        args.pin = False
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0

    python, venv_status = (None, "not requested (--no-openllmetry)")
    if not args.no_openllmetry:
        python, venv_status = ensure_bench_venv(args.venv, setup=not args.no_setup)
    configs = ["raw", "costaware", "openllmetry"]
    if python is None:
        if not args.no_openllmetry:
            log(f"WARNING: OpenLLMetry unavailable, measuring raw vs costaware only. {venv_status}")
        configs = ["raw", "costaware"]
        python = sys.executable
        if not _imports_ok(python, PROBE_COSTAWARE):
            log(f"ERROR: {python} cannot import costaware, anthropic, openai and opentelemetry-sdk")
            return 2

    if args.pin:
        os.sched_setaffinity(0, {0})  # the simulator (this process) on CPU 0, the workers on CPU 1
    if args.profile:
        profile(args, python)
        return 0

    started = time.perf_counter()
    log(f"interpreter for every configuration: {python}; configurations: {', '.join(configs)}")
    results, errors = run_benchmark(args, python, configs)
    log("measuring import time...")
    imports = measure_import(python, args.import_runs) if args.import_runs > 0 else None
    elapsed = time.perf_counter() - started

    ratios = [e["ratio_costaware_to_openllmetry"] for e in results.values() if "ratio_costaware_to_openllmetry" in e]
    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "bench/overhead.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "interpreter": python,
        "bench_venv": venv_status,
        "openllmetry_measured": "openllmetry" in configs,
        "settings": {
            "calls_per_case": (args.calls // args.rounds) * args.rounds,
            "warmup_per_process": args.warmup,
            "rounds": args.rounds,
            "cpu_pinning": "simulator on CPU 0, workers on CPU 1" if args.pin else "none",
            "environment": BENCH_ENV,
            "models": {"anthropic": ANTHROPIC_MODEL, "openai": OPENAI_MODEL},
            "max_tokens": MAX_TOKENS,
            "statistics": "median and nearest-rank p99 of all measured calls pooled over rounds; "
            "overhead = instrumented median - raw median",
        },
        "cases": results,
        "import": imports,
        "targets": {
            "overhead_ratio_max": TARGET_RATIO,
            "overhead_ratio_met_all_cases": bool(ratios) and all(r <= TARGET_RATIO for r in ratios)
            if "openllmetry" in configs
            else None,
            "import_ms_max": TARGET_IMPORT_MS,
            "import_met": imports["import_costaware_wall_ms"] < TARGET_IMPORT_MS if imports else None,
        },
        "elapsed_s": round(elapsed, 1),
        "errors": errors,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print()
    print(format_table(results, imports))
    print()
    if "openllmetry" not in configs:
        print(f"OpenLLMetry NOT measured: {venv_status}")
    print(f"{report['machine']['nproc']} CPUs ({report['machine']['cpu']}), Python {report['machine']['python']}; "
          f"{elapsed:.0f} s; JSON: {args.output}")
    for error in errors:
        print(error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
