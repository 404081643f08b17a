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
    rows = {}
    for line in done.stdout.splitlines():
        parts = line.split()
        if parts and parts[0] in {"anthropic", "openai"} and len(parts) == 8:
            rows[parts[1]] = (int(parts[2]), Decimal(parts[7]))
    assert set(rows) == {
        "claude-haiku-4-5",
        "claude-sonnet-4-6",
        "gpt-4.1",
        "gpt-4.1-mini",
        "text-embedding-3-small",
    }
    assert all(cost > 0 for _, cost in rows.values())

    ours = [attributes(s.attributes) for s in receiver.spans if s.name.startswith(("chat ", "embeddings "))]
    assert len(ours) == sum(calls for calls, _ in rows.values())
    exported_cost = sum(Decimal(a["costaware.cost.usd_exact"]) for a in ours)
    assert exported_cost == sum(cost for _, cost in rows.values())
