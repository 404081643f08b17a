"""Narrow retries through the real clients: transient faults retried exactly as configured, permanent
ones sent once, the SDK's own retries never stacked, retry-after honoured, fallback on overload."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

import costaware
from costaware import RetryPolicy, cost_aware, retry_testing
from costaware.sim import Fault

from helpers import HAIKU, SONNET, user

TRANSIENT = [
    (429, anthropic.RateLimitError),
    (500, anthropic.InternalServerError),
    (503, anthropic.ServiceUnavailableError),
    (529, anthropic.OverloadedError),
]
PERMANENT = [
    (400, anthropic.BadRequestError),
    (401, anthropic.AuthenticationError),
    (403, anthropic.PermissionDeniedError),
    (404, anthropic.NotFoundError),
    (413, anthropic.APIStatusError),
    (422, anthropic.UnprocessableEntityError),
]


@pytest.fixture
def no_sleep() -> Iterator[None]:
    with retry_testing():
        yield


@pytest.fixture
def sdk_retrying_client(sim: Any, telemetry: Any) -> Any:
    """A client left with the SDK's default retries (2): costaware must switch them off for its calls."""
    return anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k")


@pytest.mark.parametrize(("status", "error_class"), TRANSIENT)
def test_transient_fault_that_never_clears_is_sent_retries_plus_one_times(
    sdk_retrying_client: Any, sim: Any, telemetry: Any, no_sleep: None, status: int, error_class: type
) -> None:
    sim.add_fault(Fault(status=status, retry_after=0))

    @cost_aware(retries=3)
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    with pytest.raises(error_class) as caught:
        ask()
    assert type(caught.value) is error_class  # the SDK's own exception, unchanged
    assert sim.requests(path="/v1/messages") == 4  # not 12: the SDK's retries are off
    span = telemetry.our_spans()[0]
    assert span.attributes["costaware.attempts"] == 4
    assert [e.name for e in span.events] == ["costaware.attempt_failed"] * 4
    assert telemetry.counter_value("costaware.retries", error__type=str(status)) == 3


def test_dropped_connections_are_retried(sdk_retrying_client: Any, sim: Any, no_sleep: None) -> None:
    sim.add_fault(Fault(drop=True))

    @cost_aware(retries=2)
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    with pytest.raises(anthropic.APIConnectionError):
        ask()
    assert sim.requests(path="/v1/messages") == 3


@pytest.mark.parametrize(("status", "error_class"), PERMANENT)
def test_permanent_fault_is_sent_once(
    sdk_retrying_client: Any, sim: Any, no_sleep: None, status: int, error_class: type
) -> None:
    sim.add_fault(Fault(status=status, should_retry=True))  # even when the server says retry

    @cost_aware(retries=5)
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    with pytest.raises(error_class) as caught:
        ask()
    assert caught.value.status_code == status
    assert sim.requests() == 1


def test_fault_that_clears_succeeds_after_retries(
    sdk_retrying_client: Any, sim: Any, telemetry: Any, no_sleep: None
) -> None:
    sim.add_fault(Fault(status=529, times=2))

    @cost_aware(retries=3)
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    message = ask()
    assert isinstance(message, anthropic.types.Message)
    assert sim.requests() == 3
    assert telemetry.our_spans()[0].attributes["costaware.attempts"] == 3
    assert costaware.last_scope().tracker.records[0].attempts == 3


def test_should_retry_false_is_honoured(sdk_retrying_client: Any, sim: Any, no_sleep: None) -> None:
    sim.add_fault(Fault(status=503, should_retry=False))

    @cost_aware(retries=3)
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    with pytest.raises(anthropic.ServiceUnavailableError):
        ask()
    assert sim.requests() == 1


def test_retry_after_is_honoured(sdk_retrying_client: Any, sim: Any) -> None:
    sim.add_fault(Fault(status=429, retry_after=0.4, times=1))

    @cost_aware(retries=RetryPolicy(retries=1, base_delay=0.0))  # our own back-off alone would not wait
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    started = time.monotonic()
    ask()
    assert time.monotonic() - started >= 0.4
    assert sim.requests() == 2


def test_deadline_stops_retrying(sdk_retrying_client: Any, sim: Any) -> None:
    sim.add_fault(Fault(status=429, retry_after=5))

    @cost_aware(retries=RetryPolicy(retries=5, deadline=1.0))
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    started = time.monotonic()
    with pytest.raises(anthropic.RateLimitError):
        ask()
    assert time.monotonic() - started < 1.0  # a 5 s wait would pass the deadline: fail now
    assert sim.requests() == 1


def test_stream_is_retried_before_the_first_byte(
    sdk_retrying_client: Any, sim: Any, telemetry: Any, no_sleep: None
) -> None:
    sim.add_fault(Fault(status=503, times=2))

    @cost_aware(retries=3)
    def ask() -> list[Any]:
        return list(
            sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"), stream=True)
        )

    events = ask()
    assert events[-1].type == "message_stop"
    assert sim.requests() == 3


def test_stream_failing_after_first_byte_is_not_retried(
    sdk_retrying_client: Any, sim: Any, no_sleep: None
) -> None:
    sim.add_fault(Fault(drop_mid_stream_after=2))

    @cost_aware(retries=3)
    def ask() -> list[Any]:
        return list(
            sdk_retrying_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"), stream=True)
        )

    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises mid-stream reaches the caller
        ask()
    assert sim.requests() == 1


def test_stream_helper_is_retried_with_a_fresh_manager(
    sdk_retrying_client: Any, sim: Any, telemetry: Any, no_sleep: None
) -> None:
    sim.add_fault(Fault(status=529, times=1))

    @cost_aware(retries=2)
    def ask() -> str:
        with sdk_retrying_client.messages.stream(model=HAIKU, max_tokens=50, messages=user("hi")) as stream:
            return stream.get_final_text()

    assert ask()
    assert sim.requests() == 2
    span = telemetry.span()
    assert span.attributes["costaware.attempts"] == 2
    assert span.attributes["gen_ai.usage.output_tokens"] > 0


async def test_async_retries(sim: Any, telemetry: Any, no_sleep: None) -> None:
    client = openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="k")  # SDK default: 2 retries
    sim.add_fault(Fault(status=500))

    @cost_aware(retries=2)
    async def ask() -> Any:
        return await client.chat.completions.create(model="gpt-4.1-mini", messages=user("hi"))

    with pytest.raises(openai.InternalServerError):
        await ask()
    assert sim.requests() == 3


async def test_async_stream_helper_retry(sim: Any, telemetry: Any, no_sleep: None) -> None:
    client = openai.AsyncOpenAI(base_url=sim.openai_base_url, api_key="k")
    sim.add_fault(Fault(status=503, times=1))

    @cost_aware(retries=2)
    async def ask() -> Any:
        async with client.chat.completions.stream(
            model="gpt-4.1-mini", messages=user("hi"), stream_options={"include_usage": True}
        ) as stream:
            return await stream.get_final_completion()

    final = await ask()
    assert final.usage.completion_tokens > 0
    assert sim.requests() == 2


def test_fallback_model_on_persistent_overload(
    sdk_retrying_client: Any, sim: Any, telemetry: Any, no_sleep: None
) -> None:
    sim.add_fault(Fault(status=529, model=HAIKU))

    @cost_aware(retries=3, fallback=SONNET)
    def ask() -> Any:
        return sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))

    message = ask()
    assert message.model == SONNET
    assert sim.requests(model=HAIKU) == 2 and sim.requests(model=SONNET) == 1
    span = telemetry.span()
    assert span.attributes["costaware.model.sent"] == SONNET
    assert "costaware.fallback" in [e.name for e in span.events]


def test_unknown_fallback_model_is_refused_at_decoration(sim: Any, telemetry: Any) -> None:
    with pytest.raises(
        costaware.ConfigurationError, match="fallback model 'no-such-model' has no known price"
    ):
        cost_aware(retries=3, fallback="no-such-model")
    with pytest.raises(costaware.ConfigurationError, match="no-such-model"):
        costaware.configure(retries=costaware.RetryPolicy(retries=2, fallback="no-such-model"))
    # A model priced by the user's own override is accepted.
    costaware.configure(prices={"my-finetune": {"input": 1, "output": 2}})
    cost_aware(fallback="my-finetune")
    assert sim.requests() == 0


def test_without_a_policy_the_sdk_retries_as_usual(sdk_retrying_client: Any, sim: Any) -> None:
    sim.add_fault(Fault(status=503, retry_after=0))
    with pytest.raises(anthropic.InternalServerError):
        sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))
    assert sim.requests() == 3  # the SDK's own max_retries=2, untouched


def test_global_retry_policy_applies_to_undecorated_code(
    sdk_retrying_client: Any, sim: Any, no_sleep: None
) -> None:
    costaware.configure(retries=1)
    sim.add_fault(Fault(status=503))
    with pytest.raises(anthropic.InternalServerError):
        sdk_retrying_client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))
    assert sim.requests() == 2


def test_bad_retry_settings_fail_at_decoration() -> None:
    with pytest.raises(costaware.ConfigurationError, match="retries"):
        cost_aware(retries=-1)
    with pytest.raises(costaware.ConfigurationError, match="retries"):
        cost_aware(retries="3")  # type: ignore[arg-type]
    with pytest.raises(costaware.ConfigurationError, match="deadline"):
        RetryPolicy(deadline=0)


def _seen_spans(seen: list[Any]) -> Any:
    """An httpx request hook that notes the OpenTelemetry span current while the SDK sends."""
    from opentelemetry import trace

    def note(request: Any) -> None:
        seen.append(trace.get_current_span())

    return note


def test_every_attempt_runs_under_the_calls_span_and_leaves_it_after(
    sim: Any, telemetry: Any, no_sleep: None
) -> None:
    from opentelemetry import trace

    seen: list[Any] = []
    client = anthropic.Anthropic(
        base_url=sim.anthropic_base_url,
        api_key="k",
        http_client=anthropic.DefaultHttpxClient(event_hooks={"request": [_seen_spans(seen)]}),
    )
    sim.add_fault(Fault(status=529, times=2))

    @cost_aware(retries=3)
    def ask() -> Any:
        around = trace.get_current_span()
        client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))
        return around, trace.get_current_span()

    before, after = ask()
    call = next(s for s in telemetry.our_spans() if s.name.startswith("chat"))
    assert [s.get_span_context().span_id for s in seen] == [call.context.span_id] * 3
    assert after is before  # the scope's span again, not the call's


async def test_every_async_attempt_runs_under_the_calls_span_and_leaves_it_after(
    sim: Any, telemetry: Any, no_sleep: None
) -> None:
    from opentelemetry import trace

    seen: list[Any] = []

    async def note(request: Any) -> None:
        seen.append(trace.get_current_span())

    client = anthropic.AsyncAnthropic(
        base_url=sim.anthropic_base_url,
        api_key="k",
        http_client=anthropic.DefaultAsyncHttpxClient(event_hooks={"request": [note]}),
    )
    sim.add_fault(Fault(status=503, times=1))

    @cost_aware(retries=2)
    async def ask() -> Any:
        around = trace.get_current_span()
        await client.messages.create(model=HAIKU, max_tokens=20, messages=user("hi"))
        return around, trace.get_current_span()

    before, after = await ask()
    call = next(s for s in telemetry.our_spans() if s.name.startswith("chat"))
    assert [s.get_span_context().span_id for s in seen] == [call.context.span_id] * 2
    assert after is before
