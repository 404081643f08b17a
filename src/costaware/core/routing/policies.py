"""The simple routing policies, and :func:`as_policy`, which turns a ``route=`` value into a policy.

``route=`` accepts ``"auto"`` (:class:`~costaware.core.routing.classifier.AutoClassifier`), a
:class:`Threshold`, :class:`Labels` or :class:`ForceModel`, any other :class:`Policy`, or a callable
``fn(RouteRequest) -> str`` answering a tier name or a model id. Every policy names tiers, never
models (except :class:`ForceModel` and callables, whose model answers :func:`route` checks).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from costaware.core.errors import ConfigurationError
from costaware.core.routing.classifier import AutoClassifier
from costaware.core.routing.decision import Choice, Policy, RouteRequest
from costaware.core.routing.tiers import Ladders, TierLadder, provider_of_model

__all__ = ["CallablePolicy", "ForceModel", "Labels", "RoutePolicy", "Threshold", "as_policy"]

RoutePolicy = Policy | Callable[[RouteRequest], str] | str
"""What ``route=`` accepts: ``"auto"``, a tier name or model id (forced), a policy, or a callable."""

_LABEL_SPLIT = re.compile(r"[./:\s_-]+")


def _check_tier_names(owner: str, names: list[str], ladders: Mapping[str, TierLadder]) -> None:
    for provider, ladder in ladders.items():
        missing = [name for name in names if ladder.tier_named(name) is None]
        if missing:
            raise ConfigurationError(
                f"{owner} names unknown tier(s) {missing} for {provider} "
                f"(its ladder has {', '.join(ladder.names)})"
            )


def _limits(owner: str, limits: Mapping[str, int] | None) -> Mapping[str, int]:
    if limits is None:
        return MappingProxyType({})
    if not isinstance(limits, Mapping):
        raise ConfigurationError(f"{owner} must map tier names to limits, got {limits!r}")
    for name, value in limits.items():
        if not isinstance(name, str) or isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{owner}[{name!r}] must be a non-negative int, got {value!r}")
    return MappingProxyType(dict(limits))


@dataclass(frozen=True)
class Threshold:
    """The cheapest tier whose limits the request fits: ``prompt_chars <= max_chars[tier]`` and
    ``messages <= max_items[tier]`` (a tier without a limit in one dimension is unbounded there).
    A request that fits no limited tier goes to the ladder's top tier.

    >>> Threshold(max_chars={"small": 2000, "medium": 12000}, max_items={"small": 6})
    Threshold(max_chars={'small': 2000, 'medium': 12000}, max_items={'small': 6})
    """

    max_chars: Mapping[str, int] = field(default_factory=lambda: {"small": 2000, "medium": 12000})
    max_items: Mapping[str, int] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_chars", _limits("Threshold max_chars", self.max_chars))
        object.__setattr__(self, "max_items", _limits("Threshold max_items", self.max_items))
        if not self.max_chars and not self.max_items:
            raise ConfigurationError("Threshold needs max_chars or max_items for at least one tier")

    def __repr__(self) -> str:
        return f"Threshold(max_chars={dict(self.max_chars)}, max_items={dict(self.max_items or {})})"

    @property
    def name(self) -> str:
        return "threshold"

    def choose(self, request: RouteRequest) -> Choice:
        ladder, s = request.ladder, request.signals
        if ladder is None:
            return Choice(None, f"no tier ladder for {request.provider}")
        items = self.max_items or {}
        for tier in ladder.tiers:
            chars, count = self.max_chars.get(tier.name), items.get(tier.name)
            if chars is None and count is None:
                continue
            if (chars is None or s.prompt_chars <= chars) and (count is None or s.messages <= count):
                return Choice(tier.name, f"{s.prompt_chars} chars, {s.messages} items fit {tier.name}")
        top = ladder.tiers[-1].name
        return Choice(top, f"{s.prompt_chars} chars, {s.messages} items exceed every limit: {top}")

    def validate(self, ladders: Mapping[str, TierLadder]) -> None:
        _check_tier_names("Threshold", [*self.max_chars, *(self.max_items or {})], ladders)


@dataclass(frozen=True)
class Labels:
    """A task label to a tier: ``Labels({"classify": "small", "review": "large"})``.

    The label is the policy's own ``label`` if set, else the one :func:`route` is given (the
    scope's feature name). It matches a key exactly, else by its parts, last first:
    ``"support.classify-ticket"`` matches ``classify``. No match keeps the requested model, or takes
    ``default`` (a tier name) if set.
    """

    tiers: Mapping[str, str]
    label: str | None = None
    default: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.tiers, Mapping) or not self.tiers:
            raise ConfigurationError("Labels needs a mapping of task labels to tier names")
        for key, value in self.tiers.items():
            if not isinstance(key, str) or not isinstance(value, str) or not key or not value:
                raise ConfigurationError(f"Labels: {key!r}: {value!r} must map a label to a tier name")
        object.__setattr__(self, "tiers", MappingProxyType({k.lower(): v for k, v in self.tiers.items()}))

    @property
    def name(self) -> str:
        return "labels"

    def match(self, label: str | None) -> tuple[str, str] | None:
        """``(key, tier)`` for a label, or ``None``."""
        if not isinstance(label, str) or not label:
            return None
        label = label.lower()
        if label in self.tiers:
            return label, self.tiers[label]
        for part in reversed(_LABEL_SPLIT.split(label)):
            if part in self.tiers:
                return part, self.tiers[part]
        return None

    def choose(self, request: RouteRequest) -> Choice:
        label = self.label if self.label is not None else request.label
        found = self.match(label)
        if found is not None:
            return Choice(found[1], f"label {label!r} -> {found[1]}")
        if self.default is not None:
            return Choice(self.default, f"label {label!r} matches no rule: default {self.default}")
        return Choice(None, f"label {label!r} matches no rule: requested model kept")

    def validate(self, ladders: Mapping[str, TierLadder]) -> None:
        names = [*self.tiers.values(), *([self.default] if self.default else [])]
        _check_tier_names("Labels", names, ladders)


@dataclass(frozen=True)
class ForceModel:
    """Always this model (or tier name): ``ForceModel("claude-haiku-4-5")``. On a call of another
    provider the requested model is kept: routing never crosses providers."""

    model: str

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise ConfigurationError(f"ForceModel needs a model id or tier name, got {self.model!r}")

    @property
    def name(self) -> str:
        return "force"

    def choose(self, request: RouteRequest) -> Choice:
        return Choice(self.model, f"forced {self.model}")

    def validate(self, ladders: Mapping[str, TierLadder]) -> None:
        """The target must be a tier name or a model some ladder, name or price vouches for."""
        for ladder in ladders.values():
            if ladder.tier_named(self.model) is not None or ladder.tier_of(self.model) is not None:
                return
        if provider_of_model(self.model) is not None:
            return
        prices = ladders.prices if isinstance(ladders, Ladders) else None
        if prices is not None and any(prices.lookup(p, self.model) is not None for p in ladders):
            return
        known = ", ".join(sorted({n for ladder in ladders.values() for n in ladder.names}))
        raise ConfigurationError(
            f"ForceModel({self.model!r}) is neither a tier name ({known}) nor a model with a known price"
        )


@dataclass(frozen=True)
class CallablePolicy:
    """Wraps ``fn(RouteRequest) -> str`` (a tier name or model id); :func:`route` validates its answer."""

    fn: Callable[[RouteRequest], str]

    @property
    def name(self) -> str:
        return f"callable:{getattr(self.fn, '__qualname__', None) or type(self.fn).__name__}"

    def choose(self, request: RouteRequest) -> Choice:
        target = self.fn(request)
        if not isinstance(target, str) or not target:
            return Choice(None, f"{self.name} answered {target!r}, not a model or tier: requested model kept")
        return Choice(target, f"{self.name} chose {target}")

    def validate(self, ladders: Mapping[str, TierLadder]) -> None:
        return None  # its answers are checked per call


_BUILT_IN = frozenset({AutoClassifier, Threshold, Labels, ForceModel, CallablePolicy})


def as_policy(value: object, ladders: Mapping[str, TierLadder] | None = None) -> Policy:
    """The policy for a ``route=`` value; with ``ladders``, also validated against them.

    ``"auto"`` is the default :class:`AutoClassifier`; any other string is :class:`ForceModel`;
    a policy object is kept; any other callable is a :class:`CallablePolicy`.
    Raises ConfigurationError for anything else, or a policy naming tiers the ladders lack.
    """
    policy: Policy
    if type(value) in _BUILT_IN:  # the common case, without the slower protocol check
        policy = value  # type: ignore[assignment]
    elif isinstance(value, str):
        policy = AutoClassifier() if value == "auto" else ForceModel(value)
    elif isinstance(value, Policy):
        policy = value
    elif callable(value):
        policy = CallablePolicy(value)
    else:
        raise ConfigurationError(
            f"route= takes 'auto', a model id or tier name, a routing policy or a callable; got {value!r}"
        )
    if ladders is not None:
        policy.validate(ladders)
    return policy
