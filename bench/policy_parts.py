"""What each policy adds to an instrumented call: the scope alone, then a per-invocation budget,
retries, ``route="auto"`` and prompt-cache breakpoints one at a time, then all of them (the
``costaware-policies`` configuration of ``bench/overhead.py``). Beside them, the plain call inside a
span made with OpenTelemetry alone as a scope's span is made: the least a scope can cost while it
keeps its span.

One measuring process (the simulator runs in a process of its own, as in ``bench/overhead.py``), the
same client for every configuration; configurations interleaved in blocks of ``--block``
calls so that machine noise falls on all of them alike. Each figure is a median wall time per call,
and the median CPU time of the calling thread per call (``time.thread_time``: what the call's own
Python work costs, without the wait for the simulator, so less noisy), each reported as µs over the
plain instrumented call (no ``@cost_aware``). The costs are measured right after a real HTTP round
trip, as an application pays them (not in a warm loop).

    .venv/bin/python bench/policy_parts.py                  # anthropic messages.create, 3000 calls each
    .venv/bin/python bench/policy_parts.py --case openai --calls 1000
    .venv/bin/python bench/policy_parts.py --conversation-kb 400 --calls 300   # a long conversation

``--conversation-kb N`` sends, instead of the 7-token prompt, a conversation of about N thousand
characters: real prompts of ``../shared/routing-dev`` (in file order) as alternating user and
assistant turns, ending on a user turn. What each policy costs that grows with the prompt shows there.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

PROMPT = "Tell me about budgets."  # as bench/overhead.py: a 7-token prompt, 183 tokens answered
BARE: dict[str, Any] = {"bare_span": True}
"""Not a costaware configuration: the plain call inside a span made with OpenTelemetry alone, as a
decorated call's scope span is made (named, current, given the scope's totals at the end). What no
implementation of a scope can spend less on, short of dropping its span."""
PARTS: dict[str, dict[str, Any] | None] = {
    "plain": None,
    "plain + bare scope span": BARE,
    "scope": {},
    "scope + budget": {"budget": 1000},
    "scope + retries": {"retries": 2},
    'scope + route="auto"': {"route": "auto"},
    "scope + cache breakpoints": {"cache": True},
    "all (costaware-policies)": {"budget": 1000, "retries": 2, "route": "auto", "cache": True},
}


def _conversation(characters: int) -> list[dict[str, str]]:
    """Real prompts (``../shared/routing-dev``) as alternating user and assistant turns, about
    ``characters`` long in all, ending on a user turn."""
    import json
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "shared" / "routing-dev"
    if not folder.is_dir():
        sys.exit(f"ERROR: --conversation-kb reads real prompts from {folder}, which is missing")
    prompts = [
        json.loads(line)["prompt"]
        for name in ("hard.jsonl", "easy.jsonl")
        for line in (folder / name).read_text(encoding="utf-8").split("\n")
        if line.strip()
    ]
    turns: list[dict[str, str]] = []
    total = 0
    for number, prompt in enumerate(prompts):
        role = "user" if number % 2 == 0 else "assistant"
        turns.append({"role": role, "content": prompt})
        total += len(prompt)
        if total >= characters and role == "user":
            break
    return turns


def _calls(case: str, url: str, conversation_kb: int = 0) -> dict[str, Callable[[], Any]]:
    messages = (
        _conversation(conversation_kb * 1000) if conversation_kb else [{"role": "user", "content": PROMPT}]
    )
    if case == "anthropic":
        import anthropic

        client: Any = anthropic.Anthropic(base_url=url, api_key="x", max_retries=0)

        def call() -> Any:
            return client.messages.create(model="claude-haiku-4-5", max_tokens=200, messages=messages)

    else:
        import openai

        client = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)

        def call() -> Any:
            return client.chat.completions.create(model="gpt-4o-mini", max_tokens=200, messages=messages)

    return {label: configured(call, options) for label, options in PARTS.items()}


def configured(call: Callable[[], Any], options: dict[str, Any] | None) -> Callable[[], Any]:
    """``call`` as a configuration of :data:`PARTS` makes it (OpenTelemetry's global providers)."""
    if options is None:
        return call
    if options == BARE:
        return _with_bare_span(call)
    import costaware

    return costaware.cost_aware(name="bench", **options)(call)  # type: ignore[no-any-return]


def _with_bare_span(call: Callable[[], Any]) -> Callable[[], Any]:
    """``call`` inside an INTERNAL span named, made current and given totals as a scope's span is
    (``telemetry/emit.py``: ``open_scope``, ``close_scope``), with OpenTelemetry alone."""
    from opentelemetry import trace
    from opentelemetry.context import attach, detach

    tracer = trace.get_tracer("bench")
    totals: dict[str, Any] = {
        "costaware.scope.calls": 1,
        "costaware.scope.attempts": 1,
        "costaware.scope.cost.usd": 0.000922,
        "costaware.scope.cost.usd_exact": "0.000922",
        "costaware.scope.unpriced_calls": 0,
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 183,
    }

    def spanned() -> Any:
        named = {"costaware.scope.name": "bench"}
        span = tracer.start_span("costaware.scope bench", kind=trace.SpanKind.INTERNAL, attributes=named)
        token = attach(trace.set_span_in_context(span))
        try:
            return call()
        finally:
            detach(token)
            span.set_attributes(totals)
            span.end()

    return spanned


@contextlib.contextmanager
def _simulator() -> Iterator[str]:
    """``python -m costaware.sim`` on a free loopback port, in a process of its own; its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "costaware.sim", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", choices=("anthropic", "openai"), default="anthropic")
    parser.add_argument("--calls", type=int, default=3000, help="measured calls per configuration")
    parser.add_argument("--block", type=int, default=20, help="calls per interleaved block")
    parser.add_argument("--warmup", type=int, default=200, help="warm-up calls per configuration")
    parser.add_argument(
        "--conversation-kb",
        type=int,
        default=0,
        help="send a real conversation of about N thousand characters",
    )
    args = parser.parse_args()

    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import costaware

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    meter_provider = MeterProvider([InMemoryMetricReader()])
    trace.set_tracer_provider(tracer_provider)  # for the bare span
    metrics.set_meter_provider(meter_provider)
    costaware.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    times: dict[str, list[float]] = {label: [] for label in PARTS}
    cpu: dict[str, list[float]] = {label: [] for label in PARTS}
    with _simulator() as url:
        calls = _calls(args.case, url, args.conversation_kb)
        for _ in range(args.warmup):
            for call in calls.values():
                call()
        exporter.clear()
        rounds = max(args.calls // args.block, 1)
        for block in range(rounds):
            order = list(calls.items())
            if block % 2:
                order.reverse()  # neither end of a block is always the same configuration
            for label, call in order:
                for _ in range(args.block):
                    started, started_cpu = time.perf_counter(), time.thread_time()
                    call()
                    cpu[label].append(time.thread_time() - started_cpu)
                    times[label].append(time.perf_counter() - started)
            exporter.clear()
    costaware.uninstrument()

    base, base_cpu = statistics.median(times["plain"]), statistics.median(cpu["plain"])
    prompt = f"a {args.conversation_kb} KB conversation" if args.conversation_kb else "a 7-token prompt"
    print(f"{args.case}, {prompt}: {rounds * args.block} calls per configuration (µs per call, medians)")
    print(f"{'configuration':<28} {'wall':>7} {'over plain':>11} {'CPU':>7} {'over plain':>11}")
    for label in PARTS:
        wall, used = statistics.median(times[label]), statistics.median(cpu[label])
        print(
            f"{label:<28} {wall * 1e6:>7.0f} {(wall - base) * 1e6:>+11.1f}"
            f" {used * 1e6:>7.0f} {(used - base_cpu) * 1e6:>+11.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
