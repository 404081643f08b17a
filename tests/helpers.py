"""Expected values computed independently of costaware (list prices, exact Decimal arithmetic), and
workloads more than one test file runs."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from decimal import Decimal
from typing import Any

MTOK = Decimal(1_000_000)

# Published list prices, USD per million tokens (input, output), from the providers' price pages.
LIST_PRICES = {
    "claude-haiku-4-5": (Decimal(1), Decimal(5)),
    "claude-sonnet-4-6": (Decimal(3), Decimal(15)),
    "claude-opus-4-6": (Decimal(5), Decimal(25)),
}

HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-6"


def anthropic_cost(model: str, usage: Any) -> Decimal:
    """Cost of an Anthropic response's usage: cache writes 1.25x (5m) / 2x (1h), reads 0.1x."""
    price_in, price_out = LIST_PRICES[model]
    creation = getattr(usage, "cache_creation", None)
    write_1h = getattr(creation, "ephemeral_1h_input_tokens", 0) or 0
    write_5m = (usage.cache_creation_input_tokens or 0) - write_1h
    read = usage.cache_read_input_tokens or 0
    return (
        usage.input_tokens * price_in
        + write_5m * price_in * Decimal("1.25")
        + write_1h * price_in * 2
        + read * price_in * Decimal("0.1")
        + usage.output_tokens * price_out
    ) / MTOK


def total_input(usage: Any) -> int:
    """The semantic-convention input count: Anthropic's input plus cache reads and writes."""
    return (
        usage.input_tokens + (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    )


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


class FakeClock:
    """Seconds, moved by hand: the simulator's cache clock and the planner's ``now`` can share one."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def start_redis_server(*options: str) -> tuple[Any, str]:
    """A real redis-server on a free loopback port: ``(process, url)``; the caller stops it.
    ``options``: more of its command line, e.g. ``"--replicaof", "127.0.0.1", "6379"``."""
    import shutil
    import socket
    import subprocess
    import tempfile

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed: run the README's test command (scripts/test.sh)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Its own empty folder, and replicas fed without a file: no dump.rdb is written where the tests
    # run, so none is loaded by the next server started there (it would bring old budgets back).
    folder = tempfile.mkdtemp(prefix="costaware-redis-")
    server = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            folder,
            "--repl-diskless-sync",
            "yes",
            "--repl-diskless-sync-delay",
            "0",
            *options,
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_until_listening(server, port)
    return server, f"redis://127.0.0.1:{port}/0"


def wait_until_listening(server: Any, port: int) -> None:
    """Wait (up to 10 s) until the server process ``server`` accepts connections on ``port``."""
    import socket
    import time

    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("the server did not start") from None
            time.sleep(0.05)


def run_concurrent_budget(client_factory: Any, budget: Any) -> Decimal:
    """500 asyncio calls plus 8 threads of 10 calls each against ``budget``; returns what was spent."""
    spent: list[Decimal] = []
    lock = threading.Lock()

    def charge(message: Any) -> None:
        with lock:
            spent.append(anthropic_cost(HAIKU, message.usage))

    from costaware import BudgetExceededError, cost_aware

    question = user("What is the capital of France?")

    @cost_aware(budget=budget)
    async def ask_async(client: Any) -> None:
        with contextlib.suppress(BudgetExceededError):
            charge(await client.messages.create(model=HAIKU, max_tokens=200, messages=question))

    @cost_aware(budget=budget)
    def ask_sync(client: Any) -> None:
        with contextlib.suppress(BudgetExceededError):
            charge(client.messages.create(model=HAIKU, max_tokens=200, messages=question))

    async def many() -> None:
        client = client_factory(asynchronous=True)
        await asyncio.gather(*(ask_async(client) for _ in range(500)))

    sync_client = client_factory(asynchronous=False)
    threads = [threading.Thread(target=lambda: [ask_sync(sync_client) for _ in range(10)]) for _ in range(8)]
    for t in threads:
        t.start()
    asyncio.run(many())
    for t in threads:
        t.join()
    return sum(spent, Decimal(0))


def unawaited_requests(manager: Any) -> list[Any]:
    """The requests an async stream helper's manager (``client.messages.stream(...)``, as costaware
    returns it) prepared and that were neither awaited nor closed: each would warn "never awaited"."""
    import inspect

    wrapped = getattr(manager, "__wrapped__", manager)
    return [
        value
        for value in vars(wrapped).values()
        if inspect.iscoroutine(value) and inspect.getcoroutinestate(value) == inspect.CORO_CREATED
    ]


def run_together(count: int, target: Any) -> None:
    """Run ``target()`` in ``count`` threads that start at once (a barrier), and wait for them all."""
    start = threading.Barrier(count)

    def run() -> None:
        start.wait()
        target()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def in_forked_child(action: Any, seconds: float = 15.0) -> int | None:
    """Run ``action()`` in a forked child that leaves without the parent's cleanup: its exit code (0
    when ``action`` returned a true value, 2 when a false one, 1 when it raised, the traceback
    printed), or ``None`` (the child killed) when it is still running after ``seconds``: the
    watchdog that turns a hang into a failure."""
    import os
    import time
    import traceback

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if action() else 2
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return None


@contextlib.contextmanager
def held_by_another_thread(lock: Any, seconds: float = 0.3) -> Any:
    """Another thread holds ``lock`` (a store operation in flight) from entry until ``seconds``
    later; the block runs meanwhile, and its exit waits for that thread."""
    import time

    holding = threading.Event()

    def hold() -> None:
        with lock:
            holding.set()
            time.sleep(seconds)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(5)
        yield
    finally:
        holder.join()
