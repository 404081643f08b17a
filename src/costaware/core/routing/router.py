""":func:`route`, the single entry point: a policy's choice, checked, as a :class:`Decision`."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from costaware.core.routing.classifier import AutoClassifier
from costaware.core.routing.decision import Choice, Decision, Pairs, Policy, RouteRequest
from costaware.core.routing.policies import RoutePolicy, as_policy
from costaware.core.routing.reading import is_mapping
from costaware.core.routing.tiers import Ladders, Tier, TierLadder, provider_of_model

__all__ = ["auto_classifier", "cheapest_fitting", "route"]

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
    the ladder may still be moved to a tier, if it is plainly this provider's (by name or price):
    an unknown model may be served by an OpenAI-compatible server that has none of the ladder's.
    ``allow_upgrade=False`` keeps a requested ladder model rather than move it to a dearer tier.

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
        request = RouteRequest(provider, requested, kwargs, None, ladder, label)
        choice = chosen.choose(request)
        read = request.signals_read  # recorded only when the policy read them ("auto" reads the ask)
        pairs = read.as_pairs() + choice.extra if read is not None else choice.extra
        return _resolve(choice, request, chosen, ladders, pairs, allow_upgrade)
    except Exception as exc:  # a policy (user code) or a bad setting must never break the call
        tier = _tier_name(ladders, provider, requested)
        reason = f"routing failed ({type(exc).__name__}: {exc}): requested model kept"
        return Decision(requested, requested, tier, _name_of(policy), reason, failure=exc)


def auto_classifier(policy: object) -> AutoClassifier | None:
    """The classifier behind ``policy`` when it is ``"auto"`` or an :class:`AutoClassifier`, else ``None``."""
    if isinstance(policy, AutoClassifier):
        return policy
    return _AUTO if policy == "auto" else None


def _resolve(
    choice: Choice,
    request: RouteRequest,
    policy: Policy,
    ladders: Mapping[str, TierLadder],
    pairs: Pairs,
    allow_upgrade: bool,
) -> Decision:
    requested, ladder, target = request.model, request.ladder, choice.target
    tier = None if target is None or ladder is None else ladder.tier_named(target) or ladder.tier_of(target)
    chosen = tier.model if tier is not None else target
    problem = None if chosen is None else _why_not(chosen, tier, request, ladders, allow_upgrade)
    if chosen is None or problem is not None:
        kept = ladder.tier_of(requested) if ladder is not None else None
        reason = choice.reason + (problem or "")
        return Decision(requested, requested, kept.name if kept else None, policy.name, reason, pairs)
    reason = f"{choice.reason} -> {chosen}" if tier is not None else choice.reason
    return Decision(requested, chosen, tier.name if tier else None, policy.name, reason, pairs)


def _why_not(
    chosen: str,
    tier: Tier | None,
    request: RouteRequest,
    ladders: Mapping[str, TierLadder],
    allow_upgrade: bool,
) -> str | None:
    """Why the policy's pick cannot be taken (``None`` if it can); each reason keeps the requested model."""
    provider, requested, ladder = request.provider, request.model, request.ladder
    if tier is None or ladder is None:  # a model outside the ladder: only this provider's
        owner = provider_of_model(chosen)
        if owner is not None and owner != provider:
            return (
                f", but {chosen} is an {owner} model and this is an {provider} call: "
                "routing never crosses providers; requested model kept"
            )
        if owner is None and not _priced(ladders, provider, chosen):
            return f", but {chosen} is neither a tier nor a known {provider} model: requested model kept"
        if not allow_upgrade and _dearer(ladders, provider, chosen, requested):
            return f"; not moving {requested} to {chosen}: {chosen} costs more, upgrades disallowed"
        return None
    now = ladder.index_of(requested)
    if now is None and not _belongs(ladders, provider, requested):
        return (
            f", but {requested} is not a known {provider} model (an OpenAI-compatible server?): "
            f"not moved to {chosen}"
        )
    then = ladder.index_of(chosen)
    if not allow_upgrade and now is not None and then is not None and then > now:
        return f"; not upgrading {requested} to {chosen}: upgrades disallowed"
    if not allow_upgrade and now is None and _dearer(ladders, provider, chosen, requested):
        # A requested model outside the ladder (gpt-4o-mini) may be cheaper than the tier picked
        # for it (gpt-4.1-mini): moving there would raise the bill, which routing never does.
        return f"; not moving {requested} to {chosen}: {chosen} costs more, upgrades disallowed"
    return None


def _dearer(ladders: Mapping[str, TierLadder], provider: str, model: str, than: str) -> bool:
    """Whether ``model`` costs more than ``than`` per input and per output token (both priced)."""
    if not isinstance(ladders, Ladders):
        return False
    price, other = ladders.prices.lookup(provider, model), ladders.prices.lookup(provider, than)
    if price is None or other is None:
        return False
    return price.input + price.output > other.input + other.output


def _belongs(ladders: Mapping[str, TierLadder], provider: str, model: str) -> bool:
    owner = provider_of_model(model)
    return owner == provider or (owner is None and _priced(ladders, provider, model))


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
