"""Specification of cache_savings: money a call's cache reads saved and its writes cost extra."""

from __future__ import annotations

from decimal import Decimal

from costaware.core.caching import cache_savings
from costaware.core.pricing import ModelPrice
from costaware.core.types import Usage

D = Decimal
SONNET = ModelPrice(
    input=D(3), output=D(15), cache_read=D("0.3"), cache_write_5m=D("3.75"), cache_write_1h=D(6)
)


def test_reads_save_the_difference_to_the_input_price() -> None:
    saved, extra = cache_savings(Usage(input_tokens=10_000, cache_read_tokens=8_000), SONNET)
    assert saved == D(8_000) * D("2.7") / 1_000_000 and extra == 0


def test_writes_cost_the_premium_over_the_input_price_per_ttl() -> None:
    usage = Usage(input_tokens=10_000, cache_write_5m_tokens=4_000, cache_write_1h_tokens=2_000)
    saved, extra = cache_savings(usage, SONNET)
    assert saved == 0
    assert extra == (D(4_000) * D("0.75") + D(2_000) * D(3)) / 1_000_000


def test_missing_cache_prices_mean_no_saving_and_no_premium() -> None:
    openai_like = ModelPrice(input=D("2.5"), output=D(10), cache_read=D("1.25"))
    usage = Usage(input_tokens=5_000, cache_read_tokens=2_048, cache_write_5m_tokens=100)
    saved, extra = cache_savings(usage, openai_like)
    assert saved == D(2_048) * D("1.25") / 1_000_000 and extra == 0
    assert cache_savings(usage, ModelPrice(input=D(1), output=D(2))) == (0, 0)


def test_a_long_context_tier_prices_the_whole_call() -> None:
    tiered = ModelPrice(
        input=D(3),
        output=D(15),
        cache_read=D("0.3"),
        tiers=((200_000, ModelPrice(input=D(6), output=D(22.5), cache_read=D("0.6"))),),
    )
    saved, _ = cache_savings(Usage(input_tokens=250_000, cache_read_tokens=100_000), tiered)
    assert saved == D(100_000) * D("5.4") / 1_000_000


def test_batch_calls_halve_the_amounts() -> None:
    usage = Usage(input_tokens=10_000, cache_read_tokens=8_000, cache_write_5m_tokens=1_000)
    full, batch = cache_savings(usage, SONNET), cache_savings(usage, SONNET, batch=True)
    assert batch == (full[0] / 2, full[1] / 2)


def test_money_is_exact_whatever_the_decimal_context() -> None:
    import decimal

    with decimal.localcontext() as ctx:
        ctx.prec = 3
        saved, _ = cache_savings(Usage(input_tokens=1, cache_read_tokens=123_457), SONNET)
    assert saved == D("0.3333339")
