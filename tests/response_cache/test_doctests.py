"""The examples in the response cache's docstrings run as written."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = (
    "costaware.core.paraphrase",
    "costaware.steps.response_cache",
    "costaware.steps.embedders",
    "costaware.providers.replay",
    "costaware.providers.anthropic_replay",
    "costaware.providers.openai_replay",
    "costaware.providers.responses_replay",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
