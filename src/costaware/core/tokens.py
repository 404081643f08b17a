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

import json
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
"""Nesting :func:`json_size` walks; below it, a value is serialised to be measured (``json`` raises
``ValueError`` there on a cycle, as it would for the whole request)."""


def json_size(value: object, depth: int = 0) -> int:
    """The UTF-8 bytes of ``value`` as ``json.dumps(value, ensure_ascii=False, default=str)`` writes
    it, escapes left out (``"``, ``\\`` and control characters count one byte, not two or six, as a
    tokenizer sees them), measured without writing it: a request's long strings are measured, not
    copied (serialising a 400 KB prompt to measure it took as long as the SDK's own serialisation).
    Any mapping is measured as a JSON object (``json`` writes a mapping other than a dict as its
    ``str``, a similar size). Past :data:`MAX_DEPTH` levels a value is serialised instead; a cycle
    raises ``ValueError`` there, as ``json.dumps`` of the whole value would.

    >>> import json
    >>> request = {"messages": [{"role": "user", "content": "Caf\u00e9"}], "max_tokens": 5, "n": None}
    >>> json_size(request) == len(json.dumps(request, ensure_ascii=False).encode("utf-8"))
    True
    """
    if type(value) is str:  # the common leaves are measured here and in the loops below, without a call
        return 2 + (len(value) if value.isascii() else _utf8(value))
    if depth >= MAX_DEPTH and isinstance(value, (list, tuple, Mapping)):
        return _utf8(_DEEP_JSON.encode(value))  # raises ValueError on a cycle
    if isinstance(value, (list, tuple)):
        size = 2 * len(value) if value else 2  # [] and ", " between items
        for item in value:
            if type(item) is str:
                size += 2 + (len(item) if item.isascii() else _utf8(item))
            else:
                size += json_size(item, depth + 1)
        return size
    if isinstance(value, Mapping):
        size = 6 * len(value) if value else 2  # {}, ", " between items, the quotes and ": " of each key
        for key, item in value.items():
            size += len(key) if type(key) is str and key.isascii() else _key_size(key)
            if type(item) is str:
                size += 2 + (len(item) if item.isascii() else _utf8(item))
            else:
                size += json_size(item, depth + 1)
        return size
    return _scalar_size(value)


def _utf8(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _key_size(key: object) -> int:
    """A mapping key's characters as ``json`` writes them (without quotes): a ``str`` (an enum's too)
    as its own text, numbers and constants converted, anything else as its ``str``."""
    if isinstance(key, str):
        return _utf8(key)
    if key is None or isinstance(key, (bool, int, float)):
        return _scalar_size(key)
    return _utf8(str(key))


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


_DEEP_JSON = json.JSONEncoder(default=str, ensure_ascii=False)
"""Serialises what is nested past :data:`MAX_DEPTH` (made once: ``json.dumps`` with options builds one
per call)."""

_NON_FINITE = {"nan": 3, "inf": 8, "-inf": 9}
"""What ``json`` writes for them: NaN, Infinity, -Infinity."""
