"""The drivers that run a call's steps: :func:`drive` in the calling thread, :func:`drive_async` in the
running event loop. :meth:`costaware.pipeline.call.Call.attempts` decides the steps; these only carry them
out (send with the SDK's method, make a budget reservation, sleep before a retry), so sync and async
calls take exactly the same steps.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from costaware.pipeline.call import Call


@dataclass(slots=True)
class Send:
    """Send one attempt with ``kwargs`` through the SDK's method. The driver replies ``(value, None)``,
    or ``(None, error)`` with whatever the SDK raised."""

    kwargs: dict[str, Any]


@dataclass(slots=True)
class Reserve:
    """Reserve one attempt's worst case in the call's budgets (:meth:`Call.reserve`, off the event loop
    when a store does I/O). The driver replies ``(reservation, arguments to send)``, or throws the
    refusal into the steps."""

    kwargs: dict[str, Any]


@dataclass(slots=True)
class Sleep:
    """Wait ``seconds`` before the next attempt. The driver replies ``None``."""

    seconds: float


Step = Send | Reserve | Sleep
"""What a call's attempt loop asks its driver to do next."""


def drive(call: Call, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a call's attempts synchronously."""
    steps = call.attempts(kwargs)
    reply: Any = None
    refusal: BaseException | None = None
    while True:
        try:
            step = steps.send(reply) if refusal is None else steps.throw(refusal)
        except StopIteration as finished:
            return finished.value
        refusal = None
        if isinstance(step, Send):
            tokens = call.activate()
            try:
                reply = (send(*args, **step.kwargs), None)
            except BaseException as exc:
                reply = (None, exc)
            finally:
                call.deactivate(tokens)
        elif isinstance(step, Reserve):
            try:
                reply = call.reserve(step.kwargs)
            except BaseException as exc:
                refusal = exc
        else:
            time.sleep(step.seconds)
            reply = None


async def drive_async(call: Call, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a call's attempts in the running event loop (same steps as :func:`drive`); a reservation in
    a store that does I/O (SQLite, Redis) is made on the budget worker thread, not in the loop."""
    steps = call.attempts(kwargs)
    reply: Any = None
    refusal: BaseException | None = None
    while True:
        try:
            step = steps.send(reply) if refusal is None else steps.throw(refusal)
        except StopIteration as finished:
            return finished.value
        refusal = None
        if isinstance(step, Send):
            tokens = call.activate()
            try:
                reply = (await send(*args, **step.kwargs), None)
            except BaseException as exc:
                reply = (None, exc)
            finally:
                call.deactivate(tokens)
        elif isinstance(step, Reserve):
            try:
                reply = await call.guard.off_loop(call.reserve, step.kwargs)
            except BaseException as exc:
                refusal = exc
        else:
            await asyncio.sleep(step.seconds)
            reply = None
