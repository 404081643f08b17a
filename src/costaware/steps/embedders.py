"""What turns a question into the vector the semantic cache looks up: the embedders.

An embedder returns a unit-length 1-D ``numpy.float32`` array, so a dot product is the cosine
similarity. Three come with costaware, and :func:`embedder_of` accepts any of them by name:

- ``"wordllama"`` (:class:`WordLlamaEmbedder`): a static 256-d model whose weights ship inside the
  ``wordllama`` wheel (``pip install 'costaware[semantic]'``); it runs in-process, ~70-140 µs per
  question, and never touches the network;
- ``"openai"`` or ``"openai:<model>"`` (:class:`ProviderEmbedder`): the embeddings endpoint, called
  through the application's own (instrumented) client, so the call is traced and priced like any other;
- any callable ``text -> sequence of floats`` (:class:`CallableEmbedder`), normalised here.

numpy, wordllama and openai are imported on first use, never by ``import costaware``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from costaware.core.errors import ConfigurationError

__all__ = ["CallableEmbedder", "Embedder", "ProviderEmbedder", "WordLlamaEmbedder", "embedder_of"]


@runtime_checkable
class Embedder(Protocol):
    """Turns a text into a unit-length 1-D ``numpy.float32`` array."""

    def embed(self, text: str) -> Any: ...


def _unit(values: Any, source: str) -> Any:
    """``values`` as a unit-length float32 vector; a zero or non-finite vector is an error (no
    direction to compare, and NaN would make every similarity test false silently)."""
    import numpy as np

    vector = np.asarray(values, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(vector))
    if vector.size == 0 or not np.isfinite(norm) or norm == 0.0:
        raise ValueError(f"{source} returned a vector with no direction (empty, zero or not finite)")
    return vector / np.float32(norm)


@contextlib.contextmanager
def _logging_left_alone() -> Iterator[None]:
    """wordllama calls ``logging.basicConfig(level=INFO)`` when imported, which would make every
    application without its own logging setup print INFO records (each HTTP request of the SDKs):
    the root logger's handlers and level are put back as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


class WordLlamaEmbedder:
    """WordLlama's 256-d model, loaded once (thread-safe) from the package's own folder, offline.

    ``WordLlama.load()`` looks for the tokenizer under a folder name its wheel does not use and then
    tries to download it; pointing ``cache_dir`` at the package's folder with downloads disabled finds
    both the weights and the tokenizer there, so no run ever needs the network.
    """

    dimensions = 256

    local = True
    """Runs in-process: no I/O per embedding."""

    def __init__(self) -> None:
        import importlib.util

        if importlib.util.find_spec("wordllama") is None or importlib.util.find_spec("numpy") is None:
            raise ConfigurationError(
                "the 'wordllama' embedder needs the wordllama package: pip install 'costaware[semantic]'"
            )
        self._model: Any = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        """Load the model now (about half a second), so the first question does not wait for it."""
        self._load()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                with _logging_left_alone():
                    import wordllama

                    folder = os.path.dirname(os.path.abspath(wordllama.__file__))
                    self._model = wordllama.WordLlama.load(
                        cache_dir=folder, disable_download=True, dim=self.dimensions
                    )
            return self._model

    def embed(self, text: str) -> Any:
        """The unit vector of ``text``."""
        model = self._model if self._model is not None else self._load()
        return _unit(model.embed(text, norm=False)[0], "WordLlama")

    def embed_many(self, texts: Sequence[str]) -> Any:
        """The unit vectors of ``texts``, one row each (one call into the model)."""
        import numpy as np

        model = self._model if self._model is not None else self._load()
        rows = np.asarray(model.embed(list(texts), norm=False), dtype=np.float32)
        return np.stack([_unit(row, "WordLlama") for row in rows]) if len(rows) else rows

    def __repr__(self) -> str:
        return "WordLlamaEmbedder()"


class CallableEmbedder:
    """Any function ``text -> sequence of floats``; its result is normalised to unit length.

    >>> CallableEmbedder(lambda text: [3.0, 4.0]).embed("anything").tolist()
    [0.6000000238418579, 0.800000011920929]
    """

    def __init__(self, fn: Callable[[str], Sequence[float] | Any]) -> None:
        if not callable(fn):
            raise ConfigurationError(f"an embedder function must be callable, not {type(fn).__name__}")
        self.fn = fn

    def embed(self, text: str) -> Any:
        return _unit(self.fn(text), f"the embedder {getattr(self.fn, '__name__', self.fn)!r}")

    def __repr__(self) -> str:
        return f"CallableEmbedder({self.fn!r})"


class ProviderEmbedder:
    """A provider's embeddings endpoint (``"openai"`` or ``"openai:<model>"``), called through
    ``client`` (the application's own, so the call is instrumented, traced and priced); ``None``: a
    client made from the environment at first use."""

    def __init__(self, provider: str, client: Any = None, model: str | None = None) -> None:
        from costaware.providers import ADAPTERS

        adapter = next((a for a in ADAPTERS if provider == a.PROVIDER and hasattr(a, "embed")), None)
        if adapter is None:
            raise ConfigurationError(f"no embeddings endpoint is known for {provider!r}")
        self.provider = provider
        self.model = model or adapter.EMBEDDING_MODEL
        self._adapter = adapter
        self._client = adapter.embedding_client(client) if client is not None else None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._adapter.new_client()
                    except ImportError as exc:
                        raise ConfigurationError(
                            f"the {self.provider!r} embedder needs its SDK: "
                            f"pip install 'costaware[{self.provider}]'"
                        ) from exc
        return self._client

    def embed(self, text: str) -> Any:
        return _unit(self._adapter.embed(self.client, self.model, text), f"{self.provider} {self.model}")

    def __repr__(self) -> str:
        return f"ProviderEmbedder({self.provider!r}, model={self.model!r})"


def embedder_of(spec: Any) -> Embedder:
    """The embedder ``spec`` names: ``"wordllama"``, ``"openai"``, ``"openai:<model>"``, an object with
    an ``embed`` method, or a callable; anything else raises :class:`ConfigurationError`.

    >>> embedder_of("openai:text-embedding-3-large")
    ProviderEmbedder('openai', model='text-embedding-3-large')
    >>> embedder_of("word2vec")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    costaware.core.errors.ConfigurationError: unknown embedder 'word2vec': use 'wordllama', ...
    """
    if isinstance(spec, str):
        name, colon, model = spec.partition(":")
        if spec == "wordllama":
            return WordLlamaEmbedder()
        from costaware.providers import ADAPTERS

        known = any(name == a.PROVIDER and hasattr(a, "embed") for a in ADAPTERS)
        if known and (model or not colon):
            return ProviderEmbedder(name, model=model or None)
    elif isinstance(spec, type):
        pass  # a class, not an instance: almost surely a forgotten "()"
    elif isinstance(spec, Embedder):
        return spec
    elif callable(spec):
        return CallableEmbedder(spec)
    raise ConfigurationError(
        f"unknown embedder {spec!r}: use 'wordllama', 'openai', 'openai:<model>', an object with embed(text)"
        " or a callable"
    )
