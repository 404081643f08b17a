"""The patch registry: ``instrument()`` / ``uninstrument()``, idempotent, originals restored.

``wrapt`` has no unpatch, so the registry keeps each original and restores it only where the
attribute still holds our wrapper (another library may have wrapped ours since). An SDK imported
after ``instrument()`` is patched when it is imported (a post-import hook); one that is not installed
is skipped quietly.
"""

from __future__ import annotations

import logging
import sys
import threading
from types import ModuleType
from typing import Any

import wrapt

from costaware.config import current_settings
from costaware.instrumentation.wrappers import make_wrapper
from costaware.pipeline.runtime import Runtime
from costaware.providers import ADAPTERS
from costaware.providers.base import PatchTarget

log = logging.getLogger("costaware")

_lock = threading.RLock()
_runtime: Runtime | None = None
_uninstrumented = False
"""``uninstrument()`` was called (and ``instrument()`` not since): decorated calls leave the SDKs alone."""
_patched: dict[tuple[type, str], tuple[Any, Any]] = {}
"""(owner class, attribute) -> (original, our wrapper)."""
_hooked: set[str] = set()


def _targets() -> list[PatchTarget]:
    return [target for adapter in ADAPTERS for target in adapter.targets()]


def current_runtime() -> Runtime | None:
    return _runtime


def is_instrumented() -> bool:
    return _runtime is not None


def instrument() -> None:
    """Patch the clients of every provider adapter (those installed). Safe to call again."""
    global _runtime, _uninstrumented
    with _lock:
        _uninstrumented = False
        settings = current_settings()
        if not settings.enabled:
            log.info("costaware: disabled by configuration; nothing patched")
            return
        _runtime = Runtime(settings)
        for module_name in sorted({t.module for t in _targets()}):
            module = sys.modules.get(module_name)
            if module is not None:
                _patch_module(module)
            elif module_name not in _hooked:
                _hooked.add(module_name)
                wrapt.register_post_import_hook(_on_import, module_name)


def ensure_instrumented() -> None:
    """Instrument unless already done (the decorator's entrance: one decorator, nothing else to call),
    or unless the application called ``uninstrument()``: then it stays so until ``instrument()``."""
    if _runtime is None and not _uninstrumented:
        instrument()


def refresh_runtime() -> None:
    """Rebuild the runtime from the current settings (after ``configure()``), if instrumented."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime = Runtime(current_settings())


def uninstrument() -> None:
    """Restore every patched method. Safe to call when not instrumented. A decorated function called
    afterwards runs with the SDKs as they are (its scope still opens), until ``instrument()``."""
    global _runtime, _uninstrumented
    with _lock:
        _runtime = None
        _uninstrumented = True
        for (owner, name), (original, wrapper) in list(_patched.items()):
            if owner.__dict__.get(name) is wrapper:
                setattr(owner, name, original)
            else:
                log.warning("costaware: %s.%s was re-wrapped by another library; left as is", owner, name)
        _patched.clear()


def _on_import(module: ModuleType) -> None:
    with _lock:
        if _runtime is not None:
            _patch_module(module)


def _patch_module(module: ModuleType) -> None:
    for target in _targets():
        if target.module != module.__name__:
            continue
        owner_name, name = target.attribute.split(".")
        owner = getattr(module, owner_name, None)
        if not isinstance(owner, type) or (owner, name) in _patched:
            continue
        original = owner.__dict__.get(name)
        if original is None:
            continue  # this SDK version has no such method
        wrapper = wrapt.FunctionWrapper(original, make_wrapper(target, current_runtime))
        setattr(owner, name, wrapper)
        _patched[(owner, name)] = (original, wrapper)


def patched_methods() -> list[str]:
    """``module.Class.method`` of every method currently patched (for diagnostics and tests)."""
    with _lock:
        return sorted(f"{owner.__module__}.{owner.__qualname__}.{name}" for owner, name in _patched)
