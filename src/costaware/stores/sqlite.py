"""The SQLite store: shared by the processes of one machine, and it survives restarts.

- Atomicity: reserve and settle each run in one ``BEGIN IMMEDIATE`` transaction, which takes SQLite's
  write lock before reading, so check-and-reserve cannot interleave with another process's.
- Money: ``TEXT`` decimal strings (``str(Decimal)``), summed in Python with ``Decimal`` inside that
  transaction: exact for any amount up to 80 significant digits (no float, no unit rounding).
- Durability: WAL journal with ``synchronous=NORMAL`` by default. A committed transaction is in the
  WAL file when ``COMMIT`` returns, so killing the process loses nothing committed; an OS crash or
  power cut can lose the last transactions. ``?synchronous=full`` syncs the WAL on every commit and
  survives those too, at a few milliseconds per commit on most disks.
- Crashed processes: every reservation carries ``created_at`` and ``expires_at`` (``created_at`` +
  the reserving store's ``reservation_ttl``, default 15 min); expired reservations stop counting
  and are deleted by the next reserve.
- Connections: one per store object, guarded by a lock (threads of a process queue on the lock,
  processes on SQLite's busy timeout, the URL's ``timeout``, default 250 ms; a write transaction
  here lasts well under a millisecond). A process forked with an open store reconnects,
  with a fresh lock (the parent's could be held by a thread the child does not have).
- Settled calls are kept in ``charges`` with their attribution, for ``costaware report``; its primary
  key, the reservation id, is what makes settle idempotent.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal, localcontext
from typing import Literal

from costaware.core.budget import (
    DEFAULT_RESERVATION_TTL,
    DEFAULT_STORE_TIMEOUT,
    MONEY_CONTEXT,
    Charge,
    Reservation,
    as_utc,
)
from costaware.core.errors import ConfigurationError
from costaware.stores import _forksafe
from costaware.stores._time import from_micros, to_micros

__all__ = ["SQLiteStore"]

_ZERO = Decimal(0)
_SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_usage (
    budget_key TEXT NOT NULL,
    budget_window TEXT NOT NULL,
    spent TEXT NOT NULL,
    PRIMARY KEY (budget_key, budget_window)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY,
    budget_key TEXT NOT NULL,
    budget_window TEXT NOT NULL,
    amount TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_by_window ON reservations (budget_key, budget_window);
CREATE INDEX IF NOT EXISTS reservations_by_expiry ON reservations (expires_at);
CREATE TABLE IF NOT EXISTS charges (
    reservation_id TEXT PRIMARY KEY,
    reserved_key TEXT NOT NULL,
    budget_window TEXT NOT NULL,
    budget_key TEXT NOT NULL,
    amount TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    feature TEXT NOT NULL,
    tenant TEXT NOT NULL,
    at_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS charges_by_time ON charges (at_us);
"""
# How long to keep retrying the first open of a database that other processes are creating too.
_OPEN_DEADLINE_S = 10.0


class SQLiteStore:
    """A budget store in one SQLite file. ``SQLiteStore("budget.db")``; URL ``sqlite:///budget.db``.

    Opening creates the file and tables if needed and raises :class:`ConfigurationError` if it cannot.
    """

    def __init__(
        self,
        path: str,
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        busy_timeout: float = DEFAULT_STORE_TIMEOUT,
        synchronous: Literal["normal", "full"] = "normal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._ttl = reservation_ttl
        self._busy_timeout = busy_timeout
        self._synchronous = synchronous.upper()
        self._clock = clock  # wall time: shared by the processes of the machine
        self._lock = _forksafe.register(self)
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        try:
            with self._lock:
                self._connection()
        except sqlite3.Error as error:
            raise ConfigurationError(
                f"cannot open the budget database {os.path.abspath(path)!r}: {error}"
            ) from error

    def reserve(
        self, key: str, window: str, amount: Decimal, limit: Decimal, *, reservation_id: str | None = None
    ) -> tuple[Reservation | None, Decimal, Decimal]:
        with self._write() as conn, localcontext(MONEY_CONTEXT):
            now = self._clock()
            conn.execute("DELETE FROM reservations WHERE expires_at <= ?", (now,))
            spent, reserved = _usage(conn, key, window, now)
            if spent + reserved + amount > limit:
                return None, spent, reserved
            reservation = Reservation(
                id=reservation_id or uuid.uuid4().hex, key=key, window=window, amount=amount
            )
            conn.execute(
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?)",
                (reservation.id, key, window, str(amount), now, now + self._ttl),
            )
            return reservation, spent, reserved

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        at = as_utc(charge.at) if charge.at is not None else datetime.now(timezone.utc)
        with self._write() as conn, localcontext(MONEY_CONTEXT):
            inserted = conn.execute(
                "INSERT OR IGNORE INTO charges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    reservation.id,
                    reservation.key,
                    reservation.window,
                    charge.budget_key,
                    str(charge.amount),
                    charge.provider,
                    charge.model,
                    charge.feature,
                    charge.tenant,
                    to_micros(at),
                ),
            ).rowcount
            if not inserted:
                return  # settled before
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))
            row = conn.execute(
                "SELECT spent FROM budget_usage WHERE budget_key = ? AND budget_window = ?",
                (reservation.key, reservation.window),
            ).fetchone()
            spent = (Decimal(row[0]) if row else _ZERO) + charge.amount
            conn.execute(
                "INSERT INTO budget_usage VALUES (?, ?, ?) "
                "ON CONFLICT (budget_key, budget_window) DO UPDATE SET spent = excluded.spent",
                (reservation.key, reservation.window, str(spent)),
            )

    def release(self, reservation: Reservation) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM reservations WHERE id = ?", (reservation.id,))

    def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
        with self._read() as conn, localcontext(MONEY_CONTEXT):
            return _usage(conn, key, window, self._clock())

    def charges(self, since: datetime | None = None) -> list[Charge]:
        query = "SELECT budget_key, amount, provider, model, feature, tenant, at_us FROM charges"
        params: tuple[int, ...] = ()
        if since is not None:
            query += " WHERE at_us >= ?"
            params = (to_micros(as_utc(since)),)
        with self._read() as conn:
            rows = conn.execute(query + " ORDER BY rowid", params).fetchall()
        return [
            Charge(
                budget_key=budget_key,
                amount=Decimal(amount),
                provider=provider,
                model=model,
                feature=feature,
                tenant=tenant,
                at=from_micros(at_us),
            )
            for budget_key, amount, provider, model, feature, tenant, at_us in rows
        ]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front: the reads that decide a reservation see the
        # latest committed state and nothing commits in between.
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN") as conn:  # one snapshot for the reads
            yield conn

    @contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._connection()
            conn.execute(begin)
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:  # never leave the shared connection inside a transaction
                    conn.execute("ROLLBACK")
                raise

    def _connection(self) -> sqlite3.Connection:
        """This process's connection, opened on first use (and again after a fork)."""
        if self._conn is None or self._pid != os.getpid():
            if self._conn is None and self._pid:
                raise sqlite3.ProgrammingError("the budget store is closed")
            self._conn = self._open()
            self._pid = os.getpid()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        # Several processes creating the same database at once can get "database is locked" from
        # PRAGMA journal_mode=WAL even with a busy timeout (SQLite does not wait there): retry.
        deadline = time.monotonic() + _OPEN_DEADLINE_S
        delay = 0.005
        while True:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False
            )
            try:
                _prepare(conn, self._synchronous)
                return conn
            except sqlite3.OperationalError as error:
                conn.close()
                if not _is_busy(error) or time.monotonic() > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 0.1)


def _prepare(conn: sqlite3.Connection, synchronous: str) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal" and conn.execute("PRAGMA database_list").fetchone()[2]:
        raise sqlite3.OperationalError(f"cannot switch the database to WAL mode (journal_mode={mode})")
    conn.execute(f"PRAGMA synchronous={synchronous}")  # per connection
    if conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
        _check_writable(conn)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > _SCHEMA_VERSION:
            raise sqlite3.OperationalError(
                f"budget database schema version {version} is newer than this costaware ({_SCHEMA_VERSION})"
            )
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _check_writable(conn: sqlite3.Connection) -> None:
    """Fail now if the database cannot be written (a read-only file or mount): a write statement
    that changes nothing, rolled back. Reading alone would succeed, and every call would then go on
    unbudgeted."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM reservations WHERE 0")
    finally:
        conn.execute("ROLLBACK")


def _usage(conn: sqlite3.Connection, key: str, window: str, now: float) -> tuple[Decimal, Decimal]:
    row = conn.execute(
        "SELECT spent FROM budget_usage WHERE budget_key = ? AND budget_window = ?", (key, window)
    ).fetchone()
    amounts = conn.execute(
        "SELECT amount FROM reservations WHERE budget_key = ? AND budget_window = ? AND expires_at > ?",
        (key, window, now),
    ).fetchall()
    return (Decimal(row[0]) if row else _ZERO), sum((Decimal(a) for (a,) in amounts), _ZERO)


def _is_busy(error: sqlite3.OperationalError) -> bool:
    message = str(error).lower()
    return "locked" in message or "busy" in message
