"""Bad usage, unknown models, SDK errors and costaware's own failures never break the caller's call."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import StatusCode

import costaware
from costaware.sim import Fault

from helpers import HAIKU, SONNET, anthropic_cost, user


@pytest.mark.parametrize("mode", ["missing", "malformed"])
def test_bad_usage_never_raises(anthropic_client: Any, telemetry: Any, mode: str) -> None:
    message = anthropic_client.messages.create(
        model=HAIKU, max_tokens=50, messages=user("hi"), extra_headers={"x-sim-usage": mode}
    )
    assert message.content  # the caller got its answer
    attrs = telemetry.span().attributes
    # Nulls and strings are not counts: the usage is unusable, so the call is unpriced, never $0.
    assert attrs["costaware.usage.missing"] is True
    assert attrs["costaware.cost.unpriced"] is True
    assert "gen_ai.usage.input_tokens" not in attrs
    assert telemetry.counter_value("costaware.cost") == 0
    assert telemetry.histogram_count("gen_ai.client.token.usage") == 0


@pytest.mark.parametrize("mode", ["missing", "malformed"])
def test_bad_usage_in_streams_never_raises(openai_client: Any, telemetry: Any, mode: str) -> None:
    stream = openai_client.chat.completions.create(
        model="gpt-4.1-mini",
        messages=user("hi"),
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-sim-usage": mode},
    )
    assert list(stream)
    span = telemetry.span()
    assert span.attributes["costaware.stream.end"] == "completed"
    assert span.attributes["costaware.usage.missing"] is True
    assert span.attributes["costaware.cost.unpriced"] is True


def test_missing_usage_is_unpriced_never_zero(anthropic_client: Any, telemetry: Any) -> None:
    anthropic_client.messages.create(
        model=HAIKU, max_tokens=50, messages=user("hi"), extra_headers={"x-sim-usage": "missing"}
    )
    attrs = telemetry.span().attributes
    assert attrs["costaware.usage.missing"] is True
    assert attrs["costaware.cost.unpriced"] is True
    assert "costaware.cost.usd" not in attrs


def test_unknown_model_is_unpriced_with_one_warning(
    anthropic_client: Any, telemetry: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="costaware")
    for _ in range(3):
        anthropic_client.messages.create(model="claude-imaginary-9", max_tokens=50, messages=user("hi"))

    spans = telemetry.our_spans()
    assert len(spans) == 3
    for span in spans:
        assert span.attributes["costaware.cost.unpriced"] is True
        assert span.attributes["costaware.cost.source"] == "unpriced"
        assert "costaware.cost.usd" not in span.attributes
        assert span.attributes["gen_ai.usage.input_tokens"] > 0  # tokens are still recorded
    assert telemetry.counter_value("costaware.calls.unpriced") == 3
    assert telemetry.counter_value("costaware.cost") == 0
    warnings = [r for r in caplog.records if "claude-imaginary-9" in r.getMessage()]
    assert len(warnings) == 1


def test_priced_on_response_model(anthropic_client: Any, telemetry: Any) -> None:
    message = anthropic_client.messages.create(
        model=HAIKU,
        max_tokens=50,
        messages=user("hi"),
        extra_headers={"x-sim-response-model": "claude-sonnet-4-6-20260101"},
    )
    attrs = telemetry.span().attributes
    assert attrs["gen_ai.response.model"] == "claude-sonnet-4-6-20260101"
    assert Decimal(attrs["costaware.cost.usd_exact"]) == anthropic_cost(SONNET, message.usage)


def test_falls_back_to_request_model_when_response_model_unknown(
    anthropic_client: Any, telemetry: Any
) -> None:
    message = anthropic_client.messages.create(
        model=HAIKU,
        max_tokens=50,
        messages=user("hi"),
        extra_headers={"x-sim-response-model": "mystery-model"},
    )
    attrs = telemetry.span().attributes
    assert attrs["costaware.cost.priced_model"] == HAIKU
    assert Decimal(attrs["costaware.cost.usd_exact"]) == anthropic_cost(HAIKU, message.usage)


def test_price_override_for_a_self_hosted_model(anthropic_client: Any, telemetry: Any) -> None:
    costaware.configure(prices={"my-finetune": {"input": "2", "output": "4"}})
    message = anthropic_client.messages.create(model="my-finetune", max_tokens=50, messages=user("hi"))
    attrs = telemetry.span().attributes
    expected = (message.usage.input_tokens * 2 + message.usage.output_tokens * 4) / Decimal(10**6)
    assert Decimal(attrs["costaware.cost.usd_exact"]) == expected
    assert attrs["costaware.cost.source"] == "override"


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ],
)
def test_sdk_errors_propagate_unchanged(
    anthropic_client: Any, telemetry: Any, sim: Any, status: int, error_class: type
) -> None:
    sim.add_fault(Fault(status=status, retry_after=0))
    with pytest.raises(error_class) as caught:
        anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"))
    assert type(caught.value) is error_class
    span = telemetry.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == str(status)
    assert telemetry.histogram_count("gen_ai.client.operation.duration", error__type=str(status)) == 1


def test_dropped_connection_propagates(anthropic_client: Any, telemetry: Any, sim: Any) -> None:
    sim.add_fault(Fault(drop=True))
    with pytest.raises(anthropic.APIConnectionError):
        anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"))
    attrs = telemetry.span().attributes
    assert attrs["error.type"] == "APIConnectionError"
    assert attrs["costaware.cost.unpriced"] is True  # no response: the bill is unknown, not $0


class _BrokenTracerProvider:
    """A tracer provider whose spans cannot start: stands for any bug inside costaware."""

    def get_tracer(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def start_span(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("tracer exploded")


def test_internal_errors_are_logged_not_raised_in_production(
    anthropic_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    costaware.configure(tracer_provider=_BrokenTracerProvider(), raise_internal_errors=False)
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"))
    assert message.content
    assert any("internal error" in r.getMessage() for r in caplog.records)


def test_internal_errors_surface_under_test_mode(anthropic_client: Any) -> None:
    costaware.configure(tracer_provider=_BrokenTracerProvider(), raise_internal_errors=True)
    with pytest.raises(RuntimeError, match="tracer exploded"):
        anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("hi"))


def test_content_is_off_by_default_and_opt_in(anthropic_client: Any, telemetry: Any) -> None:
    anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("secret prompt"))
    assert "gen_ai.input.messages" not in telemetry.span().attributes
    telemetry.exporter.clear()

    costaware.configure(capture_content=True)
    message = anthropic_client.messages.create(model=HAIKU, max_tokens=50, messages=user("shared prompt"))
    attrs = telemetry.span().attributes
    assert json.loads(attrs["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "shared prompt"}]}
    ]  # the conventions' shape, as gen_ai.output.messages
    assert message.content[0].text[:20] in attrs["gen_ai.output.messages"]


def _no_usage_warnings(caplog: Any) -> list[str]:
    return [r.getMessage() for r in caplog.records if "returned no token usage" in r.getMessage()]


def test_a_chat_stream_without_usage_warns_once_with_the_option_that_reports_it(
    openai_client: Any, telemetry: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="costaware")
    for _ in range(2):
        stream = openai_client.chat.completions.create(model="gpt-4.1-mini", messages=user("hi"), stream=True)
        assert list(stream)
    assert [s.attributes["costaware.cost.unpriced"] for s in telemetry.spans()] == [True, True]
    (warning,) = _no_usage_warnings(caplog)
    assert "openai chat call" in warning and "reserved worst case" in warning
    assert "stream_options={'include_usage': True}" in warning


def test_no_usage_warning_when_the_stream_reports_usage_or_is_closed_early(
    openai_client: Any, telemetry: Any, caplog: Any
) -> None:
    caplog.set_level(logging.WARNING, logger="costaware")
    stream = openai_client.chat.completions.create(
        model="gpt-4.1-mini", messages=user("hi"), stream=True, stream_options={"include_usage": True}
    )
    assert list(stream)
    closed = openai_client.chat.completions.create(model="gpt-4.1-mini", messages=user("hi"), stream=True)
    next(iter(closed))
    closed.close()  # the caller stopped reading: no usage is expected
    assert [s.attributes["costaware.stream.end"] for s in telemetry.spans()] == ["completed", "closed"]
    assert _no_usage_warnings(caplog) == []
