"""Budget benchmarks: reserve+settle throughput of each store, and what a decorated call adds.

    python bench/ledger.py            # needs redis-server on PATH for the Redis store

1. Store throughput: single-threaded reserve+settle pairs per second for the in-memory, SQLite and
   Redis stores (a real redis-server started on a free loopback port), median of 5 runs.
2. Scope overhead: median and p99 wall time per call of an instrumented Anthropic call against the
   simulator, undecorated vs inside ``@cost_aware`` (no budget) vs ``@cost_aware(budget=...)`` with an
   in-memory and a SQLite budget, in one process, interleaved in rounds so drift hits all alike.

Writes bench/results/ledger.json and prints a table.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results" / "ledger.json"
PAIRS = 3000
RUNS = 5


def start_redis() -> tuple[Any, str] | None:
    """A redis-server on a free loopback port (the tests' helper), or ``None`` when none is installed."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from helpers import start_redis_server

    try:
        return start_redis_server()
    except RuntimeError:
        return None


def store_throughput(url: str) -> float:
    """Reserve+settle pairs per second, one thread, median of ``RUNS`` runs of ``PAIRS`` pairs."""
    from costaware.core.budget import Budget, BudgetLedger, Charge
    from costaware.stores import open_store

    rates = []
    for run in range(RUNS):
        budget = Budget(limit=10**6, period="day", key=f"bench-{run}-{time.time_ns()}")
        ledger = BudgetLedger(budget, open_store(url))
        amount = Decimal("0.0012")
        charge = Charge(budget_key=budget.key, amount=Decimal("0.0009"), provider="anthropic", model="m")
        started = time.perf_counter()
        for _ in range(PAIRS):
            ledger.settle(ledger.reserve(amount), charge)
        rates.append(PAIRS / (time.perf_counter() - started))
        ledger.store.close()
    return statistics.median(rates)


def scope_overhead(sqlite_url: str) -> dict[str, dict[str, float]]:
    """Per-call wall time of an instrumented call, undecorated and inside @cost_aware variants."""
    import anthropic

    import costaware
    from costaware import Budget, cost_aware
    from costaware.sim import Simulator

    costaware.instrument(prompt_cache=False)
    messages = [{"role": "user", "content": "What is the capital of France?"}]
    samples: dict[str, list[float]] = {}
    with Simulator() as sim:
        client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="bench", max_retries=0)

        def plain() -> Any:
            return client.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=messages)

        variants: dict[str, Callable[[], Any]] = {
            "instrumented, undecorated": plain,
            "@cost_aware()": cost_aware(name="bench")(plain),
            "@cost_aware(budget=<memory>)": cost_aware(budget=Budget(limit=10**6, key="mem"))(plain),
            "@cost_aware(budget=<sqlite>)": cost_aware(
                budget=Budget(limit=10**6, period="day", key="sql", store=sqlite_url)
            )(plain),
        }
        for call in variants.values():  # warm up connections and caches
            for _ in range(50):
                call()
        for _ in range(10):  # interleaved rounds
            for name, call in variants.items():
                times = samples.setdefault(name, [])
                for _ in range(60):
                    started = time.perf_counter_ns()
                    call()
                    times.append((time.perf_counter_ns() - started) / 1000)
    costaware.uninstrument()
    return {name: _summary(times) for name, times in samples.items()}


def _summary(micros: list[float]) -> dict[str, float]:
    ordered = sorted(micros)
    return {
        "median_us": statistics.median(ordered),
        "p99_us": ordered[int(len(ordered) * 0.99) - 1],
        "n": len(ordered),
    }


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        stores = {"memory": "memory://", "sqlite (synchronous=normal)": sqlite_url}
        redis = start_redis()
        if redis is not None:
            stores["redis (loopback)"] = redis[1]
        try:
            throughput = {name: store_throughput(url) for name, url in stores.items()}
        finally:
            if redis is not None:
                redis[0].terminate()
        overhead = scope_overhead(f"sqlite:///{Path(tmp) / 'scope.db'}")

    base = overhead["instrumented, undecorated"]["median_us"]
    print(f"{'store':<28} {'reserve+settle pairs/s':>22} {'us per pair':>12}")
    for name, rate in throughput.items():
        print(f"{name:<28} {rate:>22,.0f} {1e6 / rate:>12.1f}")
    if redis is None:
        print("(redis-server not found: Redis store not measured)")
    print(f"\n{'call':<32} {'median us':>10} {'p99 us':>10} {'added median us':>16}")
    for name, row in overhead.items():
        print(f"{name:<32} {row['median_us']:>10.0f} {row['p99_us']:>10.0f} {row['median_us'] - base:>16.0f}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "platform": platform.platform(),
                },
                "store_pairs_per_second": throughput,
                "scope_overhead": overhead,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
