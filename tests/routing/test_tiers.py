"""Specification of tier ladders: shipped defaults, overrides, files, env, and configuration errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from costaware.core.errors import ConfigurationError
from costaware.core.pricing import PriceBook
from costaware.core.routing import (
    DEFAULT_TIERS,
    Ladders,
    Tier,
    TierLadder,
    ladders,
    load_tier_file,
    provider_of_model,
)

NO_ENV: dict[str, str] = {}


def test_default_ladders_are_cheapest_first_and_priced() -> None:
    built = ladders(environ=NO_ENV)
    assert built["anthropic"].models == ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-6")
    assert built["openai"].models == ("gpt-4.1-mini", "gpt-4.1", "o3")
    book = PriceBook()
    for provider, ladder in built.items():
        prices = [book.lookup(provider, model) for model in ladder.models]
        assert all(price is not None for price in prices)
        outputs = [price.output for price in prices if price is not None]
        assert outputs == sorted(outputs), f"{provider} ladder is not cheapest first"


def test_defaults_live_in_one_data_constant() -> None:
    assert set(DEFAULT_TIERS) == {"anthropic", "openai"}
    assert [name for name, _ in DEFAULT_TIERS["anthropic"]] == ["small", "medium", "large"]


def test_a_mapping_override_patches_named_tiers() -> None:
    built = ladders({"anthropic": {"large": "claude-opus-4-5"}}, environ=NO_ENV)
    assert built["anthropic"].models == ("claude-haiku-4-5", "claude-sonnet-4-6", "claude-opus-4-5")
    assert built["openai"].models == ("gpt-4.1-mini", "gpt-4.1", "o3")


def test_a_list_override_replaces_the_ladder() -> None:
    built = ladders(
        {"openai": [["nano", "gpt-4.1-nano"], {"name": "full", "model": "gpt-4.1"}]}, environ=NO_ENV
    )
    assert built["openai"].tiers == (Tier("nano", "gpt-4.1-nano"), Tier("full", "gpt-4.1"))


def test_a_tier_ladder_object_is_accepted_as_override() -> None:
    ladder = TierLadder("openai", [Tier("small", "gpt-4.1-nano"), Tier("large", "gpt-5")])
    assert ladders({"openai": ladder}, environ=NO_ENV)["openai"] is ladder


def test_unknown_tier_name_in_a_patch_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown tier name 'tiny'.*small, medium, large"):
        ladders({"anthropic": {"tiny": "claude-haiku-4-5"}}, environ=NO_ENV)


def test_empty_ladder_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="is empty"):
        ladders({"openai": []}, environ=NO_ENV)


def test_duplicate_model_is_refused() -> None:
    with pytest.raises(ConfigurationError, match=r"lists model 'gpt-4\.1' twice \(tiers 'a' and 'b'\)"):
        ladders({"openai": [["a", "gpt-4.1"], ["b", "gpt-4.1"]]}, environ=NO_ENV)


def test_duplicate_tier_name_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="names tier 'a' twice"):
        TierLadder("openai", [Tier("a", "gpt-4.1"), Tier("a", "gpt-4.1-mini")])


def test_model_without_a_price_gives_a_clear_error() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ladders({"anthropic": {"medium": "claude-sonet-4-6"}}, environ=NO_ENV)
    message = str(caught.value)
    assert "'claude-sonet-4-6'" in message and "tier 'medium'" in message
    assert "no known price" in message and "costaware.configure(prices=" in message


def test_a_price_override_makes_a_private_model_acceptable() -> None:
    book = PriceBook({"openai:acme-llm-70b": {"input": 0.5, "output": 1.0}})
    built = ladders(
        {"openai": [["small", "acme-llm-70b"], ["large", "gpt-4.1"]]}, environ=NO_ENV, prices=book
    )
    assert built["openai"].models == ("acme-llm-70b", "gpt-4.1")
    assert built.prices is book


def test_another_providers_model_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match=r"'gpt-4\.1'.*is an openai model.*never crosses providers"):
        ladders({"anthropic": {"small": "gpt-4.1"}}, environ=NO_ENV)


def test_another_providers_model_is_refused_by_price() -> None:
    book = PriceBook({"openai:house-model": {"input": 1, "output": 2}})
    with pytest.raises(ConfigurationError, match=r"'house-model'.*is an openai model"):
        ladders({"anthropic": {"small": "house-model"}}, environ=NO_ENV, prices=book)


def test_bad_spec_shapes_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="expected a mapping"):
        ladders({"openai": "gpt-4.1"}, environ=NO_ENV)
    with pytest.raises(ConfigurationError, match=r"\[name, model\]"):
        ladders({"openai": [["only-a-name"]]}, environ=NO_ENV)
    with pytest.raises(ConfigurationError, match="no default ladder to patch"):
        ladders({"mistral": {"small": "mistral-small"}}, environ=NO_ENV)
    with pytest.raises(ConfigurationError, match="needs a model id"):
        ladders({"openai": {"small": ""}}, environ=NO_ENV)


def test_ladders_reject_a_ladder_under_another_providers_key() -> None:
    ladder = TierLadder("openai", [Tier("small", "gpt-4.1-mini")])
    with pytest.raises(ConfigurationError, match="must be a TierLadder for 'anthropic'"):
        Ladders({"anthropic": ladder})


TOML = """
[tiers.anthropic]
medium = "claude-sonnet-4-5"

[[tiers.openai]]
name = "small"
model = "gpt-4.1-nano"

[[tiers.openai]]
name = "large"
model = "gpt-4.1"
"""


def test_a_toml_file_patches_and_replaces(tmp_path: Path) -> None:
    file = tmp_path / "tiers.toml"
    file.write_text(TOML)
    built = ladders(path=file, environ=NO_ENV)
    assert built["anthropic"].models == ("claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-6")
    assert built["openai"].names == ("small", "large")


def test_a_json_file_without_the_tiers_key(tmp_path: Path) -> None:
    file = tmp_path / "tiers.json"
    file.write_text(json.dumps({"openai": [["mini", "gpt-4.1-mini"], ["big", "gpt-5"]]}))
    assert ladders(path=file, environ=NO_ENV)["openai"].models == ("gpt-4.1-mini", "gpt-5")


def test_the_env_variable_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "tiers.json"
    file.write_text(json.dumps({"tiers": {"anthropic": {"large": "claude-opus-4-5"}}}))
    built = ladders(environ={"COSTAWARE_TIERS": str(file)})
    assert built["anthropic"].tiers[-1].model == "claude-opus-4-5"


def test_overrides_apply_after_the_file(tmp_path: Path) -> None:
    file = tmp_path / "tiers.json"
    file.write_text(json.dumps({"anthropic": {"large": "claude-opus-4-5"}}))
    built = ladders({"anthropic": {"large": "claude-opus-4-6"}}, path=file, environ=NO_ENV)
    assert built["anthropic"].tiers[-1].model == "claude-opus-4-6"


def test_a_bad_spec_in_a_file_names_the_file(tmp_path: Path) -> None:
    file = tmp_path / "tiers.toml"
    file.write_text('[tiers.anthropic]\ntiny = "claude-haiku-4-5"\n')
    with pytest.raises(ConfigurationError, match=r"tiers\.toml.*unknown tier name 'tiny'"):
        ladders(path=file, environ=NO_ENV)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("tiers.toml", "[tiers\nanthropic = 1", "not valid TOML"),
        ("tiers.json", "{not json", "not valid JSON"),
        ("tiers.json", "[1, 2]", "must hold a table of providers"),
        ("tiers.ini", "[anthropic]", "unknown format"),
    ],
)
def test_a_malformed_file_is_a_configuration_error(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    file = tmp_path / name
    file.write_text(content)
    with pytest.raises(ConfigurationError, match=message):
        load_tier_file(file)


def test_a_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read tier file"):
        ladders(environ={"COSTAWARE_TIERS": str(tmp_path / "nope.toml")})


def test_yaml_needs_pyyaml(tmp_path: Path) -> None:
    file = tmp_path / "tiers.yaml"
    file.write_text("anthropic:\n  large: claude-opus-4-5\n")
    try:
        import yaml  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigurationError, match="YAML needs PyYAML"):
            load_tier_file(file)
    else:
        assert ladders(path=file, environ=NO_ENV)["anthropic"].tiers[-1].model == "claude-opus-4-5"


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("claude-haiku-4-5", "anthropic"),
        ("anthropic/claude-3-opus", "anthropic"),
        ("gpt-4.1-mini", "openai"),
        ("o3", "openai"),
        ("o4-mini", "openai"),
        ("ft:gpt-4o-mini:acme::abc", "openai"),
        ("openai/whatever", "openai"),
        ("llama-3.1-70b", None),
        ("", None),
    ],
)
def test_provider_of_model_reads_the_name(model: str, provider: str | None) -> None:
    assert provider_of_model(model) == provider


def test_ladder_lookups() -> None:
    ladder = ladders(environ=NO_ENV)["anthropic"]
    assert ladder.tier_named("medium") == Tier("medium", "claude-sonnet-4-6")
    assert ladder.tier_of("claude-opus-4-6") == Tier("large", "claude-opus-4-6")
    assert ladder.index_of("claude-haiku-4-5") == 0
    assert ladder.tier_named("huge") is None and ladder.index_of("gpt-4.1") is None
