"""Injected faults as the real clients see them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import anthropic
import httpx2
import openai
import pytest

from costaware.sim import Fault, Simulator

CLAUDE_BODY = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "Hi"}]}
CHAT_BODY = {"model": "gpt-4.1-mini", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def retrying_claude(sim: Simulator) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="test", max_retries=2)
    yield client
    client.close()


@pytest.mark.parametrize(
    ("status", "exception", "error_type"),
    [
        (400, anthropic.BadRequestError, "invalid_request_error"),
        (401, anthropic.AuthenticationError, "authentication_error"),
        (429, anthropic.RateLimitError, "rate_limit_error"),
        (500, anthropic.InternalServerError, "api_error"),
        (503, anthropic.ServiceUnavailableError, "api_error"),
        (529, anthropic.OverloadedError, "overloaded_error"),
    ],
)
def test_anthropic_status_faults_raise_the_sdk_class(
    sim: Simulator, claude: anthropic.Anthropic, status: int, exception: type[Exception], error_type: str
) -> None:
    sim.add_fault(Fault(status=status))
    with pytest.raises(exception) as caught:
        claude.messages.create(**CLAUDE_BODY)
    assert isinstance(caught.value, anthropic.APIStatusError)
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == error_type  # type: ignore[index]
    assert caught.value.response.headers["request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("status", "exception", "code"),
    [
        (400, openai.BadRequestError, None),
        (401, openai.AuthenticationError, "invalid_api_key"),
        (429, openai.RateLimitError, "rate_limit_exceeded"),
        (500, openai.InternalServerError, None),
        (503, openai.InternalServerError, "service_unavailable"),
        (529, openai.InternalServerError, "overloaded"),
    ],
)
def test_openai_status_faults_raise_the_sdk_class(
    sim: Simulator, oai: openai.OpenAI, status: int, exception: type[Exception], code: str | None
) -> None:
    sim.add_fault(Fault(status=status, path="/v1/chat/completions"))
    with pytest.raises(exception) as caught:
        oai.chat.completions.create(**CHAT_BODY)
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status and caught.value.code == code


def test_sdk_retries_honour_retry_after(sim: Simulator, retrying_claude: anthropic.Anthropic) -> None:
    sim.add_fault(Fault(status=429, retry_after=0.05, times=2, path="/v1/messages"))
    started = time.monotonic()
    message = retrying_claude.messages.create(**CLAUDE_BODY)
    assert message.content[0].text
    assert sim.requests(path="/v1/messages") == 3
    assert time.monotonic() - started < 0.6  # the SDK's own backoff would take over 1 s


def test_fault_that_never_clears_exhausts_the_sdk_retries(
    sim: Simulator, retrying_claude: anthropic.Anthropic
) -> None:
    sim.add_fault(Fault(status=529, retry_after=0.01))
    with pytest.raises(anthropic.OverloadedError):
        retrying_claude.messages.create(**CLAUDE_BODY)
    assert sim.requests() == 3


def test_times_n_fails_n_requests_then_succeeds(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.add_fault(Fault(status=500, times=2))
    for _ in range(2):
        with pytest.raises(anthropic.InternalServerError):
            claude.messages.create(**CLAUDE_BODY)
    assert claude.messages.create(**CLAUDE_BODY).content[0].text
    assert sim.stats()["faults"][0]["fired"] == 2


def test_should_retry_false_stops_the_sdk_retrying(
    sim: Simulator, retrying_claude: anthropic.Anthropic
) -> None:
    sim.add_fault(Fault(status=503, should_retry=False))
    with pytest.raises(anthropic.ServiceUnavailableError):
        retrying_claude.messages.create(**CLAUDE_BODY)
    assert sim.requests() == 1


def test_should_retry_true_makes_a_400_retried(sim: Simulator, retrying_claude: anthropic.Anthropic) -> None:
    sim.add_fault(Fault(status=400, should_retry=True, retry_after=0.01, times=1))
    assert retrying_claude.messages.create(**CLAUDE_BODY).content[0].text
    assert sim.requests() == 2


def test_dropped_connection_is_a_connection_error(
    sim: Simulator, claude: anthropic.Anthropic, oai: openai.OpenAI
) -> None:
    sim.add_fault(Fault(drop=True))
    with pytest.raises(anthropic.APIConnectionError):
        claude.messages.create(**CLAUDE_BODY)
    with pytest.raises(openai.APIConnectionError):
        oai.chat.completions.create(**CHAT_BODY)
    assert sim.requests() == 2


def test_mid_stream_drop_raises_while_iterating_anthropic(
    sim: Simulator, claude: anthropic.Anthropic
) -> None:
    sim.add_fault(Fault(drop_mid_stream_after=4))
    received = []
    # anthropic 2.15 lets the transport's error through while iterating (openai wraps it)
    with pytest.raises((httpx2.RemoteProtocolError, anthropic.APIConnectionError)):
        for event in claude.messages.create(**CLAUDE_BODY, stream=True):
            received.append(event.type)
    assert received == ["message_start", "content_block_start", "content_block_delta"]  # "ping" is skipped


def test_mid_stream_drop_raises_while_iterating_openai(sim: Simulator, oai: openai.OpenAI) -> None:
    sim.add_fault(Fault(drop_mid_stream_after=2))
    received = 0
    with pytest.raises(openai.APIConnectionError):
        for _ in oai.chat.completions.create(**CHAT_BODY, stream=True):
            received += 1
    assert received == 2


def test_mid_stream_drop_leaves_non_streamed_requests_alone(
    sim: Simulator, claude: anthropic.Anthropic
) -> None:
    sim.add_fault(Fault(drop_mid_stream_after=1))
    assert claude.messages.create(**CLAUDE_BODY).content[0].text


def test_delay_slows_the_answer(sim: Simulator, claude: anthropic.Anthropic) -> None:
    sim.add_fault(Fault(delay=0.2, times=1))
    started = time.monotonic()
    claude.messages.create(**CLAUDE_BODY)
    assert time.monotonic() - started >= 0.2


def test_path_and_model_filters(sim: Simulator, claude: anthropic.Anthropic, oai: openai.OpenAI) -> None:
    sim.add_fault(Fault(status=500, path="/v1/messages", model="claude-opus-4-6"))
    assert claude.messages.create(**CLAUDE_BODY).content[0].text
    assert oai.chat.completions.create(**CHAT_BODY).choices[0].message.content
    with pytest.raises(anthropic.InternalServerError):
        claude.messages.create(**{**CLAUDE_BODY, "model": "claude-opus-4-6"})


def test_header_fault_with_key_counts_across_sdk_retries(
    sim: Simulator, retrying_claude: anthropic.Anthropic
) -> None:
    header = {"x-sim-fault": "status=503;times=2;retry_after=0.01;key=call-1"}
    assert retrying_claude.messages.create(**CLAUDE_BODY, extra_headers=header).content[0].text
    assert sim.requests() == 3
    assert retrying_claude.messages.create(**CLAUDE_BODY, extra_headers=header).content[0].text
    assert sim.requests() == 4  # key call-1 is spent
    other = {"x-sim-fault": "status=503;times=2;retry_after=0.01;key=call-2"}
    retrying_claude.messages.create(**CLAUDE_BODY, extra_headers=other)
    assert sim.requests() == 7


def test_header_fault_without_times_fires_every_time(sim: Simulator, claude: anthropic.Anthropic) -> None:
    for _ in range(2):
        with pytest.raises(anthropic.RateLimitError) as caught:
            claude.messages.create(**CLAUDE_BODY, extra_headers={"x-sim-fault": "status=429;retry_after=2"})
        assert caught.value.response.headers["retry-after"] == "2"
        assert caught.value.response.headers["retry-after-ms"] == "2000"


def test_malformed_fault_header_is_a_bad_request(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="x-sim-fault"):
        claude.messages.create(**CLAUDE_BODY, extra_headers={"x-sim-fault": "status=abc"})


def test_fault_rejects_impossible_values() -> None:
    with pytest.raises(ValueError):
        Fault(status=200)
    with pytest.raises(ValueError):
        Fault.from_mapping({"unknown": 1})
