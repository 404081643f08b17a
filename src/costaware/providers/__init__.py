"""Provider adapters: the only modules that know the SDKs' shapes (and never import them eagerly).

A new provider is one more module here (its endpoints, with their prompt, output-cap and cache
fields, and its ``targets()``), listed in :data:`ADAPTERS`; plus its default tiers
(``core/routing/tiers.py``) and the simulator's wire format (``sim/``).
"""

from __future__ import annotations

from costaware.providers import anthropic, openai

ADAPTERS = (anthropic, openai)
"""Every provider adapter: a module with ``PROVIDER`` (its name) and ``targets()``."""

PROVIDERS: tuple[str, ...] = tuple(adapter.PROVIDER for adapter in ADAPTERS)
"""The providers' names, as ``gen_ai.provider.name`` spells them."""

__all__ = ["ADAPTERS", "PROVIDERS"]
