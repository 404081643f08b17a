"""Specification of costaware.core.pricing: model prices resolved once, exact costs per call."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal, localcontext
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import costaware.core.pricing as pricing
from costaware.core.pricing import ModelPrice, PriceBook, price_usage
from costaware.core.types import Cost, Usage

from helpers import run_together

D = Decimal
# Pinned so the bundled data's dated prices (batch variants from 2026-10-14, Sonnet/Opus 4.6 losing
# their long-context tier on 2026-03-13) resolve the same whatever day the tests run.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)


class Clock:
    """A clock tests can move."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return PriceBook(clock=Clock(NOW))


def usage(
    *,
    plain: int = 0,
    read: int = 0,
    write_5m: int = 0,
    write_1h: int = 0,
    output: int = 0,
    reasoning: int = 0,
) -> Usage:
    """A Usage built from its parts; ``input_tokens`` is the whole prompt, as the type documents."""
    return Usage(
        input_tokens=plain + read + write_5m + write_1h,
        output_tokens=output,
        cache_read_tokens=read,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        reasoning_tokens=reasoning,
    )


def anthropic_list_cost(
    input_mtok: Decimal,
    output_mtok: Decimal,
    *,
    plain: int,
    read: int,
    write_5m: int,
    write_1h: int,
    output: int,
) -> Decimal:
    """Anthropic's published rule: read 0.1x, 5m write 1.25x, 1h write 2x the base input price."""
    per_mtok = (
        plain * input_mtok
        + read * input_mtok * D("0.1")
        + write_5m * input_mtok * D("1.25")
        + write_1h * input_mtok * D("2")
        + output * output_mtok
    )
    return per_mtok / 1_000_000


# --- import cost --------------------------------------------------------------------------------


def test_importing_pricing_does_not_import_genai_prices() -> None:
    src = Path(pricing.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")])}
    code = "import sys, costaware.core.pricing; assert 'genai_prices' not in sys.modules, 'imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_without_genai_prices_only_overrides_are_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "genai_prices.data_snapshot", None)  # import raises ImportError
    book = PriceBook({"mine": {"input": 1, "output": 1}})

    assert book.lookup("openai", "gpt-4o") is None
    assert book.lookup("openai", "mine") is not None


# --- exact costs at list prices -----------------------------------------------------------------

CALL = {"plain": 10_000, "read": 100_000, "write_5m": 8_000, "write_1h": 2_000, "output": 4_000}


@pytest.mark.parametrize(
    ("model", "input_mtok", "output_mtok", "expected"),
    [
        ("claude-haiku-4-5", D(1), D(5), D("0.054")),
        ("claude-haiku-4-5-20251001", D(1), D(5), D("0.054")),
        ("claude-sonnet-4-5-20250929", D(3), D(15), D("0.162")),
        ("claude-sonnet-4-6", D(3), D(15), D("0.162")),
        ("claude-opus-4-5-20251101", D(5), D(25), D("0.27")),
        ("claude-opus-4-6", D(5), D(25), D("0.27")),
    ],
)
def test_anthropic_cost_matches_list_prices_and_cache_multipliers(
    book: PriceBook, model: str, input_mtok: Decimal, output_mtok: Decimal, expected: Decimal
) -> None:
    cost = book.cost("anthropic", usage(**CALL), response_model=model, request_model=None)

    assert cost.total == expected == anthropic_list_cost(input_mtok, output_mtok, **CALL)
    assert cost.source == "genai-prices"
    assert cost.priced_model == model


def test_anthropic_cost_parts_say_where_the_money_went(book: PriceBook) -> None:
    cost = book.cost("anthropic", usage(**CALL), response_model="claude-haiku-4-5", request_model=None)

    assert (cost.input, cost.cache_read, cost.cache_write, cost.output) == (
        D("0.01"),  # 10k plain at $1
        D("0.01"),  # 100k read at $0.10
        D("0.014"),  # 8k 5m writes at $1.25 + 2k 1h writes at $2
        D("0.02"),  # 4k output at $5
    )


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-4o", D("0.225")),  # 40k at $2.50 + 60k cached at $1.25 + 5k out at $10
        ("gpt-4o-2024-08-06", D("0.225")),
        ("gpt-4.1-mini", D("0.03")),  # 40k at $0.40 + 60k cached at $0.10 + 5k out at $1.60
        ("gpt-4.1-mini-2025-04-14", D("0.03")),
    ],
)
def test_openai_cached_input_is_billed_at_the_cached_rate(
    book: PriceBook, model: str, expected: Decimal
) -> None:
    call = Usage(input_tokens=100_000, cache_read_tokens=60_000, output_tokens=5_000)

    assert book.cost("openai", call, response_model=model, request_model=None).total == expected


def test_reasoning_tokens_are_not_billed_twice(book: PriceBook) -> None:
    plain = usage(plain=1_000, output=5_000)
    reasoning = usage(plain=1_000, output=5_000, reasoning=3_000)

    with_reasoning = book.cost("openai", reasoning, response_model="gpt-5-mini", request_model=None)
    assert with_reasoning == book.cost("openai", plain, response_model="gpt-5-mini", request_model=None)
    assert with_reasoning.output == D("0.01")  # 5k output tokens at $2, reasoning included


def test_embedding_model_is_priced_on_input_alone(book: PriceBook) -> None:
    cost = book.cost(
        "openai", Usage(input_tokens=1_000_000), response_model="text-embedding-3-small", request_model=None
    )

    assert cost.total == D("0.02")


def test_cost_is_exact_whatever_the_callers_decimal_context(book: PriceBook) -> None:
    with localcontext() as ctx:
        ctx.prec = 3
        cost = book.cost("anthropic", usage(**CALL), response_model="claude-haiku-4-5", request_model=None)
        tiny = book.cost("openai", Usage(input_tokens=123_457), response_model="gpt-4o", request_model=None)

    assert cost.total == D("0.054")
    assert tiny.total == D("0.3086425")


# --- which model is priced ----------------------------------------------------------------------


def test_response_model_is_preferred_over_request_model(book: PriceBook) -> None:
    cost = book.cost(
        "anthropic",
        usage(plain=1_000_000),
        response_model="claude-opus-4-6",
        request_model="claude-haiku-4-5",
    )

    assert (cost.total, cost.priced_model) == (D(5), "claude-opus-4-6")


def test_unknown_response_model_falls_back_to_request_model(book: PriceBook) -> None:
    cost = book.cost(
        "anthropic",
        usage(plain=1_000_000),
        response_model="claude-nonesuch-9",
        request_model="claude-haiku-4-5",
    )

    assert (cost.total, cost.priced_model) == (D(1), "claude-haiku-4-5")


def test_missing_response_model_falls_back_to_request_model(book: PriceBook) -> None:
    cost = book.cost("openai", usage(plain=1_000_000), response_model=None, request_model="gpt-4o")

    assert (cost.total, cost.priced_model) == (D("2.5"), "gpt-4o")


@pytest.mark.parametrize(
    ("provider", "response_model", "request_model"),
    [
        ("openai", "my-local-llama", "my-local-llama"),
        ("openai", None, None),
        ("anthropic", "", None),
        ("no-such-provider", "gpt-4o", "gpt-4o"),
    ],
)
def test_unknown_model_is_unpriced_never_zero(
    book: PriceBook, provider: str, response_model: str | None, request_model: str | None
) -> None:
    cost = book.cost(provider, usage(plain=1_000), response_model=response_model, request_model=request_model)

    assert cost.total is None
    assert cost.unpriced
    assert (cost.source, cost.priced_model) == ("unpriced", None)


def test_lookup_of_unknown_model_is_none(book: PriceBook) -> None:
    assert book.lookup("openai", "definitely-not-a-model") is None


# --- overrides ----------------------------------------------------------------------------------


def test_mapping_override_prices_an_unknown_model_exactly() -> None:
    book = PriceBook({"my-model": {"input": 0.1, "output": "1.5", "cache_read": D("0.01")}})

    price = book.lookup("openai", "my-model")

    assert price is not None
    assert (price.input, price.output, price.cache_read) == (D("0.1"), D("1.5"), D("0.01"))
    assert (price.source, price.model) == ("override", "my-model")
    cost = book.cost(
        "openai", usage(plain=1_000_000, output=1_000_000), response_model="my-model", request_model=None
    )
    assert (cost.total, cost.source) == (D("1.6"), "override")


def test_object_override_beats_bundled_data() -> None:
    book = PriceBook({"claude-haiku-4-5": ModelPrice(input=D(2), output=D(10))})

    cost = book.cost(
        "anthropic", usage(plain=1_000_000), response_model="claude-haiku-4-5-20251001", request_model=None
    )

    assert (cost.total, cost.source) == (D(2), "override")


def test_provider_qualified_override_applies_to_that_provider_only() -> None:
    book = PriceBook({"openai:shared-name": {"input": 1, "output": 1}})

    assert book.lookup("openai", "shared-name") is not None
    assert book.lookup("anthropic", "shared-name") is None


def test_a_misspelled_provider_prefix_is_refused_not_read_as_a_model_id() -> None:
    with pytest.raises(ValueError, match=r"unknown provider 'antropic' \(did you mean 'anthropic'\?\)"):
        PriceBook({"antropic:claude-sonnet-4-6": {"input": 1, "output": 1}})
    # A model id with a colon that names no provider stays a model id (OpenAI fine-tunes).
    assert PriceBook({"ft:gpt-4o-mini:org::id": {"input": 1, "output": 1}}).lookup(
        "openai", "ft:gpt-4o-mini:org::id"
    )


def test_override_without_cache_prices_for_anthropic_derives_them_from_input() -> None:
    book = PriceBook({"claude-custom": {"input": 4, "output": 20}})

    price = book.lookup("anthropic", "claude-custom")

    assert price is not None
    assert (price.cache_read, price.cache_write_5m, price.cache_write_1h) == (D("0.4"), D(5), D(8))
    assert price.derived == ("cache_read", "cache_write_5m", "cache_write_1h")
    assert price.source == "override"


def test_override_without_cache_prices_for_openai_bills_cached_tokens_as_input() -> None:
    book = PriceBook({"custom": {"input": 4, "output": 20}})

    cost = book.cost("openai", usage(read=1_000_000), response_model="custom", request_model=None)

    assert cost.total == D(4)


def test_add_overrides_a_price_already_resolved(book: PriceBook) -> None:
    local = PriceBook(clock=Clock(NOW))
    assert local.lookup("openai", "gpt-4o") == book.lookup("openai", "gpt-4o")

    local.add("gpt-4o", {"input": 1, "output": 2}, provider="openai")

    price = local.lookup("openai", "gpt-4o-2024-08-06")
    assert price is not None
    assert (price.input, price.source) == (D(1), "override")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"output": 1}, "lacks input"),
        ({"input": 1}, "lacks output"),
        ({"input": 1, "output": 1, "cache_write": 1}, "unknown keys ['cache_write']"),
        ({"input": -1, "output": 1}, "input must be a non-negative number"),
        ({"input": "cheap", "output": 1}, "input must be a non-negative number"),
        ({"input": float("nan"), "output": 1}, "input must be a non-negative number"),
        ({"input": 1, "output": True}, "output must be a non-negative number"),
        ({"input": 1, "output": [1]}, "output must be a non-negative number"),
        ("1.0", "must be a ModelPrice or a mapping"),
    ],
)
def test_bad_override_raises_a_clear_value_error(spec: object, message: str) -> None:
    with pytest.raises(ValueError, match="'bad-model'") as raised:
        PriceBook({"bad-model": spec})  # type: ignore[dict-item]

    assert message in str(raised.value)


def test_bad_override_added_later_raises_value_error() -> None:
    with pytest.raises(ValueError, match="lacks output"):
        PriceBook().add("m", {"input": 1})


def test_model_price_rejects_floats() -> None:
    with pytest.raises(ValueError, match=r"ModelPrice.input must be a finite, non-negative Decimal"):
        ModelPrice(input=0.5, output=D(1))  # type: ignore[arg-type]


def test_model_price_rejects_unordered_tiers() -> None:
    tier = ModelPrice(input=D(2), output=D(2))
    with pytest.raises(ValueError, match="ascending"):
        ModelPrice(input=D(1), output=D(1), tiers=((200, tier), (100, tier)))


# --- batch --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "model"),
    [("anthropic", "claude-haiku-4-5"), ("anthropic", "claude-sonnet-4-5"), ("openai", "gpt-5")],
)
def test_batch_is_half_price(book: PriceBook, provider: str, model: str) -> None:
    call = usage(**CALL)

    standard = book.cost(provider, call, response_model=model, request_model=None)
    batch = book.cost(provider, call, response_model=model, request_model=None, batch=True)

    assert standard.total is not None
    assert batch.total == standard.total / 2


def test_batch_uses_genai_prices_batch_data_where_it_has_some(book: PriceBook) -> None:
    price = book.lookup("anthropic", "claude-haiku-4-5")

    assert price is not None and price.batch is not None
    assert (price.batch.input, price.batch.output, price.batch.cache_write_1h) == (D("0.5"), D("2.5"), D(1))


def test_batch_without_batch_data_is_half_of_every_part() -> None:
    before_batch_data = PriceBook(clock=Clock(datetime(2026, 6, 1, tzinfo=timezone.utc)))
    price = before_batch_data.lookup("anthropic", "claude-haiku-4-5")
    assert price is not None and price.batch is None

    cost = before_batch_data.cost(
        "anthropic", usage(**CALL), response_model="claude-haiku-4-5", request_model=None, batch=True
    )

    assert (cost.total, cost.input, cost.cache_write) == (D("0.027"), D("0.005"), D("0.007"))


def test_batch_override_is_half_price() -> None:
    book = PriceBook({"m": {"input": 3, "output": 15}})

    cost = book.cost(
        "openai", usage(plain=1_000_000, output=1_000_000), response_model="m", request_model=None, batch=True
    )

    assert cost.total == D(9)


# --- long-context tiers -------------------------------------------------------------------------


def test_long_context_tier_switches_above_200k_prompt_tokens(book: PriceBook) -> None:
    def cost_at(prompt: int) -> Decimal | None:
        call = usage(plain=prompt, output=1_000)
        return book.cost("anthropic", call, response_model="claude-sonnet-4-5", request_model=None).total

    assert cost_at(200_000) == D("0.6") + D("0.015")  # $3 in, $15 out
    assert cost_at(200_001) == D("1.200006") + D("0.0225")  # every token at $6 in, $22.50 out


def test_long_context_tier_counts_cached_prompt_tokens(book: PriceBook) -> None:
    call = usage(plain=1_000, read=150_000, write_5m=50_000)  # 201k prompt tokens

    cost = book.cost("anthropic", call, response_model="claude-sonnet-4-5", request_model=None)

    assert (cost.input, cost.cache_read, cost.cache_write) == (D("0.006"), D("0.09"), D("0.375"))


def test_long_context_tier_applies_to_batch_prices(book: PriceBook) -> None:
    call = usage(plain=300_000)

    cost = book.cost("openai", call, response_model="gpt-5.4", request_model=None, batch=True)

    assert cost.total == D("0.75")  # $2.50 batch rate above 272k


def test_dated_prices_follow_the_clock_sonnet_4_6_lost_its_long_context_tier() -> None:
    clock = Clock(datetime(2026, 3, 12, 23, 0, tzinfo=timezone.utc))
    book = PriceBook(clock=clock)
    call = usage(plain=300_000)

    before = book.cost("anthropic", call, response_model="claude-sonnet-4-6", request_model=None)
    clock.now = datetime(2026, 3, 13, 0, 0, tzinfo=timezone.utc)
    after = book.cost("anthropic", call, response_model="claude-sonnet-4-6", request_model=None)

    assert (before.total, after.total) == (D("1.8"), D("0.9"))


def test_time_of_day_prices_follow_the_clock() -> None:
    clock = Clock(datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc))
    book = PriceBook(clock=clock)

    peak = book.lookup("deepseek", "deepseek-chat")
    clock.now = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)
    off_peak = book.lookup("deepseek", "deepseek-chat")
    clock.now += timedelta(hours=8)  # 01:00 next day: peak again
    peak_again = book.lookup("deepseek", "deepseek-chat")

    assert peak is not None and off_peak is not None and peak_again is not None
    assert (peak.input, off_peak.input, peak_again.input) == (D("0.27"), D("0.135"), D("0.27"))


# --- memoisation and threads --------------------------------------------------------------------


@pytest.fixture
def resolutions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every model genai-prices is asked to find."""
    from genai_prices.data_snapshot import DataSnapshot

    calls: list[str] = []
    original = DataSnapshot.find_provider_model

    def counting(self: DataSnapshot, model_ref: str, *args: object) -> object:
        calls.append(model_ref)
        return original(self, model_ref, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(DataSnapshot, "find_provider_model", counting)
    return calls


def test_lookup_is_memoised(resolutions: list[str]) -> None:
    book = PriceBook(clock=Clock(NOW))

    first = book.lookup("anthropic", "claude-haiku-4-5")
    second = book.lookup("anthropic", "claude-haiku-4-5")
    book.cost("anthropic", usage(plain=1), response_model="claude-haiku-4-5", request_model=None)

    assert first is second
    assert resolutions == ["claude-haiku-4-5"]


def test_misses_are_memoised(resolutions: list[str]) -> None:
    book = PriceBook(clock=Clock(NOW))

    for _ in range(3):
        book.cost("openai", usage(plain=1), response_model="nope", request_model="nope")

    assert resolutions == ["nope"]


def test_many_threads_resolving_at_once_get_one_price(resolutions: list[str]) -> None:
    book = PriceBook(clock=Clock(NOW))
    results: list[ModelPrice | None] = []
    run_together(32, lambda: results.append(book.lookup("anthropic", "claude-opus-4-6")))

    assert len(results) == 32
    assert all(result is results[0] for result in results)
    assert resolutions == ["claude-opus-4-6"]


# --- properties ---------------------------------------------------------------------------------

MODELS = [
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("anthropic", "claude-opus-4-6"),
    ("openai", "gpt-4o"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-5.4"),
]
ANTHROPIC_MODELS = [m for m in MODELS if m[0] == "anthropic"]
KINDS = ("plain", "read", "write_5m", "write_1h", "output")
# Each prompt part below 25k keeps a doubled prompt at or under 200k: inside one tier.
parts = st.fixed_dictionaries({kind: st.integers(0, 25_000) for kind in KINDS})
big_parts = st.fixed_dictionaries({kind: st.integers(0, 120_000) for kind in KINDS})
PROPERTY = settings(max_examples=60, deadline=None)


def cost_of(book: PriceBook, model: tuple[str, str], call: dict[str, int], batch: bool = False) -> Cost:
    return book.cost(model[0], usage(**call), response_model=model[1], request_model=None, batch=batch)


@PROPERTY
@given(
    model=st.sampled_from(MODELS), call=big_parts, kind=st.sampled_from(KINDS), more=st.integers(1, 50_000)
)
def test_cost_grows_with_every_token_kind(
    book: PriceBook, model: tuple[str, str], call: dict[str, int], kind: str, more: int
) -> None:
    bigger = {**call, kind: call[kind] + more}

    assert cost_of(book, model, bigger).total >= cost_of(book, model, call).total  # type: ignore[operator]


@PROPERTY
@given(model=st.sampled_from(MODELS), call=parts, tokens=st.integers(1, 25_000))
def test_cache_read_costs_less_than_plain_input(
    book: PriceBook, model: tuple[str, str], call: dict[str, int], tokens: int
) -> None:
    as_read = cost_of(book, model, {**call, "read": call["read"] + tokens})
    as_plain = cost_of(book, model, {**call, "plain": call["plain"] + tokens})

    assert as_read.total < as_plain.total  # type: ignore[operator]


@PROPERTY
@given(
    model=st.sampled_from(ANTHROPIC_MODELS),
    call=parts,
    kind=st.sampled_from(["write_5m", "write_1h"]),
    tokens=st.integers(1, 25_000),
)
def test_cache_write_costs_more_than_plain_input(
    book: PriceBook, model: tuple[str, str], call: dict[str, int], kind: str, tokens: int
) -> None:
    as_write = cost_of(book, model, {**call, kind: call[kind] + tokens})
    as_plain = cost_of(book, model, {**call, "plain": call["plain"] + tokens})

    assert as_write.total > as_plain.total  # type: ignore[operator]


@PROPERTY
@given(model=st.sampled_from(MODELS), call=big_parts, batch=st.booleans())
def test_total_is_the_sum_of_the_parts(
    book: PriceBook, model: tuple[str, str], call: dict[str, int], batch: bool
) -> None:
    cost = cost_of(book, model, call, batch)

    assert cost.total == cost.input + cost.cache_read + cost.cache_write + cost.output


@PROPERTY
@given(model=st.sampled_from(MODELS), call=parts, batch=st.booleans())
def test_cost_is_linear_within_a_tier(
    book: PriceBook, model: tuple[str, str], call: dict[str, int], batch: bool
) -> None:
    doubled = {kind: 2 * tokens for kind, tokens in call.items()}

    assert cost_of(book, model, doubled, batch).total == 2 * cost_of(book, model, call, batch).total  # type: ignore[operator]


@PROPERTY
@given(model=st.sampled_from(MODELS), call=big_parts, batch=st.booleans())
def test_cost_agrees_with_genai_prices_calc_price(
    book: PriceBook, model: tuple[str, str], call: dict[str, int], batch: bool
) -> None:
    import genai_prices

    expected = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=call["plain"] + call["read"] + call["write_5m"] + call["write_1h"],
            cache_read_tokens=call["read"],
            cache_write_tokens=call["write_5m"] + call["write_1h"],
            cache_write_1h_tokens=call["write_1h"],
            output_tokens=call["output"],
        ),
        model[1],
        provider_id=model[0],
        genai_request_timestamp=NOW,
        price_context={"processing": "batch"} if batch else None,
    )

    assert cost_of(book, model, call, batch).total == expected.total_price


def test_price_usage_prices_without_a_book() -> None:
    price = ModelPrice(input=D(1), output=D(2), cache_read=D("0.5"))

    cost = price_usage(price, usage(plain=1_000_000, read=1_000_000, output=1_000_000), priced_model="m")

    assert cost == Cost(
        total=D("3.5"), input=D(1), cache_read=D("0.5"), output=D(2), source="genai-prices", priced_model="m"
    )
