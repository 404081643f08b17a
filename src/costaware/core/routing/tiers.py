"""Tier ladders: the models a provider's requests may be routed to, cheapest (weakest) first.

The shipped ladders live in one data constant, :data:`DEFAULT_TIERS`; nothing else names a model.
:func:`ladders` builds the validated set a router uses, from those defaults patched (in this order)
by a file (``path=`` or, without one, the file named by ``COSTAWARE_TIERS``) and by ``overrides=``.
Every problem is a :class:`~costaware.core.errors.ConfigurationError` raised there, at configuration
time: an empty ladder, a tier name given twice, a model given twice, a model with no known price, a
model of another provider, an unknown tier name in a patch.

A ladder spec, per provider (in code or in a file):

- a mapping ``{"small": "claude-haiku-4-5"}`` *patches* the default ladder: each named tier gets a new
  model; a name the ladder lacks is an error (to define new tiers, give the whole ladder as a list);
- a list *replaces* the ladder, cheapest first: ``[{"name": "small", "model": "gpt-4.1-nano"}, ...]``,
  ``[["small", "gpt-4.1-nano"], ...]`` or :class:`Tier` objects; or a :class:`TierLadder`.

A file is TOML, JSON or YAML (by suffix; YAML only when PyYAML is importable, and TOML on Python 3.10
only when ``tomli`` is), holding ``{provider: spec}``, optionally under a top-level ``tiers`` key::

    [tiers.anthropic]          # patch: Sonnet 4.5 as the medium tier
    medium = "claude-sonnet-4-5"

    [[tiers.openai]]           # replace: a two-tier OpenAI ladder
    name = "small"
    model = "gpt-4.1-nano"
    [[tiers.openai]]
    name = "large"
    model = "gpt-4.1"
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, overload

from costaware.core.errors import ConfigurationError
from costaware.core.pricing import PriceBook
from costaware.core.tables import load_table_file

__all__ = [
    "DEFAULT_TIERS",
    "Ladders",
    "Tier",
    "TierLadder",
    "ladders",
    "load_tier_file",
    "provider_of_model",
]

DEFAULT_TIERS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "anthropic": (
            ("small", "claude-haiku-4-5"),
            ("medium", "claude-sonnet-4-6"),
            ("large", "claude-opus-4-6"),
        ),
        # o3: a reasoning model; same list price as gpt-4.1 but it bills its reasoning as output
        # tokens, so a call costs more. The simulator's capability model counts it as a large model.
        "openai": (
            ("small", "gpt-4.1-mini"),
            ("medium", "gpt-4.1"),
            ("large", "o3"),
        ),
    }
)
"""The shipped ladders, ``provider -> ((tier name, model), ...)``, cheapest first."""

TIERS_ENV = "COSTAWARE_TIERS"
_T = TypeVar("_T")

# Name prefixes that tell a model's provider without a price lookup (used to refuse cross-provider
# routing). A name matching none of them is "unknown": only a ladder or a price can vouch for it.
_OPENAI_PREFIXES = (
    "gpt-", "gpt4", "chatgpt", "o1", "o3", "o4", "text-embedding", "ft:gpt", "ft:o", "davinci",
    "babbage", "omni-moderation", "codex", "computer-use",
)  # fmt: skip
_ANTHROPIC_MARKERS = ("claude",)


def provider_of_model(model: str) -> str | None:
    """The provider a model id belongs to, judged from its name; ``None`` when the name does not say.

    >>> provider_of_model("claude-haiku-4-5"), provider_of_model("gpt-4.1"), provider_of_model("llama-3")
    ('anthropic', 'openai', None)
    """
    name = model.strip().lower()
    vendor, slash, rest = name.partition("/")
    if slash and vendor in ("anthropic", "openai"):
        return vendor
    name = rest if slash else name
    if any(marker in name for marker in _ANTHROPIC_MARKERS):
        return "anthropic"
    if name.startswith(_OPENAI_PREFIXES):
        return "openai"
    return None


@dataclass(frozen=True, slots=True)
class Tier:
    """One rung of a ladder: a name policies refer to (``"small"``) and the model it stands for."""

    name: str
    model: str


@dataclass(frozen=True, slots=True)
class TierLadder:
    """A provider's tiers, cheapest (weakest) first. Checks its shape when built; prices are checked
    by :class:`Ladders`.

    >>> tiers = [Tier("small", "claude-haiku-4-5"), Tier("large", "claude-opus-4-6")]
    >>> ladder = TierLadder("anthropic", tiers)
    >>> ladder.tier_named("large").model, ladder.index_of("claude-haiku-4-5")
    ('claude-opus-4-6', 0)
    """

    provider: str
    tiers: tuple[Tier, ...]
    _names: Mapping[str, int] = field(init=False, repr=False, compare=False)
    _models: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        tiers = tuple(self.tiers)
        object.__setattr__(self, "tiers", tiers)
        where = f"tier ladder for {self.provider!r}"
        if not isinstance(self.provider, str) or not self.provider.strip():
            raise ConfigurationError(f"a tier ladder needs a provider name, got {self.provider!r}")
        if not tiers:
            raise ConfigurationError(f"{where} is empty: give at least one tier")
        names: dict[str, int] = {}
        models: dict[str, int] = {}
        for index, tier in enumerate(tiers):
            if not isinstance(tier, Tier) or not _nonblank(tier.name) or not _nonblank(tier.model):
                raise ConfigurationError(f"{where}: tier {index} must be a Tier(name, model), got {tier!r}")
            if tier.name in names:
                raise ConfigurationError(f"{where} names tier {tier.name!r} twice")
            if tier.model in models:
                first = tiers[models[tier.model]].name
                raise ConfigurationError(
                    f"{where} lists model {tier.model!r} twice (tiers {first!r} and {tier.name!r})"
                )
            names[tier.name] = index
            models[tier.model] = index
            owner = provider_of_model(tier.model)
            if owner is not None and owner != self.provider:
                raise ConfigurationError(
                    f"model {tier.model!r} (tier {tier.name!r} of the {self.provider} ladder) is an "
                    f"{owner} model: a ladder holds one provider's models, routing never crosses providers"
                )
        object.__setattr__(self, "_names", MappingProxyType(names))
        object.__setattr__(self, "_models", MappingProxyType(models))

    @property
    def models(self) -> tuple[str, ...]:
        """The ladder's models, cheapest first."""
        return tuple(tier.model for tier in self.tiers)

    @property
    def names(self) -> tuple[str, ...]:
        """The ladder's tier names, cheapest first."""
        return tuple(tier.name for tier in self.tiers)

    def tier_named(self, name: str) -> Tier | None:
        """The tier called ``name``, or ``None``."""
        index = self._names.get(name)
        return None if index is None else self.tiers[index]

    def tier_of(self, model: str) -> Tier | None:
        """The tier whose model is ``model``, or ``None``."""
        index = self._models.get(model)
        return None if index is None else self.tiers[index]

    def index_of(self, model: str) -> int | None:
        """``model``'s position in the ladder (0 is the cheapest), or ``None``."""
        return self._models.get(model)


class Ladders(Mapping[str, TierLadder]):
    """The validated ladders of every provider, read like a mapping ``provider -> TierLadder``.

    Building one checks every model's price with ``prices`` (a model without a known price cannot
    be priced, budgeted or compared, so it is refused here rather than at call time). ``prices`` is
    kept so routing can vouch for a model outside the ladder. Usually built by :func:`ladders`.
    """

    __slots__ = ("_by_provider", "prices")

    def __init__(self, by_provider: Mapping[str, TierLadder], prices: PriceBook | None = None) -> None:
        self.prices = prices if prices is not None else PriceBook()
        checked: dict[str, TierLadder] = {}
        for provider, ladder in by_provider.items():
            if not isinstance(ladder, TierLadder) or ladder.provider != provider:
                raise ConfigurationError(f"ladders[{provider!r}] must be a TierLadder for {provider!r}")
            for tier in ladder.tiers:
                _check_priced(self.prices, ladder.provider, tier)
            checked[provider] = ladder
        self._by_provider: Mapping[str, TierLadder] = MappingProxyType(checked)

    def __getitem__(self, provider: str) -> TierLadder:
        return self._by_provider[provider]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_provider)

    @overload
    def get(self, provider: str, /) -> TierLadder | None: ...
    @overload
    def get(self, provider: str, /, default: TierLadder | _T) -> TierLadder | _T: ...
    def get(self, provider: str, /, default: object = None) -> object:
        """``ladders[provider]`` or ``default``: a plain dict lookup (``Mapping.get`` is slower, and
        routing calls this once per request)."""
        return self._by_provider.get(provider, default)

    def __len__(self) -> int:
        return len(self._by_provider)

    def __repr__(self) -> str:
        inner = ", ".join(f"{p}: {' -> '.join(ladder.models)}" for p, ladder in self._by_provider.items())
        return f"Ladders({inner})"


def _check_priced(prices: PriceBook, provider: str, tier: Tier) -> None:
    if prices.lookup(provider, tier.model) is not None:
        return
    where = f"model {tier.model!r} (tier {tier.name!r} of the {provider} ladder)"
    for other in ("anthropic", "openai"):
        if other != provider and prices.lookup(other, tier.model) is not None:
            raise ConfigurationError(
                f"{where} is an {other} model: a ladder holds one provider's models, "
                "routing never crosses providers"
            )
    raise ConfigurationError(
        f"{where} has no known price, so costaware could neither price nor compare it. Check the "
        f"spelling, or give it a price, e.g. costaware.configure(prices={{'{provider}:{tier.model}': "
        "{'input': 1.0, 'output': 5.0}}) or COSTAWARE_PRICES"
    )


def ladders(
    overrides: Mapping[str, Any] | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    prices: PriceBook | None = None,
) -> Ladders:
    """The validated ladders: :data:`DEFAULT_TIERS`, then a file, then ``overrides``.

    The file is ``path`` if given, else the one named by ``COSTAWARE_TIERS`` in ``environ``
    (default ``os.environ``), else none. ``prices`` checks every model has a price (default: a fresh
    :class:`PriceBook`; pass the configured one so price overrides count). Raises ConfigurationError.

    >>> ladders({"anthropic": {"large": "claude-opus-4-5"}})["anthropic"].models
    ('claude-haiku-4-5', 'claude-sonnet-4-6', 'claude-opus-4-5')
    """
    built: dict[str, TierLadder] = {
        provider: TierLadder(provider, tuple(Tier(name, model) for name, model in tiers))
        for provider, tiers in DEFAULT_TIERS.items()
    }
    if path is None:
        path = (os.environ if environ is None else environ).get(TIERS_ENV) or None
    if path is not None:
        _apply(built, load_tier_file(path), source=str(path))
    if overrides is not None:
        _apply(built, overrides, source="overrides")
    return Ladders(built, prices)


def _apply(built: dict[str, TierLadder], specs: Mapping[str, Any], *, source: str) -> None:
    if not isinstance(specs, Mapping):
        raise ConfigurationError(f"tier {source} must map provider -> ladder, got {type(specs).__name__}")
    if "tiers" in specs and isinstance(specs["tiers"], Mapping):
        specs = specs["tiers"]
    for provider, spec in specs.items():
        if not isinstance(provider, str) or not provider.strip():
            raise ConfigurationError(f"tier {source}: provider names must be strings, got {provider!r}")
        built[provider] = _ladder_from_spec(provider, spec, built.get(provider), source)


def _ladder_from_spec(provider: str, spec: Any, base: TierLadder | None, source: str) -> TierLadder:
    where = f"tier {source}, {provider!r}"
    if isinstance(spec, TierLadder):
        if spec.provider != provider:
            raise ConfigurationError(f"{where}: the TierLadder is for {spec.provider!r}")
        return spec
    if isinstance(spec, Mapping):  # patch models of existing tiers by name
        if base is None:
            raise ConfigurationError(
                f"{where}: no default ladder to patch for this provider; give the whole ladder as a list"
            )
        patched = {tier.name: tier.model for tier in base.tiers}
        for name, model in spec.items():
            if name not in patched:
                raise ConfigurationError(
                    f"{where}: unknown tier name {name!r} (the ladder has {', '.join(base.names)}); "
                    "to define other tiers give the whole ladder as a list"
                )
            if not _nonblank(model):
                raise ConfigurationError(f"{where}: tier {name!r} needs a model id, got {model!r}")
            patched[name] = model
        return TierLadder(provider, tuple(Tier(n, m) for n, m in patched.items()))
    if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
        return TierLadder(provider, tuple(_tier_from_item(item, where) for item in spec))
    raise ConfigurationError(f"{where}: expected a mapping (patch) or a list (ladder), got {spec!r}")


def _tier_from_item(item: Any, where: str) -> Tier:
    if isinstance(item, Tier):
        return item
    if isinstance(item, Mapping) and set(item) == {"name", "model"}:
        return Tier(item["name"], item["model"])
    if isinstance(item, Sequence) and not isinstance(item, (str, bytes)) and len(item) == 2:
        return Tier(item[0], item[1])
    raise ConfigurationError(
        f"{where}: each tier must be {{name = ..., model = ...}} or [name, model], got {item!r}"
    )


def load_tier_file(path: str | os.PathLike[str]) -> Mapping[str, Any]:
    """Read a tier file (``.toml``, ``.json``, ``.yaml``/``.yml``): the only I/O of routing."""
    return load_table_file(path, what="tier file", holds="a table of providers")


def _nonblank(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
