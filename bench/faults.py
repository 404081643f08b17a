"""Budget store fault matrix: what a shared budget does when its store is slow, hung, down,
read-only, corrupted, or the process forks mid-operation.

    .venv/bin/python bench/faults.py        # from the repo root; needs redis-server on PATH

For each store (memory, sqlite, redis), each fault, and each ``on_store_error`` setting where it
matters, 15 sequential calls go through the real ``anthropic`` client to the bundled simulator under a
shared budget of about 10 calls' worth. The fault is injected before call 5; faults with a recovery
are lifted before call 11, calls in between are spaced 0.3 s apart (so the outage lasts longer than
one breaker interval), and the run waits one breaker interval after the recovery. SQLite and Redis
URLs carry ``timeout=250ms&retry_after=1s`` (the default timeout, a shorter breaker interval to keep
the run short). After the run the journal is replayed and the store's booked spend is compared with
the exact cost of the calls the simulator received.

Targets, checked per cell:
1. failing closed, spend never exceeds the limit;
2. failing open, every dollar spent is booked exactly once after recovery;
3. no call waits more than the store timeout, and a timed-out wait comes at most once per breaker
   interval;
4. no forked child hangs.

Writes bench/results/faults.json and prints a table. See bench/faults.md.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

import anthropic
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import costaware
from costaware import Budget, cost_aware
from costaware.sim import Simulator
from costaware.steps.spend import shared_ledger

RESULTS = Path(__file__).parent / "results" / "faults.json"
MODEL = "claude-haiku-4-5"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
PRICE_IN, PRICE_OUT = Decimal(1), Decimal(5)  # claude-haiku-4-5 list prices, USD per million tokens
OPTIONS = "timeout=250ms&retry_after=1s"
TIMEOUT = 0.25
RETRY_AFTER = 1.0
CALLS = 15
FAULT_AT = 5
RECOVER_AT = 11
PACE = 0.3  # seconds between calls while a fault is on
LIMIT_CALLS = 10  # the budget: about this many calls' worth
TIMED_OUT = 0.8 * TIMEOUT  # an added wait this long is a store operation that waited out its timeout
SLOW = 0.1  # the brief's "waited more than 100 ms"
STORES = ("memory", "sqlite", "redis")
FAULTS = (
    "none",
    "slow",
    "hung",
    "down_at_start",
    "down_mid_run",
    "read_only",
    "corrupted_at_start",
    "corrupted_mid_run",
    "fork",
)
MODES = ("open", "closed")


class LogCounter(logging.Handler):
    """Counts costaware's warnings (outage notices, internal errors) for the current cell."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        message = re.sub(r"budget store \S+", "budget store <url>", record.getMessage())
        self.messages[message.split(";")[0][:100]] += 1


class Bench:
    """The simulator, a client, the span exporter and the scratch directory the cells share."""

    def __init__(self, sim: Simulator, workdir: Path) -> None:
        self.sim = sim
        self.workdir = workdir
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        costaware.configure(tracer_provider=provider)
        costaware.instrument()
        self.client = anthropic.Anthropic(base_url=sim.anthropic_base_url, api_key="k", max_retries=0)
        self.logs = LogCounter()
        logging.getLogger("costaware").addHandler(self.logs)
        self.baseline = self.measure_baseline()
        self.call_cost = self.one_call_cost()
        self.limit = self.call_cost * LIMIT_CALLS

    def plain_call(self, client: Any = None) -> Any:
        """One call with no budget."""
        return (client or self.client).messages.create(model=MODEL, max_tokens=50, messages=QUESTION)

    def measure_baseline(self) -> float:
        """Median wall time of 20 calls with no budget (after 3 warm-up calls)."""
        for _ in range(3):
            self.plain_call()
        times = []
        for _ in range(20):
            started = time.perf_counter()
            self.plain_call()
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    def one_call_cost(self) -> Decimal:
        """The exact cost of one call, from its usage at list prices."""
        return usage_cost(self.plain_call().usage)

    def new_cell(self) -> None:
        """Forget the previous cell's spans, requests and log lines."""
        self.exporter.clear()
        self.sim.reset()
        self.logs.messages.clear()

    def sent_cost(self) -> tuple[int, Decimal]:
        """How many calls got an answer and what they cost exactly, from this cell's spans."""
        costs = [
            Decimal(span.attributes["costaware.cost.usd_exact"])
            for span in self.exporter.get_finished_spans()
            if span.name == f"chat {MODEL}" and "costaware.cost.usd_exact" in span.attributes
        ]
        return len(costs), sum(costs, Decimal(0))


def usage_cost(usage: Any) -> Decimal:
    """Cost of a response with no cache use, at list prices (for forked children, which have no
    span exporter the parent can read)."""
    return (usage.input_tokens * PRICE_IN + usage.output_tokens * PRICE_OUT) / Decimal(1_000_000)


# -- stores ----------------------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_redis(port: int, data_dir: Path | None = None) -> subprocess.Popen[bytes]:
    """A redis-server on ``port``; with ``data_dir``, an append-only file there (so a restart keeps
    the data), else no persistence. Waits until it accepts connections."""
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    if data_dir is None:
        command += ["--appendonly", "no"]
    else:
        command += ["--dir", str(data_dir), "--appendonly", "yes", "--appendfsync", "always"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.02)


def stop_redis(server: subprocess.Popen[bytes]) -> None:
    """Stop a redis-server whatever state it is in (a stopped one is resumed first)."""
    if server.poll() is None:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait(timeout=10)


def raw_redis(port: int) -> Any:
    """A plain redis-py client, to inject faults."""
    import redis

    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)


class Cell:
    """One store x fault x mode: its store, its budget and what the fault needs to act on."""

    def __init__(self, bench: Bench, store: str, fault: str, mode: str, limit: Decimal) -> None:
        self.bench, self.store, self.fault, self.mode = bench, store, fault, mode
        self.name = f"{store}-{fault}-{mode}"
        self.dir = bench.workdir / self.name
        self.dir.mkdir()
        self.path = self.dir / "budget.db"
        self.server: subprocess.Popen[bytes] | None = None
        self.port = 0
        if store == "memory":
            self.url = "memory://"
        elif store == "sqlite":
            self.url = f"sqlite:///{self.path}?{OPTIONS}"
        else:
            self.port = free_port()
            persistent = self.dir if fault == "down_mid_run" else None
            self.server = start_redis(self.port, persistent)
            self.url = f"redis://127.0.0.1:{self.port}/0?{OPTIONS}"
        self.budget = Budget(limit, key=f"faults-{self.name}", store=self.url, on_store_error=mode)

    def close(self) -> None:
        """Stop this cell's redis-server, if any."""
        if self.server is not None:
            stop_redis(self.server)


# -- running calls ---------------------------------------------------------------------------------


def declare(cell: Cell, client: Any) -> tuple[Callable[[], Any] | None, str | None]:
    """Declare ``@cost_aware(budget=...)``: the decorated call, or the exception's type name."""
    try:

        @cost_aware(budget=cell.budget)
        def ask() -> Any:
            return client.messages.create(model=MODEL, max_tokens=50, messages=QUESTION)

    except Exception as error:
        return None, type(error).__name__
    return ask, None


def run_calls(ask: Callable[[], Any], before: Callable[[int], None]) -> list[dict[str, Any]]:
    """``CALLS`` sequential calls, ``before(i)`` ahead of each: start time, wall time and the
    exception type name the caller saw, per call."""
    records = []
    for i in range(CALLS):
        before(i)
        started = time.perf_counter()
        error = None
        try:
            ask()
        except Exception as exc:
            error = type(exc).__name__
        records.append({"start": started, "wall": time.perf_counter() - started, "error": error})
    return records


def outage(inject: Callable[[], None], recover: Callable[[], None] | None) -> Callable[[int], None]:
    """The ``before`` hook of a fault: inject before call FAULT_AT, space the calls while it is on,
    recover before call RECOVER_AT (when it has a recovery) and wait one breaker interval."""

    def before(i: int) -> None:
        if i == FAULT_AT:
            inject()
        elif FAULT_AT < i <= RECOVER_AT:
            time.sleep(PACE)
        if i == RECOVER_AT and recover is not None:
            recover()
            time.sleep(RETRY_AFTER + 0.1)

    return before


def settle_store(cell: Cell) -> dict[str, Any]:
    """After the run: replay the journal (once the breaker allows) and read the store."""
    store = shared_ledger(cell.budget).store
    replay = getattr(store, "replay", None)
    if replay is not None:
        deadline = time.monotonic() + RETRY_AFTER + 0.5
        while not store.available and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.05)
        replay()
    found: dict[str, Any] = {"pending": getattr(store, "pending", 0)}
    try:
        status = costaware.budget_status(cell.budget)
        found.update(booked=status.spent, reserved=status.reserved, status_error=None)
    except Exception as error:
        found.update(booked=None, reserved=None, status_error=f"{type(error).__name__}: {error}"[:160])
    return found


def latency(records: list[dict[str, Any]], baseline: float) -> dict[str, Any]:
    """Added latency per call: the worst, how many calls waited > 100 ms, and the timed-out waits
    (>= 80% of the store timeout) with the shortest gap between two of them."""
    added = [r["wall"] - baseline for r in records]
    timed_out = [r["start"] for r in records if r["wall"] - baseline >= TIMED_OUT]
    gaps = [b - a for a, b in pairwise(timed_out)]
    return {
        "max_added_ms": round(max(added, default=0.0) * 1000, 1),
        "calls_over_100ms": sum(a > SLOW for a in added),
        "timed_out_waits": len(timed_out),
        "min_gap_between_timed_out_s": round(min(gaps), 3) if gaps else None,
    }


def summarize(
    cell: Cell, records: list[dict[str, Any]], extra_sent: int = 0, extra_cost: Decimal = Decimal(0)
) -> dict[str, Any]:
    """The cell's record: calls sent, cost, booked spend, journal, latency, exceptions."""
    bench = cell.bench
    answered, cost = bench.sent_cost()
    found = settle_store(cell)
    errors = Counter(r["error"] for r in records if r["error"])
    return {
        "sent": bench.sim.requests(),
        "answered": answered + extra_sent,
        "cost_of_sent": cost + extra_cost,
        "cost_since_fault": None,
        **found,
        "limit": cell.budget.limit,
        **latency(records, bench.baseline),
        "errors": dict(errors),
        "children_hung": None,
        "log_warnings": dict(bench.logs.messages),
    }


# -- the faults ------------------------------------------------------------------------------------


def run_with_fault(cell: Cell, inject: Callable[[], None], recover: Callable[[], None] | None) -> dict:
    """Declare, run the calls with the fault injected (and lifted), summarize."""
    ask, refused = declare(cell, cell.bench.client)
    if ask is None:
        return declaration_refused(cell, refused)
    marks: dict[str, Any] = {}

    def inject_and_mark() -> None:
        marks["spans_before"] = len(cell.bench.exporter.get_finished_spans())
        inject()

    records = run_calls(ask, outage(inject_and_mark, recover))
    result = summarize(cell, records)
    spans = cell.bench.exporter.get_finished_spans()[marks.get("spans_before", 0) :]
    result["cost_since_fault"] = sum(
        (Decimal(s.attributes["costaware.cost.usd_exact"]) for s in spans if s.name == f"chat {MODEL}"),
        Decimal(0),
    )
    return result


def declaration_refused(cell: Cell, error: str | None) -> dict[str, Any]:
    """The record of a cell whose budget was refused when declared: nothing was sent."""
    return {
        "sent": cell.bench.sim.requests(),
        "answered": 0,
        "cost_of_sent": Decimal(0),
        "booked": None,
        "reserved": None,
        "pending": 0,
        "status_error": None,
        "limit": cell.budget.limit,
        "max_added_ms": None,
        "calls_over_100ms": 0,
        "timed_out_waits": 0,
        "min_gap_between_timed_out_s": None,
        "errors": {f"{error} (at declaration)": 1} if error else {},
        "children_hung": None,
        "declared": error is None,
    }


def fault_none(cell: Cell) -> dict:
    """No fault: the control row."""
    return run_with_fault(cell, lambda: None, None)


def fault_slow(cell: Cell) -> dict:
    """Calls 5-10 each meet a store busy for less than its timeout (SQLite: another connection holds
    the write lock 150 ms; Redis: ``CLIENT PAUSE 150``)."""
    ask, refused = declare(cell, cell.bench.client)
    if ask is None:
        return declaration_refused(cell, refused)

    def before(i: int) -> None:
        if FAULT_AT <= i < RECOVER_AT:
            if cell.store == "sqlite":
                hold_sqlite(cell.path, 0.15)
            else:
                raw_redis(cell.port).execute_command("CLIENT", "PAUSE", 150)

    return summarize(cell, run_calls(ask, before))


def hold_sqlite(path: Path, seconds: float | None) -> threading.Event:
    """Another connection takes the database's write lock (``BEGIN IMMEDIATE``) and holds it for
    ``seconds``, or until the returned event is set. Returns once the lock is held."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        holder = sqlite3.connect(path, isolation_level=None, timeout=5)
        holder.execute("BEGIN IMMEDIATE")
        held.set()
        release.wait(seconds)
        holder.execute("COMMIT")
        holder.close()

    threading.Thread(target=hold, daemon=True).start()
    held.wait(5)
    return release


def fault_hung(cell: Cell) -> dict:
    """The store stops answering for about 2 s, longer than the timeout and than one breaker
    interval (SQLite: write lock held by another connection; Redis: SIGSTOP), then answers again."""
    state: dict[str, Any] = {}
    if cell.store == "sqlite":

        def inject() -> None:
            state["release"] = hold_sqlite(cell.path, None)

        def recover() -> None:
            state["release"].set()
            time.sleep(0.05)

    else:
        assert cell.server is not None
        pid = cell.server.pid

        def inject() -> None:
            os.kill(pid, signal.SIGSTOP)

        def recover() -> None:
            os.kill(pid, signal.SIGCONT)

    return run_with_fault(cell, inject, recover)


def fault_down_at_start(cell: Cell) -> dict:
    """The store cannot be reached when the budget is declared (SQLite: a file in a directory that
    does not exist; Redis: the server was killed)."""
    if cell.store == "sqlite":
        cell.budget = Budget(
            cell.budget.limit,
            key=cell.budget.key,
            store=f"sqlite:///{cell.dir}/missing/budget.db?{OPTIONS}",
            on_store_error=cell.mode,
        )
    else:
        cell.close()
    return run_with_fault(cell, lambda: None, None)


def fault_down_mid_run(cell: Cell) -> dict:
    """Redis is killed (SIGTERM) before call 5 and restarted on the same port before call 11, with
    an append-only file so it comes back with its data."""
    port, data_dir = cell.port, cell.dir

    def inject() -> None:
        assert cell.server is not None
        stop_redis(cell.server)

    def recover() -> None:
        cell.server = start_redis(port, data_dir)

    return run_with_fault(cell, inject, recover)


def fault_read_only_redis(cell: Cell) -> dict:
    """Redis turns into a read-only replica (``REPLICAOF`` a port nobody listens on: it keeps its
    data, refuses writes) before call 5 and back to a primary (``REPLICAOF NO ONE``) before call 11."""
    client = raw_redis(cell.port)
    result = run_with_fault(
        cell,
        lambda: client.execute_command("REPLICAOF", "127.0.0.1", str(free_port())),
        lambda: client.execute_command("REPLICAOF", "NO", "ONE"),
    )
    # Is a read-only Redis refused at declaration, as a read-only SQLite file is?
    client.execute_command("REPLICAOF", "127.0.0.1", str(free_port()))
    probe = Budget(1, key="probe", store=f"{cell.url}&prefix=probe-{cell.mode}")
    result["read_only_at_declaration"] = declare_only(probe)
    client.execute_command("REPLICAOF", "NO", "ONE")
    return result


def declare_only(budget: Budget) -> str:
    """Declare a budget and say what happened: "accepted" or the exception's type name."""
    try:
        cost_aware(budget=budget)(lambda: None)
    except Exception as error:
        return type(error).__name__
    return "accepted"


READ_ONLY_CHILD = """
import json, sys
import costaware
from costaware import Budget
out = {}
for mode in ("open", "closed"):
    try:
        costaware.cost_aware(budget=Budget(1, key="ro-" + mode, store=sys.argv[1], on_store_error=mode))
        out[mode] = "accepted"
    except Exception as error:
        out[mode] = type(error).__name__ + ": " + str(error)[:120]
print(json.dumps(out))
"""


def fault_read_only_sqlite(cell: Cell) -> dict:
    """A SQLite database whose file and directory are read-only (chmod 444 / 555), declared in a
    subprocess without the capabilities that let root ignore file permissions."""
    from costaware.stores.sqlite import SQLiteStore

    SQLiteStore(str(cell.path)).close()  # created, as a first deployment would
    cell.path.chmod(0o444)
    cell.dir.chmod(0o555)
    prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    try:
        done = subprocess.run(
            [*prefix, sys.executable, "-c", READ_ONLY_CHILD, cell.url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        cell.dir.chmod(0o755)
        cell.path.chmod(0o644)
    outcome = json.loads(done.stdout) if done.returncode == 0 else {"open": done.stderr[-200:]}
    said = outcome.get(cell.mode, "")
    error = None if said == "accepted" else said.split(":")[0]
    result = declaration_refused(cell, error)
    result["detail"] = said
    return result


def garble(path: Path) -> None:
    """Overwrite a file's bytes with random garbage, keeping its length."""
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.write(random.Random(7).randbytes(size))
        file.flush()
        os.fsync(file.fileno())


def fault_corrupted_at_start(cell: Cell) -> dict:
    """The SQLite file is created, then overwritten with garbage before the budget is declared."""
    from costaware.stores.sqlite import SQLiteStore

    SQLiteStore(str(cell.path)).close()
    garble(cell.path)
    return run_with_fault(cell, lambda: None, None)


def fault_corrupted_mid_run(cell: Cell) -> dict:
    """Before call 5 the store's data is corrupted. SQLite: the file's bytes overwritten with
    garbage (no recovery: there is nothing to go back to). Redis: the budget's usage hash replaced
    by a string (wrong type); recovery before call 11 is an operator deleting that key."""
    if cell.store == "sqlite":
        result = run_with_fault(cell, lambda: garble(cell.path), None)
        result["fresh_connection_reads"] = fresh_read(cell.path)
        return result
    client = raw_redis(cell.port)
    state: dict[str, Any] = {}

    def inject() -> None:
        state["keys"] = sorted(k.decode() for k in client.keys("*"))
        usage = [k for k in state["keys"] if client.type(k) == b"hash" and client.hexists(k, "spent")]
        state["key"] = usage[0]
        client.delete(state["key"])
        client.set(state["key"], "garbage")

    result = run_with_fault(cell, inject, lambda: client.delete(state["key"]))
    result["corrupted_key"] = state.get("key")
    result["redis_keys"] = state.get("keys")
    return result


def fresh_read(path: Path) -> str:
    """What another process opening the database now would read: the usage rows, or the error."""
    try:
        with sqlite3.connect(path) as conn:
            return repr(conn.execute("SELECT budget_key, spent FROM budget_usage").fetchall())
    except sqlite3.Error as error:
        return f"{type(error).__name__}: {error}"


def fault_fork(cell: Cell) -> dict:
    """While a thread makes budgeted calls, the main thread forks 5 children (some while the thread
    is inside a store operation); each child makes one budgeted call with a new client and exits.
    A child still running after 15 s is a hang (killed)."""
    bench = cell.bench
    ask, refused = declare(cell, bench.client)
    if ask is None:
        return declaration_refused(cell, refused)
    records: list[dict[str, Any]] = []
    done = threading.Event()

    def parent_calls() -> None:
        records.extend(run_calls(ask, lambda i: time.sleep(0.02)))
        done.set()

    worker = threading.Thread(target=parent_calls)
    worker.start()
    children = []
    for _ in range(5):
        time.sleep(0.04)
        children.append(fork_child(cell))
    worker.join()
    outcomes = [wait_child(pid, reader, 15.0) for pid, reader in children]
    hung = sum(o is None for o in outcomes)
    child_costs = [Decimal(o["cost"]) for o in outcomes if o and o.get("cost")]
    result = summarize(cell, records, extra_sent=len(child_costs), extra_cost=sum(child_costs, Decimal(0)))
    result["children_hung"] = hung
    result["children"] = [o if o is not None else "hung" for o in outcomes]
    if cell.store == "memory":  # a child's in-memory store is its own copy: its spend stays there
        result["cost_of_sent"] -= sum(child_costs, Decimal(0))
        result["note"] = "memory store: children's spend is booked in their own copy, not compared"
    return result


def fork_child(cell: Cell) -> tuple[int, int]:
    """Fork a child that makes one budgeted call and writes its outcome (JSON) to a pipe."""
    reader, writer = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads running
        pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(reader)
            client = anthropic.Anthropic(base_url=cell.bench.sim.anthropic_base_url, api_key="k")
            ask, _ = declare(cell, client)
            assert ask is not None
            try:
                outcome = {"cost": str(usage_cost(ask().usage))}
            except Exception as error:
                outcome = {"error": type(error).__name__}
            os.write(writer, json.dumps(outcome).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(writer)
    return pid, reader


def wait_child(pid: int, reader: int, seconds: float) -> dict[str, Any] | None:
    """The child's outcome, or ``None`` (and the child killed) if it is still running after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            data = os.read(reader, 4096)
            os.close(reader)
            outcome = json.loads(data) if data else {}
            outcome["exit"] = os.waitstatus_to_exitcode(status)
            return outcome
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    os.close(reader)
    return None


# -- the matrix ------------------------------------------------------------------------------------

NOT_APPLICABLE = {
    ("memory", "slow"): "an in-process dict has no I/O to be slow",
    ("memory", "hung"): "an in-process dict cannot hang apart from the process",
    ("memory", "down_at_start"): "nothing to reach",
    ("memory", "down_mid_run"): "nothing to reach",
    ("memory", "read_only"): "no file or server",
    ("memory", "corrupted_at_start"): "no persisted data",
    ("memory", "corrupted_mid_run"): "no persisted data",
    ("sqlite", "down_mid_run"): (
        "an open SQLite file does not go away (an unlinked file stays open); a database that stops "
        "answering for seconds and comes back is the 'hung' row (write lock held by another process)"
    ),
    ("redis", "corrupted_at_start"): (
        "a wrong-typed key is met only when a call touches it, the same as mid-run (that row)"
    ),
}

RUNNERS: dict[str, Callable[[Cell], dict]] = {
    "none": fault_none,
    "slow": fault_slow,
    "hung": fault_hung,
    "down_at_start": fault_down_at_start,
    "down_mid_run": fault_down_mid_run,
    "corrupted_at_start": fault_corrupted_at_start,
    "corrupted_mid_run": fault_corrupted_mid_run,
    "fork": fault_fork,
}

RECOVERS = {"hung", "down_mid_run", "read_only"}  # faults lifted during the run (redis: corrupted too)


def modes_for(store: str, fault: str) -> tuple[str, ...]:
    """on_store_error settings to run: both where the store can fail; one where it cannot matter
    (memory never fails; a fork is not a store failure)."""
    if store == "memory" or fault in ("none", "fork"):
        return ("open",)
    return MODES


def run_cell(bench: Bench, store: str, fault: str, mode: str) -> dict[str, Any]:
    """Run one cell and check its targets."""
    bench.new_cell()
    limit = bench.limit * 10 if fault == "fork" else bench.limit  # children need room to call
    cell = Cell(bench, store, fault, mode, limit)
    started = time.perf_counter()
    try:
        if fault == "read_only":
            result = fault_read_only_sqlite(cell) if store == "sqlite" else fault_read_only_redis(cell)
        else:
            result = RUNNERS[fault](cell)
    finally:
        cell.close()
    result.update(store=store, fault=fault, mode=mode, seconds=round(time.perf_counter() - started, 2))
    result["targets"] = check_targets(store, fault, mode, result)
    return result


def expected_booked(store: str, fault: str, result: dict[str, Any]) -> Decimal | None:
    """What the store should hold after recovery: the cost of every call sent, or, where the fault
    deleted the data from before it (a corrupted Redis key removed by the operator), of the calls
    from the fault on. ``None`` where the store cannot be read at the end."""
    if result.get("status_error"):
        return None
    if fault == "corrupted_mid_run" and store == "redis":
        return result["cost_since_fault"]
    return result["cost_of_sent"]


def check_targets(store: str, fault: str, mode: str, result: dict[str, Any]) -> dict[str, str]:
    """Each target: "met", "NOT MET" (with the numbers) or "n/a" (with the reason)."""
    targets: dict[str, str] = {}
    over = result["cost_of_sent"] > result["limit"]
    result["spend_exceeded_limit"] = over or (
        result["booked"] is not None and result["booked"] > result["limit"]
    )
    # 1. failing closed: never over the limit.
    if mode == "closed":
        targets["1_closed_within_limit"] = "NOT MET" if result["spend_exceeded_limit"] else "met"
    else:
        targets["1_closed_within_limit"] = "n/a: failing open"
    # 2. failing open: booked exactly once after recovery.
    expected = expected_booked(store, fault, result)
    if mode != "open":
        targets["2_open_booked_once"] = "n/a: failing closed"
    elif result["sent"] == 0:
        targets["2_open_booked_once"] = "n/a: nothing sent"
    elif expected is None:
        targets["2_open_booked_once"] = f"NOT MET: store unreadable at the end (journal {result['pending']})"
    elif result["booked"] == expected and result["pending"] == 0:
        targets["2_open_booked_once"] = "met"
    else:
        targets["2_open_booked_once"] = f"NOT MET: booked {result['booked']} vs {expected}"
    result["expected_booked"] = expected
    # 3. bounded waits, one timed-out wait per breaker interval at most.
    if result["max_added_ms"] is None:
        targets["3_bounded_waits"] = "n/a: no calls"
    else:
        too_long = result["max_added_ms"] > (TIMEOUT + 0.1) * 1000
        gap = result["min_gap_between_timed_out_s"]
        too_often = gap is not None and gap < RETRY_AFTER - 0.05
        targets["3_bounded_waits"] = "NOT MET" if too_long or too_often else "met"
    # 4. no child hangs.
    if fault == "fork":
        targets["4_no_child_hangs"] = "met" if result["children_hung"] == 0 else "NOT MET"
    else:
        targets["4_no_child_hangs"] = "n/a: no fork"
    return targets


# -- output ----------------------------------------------------------------------------------------


def usd(value: Decimal | None) -> str:
    """Micro-dollars, for the table."""
    return "-" if value is None else f"{value * 1_000_000:.0f}u"


def table(cells: list[dict[str, Any]]) -> str:
    """The readable table (amounts in micro-dollars, u)."""
    header = (
        f"{'store':7}{'fault':19}{'mode':7}{'sent':>5}{'cost':>7}{'booked':>8}{'limit':>7}{'over':>5}"
        f"{'jrnl':>5}{'max+ms':>8}{'>100':>5}{'T/O':>4}  {'T1':4}{'T2':4}{'T3':4}{'T4':4} errors"
    )
    lines = [header, "-" * len(header)]
    for c in cells:
        if "na" in c:
            lines.append(f"{c['store']:7}{c['fault']:19}{'-':7}n/a: {c['na']}")
            continue
        marks = [short(v) for v in c["targets"].values()]
        errors = ", ".join(f"{k} x{v}" for k, v in c["errors"].items()) or "-"
        if c.get("status_error"):
            errors += f" | status: {c['status_error'][:50]}"
        max_added = "-" if c["max_added_ms"] is None else f"{c['max_added_ms']:.0f}"
        lines.append(
            f"{c['store']:7}{c['fault']:19}{c['mode']:7}{c['sent']:>5}{usd(c['cost_of_sent']):>7}"
            f"{usd(c['booked']):>8}{usd(c['limit']):>7}{'yes' if c['spend_exceeded_limit'] else 'no':>5}"
            f"{c['pending']:>5}{max_added:>8}{c['calls_over_100ms']:>5}{c['timed_out_waits']:>4}  "
            + "".join(f"{m:4}" for m in marks)
            + errors
        )
    return "\n".join(lines)


def short(verdict: str) -> str:
    """met -> ok, NOT MET -> NO, n/a -> '.'."""
    return "ok" if verdict == "met" else "NO" if verdict.startswith("NOT") else "."


def jsonable(value: Any) -> Any:
    """Decimals as strings, recursively."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def main() -> None:
    """Run the matrix, write the JSON, print the table and the targets."""
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not on PATH")
    logging.getLogger("costaware").propagate = False  # outage warnings are counted, not printed
    started = time.perf_counter()
    cells: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="costaware-faults-") as tmp, Simulator() as sim:
        bench = Bench(sim, Path(tmp))
        for store in STORES:
            for fault in FAULTS:
                reason = NOT_APPLICABLE.get((store, fault))
                if reason is not None:
                    cells.append({"store": store, "fault": fault, "na": reason})
                    continue
                for mode in modes_for(store, fault):
                    cell = run_cell(bench, store, fault, mode)
                    cells.append(cell)
                    print(f"  {store}/{fault}/{mode}: {cell['seconds']} s", file=sys.stderr)
        baseline, limit = bench.baseline, bench.limit
    elapsed = time.perf_counter() - started
    verdicts = Counter((name, short(v)) for c in cells if "targets" in c for name, v in c["targets"].items())
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ".venv/bin/python bench/faults.py",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "nproc": os.cpu_count(),
        "run_seconds": round(elapsed, 1),
        "store_url_options": OPTIONS,
        "calls_per_cell": CALLS,
        "fault_before_call": FAULT_AT,
        "recover_before_call": RECOVER_AT,
        "pace_during_fault_s": PACE,
        "baseline_call_ms": round(baseline * 1000, 2),
        "limit_usd": limit,
        "targets_summary": {f"{name} {mark}": n for (name, mark), n in sorted(verdicts.items())},
        "cells": cells,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(jsonable(report), indent=2) + "\n")
    print(table(cells))
    print(f"\nbaseline call {baseline * 1000:.1f} ms; limit {usd(limit)}; amounts in micro-USD (u)")
    print("T1 closed within limit, T2 open booked once, T3 bounded waits, T4 no child hangs")
    print("(ok = met, NO = not met, . = n/a)")
    for c in cells:
        for name, verdict in c.get("targets", {}).items():
            if verdict.startswith("NOT"):
                print(f"NOT MET {name}: {c['store']}/{c['fault']}/{c['mode']}: {verdict}")
    print(f"\nwrote {RESULTS} in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
