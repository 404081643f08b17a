"""The Grafana dashboard queries only series and labels that costaware really emits."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anthropic
import pytest

import costaware
from costaware.sim import Fault

from helpers import HAIKU, user

LONG = "Shared instructions for every request. " * 600
DASHBOARDS = sorted((Path(__file__).resolve().parents[2] / "grafana" / "dashboards").glob("*.json"))
_UNITS = {"s": "seconds", "USD": "USD"}


def prometheus_series(telemetry: Any) -> tuple[set[str], set[str]]:
    """Series and label names as Prometheus shows costaware's metrics after OTLP translation."""
    series: set[str] = set()
    labels: set[str] = {"le"}
    data = telemetry.reader.get_metrics_data()
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                name = metric.name.replace(".", "_")
                unit = _UNITS.get(metric.unit or "")
                if unit:
                    name = f"{name}_{unit}"
                kind = type(metric.data).__name__
                if kind == "Histogram":
                    series |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
                else:
                    monotonic = getattr(metric.data, "is_monotonic", False)  # a Gauge has no such flag
                    series.add(f"{name}_total" if monotonic else name)
                for point in metric.data.data_points:
                    labels |= {key.replace(".", "_") for key in point.attributes}
    return series, labels


def test_dashboard_queries_match_emitted_metrics(
    anthropic_client: Any, telemetry: Any, sim: Any, tmp_path: Any
) -> None:
    from costaware import Budget, cost_aware, retry_testing
    from costaware.core.routing import Cascade

    @cost_aware(
        route=Cascade(["claude-haiku-4-5", "claude-sonnet-4-6"], accept=lambda text: False),
        budget=Budget(limit=1, key="dash", store=f"sqlite:///{tmp_path / 'dash.db'}"),  # a store's health
        retries=1,
    )
    def routed() -> Any:
        return anthropic_client.messages.create(
            model="claude-opus-4-6", max_tokens=200, system=LONG, messages=user("q")
        )

    @cost_aware(budget=Budget(limit="0.0000001", key="tiny"))
    def refused() -> Any:
        return anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("no"))

    routed()
    routed()  # the second reads the cache the first wrote
    with pytest.raises(costaware.BudgetExceededError):
        refused()
    sim.add_fault(Fault(status=529, times=1))
    with retry_testing():
        routed()
    anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("priced"))
    list(anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("stream"), stream=True))
    anthropic_client.messages.create(model="unknown-model-x", max_tokens=20, messages=user("unpriced"))
    sim.add_fault(Fault(status=500, times=1))
    with pytest.raises(anthropic.InternalServerError):
        anthropic_client.messages.create(model=HAIKU, max_tokens=20, messages=user("error"))
    _use_the_response_cache(anthropic_client)
    series, labels = prometheus_series(telemetry)

    assert len(DASHBOARDS) >= 2
    for path in DASHBOARDS:
        _check_dashboard(json.loads(path.read_text()), series, labels)


def _use_the_response_cache(client: Any) -> None:
    """Every response-cache series: hits of both layers, a rejection, an eviction, savings."""
    from costaware import cost_aware

    @cost_aware(cache=costaware.ResponseCache(semantic=True, max_entries=2))
    def ask(question: str) -> Any:
        return client.messages.create(model=HAIKU, max_tokens=20, messages=user(question))

    for question in (
        "What is the capital of France?",
        "What is the capital of France?",  # exact hit
        "How can I reset my password?",
        "How do I reset my password?",  # semantic hit
        "Can I get a refund after 30 days?",  # evicts France (two entries)
        "Can I get a refund after 60 days?",  # a paraphrase check rejects the 30-day answer
    ):
        ask(question)


def _check_dashboard(dashboard: dict[str, Any], series: set[str], labels: set[str]) -> None:
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", ())]
    assert expressions
    for expr in expressions:
        # Metric names are what is left once the label groupings and matchers are taken out.
        bare = re.sub(r"by \([^)]*\)|\{[^}]*\}", "", expr)
        used = set(re.findall(r"\b((?:costaware|gen_ai)_[A-Za-z0-9_]+)", bare))
        assert used, expr
        assert used <= series, (expr, used - series, sorted(series))
        matchers = [
            name
            for block in re.findall(r"\{([^}]*)\}", expr)
            for name in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", block)
        ]
        grouped = re.findall(r"by \(([^)]*)\)", expr) + matchers
        for group in grouped:
            names = {n.strip() for n in group.split(",")}
            assert names <= labels, (expr, names - labels)
        for legend in re.findall(r"\{\{(\w+)\}\}", json.dumps(dashboard)):
            assert legend in labels
