"""A deliberately simple capability model: how well would ``model`` answer this prompt?

Not used by the wire format yet; routing and cascade work can score simulated answers with it.

* Tier from the model name: 0 for small models (``haiku``, ``mini``, ``nano``, ``flash``,
  ``lite``), 2 for the largest (``opus``, ``-pro``, names starting ``o1`` / ``o3``), 1 for everything else
  (``sonnet``, ``gpt-4.1``, ``gpt-4o``, ``gpt-5``, unknown models). Small-model markers win,
  so ``o3-mini`` and ``gpt-5-mini`` are tier 0.
* Skill per tier: 0.60, 0.80, 0.92.
* Difficulty of a prompt, in [0, 1]: half from its length (``count_tokens / 2000``, capped at 1)
  and half from a hash of its text (a stand-in for content), so it is deterministic.
* ``capability = skill - (1 - skill) * difficulty``, in [0.2, 0.92]. For any prompt a higher
  tier scores higher, and a harder prompt never scores higher on the same model.
"""

from __future__ import annotations

import hashlib

from .tokens import count_tokens

__all__ = ["capability", "difficulty", "model_tier"]

TIER_SKILL = (0.60, 0.80, 0.92)
_SMALL = ("haiku", "mini", "nano", "flash", "lite")
_LARGE = ("opus", "-pro")
_LARGE_PREFIXES = ("o1", "o3")


def model_tier(model: str) -> int:
    """Return 0 (small), 1 (mid) or 2 (large) for a model name."""
    name = model.lower().rsplit("/", 1)[-1]
    if any(marker in name for marker in _SMALL):
        return 0
    if any(marker in name for marker in _LARGE) or name.startswith(_LARGE_PREFIXES):
        return 2
    return 1


def difficulty(prompt_text: str) -> float:
    """Return the prompt's deterministic difficulty in [0, 1]."""
    length_part = min(count_tokens(prompt_text) / 2000.0, 1.0)
    digest = hashlib.sha256(prompt_text.encode("utf-8")).digest()
    content_part = int.from_bytes(digest[:4], "big") / 0xFFFFFFFF
    return 0.5 * length_part + 0.5 * content_part


def capability(model: str, prompt_text: str) -> float:
    """Return the simulated quality in [0, 1] of ``model``'s answer to ``prompt_text``.

    >>> capability("claude-opus-4-6", "hi") > capability("claude-sonnet-4-6", "hi") > capability(
    ...     "claude-haiku-4-5", "hi")
    True
    """
    skill = TIER_SKILL[model_tier(model)]
    return max(0.0, min(1.0, skill - (1.0 - skill) * difficulty(prompt_text)))
