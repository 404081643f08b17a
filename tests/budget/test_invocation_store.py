"""The store of a per-invocation budget (``@cost_aware(budget=0.50)``) keeps the memory store's
ledger semantics for one key and window: checked against ``MemoryStore`` on random operation
sequences, under threads, and on the paths a call takes when a store fails open."""

from __future__ import annotations

import doctest
import sys
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from costaware.core.budget import Charge, Reservation
from costaware.stores import memory
from costaware.stores.memory import InvocationStore, MemoryStore

from helpers import held_by_another_thread, in_forked_child, run_together

D = Decimal
LIMIT = D("0.50")
cents = st.integers(min_value=0, max_value=40).map(lambda n: D(n) / 100)
operations = st.lists(
    st.tuples(st.sampled_from(["reserve", "settle", "release", "settle again"]), cents, st.integers(0, 9)),
    max_size=40,
)


def test_the_docstring_example_holds() -> None:
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(InvocationStore, "InvocationStore", module=memory):
        runner.run(test)
    assert runner.failures == 0 and runner.tries > 0


@settings(max_examples=300, deadline=None)
@given(operations)
def test_it_answers_as_the_memory_store_does(steps: list[tuple[str, Decimal, int]]) -> None:
    ours, theirs = InvocationStore(), MemoryStore()
    held: list[tuple[Reservation, Reservation]] = []
    for action, amount, pick in steps:
        if action == "reserve":
            mine, spent, reserved = ours.reserve("f", "none", amount, LIMIT)
            other, other_spent, other_reserved = theirs.reserve("f", "none", amount, LIMIT)
            assert (mine is None, spent, reserved) == (other is None, other_spent, other_reserved)
            if mine is not None and other is not None:
                held.append((mine, other))
        elif held:
            mine, other = held[pick % len(held)]
            if action == "release":
                ours.release(mine)
                theirs.release(other)
            else:  # a settle, or the same settle again (a call's cleanup paths may repeat it)
                ours.settle(mine, Charge(budget_key="f", amount=amount))
                theirs.settle(other, Charge(budget_key="f", amount=amount))
        assert ours.usage("f", "none") == theirs.usage("f", "none")


def test_threads_never_reserve_past_the_limit() -> None:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch inside reserve: without the lock, they overspend
    try:
        for _ in range(10):  # each contest catches a missing lock about two times in three
            store = InvocationStore()
            accepted: list[Reservation] = []

            def claim(store: InvocationStore = store, accepted: list[Reservation] = accepted) -> None:
                for _ in range(10):
                    reservation, _, _ = store.reserve("f", "none", D("0.01"), LIMIT)
                    if reservation is not None:
                        accepted.append(reservation)

            run_together(16, claim)
            assert len(accepted) == 50
            assert len({r.id for r in accepted}) == 50
            assert store.usage("f", "none") == (D(0), LIMIT)
    finally:
        sys.setswitchinterval(interval)


def test_a_reservation_made_elsewhere_is_booked_once_when_settled() -> None:
    # A store that failed open leaves the call a reservation no store made; settling it books the spend.
    store = InvocationStore()
    foreign = Reservation(id="made-elsewhere", key="f", window="none", amount=D(0))
    store.settle(foreign, Charge(budget_key="f", amount=D("0.03")))
    store.settle(foreign, Charge(budget_key="f", amount=D("0.03")))
    assert store.usage("f", "none") == (D("0.03"), D(0))


def test_it_keeps_no_charge_history() -> None:
    store = InvocationStore()
    reservation, _, _ = store.reserve("f", "none", D("0.10"), LIMIT)
    assert reservation is not None
    store.settle(reservation, Charge(budget_key="f", amount=D("0.02")))
    assert store.charges() == []


def test_a_reservation_never_settled_stops_counting_after_its_ttl() -> None:
    now = [0.0]
    store = InvocationStore(reservation_ttl=60.0, clock=lambda: now[0])
    leaked, _, _ = store.reserve("f", "none", D("0.40"), LIMIT)  # an abandoned stream's, say
    assert leaked is not None
    assert store.reserve("f", "none", D("0.20"), LIMIT)[0] is None
    now[0] = 61.0
    assert store.usage("f", "none") == (D(0), D(0))
    assert store.reserve("f", "none", D("0.20"), LIMIT)[0] is not None
    store.settle(leaked, Charge(budget_key="f", amount=D("0.05")))  # a late settle still books it
    assert store.usage("f", "none") == (D("0.05"), D("0.20"))


def test_a_child_forked_while_a_thread_is_inside_the_store_can_use_it() -> None:
    store = InvocationStore()
    with held_by_another_thread(store._lock):  # an invocation's other thread, inside the store
        assert in_forked_child(lambda: store.reserve("f", "none", D("0.01"), LIMIT)[0] is not None) == 0
