"""The names ``costaware`` exports: each importable from the package, none lost by accident, and
``import costaware`` still loads none of them until asked."""

from __future__ import annotations

import subprocess
import sys

import costaware

PUBLIC = {
    # instrumentation and configuration
    "configure", "instrument", "uninstrument", "is_instrumented", "ConfigurationError", "__version__",
    # scopes
    "cost_aware", "scope", "Scope", "current_scope", "last_scope",
    # budgets
    "Budget", "BudgetStatus", "budget_status", "BudgetExceededError", "UnpricedBudgetError",
    "BudgetStoreUnavailableError",
    # retries
    "RetryPolicy", "retry_testing",
    # routing
    "Auto", "AutoClassifier", "Cascade", "Threshold", "Labels", "ForceModel",
    # response cache
    "ResponseCache",
    # records
    "Cost", "CostRecord", "CostTracker", "Usage",
}  # fmt: skip


def test_all_is_the_public_api() -> None:
    assert set(costaware.__all__) == PUBLIC
    assert len(costaware.__all__) == len(PUBLIC)  # no duplicates
    assert sorted(dir(costaware)) == sorted(PUBLIC)


def test_every_public_name_resolves() -> None:
    for name in PUBLIC:
        assert getattr(costaware, name) is not None, name


def test_refusals_are_budget_refusals() -> None:
    assert issubclass(costaware.UnpricedBudgetError, costaware.BudgetExceededError)
    assert issubclass(costaware.BudgetStoreUnavailableError, costaware.BudgetExceededError)


def test_import_loads_no_public_module() -> None:
    code = (
        "import sys, costaware\n"
        "loaded = [m for m in ('costaware.steps.spend', 'costaware.scoping', 'costaware.core.routing', "
        "'opentelemetry', 'wrapt', 'anthropic', 'openai') if m in sys.modules]\n"
        "print(','.join(loaded))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
