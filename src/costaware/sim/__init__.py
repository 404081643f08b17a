"""A local Anthropic + OpenAI API simulator for tests, benchmarks and demos.

``Simulator`` serves the real wire formats on 127.0.0.1 (standard library only), so the
official ``anthropic`` and ``openai`` clients work unchanged through ``base_url``::

    from costaware.sim import Simulator, Fault

    with Simulator() as sim:
        client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="test")
        oai = openai.OpenAI(base_url=sim.openai_base_url, api_key="test")
        sim.add_fault(Fault(status=429, retry_after=0.05, times=2, path="/v1/messages"))

Endpoints: ``POST /v1/messages`` (JSON or SSE), ``/v1/messages/count_tokens``,
``/v1/chat/completions`` (JSON or SSE), ``/v1/responses`` (JSON or SSE), ``/v1/embeddings``;
control: ``GET /_sim/stats``, ``POST /_sim/reset``, ``POST /_sim/faults`` (a ``Fault`` as JSON,
or a list), ``DELETE /_sim/faults``. Unknown models are answered like known ones.

Token counts (exact, so tests can predict them)::

    count_tokens(text) = ceil(len(text.encode("utf-8")) / 4)      # 0 for "", else >= 1
    prompt tokens      = count_tokens(canonical serialisation of the prompt)
                       = prompt_tokens(provider, body)
    output tokens      = count_tokens(answer text) (+ reasoning tokens, OpenAI o-series/gpt-5)

The canonical serialisation (tools as compact JSON, then ``"system: ..."``, then one
``"role: text"`` segment per content block, joined with newlines) is specified in
``costaware.sim.tokens``. Answers are deterministic from the last user turn, 20..200 tokens,
cut at ``max_tokens`` (``stop_reason="max_tokens"``, ``finish_reason="length"``,
``status="incomplete"``). Prompt caching is simulated per ``costaware.sim.caching``.

Request headers that steer a single request:

* ``x-sim-fault: status=503;times=2;key=abc`` -- a per-request ``Fault`` (``key`` keeps the
  "first N" counter across the SDK's retries; without it the header text is the key).
* ``x-sim-response-model: <model>`` -- report this model in the response.
* ``x-sim-flavour: azure`` -- start chat streams as Azure OpenAI does (a content-filter chunk with an
  empty ``id`` and ``model``).
* ``x-sim-usage: missing | malformed | negative`` -- omit usage, send it with nulls and strings, or
  with a negative output count (chat endpoints).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .tokens import count_tokens, prompt_tokens

if TYPE_CHECKING:
    from .faults import Fault
    from .quality import capability
    from .server import Simulator, serve

__all__ = ["Fault", "Simulator", "capability", "count_tokens", "prompt_tokens", "serve"]

_LAZY = {
    "Fault": ".faults",
    "Simulator": ".server",
    "serve": ".server",
    "capability": ".quality",
}


def __getattr__(name: str) -> Any:
    # The HTTP server and its imports load on first use, keeping `import costaware.sim` light.
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name, __name__), name)
    globals()[name] = value
    return value
