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

from collections.abc import Mapping

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
    return tokens_at_most_of_size(len(text.encode("utf-8")))


def tokens_at_most_of_size(size: int) -> int:
    """:func:`tokens_at_most` of a text known by its size in UTF-8 bytes (such as :func:`json_size`).

    >>> tokens_at_most_of_size(6)
    10
    """
    return -(-size // BYTES_PER_TOKEN_AT_MOST) + _MARGIN


MAX_DEPTH = 64
"""Nesting :func:`json_size` follows; deeper (or a cycle) raises ``ValueError``, as ``json`` does."""


def json_size(value: object, depth: int = 0) -> int:
    """The UTF-8 bytes of ``value`` as ``json.dumps(value, ensure_ascii=False, default=str)`` writes
    it, escapes left out (``"``, ``\\`` and control characters count one byte, not two or six, as a
    tokenizer sees them), measured without writing it: a request's long strings are measured, not
    copied (serialising a 400 KB prompt to measure it took as long as the SDK's own serialisation).
    ``ValueError`` past :data:`MAX_DEPTH` levels of nesting (a cycle), as ``json`` raises on a cycle.

    >>> import json
    >>> request = {"messages": [{"role": "user", "content": "Caf\u00e9"}], "max_tokens": 5, "n": None}
    >>> json_size(request) == len(json.dumps(request, ensure_ascii=False).encode("utf-8"))
    True
    """
    if type(value) is str:  # the common leaves are measured here and in the loops below, without a call
        return 2 + (len(value) if value.isascii() else _utf8(value))
    if isinstance(value, (list, tuple)):
        if depth >= MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep (or circular)")
        size = 2 * len(value) if value else 2  # [] and ", " between items
        for item in value:
            if type(item) is str:
                size += 2 + (len(item) if item.isascii() else _utf8(item))
            else:
                size += json_size(item, depth + 1)
        return size
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            raise ValueError(f"nested more than {MAX_DEPTH} levels deep (or circular)")
        size = 6 * len(value) if value else 2  # {}, ", " between items, the quotes and ": " of each key
        for key, item in value.items():
            size += len(key) if type(key) is str and key.isascii() else json_size(str(key)) - 2
            if type(item) is str:
                size += 2 + (len(item) if item.isascii() else _utf8(item))
            else:
                size += json_size(item, depth + 1)
        return size
    return _scalar_size(value)


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _scalar_size(value: object) -> int:
    if isinstance(value, str):  # a str subclass
        return 2 + _utf8(value)
    if value is None or value is True:
        return 4  # null, true
    if value is False:
        return 5
    if isinstance(value, int):
        return len(int.__repr__(value))
    if isinstance(value, float):
        return _NON_FINITE.get(float.__repr__(value)) or len(float.__repr__(value))
    return json_size(str(value))


_NON_FINITE = {"nan": 3, "inf": 8, "-inf": 9}
"""What ``json`` writes for them: NaN, Infinity, -Infinity."""
