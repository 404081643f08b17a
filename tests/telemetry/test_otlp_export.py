"""``import costaware.auto`` in an unchanged app exports spans and metrics over real OTLP/HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import pytest

from otlp_receiver import OtlpReceiver, attributes

APP = """
import costaware.auto  # the only line a user adds
import anthropic, openai

a = anthropic.Anthropic(base_url="{anthropic_url}", api_key="k", max_retries=0)
message = a.messages.create(model="claude-haiku-4-5", max_tokens=60,
                            messages=[{{"role": "user", "content": "What is OTLP?"}}])
print("anthropic", message.usage.input_tokens, message.usage.output_tokens)
o = openai.OpenAI(base_url="{openai_url}", api_key="k", max_retries=0)
stream = o.chat.completions.create(model="gpt-4.1-mini", stream=True, stream_options={{"include_usage": True}},
                                   messages=[{{"role": "user", "content": "Stream over OTLP"}}])
chunks = list(stream)
print("openai", chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens)
"""


@pytest.fixture(scope="module")
def exported(sim_server: Any) -> tuple[OtlpReceiver, dict[str, tuple[int, int]]]:
    with OtlpReceiver() as receiver:
        env = {
            **os.environ,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_SERVICE_NAME": "otlp-test-app",
            "ANTHROPIC_OPEN_TELEMETRY": "false",
        }
        env.pop("PYTEST_CURRENT_TEST", None)
        code = textwrap.dedent(APP).format(
            anthropic_url=sim_server.anthropic_base_url, openai_url=sim_server.openai_base_url
        )
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        counts = {}
        for line in done.stdout.splitlines():
            name, prompt, completion = line.split()
            counts[name] = (int(prompt), int(completion))
    return receiver, counts


def test_spans_arrive_decoded_with_usage_and_cost(exported: tuple[OtlpReceiver, Any]) -> None:
    receiver, counts = exported
    assert "application/x-protobuf" in receiver.content_types
    spans = {span.name: attributes(span.attributes) for span in receiver.spans}
    assert set(spans) == {"chat claude-haiku-4-5", "chat gpt-4.1-mini"}

    claude = spans["chat claude-haiku-4-5"]
    prompt, completion = counts["anthropic"]
    assert claude["gen_ai.provider.name"] == "anthropic"
    assert claude["gen_ai.usage.input_tokens"] == prompt
    assert claude["gen_ai.usage.output_tokens"] == completion
    assert Decimal(claude["costaware.cost.usd_exact"]) == (prompt * 1 + completion * 5) / Decimal(10**6)

    gpt = spans["chat gpt-4.1-mini"]
    assert gpt["gen_ai.request.stream"] is True
    assert gpt["gen_ai.usage.input_tokens"] == counts["openai"][0]
    assert gpt["costaware.cost.unpriced"] is False


def test_metrics_arrive_with_advised_buckets(exported: tuple[OtlpReceiver, Any]) -> None:
    receiver, counts = exported
    (usage,) = receiver.metric("gen_ai.client.token.usage")
    assert usage.unit == "{token}"
    points = usage.histogram.data_points
    assert list(points[0].explicit_bounds) == [float(4**i) for i in range(14)]
    by_type: dict[str, float] = {}
    for point in points:
        kind = attributes(point.attributes)["gen_ai.token.type"]
        by_type[kind] = by_type.get(kind, 0) + point.sum
    assert by_type["input"] == counts["anthropic"][0] + counts["openai"][0]
    assert by_type["output"] == counts["anthropic"][1] + counts["openai"][1]

    (duration,) = receiver.metric("gen_ai.client.operation.duration")
    assert duration.unit == "s"
    assert list(duration.histogram.data_points[0].explicit_bounds)[:3] == [0.01, 0.02, 0.04]
    assert receiver.metric("gen_ai.client.operation.time_to_first_chunk")

    (cost,) = receiver.metric("costaware.cost")
    assert cost.unit == "USD"
    assert cost.sum.is_monotonic
    total = sum(p.as_double for p in cost.sum.data_points)
    assert total > 0
