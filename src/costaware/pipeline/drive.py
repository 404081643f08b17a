"""The drivers that run a call's steps: :func:`drive` in the calling thread, :func:`drive_async` in the
running event loop. :meth:`costaware.pipeline.call.Call.attempts` decides the steps; these only carry
them out (ask the response cache, answer from it, make a budget reservation, send with the SDK's
method, sleep before a retry), so sync and async calls, and stream helpers, take exactly the same steps.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from costaware.config import internal_error

if TYPE_CHECKING:
    from costaware.steps.spend import Reservations, SpendGuard


@dataclass(slots=True)
class Send:
    """Send one attempt with ``kwargs`` through the SDK's method. The driver replies ``(value, None)``,
    or ``(None, error)`` with whatever the SDK raised."""

    kwargs: dict[str, Any]


@dataclass(slots=True)
class Reserve:
    """Reserve one attempt's worst case in the call's budgets (``Call.reserve``, off the event loop
    when a store does I/O). The driver replies ``(reservation, arguments to send)``, or throws the
    refusal into the steps."""

    kwargs: dict[str, Any]


@dataclass(slots=True)
class Sleep:
    """Wait ``seconds`` before the next attempt. The driver replies ``None``."""

    seconds: float


@dataclass(slots=True)
class LookUp:
    """Ask the response cache for this request's answer. The driver replies the hit or ``None`` (from
    async code, off the event loop when the cache's store or embedder does I/O)."""

    kwargs: dict[str, Any]


@dataclass(slots=True)
class Replay:
    """Answer from the cache: the driver sends through a copy of the caller's client that serves the
    stored answer, and replies ``(value, True)``, or ``(None, False)`` when that failed (logged; the
    provider then answers)."""

    hit: Any
    kwargs: dict[str, Any]


Step = LookUp | Replay | Reserve | Send | Sleep
"""What a call's steps ask their driver to do next."""


class Driven(Protocol):
    """What a driver needs of a call (``costaware.pipeline.call.Call``)."""

    guard: SpendGuard

    @property
    def done(self) -> bool: ...

    def attempts(self, kwargs: dict[str, Any], look_up: bool = False) -> Generator[Step, Any, Any]: ...

    def fail(self, error: BaseException) -> None: ...

    def activate(self) -> Any: ...

    def deactivate(self, tokens: Any) -> None: ...

    def reserve(self, kwargs: dict[str, Any]) -> tuple[Reservations, dict[str, Any]]: ...

    def unreserve(self, reserved: tuple[Reservations, dict[str, Any]]) -> None: ...

    def consult_cache(self, kwargs: dict[str, Any]) -> Any: ...

    async def consult_cache_async(self, kwargs: dict[str, Any]) -> Any: ...

    def replay(self, hit: Any, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...

    async def replay_async(
        self, hit: Any, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any: ...


class _Walk:
    """A call's steps as a driver walks them: :meth:`next` gives the next step, having handed the
    steps the driver's ``reply`` to the last one (or thrown ``refusal`` into them); ``None`` once they
    are done, their result in :attr:`value`. From a :class:`Send` step to the next call of
    :meth:`next`, the call is current (the SDK's method runs as part of it: its span is the parent of
    the SDK's own). Used as a context manager: a driver interrupted between steps (a task cancelled
    while it waits to retry or for a reservation, a KeyboardInterrupt) ends the call with that
    exception and closes its steps."""

    __slots__ = ("_active", "_call", "_steps", "refusal", "reply", "value")

    def __init__(self, call: Driven, kwargs: dict[str, Any], look_up: bool) -> None:
        self._call = call
        self._steps = call.attempts(kwargs, look_up=look_up)
        self._active: Any = None
        self.reply: Any = None
        self.refusal: BaseException | None = None
        self.value: Any = None

    def __enter__(self) -> _Walk:
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        tokens, self._active = self._active, None
        try:
            if tokens is not None:
                self._call.deactivate(tokens)
        finally:
            if error is not None:
                if not self._call.done:
                    self._call.fail(error)
                self._steps.close()

    def next(self) -> Step | None:
        tokens, self._active = self._active, None
        if tokens is not None:
            self._call.deactivate(tokens)
        refusal, self.refusal = self.refusal, None
        try:
            step = self._steps.send(self.reply) if refusal is None else self._steps.throw(refusal)
        except StopIteration as finished:
            self.value = finished.value
            return None
        if isinstance(step, Send):
            self._active = self._call.activate()
        return step


def drive(
    call: Driven, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any], replayer: Any = None
) -> Any:
    """Run a call's steps synchronously: ``send`` sends one attempt; ``replayer()`` gives the function
    that answers from the response cache (``None``: the cache is not consulted, as for a cascade's
    later hops)."""
    with _Walk(call, kwargs, replayer is not None) as walk:
        while (step := walk.next()) is not None:
            if isinstance(step, Send):
                try:
                    walk.reply = (send(*args, **step.kwargs), None)
                except BaseException as exc:
                    walk.reply = (None, exc)
            elif isinstance(step, Reserve):
                try:
                    walk.reply = call.reserve(step.kwargs)
                except BaseException as exc:
                    walk.refusal = exc
            elif isinstance(step, LookUp):
                walk.reply = call.consult_cache(step.kwargs)
            elif isinstance(step, Replay):
                try:
                    walk.reply = (call.replay(step.hit, replayer(), args, step.kwargs), True)
                except Exception:
                    internal_error("answering from the response cache")  # then the provider answers
                    walk.reply = (None, False)
            else:
                time.sleep(step.seconds)
                walk.reply = None
    return walk.value


async def drive_async(
    call: Driven, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any], replayer: Any = None
) -> Any:
    """Run a call's steps in the running event loop (same steps as :func:`drive`); a reservation in
    a store that does I/O (SQLite, Redis) is made on the budget worker thread, not in the loop."""
    with _Walk(call, kwargs, replayer is not None) as walk:
        while (step := walk.next()) is not None:
            if isinstance(step, Send):
                try:
                    walk.reply = (await send(*args, **step.kwargs), None)
                except BaseException as exc:
                    walk.reply = (None, exc)
            elif isinstance(step, Reserve):
                try:
                    walk.reply = await call.guard.off_loop(call.reserve, step.kwargs, call.unreserve)
                except BaseException as exc:
                    walk.refusal = exc
            elif isinstance(step, LookUp):
                walk.reply = await call.consult_cache_async(step.kwargs)
            elif isinstance(step, Replay):
                try:
                    walk.reply = (await call.replay_async(step.hit, replayer(), args, step.kwargs), True)
                except Exception:
                    internal_error("answering from the response cache")  # then the provider answers
                    walk.reply = (None, False)
            else:
                await asyncio.sleep(step.seconds)
                walk.reply = None
    return walk.value
