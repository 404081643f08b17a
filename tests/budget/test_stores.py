"""Every store (memory, SQLite, Redis) keeps the same ledger semantics: reserve, settle, release."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from costaware.core.budget import Budget, BudgetLedger, Charge, Store
from costaware.core.errors import BudgetExceededError, ConfigurationError
from costaware.stores import sqlite as sqlite_store

D = Decimal
LIMIT = D("1.00")


def charge(amount: str, **attribution: str) -> Charge:
    return Charge(budget_key="k", amount=D(amount), **attribution)


def test_reservation_within_the_limit_is_recorded(store: Store) -> None:
    reservation, spent, reserved = store.reserve("k", "none", D("0.40"), LIMIT)
    assert reservation is not None
    assert (reservation.key, reservation.window, reservation.amount) == ("k", "none", D("0.40"))
    assert (spent, reserved) == (0, 0)  # as seen before this reservation
    assert store.usage("k", "none") == (0, D("0.40"))


def test_reservation_that_fits_exactly_is_accepted(store: Store) -> None:
    store.reserve("k", "none", D("0.75"), LIMIT)
    reservation, _, _ = store.reserve("k", "none", D("0.25"), LIMIT)
    assert reservation is not None
    assert store.usage("k", "none") == (0, LIMIT)


def test_refused_reservation_returns_none_with_what_it_saw(store: Store) -> None:
    first, _, _ = store.reserve("k", "none", D("0.50"), LIMIT)
    assert first is not None
    store.settle(first, charge("0.30"))
    store.reserve("k", "none", D("0.60"), LIMIT)
    refused, spent, reserved = store.reserve("k", "none", D("0.11"), LIMIT)
    assert refused is None
    assert (spent, reserved) == (D("0.30"), D("0.60"))
    assert store.usage("k", "none") == (D("0.30"), D("0.60"))


def test_settle_replaces_the_reservation_with_the_actual_cost(store: Store) -> None:
    reservation, _, _ = store.reserve("k", "none", D("0.50"), LIMIT)
    assert reservation is not None
    store.settle(reservation, charge("0.0123"))
    assert store.usage("k", "none") == (D("0.0123"), 0)


def test_settle_of_zero_frees_the_reservation(store: Store) -> None:
    reservation, _, _ = store.reserve("k", "none", LIMIT, LIMIT)
    assert reservation is not None
    store.settle(reservation, charge("0"))
    assert store.usage("k", "none") == (0, 0)


def test_settle_above_the_reservation_records_the_truth(store: Store) -> None:
    reservation, _, _ = store.reserve("k", "none", D("0.50"), LIMIT)
    assert reservation is not None
    store.settle(reservation, charge("1.20"))
    assert store.usage("k", "none") == (D("1.20"), 0)
    refused, spent, _ = store.reserve("k", "none", D("0"), LIMIT)
    assert refused is None
    assert spent == D("1.20")


def test_settle_is_idempotent(store: Store) -> None:
    reservation, _, _ = store.reserve("k", "none", D("0.50"), LIMIT)
    assert reservation is not None
    store.settle(reservation, charge("0.20"))
    store.settle(reservation, charge("0.20"))
    store.release(reservation)
    assert store.usage("k", "none") == (D("0.20"), 0)
    assert len(store.charges()) == 1


def test_release_frees_the_reservation_and_is_idempotent(store: Store) -> None:
    kept, _, _ = store.reserve("k", "none", D("0.30"), LIMIT)
    released, _, _ = store.reserve("k", "none", D("0.50"), LIMIT)
    assert kept is not None and released is not None
    store.release(released)
    store.release(released)
    assert store.usage("k", "none") == (0, D("0.30"))
    assert store.charges() == []


def test_keys_and_windows_are_separate_budgets(store: Store) -> None:
    for key, window in [("a", "none"), ("b", "none"), ("a", "day:2026-12-01"), ("a", "day:2026-12-02")]:
        reservation, _, _ = store.reserve(key, window, LIMIT, LIMIT)
        assert reservation is not None
        store.settle(reservation, Charge(budget_key=key, amount=LIMIT))
    assert store.usage("a", "none") == (LIMIT, 0)
    assert store.usage("a", "day:2026-12-03") == (0, 0)
    # A key that spells another key's window must not share its counters.
    assert store.usage("a:none", "") == (0, 0)


def test_amounts_are_exact(store: Store) -> None:
    one_token = D("1E-7")  # one token at $0.10 per million
    limit = D("0.0001")
    accepted = 0
    while (reservation := store.reserve("k", "none", one_token, limit)[0]) is not None:
        store.settle(reservation, Charge(budget_key="k", amount=one_token))
        accepted += 1
    assert accepted == 1000
    assert store.usage("k", "none") == (limit, 0)


def test_large_amounts_are_exact(store: Store) -> None:
    big = D("123456789012.123456789012345678")  # beyond a double's 2**53 at 1e-18 resolution
    reservation, _, _ = store.reserve("k", "none", big, big * 3)
    assert reservation is not None
    store.settle(reservation, Charge(budget_key="k", amount=big))
    store.reserve("k", "none", big, big * 3)
    assert store.usage("k", "none") == (big, big)


def test_charges_keep_attribution_and_filter_by_time(store: Store) -> None:
    at = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    for minutes, model in [(0, "old"), (10, "new")]:
        reservation, _, _ = store.reserve("k", "none", D("0.1"), LIMIT)
        assert reservation is not None
        stamped = Charge(
            "team-a", D("0.05"), "anthropic", model, "search", "acme", at + timedelta(minutes=minutes)
        )
        store.settle(reservation, stamped)
    assert [c.model for c in store.charges()] == ["old", "new"]
    (recent,) = store.charges(since=at + timedelta(minutes=5))
    assert recent == Charge(
        "team-a", D("0.05"), "anthropic", "new", "search", "acme", at + timedelta(minutes=10)
    )


def test_charge_without_a_time_is_stamped_when_settled(store: Store) -> None:
    before = datetime.now(timezone.utc)
    reservation, _, _ = store.reserve("k", "none", D("0.1"), LIMIT)
    assert reservation is not None
    store.settle(reservation, charge("0.1"))
    (settled,) = store.charges()
    assert settled.at is not None and before - timedelta(seconds=1) <= settled.at <= datetime.now(
        timezone.utc
    )


def test_expired_reservations_stop_counting(make_store: Callable[..., Store]) -> None:
    store = make_store(reservation_ttl="1s")  # room for a busy machine between the two reserves
    leaked, _, _ = store.reserve("k", "none", LIMIT, LIMIT)
    assert leaked is not None
    assert store.reserve("k", "none", D("0.01"), LIMIT)[0] is None
    time.sleep(1.1)
    assert store.usage("k", "none") == (0, 0)
    assert store.reserve("k", "none", LIMIT, LIMIT)[0] is not None
    store.settle(leaked, charge("0.25"))  # a call that outlived its reservation still pays
    assert store.usage("k", "none") == (D("0.25"), LIMIT)


def test_ledger_raises_budget_exceeded_with_the_numbers(store: Store) -> None:
    ledger = BudgetLedger(Budget("1.00", key="k"), store)
    ledger.settle(ledger.reserve(D("0.40")), charge("0.40"))
    ledger.reserve(D("0.50"))
    with pytest.raises(BudgetExceededError) as refused:
        ledger.reserve(D("0.20"))
    error = refused.value
    assert (error.key, error.window, error.limit) == ("k", "none", D("1.00"))
    assert (error.spent, error.reserved, error.needed) == (D("0.40"), D("0.50"), D("0.20"))


def test_ledger_remaining_and_fits(store: Store) -> None:
    ledger = BudgetLedger(Budget("1.00", key="k"), store)
    assert ledger.remaining() == D("1.00")
    reservation = ledger.reserve(D("0.70"))
    assert ledger.remaining() == D("0.30")
    assert ledger.fits(D("0.30")) and not ledger.fits(D("0.31"))
    ledger.settle(reservation, charge("1.50"))  # the provider billed more than the worst case
    assert ledger.remaining() == 0


def test_ledger_release_gives_the_room_back(store: Store) -> None:
    ledger = BudgetLedger(Budget("1.00", key="k"), store)
    ledger.release(ledger.reserve(D("1.00")))
    assert ledger.remaining() == D("1.00")


@pytest.mark.parametrize("amount", [D("-0.01"), D("NaN"), 0.5])
def test_ledger_refuses_invalid_amounts(store: Store, amount: Decimal) -> None:
    with pytest.raises(ValueError, match="finite Decimal"):
        BudgetLedger(Budget(1), store).reserve(amount)


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
def test_spend_survives_reopening_the_store(make_store: Callable[..., Store]) -> None:
    first = make_store()
    reservation, _, _ = first.reserve("k", "none", D("0.5"), LIMIT)
    assert reservation is not None
    first.settle(reservation, charge("0.3"))
    first.reserve("k", "none", D("0.2"), LIMIT)  # still pending when the store closes
    first.close()
    again = make_store()
    assert again.usage("k", "none") == (D("0.3"), D("0.2"))
    assert [c.amount for c in again.charges()] == [D("0.3")]


def test_zero_amount_reservations_come_and_go(store: Store) -> None:
    first, _, _ = store.reserve("k", "none", D(0), LIMIT)
    second, _, _ = store.reserve("k", "none", D(0), LIMIT)
    assert first is not None and second is not None
    store.release(first)
    store.release(second)
    store.settle(second, charge("0"))
    assert store.usage("k", "none") == (0, 0)


def test_sqlite_first_open_retries_database_is_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Several processes creating one database can get "database is locked" from PRAGMA journal_mode=WAL
    # despite the busy timeout (REFERENCE.md): the open retries it.
    real_prepare = sqlite_store._prepare
    failures = iter([sqlite3.OperationalError("database is locked")] * 3)

    def flaky_prepare(conn: sqlite3.Connection, synchronous: str) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real_prepare(conn, synchronous)

    monkeypatch.setattr(sqlite_store, "_prepare", flaky_prepare)
    store = sqlite_store.SQLiteStore(str(tmp_path / "budget.db"))
    assert store.reserve("k", "none", D(1), D(1))[0] is not None
    store.close()


def test_sqlite_open_does_not_retry_other_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def broken_prepare(conn: sqlite3.Connection, synchronous: str) -> None:
        calls.append(1)
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_store, "_prepare", broken_prepare)
    with pytest.raises(ConfigurationError, match="disk I/O error"):
        sqlite_store.SQLiteStore(str(tmp_path / "budget.db"))
    assert calls == [1]


def test_sqlite_database_is_in_wal_mode(tmp_path: Path) -> None:
    sqlite_store.SQLiteStore(str(tmp_path / "budget.db")).close()
    with sqlite3.connect(tmp_path / "budget.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
