"""Fixtures for the simulator tests: a fresh simulator and real SDK clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anthropic
import openai
import pytest

from costaware.sim import Simulator

from helpers import FakeClock


@pytest.fixture
def sim(clock: FakeClock) -> Iterator[Simulator]:
    """A fresh simulator per test, its caches on the test's clock."""
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
