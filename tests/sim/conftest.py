"""Fixtures for the simulator tests: a fresh simulator and real SDK clients pointed at it."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

if importlib.util.find_spec("costaware") is None:  # running from a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

import anthropic
import openai

from costaware.sim import Simulator


class FakeClock:
    """A clock the tests move by hand (seconds)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    with Simulator(clock=clock) as simulator:
        yield simulator


# Strict validation makes the SDKs check every response and SSE event against their models.
@pytest.fixture
def claude(sim: Simulator) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(
        base_url=sim.anthropic_base_url, api_key="test", max_retries=0, _strict_response_validation=True
    )
    yield client
    client.close()


@pytest.fixture
async def async_claude(sim: Simulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(
        base_url=sim.anthropic_base_url, api_key="test", max_retries=0, _strict_response_validation=True
    )
    yield client
    await client.close()


@pytest.fixture
def oai(sim: Simulator) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(
        base_url=sim.openai_base_url, api_key="test", max_retries=0, _strict_response_validation=True
    )
    yield client
    client.close()


@pytest.fixture
async def async_oai(sim: Simulator) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(
        base_url=sim.openai_base_url, api_key="test", max_retries=0, _strict_response_validation=True
    )
    yield client
    await client.close()
