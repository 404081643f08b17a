""":func:`route`, the single entry point: a policy's choice, checked, as a :class:`Decision`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from costaware.core.routing.classifier import AutoClassifier
from costaware.core.routing.decision import Choice, Decision, Pairs, Policy, RouteRequest
from costaware.core.routing.policies import RoutePolicy, as_policy
from costaware.core.routing.reading import is_mapping, signals
from costaware.core.routing.tiers import Ladders, Tier, TierLadder, provider_of_model

__all__ = ["cheapest_fitting", "route"]

_AUTO = AutoClassifier()  # immutable; shared so route="auto" builds nothing per call


def route(
    policy: RoutePolicy,
    provider: str,
    kwargs: Mapping[str, object],
    ladders: Mapping[str, TierLadder],
    label: str | None = None,
    *,
    allow_upgrade: bool = True,
) -> Decision:
    """Decide which model a call goes to. Never raises: on any failure the requested model is kept
    and ``reason`` says why.

    The policy's answer (a tier name or a model id) is resolved on ``ladders[provider]``. A model
    outside the ladder is taken only if it is this provider's (by its name, or by a known price when
    ``ladders`` is a :class:`Ladders`): routing never crosses providers. A requested model outside
    the ladder may still be moved to a tier. ``allow_upgrade=False`` keeps a requested ladder model
    rather than move it to a dearer tier.

    >>> from costaware.core.routing.tiers import Tier, TierLadder
    >>> tiers = [Tier("small", "claude-haiku-4-5"), Tier("large", "claude-opus-4-6")]
    >>> ladder = TierLadder("anthropic", tiers)
    >>> kwargs = {"model": "claude-opus-4-6", "messages": [{"role": "user", "content": "Hi!"}]}
    >>> route("auto", "anthropic", kwargs, {"anthropic": ladder}).chosen_model
    'claude-haiku-4-5'
    """
    requested = kwargs.get("model") if is_mapping(kwargs) else None
    if not isinstance(requested, str) or not requested:
        return Decision("", "", None, _name_of(policy), "the request names no model: nothing to route")
    try:
        chosen = _AUTO if policy == "auto" else as_policy(policy)
        ladder = ladders.get(provider)
        request = RouteRequest(provider, requested, kwargs, signals(provider, kwargs), ladder, label)
        choice = chosen.choose(request)
        pairs = request.signals.as_pairs() + choice.extra
        return _resolve(choice, request, chosen, ladders, pairs, allow_upgrade)
    except Exception as exc:  # a policy (user code) or a bad setting must never break the call
        tier = _tier_name(ladders, provider, requested)
        reason = f"routing failed ({type(exc).__name__}: {exc}): requested model kept"
        return Decision(requested, requested, tier, _name_of(policy), reason)


def _resolve(
    choice: Choice,
    request: RouteRequest,
    policy: Policy,
    ladders: Mapping[str, TierLadder],
    pairs: Pairs,
    allow_upgrade: bool,
) -> Decision:
    provider, requested, ladder = request.provider, request.model, request.ladder

    def keep(reason: str) -> Decision:
        tier = ladder.tier_of(requested) if ladder is not None else None
        return Decision(requested, requested, tier.name if tier else None, policy.name, reason, pairs)

    target = choice.target
    if target is None:
        return keep(choice.reason)
    tier = None if ladder is None else ladder.tier_named(target) or ladder.tier_of(target)
    if tier is None:
        owner = provider_of_model(target)
        if owner is not None and owner != provider:
            return keep(
                f"{choice.reason}, but {target} is an {owner} model and this is an {provider} call: "
                "routing never crosses providers; requested model kept"
            )
        if owner is None and not _priced(ladders, provider, target):
            return keep(
                f"{choice.reason}, but {target} is neither a tier nor a known {provider} model: "
                "requested model kept"
            )
        return Decision(requested, target, None, policy.name, choice.reason, pairs)
    if not allow_upgrade and ladder is not None:
        now, then = ladder.index_of(requested), ladder.index_of(tier.model)
        if now is not None and then is not None and then > now:
            return keep(f"{choice.reason}; not upgrading {requested} to {tier.model}: upgrades disallowed")
    return Decision(requested, tier.model, tier.name, policy.name, f"{choice.reason} -> {tier.model}", pairs)


def _priced(ladders: Mapping[str, TierLadder], provider: str, model: str) -> bool:
    return isinstance(ladders, Ladders) and ladders.prices.lookup(provider, model) is not None


def _tier_name(ladders: Mapping[str, TierLadder], provider: str, model: str) -> str | None:
    try:
        ladder = ladders.get(provider)
        tier = ladder.tier_of(model) if isinstance(ladder, TierLadder) else None
    except Exception:  # ladders of the wrong type: the reason already says routing failed
        return None
    return tier.name if tier is not None else None


def _name_of(policy: object) -> str:
    if isinstance(policy, str):
        return "auto" if policy == "auto" else "force"
    name = getattr(policy, "name", None)
    return name if isinstance(name, str) else f"callable:{getattr(policy, '__qualname__', '?')}"


def cheapest_fitting(ladder: TierLadder, fits: Callable[[str], bool]) -> Tier | None:
    """The cheapest tier whose model ``fits`` (a budget's check, say), or ``None`` if none does.

    >>> from costaware.core.routing.tiers import Tier, TierLadder
    >>> ladder = TierLadder("openai", [Tier("small", "gpt-4.1-mini"), Tier("medium", "gpt-4.1")])
    >>> cheapest_fitting(ladder, lambda model: model != "gpt-4.1-mini").name
    'medium'
    """
    return next((tier for tier in ladder.tiers if fits(tier.model)), None)
