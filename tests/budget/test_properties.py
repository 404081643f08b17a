"""Properties: no interleaving of ledger operations overspends; Redis's Lua arithmetic is exact."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal, localcontext

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from costaware.core.budget import MONEY_CONTEXT, Budget, BudgetLedger, Charge, Reservation
from costaware.core.errors import BudgetExceededError
from costaware.stores import open_store
from costaware.stores.memory import MemoryStore
from costaware.stores.redis import RedisStore, _from_units, _to_units

D = Decimal
cents = st.integers(min_value=0, max_value=150).map(lambda n: D(n) / 100)


class LedgerMachine(RuleBasedStateMachine):
    """Random reserve / settle (actual <= reserved) / release sequences on one in-memory ledger."""

    def __init__(self) -> None:
        super().__init__()
        self.ledger = BudgetLedger(Budget(1, key="p"), MemoryStore())
        self.open: list[Reservation] = []
        self.settled: list[Reservation] = []
        self.spent = D(0)

    @rule(amount=cents)
    def reserve(self, amount: Decimal) -> None:
        in_flight = sum((r.amount for r in self.open), D(0))
        fits = self.spent + in_flight + amount <= 1
        try:
            self.open.append(self.ledger.reserve(amount))
        except BudgetExceededError as refused:
            assert not fits
            assert (refused.spent, refused.reserved, refused.needed) == (self.spent, in_flight, amount)
        else:
            assert fits

    @precondition(lambda self: self.open)
    @rule(pick=st.integers(min_value=0), share=st.integers(min_value=0, max_value=100))
    def settle(self, pick: int, share: int) -> None:
        reservation = self.open.pop(pick % len(self.open))
        actual = reservation.amount * share / 100
        self.ledger.settle(reservation, Charge(budget_key="p", amount=actual))
        self.settled.append(reservation)
        self.spent += actual

    @precondition(lambda self: self.settled)
    @rule(pick=st.integers(min_value=0))
    def settle_again(self, pick: int) -> None:
        reservation = self.settled[pick % len(self.settled)]
        self.ledger.settle(reservation, Charge(budget_key="p", amount=reservation.amount))
        self.ledger.release(reservation)

    @precondition(lambda self: self.open)
    @rule(pick=st.integers(min_value=0))
    def release(self, pick: int) -> None:
        self.ledger.release(self.open.pop(pick % len(self.open)))

    @invariant()
    def never_overspent(self) -> None:
        spent, reserved = self.ledger.usage()
        assert spent <= 1
        assert spent + reserved <= 1
        assert spent == self.spent
        assert reserved == sum((r.amount for r in self.open), D(0))
        assert self.ledger.remaining() == 1 - spent - reserved


LedgerMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_memory_ledger_never_overspends = LedgerMachine.TestCase


def exact_sum(a: Decimal, b: Decimal) -> Decimal:
    with localcontext(MONEY_CONTEXT):  # the default 28 digits would round these sums
        return a + b


money = st.decimals(min_value=0, max_value=D(10) ** 15, places=18, allow_nan=False, allow_infinity=False)


@given(amount=money)
def test_redis_units_round_trip_exactly(amount: Decimal) -> None:
    assert _from_units(_to_units(amount, "ROUND_HALF_EVEN")) == amount


def test_redis_units_round_on_the_safe_side() -> None:
    tiny = D("1E-19")
    assert _to_units(tiny, "ROUND_CEILING") == "1"  # a reservation rounds up
    assert _to_units(D("1") + tiny, "ROUND_FLOOR") == "1" + "0" * 18  # a limit rounds down


@pytest.fixture
def redis_store(redis_url: str) -> Iterator[RedisStore]:
    guarded = open_store(f"{redis_url}?prefix=prop-{uuid.uuid4().hex[:12]}")
    store = guarded.inner  # type: ignore[attr-defined]
    assert isinstance(store, RedisStore)
    yield store
    store.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(money, st.booleans()), min_size=1, max_size=12))
def test_redis_lua_arithmetic_matches_decimal(
    redis_store: RedisStore, steps: list[tuple[Decimal, bool]]
) -> None:
    key = uuid.uuid4().hex
    limit = D(10) ** 16
    spent = reserved = D(0)
    for amount, settle in steps:
        reservation, seen_spent, seen_reserved = redis_store.reserve(key, "none", amount, limit)
        assert reservation is not None
        assert (seen_spent, seen_reserved) == (spent, reserved)
        if settle:
            redis_store.settle(reservation, Charge(budget_key=key, amount=amount))
            spent = exact_sum(spent, amount)
        else:
            reserved = exact_sum(reserved, amount)
    assert redis_store.usage(key, "none") == (spent, reserved)


def test_redis_limit_comparison_is_exact_beyond_double_precision(redis_store: RedisStore) -> None:
    limit = D("9007199254.740993000000000001")  # > 2**53 units of 1e-18: a double cannot tell these apart
    first, _, _ = redis_store.reserve("k", "none", limit - D("1E-18"), limit)
    assert first is not None
    assert redis_store.reserve("k", "none", D("2E-18"), limit)[0] is None
    assert redis_store.reserve("k", "none", D("1E-18"), limit)[0] is not None
