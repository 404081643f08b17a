"""``costaware report``: spend and remaining budget from a shared store (SQLite or Redis).

```
costaware report --store sqlite:////var/lib/app/spend.db --period day --by feature
costaware report --store redis://127.0.0.1:6379/0 --period month --by model --budget support-bot=20/day
```

Spend is summed from the store's settled charges, grouped by budget key, feature, tenant, model or
provider, over the current calendar day, ISO week or month in ``--timezone``. ``--budget KEY=LIMIT[/PERIOD]``
(repeatable; also ``COSTAWARE_BUDGET_*``) adds each budget's spent, reserved and remaining amount in
its current window.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal, TextIO
from zoneinfo import ZoneInfo

from costaware.core.budget import Budget, Charge, Store
from costaware.core.errors import ConfigurationError
from costaware.core.types import money_column

Period = Literal["day", "week", "month"]
GroupBy = Literal["budget", "feature", "tenant", "model", "provider"]
GROUPS: tuple[GroupBy, ...] = ("budget", "feature", "tenant", "model", "provider")


def period_start(period: Period, now: datetime, zone: str = "UTC") -> datetime:
    """The start of the calendar day, ISO week (Monday) or month containing ``now``, in ``zone``."""
    local = now.astimezone(ZoneInfo(zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "week":
        start -= timedelta(days=start.weekday())
    elif period == "month":
        start = start.replace(day=1)
    return start


def _group_of(charge: Charge, by: GroupBy) -> str:
    value = {
        "budget": charge.budget_key,
        "feature": charge.feature,
        "tenant": charge.tenant,
        "model": charge.model,
        "provider": charge.provider,
    }[by]
    return value or "(none)"


@dataclass(frozen=True)
class Row:
    group: str
    calls: int
    spend: Decimal


def summarize(charges: Sequence[Charge], by: GroupBy) -> list[Row]:
    """Spend and number of charges per group, dearest first."""
    spend: dict[str, Decimal] = defaultdict(Decimal)
    calls: dict[str, int] = defaultdict(int)
    for charge in charges:
        group = _group_of(charge, by)
        spend[group] += charge.amount
        calls[group] += 1
    return sorted((Row(g, calls[g], spend[g]) for g in spend), key=lambda r: (-r.spend, r.group))


def parse_budget(text: str, store: Store, zone: str) -> Budget:
    """``KEY=LIMIT[/PERIOD]``, e.g. ``support-bot=20/day``."""
    key, sep, rest = text.partition("=")
    if not sep or not key:
        raise ConfigurationError(f"--budget {text!r}: expected KEY=LIMIT[/PERIOD], e.g. support-bot=20/day")
    limit, _, period = rest.partition("/")
    return Budget(limit, period or "none", key=key, store=store, timezone=zone)  # type: ignore[arg-type]


def render(
    store: Store,
    *,
    period: Period = "day",
    by: GroupBy = "budget",
    budgets: Sequence[str] = (),
    zone: str = "UTC",
    now: datetime | None = None,
    out: TextIO,
) -> list[Row]:
    """Print the report; returns its rows (for tests and callers that want the numbers)."""
    parsed = [parse_budget(text, store, zone) for text in budgets]  # every error before any output
    moment = now or datetime.now(timezone.utc)
    since = period_start(period, moment, zone)
    charges = [c for c in store.charges(since=since) if c.at is None or c.at >= since]
    rows = summarize(charges, by)
    out.write(f"spend since {since.isoformat()} ({period}, {zone}), by {by}\n")
    width = max([len(r.group) for r in rows] + [len(by)])
    out.write(f"{by:<{width}}  {'calls':>6}  {'spend USD':>16}\n")
    total = sum((row.spend for row in rows), Decimal(0))
    *shown, shown_total = money_column([row.spend for row in rows] + [total])
    for row, spend in zip(rows, shown, strict=True):
        out.write(f"{row.group:<{width}}  {row.calls:>6}  {spend:>16}\n")
    out.write(f"{'total':<{width}}  {len(charges):>6}  {shown_total:>16}\n")
    if budgets:
        columns = ("limit", "spent", "reserved", "remaining")
        out.write(f"\n{'budget':<27} {'window':<22} " + " ".join(f"{c:>12}" for c in columns) + "\n")
        lines = []
        for budget in parsed:
            window = budget.window(moment)
            spent, reserved = store.usage(budget.key, window)
            remaining = max(budget.limit - spent - reserved, Decimal(0))
            lines.append((budget.key, window, [budget.limit, spent, reserved, remaining]))
        amounts = money_column([amount for *_, four in lines for amount in four])
        for index, (key, window, _) in enumerate(lines):
            cells = " ".join(f"{a:>12}" for a in amounts[4 * index : 4 * index + 4])
            out.write(f"{key:<27} {window:<22} {cells}\n")
    return rows


def budgets_from_env() -> list[str]:
    """The default budget configured by ``COSTAWARE_BUDGET_*``, as a ``--budget`` value."""
    limit = os.environ.get("COSTAWARE_BUDGET_LIMIT")
    if not limit:
        return []
    key = os.environ.get("COSTAWARE_BUDGET_KEY", "default")
    period = os.environ.get("COSTAWARE_BUDGET_PERIOD", "none")
    return [f"{key}={limit}/{period}"]
