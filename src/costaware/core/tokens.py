"""Token counts without a tokenizer or the network: every estimate costaware makes comes from here.

Two estimates, for two different questions:

- :func:`typical_tokens` (``ceil(utf8 bytes / 4)``): about what a prompt takes on English text, the
  figure the prompt-cache planner compares with a model's minimum cacheable prefix (an estimate a
  little off only moves where a breakpoint goes), and the one the routing explanation shows;
- :func:`tokens_at_most` (``ceil(utf8 bytes / 3) + 8``): never below what a real tokenizer counts (~4
  bytes a token on English, one token per 3-byte CJK character), the figure a budget's worst case needs:
  an undercount there could overspend.

>>> typical_tokens("abcdefgh"), tokens_at_most("abcdefgh")
(2, 11)
"""

from __future__ import annotations

BYTES_PER_TOKEN = 4
"""Typical UTF-8 bytes per token on English text (and the simulator's exact formula)."""

BYTES_PER_TOKEN_AT_MOST = 3
"""Fewest bytes per token a real tokenizer gives on ordinary text (a CJK character: 3 bytes, 1 token)."""

_MARGIN = 8
"""Tokens a provider adds around a prompt (role and message framing), added to the upper bound."""


def typical_tokens(text: str) -> int:
    """``ceil(utf8 bytes / 4)``.

    >>> typical_tokens(""), typical_tokens("abcd"), typical_tokens("abcde")
    (0, 1, 2)
    """
    return (len(text.encode("utf-8")) + BYTES_PER_TOKEN - 1) // BYTES_PER_TOKEN


def typical_tokens_of_length(characters: int) -> int:
    """:func:`typical_tokens` of a text known only by its size: UTF-8 bytes (characters, for ASCII).

    >>> typical_tokens_of_length(9)
    3
    """
    return -(-characters // BYTES_PER_TOKEN)


def tokens_at_most(text: str) -> int:
    """An upper bound on ``text``'s tokens: ``ceil(utf8 bytes / 3) + 8``.

    >>> tokens_at_most(""), tokens_at_most("abc"), tokens_at_most("\u4e2d\u6587")
    (8, 9, 10)
    """
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN_AT_MOST) + _MARGIN
