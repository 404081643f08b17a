"""The examples in ``costaware.core.types`` (integral request arguments, money columns) hold."""

from __future__ import annotations

import doctest

import costaware.core.types as types


def test_module_examples_hold() -> None:
    result = doctest.testmod(types)
    assert result.attempted >= 4 and result.failed == 0
