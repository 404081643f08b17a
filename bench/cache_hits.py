"""What a response-cache hit costs the caller, end to end, through the real SDKs.

Each case is a ``@cost_aware(cache=...)`` function asking ``messages.create`` / ``chat.completions.create``
against the local simulator: a miss (the request goes out; the simulator answers at once, so this is a
floor on a real provider's latency), an exact hit, a semantic hit (WordLlama embedding included), and a
streamed exact hit read to the end. Hits never reach the simulator (checked). Median and p99 of the wall
time per call, in microseconds.

    .venv/bin/python bench/cache_hits.py            # ~20 s
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

ROUNDS = 400


def _timed(call: Callable[[], Any], rounds: int = ROUNDS) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    times.sort()
    return statistics.median(times) * 1e6, times[int(len(times) * 0.99) - 1] * 1e6


def main() -> None:
    import anthropic
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    import costaware
    from costaware.sim import Simulator

    costaware.instrument(
        tracer_provider=TracerProvider(), meter_provider=MeterProvider([InMemoryMetricReader()])
    )
    rows = []
    with Simulator() as sim:
        claude = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="bench", max_retries=0)
        gpt = openai.OpenAI(base_url=sim.openai_base_url, api_key="bench", max_retries=0)
        exact = costaware.ResponseCache()
        semantic = costaware.ResponseCache(semantic=True)
        semantic.embedder.warm()
        counter = iter(range(10**9))

        def ask_claude(cache: Any, question: str, **extra: Any) -> Any:
            @costaware.cost_aware(cache=cache)
            def run() -> Any:
                reply = claude.messages.create(
                    model="claude-haiku-4-5",
                    max_tokens=200,
                    messages=[{"role": "user", "content": question}],
                    **extra,
                )
                return list(reply) if extra.get("stream") else reply

            return run

        def ask_gpt(cache: Any, question: str) -> Any:
            @costaware.cost_aware(cache=cache)
            def run() -> Any:
                return gpt.chat.completions.create(
                    model="gpt-4.1-mini", max_tokens=200, messages=[{"role": "user", "content": question}]
                )

            return run

        def fresh_question() -> Any:
            return ask_claude(exact, f"What is the status of order {next(counter)}?")()

        rows.append(("anthropic miss (simulator answers)", _timed(fresh_question)))
        hit = ask_claude(exact, "What are your opening hours?")
        hit()
        before = sim.requests()
        rows.append(("anthropic exact hit", _timed(hit)))
        streamed = ask_claude(exact, "What are your opening hours?", stream=True)
        rows.append(("anthropic exact hit, streamed", _timed(streamed)))
        ask_claude(semantic, "How do I reset my password?")()
        reworded = ask_claude(semantic, "How can I reset my password?")
        rows.append(("anthropic semantic hit (embedding incl.)", _timed(reworded)))
        gpt_hit = ask_gpt(exact, "What are your opening hours?")
        gpt_hit()
        rows.append(("openai chat exact hit", _timed(gpt_hit)))
        assert sim.requests() == before + 2, "a hit reached the simulator"
    print(f"{'case':<42} {'median us':>10} {'p99 us':>9}")
    for name, (median, p99) in rows:
        print(f"{name:<42} {median:>10.0f} {p99:>9.0f}")
    costaware.uninstrument()


if __name__ == "__main__":
    sys.exit(main())
