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

__version__ = "0.1.0"

__all__ = [
    "ConfigurationError",
    "Cost",
    "Usage",
    "__version__",
    "configure",
    "instrument",
    "is_instrumented",
    "uninstrument",
]

if TYPE_CHECKING:
    from costaware.api import configure, instrument, is_instrumented, uninstrument
    from costaware.config import ConfigurationError
    from costaware.core.types import Cost, Usage

_LAZY = {
    "configure": "costaware.api",
    "instrument": "costaware.api",
    "uninstrument": "costaware.api",
    "is_instrumented": "costaware.api",
    "ConfigurationError": "costaware.config",
    "Cost": "costaware.core.types",
    "Usage": "costaware.core.types",
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
