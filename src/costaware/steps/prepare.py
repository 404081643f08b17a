"""Prepare a request before it is sent: route it, cap it, place prompt-cache breakpoints.

Called by the pipeline (and by stream helpers at ``stream()`` time, before their manager is built)
with the caller's keyword arguments; returns new ones. Each step is pure work in ``core/``; this
module only decides which steps apply to a call (scope settings first, then ``configure()``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from costaware.core import caching
from costaware.core.types import Cost, Usage
from costaware.steps.spend import output_cap, output_cap_field

if TYPE_CHECKING:
    from costaware.config import Settings
    from costaware.core.caching import ReuseTracker
    from costaware.core.pricing import PriceBook
    from costaware.core.routing.tiers import Ladders
    from costaware.current import Scope
    from costaware.providers.base import PatchTarget
    from costaware.steps.routing import Affinity


class Machinery(Protocol):
    """What preparing a request reads of the configured runtime (``costaware.pipeline.runtime.Runtime``;
    routing's :class:`~costaware.steps.routing.Machinery` is part of it)."""

    settings: Settings
    prices: PriceBook
    affinity: Affinity
    cache_tracker: ReuseTracker
    clock: Callable[[], float]
    policies_outside_scopes: bool

    @property
    def ladders(self) -> Ladders: ...

    def setting(self, scope: Scope | None, name: str) -> Any: ...

    def budgeted(self, scope: Scope | None) -> bool: ...

    def warn_once(
        self, key: str, message: str, *args: Any, exc_info: BaseException | None = None
    ) -> None: ...


@dataclass
class Prepared:
    """A request as it will be sent, and what was decided on the way (for the span)."""

    kwargs: dict[str, Any]
    requested_model: str | None
    attributes: list[tuple[str, Any]] = field(default_factory=list)
    cascade: Any = None
    uncached: dict[str, Any] | None = None
    """The request before cache breakpoints were planned (for re-planning on another model)."""
    default_cap: int | None = None
    """The output cap given because the call is under a budget and set none (a refusal says so)."""
    decision: Any = None
    """The routing decision (``costaware.core.routing.Decision``), counted when the call ends."""
    footprint: Any = None
    """What routing remembers of the request once a model has answered it
    (``costaware.steps.routing.Footprint``)."""


def cache_enabled(runtime: Machinery, scope: Scope | None) -> bool:
    """Prompt-cache breakpoints: a scope's ``cache=`` wins, then ``configure(prompt_cache=...)``;
    by default they are placed inside ``@cost_aware`` scopes only (plain instrumentation only observes)."""
    setting = runtime.setting(scope, "cache")
    return scope is not None if setting is None else bool(setting)


def prepare_request(
    runtime: Machinery, target: PatchTarget, kwargs: dict[str, Any], scope: Scope | None
) -> Prepared:
    prepared = Prepared(kwargs=kwargs, requested_model=_model(kwargs))
    if target.endpoint.operation != "chat" or (scope is None and not runtime.policies_outside_scopes):
        return prepared  # plain instrumentation: observe only
    _route(runtime, target, prepared, scope)
    cap = runtime.setting(scope, "max_output_tokens")
    if cap is not None:
        prepared.kwargs = _cap_output(target, prepared.kwargs, cap)
        prepared.attributes.append(("costaware.output_cap", cap))
    fields = target.endpoint.output_cap_fields
    if fields and runtime.budgeted(scope) and output_cap(prepared.kwargs, target.endpoint) is None:
        # Under a budget a call needs an output cap, so its worst case is finite.
        prepared.default_cap = runtime.settings.budget_max_output_tokens
        prepared.kwargs = {**prepared.kwargs, fields[0]: prepared.default_cap}
    if cache_enabled(runtime, scope):
        prepared.uncached = prepared.kwargs
        _plan_cache(runtime, target, prepared)
    return prepared


def for_model(runtime: Machinery, target: PatchTarget, prepared: Prepared, model: str) -> dict[str, Any]:
    """The prepared request sent to another model (a cascade's next hop): cache breakpoints are
    planned again, since where they pay depends on the model's minimum cacheable prefix."""
    if prepared.uncached is None:
        return {**prepared.kwargs, "model": model}
    hop = Prepared(kwargs={**prepared.uncached, "model": model}, requested_model=prepared.requested_model)
    _plan_cache(runtime, target, hop)
    return hop.kwargs


def _cap_output(target: PatchTarget, kwargs: dict[str, Any], cap: int) -> dict[str, Any]:
    """``kwargs`` with its output limit at most ``cap`` (the caller's own smaller limit is kept)."""
    found = output_cap_field(kwargs, target.endpoint)
    if found is not None:
        name, value = found
        return kwargs if value <= cap else {**kwargs, name: cap}
    fields = target.endpoint.output_cap_fields
    return {**kwargs, fields[0]: cap} if fields else kwargs


def _model(kwargs: dict[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) else None


def _route(runtime: Machinery, target: PatchTarget, prepared: Prepared, scope: Scope | None) -> None:
    policy = runtime.setting(scope, "route")
    if policy is None:
        return
    from costaware.steps import routing

    routing.apply_route(runtime, target, prepared, policy, scope, caching=cache_enabled(runtime, scope))


def _plan_cache(runtime: Machinery, target: PatchTarget, prepared: Prepared) -> None:
    """Place the endpoint's prompt-cache breakpoints or key (its adapter knows how)."""
    plan = target.endpoint.plan_cache
    if plan is None:
        return
    planned, attributes = plan(
        prepared.kwargs, _model(prepared.kwargs), runtime.cache_tracker, runtime.clock()
    )
    prepared.kwargs = planned
    prepared.attributes.extend(attributes)


@dataclass(frozen=True)
class Savings:
    """What a call would have cost without costaware, and what each technique changed (USD)."""

    baseline: Decimal
    routing: Decimal = Decimal(0)
    cache: Decimal = Decimal(0)
    cascade_overhead: Decimal = Decimal(0)
    response_cache: Decimal = Decimal(0)
    """A response-cache hit: what the stored answer cost when it was made (the call cost nothing)."""


def savings(
    runtime: Machinery,
    provider: str,
    requested: str | None,
    usage: Usage | None,
    cost: Cost,
    overhead: Decimal,
) -> Savings | None:
    """Savings of one priced call: baseline = its tokens at the requested model, all uncached.

    ``routing`` = baseline - the same uncached tokens at the model actually used; ``cache`` = what
    cache reads saved minus what cache writes cost extra; ``cascade_overhead`` = rejected cheaper
    answers (and failed attempts) paid for. So baseline - routing - cache + overhead = actual cost.
    """
    if usage is None or cost.total is None:
        return None
    used = runtime.prices.lookup(provider, cost.priced_model) if cost.priced_model else None
    if used is None:
        return None
    saved, extra = caching.cache_savings(usage, used)
    cache_net = saved - extra
    uncached_actual = cost.total + cache_net
    routing = Decimal(0)
    baseline = uncached_actual
    if requested and requested != cost.priced_model:
        baseline_cost = runtime.prices.cost(
            provider,
            Usage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens),
            response_model=requested,
            request_model=requested,
        )
        if baseline_cost.total is not None:
            baseline = baseline_cost.total
            routing = baseline - uncached_actual
    return Savings(baseline=baseline, routing=routing, cache=cache_net, cascade_overhead=overhead)
