"""The in-memory store: one process, any number of threads and asyncio tasks.

One ``threading.Lock`` guards everything and no method awaits, so a reservation is atomic for
threads and tasks alike. A forked child gets a fresh lock (and a copy of the parent's budgets).
Money is kept as ``Decimal`` (exact). Nothing survives the process.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal, localcontext

from costaware.core.budget import DEFAULT_RESERVATION_TTL, MONEY_CONTEXT, Charge, Reservation, as_utc
from costaware.stores import _forksafe

__all__ = ["InvocationStore", "MemoryStore"]

_ZERO = Decimal(0)
# Settled ids remembered for idempotency. A duplicate settle comes from the same call's cleanup paths,
# seconds later, not after this many other settlements.
_SETTLED_MEMORY = 65_536


class MemoryStore:
    """A budget store in this process's memory.

    ``reservation_ttl`` (seconds) drops reservations never settled nor released (a leaked one must not
    block the budget forever); ``max_charges`` bounds the charges kept for reports (oldest dropped).
    """

    blocking = False
    """Its operations do no I/O, so async code calls it in the event loop (see ``costaware.steps.spend``)."""

    def __init__(
        self,
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        max_charges: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = reservation_ttl
        self._clock = clock
        self._lock = _forksafe.register(self)
        self._spent: dict[tuple[str, str], Decimal] = {}
        self._reserved: dict[tuple[str, str], Decimal] = {}
        # id -> (reservation, expiry). One TTL for all, so insertion order is expiry order.
        self._reservations: OrderedDict[str, tuple[Reservation, float]] = OrderedDict()
        self._settled: OrderedDict[str, None] = OrderedDict()
        self._charges: deque[Charge] = deque(maxlen=max_charges)

    def reserve(
        self, key: str, window: str, amount: Decimal, limit: Decimal, *, reservation_id: str | None = None
    ) -> tuple[Reservation | None, Decimal, Decimal]:
        slot = (key, window)
        with self._lock, localcontext(MONEY_CONTEXT):
            now = self._clock()
            self._expire(now)
            spent = self._spent.get(slot, _ZERO)
            reserved = self._reserved.get(slot, _ZERO)
            if spent + reserved + amount > limit:
                return None, spent, reserved
            reservation = Reservation(
                id=reservation_id or uuid.uuid4().hex, key=key, window=window, amount=amount
            )
            self._reservations[reservation.id] = (reservation, now + self._ttl)
            self._reserved[slot] = reserved + amount
            return reservation, spent, reserved

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        slot = (reservation.key, reservation.window)
        with self._lock, localcontext(MONEY_CONTEXT):
            if reservation.id in self._settled:
                return
            self._settled[reservation.id] = None
            if len(self._settled) > _SETTLED_MEMORY:
                self._settled.popitem(last=False)
            self._drop(reservation.id)
            self._spent[slot] = self._spent.get(slot, _ZERO) + charge.amount
            self._charges.append(charge if charge.at else replace(charge, at=datetime.now(timezone.utc)))

    def release(self, reservation: Reservation) -> None:
        with self._lock, localcontext(MONEY_CONTEXT):
            self._drop(reservation.id)

    def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
        slot = (key, window)
        with self._lock, localcontext(MONEY_CONTEXT):
            self._expire(self._clock())
            return self._spent.get(slot, _ZERO), self._reserved.get(slot, _ZERO)

    def charges(self, since: datetime | None = None) -> list[Charge]:
        with self._lock:
            kept = list(self._charges)
        if since is None:
            return kept
        since = as_utc(since)
        return [c for c in kept if c.at is not None and as_utc(c.at) >= since]

    def close(self) -> None:
        """Nothing to release."""

    def _expire(self, now: float) -> None:
        while self._reservations:
            reservation_id, (_, expiry) = next(iter(self._reservations.items()))
            if expiry > now:
                return
            self._drop(reservation_id)

    def _drop(self, reservation_id: str) -> None:
        entry = self._reservations.pop(reservation_id, None)
        if entry is None:
            return
        reservation = entry[0]
        slot = (reservation.key, reservation.window)
        left = self._reserved.get(slot, _ZERO) - reservation.amount
        if left:
            self._reserved[slot] = left
        else:
            self._reserved.pop(slot, None)


class InvocationStore:
    """The store of one invocation's budget (``@cost_aware(budget=0.50)``): what one call of the
    function has spent and holds reserved, for as long as that call lasts.

    The :class:`MemoryStore` semantics (atomic reserve, idempotent settle, spend booked even for a
    reservation it did not make, a reservation never settled nor released stops counting after
    ``reservation_ttl``, a fork-safe lock), without what a store shared by many calls needs: one key
    and one window, so no slots; no charge history (nothing reports one invocation's charges, its
    scope's tracker has them); reservation ids from a counter, not ``uuid4``. Made once per
    invocation, so it is cheap to make.

    >>> from decimal import Decimal
    >>> from costaware.core.budget import Charge
    >>> store = InvocationStore()
    >>> held, spent, reserved = store.reserve("f", "none", Decimal("0.30"), Decimal("0.50"))
    >>> store.reserve("f", "none", Decimal("0.30"), Decimal("0.50"))[0] is None  # 0.60 > 0.50
    True
    >>> store.settle(held, Charge(budget_key="f", amount=Decimal("0.02")))
    >>> store.usage("f", "none")
    (Decimal('0.02'), Decimal('0.00'))
    """

    __slots__ = ("__weakref__", "_clock", "_ids", "_lock", "_open", "_reserved", "_settled", "_spent", "_ttl")

    blocking = False
    """Its operations do no I/O (see :class:`MemoryStore`)."""

    def __init__(
        self,
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = reservation_ttl
        self._clock = clock
        self._lock = _forksafe.register(self)  # an invocation's threads may be inside it at a fork
        self._ids = itertools.count(1)
        self._spent = _ZERO
        self._reserved = _ZERO
        # id -> (amount, expiry). One TTL for all, so insertion order is expiry order.
        self._open: dict[str, tuple[Decimal, float]] = {}
        self._settled: set[str] = set()

    def reserve(
        self, key: str, window: str, amount: Decimal, limit: Decimal, *, reservation_id: str | None = None
    ) -> tuple[Reservation | None, Decimal, Decimal]:
        with self._lock, localcontext(MONEY_CONTEXT):
            now = self._clock()
            self._expire(now)
            spent, reserved = self._spent, self._reserved
            if spent + reserved + amount > limit:
                return None, spent, reserved
            found = reservation_id or f"invocation-{next(self._ids)}"
            self._open[found] = (amount, now + self._ttl)
            self._reserved = reserved + amount
        return Reservation(id=found, key=key, window=window, amount=amount), spent, reserved

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        with self._lock, localcontext(MONEY_CONTEXT):
            if reservation.id in self._settled:
                return
            self._settled.add(reservation.id)
            self._drop(reservation.id)
            self._spent += charge.amount

    def release(self, reservation: Reservation) -> None:
        with self._lock, localcontext(MONEY_CONTEXT):
            self._drop(reservation.id)

    def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
        with self._lock, localcontext(MONEY_CONTEXT):
            self._expire(self._clock())
            return self._spent, self._reserved

    def charges(self, since: datetime | None = None) -> list[Charge]:
        """None kept (see the class docstring)."""
        return []

    def close(self) -> None:
        """Nothing to release."""

    def _expire(self, now: float) -> None:
        while self._open:
            reservation_id, (_, expiry) = next(iter(self._open.items()))
            if expiry > now:
                return
            self._drop(reservation_id)

    def _drop(self, reservation_id: str) -> None:
        entry = self._open.pop(reservation_id, None)
        if entry is not None:
            self._reserved -= entry[0]
