"""Embedders: WordLlama offline, any callable normalised, the OpenAI endpoint through the user's client."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from costaware.core.errors import ConfigurationError
from costaware.steps.embedders import (
    CallableEmbedder,
    Embedder,
    ProviderEmbedder,
    WordLlamaEmbedder,
    embedder_of,
)

SRC = Path(__file__).parents[2] / "src"

NO_NETWORK = """
import socket, sys
def refuse(*args, **kwargs):
    raise OSError("network used")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse
sys.path.insert(0, {src!r})
"""


def test_wordllama_loads_and_embeds_with_no_network() -> None:
    pytest.importorskip("wordllama")
    script = (
        NO_NETWORK.format(src=str(SRC))
        + """
import numpy as np
from costaware.steps.embedders import WordLlamaEmbedder
v = WordLlamaEmbedder().embed("How do I learn Python?")
assert v.dtype == np.float32 and v.shape == (256,) and abs(float(v @ v) - 1) < 1e-5
print("ok")
"""
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HOME": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_wordllama_puts_paraphrases_closer_than_other_questions() -> None:
    pytest.importorskip("wordllama")
    embedder = WordLlamaEmbedder()
    a, b, c = embedder.embed_many(
        ["How do I learn Python?", "How can I learn Python?", "What is the capital of Peru?"]
    )
    assert a @ b > a @ c
    assert np.allclose(embedder.embed("How do I learn Python?"), a, atol=1e-5)


def test_importing_the_module_imports_neither_numpy_nor_wordllama() -> None:
    script = f"import sys; sys.path.insert(0, {str(SRC)!r}); import costaware.steps.embedders; "
    script += "print('numpy' in sys.modules, 'wordllama' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "False"]


def test_a_callable_result_is_normalised() -> None:
    vector = CallableEmbedder(lambda text: [3.0, 0.0, 4.0]).embed("x")
    assert vector.dtype == np.float32
    assert np.allclose(vector, [0.6, 0.0, 0.8])


def test_a_callable_without_direction_is_an_error() -> None:
    with pytest.raises(ValueError, match="no direction"):
        CallableEmbedder(lambda text: [0.0, 0.0]).embed("x")


def test_openai_embeds_through_the_given_client_and_the_call_is_priced(
    openai_client: Any, telemetry: Any, sim: Any
) -> None:
    vector = ProviderEmbedder("openai", openai_client, model="text-embedding-3-large").embed("hello there")
    assert vector.dtype == np.float32 and abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    assert sim.requests(path="/v1/embeddings") == 1
    span = telemetry.span()
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.request.model"] == "text-embedding-3-large"
    assert span.attributes["costaware.cost.unpriced"] is False


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        ("wordllama", WordLlamaEmbedder),
        ("openai", ProviderEmbedder),
        ("openai:text-embedding-3-large", ProviderEmbedder),
    ],
)
def test_names_are_turned_into_embedders(spec: str, kind: type) -> None:
    assert isinstance(embedder_of(spec), kind)


def test_a_callable_or_an_embedder_is_accepted() -> None:
    embedder = CallableEmbedder(lambda text: [1.0])
    assert embedder_of(embedder) is embedder
    assert isinstance(embedder_of(lambda text: [1.0]), CallableEmbedder)
    assert isinstance(embedder, Embedder)


@pytest.mark.parametrize("spec", ["word2vec", "openai:", "", None, 42, WordLlamaEmbedder])
def test_anything_else_is_a_configuration_error(spec: object) -> None:
    with pytest.raises(ConfigurationError):
        embedder_of(spec)
