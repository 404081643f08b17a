"""Model prices, resolved once per model, and the exact cost of one call.

Pure: no SDK, no OpenTelemetry, no I/O. Money is ``Decimal`` throughout and never rounded.

Prices come from genai-prices' bundled data snapshot (never fetched: this module does not call
``UpdatePrices``), or from overrides. A model's prices are resolved once per ``(provider, model)``
and memoised, misses included; after that :meth:`PriceBook.cost` is a few ``Decimal`` products.
``genai_prices`` takes ~350 ms to import, so it is imported inside the first lookup, never here.

How genai-prices' data is read (see ``_from_genai``):

- ``input_mtok`` prices every prompt token; ``cache_read_mtok`` and ``cache_write_mtok`` (and the
  ``_5m``/``_1h`` ones) price the cached parts instead. A cache kind with no price of its own is billed
  at the plain input rate, as genai-prices does (OpenAI: no write fee, writes are plain input).
- Long-context ``TieredPrices`` become :attr:`ModelPrice.tiers`; the tier is chosen by the whole prompt
  (``Usage.input_tokens``) exceeding the threshold, and then applies to every token, as genai-prices does.
- Conditional prices (start dates, times of day) are resolved for the time of the lookup; the memo
  entry expires at the next moment any of the model's constraints can change, so a long-running
  process picks up a new price on its start date and off-peak windows are honoured.
- The ``{"processing": "batch"}`` price variant, where active, becomes :attr:`ModelPrice.batch`;
  without one a batch call costs half of every part (both providers' documented 50% discount).
- Other variants (OpenAI ``service_tier`` flex/priority, Anthropic ``speed: fast``) and non-token
  units (web searches, audio, images) are not priced: ``Usage`` carries no field for them.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, TypeAlias

from costaware.core.types import MONEY_CONTEXT, UNPRICED, Cost, Usage

if TYPE_CHECKING:
    from genai_prices import types as gp

__all__ = ["ModelPrice", "PriceBook", "PriceSpec", "price_usage"]

_EXACT = MONEY_CONTEXT
_PER_TOKEN = Decimal("1E-6")  # prices are per million tokens
_PER_TOKEN_HALF = Decimal("5E-7")  # the same, with the 50% batch discount
_ZERO = Decimal(0)

# Anthropic documents cache prices as multiples of the base input price. Used only to fill a cache
# price that the data (or an override) lacks for an Anthropic model; the result names what it filled
# in ``ModelPrice.derived`` and keeps its ``source``.
_ANTHROPIC_CACHE_MULTIPLIERS = (
    ("cache_read", Decimal("0.1")),
    ("cache_write_5m", Decimal("1.25")),
    ("cache_write_1h", Decimal("2")),
)
# Our provider ids -> genai-prices' provider ids. Other ids are passed through unchanged.
_PROVIDER_IDS = {"anthropic": "anthropic", "openai": "openai"}
# Prefixes recognised in "provider:model" override keys. An explicit list, because model ids contain
# colons too ("ft:gpt-4o-mini:org::id", "anthropic.claude-3-5-sonnet-20240620-v1:0").
# fmt: off
_OVERRIDE_PROVIDERS = frozenset({
    "anthropic", "openai", "azure", "aws", "google", "groq", "mistral", "deepseek", "x-ai", "openrouter",
    "together", "fireworks", "cohere", "perplexity", "novita", "avian",
})
# fmt: on
_DATE_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
_BATCH = {"processing": "batch"}
_MEMO_LIMIT = 4096  # a stream of made-up model ids must not grow the memo without bound
_PRICE_FIELDS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_REQUIRED_FIELDS = ("input", "output")


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in USD per million tokens, as exact decimals.

    A cache price left ``None`` means those tokens are billed at the plain ``input`` rate
    (a 1h write with no 1h price falls back to ``cache_write_5m`` first).

    ``tiers`` holds long-context prices, ascending: ``(threshold, prices)`` applies to every token of a
    call whose whole prompt (``Usage.input_tokens``) exceeds ``threshold``. ``batch`` holds the
    provider's own batch prices where the data has them; ``None`` means half of these.

    >>> ModelPrice(input=Decimal("3"), output=Decimal("15"), cache_read=Decimal("0.3")).for_prompt(1000).input
    Decimal('3')
    """

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write_5m: Decimal | None = None
    cache_write_1h: Decimal | None = None
    tiers: tuple[tuple[int, ModelPrice], ...] = ()
    batch: ModelPrice | None = None
    source: str = "genai-prices"
    """``genai-prices`` or ``override``."""
    model: str = ""
    """The model id whose price this is, as matched (genai-prices' id, or the override key)."""
    derived: tuple[str, ...] = ()
    """Fields filled from Anthropic's documented multipliers rather than read from the source."""
    # Per-token rates (plain input, cache read, 5m write, 1h write, output) with the fallbacks applied,
    # at full price and at the 50% batch discount: computed once here so pricing a call is 9 operations.
    _per_token: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)
    _per_token_half: tuple[Decimal, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate()
        plain = self.input
        write_5m = plain if self.cache_write_5m is None else self.cache_write_5m
        per_mtok = (
            plain,
            plain if self.cache_read is None else self.cache_read,
            write_5m,
            write_5m if self.cache_write_1h is None else self.cache_write_1h,
            self.output,
        )
        object.__setattr__(self, "_per_token", tuple(_EXACT.multiply(r, _PER_TOKEN) for r in per_mtok))
        object.__setattr__(
            self, "_per_token_half", tuple(_EXACT.multiply(r, _PER_TOKEN_HALF) for r in per_mtok)
        )

    def _validate(self) -> None:
        for name in _PRICE_FIELDS:
            value = getattr(self, name)
            if value is None and name not in _REQUIRED_FIELDS:
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(
                    f"ModelPrice.{name} must be a finite, non-negative Decimal (USD per million tokens), "
                    f"got {value!r}"
                )
        previous = -1
        for threshold, tier in self.tiers:
            if type(threshold) is not int or threshold <= previous:
                raise ValueError(
                    f"ModelPrice.tiers thresholds must be ascending ints >= 0, got {threshold!r}"
                )
            if not isinstance(tier, ModelPrice) or tier.tiers or tier.batch is not None:
                raise ValueError("each ModelPrice.tiers entry must be a ModelPrice without tiers or batch")
            previous = threshold
        if self.batch is not None and (not isinstance(self.batch, ModelPrice) or self.batch.batch):
            raise ValueError("ModelPrice.batch must be a ModelPrice without a batch price of its own")

    def for_prompt(self, input_tokens: int) -> ModelPrice:
        """The prices that apply to a call whose whole prompt is ``input_tokens`` (its long-context tier)."""
        for threshold, tier in reversed(self.tiers):
            if input_tokens > threshold:
                return tier
        return self


PriceSpec: TypeAlias = "ModelPrice | Mapping[str, float | int | str | Decimal]"
"""An override: a :class:`ModelPrice`, or a mapping such as ``{"input": 0.5, "output": 1.5}``
(USD per million tokens; keys ``input``, ``output``, ``cache_read``, ``cache_write_5m``,
``cache_write_1h``), the form config files use."""


def price_usage(
    price: ModelPrice, usage: Usage, *, batch: bool = False, priced_model: str | None = None
) -> Cost:
    """The exact cost of ``usage`` at ``price``: plain arithmetic, no lookup.

    Reasoning tokens are part of ``output_tokens`` and are not added again.
    """
    halve = batch and price.batch is None  # no batch prices in the data: the documented 50% off
    rates = price.batch if batch and price.batch is not None else price
    if rates.tiers:
        rates = rates.for_prompt(usage.input_tokens)
    plain, read, write_5m, write_1h, output = rates._per_token_half if halve else rates._per_token

    mul, add = _EXACT.multiply, _EXACT.add
    input_cost = mul(plain, usage.uncached_input_tokens)
    output_cost = mul(output, usage.output_tokens)
    total = add(input_cost, output_cost)
    read_cost = write_cost = _ZERO
    if usage.cache_read_tokens:  # most calls read and write no cache: skip their exact zeros
        read_cost = mul(read, usage.cache_read_tokens)
        total = add(total, read_cost)
    if usage.cache_write_5m_tokens or usage.cache_write_1h_tokens:
        write_5m_cost = mul(write_5m, usage.cache_write_5m_tokens)
        write_cost = add(write_5m_cost, mul(write_1h, usage.cache_write_1h_tokens))
        total = add(total, write_cost)
    return Cost(
        total=total,
        input=input_cost,
        cache_read=read_cost,
        cache_write=write_cost,
        output=output_cost,
        source=price.source,
        priced_model=priced_model,
    )


_Tiers: TypeAlias = "tuple[tuple[int, ModelPrice], ...]"
_Entry: TypeAlias = "tuple[ModelPrice | None, datetime | None]"  # (price or miss, expires at)


class PriceBook:
    """Model prices for pricing calls: genai-prices' bundled data, beaten by overrides.

    Thread-safe. Each ``(provider, model)`` is resolved once and memoised (misses too).

    >>> book = PriceBook({"my-model": {"input": 0.5, "output": 1.5}})
    >>> usage = Usage(input_tokens=2_000_000)
    >>> book.cost("openai", usage, response_model="my-model", request_model=None).total
    Decimal('1.0000000')

    ``clock`` (returning an aware UTC datetime) picks which of a model's dated prices apply; tests swap it.
    """

    def __init__(
        self,
        overrides: Mapping[str, PriceSpec] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock or _utc_now
        self._overrides: dict[tuple[str | None, str], ModelPrice] = {}
        for key, spec in (overrides or {}).items():
            provider, model = _split_override_key(key)
            self._overrides[(provider, model)] = _as_override(key, spec, model)
        self._memo: dict[tuple[str, str], _Entry] = {}

    def add(self, model: str, price: PriceSpec, provider: str | None = None) -> None:
        """Override ``model``'s price (for ``provider`` only, if given); later calls see it at once.

        ``model`` may also be written ``"provider:model"``. Raises ``ValueError`` for a bad price.
        """
        if provider is None:
            provider, model_id = _split_override_key(model)
        else:
            provider, model_id = _provider_id(provider), model.strip().lower()
        override = _as_override(model, price, model_id)
        with self._lock:
            self._overrides = {**self._overrides, (provider, model_id): override}
            self._memo = {}

    def lookup(self, provider: str, model: str) -> ModelPrice | None:
        """``model``'s prices at ``provider``, or ``None`` if none are known. Memoised."""
        entry = self._memo.get((provider, model))
        if entry is not None and (entry[1] is None or self._now() < entry[1]):
            return entry[0]
        return self._resolve(provider, model)

    def cost(
        self,
        provider: str,
        usage: Usage,
        *,
        response_model: str | None,
        request_model: str | None,
        batch: bool = False,
    ) -> Cost:
        """What a call cost: priced on the response model, else the request model.

        Neither priced gives ``Cost(total=None, source="unpriced")``, never $0.
        ``batch`` applies the batch price (the data's own, else 50% off).
        """
        price = self.lookup(provider, response_model) if response_model else None
        priced_model = response_model
        if price is None:
            price = self.lookup(provider, request_model) if request_model else None
            priced_model = request_model
            if price is None:
                return UNPRICED
        return price_usage(price, usage, batch=batch, priced_model=priced_model)

    def _now(self) -> datetime:
        now = self._clock()
        return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)

    def _resolve(self, provider: str, model: str) -> ModelPrice | None:
        with self._lock:  # one resolution per key, even when many threads miss at once
            now = self._now()
            entry = self._memo.get((provider, model))
            if entry is not None and (entry[1] is None or now < entry[1]):
                return entry[0]
            provider_id, model_id = _provider_id(provider), model.strip().lower()
            override = self._override_for(provider_id, model_id)
            if override is not None:
                entry = (_fill_cache_prices(override, provider_id), None)
            else:
                price, expires = _bundled_price(provider_id, model_id, now)
                entry = (None if price is None else _fill_cache_prices(price, provider_id), expires)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo = {}
            self._memo[(provider, model)] = entry
            return entry[0]

    def _override_for(self, provider_id: str, model_id: str) -> ModelPrice | None:
        undated = _DATE_SUFFIX.sub("", model_id)
        for candidate in (model_id, undated) if undated != model_id else (model_id,):
            for key in ((provider_id, candidate), (None, candidate)):
                if (found := self._overrides.get(key)) is not None:
                    return found
        return None


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _provider_id(provider: str) -> str:
    provider = provider.strip().lower()
    return _PROVIDER_IDS.get(provider, provider)


def _split_override_key(key: str) -> tuple[str | None, str]:
    prefix, sep, rest = key.strip().lower().partition(":")
    if sep and prefix in _OVERRIDE_PROVIDERS and rest:
        return _provider_id(prefix), rest
    close = difflib.get_close_matches(prefix, _OVERRIDE_PROVIDERS, n=1, cutoff=0.8) if sep and rest else []
    if close:  # "antropic:claude-sonnet-4-6" would name a model no call ever has
        raise ValueError(f"price override {key!r}: unknown provider {prefix!r} (did you mean {close[0]!r}?)")
    return None, key.strip().lower()


def _as_override(key: str, spec: PriceSpec, model_id: str) -> ModelPrice:
    """Validate an override and mark it as one."""
    if isinstance(spec, ModelPrice):
        return replace(spec, source="override", model=spec.model or model_id)
    if not isinstance(spec, Mapping):
        raise ValueError(f"price override for {key!r} must be a ModelPrice or a mapping, got {spec!r}")
    unknown = sorted(set(spec) - set(_PRICE_FIELDS))
    if unknown:
        raise ValueError(
            f"price override for {key!r} has unknown keys {unknown}; allowed: {', '.join(_PRICE_FIELDS)}"
        )
    missing = [name for name in _REQUIRED_FIELDS if name not in spec]
    if missing:
        raise ValueError(f"price override for {key!r} lacks {' and '.join(missing)} (USD per million tokens)")
    values = {name: _to_decimal(key, name, value) for name, value in spec.items()}
    return ModelPrice(
        input=values["input"],
        output=values["output"],
        cache_read=values.get("cache_read"),
        cache_write_5m=values.get("cache_write_5m"),
        cache_write_1h=values.get("cache_write_1h"),
        source="override",
        model=model_id,
    )


def _to_decimal(key: str, name: str, value: object) -> Decimal:
    problem = f"price override for {key!r}: {name} must be a non-negative number (USD per million tokens)"
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"{problem}, got {value!r}")
    try:
        # str(float) is the shortest repr: 0.1 becomes Decimal("0.1"), not the binary expansion.
        result = Decimal(str(value).strip()) if isinstance(value, (float, str)) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{problem}, got {value!r}") from None
    if not result.is_finite() or result < 0:
        raise ValueError(f"{problem}, got {value!r}")
    return result


def _fill_cache_prices(price: ModelPrice, provider_id: str) -> ModelPrice:
    """For Anthropic, fill missing cache prices from the documented multipliers of the input price."""
    if provider_id != "anthropic":
        return price

    def fill(p: ModelPrice) -> ModelPrice:
        rates = {
            name: _EXACT.multiply(multiplier, p.input) if getattr(p, name) is None else getattr(p, name)
            for name, multiplier in _ANTHROPIC_CACHE_MULTIPLIERS
        }
        missing = [name for name, _ in _ANTHROPIC_CACHE_MULTIPLIERS if getattr(p, name) is None]
        if not missing:
            return p
        return replace(
            p,
            cache_read=rates["cache_read"],
            cache_write_5m=rates["cache_write_5m"],
            cache_write_1h=rates["cache_write_1h"],
            derived=(*p.derived, *(name for name in missing if name not in p.derived)),
        )

    filled = fill(price)
    tiers = tuple((threshold, fill(tier)) for threshold, tier in price.tiers)
    batch = None if price.batch is None else _fill_cache_prices(price.batch, provider_id)
    if filled is price and tiers == price.tiers and batch is price.batch:
        return price
    return replace(filled, tiers=tiers, batch=batch)


def _bundled_price(
    provider_id: str, model_id: str, now: datetime
) -> tuple[ModelPrice | None, datetime | None]:
    """genai-prices' price for a model, and when that answer may change. Imports genai_prices lazily."""
    try:
        from genai_prices.data_snapshot import get_snapshot
    except ImportError:  # genai-prices absent: only overrides are priced
        return None, None
    try:
        # Its matching: case-insensitive; each model's match clauses (exact ids, dated prefixes, regexes)
        # in data order; compact dates retried dashed (gpt-4o-20240806 -> gpt-4o-2024-08-06).
        provider, info = get_snapshot().find_provider_model(model_id, None, provider_id, None)
    except LookupError:
        return None, None
    price = _from_genai(info.get_prices(now), info.id)
    if price is not None and _batch_variant_active(info, now) and any(info is m for m in provider.models):
        batch = _from_genai(info.get_prices(now, _BATCH), info.id)
        price = replace(price, batch=batch)
    return price, _next_change(info, now)


def _batch_variant_active(info: gp.ModelInfo, now: datetime) -> bool:
    return any(
        variant.when == _BATCH and (variant.constraint is None or variant.constraint.active(now))
        for variant in info.price_variants or ()
    )


def _from_genai(prices: gp.ModelPrice, model_id: str) -> ModelPrice | None:
    """Convert genai-prices' prices (tiered per key) into a ModelPrice (tiered per call)."""
    from genai_prices.types import TieredPrices

    raw: dict[str, Decimal | TieredPrices | None] = {
        "input": prices.input_mtok,
        "output": prices.output_mtok,
        "cache_read": prices.cache_read_mtok,
        "cache_write_5m": (
            prices.cache_write_mtok if prices.cache_write_5m_mtok is None else prices.cache_write_5m_mtok
        ),
        "cache_write_1h": prices.cache_write_1h_mtok,
    }
    if raw["input"] is None:  # not priced per token (images, audio, per request): not ours to price
        return None

    def at(threshold: int | None) -> dict[str, Decimal | None]:
        values: dict[str, Decimal | None] = {}
        for name, value in raw.items():
            if isinstance(value, TieredPrices):
                applicable = value.base
                for tier in value.tiers:  # sorted ascending by genai-prices
                    if threshold is not None and tier.start <= threshold:
                        applicable = tier.price
                value = applicable
            values[name] = value
        return values

    def build(values: dict[str, Decimal | None], tiers: _Tiers = ()) -> ModelPrice:
        input_price = values["input"]
        assert input_price is not None
        return ModelPrice(
            input=input_price,
            output=values["output"] if values["output"] is not None else _ZERO,  # embeddings: no output
            cache_read=values["cache_read"],
            cache_write_5m=values["cache_write_5m"],
            cache_write_1h=values["cache_write_1h"],
            tiers=tiers,
            model=model_id,
        )

    thresholds = sorted(
        {tier.start for value in raw.values() if isinstance(value, TieredPrices) for tier in value.tiers}
    )
    return build(at(None), tuple((t, build(at(t))) for t in thresholds))


def _next_change(info: gp.ModelInfo, now: datetime) -> datetime | None:
    """The next moment a dated or time-of-day price of ``info`` can switch on or off, if any."""
    from genai_prices.types import StartDateConstraint, TimeOfDateConstraint

    constraints = [c.constraint for c in info.prices] if isinstance(info.prices, list) else []
    constraints += [v.constraint for v in info.price_variants or () if v.when == _BATCH]
    moments: list[datetime] = []
    for constraint in constraints:
        if isinstance(constraint, StartDateConstraint):
            moments.append(datetime.combine(constraint.start_date, time(0), tzinfo=timezone.utc))
        elif isinstance(constraint, TimeOfDateConstraint):
            for at in (constraint.start_time, constraint.end_time):
                at_utc = _as_utc_time(at)
                today = datetime.combine(now.astimezone(timezone.utc).date(), at_utc)
                moments.append(today if today > now else today + timedelta(days=1))
    future = [moment for moment in moments if moment > now]
    return min(future) if future else None


def _as_utc_time(value: time) -> time:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return datetime.combine(date(1970, 1, 1), value).astimezone(timezone.utc).timetz()
