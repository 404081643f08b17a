"""Routing and prompt caches: leaving a warm cache is dearer than the tier step says.

A support bot's ten-thousand-token system prompt, read from a cheap model's warm prompt cache, costs a
tenth of its input price; sent to a dearer model where that prefix is cold, it costs the full price
there. ``route="auto"`` sets its cut-offs on the tiers' plain prices, so an easy question whose
p(hard) lands just above a cut-off pays the whole prefix on the dearer model, over and over on sparse
traffic that never warms that model's cache.

:func:`leave_cutoff` is the rule: to leave the model whose cache holds the request's static prefix
for one where it is cold, p(hard) must clear the cut-off's odds multiplied by how much more the move
costs, in prompt tokens, than the same move without caches. It only ever raises a cut-off, and by no
more than the price structure allows (for a prompt that is all prefix, the ratio of
``cold.input - warm.cache_read`` to ``cold.input - warm.input``: x1.45 from Haiku 4.5 to Sonnet 4.6,
x1.19 from GPT-4.1 mini to GPT-4.1), so a clearly hard ask still moves. The ask is scored as before;
only what moving costs is weighed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from costaware.core.pricing import ModelPrice
from costaware.core.routing.reading import is_mapping

__all__ = ["StaticPrefix", "characters_after", "leave_cutoff", "static_prefix"]

_LEADING_ROLES = frozenset({"system", "developer"})
_SORTED_JSON = json.JSONEncoder(default=str, sort_keys=True, ensure_ascii=False)
_JSON = json.JSONEncoder(default=str, ensure_ascii=False)
# One encoder each, made once: ``json.dumps`` with options builds a new one on every call.


class StaticPrefix(NamedTuple):
    """A request's static prefix (:func:`static_prefix`)."""

    text: str
    """Its canonical text: tool definitions, the system prompt or instructions, leading
    system/developer messages."""
    after: Sequence[object]
    """The turns that follow it (measured only where a move's cost is weighed:
    :func:`characters_after`)."""


def static_prefix(kwargs: Mapping[str, object]) -> StaticPrefix | None:
    """The request's static prefix and the turns after it; or ``None`` when it has none (or it
    cannot be serialised). Read by shape, for any provider.

    >>> found = static_prefix({"system": "You answer questions about costaware.",
    ...     "messages": [{"role": "user", "content": "How do budgets work?"}]})
    >>> found.text, characters_after(found)
    ('[null, "You answer questions about costaware.", []]', 53)
    >>> static_prefix({"messages": [{"role": "user", "content": "Hi"}]}) is None
    True
    """
    if not is_mapping(kwargs):
        return None
    system = kwargs.get("system")
    if system is None:
        system = kwargs.get("instructions")
    messages = kwargs.get("messages")
    if messages is None:
        messages = kwargs.get("input")
    turns = list(messages) if isinstance(messages, (list, tuple)) else [messages] if messages else []
    leading = 0
    while leading < len(turns) and _role(turns[leading]) in _LEADING_ROLES:
        leading += 1
    tools = kwargs.get("tools")
    if system is None and not leading and not tools:
        return None
    try:
        text = _SORTED_JSON.encode([tools, system, turns[:leading]])
    except (TypeError, ValueError):  # circular or unserialisable: no prefix to weigh
        return None
    return StaticPrefix(text, turns[leading:])


def characters_after(prefix: StaticPrefix) -> int | None:
    """The characters of what follows ``prefix``, as JSON; ``None`` when it cannot be serialised.
    Written only when a move away from a warm cache is weighed, not for every routed request (a long
    conversation's serialisation costs as much as the SDK's own)."""
    try:
        return len(_JSON.encode(prefix.after))
    except (TypeError, ValueError):
        return None


def _role(message: object) -> object:
    return message.get("role") if is_mapping(message) else None


def leave_cutoff(
    cutoff: float, prefix_tokens: int, total_tokens: int, warm: ModelPrice, cold: ModelPrice
) -> float:
    """The p(hard) needed to move a request of ``total_tokens`` prompt tokens, whose first
    ``prefix_tokens`` are in ``warm``'s prompt cache, to the dearer model ``cold`` where they are not:
    ``cutoff``'s odds times (what the move costs / what it costs without caches), prompt tokens only
    (the answer's tokens cost the same either way). Never below ``cutoff``.

    >>> from decimal import Decimal as D
    >>> haiku = ModelPrice(input=D(1), output=D(5), cache_read=D("0.1"))
    >>> sonnet = ModelPrice(input=D(3), output=D(15), cache_read=D("0.3"))
    >>> round(leave_cutoff(0.42, 10_000, 10_050, haiku, sonnet), 4)  # 10k-token system prompt
    0.5118
    >>> leave_cutoff(0.42, 0, 50, haiku, sonnet)  # nothing cached: the plain cut-off
    0.42
    """
    step = float(cold.input - warm.input)
    if step <= 0 or not 0.0 < cutoff < 1.0 or total_tokens <= 0:
        return cutoff
    read = float(warm.cache_read if warm.cache_read is not None else warm.input)
    prefix = min(max(prefix_tokens, 0), total_tokens)
    moving = prefix * (float(cold.input) - read) + (total_tokens - prefix) * step
    ratio = max(moving / (total_tokens * step), 1.0)
    odds = cutoff / (1.0 - cutoff) * ratio
    return odds / (1.0 + odds)
