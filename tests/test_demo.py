"""``costaware demo`` runs end to end and, with an OTLP endpoint, exports what it prints."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

from otlp_receiver import OtlpReceiver, attributes


def test_demo_prints_per_model_cost_and_exports_the_same_calls() -> None:
    with OtlpReceiver() as receiver:
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}
        env.pop("PYTEST_CURRENT_TEST", None)
        done = subprocess.run(
            [sys.executable, "-m", "costaware.cli", "demo"],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stdout  # not a terminal: no progress bar redrawn in place
    tables: dict[str, dict[str, tuple[int, Decimal]]] = {}
    current = None
    for line in done.stdout.splitlines():
        if line in ("as written", "with costaware"):
            current = tables.setdefault(line, {})
        parts = line.split()
        if current is not None and parts and parts[0] in {"anthropic", "openai"} and len(parts) == 8:
            current[parts[1]] = (int(parts[2]), Decimal(parts[7]))
    before, after = tables["as written"], tables["with costaware"]
    assert set(before) == {"claude-opus-4-6", "claude-sonnet-4-6", "gpt-4.1", "text-embedding-3-small"}
    assert "claude-haiku-4-5" in after and "gpt-4.1-mini" in after  # routing moved easy calls down
    total_before = sum(cost for _, cost in before.values())
    total_after = sum(cost for _, cost in after.values())
    assert total_after < total_before
    (summary,) = [line for line in done.stdout.splitlines() if line.startswith("as written: $")]
    assert Decimal(summary.split()[2].lstrip("$")) == total_before

    ours = [attributes(s.attributes) for s in receiver.spans if s.name.startswith(("chat ", "embeddings "))]
    assert len(ours) == sum(calls for table in tables.values() for calls, _ in table.values())
    exported_cost = sum(Decimal(a["costaware.cost.usd_exact"]) for a in ours)
    assert exported_cost == total_before + total_after
