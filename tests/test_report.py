"""``costaware report`` reads spend back from the SQLite and Redis stores, grouped and with budgets."""

from __future__ import annotations

import io
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from costaware import Budget, cost_aware
from costaware.cli import main
from costaware.report import period_start, render
from costaware.stores import open_store

from helpers import HAIKU, SONNET, anthropic_cost, start_redis_server, user


def spend_some(client: Any, store: str) -> dict[str, Decimal]:
    """Two features, two tenants, two models, one shared daily budget; returns spend per feature."""
    budget = Budget(limit=5, period="day", key="support-bot", store=store)
    spent: dict[str, Decimal] = {"triage": Decimal(0), "answer": Decimal(0)}

    @cost_aware(budget=budget, feature="triage", tenant="acme")
    def triage(q: str) -> None:
        spent["triage"] += anthropic_cost(
            HAIKU, client.messages.create(model=HAIKU, max_tokens=40, messages=user(q)).usage
        )

    @cost_aware(budget=budget, feature="answer", tenant="globex")
    def answer(q: str) -> None:
        spent["answer"] += anthropic_cost(
            SONNET, client.messages.create(model=SONNET, max_tokens=80, messages=user(q)).usage
        )

    for q in ("one", "two", "three"):
        triage(q)
    answer("four")
    return spent


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: Any, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'spend.db'}"
    # A fresh key prefix: the Redis server is shared by the whole session.
    return f"{request.getfixturevalue('redis_url')}?prefix=report-{uuid.uuid4().hex[:8]}"


def test_report_groups_spend_and_shows_remaining(
    anthropic_client: Any, telemetry: Any, store_url: str
) -> None:
    spent = spend_some(anthropic_client, store_url)
    store = open_store(store_url)
    out = io.StringIO()
    rows = {r.group: r for r in render(store, by="feature", budgets=["support-bot=5/day"], out=out)}
    assert rows["triage"].spend == spent["triage"] and rows["triage"].calls == 3
    assert rows["answer"].spend == spent["answer"] and rows["answer"].calls == 1
    text = out.getvalue()
    remaining = Decimal(5) - spent["triage"] - spent["answer"]
    (budget_line,) = [line for line in text.splitlines() if line.startswith("support-bot")]
    limit, spent_shown, reserved, left = (Decimal(v) for v in budget_line.split()[2:])
    assert (limit, spent_shown, reserved, left) == (5, spent["triage"] + spent["answer"], 0, remaining)
    # One number of decimals per column, exact: the amounts line up.
    assert len({len(v) - v.index(".") for v in budget_line.split()[2:]}) == 1

    by_model = {r.group: r.spend for r in render(store, by="model", out=io.StringIO())}
    assert by_model == {HAIKU: spent["triage"], SONNET: spent["answer"]}
    by_tenant = {r.group for r in render(store, by="tenant", out=io.StringIO())}
    assert by_tenant == {"acme", "globex"}


def test_report_command_line(anthropic_client: Any, telemetry: Any, tmp_path: Path, capsys: Any) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    spent = spend_some(anthropic_client, url)
    assert main(["report", "--store", url, "--by", "provider", "--period", "month"]) == 0
    printed = capsys.readouterr().out
    (line,) = [line for line in printed.splitlines() if line.startswith("anthropic")]
    assert Decimal(line.split()[-1]) == spent["triage"] + spent["answer"]


def test_report_with_a_bad_store_or_budget(
    anthropic_client: Any, telemetry: Any, capsys: Any, tmp_path: Path
) -> None:
    assert main(["report", "--store", "redis://127.0.0.1:1/0"]) == 2
    assert "redis://127.0.0.1:1" in capsys.readouterr().err
    typo = tmp_path / "spnd.db"
    assert main(["report", "--store", f"sqlite:///{typo}"]) == 2  # a typo'd path is not an empty store
    assert "no budget database at" in capsys.readouterr().err and not typo.exists()
    url = f"sqlite:///{tmp_path / 'r.db'}"
    spend_some(anthropic_client, url)
    for bad in ("nolimit", "x=abc/day"):
        assert main(["report", "--store", url, "--budget", bad]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # refused before any table is printed
        assert "costaware report:" in captured.err


def test_report_reads_a_read_only_redis_replica(
    anthropic_client: Any, telemetry: Any, redis_url: str, capsys: Any
) -> None:
    prefix = f"report-{uuid.uuid4().hex[:8]}"
    spent = spend_some(anthropic_client, f"{redis_url}?prefix={prefix}")
    primary_port = redis_url.rsplit(":", 1)[1].split("/")[0]
    replica, replica_url = start_redis_server("--replicaof", "127.0.0.1", primary_port)
    try:
        args = [
            "report",
            "--store",
            f"{replica_url}?prefix={prefix}",
            "--by",
            "feature",
            "--budget",
            "support-bot=5/day",
        ]
        deadline = time.monotonic() + 20
        while True:  # until the replica has caught up with the primary
            code = main(args)
            printed = capsys.readouterr()
            lines = [line for line in printed.out.splitlines() if line.startswith(("total", "support-bot"))]
            if code == 0 and len(lines) == 2 and lines[0].split()[1] == "4":
                break
            assert time.monotonic() < deadline, (code, printed)
            time.sleep(0.2)
        total, budget = lines
        assert Decimal(total.split()[-1]) == spent["triage"] + spent["answer"]
        assert [Decimal(v) for v in budget.split()[3:5]] == [spent["triage"] + spent["answer"], 0]
    finally:
        replica.terminate()
        replica.wait(timeout=10)


def test_read_only_usage_leaves_out_expired_reservations_as_the_script_does(redis_url: str) -> None:
    from costaware.stores.redis import RedisStore

    prefix = f"ro-{uuid.uuid4().hex[:8]}"
    writer = RedisStore.from_url(redis_url, reservation_ttl=0.2, prefix=prefix)
    reader = RedisStore.from_url(redis_url, prefix=prefix, read_only=True)
    writer.reserve("k", "day:1", Decimal("0.25"), Decimal(10))
    writer.reserve("k", "day:1", Decimal("0.5"), Decimal(10), reservation_id="kept")
    assert reader.usage("k", "day:1") == (0, Decimal("0.75"))
    time.sleep(0.3)  # both expired: left out by the reader, dropped by the writer's script
    writer.reserve("k", "day:1", Decimal("0.125"), Decimal(10))
    assert reader.usage("k", "day:1") == writer.usage("k", "day:1") == (0, Decimal("0.125"))


def test_period_starts_on_calendar_boundaries() -> None:
    now = datetime(2026, 12, 3, 15, 30, tzinfo=timezone.utc)  # a Thursday
    assert period_start("day", now).day == 3
    assert period_start("week", now).day == 30  # Monday 30 November
    assert period_start("month", now, "Asia/Tokyo").isoformat() == "2026-12-01T00:00:00+09:00"
