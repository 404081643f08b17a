"""A budget client in its own process, for the multi-process and killed-process tests.

python _worker.py loop URL KEY ATTEMPTS AMOUNT LIMIT GO_FILE
    Wait for GO_FILE, then ATTEMPTS x (reserve AMOUNT under LIMIT; if accepted settle a random
    actual cost <= AMOUNT). Print one JSON line: {"accepted": n, "settled": "<sum of actual costs>"}.
python _worker.py forever URL LEAK_AFTER
    Reserve and settle 0.001 at a time forever, printing "settled 0.001" after each commit; after
    LEAK_AFTER settlements reserve 0.5 that is never settled and print "leaked 0.5".
"""

from __future__ import annotations

import json
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

from costaware.core.budget import Charge
from costaware.stores import open_store


def loop(url: str, key: str, attempts: int, amount: Decimal, limit: Decimal, go_file: Path) -> None:
    print("ready", flush=True)
    while not go_file.exists():
        time.sleep(0.005)
    store = open_store(url)  # all workers open a new database at once
    accepted, settled = 0, Decimal(0)
    for _ in range(attempts):
        reservation, _, _ = store.reserve(key, "none", amount, limit)
        if reservation is None:
            time.sleep(0.001)
            continue
        actual = amount * Decimal(random.randint(5, 10)) / 10
        store.settle(reservation, Charge(budget_key=key, amount=actual))
        accepted += 1
        settled += actual
    store.close()
    print(json.dumps({"accepted": accepted, "settled": str(settled)}), flush=True)


def forever(url: str, leak_after: int) -> None:
    store = open_store(url)
    step, limit = Decimal("0.001"), Decimal(10**6)
    count = 0
    while True:
        reservation, _, _ = store.reserve("killed", "none", step, limit)
        assert reservation is not None
        store.settle(reservation, Charge(budget_key="killed", amount=step))
        print(f"settled {step}", flush=True)  # after the commit
        count += 1
        if count == leak_after:
            leaked, _, _ = store.reserve("killed", "none", Decimal("0.5"), limit)
            assert leaked is not None
            print("leaked 0.5", flush=True)


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    if mode == "loop":
        url, key, attempts, amount, limit, go_file = args
        loop(url, key, int(attempts), Decimal(amount), Decimal(limit), Path(go_file))
    else:
        forever(args[0], int(args[1]))
