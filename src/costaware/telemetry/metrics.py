"""costaware's metric instruments, made once per meter provider and shared by every runtime using it.

The OpenTelemetry SDK hands back an already-registered observable instrument with its *first*
callbacks, so instruments made again on a reconfiguration would never be read: every
:class:`~costaware.telemetry.emit.Telemetry` on one meter provider therefore shares one :class:`Instruments`.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import metrics
from opentelemetry.context import Context, get_current
from opentelemetry.metrics import Observation

from costaware._version import __version__
from costaware.config import internal_error

log = logging.getLogger("costaware")

TOKEN_BUCKETS = tuple(float(4**i) for i in range(14))  # 1, 4, 16, ... 67108864
DURATION_BUCKETS = tuple(round(0.01 * 2**i, 2) for i in range(14))  # 0.01 ... 81.92
CALL_COST_BUCKETS = tuple(float(f"{m}e{e}") for e in range(-6, 1) for m in (1, 3))  # $0.000001 ... $3

COST_METRIC = "costaware.cost"
UNPRICED_METRIC = "costaware.calls.unpriced"
CALLS_METRIC = "costaware.calls"


class Sums:
    """A monotonic counter summed in process and reported through an ``ObservableCounter`` when the
    reader collects. Adding is a dict update under a lock: the SDK's synchronous ``Counter.add``
    validates and hashes its attributes on every call, which made counters most of the per-call cost.
    Exported exactly like a counter (``..._total`` in Prometheus)."""

    def __init__(
        self,
        meter: Any,
        name: str,
        unit: str = "",
        description: str = "",
        before: Callable[[], None] | None = None,
    ) -> None:
        """``before``, if given, runs first whenever a reader collects (see :class:`Batched`)."""
        self._values: dict[tuple[tuple[str, Any], ...], float] = {}
        self._lock = threading.Lock()
        callbacks: list[Any] = [self._observe]
        if before is not None:
            callbacks.insert(0, _callback_running(before))
        meter.create_observable_counter(name, callbacks=callbacks, unit=unit, description=description)

    @staticmethod
    def key(attributes: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
        return tuple(attributes.items())

    def add(self, amount: float, attributes: Mapping[str, Any]) -> None:
        self.add_to(amount, Sums.key(attributes))

    def add_to(self, amount: float, key: tuple[tuple[str, Any], ...]) -> None:
        """``add`` with the attributes given as a :meth:`key` made earlier."""
        with self._lock:
            self._values[key] = self._values.get(key, 0.0) + amount

    def _observe(self, options: Any) -> Iterable[Observation]:
        with self._lock:
            items = list(self._values.items())
        return [Observation(value, dict(key)) for key, value in items]


class BudgetGauges:
    """``costaware.budget.remaining`` and ``costaware.budget.limit``: every budget a call was charged
    to, by key, read from its store when the reader collects. A call only notes its ledgers (a dict
    update); the store is read once per budget per collection, never on a call's path, and the value
    is the budget's current window's, not the one of its last call. Bounded: past ``limit`` keys the
    oldest is dropped.

    A collection waits on stores as little as it can, whatever thread or event loop runs it (a
    Prometheus ``/metrics`` handler may run on the application's loop): a store that fails is tried
    once per collection, a shared store whose breaker is open or which holds writes to replay is not
    read at all (the replay is a call's work, not the reader's, and a read would count as a store
    failure), and no read starts after ``read_for_s`` seconds or half the reader's timeout, whichever is
    shorter (one read may still take its store's own timeout, 250 ms by default for a shared store);
    the next collection starts with the budget not reached. A budget not read keeps its last value."""

    def __init__(self, meter: Any, limit: int = 10_000, read_for_s: float = 1.0) -> None:
        self._ledgers: dict[str, Any] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._limit = limit
        self._read_for_s = read_for_s
        self._resume: str | None = None
        """The budget the next collection starts with (after a collection that ran out of time)."""
        meter.create_observable_gauge(
            "costaware.budget.remaining",
            callbacks=[self._remaining],
            unit="USD",
            description="What is left of each budget's current window",
        )
        meter.create_observable_gauge(
            "costaware.budget.limit",
            callbacks=[self._limits],
            unit="USD",
            description="Each budget's limit per window",
        )

    def note(self, ledgers: Iterable[Any]) -> None:
        """A call was charged to ``ledgers`` (the latest ledger of a key is the one read)."""
        with self._lock:
            for ledger in ledgers:
                key = ledger.budget.key
                if self._ledgers.get(key) is not ledger:
                    self._ledgers.pop(key, None)  # re-inserted last: the oldest key is first
                    self._ledgers[key] = ledger
                    if len(self._ledgers) > self._limit:
                        self._last.pop(next(iter(self._ledgers)), None)
                        del self._ledgers[next(iter(self._ledgers))]

    def _remaining(self, options: Any) -> Iterable[Observation]:
        with self._lock:
            ledgers = list(self._ledgers.items())
            resume, self._resume = self._resume, None
        if not ledgers:
            return []
        timeout_s = getattr(options, "timeout_millis", None)
        allowed = self._read_for_s if timeout_s is None else min(self._read_for_s, timeout_s / 2000)
        deadline = time.monotonic() + allowed
        start = next((i for i, (key, _) in enumerate(ledgers) if key == resume), 0) if resume else 0
        passed: set[int] = set()  # stores not to read again in this collection
        for key, ledger in ledgers[start:] + ledgers[:start]:
            store = ledger.store
            if id(store) in passed or not _ready(store):
                continue
            if time.monotonic() >= deadline:
                with self._lock:
                    self._resume = key  # out of time: the next collection starts with this budget
                break
            try:
                value = float(ledger.remaining())
            except Exception:  # the store is down: its last value stands
                passed.add(id(store))
                log.debug("costaware: could not read budget %r from its store", key, exc_info=True)
                continue
            with self._lock:
                self._last[key] = value
        with self._lock:
            last = dict(self._last)
        return [Observation(last[key], {"costaware.budget.key": key}) for key, _ in ledgers if key in last]

    def _limits(self, options: Any) -> Iterable[Observation]:
        with self._lock:
            ledgers = list(self._ledgers.items())
        return [
            Observation(float(ledger.budget.limit), {"costaware.budget.key": key}) for key, ledger in ledgers
        ]


def _ready(store: Any) -> bool:
    """Whether a budget store can be read without waiting on an outage: a shared store's breaker is
    closed and it has no journalled writes to replay first (``costaware.stores.guarded``)."""
    return bool(getattr(store, "available", True)) and not getattr(store, "pending", 0)


def _callback_running(action: Callable[[], None]) -> Callable[[Any], Iterable[Observation]]:
    """An observable-instrument callback that runs ``action`` and observes nothing."""

    def callback(options: Any) -> Iterable[Observation]:
        try:
            action()
        except Exception:
            internal_error("recording queued metric points")
        return ()

    return callback


class Batched:
    """Histogram points queued, then recorded into the OpenTelemetry SDK ``size`` at a time.

    The SDK's ``Histogram.record`` costs ~10 us with its code and data in the CPU caches and two to
    three times that right after an HTTP request has pushed them out, which is where a call's points
    are made. Recorded in batches, the SDK's code runs warm: a call's three points cost about a third
    less CPU, flushes included (``bench/batching.py``: ~70 us one by one, ~45 us in batches).

    Nothing is lost or late for a reader: every collection first records what is queued (an
    observable instrument's callback runs before the SDK reads its synchronous instruments), and each
    point keeps the context it was made in, so exemplars link to the same trace as they would have.
    Thread-safe: appends and pops on a ``deque`` are atomic, so a point queued while another thread
    flushes is recorded by that flush or the next one.
    """

    __slots__ = ("_queue", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: deque[tuple[Any, float, Mapping[str, Any], Context]] = deque()

    def record(
        self, histogram: Any, amount: float, attributes: Mapping[str, Any], context: Context | None = None
    ) -> None:
        """Queue a point made in ``context`` (default: the current one)."""
        queue = self._queue
        queue.append((histogram, amount, attributes, get_current() if context is None else context))
        if len(queue) >= self.size:
            self.flush()

    def flush(self) -> None:
        """Record every queued point now. A point the SDK refuses (raises) does not stop the others:
        the queue is always emptied, then the first such error is raised."""
        pop = self._queue.popleft
        failed: Exception | None = None
        while True:
            try:
                histogram, amount, attributes, context = pop()
            except IndexError:
                break
            try:
                histogram.record(amount, attributes, context)
            except Exception as exc:
                failed = failed or exc
        if failed is not None:
            raise failed

    def __len__(self) -> int:
        return len(self._queue)


BATCH_POINTS = 48
"""Histogram points queued before they are recorded: 12 plain priced calls (4 points each: duration,
input and output tokens, cost)."""


class Instruments:
    """The histograms, ``Sums`` and gauge costaware records into, on one meter."""

    def __init__(self, meter: Any) -> None:
        self.pending = Batched(BATCH_POINTS)
        self.tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Number of input and output tokens used",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self.duration = meter.create_histogram(
            "gen_ai.client.operation.duration",
            unit="s",
            description="GenAI operation duration",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.first_chunk = meter.create_histogram(
            "gen_ai.client.operation.time_to_first_chunk",
            unit="s",
            description="Time from the request to the first chunk of a streamed response",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self.cost = Sums(
            meter, COST_METRIC, unit="USD", description="Cost of LLM calls in US dollars (priced calls only)"
        )
        self.call_cost = meter.create_histogram(
            "costaware.call.cost",
            unit="USD",
            description="Cost of each priced LLM call (its exemplars link a costly call to its trace)",
            explicit_bucket_boundaries_advisory=CALL_COST_BUCKETS,
        )
        self.calls = Sums(
            meter, CALLS_METRIC, unit="{call}", description="LLM calls made", before=self.pending.flush
        )
        self.unpriced = Sums(
            meter, UNPRICED_METRIC, unit="{call}", description="LLM calls whose model has no known price"
        )
        self.retries = Sums(
            meter,
            "costaware.retries",
            unit="{retry}",
            description="Retries of transient failures, by error type",
        )
        self.refusals = Sums(
            meter,
            "costaware.budget.refusals",
            unit="{call}",
            description="Calls refused before sending by a budget",
        )
        self.budget_spend = Sums(
            meter, "costaware.budget.spend", unit="USD", description="Spend charged to each budget"
        )
        self.routes = Sums(
            meter,
            "costaware.routing.decisions",
            unit="{call}",
            description="Routing decisions by policy and tier",
        )
        self.cascade = Sums(
            meter,
            "costaware.cascade.checks",
            unit="{answer}",
            description="Cascade answers checked, by escalation",
        )
        self.baseline = Sums(
            meter,
            "costaware.cost.baseline",
            unit="USD",
            description="What the calls would have cost without costaware (requested model, no cache)",
        )
        self.savings = Sums(
            meter,
            "costaware.savings",
            unit="USD",
            description="Money saved, by technique (routing, prompt_cache, response_cache)",
        )
        self.overhead = Sums(
            meter,
            "costaware.savings.overhead",
            unit="USD",
            description="Money spent by costaware's techniques: cache writes not read, rejected answers",
        )
        self.cache_lookups = Sums(
            meter,
            "costaware.response_cache.lookups",
            unit="{call}",
            description="Response cache lookups, by result (exact_hit, semantic_hit, miss, skipped, error)",
        )
        self.cache_rejections = Sums(
            meter,
            "costaware.response_cache.rejections",
            unit="{candidate}",
            description="Semantic candidates close enough in meaning that the paraphrase check turned down",
        )
        self.cache_evictions = Sums(
            meter,
            "costaware.response_cache.evictions",
            unit="{entry}",
            description="Response cache entries evicted to keep the store within its size limit",
        )
        self.budgets = BudgetGauges(meter)
        meter.create_observable_counter(
            "costaware.budget.store.failures",
            callbacks=[_store_failures],
            unit="{operation}",
            description="Budget store operations that failed or were skipped while its breaker was open",
        )
        meter.create_observable_gauge(
            "costaware.budget.store.journal",
            callbacks=[_store_journals],
            unit="{operation}",
            description="Budget store writes kept in this process, waiting for the store to come back",
        )


def _store_failures(options: Any) -> Iterable[Observation]:
    from costaware.stores.guarded import guarded_stores

    return [Observation(s.failures, {"costaware.budget.store": s.name}) for s in guarded_stores()]


def _store_journals(options: Any) -> Iterable[Observation]:
    from costaware.stores.guarded import guarded_stores

    return [Observation(s.pending, {"costaware.budget.store": s.name}) for s in guarded_stores()]


_made: weakref.WeakKeyDictionary[Any, Instruments] = weakref.WeakKeyDictionary()
_kept: dict[int, tuple[Any, Instruments]] = {}
"""Instruments of meter providers that cannot be weakly referenced (kept for the process's life)."""
_global: Instruments | None = None
_made_lock = threading.Lock()


def instruments_for(meter_provider: Any = None) -> Instruments:
    """The instruments on ``meter_provider`` (``None``: the global one), made on first use."""
    global _global
    with _made_lock:
        if meter_provider is None:
            if _global is None:
                _global = Instruments(metrics.get_meter("costaware", __version__))
            return _global
        try:
            made = _made.get(meter_provider)
        except TypeError:  # no weak references to it
            kept = _kept.get(id(meter_provider))
            made = kept[1] if kept is not None else None
        if made is None:
            made = Instruments(metrics.get_meter("costaware", __version__, meter_provider=meter_provider))
            try:
                _made[meter_provider] = made
            except TypeError:
                _kept[id(meter_provider)] = (meter_provider, made)
        return made
