#!/usr/bin/env python
"""Per-call overhead of costaware and of OpenLLMetry over the raw anthropic / openai SDKs.

One command, from the repository root, with the project's environment active::

    python bench/overhead.py

The first run creates ``bench/.venv-bench`` (costaware editable + OpenLLMetry's instrumentors, with
anthropic, openai and opentelemetry-api/-sdk pinned to this interpreter's versions); every
configuration then runs on that venv's interpreter, so all of them share the same packages.

How: one simulator (``costaware.sim``) serves from this process. For each case and round, one FRESH
Python process per configuration sets up the same OpenTelemetry SDK (a global TracerProvider with
SimpleSpanProcessor(InMemorySpanExporter), a global MeterProvider with InMemoryMetricReader),
instruments (or not), warms up, and waits. This process then has them make their calls in lock-step
blocks (20 calls of one configuration, then 20 of the next, rotating the order), so load from other
programs on the machine falls on every configuration alike; only one of them runs at a time. Each
call is timed with ``time.perf_counter_ns`` (and ``time.thread_time_ns`` for its CPU time). Every
instrumented process must produce exactly one CLIENT span per call (and, with policies, one INTERNAL
scope span), the raw one none (which also proves the anthropic SDK's own tracing is off), or the run
fails.

The costaware source is copied at start and the children import that copy, so edits made to the work
tree while the benchmark runs cannot mix two versions into one result.

Configurations: ``raw`` (nothing instrumented), ``costaware`` (``costaware.instrument``),
``costaware-policies`` (the same, and every call made inside ``@cost_aware(budget=..., retries=2,
route="auto", cache=True)``: a budget reserved and settled, retries armed, a routing decision and
prompt-cache breakpoints on every call), ``openllmetry`` (``AnthropicInstrumentor`` +
``OpenAIInstrumentor``). Cases: anthropic
``messages.create``; the same with ``stream=True`` read to the end; openai ``chat.completions.create``;
the same streamed with ``stream_options={"include_usage": True}``. Content capture is off in all
(``TRACELOOP_TRACE_CONTENT=false``, ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=false``) and so
is the anthropic SDK's built-in tracing (``ANTHROPIC_OPEN_TELEMETRY=false``).

Also measured: the import time of ``costaware`` and the cost of ``costaware.instrument()`` before any
SDK is imported. Output: a table on stdout and ``bench/results/overhead.json``.

``--quick`` is a smoke run; ``--profile costaware:anthropic`` runs one configuration and case under
cProfile; ``--no-openllmetry`` / ``--no-setup`` skip the bench venv. See ``--help``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import hashlib
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
DEFAULT_VENV = BENCH / ".venv-bench"
DEFAULT_OUTPUT = BENCH / "results" / "overhead.json"
REQUIREMENTS = BENCH / "requirements-bench.txt"
PYCACHE = Path(tempfile.gettempdir()) / "costaware-bench-pycache"

CASES = ("anthropic", "anthropic-stream", "openai", "openai-stream")
CASE_LABELS = {
    "anthropic": "anthropic messages.create",
    "anthropic-stream": "anthropic messages.create(stream=True)",
    "openai": "openai chat.completions.create",
    "openai-stream": "openai chat.completions.create(stream=True)",
}
# The same environment for every configuration, raw included.
BENCH_ENV = {
    "ANTHROPIC_OPEN_TELEMETRY": "false",  # the anthropic SDK's built-in spans: off everywhere
    "TRACELOOP_TRACE_CONTENT": "false",  # OpenLLMetry: no prompts / completions on spans
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "false",  # costaware (its default anyway)
}
ANTHROPIC_MODEL = "claude-haiku-4-5"
OPENAI_MODEL = "gpt-4o-mini"
MAX_TOKENS = 200
PROMPT = "Tell me about budgets."  # the simulator answers it with 183 tokens: ~40 stream events

TARGET_RATIO = 0.5  # costaware's median overhead at most half of OpenLLMetry's (policies too)
POLICIES = "costaware-policies"
# Every call of the policies configuration: a per-invocation budget no call comes near (so nothing is
# refused or downgraded), retries armed, route="auto", prompt-cache breakpoints. No ResponseCache: it
# would answer the benchmark's identical requests itself and there would be no call left to measure.
POLICY_OPTIONS: dict[str, Any] = {"budget": 1000, "retries": 2, "route": "auto", "cache": True}
# Spans each configuration must produce per call, by kind: anything else voids the run.
EXPECTED_SPANS: dict[str, dict[str, int]] = {
    "raw": {},
    "costaware": {"CLIENT": 1},
    POLICIES: {"CLIENT": 1, "INTERNAL": 1},  # the call's span and its scope's
    "openllmetry": {"CLIENT": 1},
}
TARGET_IMPORT_MS = 50.0

VERSIONED = (
    "costaware", "anthropic", "openai", "httpx2", "pydantic", "wrapt", "genai-prices",
    "opentelemetry-api", "opentelemetry-sdk", "opentelemetry-instrumentation",
    "opentelemetry-instrumentation-anthropic", "opentelemetry-instrumentation-openai",
)  # fmt: skip


# ============================================================================================
# Worker side: one fresh process per (configuration, case, round)
# ============================================================================================


def _set_up_providers() -> tuple[Any, Any]:
    """The global SDK providers, identical in every configuration: (span exporter, metric reader)."""
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
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return exporter, reader


def _instrument(config: str) -> None:
    from opentelemetry import metrics, trace

    if config in ("costaware", POLICIES):
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
    """One call of ``case``; returns the number of stream events (0 when not streamed).

    The method is looked up on the client at every call, as applications do: wrapt binds its wrapper
    on that lookup, which is part of the cost being measured.
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
        for _ in client.chat.completions.create(
            stream=True, stream_options={"include_usage": True}, **kwargs
        ):
            events += 1
        return events

    return openai_stream


def _with_policies(call: Callable[[], int]) -> Callable[[], int]:
    """``call`` made inside a fresh ``@cost_aware`` scope each time (the decorator's cost is measured)."""
    import costaware

    return costaware.cost_aware(name="bench", **POLICY_OPTIONS)(call)  # type: ignore[no-any-return]


def _span_kinds(spans: Sequence[Any]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for span in spans:
        kinds[span.kind.name] = kinds.get(span.kind.name, 0) + 1
    return kinds


def _models(attributes: Any) -> str:
    """``requested -> answered`` as a call's span records them (route="auto" may change the model)."""
    return f"{attributes.get('gen_ai.request.model')} -> {attributes.get('gen_ai.response.model')}"


def _versions() -> dict[str, str]:
    found = {}
    for dist in VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[dist] = metadata.version(dist)
    return found


class WorkerSession:
    """Set up and warmed up on creation; ``run(n)`` times ``n`` more calls; ``result()`` reports."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        if spec.get("cpu") is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {spec["cpu"]})
        self.exporter, self.reader = _set_up_providers()
        _instrument(spec["config"])
        self.call = _make_call(spec["case"], spec["anthropic_url"], spec["openai_url"])
        if spec["config"] == POLICIES:
            self.call = _with_policies(self.call)
        start = time.perf_counter_ns()
        self.stream_events = self.call()
        self.first_call_ns = time.perf_counter_ns() - start
        for _ in range(spec["warmup"] - 1):
            self.call()
        self.warmup_spans = _span_kinds(self.exporter.get_finished_spans())
        self.exporter.clear()
        self.samples: list[int] = []
        self.cpu_samples: list[int] = []
        self.blocks: list[int] = []  # where each block of calls ends in ``samples``
        self.process_cpu_ns = 0
        self.process_cpu_calls = 0
        self.profiler: Any = None
        if spec.get("profile_out"):
            import cProfile

            self.profiler = cProfile.Profile()
        gc.collect()

    def run(self, calls: int) -> None:
        """Time ``calls`` calls: wall time, and this thread's CPU time (which time spent waiting on the
        simulator or preempted by other programs does not count, so it is steadier on a busy machine)."""
        call, wall, cpu = self.call, time.perf_counter_ns, time.thread_time_ns
        samples, cpu_samples = [0] * calls, [0] * calls
        if self.profiler is not None:
            self.profiler.enable()
        process_start = time.process_time_ns()
        for i in range(calls):
            start = wall()
            cpu_start = cpu()
            call()
            cpu_samples[i] = cpu() - cpu_start
            samples[i] = wall() - start
        # Every thread's CPU, not only the caller's: work an instrumentation moves to another thread
        # still counts.
        self.process_cpu_ns += time.process_time_ns() - process_start
        self.process_cpu_calls += calls
        if self.profiler is not None:
            self.profiler.disable()
        self.samples += samples
        self.cpu_samples += cpu_samples
        self.blocks.append(len(self.samples))

    def result(self) -> dict[str, Any]:
        if self.profiler is not None:
            self.profiler.dump_stats(self.spec["profile_out"])
        spans = self.exporter.get_finished_spans()
        # The call's span (with policies, its scope's span ends after it and is not the one to show).
        calls = [s for s in spans if s.kind.name == "CLIENT"] or list(spans)
        attributes = dict(calls[-1].attributes or {}) if calls else {}
        data = self.reader.get_metrics_data()
        metric_names = set()
        if data is not None:
            metric_names = {
                m.name for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            }
        return {
            "process_cpu_us_per_call": self.process_cpu_ns / max(self.process_cpu_calls, 1) / 1000,
            "config": self.spec["config"],
            "case": self.spec["case"],
            "samples_ns": self.samples,
            "cpu_samples_ns": self.cpu_samples,
            "blocks": self.blocks,
            "first_call_ns": self.first_call_ns,
            "stream_events": self.stream_events,
            "warmup_spans": self.warmup_spans,
            "spans": _span_kinds(spans),
            "span_scopes": sorted({s.instrumentation_scope.name for s in spans if s.instrumentation_scope}),
            "span_name": calls[-1].name if calls else None,
            "span_names": sorted({s.name for s in spans}),
            "models": sorted({_models(s.attributes) for s in calls if s.attributes}),
            "token_attributes": {k: v for k, v in attributes.items() if "token" in k},
            "cost_attributes": {k: v for k, v in attributes.items() if "cost" in k},
            "metrics": sorted(metric_names),
            "python": platform.python_version(),
            "versions": _versions(),
            "costaware_file": getattr(sys.modules.get("costaware"), "__file__", None),
        }


def worker_main(raw_spec: str) -> None:
    """Line protocol on stdin: ``run N`` -> ``ok``; ``done`` -> result file, ``bye``. Says ``ready`` first."""
    spec = json.loads(raw_spec)
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the protocol
    session = WorkerSession(spec)
    replies.write("ready\n")
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "run":
            session.run(int(argument))
            replies.write("ok\n")
        elif command == "done":
            Path(spec["out"]).write_text(json.dumps(session.result()), encoding="utf-8")
            replies.write("bye\n")
            return


# ============================================================================================
# Parent side: bench venv, source snapshot, children, statistics, report
# ============================================================================================


def write_results(path: Path, results: Any) -> None:
    """Write a benchmark's results as indented JSON (the folder made if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def child_env(source: Path | None) -> dict[str, str]:
    """Every child's environment: ``BENCH_ENV``; the costaware snapshot first on the path; bytecode
    cached outside the repository (under ``PYTHONDONTWRITEBYTECODE`` every fresh process would compile
    the snapshot again, which would be counted as import time)."""
    drop = ("OTEL_", "TRACELOOP_", "ANTHROPIC_OPEN", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(BENCH_ENV)
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    return env


def snapshot_source(src: Path) -> tuple[Path, str]:
    """Copy ``src/costaware`` to a temporary folder; return it and a digest of its ``.py`` files."""
    root = Path(tempfile.mkdtemp(prefix="costaware-bench-src-"))
    shutil.copytree(src / "costaware", root / "costaware", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    for path in sorted((root / "costaware").rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return root, digest.hexdigest()[:16]


def git_head() -> str | None:
    """The commit checked out, read from ``.git`` (best effort; no git command is run)."""
    try:
        head = (REPO / ".git" / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head
        ref = head[5:]
        loose = REPO / ".git" / ref
        if loose.exists():
            return loose.read_text().strip()
        for line in (REPO / ".git" / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0]
    except OSError:
        pass
    return None


PROBE_COSTAWARE = "import anthropic, openai, opentelemetry.sdk.trace, costaware; costaware.instrument()"
PROBE_OPENLLMETRY = "import opentelemetry.instrumentation.anthropic, opentelemetry.instrumentation.openai"


def probe(python: str | Path, code: str, env: dict[str, str]) -> str | None:
    """``None`` if ``python -c code`` succeeds, else the end of its error output."""
    try:
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=180, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else done.stderr.strip()[-1500:]


def _sdk_pins() -> list[str]:
    """The SDK versions of this interpreter, so the bench venv runs every configuration on the same ones."""
    pins = []
    for dist in ("anthropic", "openai", "opentelemetry-api", "opentelemetry-sdk"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            pins.append(f"{dist}=={metadata.version(dist)}")
    return pins


def ensure_bench_venv(venv: Path, *, setup: bool) -> tuple[str | None, str]:
    """The bench venv's python, created and filled if needed; or ``None`` and the reason."""
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = child_env(None)
    ready = f"{PROBE_COSTAWARE}; {PROBE_OPENLLMETRY}"
    if python.exists() and probe(python, ready, env) is None:
        return str(python), f"{venv} (already set up)"
    if not setup:
        return None, f"{venv} is missing or incomplete and --no-setup was given"
    log(f"setting up {venv}: costaware (editable) + OpenLLMetry's instrumentors, about a minute...")
    try:
        if not python.exists():
            subprocess.run(
                [sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300
            )
        install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        install += ["-e", f"{REPO}[all]", "-r", str(REQUIREMENTS)]
        done = subprocess.run([*install, *_sdk_pins()], capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            log("pip could not pin the SDKs to this interpreter's versions; installing unpinned")
            done = subprocess.run(install, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            errors = "\n".join(line for line in done.stderr.splitlines() if "WARNING" not in line)
            return None, f"pip install into {venv} failed:\n{errors[-1500:]}"
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not set up {venv}: {exc}"
    problem = probe(python, ready, env)
    if problem is not None:
        return None, f"{venv} was set up but cannot import costaware and OpenLLMetry:\n{problem}"
    return str(python), f"{venv} (created by this run)"


class WorkerFailed(RuntimeError):
    def __init__(self, config: str, message: str) -> None:
        super().__init__(message)
        self.config = config


class Child:
    """A worker process driven over its stdin / stdout."""

    def __init__(self, python: str, spec: dict[str, Any], env: dict[str, str], timeout: float) -> None:
        fd, self.out = tempfile.mkstemp(prefix="costaware-bench-", suffix=".json")
        os.close(fd)
        self.config = spec["config"]
        self.label = f"{spec['config']} / {spec['case']}"
        self.timeout = timeout
        self.stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        argv = [python, str(Path(__file__).resolve()), "--worker", json.dumps({**spec, "out": self.out})]
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            text=True,
            bufsize=1,
        )

    def expect(self, word: str) -> None:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], self.timeout)
        line = self.proc.stdout.readline() if ready else ""
        if line.strip() != word:
            self.proc.kill()
            self.proc.wait()
            self.stderr.seek(0)
            tail = self.stderr.read().decode(errors="replace")[-3000:]
            why = "timed out" if not ready else f"exited {self.proc.returncode}"
            raise WorkerFailed(self.config, f"{self.label} {why} (expected {word!r}):\n{tail}")

    def send(self, command: str, reply: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass  # expect() reports why
        self.expect(reply)

    def finish(self) -> dict[str, Any]:
        self.send("done", "bye")
        self.proc.wait(timeout=self.timeout)
        result: dict[str, Any] = json.loads(Path(self.out).read_text(encoding="utf-8"))
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()
        Path(self.out).unlink(missing_ok=True)


# The overheads compared, and each costaware configuration's keys in a case's entry (median ratio,
# paired-block ratio, CPU ratio, target met); plain costaware's keep their names from earlier runs.
RATIO_OF = ("overhead_median_us", "overhead_paired_blocks_us", "cpu_overhead_median_us")
RATIO_KEYS = {
    "costaware": ("ratio_costaware_to_openllmetry", "ratio_paired_blocks", "ratio_cpu", "target_met"),
    POLICIES: (
        "ratio_policies_to_openllmetry",
        "ratio_policies_paired_blocks",
        "ratio_policies_cpu",
        "policies_target_met",
    ),
}


def check_spans(run: dict[str, Any], warmup: int) -> str | None:
    """Instrumented: exactly one CLIENT span per call (no no-op, no double span), and with policies one
    INTERNAL scope span per call; raw: none at all."""
    per_call = EXPECTED_SPANS[run["config"]]
    calls = len(run["samples_ns"])
    if run["spans"] == {k: n * calls for k, n in per_call.items()} and run["warmup_spans"] == {
        k: n * warmup for k, n in per_call.items()
    }:
        return None
    return (
        f"{run['config']} / {run['case']}: expected {per_call or 'no spans'} per call, got {run['spans']} "
        f"for {calls} calls and {run['warmup_spans']} for {warmup} warm-up calls "
        f"(scopes {run['span_scopes']}, names {run['span_names']})"
    )


def run_round(
    args: argparse.Namespace, ctx: dict[str, Any], configs: list[str], case: str, base: dict[str, Any]
) -> list[dict[str, Any]]:
    """One fresh process per configuration for ``case``, driven in rotating lock-step blocks."""
    children = {}
    try:
        for config in configs:
            children[config] = Child(
                ctx["python"], {**base, "config": config, "case": case}, ctx["env"], args.timeout
            )
        for child in children.values():
            child.expect("ready")
        order = list(children)
        remaining, block_index = args.calls // args.rounds, 0
        while remaining > 0:
            size = min(args.block, remaining)
            shift = block_index % len(order)
            for config in order[shift:] + order[:shift]:
                children[config].send(f"run {size}", "ok")
            remaining -= size
            block_index += 1
        return [child.finish() for child in children.values()]
    finally:
        for child in children.values():
            child.close()


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def block_medians(run: dict[str, Any]) -> list[float]:
    starts = [0, *run["blocks"][:-1]]
    return [statistics.median(run["samples_ns"][a:b]) for a, b in zip(starts, run["blocks"], strict=True)]


def summarize(runs: list[dict[str, Any]], raw_runs: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Pooled median / p99 (µs) of one configuration's runs of a case; with ``raw_runs``, overheads."""
    pooled = sorted(s for run in runs for s in run["samples_ns"])
    cpu = sorted(s for run in runs for s in run["cpu_samples_ns"])
    first = runs[0]
    stats: dict[str, Any] = {
        "n": len(pooled),
        "median_us": statistics.median(pooled) / 1e3,
        "p99_us": percentile(pooled, 99) / 1e3,
        "mean_us": statistics.fmean(pooled) / 1e3,
        "thread_cpu_median_us": statistics.median(cpu) / 1e3,
        # CPU of every thread of the process per call (costaware's recorder thread included).
        "cpu_median_us": statistics.fmean(run["process_cpu_us_per_call"] for run in runs),
        "round_medians_us": [statistics.median(run["samples_ns"]) / 1e3 for run in runs],
        "first_call_ms": [run["first_call_ns"] / 1e6 for run in runs],
        "stream_events": first["stream_events"],
        "spans_per_call": {
            kind: sum(run["spans"].get(kind, 0) for run in runs) / len(pooled)
            for kind in sorted({k for run in runs for k in run["spans"]})
        },
        "span_name": first["span_name"],
        "span_names": first["span_names"],
        "models": first["models"],
        "span_scopes": first["span_scopes"],
        "token_attributes": first["token_attributes"],
        "cost_attributes": first["cost_attributes"],
        "metrics": first["metrics"],
        "versions": first["versions"],
        "costaware_imported_from": first["costaware_file"],
    }
    if raw_runs is not None:
        raw = sorted(s for run in raw_runs for s in run["samples_ns"])
        stats["overhead_median_us"] = stats["median_us"] - statistics.median(raw) / 1e3
        stats["overhead_p99_us"] = stats["p99_us"] - percentile(raw, 99) / 1e3
        raw_cpu = statistics.fmean(run["process_cpu_us_per_call"] for run in raw_runs)
        stats["cpu_overhead_median_us"] = stats["cpu_median_us"] - raw_cpu
        # Each block against the raw block run right next to it: a check that is robust to drift.
        pairs = zip(runs, raw_runs, strict=True)
        paired = [
            a - b for run, base in pairs for a, b in zip(block_medians(run), block_medians(base), strict=True)
        ]
        stats["overhead_paired_blocks_us"] = statistics.median(paired) / 1e3
    return stats


def run_benchmark(
    args: argparse.Namespace, ctx: dict[str, Any]
) -> tuple[dict[str, Any], list[str], list[str]]:
    """All cases and rounds against one simulator: (per-case results, errors, configurations measured).

    A failure of raw or costaware (a crash, or not exactly one span per call) voids the run; one of
    OpenLLMetry's drops it from the comparison, which still reports raw vs costaware. Either way the
    error is reported and the command exits non-zero.
    """
    sys.path.insert(0, str(ctx["source"]))  # the simulator is standard library only
    from costaware.sim import Simulator

    errors: list[str] = []
    failed: set[str] = set()
    runs: dict[str, list[dict[str, Any]]] = {}

    def fail(config: str, message: str) -> None:
        errors.append(message)
        log(message)
        failed.add(config)

    with Simulator() as sim:
        base = {
            "anthropic_url": sim.anthropic_base_url,
            "openai_url": sim.openai_base_url,
            "warmup": args.warmup,
            "cpu": 1 if args.pin else None,
        }
        for round_index in range(args.rounds):
            for case in args.cases:
                started = time.perf_counter()
                results: list[dict[str, Any]] = []
                while not failed - {"openllmetry"}:
                    configs = [c for c in ctx["configs"] if c not in failed]
                    try:
                        results = run_round(args, ctx, configs, case, base)
                        break
                    except WorkerFailed as exc:
                        fail(exc.config, f"ERROR: {exc}")
                for run in results:
                    problem = check_spans(run, args.warmup)
                    if problem is not None:
                        fail(run["config"], f"ERROR (a no-op or doubled spans): {problem}")
                    runs.setdefault(f"{case}|{run['config']}", []).append(run)
                if failed - {"openllmetry"}:
                    return {}, errors, []
                medians = ", ".join(
                    f"{r['config']} {statistics.median(r['samples_ns']) / 1e3:.0f}" for r in results
                )
                log(
                    f"round {round_index + 1}/{args.rounds} {case:<16} medians µs: {medians} "
                    f"({time.perf_counter() - started:.0f} s)"
                )
    measured = [c for c in ctx["configs"] if c not in failed]
    cases: dict[str, Any] = {}
    for case in args.cases:
        raw_runs = runs[f"{case}|raw"]
        stats = {c: summarize(runs[f"{case}|{c}"], None if c == "raw" else raw_runs) for c in measured}
        entry: dict[str, Any] = {"label": CASE_LABELS[case], "configs": stats}
        theirs = stats.get("openllmetry")
        for config, keys in RATIO_KEYS.items():
            ours = stats.get(config)
            if ours is None or theirs is None:
                continue
            for key, of in zip(keys[:3], RATIO_OF, strict=True):
                if theirs[of] > 0:
                    entry[key] = ours[of] / theirs[of]
            ratio = entry.get(keys[0])
            entry[keys[3]] = ratio is not None and ratio <= TARGET_RATIO
        cases[case] = entry
    return cases, errors, measured


# -- import time ------------------------------------------------------------------------------

INSTRUMENT_SNIPPET = (
    "import sys, time; import costaware; t = time.perf_counter(); costaware.instrument(); "
    "t = time.perf_counter() - t; "
    "assert not {m.split('.')[0] for m in sys.modules} & {'anthropic', 'openai'}, 'an SDK was imported'; "
    "print(t)"
)


def parse_importtime(stderr: str) -> list[tuple[str, int]]:
    """(module, cumulative µs) of each top-level import in ``-X importtime`` output."""
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        try:
            _, cumulative, name = line[len("import time:") :].split("|", 2)
        except ValueError:
            continue
        if name.startswith(" ") and not name.startswith("  "):  # one space of indent: top level
            found.append((name.strip(), int(cumulative)))
    return found


def measure_import(python: str, env: dict[str, str], runs: int) -> dict[str, Any]:
    """Medians over ``runs`` fresh processes: ``import costaware`` (wall minus an empty interpreter's,
    and ``-X importtime``'s figure) and ``costaware.instrument()`` with no SDK imported."""

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([python, *argv], check=True, capture_output=True, text=True, env=env)

    def wall(*argv: str) -> float:
        start = time.perf_counter()
        run(*argv)
        return time.perf_counter() - start

    for argv in (("-c", "pass"), ("-c", "import costaware"), ("-c", INSTRUMENT_SNIPPET)):
        run(*argv)  # fill the bytecode cache first
    empty: list[float] = []
    plain: list[float] = []
    importtime: list[int] = []
    instrument: list[float] = []
    heavy: dict[str, list[int]] = {}
    for _ in range(runs):
        empty.append(wall("-c", "pass"))
        plain.append(wall("-c", "import costaware"))
        importtime.append(
            dict(parse_importtime(run("-X", "importtime", "-c", "import costaware").stderr))["costaware"]
        )
        instrument.append(float(run("-c", INSTRUMENT_SNIPPET).stdout.split()[-1]))
        for name, micros in parse_importtime(run("-X", "importtime", "-c", INSTRUMENT_SNIPPET).stderr):
            heavy.setdefault(name, []).append(micros)
    top = sorted(((statistics.median(v) / 1e3, k) for k, v in heavy.items()), reverse=True)[:6]
    return {
        "runs": runs,
        "import_costaware_ms": (statistics.median(plain) - statistics.median(empty)) * 1e3,
        "import_costaware_importtime_ms": statistics.median(importtime) / 1e3,
        "empty_interpreter_ms": statistics.median(empty) * 1e3,
        "instrument_ms": statistics.median(instrument) * 1e3,
        "instrument_top_level_imports_ms": {k: round(ms, 1) for ms, k in top},
        "note": "import_costaware_ms = wall(python -c 'import costaware') - wall(python -c 'pass'); "
        "instrument_ms = costaware.instrument() after the import, no SDK imported; "
        "instrument_top_level_imports_ms from -X importtime of that program",
    }


# -- report ------------------------------------------------------------------------------------


def machine_info(load_at_start: Any = None) -> dict[str, Any]:
    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": load,
    }


def format_table(cases: dict[str, Any], imports: dict[str, Any] | None) -> str:
    header = (
        f"{'  config':<22}{'median µs':>10}{'p99 µs':>10}{'overhead µs':>13}{'paired µs':>11}"
        f"{'p99 ovh µs':>12}{'CPU µs':>9}{'CPU ovh µs':>12}{'1st call ms':>13}"
        "   (CPU: every thread of the process, per call)"
    )
    lines = [header, "-" * len(header)]
    for entry in cases.values():
        lines.append(entry["label"])
        for name, s in entry["configs"].items():
            if "overhead_median_us" in s:
                overheads = (
                    f"{s['overhead_median_us']:+13.1f}{s['overhead_paired_blocks_us']:+11.1f}"
                    f"{s['overhead_p99_us']:+12.1f}"
                )
                cpu_overhead = f"{s['cpu_overhead_median_us']:+12.1f}"
            else:
                overheads, cpu_overhead = f"{'-':>13}{'-':>11}{'-':>12}", f"{'-':>12}"
            lines.append(
                f"  {name:<20}{s['median_us']:10.1f}{s['p99_us']:10.1f}{overheads}"
                f"{s['cpu_median_us']:9.1f}{cpu_overhead}{statistics.median(s['first_call_ms']):13.1f}"
            )
        for config, (median, paired, cpu, met) in RATIO_KEYS.items():
            if median not in entry:
                continue
            checks = ", ".join(
                f"{label} {entry[key]:.2f}"
                for key, label in ((paired, "paired blocks"), (cpu, "CPU time"))
                if key in entry
            )
            lines.append(
                f"  {config + ' overhead / OpenLLMetry overhead:':<52}{entry[median]:.2f}"
                f" ({checks}); target <= {TARGET_RATIO}: {'met' if entry[met] else 'NOT met'}"
            )
        lines.append("")
    if imports is not None:
        verdict = "met" if imports["import_costaware_ms"] < TARGET_IMPORT_MS else "NOT met"
        lines.append(
            f"import costaware: {imports['import_costaware_ms']:.1f} ms over an empty interpreter "
            f"(-X importtime: {imports['import_costaware_importtime_ms']:.1f} ms), median of "
            f"{imports['runs']} fresh processes; target < {TARGET_IMPORT_MS:.0f} ms: {verdict}"
        )
        top = ", ".join(f"{k} {v:.0f}" for k, v in imports["instrument_top_level_imports_ms"].items())
        lines.append(
            f"costaware.instrument(), no SDK imported: {imports['instrument_ms']:.1f} ms (imports, ms: {top})"
        )
    return "\n".join(lines)


def profile(args: argparse.Namespace, ctx: dict[str, Any]) -> None:
    """``--profile CONFIG:CASE``: cProfile one worker's measured calls and print the top functions."""
    import pstats

    sys.path.insert(0, str(ctx["source"]))
    from costaware.sim import Simulator

    config, _, case = args.profile.partition(":")
    case = case or "anthropic"
    fd, stats_path = tempfile.mkstemp(prefix="costaware-profile-", suffix=".pstats")
    os.close(fd)
    with Simulator() as sim:
        spec = {
            "anthropic_url": sim.anthropic_base_url,
            "openai_url": sim.openai_base_url,
            "warmup": args.warmup,
            "cpu": 1 if args.pin else None,
            "config": config,
            "case": case,
            "profile_out": stats_path,
        }
        child = Child(ctx["python"], spec, ctx["env"], args.timeout)
        try:
            child.expect("ready")
            child.send(f"run {args.calls}", "ok")
            run = child.finish()
        finally:
            child.close()
    median = statistics.median(run["samples_ns"]) / 1e3
    print(
        f"{config} / {case}: {args.calls} calls under cProfile "
        f"(median {median:.0f} µs per call with the profiler on)"
    )
    stats = pstats.Stats(stats_path)
    stats.sort_stats(args.profile_sort).print_stats(args.profile_filter, args.profile_limit)
    os.unlink(stats_path)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--calls", type=int, default=2000, help="measured calls per (configuration, case); default 2000")
    add("--warmup", type=int, default=200, help="warm-up calls in each process; default 200")
    add("--rounds", type=int, default=2, help="fresh processes per (configuration, case); default 2")
    add("--block", type=int, default=20, help="calls per lock-step block; default 20")
    add("--import-runs", type=int, default=20, help="fresh processes for the import time; default 20")
    add("--cases", nargs="+", choices=CASES, default=list(CASES))
    add("--venv", type=Path, default=DEFAULT_VENV, help="the bench virtualenv (default bench/.venv-bench)")
    add("--no-setup", action="store_true", help="never create or fill the bench venv")
    add("--no-openllmetry", action="store_true", help="raw vs costaware only, with this interpreter")
    add("--no-policies", action="store_true", help=f"leave out the {POLICIES} configuration")
    add(
        "--pin",
        action="store_true",
        help="simulator on CPU 0, workers on CPU 1 (for an otherwise idle machine)",
    )
    add(
        "--costaware-src", type=Path, default=REPO / "src", help="the folder holding the costaware to measure"
    )
    add(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help="the JSON report (default bench/results/overhead.json)",
    )
    add("--timeout", type=float, default=600, help="seconds a worker may take for one step")
    add("--quick", action="store_true", help="smoke run: 300 calls, 30 warm-up, 1 round, 3 import runs")
    add(
        "--profile",
        metavar="CONFIG:CASE",
        help="cProfile one worker instead, e.g. costaware-policies:anthropic",
    )
    add("--profile-sort", default="cumulative", help="pstats sort key (cumulative, tottime)")
    add("--profile-filter", default="costaware|wrapt|opentelemetry", help="regex on file:function")
    add("--profile-limit", type=int, default=40)
    add("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.warmup, args.rounds, args.import_runs = 300, 30, 1, 3
    args.warmup = max(1, args.warmup)
    args.rounds = max(1, min(args.rounds, args.calls))
    args.block = max(1, args.block)
    if args.pin and (not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2):
        args.pin = False
    return args


def prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Choose the interpreter and configurations; snapshot the costaware source. Exits on failure."""
    source, digest = snapshot_source(args.costaware_src)
    head = git_head()  # now, with the snapshot: commits made while the benchmark runs are not in it
    env = child_env(source)
    python, venv_status = None, "not requested (--no-openllmetry)"
    if not args.no_openllmetry:
        python, venv_status = ensure_bench_venv(args.venv, setup=not args.no_setup)
    configs = ["raw", "costaware", POLICIES, "openllmetry"]
    if python is None:
        if not args.no_openllmetry:
            log(f"WARNING: OpenLLMetry unavailable; measuring raw vs costaware only. {venv_status}")
        python, configs = sys.executable, ["raw", "costaware", POLICIES]
    if args.no_policies:
        configs.remove(POLICIES)
    problem = probe(python, PROBE_COSTAWARE, env)
    if problem is not None:
        shutil.rmtree(source, ignore_errors=True)
        sys.exit(
            f"ERROR: {python} cannot import and instrument this costaware (snapshot {digest}):\n{problem}"
        )
    return {
        "python": python,
        "configs": configs,
        "env": env,
        "source": source,
        "digest": digest,
        "git_head": head,
        "venv_status": venv_status,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    ctx = prepare(args)
    try:
        if args.pin:
            os.sched_setaffinity(0, {0})  # the simulator (this process) on CPU 0; workers pin to CPU 1
        if args.profile:
            profile(args, ctx)
            return 0
        started = time.perf_counter()
        load_at_start = os.getloadavg() if hasattr(os, "getloadavg") else None
        log(
            f"interpreter: {ctx['python']}; configurations: {', '.join(ctx['configs'])}; "
            f"costaware snapshot {ctx['digest']}"
        )
        cases, errors, measured = run_benchmark(args, ctx)
        imports = None
        if cases and args.import_runs > 0:
            log("measuring import time...")
            imports = measure_import(ctx["python"], ctx["env"], args.import_runs)
        elapsed = time.perf_counter() - started
    finally:
        shutil.rmtree(ctx["source"], ignore_errors=True)

    measured_openllmetry = "openllmetry" in measured

    def met_in_all_cases(config: str) -> bool | None:
        if not measured_openllmetry or errors or config not in measured:
            return None
        ratios = [e.get(RATIO_KEYS[config][0]) for e in cases.values()]
        return bool(ratios) and all(r is not None and r <= TARGET_RATIO for r in ratios)

    report = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python bench/overhead.py", *(sys.argv[1:] if argv is None else argv)]),
        "costaware_source": {"git_head": ctx["git_head"], "snapshot_sha256_16": ctx["digest"]},
        "machine": machine_info(load_at_start),
        "interpreter": ctx["python"],
        "bench_venv": ctx["venv_status"],
        "openllmetry_measured": measured_openllmetry,
        "settings": {
            "calls_per_case": (args.calls // args.rounds) * args.rounds,
            "rounds": args.rounds,
            "block": args.block,
            "warmup_per_process": args.warmup,
            "cpu_pinning": args.pin,
            "environment": BENCH_ENV,
            "request": {
                "anthropic_model": ANTHROPIC_MODEL,
                "openai_model": OPENAI_MODEL,
                "max_tokens": MAX_TOKENS,
                "prompt": PROMPT,
            },
            "statistics": "median and nearest-rank p99 of every measured call pooled over rounds; overhead = "
            "instrumented median - raw median; paired = median over blocks of (block median - the raw "
            "block median of the same cycle)",
        },
        "cases": cases,
        "import": imports,
        "targets": {
            "overhead_ratio_max": TARGET_RATIO,
            "overhead_ratio_met_in_all_cases": met_in_all_cases("costaware"),
            "policies": {"configuration": POLICIES, "cost_aware": POLICY_OPTIONS},
            "policies_overhead_ratio_met_in_all_cases": met_in_all_cases(POLICIES),
            "import_ms_max": TARGET_IMPORT_MS,
            "import_met": imports["import_costaware_ms"] < TARGET_IMPORT_MS if imports else None,
        },
        "elapsed_s": round(elapsed, 1),
        "errors": errors,
    }
    write_results(args.output, report)

    print()
    print(format_table(cases, imports))
    if "openllmetry" not in ctx["configs"]:
        print(f"OpenLLMetry NOT measured: {ctx['venv_status']}")
    elif not measured_openllmetry and cases:
        print("OpenLLMetry NOT measured: its runs failed (errors below)")
    machine = report["machine"]
    print(
        f"{machine['nproc']} CPUs ({machine['cpu']}), Python {machine['python']}, {elapsed:.0f} s; "
        f"JSON: {args.output}"
    )
    for error in errors:
        print(error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
