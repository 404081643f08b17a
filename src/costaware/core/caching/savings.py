"""What a call's cache reads saved and its writes cost, against no caching."""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Protocol

from costaware.core.pricing import ModelPrice

# -- savings -----------------------------------------------------------------------------------------


class CacheCounts(Protocol):
    """The token counts :func:`cache_savings` reads (``costaware.core.types.Usage`` has them)."""

    @property
    def input_tokens(self) -> int: ...

    @property
    def cache_read_tokens(self) -> int: ...

    @property
    def cache_write_5m_tokens(self) -> int: ...

    @property
    def cache_write_1h_tokens(self) -> int: ...


_EXACT = Context(prec=80)
_MTOK = Decimal(1_000_000)


def cache_savings(usage: CacheCounts, price: ModelPrice, *, batch: bool = False) -> tuple[Decimal, Decimal]:
    """``(saved, extra)`` in USD versus the same call without caching.

    ``saved``: what the cache reads would have cost at the input rate, minus what they cost.
    ``extra``: what the cache writes cost above the input rate (0 for OpenAI: writes are free).
    A missing cache price is the input rate (so it saves or costs nothing), as in pricing.
    ``batch`` uses the batch prices (or half of every price). Exact: never rounded.

    >>> p = ModelPrice(input=Decimal(3), output=Decimal(15), cache_read=Decimal("0.3"),
    ...                cache_write_5m=Decimal("3.75"))
    >>> from costaware.core.types import Usage
    >>> cache_savings(Usage(input_tokens=3000, cache_read_tokens=1000, cache_write_5m_tokens=1000), p)
    (Decimal('0.0027'), Decimal('0.00075'))
    """
    rates = price.batch if batch and price.batch is not None else price
    rates = rates.for_prompt(usage.input_tokens)
    plain = rates.input
    read = plain if rates.cache_read is None else rates.cache_read
    write_5m = plain if rates.cache_write_5m is None else rates.cache_write_5m
    write_1h = write_5m if rates.cache_write_1h is None else rates.cache_write_1h
    mul, sub, add = _EXACT.multiply, _EXACT.subtract, _EXACT.add
    saved = mul(sub(plain, read), usage.cache_read_tokens)
    extra = add(
        mul(sub(write_5m, plain), usage.cache_write_5m_tokens),
        mul(sub(write_1h, plain), usage.cache_write_1h_tokens),
    )
    scale = _MTOK * 2 if batch and price.batch is None else _MTOK
    return _EXACT.divide(saved, scale), _EXACT.divide(extra, scale)
