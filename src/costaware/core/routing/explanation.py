""":func:`explain`: why a prompt would go to the tier it goes to, in words (for ``costaware explain``)."""

from __future__ import annotations

from collections.abc import Mapping

from costaware.core.routing.classifier import AutoClassifier
from costaware.core.routing.decision import RouteRequest
from costaware.core.routing.policies import RoutePolicy, as_policy
from costaware.core.routing.reading import Signals, signals
from costaware.core.routing.router import route
from costaware.core.routing.tiers import TierLadder, ladders

__all__ = ["explain"]

_SHOWN = 8  # features listed for route="auto"


def explain(
    prompt_text: str,
    provider: str | None = None,
    policy: RoutePolicy = "auto",
    *,
    model: str | None = None,
    max_tokens: int | None = None,
    label: str | None = None,
    tier_ladders: Mapping[str, TierLadder] | None = None,
    allow_upgrade: bool = False,
) -> str:
    """A readable account of routing ``prompt_text`` sent as one user message, decided by the same
    :func:`~costaware.core.routing.router.route` a call goes through: for ``"auto"`` the probability
    that the ask is hard and the features that moved it most; for other policies the request's signals.

    ``provider`` defaults to the first of the tier ladders'; ``max_tokens`` is the call's output cap
    (signal-based policies read it); ``model`` is the requested model
    (default: the ladder's top tier, what you would use unrouted);
    ``tier_ladders`` defaults to :func:`~costaware.core.routing.tiers.ladders`; ``allow_upgrade`` as
    ``configure(allow_upgrade=...)`` (default False, as at run time: never above the requested model).

    >>> print(explain("Play some jazz in the kitchen").splitlines()[-2])
    Chosen: small -> claude-haiku-4-5 (requested claude-opus-4-6, policy auto)
    """
    all_ladders = tier_ladders if tier_ladders is not None else ladders()
    if provider is None:
        provider = next(iter(all_ladders), "")
    ladder = all_ladders.get(provider)
    requested = model or (ladder.tiers[-1].model if ladder is not None else "unknown-model")
    kwargs: dict[str, object] = {"model": requested, "messages": [{"role": "user", "content": prompt_text}]}
    if max_tokens is not None:
        kwargs["max_tokens"] = max_tokens
    found = signals(kwargs)
    chosen = AutoClassifier() if policy == "auto" else as_policy(policy)
    decision = route(chosen, provider, kwargs, all_ladders, label, allow_upgrade=allow_upgrade)
    lines = [f"Prompt: {found.prompt_chars:,} chars, ~{found.estimated_tokens:,} tokens ({provider})"]
    if isinstance(chosen, AutoClassifier):
        lines += _auto_lines(chosen, RouteRequest(provider, requested, kwargs, found, ladder, label))
    else:
        lines += ["Signals:", *_signal_lines(found)]
    if ladder is not None:
        lines.append("Ladder: " + " -> ".join(f"{t.name} {t.model}" for t in ladder.tiers))
    verdict = f"{decision.tier} -> {decision.chosen_model}" if decision.tier else decision.chosen_model
    lines.append(f"Chosen: {verdict} (requested {decision.requested_model}, policy {decision.policy})")
    lines.append(f"Why: {decision.reason}")
    return "\n".join(lines)


def _auto_lines(auto: AutoClassifier, request: RouteRequest) -> list[str]:
    p, ask, parts = auto.explain(request)
    if ask < 0:
        return ["Ask: no user text to read"]
    if request.ladder is not None and auto.thresholds is None:
        names = [t.name for t in request.ladder.tiers[1:]]
        pairs = zip(names, auto.cutoffs(len(request.ladder.tiers)), strict=True)
        cuts = ", ".join(f"{n} >= {c:.6g}" for n, c in pairs)
    else:
        cuts = ", ".join(f"{n} >= {c:.6g}" for n, c in (auto.thresholds or {}).items())
    lines = [
        f"p(hard): {p:.6g}  (auto, quality {auto.quality:g}: {cuts or 'one tier'})",
        f"Features that moved it (log-odds points; {len(parts)} in all, bias {auto.model.bias:+.2f}):",
    ]
    lines += [f"  {c.points:+6.2f}  {c.detail}" for c in parts[:_SHOWN]] or ["    (none known to the model)"]
    return lines


def _signal_lines(found: Signals) -> list[str]:
    rows = [
        ("messages / user turns", f"{found.messages} / {found.user_turns}"),
        ("code", "yes" if found.has_code else "no"),
        ("multi-step", f"{'yes' if found.multi_step else 'no'} ({found.numbered_items} numbered items)"),
        ("questions", str(found.questions)),
        ("JSON requested", "yes" if found.json_requested else "no"),
        ("images / files / tools", f"{found.images} / {found.files} / {found.tools}"),
    ]
    return [f"  {name:<24} {value}" for name, value in rows]
