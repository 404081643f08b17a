"""Budgets applied to one call: reserve the worst case before each attempt, settle after.

The worst case of an attempt is its estimated input tokens at the model's dearest input rate (a
cache write can cost up to 2x input) plus its output cap at the output rate, times the outputs it
asks for (OpenAI's ``n``: each choice is billed up to the cap). The estimate must not
undercount for "never overspent" to hold: it is ``ceil(utf8 bytes / 3)`` of the prompt's JSON, above
the ~4 bytes a token real tokenizers average on English and equal to one token per CJK character
(:func:`costaware.core.tokens.tokens_at_most`).
A call under a budget with no output cap gets one (``budget_max_output_tokens``, default 16384) so
its worst case is finite. When a call's real cost is unknown (usage missing), the reserved worst
case is charged.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from costaware.config import internal_error
from costaware.core.budget import Budget, BudgetLedger, Charge, Reservation, Store, parse_store_url
from costaware.core.errors import BudgetExceededError
from costaware.core.tokens import tokens_at_most
from costaware.core.types import ZERO, Cost, integral
from costaware.stores.guarded import StoreUnavailable

if TYPE_CHECKING:
    from costaware.providers.base import Endpoint

log = logging.getLogger("costaware")

MTOK = Decimal(1_000_000)

_ledgers: dict[int, tuple[Budget, BudgetLedger]] = {}
_stores: dict[tuple[str, str], Store] = {}
_ledgers_lock = threading.Lock()

T = TypeVar("T")

_worker: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _budget_worker() -> ThreadPoolExecutor:
    """The one thread on which async code's store operations run, in the order they were asked for.

    One thread, so a reservation asked for after a settlement is made after it (a reservation never
    sees a worst case that was already settled), and the store sees no more concurrency than before.
    """
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="costaware-budget")
        return _worker


def _forget_worker() -> None:
    """In a forked child: the parent's worker thread does not exist here; the next use starts one.
    The locks are new too (a parent thread could hold them at the fork)."""
    global _worker, _worker_lock, _ledgers_lock
    _worker, _worker_lock, _ledgers_lock = None, threading.Lock(), threading.Lock()


os.register_at_fork(after_in_child=_forget_worker)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _submitted(action: Callable[..., T], *args: Any) -> Future[T] | None:
    """``action(*args)`` queued on the budget worker (in a copy of this context), or ``None`` when the
    worker takes no new work (the interpreter is shutting down): then the caller does it in place."""
    try:
        return _budget_worker().submit(contextvars.copy_context().run, action, *args)
    except RuntimeError:
        return None


async def _on_worker(action: Callable[..., T], *args: Any, undo: Callable[[T], None] | None = None) -> T:
    """``await`` ``action(*args)`` done on the budget worker; its exception is raised here unchanged.
    ``undo``: what to do with the result if the awaiting task is cancelled while the worker is already
    at it (the result reaches nobody: a reservation made for a cancelled call is released, not left
    held until its TTL)."""
    queued = _submitted(action, *args)
    if queued is None:
        return action(*args)
    try:
        return await asyncio.wrap_future(queued)
    except asyncio.CancelledError:
        if undo is not None:
            queued.add_done_callback(lambda done: _undo(done, undo))
        raise


def _undo(done: Any, undo: Callable[[Any], None]) -> None:
    """Undo a worker's result that its cancelled caller will never read (on the worker thread)."""
    if done.cancelled() or done.exception() is not None:
        return  # nothing was made
    try:
        undo(done.result())
    except Exception:
        log.warning("costaware: undoing a cancelled call's budget operation failed", exc_info=True)


def _background(action: Callable[..., None], *args: Any) -> None:
    """Run ``action`` on the budget worker; nobody waits for it, so a failure is logged there."""

    def run() -> None:
        try:
            action(*args)
        except Exception:
            log.warning("costaware: a budget store update failed on the budget worker", exc_info=True)

    if _submitted(run) is None:
        run()


def does_io(ledgers: Sequence[BudgetLedger]) -> bool:
    """Whether a store of these budgets does I/O: any store that does not say ``blocking = False``."""
    return any(getattr(ledger.store, "blocking", True) for ledger in ledgers)


def remaining_or_none(ledger: BudgetLedger) -> float | None:
    """What is left of a budget, or ``None`` when its store cannot say (it is down): never raises."""
    try:
        return float(ledger.remaining())
    except Exception:
        log.debug("costaware: could not read budget %r from its store", ledger.budget.key, exc_info=True)
        return None


def read_remaining(ledgers: Sequence[BudgetLedger]) -> dict[str, float | None]:
    """What is left of each budget, by key (a read of each store, here)."""
    return {ledger.budget.key: remaining_or_none(ledger) for ledger in ledgers}


async def read_remaining_async(ledgers: Sequence[BudgetLedger]) -> dict[str, float | None]:
    """:func:`read_remaining` from async code: on the budget worker, after the settlements queued
    before it, when a store does I/O."""
    if not does_io(ledgers):
        return read_remaining(ledgers)
    return await _on_worker(read_remaining, ledgers)


def wait_for_budget_worker(timeout: float | None = 30.0) -> None:
    """Wait until the store operations queued so far are done (``budget_status`` reads after them)."""
    if _worker is None:
        return
    done = _submitted(lambda: None)
    if done is not None:  # else shut down: it finished what it had before it stopped
        done.result(timeout)


class UnpricedBudgetError(BudgetExceededError):
    """A call under a budget names a model with no known price, so its worst case cannot be bounded."""

    def __init__(self, model: str | None, key: str) -> None:
        Exception.__init__(
            self,
            f"model {model!r} has no known price, so budget {key!r} cannot be enforced for it; "
            "add one with costaware.configure(prices={...}) or COSTAWARE_PRICES",
        )
        self.key, self.window, self.model = key, "", model
        self.limit = self.spent = self.reserved = self.needed = Decimal(0)


class BudgetStoreUnavailableError(BudgetExceededError):
    """A call under a budget with ``on_store_error="closed"`` whose store cannot be reached now: it
    is refused before anything is sent (with ``"open"``, the default, it would go on)."""

    def __init__(self, budget: Budget, cause: BaseException) -> None:
        Exception.__init__(
            self,
            f"budget {budget.key!r} cannot be checked: {cause}; on_store_error='closed' refuses the "
            "call until the store answers again",
        )
        self.key, self.window, self.model = budget.key, budget.window(), None
        self.limit = budget.limit
        self.spent = self.reserved = self.needed = Decimal(0)


def shared_ledger(budget: Budget) -> BudgetLedger:
    """The one ledger of a shared budget (its store is opened on first use, here).

    Stores named by a SQLite or Redis URL are opened once per process and shared by every budget
    that names the same URL (one connection each, however many ``Budget`` objects are made);
    ``memory://`` (the default) is one store per budget object, as a new in-memory store is a new
    ledger. A ledger is forgotten when its budget object is garbage collected.
    """
    with _ledgers_lock:
        held = _ledgers.get(id(budget))
        if held is None or held[0] is not budget:
            held = (budget, BudgetLedger(budget, _store_for(budget.store)))
            _ledgers[id(budget)] = held
            weakref.finalize(budget, _forget_ledger, id(budget), held[1])
        return held[1]


def _forget_ledger(budget_id: int, ledger: BudgetLedger) -> None:
    with _ledgers_lock:
        held = _ledgers.get(budget_id)
        if held is not None and held[1] is ledger:
            del _ledgers[budget_id]


def _store_for(url_or_store: Any) -> Store:
    """The process's store for a URL (opened once), or a new store for ``memory://`` / a Store."""
    from costaware.stores import open_store

    if not isinstance(url_or_store, str) or parse_store_url(url_or_store).scheme == "memory":
        return open_store(url_or_store)
    # A relative SQLite path names a file in the working directory at the time it is opened.
    name = (url_or_store, os.getcwd() if url_or_store.startswith("sqlite") else "")
    store = _stores.get(name)
    if store is None:
        store = _stores[name] = open_store(url_or_store)
    return store


@dataclass(frozen=True)
class BudgetStatus:
    """Where a shared budget stands in its current window (USD)."""

    key: str
    window: str
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    remaining: Decimal


def budget_status(budget: Budget) -> BudgetStatus:
    """Spent, reserved and remaining of ``budget`` now, read from its store.

    >>> costaware.budget_status(daily).remaining   # doctest: +SKIP
    Decimal('19.9657091')
    """
    ledger = shared_ledger(budget)
    wait_for_budget_worker()  # settlements async calls queued are in what it reads
    spent, reserved = ledger.usage()
    return BudgetStatus(budget.key, budget.window(), budget.limit, spent, reserved, ledger.remaining())


def estimate_input_tokens(kwargs: Mapping[str, Any], endpoint: Endpoint) -> int:
    """An upper-leaning estimate of a request's prompt tokens, with no tokenizer and no network: the
    endpoint's prompt arguments (every argument, for an endpoint that declares none)."""
    fields = endpoint.prompt_fields or tuple(kwargs)
    parts = {k: kwargs[k] for k in fields if k in kwargs and _given(kwargs[k])}
    # Serialised, escapes and all: a newline or a quote is two bytes of JSON, ~2% more on real
    # prompts and up to 13% on code, a margin "never overspent" keeps.
    return tokens_at_most(_PROMPT_JSON.encode(parts))


_PROMPT_JSON = json.JSONEncoder(default=str, ensure_ascii=False)
"""One encoder for every estimate (``json.dumps`` with options builds one per call)."""


def _given(value: Any) -> bool:
    return value is not None and type(value).__name__ not in ("Omit", "NotGiven")


def output_cap_field(kwargs: Mapping[str, Any], endpoint: Endpoint) -> tuple[str, int] | None:
    """The request's output-length argument and its value, if it sets one (any integral value)."""
    for name in endpoint.output_cap_fields:
        value = integral(kwargs.get(name))
        if value is not None:
            return name, value
    return None


def output_copies(kwargs: Mapping[str, Any], endpoint: Endpoint) -> int:
    """How many outputs a request is billed for (OpenAI's ``n`` choices), each up to the output cap.
    At least 1; an invalid value counts as 1 (the API refuses it before billing)."""
    copies = 1
    for name in endpoint.output_copies_fields:
        value = integral(kwargs.get(name))
        if value is not None and value > copies:
            copies = value
    return copies


def output_cap(kwargs: Mapping[str, Any], endpoint: Endpoint) -> int | None:
    found = output_cap_field(kwargs, endpoint)
    return found[1] if found is not None else None


@dataclass
class Reservations:
    """The reservations one attempt holds: one per budget (ledger) that applies, and their total."""

    entries: list[tuple[BudgetLedger, Reservation | None]]
    amount: Decimal


class SpendGuard:
    """The budgets one call is subject to (every enclosing scope's, plus the configured default)."""

    def __init__(
        self,
        ledgers: Sequence[BudgetLedger],
        prices: Any,
        on_exceed: Sequence[str | None] = (),
    ) -> None:
        self.ledgers = tuple(ledgers)
        # A scope's on_exceed overrides its shared budget's own for the calls of that scope.
        self.on_exceed: tuple[str, ...] = tuple(
            (on_exceed[i] or ledger.budget.on_exceed) if i < len(on_exceed) else ledger.budget.on_exceed
            for i, ledger in enumerate(self.ledgers)
        )
        self._prices = prices
        self.blocking = does_io(self.ledgers)

    def __bool__(self) -> bool:
        return bool(self.ledgers)

    async def off_loop(
        self, action: Callable[[Any], T], argument: Any, undo: Callable[[T], None] | None = None
    ) -> T:
        """``action(argument)`` without stalling the event loop: on the budget worker when a store
        does I/O, else right here. Its exception, if any, is raised here unchanged; ``undo(result)``
        runs if the caller is cancelled while the worker is at it."""
        if not self.blocking:
            return action(argument)
        return await _on_worker(action, argument, undo=undo)

    def later_if_async(self, action: Callable[..., None], *args: Any) -> None:
        """Run ``action(*args)`` now, or, from async code with a store that does I/O, queue it on the
        budget worker (settling and releasing: the call need not wait for them, and the worst case
        stays reserved until they are done, so a budget is never overspent meanwhile)."""
        if self.blocking and _in_event_loop():
            _background(action, *args)
        else:
            action(*args)

    def worst_case(self, endpoint: Endpoint, model: str | None, kwargs: Mapping[str, Any]) -> Decimal | None:
        price = self._prices.lookup(endpoint.provider, model) if model else None
        if price is None:
            return None
        tokens_in = estimate_input_tokens(kwargs, endpoint)
        tier = price.for_prompt(tokens_in)
        dearest_input = max(
            r for r in (tier.input, tier.cache_write_5m, tier.cache_write_1h) if r is not None
        )
        tokens_out = (output_cap(kwargs, endpoint) or 0) * output_copies(kwargs, endpoint)
        worst: Decimal = (tokens_in * dearest_input + tokens_out * tier.output) / MTOK
        return worst

    def fits(self, amount: Decimal) -> bool:
        return all(self._fits_one(ledger, amount) for ledger in self.ledgers)

    @staticmethod
    def _fits_one(ledger: BudgetLedger, amount: Decimal) -> bool:
        try:
            return ledger.fits(amount)
        except StoreUnavailable:
            return ledger.budget.on_store_error == "open"

    def reserve(self, endpoint: Endpoint, model: str | None, kwargs: Mapping[str, Any]) -> Reservations:
        """Reserve the attempt's worst case in every ledger, or raise before anything is sent."""
        amount = self.worst_case(endpoint, model, kwargs)
        if amount is None:
            raise UnpricedBudgetError(model, self.ledgers[0].budget.key)
        entries: list[tuple[BudgetLedger, Reservation | None]] = []
        try:
            for ledger, on_exceed in zip(self.ledgers, self.on_exceed, strict=True):
                entries.append((ledger, self._reserve_one(ledger, amount, on_exceed)))
        except BaseException:
            self.release(Reservations(entries, amount))
            raise
        return Reservations(entries, amount)

    @staticmethod
    def _reserve_one(ledger: BudgetLedger, amount: Decimal, on_exceed: str) -> Reservation | None:
        try:
            return ledger.reserve(amount)
        except BudgetExceededError as refusal:
            refusal.on_exceed = on_exceed  # type: ignore[attr-defined]
            if on_exceed != "warn":
                raise
            log.warning("costaware: %s (on_exceed='warn': sending anyway)", refusal)
            return None
        except StoreUnavailable as outage:
            # The store failed, timed out or is left alone after a failure (its breaker logs that).
            budget = ledger.budget
            if budget.on_store_error == "closed":
                raise BudgetStoreUnavailableError(budget, outage) from outage
            # Fail open: the call goes on under a reservation of nothing made here; its settlement
            # books the spend in the store, or in the store's journal until the store is back.
            return Reservation(id=uuid.uuid4().hex, key=budget.key, window=budget.window(), amount=ZERO)
        except Exception:
            # Any other store failure must not break the call either.
            internal_error(
                f"reserving in budget {ledger.budget.key!r}: its store failed; the call goes on unbudgeted"
            )
            return None

    def settle(self, held: Reservations, cost: Cost, charge: Charge) -> None:
        """Charge the attempt's real cost; the reserved worst case when the real cost is unknown."""
        self.later_if_async(self._settle, held, cost, charge)

    def _settle(self, held: Reservations, cost: Cost, charge: Charge) -> None:
        amount = cost.total if cost.total is not None else held.amount
        for ledger, reservation in held.entries:
            entry = Charge(
                budget_key=ledger.budget.key,
                amount=amount,
                provider=charge.provider,
                model=charge.model,
                feature=charge.feature,
                tenant=charge.tenant,
                at=charge.at,
            )
            try:
                if reservation is not None:
                    ledger.settle(reservation, entry)
                else:
                    ledger.record(entry)
            except Exception:
                internal_error(
                    f"settling budget {ledger.budget.key!r}: its store failed; the spend is not booked"
                )

    def release(self, held: Reservations) -> None:
        self.later_if_async(self._release, held)

    @staticmethod
    def _release(held: Reservations) -> None:
        for ledger, reservation in held.entries:
            if reservation is not None:
                try:
                    ledger.release(reservation)
                except Exception:  # the reservation expires by itself (its TTL)
                    internal_error(f"releasing a reservation of budget {ledger.budget.key!r}")
