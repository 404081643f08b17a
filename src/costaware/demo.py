"""``costaware demo``: a short realistic workload through the real SDKs against the local simulator.

Long shared system prompts with short questions, streaming and not, both providers, the Responses
API and embeddings, and a few injected transient faults that the SDKs' own retries absorb. Prints
per-model calls, tokens and cost. With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, spans and metrics are
also exported there over OTLP/HTTP.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any, TextIO

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

from costaware.core.types import money_column

QUESTIONS = (
    "Where is my order #4417? It was due on Monday.",
    "How do I reset my password if I no longer have the recovery email?",
    "Can I change the delivery address after the parcel has shipped?",
    "What is your refund policy for opened electronics?",
    "My invoice shows VAT twice. Can you fix it?",
    "Do you ship to Norway, and how long does it take?",
    "The app crashes when I upload a photo larger than 10 MB. Any workaround?",
    "Please summarise the warranty terms for the X200 headphones in three bullet points.",
)

REPEATS = (
    (0, "Where is my order #4417? It was due on Monday."),  # asked again word for word
    (1, "How can I reset my password if I no longer have the recovery email?"),  # reworded
    (3, "What's your refund policy for opened electronics?"),
    (5, "Do you ship to Norway and how long does shipping take?"),
    (0, "Where is my order #4418? It was due on Monday."),  # looks alike, asks something else
    (3, "What is your refund policy for unopened electronics?"),
)
"""Support traffic repeats itself: questions asked again, in the same or other words, and a few that
only look like earlier ones (another order number, the opposite condition)."""

SUPPORT_POLICY = (
    "You are the support assistant of Northwind Outfitters. Follow the policy below exactly. "
    + " ".join(
        f"Policy {i}: customers may return unused items within 30 days; refunds go to the original payment "
        f"method within 5 business days; shipping to EU countries takes 3-6 days; escalate fraud to tier 2."
        for i in range(1, 90)
    )
)


@dataclass
class ModelTotals:
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    cache_read: int = 0
    cache_write: int = 0
    output_tokens: int = 0
    cost: Decimal = Decimal(0)
    unpriced: int = 0


@dataclass
class Totals:
    """costaware's call spans summed per provider and model."""

    by_model: dict[tuple[str, str], ModelTotals] = field(default_factory=lambda: defaultdict(ModelTotals))
    savings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    calls: int = 0
    cache_results: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    @property
    def total(self) -> Decimal:
        return sum((row.cost for row in self.by_model.values()), Decimal(0))

    def add(self, span: ReadableSpan) -> None:
        attrs = span.attributes or {}
        key = (
            str(attrs.get("gen_ai.provider.name")),
            str(attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")),
        )
        row = self.by_model[key]
        row.calls += 1
        self.calls += 1
        result = attrs.get("costaware.response_cache.result")
        if isinstance(result, str):
            self.cache_results[result] += 1
            self.cache_results["rejected"] += len(attrs.get("costaware.response_cache.rejected", ()))  # type: ignore[arg-type]
        for technique in ("routing", "prompt_cache", "cascade_overhead", "response_cache"):
            self.savings[technique] += float(attrs.get(f"costaware.savings.{technique}_usd", 0.0))  # type: ignore[arg-type]
        row.errors += "error.type" in attrs
        row.input_tokens += int(attrs.get("gen_ai.usage.input_tokens", 0))  # type: ignore[arg-type]
        row.cache_read += int(attrs.get("gen_ai.usage.cache_read.input_tokens", 0))  # type: ignore[arg-type]
        row.cache_write += int(attrs.get("gen_ai.usage.cache_creation.input_tokens", 0))  # type: ignore[arg-type]
        row.output_tokens += int(attrs.get("gen_ai.usage.output_tokens", 0))  # type: ignore[arg-type]
        if "costaware.cost.usd_exact" in attrs:
            row.cost += Decimal(str(attrs["costaware.cost.usd_exact"]))
        elif attrs.get("costaware.cost.unpriced"):
            row.unpriced += 1


class PassCollector(SpanProcessor):
    """Sends each finished LLM call span to the totals of the demo pass that is running."""

    def __init__(self) -> None:
        self.current = Totals()

    def on_end(self, span: ReadableSpan) -> None:
        scope = span.instrumentation_scope
        if scope is not None and scope.name == "costaware" and span.kind.name == "CLIENT":
            self.current.add(span)

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _progress(done: int, total: int, out: TextIO, width: int = 30) -> None:
    """A progress bar redrawn in place on a terminal; elsewhere (CI logs, pipes) one line at the end."""
    if not out.isatty():
        if done == total:
            out.write(f"  {done}/{total} calls")
            out.flush()
        return
    filled = width * done // total
    out.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {done}/{total} calls")
    out.flush()


def _workload(anthropic_client: Any, openai_client: Any, run: str) -> Iterator[Callable[[], Any]]:
    """The calls of the demo app, as a team would write them: strong models, no cache markers."""
    system = [{"type": "text", "text": SUPPORT_POLICY}]
    openai_system = {"role": "system", "content": SUPPORT_POLICY}
    for i, question in enumerate(QUESTIONS):
        messages = [{"role": "user", "content": question}]
        model = "claude-sonnet-4-6" if i % 3 else "claude-opus-4-6"
        # A transient fault on some calls: the SDK's own retries absorb it, costaware records one call.
        fault = (
            {"x-sim-fault": f"status={(429, 503, 529)[i % 3]};times=1;key={run}-{i}"} if i % 4 == 1 else {}
        )
        yield partial(
            anthropic_client.messages.create,
            model=model,
            max_tokens=300,
            system=system,
            messages=messages,
            extra_headers=fault,
        )
        yield partial(_stream_anthropic, anthropic_client, system, messages)
        yield partial(
            openai_client.chat.completions.create,
            model="gpt-4.1",
            messages=[openai_system, *messages],
            max_tokens=300,
        )
        yield partial(_stream_openai, openai_client, [openai_system, *messages])
        yield partial(
            openai_client.responses.create,
            model="gpt-4.1",
            instructions=SUPPORT_POLICY,
            input=question,
            max_output_tokens=200,
        )
    for i, question in REPEATS:
        yield partial(
            anthropic_client.messages.create,
            model="claude-sonnet-4-6" if i % 3 else "claude-opus-4-6",
            max_tokens=300,
            system=system,
            messages=[{"role": "user", "content": question}],
        )
    yield partial(
        openai_client.chat.completions.create,
        model="gpt-4.1",
        messages=[openai_system, {"role": "user", "content": QUESTIONS[2]}],
        max_tokens=300,
    )
    yield partial(openai_client.embeddings.create, model="text-embedding-3-small", input=list(QUESTIONS))


def _stream_anthropic(client: Any, system: Any, messages: Any) -> str:
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=300, system=system, messages=messages
    ) as s:
        return "".join(s.text_stream)


def _stream_openai(client: Any, messages: Any) -> list[Any]:
    stream = client.chat.completions.create(
        model="gpt-4.1", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    return list(stream)


def _print_table(totals: Totals, out: TextIO) -> None:
    header = (
        f"{'provider':<10} {'model':<22} {'calls':>5} {'input':>8} {'cached':>8} {'written':>8} "
        f"{'output':>7} {'cost USD (exact)':>18}"
    )
    out.write(header + "\n" + "-" * len(header) + "\n")
    rows = sorted(totals.by_model.items())
    grand = sum((row.cost for _, row in rows), Decimal(0))
    *costs, shown_grand = money_column([row.cost for _, row in rows] + [grand])  # exact, one width
    for ((provider, model), row), shown in zip(rows, costs, strict=True):
        cost = shown + ("*" if row.unpriced else "")
        out.write(
            f"{provider:<10} {model:<22} {row.calls:>5} {row.input_tokens:>8} {row.cache_read:>8} "
            f"{row.cache_write:>8} {row.output_tokens:>7} {cost:>18}\n"
        )
    out.write(
        "-" * len(header)
        + "\n"
        + f"{'total':<33} {'':>5} {'':>8} {'':>8} {'':>8} {'':>7} {shown_grand:>18}\n"
    )
    if any(row.unpriced for row in totals.by_model.values()):
        out.write("* some calls of this model are unpriced (no known price)\n")


def _run_pass(title: str, calls: list[Callable[[], Any]], out: TextIO) -> float:
    out.write(f"{title}\n")
    started = time.perf_counter()
    for i, call in enumerate(calls, 1):
        call()
        _progress(i, len(calls), out)
    out.write("\n")
    return time.perf_counter() - started


def _print_comparison(before: Totals, after: Totals, out: TextIO) -> None:
    baseline, actual = before.total, after.total
    cut = (1 - actual / baseline) * 100 if baseline else Decimal(0)
    shown_baseline, shown_actual = money_column([baseline, actual])
    out.write(
        f"\nas written: ${shown_baseline}   with costaware: ${shown_actual}   "
        f"({cut:.1f}% less)\n"
        "  against the requested models with no caching at all, routing saved "
        f"${after.savings['routing']:.6f}, prompt caching ${after.savings['prompt_cache']:.6f}, "
        f"cascade overhead ${after.savings['cascade_overhead']:.6f}\n"
    )
    results = after.cache_results
    hits = results["exact_hit"] + results["semantic_hit"]
    out.write(
        f"  the response cache answered {hits} repeated questions at no cost ({results['exact_hit']} word "
        f"for word, {results['semantic_hit']} reworded) and saved ${after.savings['response_cache']:.6f}; "
        f"it turned down {results['rejected']} lookalike(s) that ask something else\n"
    )


def _semantic_available() -> bool:
    """The semantic layer needs the ``semantic`` extra (in ``all``); else the demo caches exact repeats."""
    import importlib.util

    return importlib.util.find_spec("wordllama") is not None and importlib.util.find_spec("numpy") is not None


def run(out: TextIO = sys.stdout) -> tuple[Totals, Totals]:
    """Run the demo app twice, as written and inside ``@cost_aware(route="auto", cache=...)``; print and
    return the per-model totals of each pass."""
    import anthropic
    import openai

    import costaware
    from costaware.auto import setup_otlp_export
    from costaware.sim import Simulator

    exporting = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    if exporting:
        setup_otlp_export()
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
    collector = PassCollector()
    provider.add_span_processor(collector)
    costaware.instrument(tracer_provider=provider)
    with Simulator() as sim:
        out.write(f"costaware demo: simulator on {sim.url} (no real API is called, nothing is spent)\n")
        anthropic_client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="demo", max_retries=2)
        openai_client = openai.OpenAI(base_url=sim.openai_base_url, api_key="demo", max_retries=2)
        before = collector.current
        calls = list(_workload(anthropic_client, openai_client, "plain"))
        _run_pass("1/2 the app as written (observed only):", calls, out)
        collector.current = after = Totals()
        cache = costaware.ResponseCache(semantic=_semantic_available())
        with costaware.scope("demo-app", route="auto", cache=cache):
            calls = list(_workload(anthropic_client, openai_client, "routed"))
            elapsed = _run_pass(
                '2/2 the same app inside @cost_aware(route="auto", cache=ResponseCache(...)):', calls, out
            )
        out.write(
            f"  {len(calls)} calls per pass, {elapsed:.1f} s; {sim.requests()} HTTP requests reached the "
            "simulator in all (the extra ones are the SDKs' retries of injected faults)\n"
        )
    out.write("\nas written\n")
    _print_table(before, out)
    out.write("\nwith costaware\n")
    _print_table(after, out)
    _print_comparison(before, after, out)
    if exporting:
        out.write(f"\nspans and metrics exported to {os.environ['OTEL_EXPORTER_OTLP_ENDPOINT']}\n")
    else:
        out.write("\nset OTEL_EXPORTER_OTLP_ENDPOINT to send these spans and metrics to your backend\n")
    costaware.uninstrument()
    return before, after
