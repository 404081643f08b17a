""":func:`explain`: why a prompt would go to the tier it goes to, in words (for ``costaware explain``)."""

from __future__ import annotations

from collections.abc import Mapping

from costaware.core.routing.classifier import AutoClassifier
from costaware.core.routing.policies import RoutePolicy, as_policy
from costaware.core.routing.reading import Signals, signals
from costaware.core.routing.router import route
from costaware.core.routing.tiers import TierLadder, ladders

__all__ = ["explain"]


def explain(
    prompt_text: str,
    provider: str = "anthropic",
    policy: RoutePolicy = "auto",
    *,
    model: str | None = None,
    label: str | None = None,
    tier_ladders: Mapping[str, TierLadder] | None = None,
) -> str:
    """A readable account of routing ``prompt_text`` sent as one user message: its signals, each
    score contribution (for ``"auto"``), the tier chosen and why.

    ``model`` is the requested model (default: the ladder's top tier, what you would use unrouted);
    ``tier_ladders`` defaults to :func:`~costaware.core.routing.tiers.ladders`.
    """
    all_ladders = tier_ladders if tier_ladders is not None else ladders()
    ladder = all_ladders.get(provider)
    requested = model or (ladder.tiers[-1].model if ladder is not None else "unknown-model")
    kwargs: dict[str, object] = {"model": requested, "messages": [{"role": "user", "content": prompt_text}]}
    found = signals(provider, kwargs)
    decision = route(policy, provider, kwargs, all_ladders, label)
    lines = [
        f"Prompt: {found.prompt_chars:,} chars, ~{found.estimated_tokens:,} tokens ({provider})",
        "Signals:",
        *_signal_lines(found),
    ]
    chosen = AutoClassifier() if policy == "auto" else as_policy(policy)
    if isinstance(chosen, AutoClassifier):
        lines.append("Score (auto):")
        parts = chosen.contributions(found)
        lines += [f"  {c.points:+6.2f}  {c.rule:<12} {c.detail}" for c in parts] or [
            "    0.00  (no rule fired)"
        ]
        cuts = ", ".join(f"{name} >= {value:.2f}" for name, value in chosen.thresholds.items())
        lines.append(f"  ={chosen.score(found):5.2f}  total (thresholds: {cuts})")
    if ladder is not None:
        lines.append("Ladder: " + " -> ".join(f"{t.name} {t.model}" for t in ladder.tiers))
    verdict = f"{decision.tier} -> {decision.chosen_model}" if decision.tier else decision.chosen_model
    lines.append(f"Chosen: {verdict} (requested {decision.requested_model}, policy {decision.policy})")
    lines.append(f"Why: {decision.reason}")
    return "\n".join(lines)


def _signal_lines(found: Signals) -> list[str]:
    rows = [
        ("messages / user turns", f"{found.messages} / {found.user_turns}"),
        ("code", "yes" if found.has_code else "no"),
        ("multi-step", f"{'yes' if found.multi_step else 'no'} ({found.numbered_items} numbered items)"),
        ("questions", str(found.questions)),
        ("hard-problem words", ", ".join(found.hard_terms) or "-"),
        ("analysis words", ", ".join(found.analysis_terms) or "-"),
        ("simple-task words", ", ".join(found.simple_terms) or "-"),
        (
            "summary / review words",
            f"{', '.join(found.summary_terms) or '-'} / {', '.join(found.review_terms) or '-'}",
        ),
        ("JSON requested", "yes" if found.json_requested else "no"),
        ("images / files / tools", f"{found.images} / {found.files} / {found.tools}"),
    ]
    return [f"  {name:<24} {value}" for name, value in rows]
