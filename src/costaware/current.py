"""What is running now, in this context: the innermost ``@cost_aware`` scope.

:class:`Scope` (one invocation) and :class:`ScopeSpec` (its settings) live here, below the code a
call runs through (wrappers, pipeline, steps), so that code reads the current scope without
importing ``scoping``, which sits above it: it validates the settings, opens scopes and instruments.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from costaware.core.budget import Budget, BudgetLedger, OnExceed
from costaware.core.retry import RetryPolicy
from costaware.core.types import CostRecord, CostTracker


@dataclass(frozen=True)
class ScopeSpec:
    """A scope's settings, validated once (at decoration time)."""

    name: str
    budget: Budget | None = None
    """A shared budget (its ledger lives in its store), or ``None``."""
    per_call: Budget | None = None
    """``budget=<number>``: that limit for each invocation, each with a ledger of its own (the
    budget's key is the scope's name, so invocations share it in refusals and metric attributes,
    a bounded set of series, never their spend)."""
    retry: RetryPolicy | None = None
    feature: str | None = None
    tenant: str | None = None
    on_exceed: OnExceed | None = None
    route: Any = None
    cache: bool | None = None
    """Place prompt-cache breakpoints for this scope's calls (``None``: on inside scopes)."""
    max_output_tokens: int | None = None
    """Cap every call's output length in this scope (the smaller of this and the caller's own)."""
    response_cache: Any = None
    """``cache=ResponseCache(...)``: answer repeated requests from this cache."""

    def named(self, name: str) -> ScopeSpec:
        """This spec under another name (a decorated function's), its per-invocation budget keyed by it."""
        per_call = self.per_call
        if per_call is not None:
            per_call = Budget(limit=per_call.limit, key=name, on_exceed=per_call.on_exceed)
        return dataclasses.replace(self, name=name, per_call=per_call)

    @functools.cached_property
    def settings(self) -> dict[str, Any]:
        """The scoped settings this scope sets itself (``None``: not set here). Read-only."""
        return {name: getattr(self, name) for name in _SCOPED_SETTINGS}


_SCOPED_SETTINGS = ("route", "cache", "max_output_tokens", "retry", "response_cache")
"""The settings a scope may set for its calls; the innermost scope that sets one wins."""


class Scope:
    """One invocation of a ``@cost_aware`` function (or one ``with costaware.scope(...)`` block)."""

    def __init__(
        self,
        spec: ScopeSpec,
        parent: Scope | None,
        ledgers: tuple[BudgetLedger, ...] = (),
        arguments: Mapping[str, Any] | None = None,
    ) -> None:
        self.spec = spec
        self.parent = parent
        self.arguments = arguments
        """The decorated function's arguments by name, kept only for a response cache whose
        namespace is a callable of them."""
        self._id: str | None = None
        self._tracker = CostTracker()
        self._lock = threading.Lock()
        self.ledgers = ledgers
        """This scope's own budgets (``spec.budget``'s shared ledger, then the per-invocation one)."""
        own = (ledgers, (spec.on_exceed,) * len(ledgers))
        if parent is None:
            self.budgets: tuple[tuple[BudgetLedger, ...], tuple[str | None, ...]] = own
            self.settings: dict[str, Any] = spec.settings
        else:
            inherited = parent.budgets
            self.budgets = (own[0] + inherited[0], own[1] + inherited[1])
            outer = parent.settings
            self.settings = {
                name: value if value is not None else outer[name] for name, value in spec.settings.items()
            }
        """``budgets``: every budget a call here is charged to (innermost first) and each one's
        ``on_exceed`` override. ``settings``: each scoped setting's value here: this scope's own, else
        the innermost enclosing scope's, else ``None`` (``configure()`` then decides). Both resolved
        once: a scope's parents never change."""
        self.remaining: dict[str, float | None] = {}
        """What was left of each budget when the scope ended, by key (for its span)."""

    def setting(self, name: str) -> Any:
        """The innermost scope's value of ``name`` (``route``, ``cache``, ``max_output_tokens``,
        ``retry``, ``response_cache``), or ``None`` when no enclosing scope sets it (``configure()``
        then decides)."""
        return self.settings[name]

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def id(self) -> str:
        """A random id for this invocation (made on first read: most scopes are never asked)."""
        found = self._id
        if found is None:
            with self._lock:  # two threads asking first get the same id
                if self._id is None:
                    self._id = uuid.uuid4().hex[:16]
                found = self._id
        return found

    @property
    def tracker(self) -> CostTracker:
        """The frozen record of this scope's calls so far (inner scopes' calls included)."""
        return self._tracker

    def chain(self) -> Iterator[Scope]:
        """This scope and every enclosing one, innermost first."""
        scope: Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def record(self, record: CostRecord) -> None:
        for scope in self.chain():
            with scope._lock:
                scope._tracker = scope._tracker.add(record)

    def __repr__(self) -> str:
        t = self._tracker
        return f"<Scope {self.name!r} calls={t.calls} cost=${t.total_cost}>"


CURRENT: ContextVar[Scope | None] = ContextVar("costaware_scope", default=None)
LAST: ContextVar[Scope | None] = ContextVar("costaware_last_scope", default=None)


def current_scope() -> Scope | None:
    """The innermost scope of the running code, or ``None`` outside any scope."""
    return CURRENT.get()
