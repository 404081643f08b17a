"""The labelled real prompts of ``../shared/routing-dev`` (read in place, never copied into the repository)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROUTING_DEV = Path(__file__).resolve().parents[3] / "shared" / "routing-dev"


@cache
def _load() -> tuple[dict[str, Any], ...]:
    rows: list[dict[str, Any]] = []
    for name in ("hard.jsonl", "easy.jsonl"):
        with (ROUTING_DEV / name).open(encoding="utf-8") as lines:
            rows += [json.loads(line) for line in lines if line.strip()]
    return tuple(rows)


def labelled() -> tuple[dict[str, Any], ...]:
    """Every labelled row; the test is skipped, saying why, when the set is not beside the checkout."""
    if not (ROUTING_DEV / "hard.jsonl").exists():
        pytest.skip(f"the labelled routing set is not at {ROUTING_DEV}")
    return _load()


def sample(label: str, every: int = 3) -> list[dict[str, Any]]:
    """A fixed sample of one label's rows: every ``every``-th, in file order."""
    return [row for row in labelled() if row["label"] == label][::every]


def first(source_prefix: str, label: str | None = None) -> str:
    """The prompt of the first row whose source starts with ``source_prefix``."""
    for row in labelled():
        if row["source"].startswith(source_prefix) and (label is None or row["label"] == label):
            return str(row["prompt"])
    raise LookupError(source_prefix)
