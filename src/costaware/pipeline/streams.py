"""Transparent proxies that read a stream as the caller reads it and finish its call exactly once.

A stream's call ends whichever way the stream ends: read to the end (``completed``), an error while
reading (``error``), ``close()`` or a ``with`` block's exit (``closed``), or the stream being dropped
and garbage collected, e.g. after ``break`` (``abandoned``). What the stream delivered until then
(partial usage included) is recorded. State lives in ``_self_*`` attributes, per ``wrapt``.

Streams are recognised by behaviour (``__next__`` / ``__anext__``), never by class, so another
instrumentor's proxy around the SDK's ``Stream`` works the same.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

from costaware.config import internal_error

if TYPE_CHECKING:
    from costaware.core.types import StreamEnd
    from costaware.pipeline.drive import Driven
    from costaware.providers.base import PatchTarget, StreamAccumulator


class Streamed(Protocol):
    """What a stream proxy needs of its call (``costaware.pipeline.call.Call``)."""

    accumulator: StreamAccumulator | None
    stream_attached: bool

    @property
    def done(self) -> bool: ...

    def note_first_chunk(self) -> None: ...

    def finish_stream(self, stream_end: StreamEnd) -> None: ...

    def fail(self, error: BaseException, stream_end: StreamEnd | None = None) -> None: ...

    def observe(self, value: Any) -> Any: ...

    def attach_stream(self, stream: Any) -> Any: ...

    def replayer(self, wrapped: Any, instance: Any) -> Any: ...


if TYPE_CHECKING:

    class HelperCall(Streamed, Driven, Protocol):
        """What a stream helper needs of its call: a stream proxy's and a driver's needs together."""


STREAM, RAW, VALUE = "stream", "raw", "value"
_KIND_OF_TYPE: dict[type, str] = {}
"""Kinds decided by the class alone (SDK streams, pydantic models), remembered per class."""


def kind_of(value: Any) -> str:
    """What an SDK method returned: a stream, a raw-response wrapper, or a plain value.

    Streams are recognised by behaviour, not class (another instrumentor may have proxied them).
    Asked of the type first, and remembered per type: ``hasattr`` on a pydantic model (class or
    instance) that lacks the attribute goes through its slow ``__getattr__``.
    """
    cls = type(value)
    known = _KIND_OF_TYPE.get(cls)
    if known is not None:
        return known
    if hasattr(cls, "__next__") or hasattr(cls, "__anext__"):
        kind = STREAM
    elif hasattr(cls, "__pydantic_fields__"):
        kind = VALUE
    else:  # a proxy forwards attributes to what it wraps: decide per instance, remember nothing
        if hasattr(value, "__next__") or hasattr(value, "__anext__"):
            return STREAM
        if hasattr(value, "http_response") and hasattr(value, "parse"):
            return RAW  # with_raw_response / with_streaming_response: parsed later by the caller
        return VALUE
    if len(_KIND_OF_TYPE) < 256:
        _KIND_OF_TYPE[cls] = kind
    return kind


def _finish_on_gc(proxy: Any) -> None:
    call = getattr(proxy, "_self_call", None)
    if call is not None:
        _abandon(call)


def _first_event(call: Streamed) -> Any:
    """Note a stream's first event; returns what reads each event (the accumulator's ``add``)."""
    call.note_first_chunk()
    return call.accumulator.add  # type: ignore[union-attr]


def _read_events(stream: Any, call: Streamed) -> Iterator[Any]:
    """The events of ``stream``, each read into ``call``: a generator, so a ``for`` loop resumes it
    directly instead of calling a Python ``__next__`` on the proxy for every event."""
    iterator = iter(stream)
    add = None
    while True:
        try:
            event = next(iterator)
        except StopIteration:
            call.finish_stream("completed")
            return
        except BaseException as exc:
            call.fail(exc, "error")
            raise
        try:
            if add is None:
                add = _first_event(call)
            add(event)
        except Exception:
            internal_error("reading a stream event")
        yield event


def _abandon(call: Streamed) -> None:
    if not call.done:
        with contextlib.suppress(Exception):  # never raise from a finaliser
            call.finish_stream("abandoned")


class StreamProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A sync stream (``anthropic.Stream``, ``openai.Stream``) that records its call.

    Iterating it gives a generator over the stream's events (as iterating the SDK's own stream does).
    That generator may outlive the proxy (``for event in client...create(stream=True)`` keeps only
    the generator), so the call is finished as abandoned when the generator is collected, not the proxy.
    """

    def __init__(self, stream: Any, call: Streamed) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_events = events = _read_events(stream, call)
        weakref.finalize(events, _abandon, call).atexit = False

    def __iter__(self) -> Iterator[Any]:
        return self._self_events

    def __next__(self) -> Any:
        return next(self._self_events)

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            self._self_call.finish_stream("closed")

    def __enter__(self) -> StreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_call.finish_stream("closed")


class AsyncStreamProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """An async stream (``anthropic.AsyncStream``, ``openai.AsyncStream``) that records its call."""

    def __init__(self, stream: Any, call: Streamed) -> None:
        super().__init__(stream)
        self._self_call = call
        self._self_iter: Any = None
        self._self_add: Any = None

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        iterator = self._self_iter
        if iterator is None:
            iterator = self._self_iter = self.__wrapped__.__aiter__()
        try:
            event = await iterator.__anext__()
        except StopAsyncIteration:
            self._self_call.finish_stream("completed")
            raise
        except BaseException as exc:
            self._self_call.fail(exc, "error")
            raise
        try:  # the hot path: one call per event
            add = self._self_add
            if add is None:
                add = self._self_add = _first_event(self._self_call)
            add(event)
        except Exception:
            internal_error("reading a stream event")
        return event

    async def close(self) -> Any:
        try:
            return await self.__wrapped__.close()
        finally:
            self._self_call.finish_stream("closed")

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_call.finish_stream("closed")

    def __del__(self) -> None:
        _finish_on_gc(self)


def wrap_stream(stream: Any, call: Streamed) -> Any:
    return AsyncStreamProxy(stream, call) if hasattr(stream, "__anext__") else StreamProxy(stream, call)


class RawResponseProxy(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A raw response whose body is still to be read (``with_streaming_response``, or
    ``with_raw_response`` of a streamed request): its call is recorded when the caller parses it (a
    parsed stream is proxied in turn) and ends at the latest on ``close()``. A raw response whose body
    is already read is not wrapped: the caller gets the SDK's own object (see ``Call.observe``)."""

    def __init__(self, response: Any, call: Streamed) -> None:
        super().__init__(response)
        self._self_call = call
        self._self_parsed: tuple[Any, Any] | None = None

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        value = self.__wrapped__.parse(*args, **kwargs)
        if inspect.isawaitable(value):
            return self._self_parse_async(value)
        return self._self_observe(value)

    async def _self_parse_async(self, pending: Any) -> Any:
        return self._self_observe(await pending)

    def _self_observe(self, value: Any) -> Any:
        parsed = self._self_parsed
        if parsed is not None and parsed[0] is value:
            return parsed[1]  # the SDK caches parse(); hand back the same proxy
        if self._self_call.done:
            return value
        observed = self._self_call.observe(value)
        self._self_parsed = (value, observed)
        return observed

    def close(self) -> Any:
        result = self.__wrapped__.close()
        if inspect.isawaitable(result):
            return self._self_close_async(result)
        self._self_call.finish_stream("closed")
        return result

    async def _self_close_async(self, pending: Any) -> Any:
        try:
            return await pending
        finally:
            self._self_call.finish_stream("closed")

    def __del__(self) -> None:
        _finish_on_gc(self)


def wrap_raw_response(response: Any, call: Streamed) -> Any:
    return RawResponseProxy(response, call)


def _attach_to_helper_stream(call: Streamed, helper_stream: Any) -> None:
    """Feed ``call`` from the SDK stream under a helper's high-level stream.

    The helpers (``MessageStream``, ``ChatCompletionStream``, ``ResponseStream``) read their raw SSE
    stream from ``_raw_stream``; every convenience (``text_stream``, ``get_final_message()``,
    ``until_done()``) goes through it, so proxying it sees every event once. OpenAI's helpers call
    the patched ``create()``, which has already attached the stream by this point.
    """
    if call.stream_attached:
        return
    raw = getattr(helper_stream, "_raw_stream", None)
    if raw is None:
        return  # unknown helper shape: the call still ends, without usage, when the block exits
    helper_stream._raw_stream = call.attach_stream(raw)


@dataclass(frozen=True)
class HelperRequest:
    """What a stream helper was asked for, kept until its block is entered."""

    runtime: Any
    target: PatchTarget
    instance: Any
    make: Any
    """Builds a manager: the SDK's ``stream`` method (on a no-SDK-retry client when we retry)."""
    args: tuple[Any, ...]
    prepared: Any
    """The :class:`costaware.steps.prepare.Prepared` request: routed, capped and cache-planned."""
    scope: Any
    open_call: Callable[..., HelperCall | None]
    """The pipeline's entrance (``costaware.pipeline.call.open_call``), given by the wrapper: helpers
    start their call the same way a plain call does."""
    drive: Callable[[HelperCall, Any, tuple[Any, ...], dict[str, Any], Any], Any]
    """The driver of the call's attempts (``costaware.pipeline.drive.drive`` or ``drive_async``)."""


class _HelperBase(wrapt.ObjectProxy):  # type: ignore[type-arg]
    """A stream helper's manager; the request is sent when the block is entered, through the
    pipeline's attempt loop (budget reserved first; transient failures retried before any byte
    reaches the caller, each retry with a fresh manager)."""

    def __init__(self, manager: Any, request: HelperRequest) -> None:
        super().__init__(manager)
        self._self_request = request
        self._self_call: HelperCall | None = None
        self._self_entered: Any = manager
        self._self_replayed = False
        self._self_own_entered = False
        """Whether the caller's own manager was the one entered (else the request it prepared is
        closed: :func:`_discard`)."""

    def _self_start(self) -> HelperCall | None:
        request = self._self_request
        call = request.open_call(
            request.runtime, request.target, request.instance, request.prepared, request.scope
        )
        self._self_call = call
        return call

    def _self_send(self) -> Any:
        """The attempt function for the pipeline's loop: a manager per attempt (the caller's own for
        the first, unless the cache tried to answer first: its request may be closed by then)."""
        original = self._self_request.prepared.kwargs
        first = True

        def manager_for(*args: Any, **kwargs: Any) -> Any:
            nonlocal first
            if first and kwargs == original and not self._self_replayed:
                first = False
                self._self_own_entered = True
                return self.__wrapped__
            first = False
            self._self_entered = self._self_request.make(*args, **kwargs)
            return self._self_entered

        return manager_for

    def _self_end(self) -> None:
        if self._self_call is not None:
            self._self_call.finish_stream("closed")

    def __del__(self) -> None:
        _finish_on_gc(self)


class HelperProxy(_HelperBase):
    """``client.messages.stream(...)`` and friends: the request is sent on ``__enter__``."""

    def __enter__(self) -> Any:
        call = self._self_start()
        if call is None:
            return self.__wrapped__.__enter__()
        request = self._self_request
        manager_for = self._self_send()

        def send(*args: Any, **kwargs: Any) -> Any:
            return manager_for(*args, **kwargs).__enter__()

        def replayer() -> Any:
            self._self_replayed = True
            make = call.replayer(request.make, request.instance)

            def replay(*args: Any, **kwargs: Any) -> Any:
                self._self_entered = make(*args, **kwargs)
                return self._self_entered.__enter__()

            return replay

        helper_stream = request.drive(call, send, request.args, request.prepared.kwargs, replayer)
        _attach_to_helper_stream(call, helper_stream)
        return helper_stream

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self._self_entered.__exit__(*exc_info)
        finally:
            self._self_end()


def _discard(manager: Any) -> None:
    """Close the request an async helper's manager prepared at ``stream()`` time (a coroutine it
    holds) when that manager is never entered: the answer came from the cache, the first attempt's
    request changed (a budget downgrade), or the call ended before sending (a budget refusal, a
    cancellation). Else it would be left un-awaited. A sync manager holds none."""
    try:
        for value in list(getattr(manager, "__dict__", {}).values()):
            if inspect.iscoroutine(value):
                value.close()
    except Exception:
        internal_error("closing a stream helper's unused request")


class AsyncHelperProxy(_HelperBase):
    """``async with client.messages.stream(...)``: ``stream()`` is a plain ``def`` returning this."""

    async def __aenter__(self) -> Any:
        call = self._self_start()
        if call is None:
            return await self.__wrapped__.__aenter__()
        request = self._self_request
        manager_for = self._self_send()

        async def send(*args: Any, **kwargs: Any) -> Any:
            return await manager_for(*args, **kwargs).__aenter__()

        def replayer() -> Any:
            self._self_replayed = True
            make = call.replayer(request.make, request.instance)

            async def replay(*args: Any, **kwargs: Any) -> Any:
                self._self_entered = make(*args, **kwargs)
                return await self._self_entered.__aenter__()

            return replay

        try:
            helper_stream = await request.drive(call, send, request.args, request.prepared.kwargs, replayer)
        finally:
            if not self._self_own_entered:
                _discard(self.__wrapped__)
        _attach_to_helper_stream(call, helper_stream)
        return helper_stream

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self._self_entered.__aexit__(*exc_info)
        finally:
            self._self_end()
