"""Fixtures for the cache planner's tests: a simulator whose caches expire on the tests' clock."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from costaware.sim import Simulator

from helpers import FakeClock


@pytest.fixture
def cache_sim(clock: FakeClock) -> Iterator[Simulator]:
    """A simulator of its own whose prompt caches expire on ``clock`` (shared with the planner)."""
    with Simulator(clock=clock) as simulator:
        yield simulator
