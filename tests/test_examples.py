"""The examples run as documented, against the simulator (nothing is spent)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(example: Path) -> None:
    env = {**os.environ, "ANTHROPIC_OPEN_TELEMETRY": "false"}
    env.pop("PYTEST_CURRENT_TEST", None)
    done = subprocess.run(
        [sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_support_bot_shows_caching_and_a_refusal() -> None:
    example = Path(__file__).parent.parent / "examples" / "support_bot.py"
    env = {**os.environ, "ANTHROPIC_OPEN_TELEMETRY": "false"}
    env.pop("PYTEST_CURRENT_TEST", None)
    out = subprocess.run(
        [sys.executable, str(example)], env=env, capture_output=True, text=True, timeout=120
    ).stdout
    lines = out.splitlines()
    assert "cache read 0 tokens" in lines[0] and "cache read 0 tokens" not in lines[1]
    assert "refused before sending" in out
    assert out.strip().endswith("requests that reached the simulator: 3")
