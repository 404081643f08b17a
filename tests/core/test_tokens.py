"""The token estimates: the budget's bound never falls below the typical estimate, for any text."""

from __future__ import annotations

import doctest

from hypothesis import given
from hypothesis import strategies as st

import costaware.core.tokens as tokens


def test_docstring_examples() -> None:
    assert doctest.testmod(tokens).failed == 0


@given(st.text())
def test_the_upper_bound_is_never_below_the_typical_estimate(text: str) -> None:
    assert tokens.tokens_at_most(text) >= tokens.typical_tokens(text)
    assert tokens.typical_tokens_of_length(len(text)) == tokens.typical_tokens(text) or not text.isascii()
