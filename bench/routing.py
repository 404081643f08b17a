#!/usr/bin/env python
"""What ``route="auto"`` costs per request, and what it adds to ``import costaware``.

From the repository root, with the labelled prompts beside the checkout (``../shared/routing-dev``)::

    .venv/bin/python bench/routing.py          # ~30 s; writes bench/results/routing.json

Per request: the wall time of one ``costaware.core.routing.route("auto", ...)`` call (what a decorated
call runs to pick its model: reading the ask, the features, the fitted model, the tier, the reason), on
every labelled real prompt as one user turn, and on prompts of 2,000, 4,000 and 8,000 characters (real
prompts joined), each in a fresh order for 5 rounds after a warm-up; p50 and p99 over all of them.
Import: ``python -c "import costaware"`` minus ``python -c "pass"``, medians of 15 runs each, and the
one-time load of the weights file on first use. Accuracy figures come from ``scripts/fit_auto.py``.
"""

from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from overhead import write_results  # noqa: E402

DATA = ROOT.parent / "shared" / "routing-dev"
OUTPUT = ROOT / "bench" / "results" / "routing.json"
ROUNDS = 5
SIZES = (2_000, 4_000, 8_000)


def prompts() -> list[str]:
    rows = []
    for name in ("hard.jsonl", "easy.jsonl"):
        with (DATA / name).open(encoding="utf-8") as lines:
            rows += [json.loads(line)["prompt"] for line in lines if line.strip()]
    joined = "\n\n".join(rows)
    long = [joined[start : start + size] for size in SIZES for start in range(0, 40 * size, size)]
    return rows + long


def per_request(texts: list[str]) -> dict[str, float]:
    from costaware.core.routing import ladders, route

    tiers = ladders(environ={})
    requests = [
        {"model": "claude-opus-4-6", "max_tokens": 1024, "messages": [{"role": "user", "content": t}]}
        for t in texts
    ]
    started = time.perf_counter()
    route("auto", "anthropic", requests[0], tiers)  # loads the weights
    first_use = time.perf_counter() - started
    for kwargs in requests:
        route("auto", "anthropic", kwargs, tiers)  # warm-up
    rng = random.Random(7)
    times: list[float] = []
    by_size: dict[int, list[float]] = {size: [] for size in SIZES}
    for _ in range(ROUNDS):
        order = list(range(len(requests)))
        rng.shuffle(order)
        for i in order:
            kwargs = requests[i]
            started = time.perf_counter()
            route("auto", "anthropic", kwargs, tiers)
            elapsed = (time.perf_counter() - started) * 1e6
            times.append(elapsed)
            size = len(texts[i])
            if size in by_size:
                by_size[size].append(elapsed)
    times.sort()
    result = {
        "requests": len(times),
        "p50_us": round(times[len(times) // 2], 1),
        "p99_us": round(times[int(len(times) * 0.99)], 1),
        "max_us": round(times[-1], 1),
        "weights_first_use_ms": round(first_use * 1e3, 2),
    }
    for size, values in by_size.items():
        values.sort()
        result[f"p50_us_{size}_chars"] = round(values[len(values) // 2], 1)
        result[f"p99_us_{size}_chars"] = round(values[int(len(values) * 0.99)], 1)
    return result


def import_time(runs: int = 15) -> dict[str, float]:
    def median(code: str) -> float:
        samples = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)

    bare, with_package = median("pass"), median("import costaware")
    return {"import_costaware_ms": round((with_package - bare) * 1e3, 1)}


def main() -> int:
    if not (DATA / "hard.jsonl").exists():
        print(f"bench/routing.py: the labelled prompts are not at {DATA}", file=sys.stderr)
        return 2
    figures = {**per_request(prompts()), **import_time()}
    for name, value in figures.items():
        print(f"{name:>28}  {value}")
    write_results(OUTPUT, {"route_auto": figures})
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
