"""The dashboards and alert rules against a real Prometheus (Debian's package; the test command
installs it): an application under costaware serves its metrics (``configure(prometheus_port=...)``),
Prometheus scrapes it every second, and every dashboard panel query and every alert rule is
evaluated through Prometheus's HTTP API."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
ALERTS = ROOT / "grafana" / "prometheus" / "alerts.yml"
APP = Path(__file__).with_name("prometheus_app.py")
INVOCATIONS_PER_PASS = 500  # of each budgeted function (prometheus_app.py)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: the test command (scripts/test.sh) installs Debian's prometheus"
        )
    return found


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, expr: str) -> list[Any]:
        query = urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(f"{self.url}/api/v1/query?{query}", timeout=10) as reply:
            body = json.load(reply)
        assert body["status"] == "success", (expr, body)
        return list(body["data"]["result"])

    def value(self, expr: str) -> float:
        result = self.query(expr)
        assert len(result) == 1, (expr, result)
        return float(result[0]["value"][1])

    def wait_for(self, expr: str, check: Any = bool, timeout: float = 60.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while True:
            result = self.query(expr)
            if check(result):
                return result
            if time.monotonic() > deadline:
                pytest.fail(f"Prometheus never answered {expr!r} as expected: {result}")
            time.sleep(0.5)


@pytest.fixture
def scraped_app(sim: Any, tmp_path: Path) -> Iterator[tuple[Prometheus, subprocess.Popen[str]]]:
    """The application serving its metrics, and a Prometheus scraping it every second."""
    app_port, prometheus_port = _free_port(), _free_port()
    app = subprocess.Popen(
        [
            sys.executable,
            str(APP),
            str(app_port),
            sim.anthropic_base_url,
            sim.openai_base_url,
            str(tmp_path / "budget.db"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: ["{ALERTS}"]
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ["127.0.0.1:{app_port}"]}}]
"""
    )
    server = subprocess.Popen(
        [
            _binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert app.stdout is not None and app.stdout.readline().strip() == "ready"
        yield Prometheus(f"http://127.0.0.1:{prometheus_port}"), app
    finally:
        for process in (server, app):
            process.terminate()
            process.wait(timeout=20)


def _panel_queries() -> list[tuple[str, str]]:
    found = []
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", ()):
                if target.get("expr"):
                    found.append((f"{path.name}: {panel['title']}", target["expr"]))
    return found


def _grafana_to_promql(expr: str) -> str:
    """Grafana's variables as a dashboard showing the last 15 minutes, every value selected, sets them."""
    for variable, value in (("$__range", "15m"), ("$__rate_interval", "1m"), ("$__interval", "15s")):
        expr = expr.replace(variable, value)
    return re.sub(r"\$(feature|tenant|model)\b", ".*", expr)


def _variable_queries() -> list[tuple[str, str]]:
    """Each dashboard variable's ``label_values(metric, label)``, as the PromQL Grafana runs for it."""
    found = []
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text())["templating"]["list"]:
            match = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable.get("definition", ""))
            if match:
                found.append((f"{path.name}: ${variable['name']}", f"group by ({match[2]}) ({match[1]})"))
    return found


def _alert_rules() -> list[dict[str, Any]]:
    import yaml  # pyyaml comes with the test dependencies

    rules = yaml.safe_load(ALERTS.read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_alert_rules() -> None:
    done = subprocess.run(
        [_binary("promtool"), "check", "rules", str(ALERTS)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(_alert_rules())} rules found" in done.stdout


def test_every_panel_and_alert_returns_data_and_series_stay_bounded(
    scraped_app: tuple[Prometheus, subprocess.Popen[str]],
) -> None:
    prometheus, app = scraped_app
    prometheus.wait_for("costaware_calls_total")
    time.sleep(2.5)  # a few more scrapes of the first pass: rate() needs two samples
    every_series = "count({__name__=~'costaware_.*|gen_ai_.*'})"
    after_first_pass = prometheus.value(every_series)
    assert app.stdin is not None and app.stdout is not None
    app.stdin.write("go\n")
    app.stdin.flush()
    refusals = int(app.stdout.readline().split()[1])  # the second pass: refusals, a store outage
    assert refusals == 2 * INVOCATIONS_PER_PASS
    prometheus.wait_for(
        "sum(costaware_budget_refusals_total)", lambda r: r and float(r[0]["value"][1]) == refusals
    )
    time.sleep(2.5)

    assert len(DASHBOARDS) >= 2 and _variable_queries()
    for title, expr in _panel_queries():
        assert prometheus.query(_grafana_to_promql(expr)), f"panel {title!r} shows no data: {expr}"
    for title, expr in _variable_queries():
        values = {next(iter(r["metric"].values()), "") for r in prometheus.query(expr)}
        assert values - {""}, f"variable {title} has no values"
    for rule in _alert_rules():
        prometheus.query(rule["expr"])  # a valid expression (it fires only on a bad day)
        assert prometheus.query(rule["annotations"]["query"]), f"{rule['alert']}: its quantity has no data"

    # Refusals: one series per decorated function, counting every refusal, seen by increase().
    series = prometheus.query("costaware_budget_refusals_total")
    assert [s["metric"]["costaware_budget_key"] for s in series] == ["refused"]
    assert prometheus.value("sum(increase(costaware_budget_refusals_total[1h]))") >= INVOCATIONS_PER_PASS
    # 2,000 invocations of budgeted functions: a handful of budget series, not one per invocation.
    for metric in ("costaware_budget_remaining_USD", "costaware_budget_spend_USD_total"):
        keys = {s["metric"]["costaware_budget_key"] for s in prometheus.query(metric)}
        assert keys <= {"faq", "refused", "support"}, (metric, keys)
    # 1,000 more invocations (and a store outage) add no series at all.
    assert prometheus.value(every_series) == after_first_pass
    # Refused calls are not calls: the call counter has the sent ones only.
    sent = prometheus.value('sum(costaware_calls_total{gen_ai_request_model="claude-haiku-4-5"})')
    assert 2 * INVOCATIONS_PER_PASS <= sent < 2 * INVOCATIONS_PER_PASS + 20
    # The store outage of the second pass is on the store-health series.
    assert prometheus.value("sum(costaware_budget_store_failures_total)") >= 1
    # The response cache: a series per lookup result, rejections by the check's name, what hits saved.
    by_result = "sum by (costaware_response_cache_result) (costaware_response_cache_lookups_total)"
    results = {s["metric"]["costaware_response_cache_result"] for s in prometheus.query(by_result)}
    assert results == {"exact_hit", "semantic_hit", "miss", "skipped", "error"}
    by_check = "sum by (costaware_response_cache_check) (costaware_response_cache_rejections_total)"
    checks = {s["metric"]["costaware_response_cache_check"] for s in prometheus.query(by_check)}
    assert checks == {"numbers differ"}
    assert prometheus.value("sum(costaware_response_cache_evictions_total)") >= 1
    saved = 'sum(costaware_savings_USD_total{costaware_technique="response_cache"})'
    assert prometheus.value(saved) > 0


def test_panel_queries_name_only_exported_metrics() -> None:
    # Every metric a panel or rule reads is one costaware exports (a renamed metric breaks this).
    exported = {
        "costaware_cost_USD_total", "costaware_calls_total", "costaware_calls_unpriced_total",
        "costaware_cost_baseline_USD_total", "costaware_savings_USD_total",
        "costaware_savings_overhead_USD_total", "costaware_routing_decisions_total",
        "costaware_cascade_checks_total", "costaware_budget_remaining_USD", "costaware_budget_limit_USD",
        "costaware_budget_refusals_total", "costaware_budget_spend_USD_total", "costaware_retries_total",
        "costaware_budget_store_failures_total", "costaware_budget_store_journal",
        "gen_ai_client_token_usage_sum", "gen_ai_client_operation_duration_seconds_bucket",
        "gen_ai_client_operation_time_to_first_chunk_seconds_bucket", "costaware_call_cost_USD_bucket",
        "costaware_response_cache_lookups_total", "costaware_response_cache_rejections_total",
        "costaware_response_cache_evictions_total",
    }  # fmt: skip
    exprs = [expr for _, expr in _panel_queries()] + [r["expr"] for r in _alert_rules()]
    metric = r"\b(?:costaware|gen_ai)_[a-zA-Z_]*?(?:_total|_USD|_bucket|_sum|_count|_journal)\b"
    named = {name for expr in exprs for name in re.findall(metric, expr)}
    assert "costaware_cost_USD_total" in named
    assert named <= exported, named - exported
