"""OpenAI adapter: chat completions, Responses API and embeddings.

Reads the SDK's objects by attribute only (never imports ``openai``); malformed fields read as absent.
``prompt_tokens`` / ``input_tokens`` already include cached tokens. OpenAI bills no cache-write fee,
so tokens it reports as written stay in the plain-input part of ``Usage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from costaware.core import caching
from costaware.core.types import CallResult, Usage, integral
from costaware.providers import openai_replay, responses_replay
from costaware.providers.base import (
    Endpoint,
    PatchTarget,
    Replay,
    TargetKind,
    as_int,
    resource_targets,
    str_or_none,
    usage_or_none,
)

PROVIDER: Final = "openai"


def _model_of(kwargs: Mapping[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) else None


def _read_chat_request(kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, bool]:
    max_tokens = integral(kwargs.get("max_completion_tokens")) or integral(kwargs.get("max_tokens"))
    return _model_of(kwargs), max_tokens, kwargs.get("stream") is True


def _read_responses_request(kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, bool]:
    return _model_of(kwargs), integral(kwargs.get("max_output_tokens")), kwargs.get("stream") is True


def _read_embeddings_request(kwargs: Mapping[str, Any]) -> tuple[str | None, int | None, bool]:
    return _model_of(kwargs), None, False


def _read_chat_input(kwargs: Mapping[str, Any]) -> Any:
    return list(kwargs.get("messages") or ())


def _read_responses_input(kwargs: Mapping[str, Any]) -> Any:
    instructions = kwargs.get("instructions")
    prompt = kwargs.get("input")
    return ([{"role": "system", "content": instructions}] if instructions else []) + (
        [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt or ())
    )


def read_chat_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    prompt = getattr(usage, "prompt_tokens", None)
    completion = getattr(usage, "completion_tokens", None)
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
    reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None)
    normalised = Usage(
        input_tokens=as_int(prompt),
        output_tokens=as_int(completion),
        cache_read_tokens=min(as_int(cached), as_int(prompt)),
        reasoning_tokens=as_int(reasoning),
    )
    return usage_or_none(normalised, prompt, completion)


def read_responses_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    prompt = getattr(usage, "input_tokens", None)
    output = getattr(usage, "output_tokens", None)
    cached = getattr(getattr(usage, "input_tokens_details", None), "cached_tokens", None)
    reasoning = getattr(getattr(usage, "output_tokens_details", None), "reasoning_tokens", None)
    normalised = Usage(
        input_tokens=as_int(prompt),
        output_tokens=as_int(output),
        cache_read_tokens=min(as_int(cached), as_int(prompt)),
        reasoning_tokens=as_int(reasoning),
    )
    return usage_or_none(normalised, prompt, output)


def read_embeddings_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    prompt = getattr(usage, "prompt_tokens", None)
    return usage_or_none(Usage(input_tokens=as_int(prompt)), prompt)


def read_chat_response(completion: Any, with_text: bool = False) -> CallResult:
    choices = getattr(completion, "choices", None) or ()
    reasons = tuple(r for c in choices if isinstance(r := getattr(c, "finish_reason", None), str))
    texts = (
        [t for c in choices if isinstance(t := getattr(getattr(c, "message", None), "content", None), str)]
        if with_text
        else []
    )
    return CallResult(
        usage=read_chat_usage(getattr(completion, "usage", None)),
        response_model=str_or_none(getattr(completion, "model", None)),
        response_id=str_or_none(getattr(completion, "id", None)),
        finish_reasons=reasons,
        output_text="".join(texts) if texts else None,
    )


def read_responses_response(response: Any, with_text: bool = False) -> CallResult:
    status = getattr(response, "status", None)
    text = None
    if with_text:
        try:
            text = getattr(response, "output_text", None)
        except Exception:  # output_text is a computed property over arbitrary output items
            text = None
    return CallResult(
        usage=read_responses_usage(getattr(response, "usage", None)),
        response_model=str_or_none(getattr(response, "model", None)),
        response_id=str_or_none(getattr(response, "id", None)),
        finish_reasons=(status,) if isinstance(status, str) else (),
        output_text=text if isinstance(text, str) and text else None,
    )


def read_embeddings_response(response: Any, with_text: bool = False) -> CallResult:
    return CallResult(
        usage=read_embeddings_usage(getattr(response, "usage", None)),
        response_model=str_or_none(getattr(response, "model", None)),
    )


class ChatStreamAccumulator:
    """Usage arrives in one chunk (``stream_options.include_usage``), usually with empty ``choices``;
    some servers put it on a chunk that still has choices, so every chunk is checked."""

    __slots__ = ("_id", "_model", "_reasons", "_texts", "_usage")

    def __init__(self, capture_text: bool = False) -> None:
        self._usage: Any = None
        self._id: str | None = None
        self._model: str | None = None
        self._reasons: dict[int, str] = {}
        self._texts: list[str] | None = [] if capture_text else None

    def add(self, chunk: Any) -> None:
        # The first non-empty id and model: Azure's first chunk carries only content-filter
        # results, with both empty.
        if not self._id:
            self._id = str_or_none(getattr(chunk, "id", None)) or None
        if not self._model:
            self._model = str_or_none(getattr(chunk, "model", None)) or None
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self._usage = usage
        for choice in getattr(chunk, "choices", None) or ():
            reason = getattr(choice, "finish_reason", None)
            if isinstance(reason, str):
                self._reasons[as_int(getattr(choice, "index", 0))] = reason
            if self._texts is not None:
                text = getattr(getattr(choice, "delta", None), "content", None)
                if isinstance(text, str):
                    self._texts.append(text)

    def result(self) -> CallResult:
        return CallResult(
            usage=read_chat_usage(self._usage),
            response_model=self._model,
            response_id=self._id,
            finish_reasons=tuple(self._reasons[i] for i in sorted(self._reasons)),
            output_text="".join(self._texts) if self._texts else None,
        )


_TERMINAL_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


class ResponsesStreamAccumulator:
    """The Responses API stream carries the whole response (usage included) on its terminal event."""

    __slots__ = ("_final", "_id", "_model", "_texts")

    def __init__(self, capture_text: bool = False) -> None:
        self._final: CallResult | None = None
        self._id: str | None = None
        self._model: str | None = None
        self._texts: list[str] | None = [] if capture_text else None

    def add(self, event: Any) -> None:
        kind = getattr(event, "type", None)
        if kind == "response.output_text.delta":
            if self._texts is not None and isinstance(delta := getattr(event, "delta", None), str):
                self._texts.append(delta)
        elif kind == "response.created":
            response = getattr(event, "response", None)
            self._id = str_or_none(getattr(response, "id", None))
            self._model = str_or_none(getattr(response, "model", None))
        elif kind in _TERMINAL_EVENTS:
            self._final = read_responses_response(getattr(event, "response", None), self._texts is not None)

    def result(self) -> CallResult:
        if self._final is not None:
            return self._final
        return CallResult(
            response_model=self._model,
            response_id=self._id,
            output_text="".join(self._texts) if self._texts else None,
        )


class _NoStream:
    """Embeddings never stream."""

    def __init__(self, capture_text: bool = False) -> None:
        pass

    def add(self, event: Any) -> None:
        pass

    def result(self) -> CallResult:
        return CallResult()


def read_chat_tool_calls(completion: Any) -> tuple[tuple[str | None, Any], ...]:
    choices = getattr(completion, "choices", None) or ()
    message = getattr(choices[0], "message", None) if choices else None
    found = []
    for call in getattr(message, "tool_calls", None) or ():
        function = getattr(call, "function", None)
        found.append((str_or_none(getattr(function, "name", None)), getattr(function, "arguments", None)))
    return tuple(found)


def read_responses_tool_calls(response: Any) -> tuple[tuple[str | None, Any], ...]:
    return tuple(
        (str_or_none(getattr(item, "name", None)), getattr(item, "arguments", None))
        for item in getattr(response, "output", None) or ()
        if getattr(item, "type", None) == "function_call"
    )


def _plan_cache(
    kwargs: dict[str, Any], model: str | None, tracker: Any, now: float
) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """A ``prompt_cache_key`` from the stable prefix (``core/caching``); OpenAI caches by itself."""
    key = caching.openai_cache_key(kwargs)
    if key is None:
        return kwargs, []
    return caching.apply_openai(kwargs, key), [("costaware.cache.prompt_cache_key", key)]


CHAT = Endpoint(
    PROVIDER,
    "chat",
    _read_chat_request,
    read_chat_response,
    ChatStreamAccumulator,
    _read_chat_input,
    read_chat_tool_calls,
    prompt_fields=("messages", "tools", "tool_choice", "response_format"),
    output_cap_fields=("max_completion_tokens", "max_tokens"),
    output_copies_fields=("n",),
    plan_cache=_plan_cache,
    no_usage_hint=(
        "A streamed chat completion reports its usage only when asked: pass "
        "stream_options={'include_usage': True} (its last chunk then has an empty choices list)."
    ),
    replay=Replay(
        openai_replay.cache_parts,
        openai_replay.final_of,
        openai_replay.ChatFinalAccumulator,
        openai_replay.replay_body,
    ),
)
RESPONSES = Endpoint(
    PROVIDER,
    "chat",
    _read_responses_request,
    read_responses_response,
    ResponsesStreamAccumulator,
    _read_responses_input,
    read_responses_tool_calls,
    prompt_fields=("instructions", "input", "tools", "tool_choice", "text"),
    output_cap_fields=("max_output_tokens",),
    plan_cache=_plan_cache,
    replay=Replay(
        responses_replay.cache_parts,
        responses_replay.final_of,
        responses_replay.ResponseFinalAccumulator,
        responses_replay.replay_body,
    ),
)
EMBEDDINGS = Endpoint(
    PROVIDER,
    "embeddings",
    _read_embeddings_request,
    read_embeddings_response,
    _NoStream,
    prompt_fields=("input",),
)


_RESOURCES = "openai.resources"
_CREATE_ONLY: tuple[tuple[str, TargetKind], ...] = (("create", "call"),)


def targets() -> list[PatchTarget]:
    """Every OpenAI method costaware wraps. A method missing from the installed SDK is skipped."""
    chat = f"{_RESOURCES}.chat.completions.completions"
    responses = f"{_RESOURCES}.responses.responses"
    embeddings = f"{_RESOURCES}.embeddings"
    return [
        *resource_targets("openai", chat, "Completions", "chat.completions", CHAT),
        *resource_targets("openai", responses, "Responses", "responses", RESPONSES),
        *resource_targets("openai", embeddings, "Embeddings", "embeddings", EMBEDDINGS, _CREATE_ONLY),
    ]


EMBEDDING_MODEL: Final = "text-embedding-3-small"
"""The embeddings model the response cache's ``embedder="openai"`` uses when none is named."""


EMBEDDING_TIMEOUT_S = 5.0
"""An embedding is asked for inside a call's path: it must fail fast (then the exact layer alone
applies), not wait the SDK's default 10 minutes with retries."""


def new_client() -> Any:
    """A client made from the environment (``OPENAI_API_KEY``...), for an embedder given none."""
    import openai

    return openai.OpenAI(timeout=EMBEDDING_TIMEOUT_S, max_retries=0)


def embedding_client(client: Any) -> Any:
    """The application's client with a short timeout and no retries, for embeddings."""
    return client.with_options(timeout=EMBEDDING_TIMEOUT_S, max_retries=0)


def embed(client: Any, model: str, text: str) -> Any:
    """One text's embedding from the embeddings endpoint, through ``client`` (the application's own,
    patched: the call is traced and priced like any other)."""
    return client.embeddings.create(model=model, input=text).data[0].embedding
