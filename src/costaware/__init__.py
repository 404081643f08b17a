"""costaware: see every Claude and OpenAI call's tokens, cost and model in OpenTelemetry.

```python
import costaware
costaware.instrument()          # or: import costaware.auto
```

Names are imported lazily so that ``import costaware`` stays fast (the SDKs, ``wrapt``,
OpenTelemetry and the price data load only when first used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from costaware._version import __version__

__all__ = [
    "Auto",
    "AutoClassifier",
    "Budget",
    "BudgetExceededError",
    "BudgetStatus",
    "BudgetStoreUnavailableError",
    "Cascade",
    "ConfigurationError",
    "Cost",
    "CostRecord",
    "CostTracker",
    "ForceModel",
    "Labels",
    "ResponseCache",
    "RetryPolicy",
    "Scope",
    "Threshold",
    "UnpricedBudgetError",
    "Usage",
    "__version__",
    "budget_status",
    "configure",
    "cost_aware",
    "current_scope",
    "instrument",
    "is_instrumented",
    "last_scope",
    "retry_testing",
    "scope",
    "uninstrument",
]

if TYPE_CHECKING:
    from costaware.core.budget import Budget
    from costaware.core.errors import BudgetExceededError, ConfigurationError
    from costaware.core.retry import RetryPolicy, retry_testing
    from costaware.core.routing import Auto, AutoClassifier, Cascade, ForceModel, Labels, Threshold
    from costaware.core.types import Cost, CostRecord, CostTracker, Usage
    from costaware.current import Scope, current_scope
    from costaware.instrumentation.api import configure, instrument, is_instrumented, uninstrument
    from costaware.scoping import cost_aware, last_scope, scope
    from costaware.steps.response_cache import ResponseCache
    from costaware.steps.spend import (
        BudgetStatus,
        BudgetStoreUnavailableError,
        UnpricedBudgetError,
        budget_status,
    )

_LAZY = {
    "configure": "costaware.instrumentation.api",
    "instrument": "costaware.instrumentation.api",
    "uninstrument": "costaware.instrumentation.api",
    "is_instrumented": "costaware.instrumentation.api",
    "ConfigurationError": "costaware.core.errors",
    "BudgetExceededError": "costaware.core.errors",
    "Budget": "costaware.core.budget",
    "RetryPolicy": "costaware.core.retry",
    "retry_testing": "costaware.core.retry",
    "Cost": "costaware.core.types",
    "CostRecord": "costaware.core.types",
    "CostTracker": "costaware.core.types",
    "Usage": "costaware.core.types",
    "ResponseCache": "costaware.steps.response_cache",
    "Scope": "costaware.current",
    "cost_aware": "costaware.scoping",
    "current_scope": "costaware.current",
    "last_scope": "costaware.scoping",
    "scope": "costaware.scoping",
    "budget_status": "costaware.steps.spend",
    "BudgetStatus": "costaware.steps.spend",
    "BudgetStoreUnavailableError": "costaware.steps.spend",
    "UnpricedBudgetError": "costaware.steps.spend",
    "Auto": "costaware.core.routing",
    "AutoClassifier": "costaware.core.routing",
    "Cascade": "costaware.core.routing",
    "ForceModel": "costaware.core.routing",
    "Labels": "costaware.core.routing",
    "Threshold": "costaware.core.routing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'costaware' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
