"""What a budget does when its shared store (SQLite, Redis) is slow, hung or down.

``open_store`` puts every SQLite and Redis store behind a :class:`GuardedStore`:

- **Bounded waits.** Each operation is bounded by the store's ``timeout`` (URL option ``?timeout=``,
  default 250 ms): Redis's socket and connect timeouts (no client-side retries), SQLite's busy
  timeout.
- **A breaker.** An operation that fails or times out opens the breaker for ``retry_after`` (URL
  option ``?retry_after=``, default 5 s). While it is open, operations fail at once, with no I/O: an
  outage costs one timeout per interval, not one per call. The first operation after the interval
  tries the store again.
- **Fail open or closed, per budget.** A reservation that cannot be made raises
  :class:`StoreUnavailable`; the budget's ``on_store_error`` decides (``costaware.steps.spend``): ``"open"``
  (default) lets the call go on, ``"closed"`` refuses it before anything is sent.
- **A journal.** A settlement or release that cannot be made (a call that reserved before the outage,
  or one let through while failing open), and the release of a reservation that timed out (the
  server may still make it when it resumes), is kept in this process's memory and replayed, in order, as
  soon as the store answers again. Replays go through ``settle`` by reservation id, which every store
  makes idempotent, so a replay that timed out after the store applied it is never counted twice.
  The replay comes before the operation that finds the store back, so the first reservation after
  an outage sees the spend made during it.
  The journal holds up to ``journal_limit`` entries (default 100,000); past that the oldest is
  dropped with an error log. It does not survive the process.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar

from costaware.core.budget import DEFAULT_STORE_RETRY_AFTER, Charge, Reservation, Store
from costaware.stores import _forksafe

__all__ = ["GuardedStore", "StoreUnavailable"]

log = logging.getLogger("costaware")

T = TypeVar("T")


class _Inner(Store, Protocol):
    """A store that takes the id of the reservation it is asked to make (this package's stores)."""

    def reserve(
        self, key: str, window: str, amount: Decimal, limit: Decimal, *, reservation_id: str | None = None
    ) -> tuple[Reservation | None, Decimal, Decimal]: ...


class StoreUnavailable(Exception):
    """A budget store operation failed, timed out, or was not tried because the breaker is open."""


_guarded: weakref.WeakSet[GuardedStore] = weakref.WeakSet()


def guarded_stores() -> list[GuardedStore]:
    """The shared stores this process has open (for the store-health metrics)."""
    return list(_guarded)


class GuardedStore:
    """A :class:`~costaware.core.budget.Store` behind a breaker, with a journal for the writes it
    could not make (see the module's description)."""

    blocking = True

    def __init__(
        self,
        inner: _Inner,
        *,
        name: str,
        retry_after: float = DEFAULT_STORE_RETRY_AFTER,
        journal_limit: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.name = name
        self.retry_after = retry_after
        self._clock = clock
        self._lock = _forksafe.register(self)
        self._open_until = 0.0
        self._outage_logged = False
        self._journal: deque[tuple[str, Reservation, Charge | None]] = deque()
        self._journal_limit = journal_limit
        self._replaying = threading.Lock()
        self.failures = 0
        """Operations that failed or were not tried (breaker open) since the store was opened."""
        _guarded.add(self)

    # -- the Store protocol ------------------------------------------------------------------------
    def reserve(
        self, key: str, window: str, amount: Decimal, limit: Decimal
    ) -> tuple[Reservation | None, Decimal, Decimal]:
        # The id is chosen here, so a reservation that timed out (the server may still make it, as
        # a stopped Redis does when it resumes) can be released once the store is back.
        reservation = Reservation(id=uuid.uuid4().hex, key=key, window=window, amount=amount)
        try:
            return self._call(self.inner.reserve, key, window, amount, limit, reservation_id=reservation.id)
        except StoreUnavailable as outage:
            if outage.__cause__ is not None:  # tried, and failed: it may have been made
                self._journal_add("release", reservation, None)
            raise

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        self._write("settle", reservation, charge)

    def release(self, reservation: Reservation) -> None:
        self._write("release", reservation, None)

    def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
        return self._call(self.inner.usage, key, window)

    def charges(self, since: datetime | None = None) -> list[Charge]:
        return self._call(self.inner.charges, since)

    def close(self) -> None:
        self.inner.close()

    # -- state -------------------------------------------------------------------------------------
    @property
    def available(self) -> bool:
        """Whether the breaker lets operations through now."""
        return self._clock() >= self._open_until

    @property
    def pending(self) -> int:
        """Settlements and releases waiting in the journal for the store to come back."""
        return len(self._journal)

    def replay(self) -> int:
        """Replay the journal now (it also replays after any operation that succeeds); returns how
        many entries are left (the store failed again part-way, or is still down)."""
        if self._journal and self.available:
            self._replay()
        return len(self._journal)

    # -- internals ---------------------------------------------------------------------------------
    def _call(self, operation: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        if self.available and self._journal:
            self._replay()  # first: a reservation after an outage must see the outage's spend
        if not self.available:
            self.failures += 1
            raise StoreUnavailable(f"budget store {self.name} is unavailable (retrying it later)")
        try:
            result = operation(*args, **kwargs)
        except Exception as error:
            self.failures += 1
            self._trip(error)
            raise StoreUnavailable(f"budget store {self.name} failed: {error}") from error
        self._recovered()
        return result

    def _write(self, kind: str, reservation: Reservation, charge: Charge | None) -> None:
        if self._journal:  # keep the order: earlier writes first
            self._journal_add(kind, reservation, charge)
            self.replay()
            return
        try:
            self._call(self._apply, kind, reservation, charge)
        except StoreUnavailable:
            self._journal_add(kind, reservation, charge)

    def _apply(self, kind: str, reservation: Reservation, charge: Charge | None) -> None:
        """One journal entry's write, on the inner store: a settlement or a release."""
        if kind == "settle":
            assert charge is not None
            self.inner.settle(reservation, charge)
        else:
            self.inner.release(reservation)

    def _journal_add(self, kind: str, reservation: Reservation, charge: Charge | None) -> None:
        with self._lock:
            if len(self._journal) >= self._journal_limit:
                dropped = self._journal.popleft()
                log.error(
                    "costaware: budget store %s has been unavailable for %d writes; the oldest "
                    "(%s of %s) is dropped from the journal and will not be booked",
                    self.name,
                    self._journal_limit,
                    dropped[0],
                    dropped[1].key,
                )
            self._journal.append((kind, reservation, charge))

    def _replay(self) -> None:
        if not self._replaying.acquire(blocking=False):
            return  # another thread is replaying
        try:
            while self._journal:
                kind, reservation, charge = self._journal[0]
                try:
                    self._apply(kind, reservation, charge)
                except Exception as error:
                    self._trip(error)
                    return
                with self._lock:
                    if self._journal and self._journal[0][1] is reservation:
                        self._journal.popleft()
        finally:
            self._replaying.release()

    def _trip(self, error: BaseException) -> None:
        with self._lock:
            self._open_until = self._clock() + self.retry_after
            first = not self._outage_logged
            self._outage_logged = True
        if first:
            log.warning(
                "costaware: budget store %s failed (%s: %s); it is tried again every %.3g s, calls "
                "follow each budget's on_store_error meanwhile, and writes are kept to replay",
                self.name,
                type(error).__name__,
                error,
                self.retry_after,
            )

    def _recovered(self) -> None:
        if self._outage_logged:
            with self._lock:
                self._outage_logged = False
            log.warning("costaware: budget store %s answers again", self.name)

    def _after_fork(self) -> None:
        """In a forked child: the journal is the parent's to replay, not the child's."""
        self._journal = deque()
        self._replaying = threading.Lock()
