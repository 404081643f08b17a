"""Instrument the SDKs and print each call's cost, against the local simulator (nothing is spent).

python examples/quickstart.py
"""

from __future__ import annotations

import anthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

import costaware
from costaware.sim import Simulator

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
costaware.instrument(tracer_provider=provider)

with Simulator() as sim:
    client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="demo")
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        messages=[{"role": "user", "content": "Give me three tips for writing clear commit messages."}],
    )
    print(message.content[0].text)
