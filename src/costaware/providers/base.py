"""What a provider adapter tells the pipeline: which methods to patch and how to read them.

Adapters never import their SDK at module import; the SDK is imported by the patching registry
when (and if) it is installed and imported by the application.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from costaware.core.types import CacheParts, CallRequest, CallResult, Operation, Provider, Usage

log = logging.getLogger("costaware")

TargetKind = Literal["call", "stream_helper"]
"""``call``: the method sends the request and returns a model, a stream or a raw response.
``stream_helper``: the method returns a context manager that sends the request on entry."""


class StreamAccumulator(Protocol):
    """Reads a stream's events one by one and says what the call used so far."""

    def add(self, event: Any) -> None: ...

    def result(self) -> CallResult: ...


class FinalAccumulator(Protocol):
    """Rebuilds a stream's response, as the dict a non-streamed call would have returned."""

    def add(self, event: Any) -> None: ...

    def final(self) -> dict[str, Any] | None:
        """The response's wire dict, or ``None`` when the stream did not complete (or was garbled)."""
        ...


def with_served_transport(client: Any, respond: Callable[[Any, Any], Any], is_async: bool) -> Any:
    """A copy of a Stainless-generated client (both SDKs) whose HTTP client answers every request with
    ``respond(http, request)`` and never retries; ``http`` is the HTTP library the SDK itself uses
    (``httpx``, or ``httpx2`` in newer SDKs), so the SDK accepts the client and parses its answers."""
    import importlib

    base = next(c for c in type(client._client).__mro__ if c.__name__ in ("Client", "AsyncClient"))
    http = importlib.import_module(base.__module__.split(".")[0])
    if is_async:

        async def handle(request: Any) -> Any:
            return respond(http, request)

        http_client = http.AsyncClient(transport=http.MockTransport(handle))
    else:
        http_client = http.Client(transport=http.MockTransport(lambda request: respond(http, request)))
    return client.with_options(http_client=http_client, max_retries=0)


@dataclass(frozen=True, slots=True)
class Replay:
    """What the response cache needs to know of one endpoint's wire format."""

    cache_parts: Callable[[Mapping[str, Any]], CacheParts]
    """kwargs -> what the answer depends on, split for the response cache's exact and semantic
    layers. Pure; never consumes an argument."""
    final_of: Callable[[Any], dict[str, Any] | None]
    """A non-streamed response (``create`` or ``parse``) -> its wire dict, the answer to store
    (``None``: not a response of this endpoint). What ``.parse()`` derived is left out: the SDK
    derives it again when the answer is replayed."""
    new_final_accumulator: Callable[[], FinalAccumulator]
    """-> a fresh accumulator that rebuilds the same wire dict from one stream's raw events (the
    objects ``new_accumulator``'s accumulator gets)."""
    replay_body: Callable[[Mapping[str, Any], bool, Mapping[str, Any]], tuple[str, bytes]]
    """``(stored dict, stream, kwargs) -> (content type, HTTP body)`` that the SDK parses back into
    the stored response, every token count zero: JSON, or the event stream the API would send for
    it (``kwargs`` says e.g. whether a chat stream ends with a usage chunk)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """How to read one family of calls (e.g. Anthropic messages, OpenAI chat completions)."""

    provider: Provider
    operation: Operation
    read_request: Callable[[Mapping[str, Any]], tuple[str | None, int | None, bool]]
    """kwargs -> (model, max_tokens, stream)."""
    read_response: Callable[..., CallResult]
    """(response, with_text=False) -> what it used; the output text only when asked (it costs time)."""
    new_accumulator: Callable[[bool], StreamAccumulator]
    """capture_text -> a fresh accumulator for one stream."""
    read_input: Callable[[Mapping[str, Any]], Any] | None = None
    """kwargs -> the prompt, for opt-in content capture."""
    read_tool_calls: Callable[[Any], tuple[tuple[str | None, Any], ...]] | None = None
    """response -> its tool calls as (name, arguments), for cascade checks."""
    prompt_fields: tuple[str, ...] = ()
    """The arguments whose content is billed as input (the budget's worst case estimates their
    tokens). Empty: every argument counts, an over-estimate that never undercounts a new endpoint."""
    output_cap_fields: tuple[str, ...] = ()
    """The arguments that limit output length, the one to set first (an older alias after it)."""
    output_copies_fields: tuple[str, ...] = ()
    """Arguments that multiply billed output (OpenAI's ``n``): each copy up to the cap."""
    plan_cache: Callable[[dict[str, Any], str | None, Any, float], tuple[dict[str, Any], Any]] | None = None
    """``(kwargs, model, tracker, now) -> (new kwargs, span attributes)``: where prompt-cache
    breakpoints or keys go for this endpoint (``None``: it has no prompt caching)."""
    client_of: Callable[[Any], Any] = lambda resource: getattr(resource, "_client", None)
    """resource -> the client it belongs to, or ``None`` (the SDKs generated by Stainless keep it as
    ``_client``)."""
    without_retries: Callable[[Any], Any] = lambda client: client.with_options(max_retries=0)
    """client -> a copy of it with the SDK's own retries off (costaware's retry policy replaces them)."""
    not_sent_errors: frozenset[str] = frozenset({"ConnectError", "ConnectTimeout"})
    """Exception class names (in an error's ``__cause__`` chain) meaning the request never left: the
    SDK's HTTP client (httpx) could not connect, so nothing can have been billed."""
    with_transport: Callable[[Any, Callable[[Any, Any], Any], bool], Any] = with_served_transport
    """``(client, respond, is_async)`` -> a copy of the client whose requests ``respond(http, request)``
    answers (the response cache replays stored answers through the SDK's own parsing this way)."""
    replay: Replay | None = None
    """How the response cache keys, stores and replays this endpoint's answers (``None``: they are
    never cached)."""
    no_usage_hint: str = ""
    """What the caller can do when an answer of this endpoint carries no token usage (logged once
    with the warning that its cost is unknown), e.g. the request option that makes a stream report it."""


@dataclass(frozen=True, slots=True)
class PatchTarget:
    """One SDK method to wrap: ``module`` imported by name, ``attribute`` like ``"Messages.create"``."""

    module: str
    attribute: str
    method: str
    """The name the telemetry uses, e.g. ``anthropic.messages.create``."""
    endpoint: Endpoint
    is_async: bool
    kind: TargetKind = "call"
    resource_path: str = ""
    """Where the method's resource sits on a client, e.g. ``beta.messages`` or ``chat.completions``."""


GENERATION_METHODS: tuple[tuple[str, TargetKind], ...] = (
    ("create", "call"),
    ("parse", "call"),
    ("stream", "stream_helper"),
)
"""The methods of a generation resource: ``create`` and ``parse`` send; ``stream`` is a helper."""


def resource_targets(
    provider: str,
    module: str,
    resource: str,
    path: str,
    endpoint: Endpoint,
    methods: tuple[tuple[str, TargetKind], ...] = GENERATION_METHODS,
) -> list[PatchTarget]:
    """The targets of one SDK resource class and its ``Async`` twin (e.g. ``Messages`` at ``messages``)."""
    return [
        PatchTarget(
            module=module,
            attribute=f"{owner}.{name}",
            method=f"{provider}.{path}.{name}",
            endpoint=endpoint,
            is_async=is_async,
            kind=kind,
            resource_path=path,
        )
        for owner, is_async in ((resource, False), (f"Async{resource}", True))
        for name, kind in methods
    ]


def request_of(target: PatchTarget, kwargs: Mapping[str, Any], client: Any) -> CallRequest:
    """The ``CallRequest`` a patched method was asked for, read from its keyword arguments."""
    model, max_tokens, stream = target.endpoint.read_request(kwargs)
    address, port = _server_of(client)
    return CallRequest(
        provider=target.endpoint.provider,
        operation=target.endpoint.operation,
        method=target.method,
        model=model,
        stream=stream or target.kind == "stream_helper",
        max_tokens=max_tokens,
        server_address=address,
        server_port=port,
    )


_SERVERS: dict[int, tuple[Any, tuple[str | None, int | None]]] = {}


def _server_of(client: Any) -> tuple[str | None, int | None]:
    """Host and port of a client's base URL, parsed once per URL object (clients rarely change it)."""
    url = getattr(client, "base_url", None)
    if url is None:
        return None, None
    known = _SERVERS.get(id(url))
    if known is not None and known[0] is url:
        return known[1]
    host = getattr(url, "host", None)
    port = getattr(url, "port", None)
    if port is None:
        port = 443 if getattr(url, "scheme", "https") == "https" else 80
    if len(_SERVERS) > 1024:  # bounded: a process making clients in a loop must not grow this
        _SERVERS.clear()
    _SERVERS[id(url)] = (url, (host, port))
    return host, port


def as_int(value: Any) -> int:
    """A token count from a response field; anything that is not a non-negative int counts as 0."""
    if type(value) is int and value >= 0:
        return value
    return 0


def is_count(value: Any) -> bool:
    return type(value) is int and value >= 0


def str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def usage_or_none(usage: Usage, *counts: Any) -> Usage | None:
    """``usage`` when one of the raw counts it was read from is a real count and none is impossible;
    else ``None``, so the call is charged as one of unknown cost (under a budget: its reserved worst
    case, never less than it could have been billed).

    Absent counts (``None``) are zero. A present count that is negative or not an integer is
    impossible: a usage with one cannot be trusted for the others either, so it is dropped (with a
    warning) rather than priced as zero tokens.
    """
    impossible = [count for count in counts if count is not None and not is_count(count)]
    if impossible:
        log.warning(
            "costaware: the provider reported impossible token counts %r; the call is charged as one "
            "of unknown cost (its reserved worst case under a budget) and its span says usage.missing",
            impossible,
        )
        return None
    return usage if any(is_count(count) for count in counts) else None
