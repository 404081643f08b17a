"""Concurrent callers never overspend: threads, asyncio tasks and processes share one budget."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from costaware.core.budget import Charge, Store

D = Decimal
AMOUNT = D("0.01")
LIMIT = D("0.50")  # fits 50 reservations of AMOUNT


class Tally:
    """What the callers say they got: accepted reservations and the actual costs they settled."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.accepted = 0
        self.settled = D(0)

    def add(self, actual: Decimal) -> None:
        with self.lock:
            self.accepted += 1
            self.settled += actual


def actual_cost(rng: random.Random) -> Decimal:
    return AMOUNT * rng.randint(5, 10) / 10  # at most what was reserved


def thread_caller(store: Store, key: str, attempts: int, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(attempts):
        reservation, _, _ = store.reserve(key, "none", AMOUNT, LIMIT)
        if reservation is None:
            continue
        time.sleep(rng.random() / 2000)  # the "request"
        actual = actual_cost(rng)
        store.settle(reservation, Charge(budget_key=key, amount=actual))
        tally.add(actual)


async def task_caller(store: Store, key: str, attempts: int, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(attempts):
        reservation, _, _ = store.reserve(key, "none", AMOUNT, LIMIT)
        await asyncio.sleep(0)  # let sibling tasks reserve while this one is "in flight"
        if reservation is None:
            continue
        actual = actual_cost(rng)
        store.settle(reservation, Charge(budget_key=key, amount=actual))
        tally.add(actual)


async def tasks(store: Store, key: str, tally: Tally) -> None:
    await asyncio.gather(*(task_caller(store, key, 15, tally, 100 + n) for n in range(8)))


@pytest.mark.parametrize("round_", range(3))
def test_threads_and_tasks_never_overspend(store: Store, round_: int) -> None:
    key = f"hammer-{round_}"
    tally = Tally()
    threads = [threading.Thread(target=thread_caller, args=(store, key, 15, tally, n)) for n in range(8)]
    for thread in threads:
        thread.start()
    asyncio.run(tasks(store, key, tally))  # on this thread, while the others run
    for thread in threads:
        thread.join()

    spent, reserved = store.usage(key, "none")
    assert reserved == 0
    assert spent <= LIMIT
    assert spent == tally.settled
    assert len([c for c in store.charges() if c.budget_key == key]) == tally.accepted
    # The budget was contended to the end: a refusal means spent + in-flight (<= 16 callers) > limit.
    assert spent > LIMIT - 17 * AMOUNT


def run_workers(
    start_worker: Callable[..., subprocess.Popen[str]], url: str, tmp_path: Path, key: str
) -> list[dict[str, str | int]]:
    go = tmp_path / f"go-{key}"
    workers = [start_worker("loop", url, key, "40", str(AMOUNT), str(LIMIT), str(go)) for _ in range(4)]
    for worker in workers:
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready", worker.communicate()[1]
    go.touch()  # all four open the store and start at once
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        results.append(json.loads(out.splitlines()[-1]))
    return results


@pytest.mark.parametrize("store_kind", ["sqlite", "redis"])
@pytest.mark.parametrize("round_", range(2))
def test_processes_sharing_a_store_never_overspend(
    store_url: str,
    make_store: Callable[..., Store],
    start_worker: Callable[..., subprocess.Popen[str]],
    tmp_path: Path,
    round_: int,
) -> None:
    key = f"processes-{round_}"
    results = run_workers(start_worker, store_url, tmp_path, key)

    spent, reserved = make_store().usage(key, "none")
    assert reserved == 0
    assert spent <= LIMIT
    assert spent == sum(D(str(r["settled"])) for r in results)
    assert len(make_store().charges()) == sum(int(r["accepted"]) for r in results)
    assert spent > LIMIT - 5 * AMOUNT  # contended to the end: at most 4 were in flight at a refusal


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_killed_process_loses_no_settled_spend_and_its_reservation_expires(
    make_store: Callable[..., Store],
    store_url: str,
    start_worker: Callable[..., subprocess.Popen[str]],
) -> None:
    ttl = 1.0
    child = start_worker("forever", f"{store_url}?reservation_ttl={ttl}s", "50")
    assert child.stdout is not None
    reported, leaked = D(0), D(0)
    settlements = after_leak = 0
    leaked_at = 0.0
    while after_leak < 100:
        line = child.stdout.readline()
        assert line, child.communicate()[1]
        word, amount = line.split()
        if word == "leaked":
            leaked = D(amount)
            leaked_at = time.monotonic()
        else:
            reported += D(amount)
            settlements += 1
            after_leak += leaked > 0
    child.send_signal(signal.SIGKILL)  # mid-loop: no cleanup, no goodbye
    child.wait(timeout=10)

    store = make_store()
    spent, reserved = store.usage("killed", "none")
    assert spent >= reported  # every settlement the child reported is there
    assert len(store.charges()) >= settlements
    assert spent == sum(c.amount for c in store.charges())
    if time.monotonic() - leaked_at < ttl * 0.8:  # not too slow a machine to see it before expiry
        assert reserved >= leaked

    time.sleep(max(0.0, leaked_at + ttl + 0.1 - time.monotonic()))
    assert store.usage("killed", "none") == (spent, 0)
    assert store.reserve("killed", "none", D(10**6) - spent, D(10**6))[0] is not None
