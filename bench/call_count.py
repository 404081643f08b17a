"""How much of costaware's own code one decorated call runs: Python function calls in costaware's
modules (``sys.setprofile`` "call" events, the simulator excluded) for a warm synchronous
``messages.create`` under ``@cost_aware(budget=0.5, route="auto")``, and the number of switches between
costaware modules. A count, not a time: machine noise cannot move it.

    .venv/bin/python bench/call_count.py            # prints the total and the busiest functions
    .venv/bin/python bench/call_count.py --all      # every function with its count
    .venv/bin/python bench/call_count.py --plain    # the same call undecorated (plain instrumentation)
"""

from __future__ import annotations

import collections
import sys
from typing import Any


def main() -> int:
    import anthropic
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    import costaware
    from costaware.sim import Simulator

    costaware.instrument(
        tracer_provider=TracerProvider(), meter_provider=MeterProvider([InMemoryMetricReader()])
    )
    with Simulator() as sim:
        client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="bench", max_retries=0)

        def summarize(doc: str) -> str:
            reply = client.messages.create(
                model="claude-sonnet-4-6", max_tokens=300, messages=[{"role": "user", "content": doc}]
            )
            return str(reply.content[0].text)

        if "--plain" not in sys.argv:
            summarize = costaware.cost_aware(budget=0.5, route="auto")(summarize)

        document = "Summarise the attached meeting notes in three bullet points. " * 4
        for _ in range(3):  # warm: imports, caches, instruments
            summarize(document)

        counts: collections.Counter[str] = collections.Counter()
        switches = 0
        last_module: list[str | None] = [None]

        def profile(frame: Any, event: str, arg: Any) -> None:
            nonlocal switches
            if event != "call":
                return
            module = frame.f_globals.get("__name__", "")
            if not module.startswith("costaware") or module.startswith("costaware.sim"):
                return
            counts[f"{module}.{frame.f_code.co_qualname}"] += 1
            if module != last_module[0]:
                switches += 1
                last_module[0] = module

        sys.setprofile(profile)
        try:
            summarize(document)
        finally:
            sys.setprofile(None)
    costaware.uninstrument()
    modules = {name.rsplit(".", 1)[0] for name in counts}
    total = sum(counts.values())
    print(f"{total} costaware function calls in {len(modules)} modules, {switches} module switches")
    shown = counts.most_common() if "--all" in sys.argv else counts.most_common(25)
    for name, count in shown:
        print(f"{count:>5}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
