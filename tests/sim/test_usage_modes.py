"""``x-sim-usage: missing | malformed``: bad usage reaches the caller, the SDKs still parse.

The clients here are lenient (the SDK default); strict validation would reject bad usage.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from costaware.sim import Simulator

MISSING = {"x-sim-usage": "missing"}
MALFORMED = {"x-sim-usage": "malformed"}
CLAUDE_BODY = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
CHAT_BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def claude(sim: Simulator) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
def oai(sim: Simulator) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=sim.openai_base_url, api_key="test", max_retries=0)
    yield client
    client.close()


def test_missing_usage_anthropic(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(**CLAUDE_BODY, extra_headers=MISSING)
    assert getattr(message, "usage", None) is None
    events = list(claude.messages.create(**CLAUDE_BODY, stream=True, extra_headers=MISSING))
    assert getattr(events[0].message, "usage", None) is None  # type: ignore[union-attr]
    assert getattr(events[-2], "usage", None) is None


@pytest.mark.filterwarnings("ignore::UserWarning")  # pydantic warns when the SDK re-serialises it
def test_malformed_usage_anthropic(claude: anthropic.Anthropic) -> None:
    usage = claude.messages.create(**CLAUDE_BODY, extra_headers=MALFORMED).usage
    assert usage.input_tokens is None
    assert isinstance(usage.output_tokens, str)
    with claude.messages.stream(**CLAUDE_BODY, extra_headers=MALFORMED) as stream:
        final = stream.get_final_message()
    assert final.usage.input_tokens is None


def test_missing_usage_openai(oai: openai.OpenAI) -> None:
    assert oai.chat.completions.create(**CHAT_BODY, extra_headers=MISSING).usage is None
    chunks = list(
        oai.chat.completions.create(
            **CHAT_BODY, stream=True, stream_options={"include_usage": True}, extra_headers=MISSING
        )
    )
    assert all(chunk.usage is None for chunk in chunks)
    assert oai.responses.create(model="gpt-4.1", input="Hi", extra_headers=MISSING).usage is None
    with oai.responses.stream(model="gpt-4.1", input="Hi", extra_headers=MISSING) as stream:
        assert stream.get_final_response().usage is None
    embeddings = oai.embeddings.create(model="m", input="Hi", extra_headers=MISSING)
    assert getattr(embeddings, "usage", None) is None


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_malformed_usage_openai(oai: openai.OpenAI) -> None:
    usage = oai.chat.completions.create(**CHAT_BODY, extra_headers=MALFORMED).usage
    assert usage is not None and usage.prompt_tokens is None
    assert isinstance(usage.completion_tokens, str)
    response_usage = oai.responses.create(model="gpt-4.1", input="Hi", extra_headers=MALFORMED).usage
    assert response_usage is not None and response_usage.input_tokens is None
