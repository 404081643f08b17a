"""The budget gauges read stores at collection within a time allowance: a slow store delays a
collection by at most that much, and the budgets it did not reach are read first next time."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from costaware import Budget
from costaware.core.budget import BudgetLedger
from costaware.stores.memory import MemoryStore
from costaware.telemetry.metrics import BudgetGauges


class _SlowStore(MemoryStore):
    """A store (the public ``Store`` protocol) whose reads take ``delay`` seconds, like a remote one."""

    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay = delay
        self.reads = 0

    def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
        self.reads += 1
        time.sleep(self.delay)
        return super().usage(key, window)


def _observed(reader: InMemoryMetricReader) -> dict[str, float]:
    data = reader.get_metrics_data()
    found: dict[str, float] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == "costaware.budget.remaining":
                    for point in metric.data.data_points:
                        found[str(point.attributes["costaware.budget.key"])] = point.value
    return found


def test_a_slow_store_is_read_within_the_allowance_and_resumed_next_time() -> None:
    reader = InMemoryMetricReader()
    gauges = BudgetGauges(MeterProvider([reader]).get_meter("test"), read_for_s=0.25)
    store = _SlowStore(delay=0.1)
    keys = [f"tenant-{i}" for i in range(6)]
    ledgers: list[Any] = [BudgetLedger(Budget(2, key=key), store) for key in keys]
    held = ledgers[0].reserve(Decimal("0.5"))  # tenant-0 has less left
    gauges.note(ledgers)

    timings, seen = [], []
    for _ in range(3):
        started = time.perf_counter()
        seen.append(_observed(reader))
        timings.append(time.perf_counter() - started)
    assert max(timings) < 0.25 + 0.1 + 0.2  # the allowance, one read begun before it ran out, slack
    assert 2 <= len(seen[0]) < len(keys)  # out of time part-way: the rest keep no value yet
    assert set(seen[2]) == set(keys)  # every budget reached within three collections
    assert seen[2]["tenant-0"] == 1.5 and seen[2]["tenant-5"] == 2.0
    assert store.reads <= len(keys) + 3

    ledgers[0].release(held)
    gauges = BudgetGauges(MeterProvider([reader := InMemoryMetricReader()]).get_meter("t"), read_for_s=5)
    gauges.note(ledgers)
    assert _observed(reader) == dict.fromkeys(keys, 2.0)  # with time enough, all in one collection


def test_a_failing_store_is_tried_once_per_collection() -> None:
    class _Down(MemoryStore):
        reads = 0

        def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
            type(self).reads += 1
            raise ConnectionError("store down")

    reader = InMemoryMetricReader()
    gauges = BudgetGauges(MeterProvider([reader]).get_meter("test"))
    store = _Down()
    gauges.note([BudgetLedger(Budget(1, key=f"k{i}"), store) for i in range(5)])
    assert _observed(reader) == {}  # never read: no value to keep
    assert _Down.reads == 1
