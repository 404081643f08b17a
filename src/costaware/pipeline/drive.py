"""The drivers that run a call's steps: :func:`drive` in the calling thread, :func:`drive_async` in the
running event loop. :meth:`costaware.pipeline.call.Call.attempts` decides the steps; these only carry them
out (send with the SDK's method, make a budget reservation, sleep before a retry), so sync and async
calls take exactly the same steps.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from costaware.pipeline.call import Call


def drive(call: Call, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a call's attempts synchronously."""
    steps = call.attempts(kwargs)
    reply: Any = None
    refusal: BaseException | None = None
    while True:
        try:
            kind, payload = steps.send(reply) if refusal is None else steps.throw(refusal)
        except StopIteration as finished:
            return finished.value
        refusal = None
        if kind == "send":
            tokens = call.activate()
            try:
                reply = (send(*args, **payload), None)
            except BaseException as exc:
                reply = (None, exc)
            finally:
                call.deactivate(tokens)
        elif kind == "reserve":
            try:
                reply = call.reserve(payload)
            except BaseException as exc:
                refusal = exc
        else:
            time.sleep(payload)
            reply = None


async def drive_async(call: Call, send: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Run a call's attempts in the running event loop (same steps as :func:`drive`); a reservation in
    a store that does I/O (SQLite, Redis) is made on the budget worker thread, not in the loop."""
    steps = call.attempts(kwargs)
    reply: Any = None
    refusal: BaseException | None = None
    while True:
        try:
            kind, payload = steps.send(reply) if refusal is None else steps.throw(refusal)
        except StopIteration as finished:
            return finished.value
        refusal = None
        if kind == "send":
            tokens = call.activate()
            try:
                reply = (await send(*args, **payload), None)
            except BaseException as exc:
                reply = (None, exc)
            finally:
                call.deactivate(tokens)
        elif kind == "reserve":
            try:
                reply = await call.guard.off_loop(call.reserve, payload)
            except BaseException as exc:
                refusal = exc
        else:
            await asyncio.sleep(payload)
            reply = None
