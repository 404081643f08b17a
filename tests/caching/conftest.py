"""Fixtures for the cache planner's tests: a hand-moved clock shared by the planner and the simulator."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from costaware.sim import Simulator


class FakeClock:
    """Seconds, moved by hand; the planner's ``now`` and the simulator's cache clock read the same one."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def cache_sim(clock: FakeClock) -> Iterator[Simulator]:
    """A simulator of its own whose prompt caches expire on ``clock``."""
    with Simulator(clock=clock) as simulator:
        yield simulator
