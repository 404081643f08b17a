#!/usr/bin/env python
"""What a call's three histogram points cost, recorded one by one or in batches, in CPU per call.

    python bench/batching.py          # ~1 minute; runs on the project's own interpreter

Why this exists: the OpenTelemetry SDK's ``Histogram.record`` is ~10 us when its code and data are in
the CPU caches, and two to three times that right after an HTTP request has pushed them out, which
is exactly where an instrumented call records its points. costaware queues them and records 48 at a
time (``costaware.telemetry.metrics.Batched``). This measures whether that saves work or only moves it:
each variant makes the same real SDK calls and records the same points, and its figure is the **mean**
time per call over blocks of calls, every flush included.

How: one process; a real ``anthropic`` client whose answers are the simulator's exact bytes replayed
through the SDK's ``http_client`` hook (an ``httpx.MockTransport``: no socket, no other process); a
real SDK ``MeterProvider`` with an ``InMemoryMetricReader``; the garbage collector off while timing.
For each variant, blocks of ``--block`` calls, each call followed by its three points (duration,
input tokens, output tokens, with costaware's attribute sets); the variants take turns, block by block,
in an order rotated every round, for ``--rounds`` rounds, timed in CPU time of the thread. Added =
median over rounds of (the variant's mean per call - the "no points" mean of the same round).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "src"))

from instructions import record_answers, request_of  # noqa: E402
from overhead import write_results  # noqa: E402

DEFAULT_OUTPUT = BENCH / "results" / "batching.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--block", type=int, default=100, help="calls per timed block; default 100")
    parser.add_argument("--rounds", type=int, default=60, help="blocks per variant; default 60")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)

    import anthropic
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from costaware.core.types import CallRequest
    from costaware.telemetry.emit import _Points
    from costaware.telemetry.metrics import BATCH_POINTS, Batched, Instruments

    httpx: Any = sys.modules[anthropic.DefaultHttpxClient.__mro__[1].__module__.split(".")[0]]
    answer = record_answers()["anthropic"]
    body = answer["body"].encode("latin-1")

    def handler(request: Any) -> Any:
        return httpx.Response(200, content=body, headers={"content-type": answer["content_type"]})

    client = anthropic.Anthropic(
        base_url="http://127.0.0.1:9",
        api_key="x",
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(transport=httpx.MockTransport(handler)),
    )
    _, kwargs = request_of("anthropic")
    reader = InMemoryMetricReader()
    instruments = Instruments(MeterProvider(metric_readers=[reader]).get_meter("bench"))
    request = CallRequest(
        provider="anthropic", operation="chat", method="messages.create", model=kwargs["model"]
    )
    points = _Points(request, kwargs["model"], None, kwargs["model"])

    def one_by_one() -> Callable[[], None]:
        def record() -> None:
            instruments.duration.record(0.4, points.duration)
            instruments.tokens.record(12, points.input)
            instruments.tokens.record(183, points.output)

        return record

    def batched(size: int) -> Callable[[], None]:
        queue = Batched(size)

        def record() -> None:
            queue.record(instruments.duration, 0.4, points.duration)
            queue.record(instruments.tokens, 12, points.input)
            queue.record(instruments.tokens, 183, points.output)

        return record

    variants: dict[str, Callable[[], None]] = {
        "no points": lambda: None,
        "one by one": one_by_one(),
        "batches of 24": batched(24),
        f"batches of {BATCH_POINTS} (costaware)": batched(BATCH_POINTS),
        "batches of 96": batched(96),
    }
    means: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(30):  # warm-up: imports, first-use paths, the SDK's aggregations
        client.messages.create(**kwargs)
        for record in variants.values():
            record()
    gc.collect()
    gc.disable()
    clock = time.thread_time_ns  # CPU time of this thread: time the VM spends elsewhere is not in it
    names = list(variants)
    for round_ in range(args.rounds):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:  # rotated each round
            record = variants[name]
            started = clock()
            for _ in range(args.block):
                client.messages.create(**kwargs)
                record()
            means[name].append((clock() - started) / args.block / 1000)
    gc.enable()

    base = statistics.median(means["no points"])
    results = {}
    print(f"mean µs per call (a real SDK call + its points), median of {args.rounds} blocks of {args.block}:")
    for name, values in means.items():
        added = statistics.median([v - b for v, b in zip(values, means["no points"], strict=True)])
        results[name] = {"mean_per_call_us": statistics.median(values), "added_us": added}
        extra = "" if name == "no points" else f"   points add {added:6.1f}"
        print(f"  {name:28} {statistics.median(values):8.1f}{extra}")
    print(f"(the SDK call alone: {base:.1f} µs)")
    write_results(
        args.output,
        {
            "command": "python bench/batching.py " + " ".join(argv or sys.argv[1:]),
            "block": args.block,
            "rounds": args.rounds,
            "python": sys.version.split()[0],
            "variants": results,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
