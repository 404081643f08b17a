"""The ``wrapt`` wrappers patched onto the SDK methods: thin entrances into the pipeline.

A call wrapper prepares the request (route, cap, cache plan), opens a :class:`~costaware.pipeline.call.Call`,
drives its attempts, runs a cascade's further hops, and hands back what the SDK returned (or a
recording proxy of it). A stream-helper wrapper (``messages.stream()`` and the like) returns the SDK's
manager behind a proxy that opens the call when the stream starts. Inside OpenTelemetry's
suppression context a call goes through the same pipeline with telemetry off.
"""

from __future__ import annotations

from typing import Any

from costaware.config import internal_error
from costaware.current import current_scope
from costaware.pipeline import streams
from costaware.pipeline.call import Call, active_call, is_suppressed, open_call, rebind
from costaware.pipeline.drive import drive, drive_async
from costaware.providers.base import PatchTarget
from costaware.steps.prepare import for_model


def make_wrapper(target: PatchTarget, runtime_of: Any) -> Any:
    """The ``wrapt`` wrapper for ``target``; ``runtime_of()`` gives the current :class:`Runtime`."""
    if target.kind == "stream_helper":
        return make_helper_wrapper(target, runtime_of)
    if target.is_async:

        async def async_wrapper(
            wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
        ) -> Any:
            runtime = runtime_of()
            if runtime is None:
                return await wrapped(*args, **kwargs)
            if is_suppressed():
                runtime = runtime.silent()
            outer = active_call()
            if outer is not None:
                return _pass_through_nested(outer, await wrapped(*args, **kwargs))
            scope = current_scope()
            prepared = runtime.prepare(target, kwargs, scope)
            call = open_call(runtime, target, instance, prepared, scope)
            if call is None:
                return await wrapped(*args, **kwargs)
            send = call.sender(wrapped, instance)
            value = await drive_async(
                call, send, args, prepared.kwargs, lambda: call.replayer(wrapped, instance)
            )
            if call.cascade is not None and not call.from_cache and _cascadable(value):
                kwargs, hops = prepared.kwargs, 0
                while (following := _next_hop(call, value, kwargs, hops)) is not None:
                    kwargs, hops = for_model(runtime, target, prepared, following), hops + 1
                    value = await drive_async(call, send, args, kwargs)
            return await call.observe_async(value)

        return async_wrapper

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        runtime = runtime_of()
        if runtime is None:
            return wrapped(*args, **kwargs)
        if is_suppressed():
            runtime = runtime.silent()
        outer = active_call()
        if outer is not None:
            return _pass_through_nested(outer, wrapped(*args, **kwargs))
        scope = current_scope()
        prepared = runtime.prepare(target, kwargs, scope)
        call = open_call(runtime, target, instance, prepared, scope)
        if call is None:
            return wrapped(*args, **kwargs)
        send = call.sender(wrapped, instance)
        value = drive(call, send, args, prepared.kwargs, lambda: call.replayer(wrapped, instance))
        if call.cascade is not None and not call.from_cache and _cascadable(value):
            kwargs, hops = prepared.kwargs, 0
            while (following := _next_hop(call, value, kwargs, hops)) is not None:
                kwargs, hops = for_model(runtime, target, prepared, following), hops + 1
                value = drive(call, send, args, kwargs)
        return call.observe(value)

    return wrapper


def _pass_through_nested(call: Call, value: Any) -> Any:
    """A patched method reached from inside ``call`` (an SDK helper calling ``create``): the stream it
    returns feeds ``call`` when ``call`` is a stream helper still waiting for its stream."""
    waiting = call.target.kind == "stream_helper" and not call.stream_attached and not call.done
    if waiting and streams.kind_of(value) is streams.STREAM:
        return call.attach_stream(value)
    return value


def _cascadable(value: Any) -> bool:
    """Cascades check whole answers: not streams (already on their way to the caller), not raw responses."""
    return streams.kind_of(value) is streams.VALUE


def _next_hop(call: Call, value: Any, kwargs: dict[str, Any], hops: int) -> str | None:
    from costaware.steps import routing

    try:
        return routing.next_hop(call, value, kwargs, hops)
    except Exception:
        internal_error("checking a cascade answer")
        return None


def make_helper_wrapper(target: PatchTarget, runtime_of: Any) -> Any:
    """Wrapper for a stream-helper method: returns the SDK's manager behind a recording proxy.

    When a retry policy applies, managers are made on a copy of the client with the SDK's own
    retries off, so ``retries=3`` means at most 4 requests.
    """
    proxy_class = streams.AsyncHelperProxy if target.is_async else streams.HelperProxy
    driver = drive_async if target.is_async else drive

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        runtime = runtime_of()
        if runtime is None or active_call() is not None:
            return wrapped(*args, **kwargs)
        if is_suppressed():
            runtime = runtime.silent()
        make = wrapped
        scope = current_scope()
        prepared = runtime.prepare(target, kwargs, scope)  # at stream() time: the manager gets the result
        try:
            if runtime.retry_policy(scope) is not None:
                make = rebind(wrapped, runtime.without_sdk_retries(target, instance))
        except Exception:
            internal_error("preparing a stream helper")
        manager = make(*args, **prepared.kwargs)
        try:
            request = streams.HelperRequest(
                runtime, target, instance, make, args, prepared, scope, open_call, driver
            )
            return proxy_class(manager, request)
        except Exception:
            internal_error("wrapping a stream helper")
            return manager

    return wrapper
