"""The token estimates: the budget's bound never falls below the typical estimate, for any text."""

from __future__ import annotations

import doctest
import enum
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

import costaware.core.tokens as tokens


def test_docstring_examples() -> None:
    assert doctest.testmod(tokens).failed == 0


@given(st.text())
def test_the_upper_bound_is_never_below_the_typical_estimate(text: str) -> None:
    assert tokens.tokens_at_most(text) >= tokens.typical_tokens(text)
    assert tokens.typical_tokens_of_length(len(text)) == tokens.typical_tokens(text) or not text.isascii()


class _Block:
    """An SDK object in a conversation's history: ``json.dumps(default=str)`` writes its ``str``."""

    def __str__(self) -> str:
        return "TextBlock(text='Earlier answer.', type='text')"


class _Field(str, enum.Enum):
    """A str enum as a key: ``json`` writes its value, not its name."""

    DESCRIPTION = "description " * 20
    NAME = "n\u00e4me"


class _Code(enum.IntEnum):
    BIG = 12_345_678_901


_KEYS = (
    st.text(max_size=8)
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.sampled_from([*_Field, *_Code])
)
_LEAVES = (
    st.text()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.booleans()
    | st.none()
    | st.builds(_Block)
)
_JSON_LIKE = st.recursive(
    _LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(_KEYS, inner, max_size=4)
    ),
    max_leaves=30,
)


def _written(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")


@given(_JSON_LIKE)
def test_json_size_is_the_json_less_its_escapes(value: object) -> None:
    """What a budget's estimate measures: the JSON ``json.dumps`` would write, each escape counted as
    the one character it stands for (what a tokenizer reads), never more than what is written."""
    written = _written(value)
    escapes = written.count(b"\\")
    size = tokens.json_size(value)
    assert written.decode("utf-8", "surrogatepass").count("\\u") * 5 + escapes >= len(written) - size >= 0
    if not escapes:
        assert size == len(written)


@given(st.lists(st.text(), max_size=6))
def test_a_conversations_size_is_never_below_its_texts(texts: list[str]) -> None:
    """What routing weighs a conversation by: at least the UTF-8 bytes of the text the provider reads,
    so an estimate from it never falls below that text's own."""
    messages = [{"role": "user", "content": text} for text in texts]
    estimate = tokens.tokens_at_most_of_size(tokens.json_size(messages))
    assert estimate >= tokens.tokens_at_most("".join(texts))


def test_json_size_refuses_a_cycle_as_json_does() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError):
        tokens.json_size(loop)
    with pytest.raises(ValueError):
        json.dumps(loop)


def test_a_budget_counts_a_str_enum_key_by_its_value() -> None:
    from costaware.providers.anthropic import MESSAGES
    from costaware.steps.spend import estimate_input_tokens

    schema = {"type": "object", "properties": {_Field.DESCRIPTION: {"type": "string"}}}
    tools = [{"name": "lookup", "input_schema": schema}]
    estimate = estimate_input_tokens({"tools": tools, "messages": []}, MESSAGES)
    assert estimate >= tokens.tokens_at_most(_Field.DESCRIPTION.value)
    assert tokens.json_size(schema) == len(_written(schema))


def test_json_size_serialises_what_is_nested_past_its_depth() -> None:
    deep: object = "x"
    for _ in range(tokens.MAX_DEPTH + 10):
        deep = [deep]
    assert tokens.json_size({"messages": deep}) == len(_written({"messages": deep}))
