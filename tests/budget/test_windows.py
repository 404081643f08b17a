"""Budget windows: calendar periods in the budget's timezone, and spend that stays in its window."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from costaware.core.budget import Budget, BudgetLedger, Charge, Period
from costaware.core.errors import BudgetExceededError
from costaware.stores.memory import MemoryStore

UTC = timezone.utc


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def paris(period: Period) -> Budget:
    return Budget(1, period, timezone="Europe/Paris")


@pytest.mark.parametrize(
    ("moment", "label"),
    [
        (utc(2026, 12, 1, 12, 59, 59), "hour:2026-12-01T13"),  # CET, UTC+1
        (utc(2026, 12, 1, 13, 0, 0), "hour:2026-12-01T14"),
        (utc(2026, 7, 1, 12, 30), "hour:2026-07-01T14"),  # CEST, UTC+2
    ],
)
def test_hour_windows_are_local_clock_hours(moment: datetime, label: str) -> None:
    assert paris("hour").window(moment) == label


def test_day_window_turns_at_local_midnight_not_utc_midnight() -> None:
    budget = paris("day")
    assert budget.window(utc(2026, 12, 1, 22, 59, 59)) == "day:2026-12-01"  # 23:59:59 in Paris
    assert budget.window(utc(2026, 12, 1, 23, 0, 0)) == "day:2026-12-02"  # midnight in Paris


def test_month_window_turns_at_local_midnight_of_the_first() -> None:
    budget = paris("month")
    assert budget.window(utc(2026, 11, 30, 22, 59, 59)) == "month:2026-11"
    assert budget.window(utc(2026, 11, 30, 23, 0, 0)) == "month:2026-12"


def test_spring_forward_day_is_23_hours_long() -> None:
    budget = paris("day")  # 2026-03-29: 02:00 CET jumps to 03:00 CEST
    start, end = utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 22, 0)
    assert end - start == timedelta(hours=23)
    assert budget.window(start - timedelta(seconds=1)) == "day:2026-03-28"
    assert budget.window(start) == "day:2026-03-29"
    assert budget.window(end - timedelta(seconds=1)) == "day:2026-03-29"
    assert budget.window(end) == "day:2026-03-30"


def test_spring_forward_skips_the_missing_hour() -> None:
    budget = paris("hour")
    assert budget.window(utc(2026, 3, 29, 0, 59)) == "hour:2026-03-29T01"
    assert budget.window(utc(2026, 3, 29, 1, 0)) == "hour:2026-03-29T03"


def test_fall_back_repeated_hour_is_two_windows() -> None:
    budget = paris("hour")  # 2026-10-25: 03:00 CEST falls back to 02:00 CET
    first = budget.window(utc(2026, 10, 25, 0, 30))  # 02:30 CEST
    second = budget.window(utc(2026, 10, 25, 1, 30))  # 02:30 CET
    assert first == "hour:2026-10-25T02"
    assert second == "hour:2026-10-25T02+01:00"
    assert budget.window(utc(2026, 10, 25, 2, 30)) == "hour:2026-10-25T03"


def test_fall_back_day_is_25_hours_long() -> None:
    budget = paris("day")
    assert budget.window(utc(2026, 10, 24, 22, 0)) == "day:2026-10-25"
    assert budget.window(utc(2026, 10, 25, 22, 59, 59)) == "day:2026-10-25"
    assert budget.window(utc(2026, 10, 25, 23, 0)) == "day:2026-10-26"


def test_none_period_never_resets() -> None:
    budget = Budget(1)
    assert {budget.window(utc(2000, 1, 1)), budget.window(utc(2026, 6, 15, 12)), budget.window()} == {"none"}


def test_naive_datetime_is_taken_as_utc() -> None:
    assert paris("day").window(datetime(2026, 12, 1, 23, 0)) == "day:2026-12-02"


def test_window_defaults_to_the_injected_clock() -> None:
    budget = Budget(1, "day", timezone="Asia/Tokyo", clock=Clock(utc(2026, 12, 1, 15, 0)))
    assert budget.window() == "day:2026-12-02"  # midnight in Tokyo


def test_spend_in_one_window_does_not_count_in_the_next() -> None:
    clock = Clock(utc(2026, 12, 1, 22, 0))  # 23:00 in Paris
    ledger = BudgetLedger(Budget(1, "day", timezone="Europe/Paris", clock=clock), MemoryStore())
    ledger.settle(ledger.reserve(Decimal(1)), Charge(budget_key="default", amount=Decimal(1)))
    with pytest.raises(BudgetExceededError) as refused:
        ledger.reserve(Decimal("0.01"))
    assert refused.value.window == "day:2026-12-01"

    clock.now = utc(2026, 12, 1, 23, 0)  # midnight in Paris: a new day
    assert ledger.remaining() == 1
    ledger.reserve(Decimal(1))

    clock.now = utc(2026, 12, 1, 22, 30)  # back in the first day: still spent
    assert ledger.remaining() == 0


def test_reservation_settles_into_the_window_it_was_reserved_in() -> None:
    clock = Clock(utc(2026, 12, 1, 22, 59))
    ledger = BudgetLedger(Budget(1, "day", timezone="Europe/Paris", clock=clock), MemoryStore())
    reservation = ledger.reserve(Decimal("0.6"))
    clock.now = utc(2026, 12, 1, 23, 1)  # the call finishes after midnight
    ledger.settle(reservation, Charge(budget_key="default", amount=Decimal("0.5")))
    assert ledger.usage() == (0, 0)
    assert ledger.store.usage("default", "day:2026-12-01") == (Decimal("0.5"), 0)
