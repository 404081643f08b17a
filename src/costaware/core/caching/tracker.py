"""Token estimates, per-model minimum cacheable prefixes, and the reuse tracker."""

from __future__ import annotations

import functools
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from costaware.core.tokens import typical_tokens

TTL = Literal["5m", "1h"]
Section = Literal["tools", "system", "messages"]

MAX_BREAKPOINTS = 4
SHORT_TTL_S = 300.0
LONG_TTL_S = 3600.0
OPENAI_MIN_TOKENS = 1024
_MAX_GAPS = 4  # gaps remembered per prefix
_EAGER_BREAK_EVEN = 0.25 / 1.15  # P(reuse within 5m) above which an eager 5m write pays
_EAGER_DECAY_AT = 256.0  # halve the eager statistics past this many new prefixes: adapt to change
_UNMARKABLE_TYPES = frozenset({"thinking", "redacted_thinking"})  # the API rejects cache_control there


estimate_tokens = typical_tokens
"""The planner's default token estimate: :func:`costaware.core.tokens.typical_tokens`."""


# -- minimum cacheable prefix ------------------------------------------------------------------

# (family, lowest version, minimum tokens): the first row whose family matches and whose version is
# at or above the model's wins. Models matching no row (unknown names, other families) get 1024.
_MIN_TOKENS_TABLE: tuple[tuple[str, tuple[int, int], int], ...] = (
    ("opus", (4, 5), 4096),
    ("haiku", (4, 5), 4096),
    ("haiku", (3, 0), 2048),
    ("opus", (3, 0), 1024),
    ("sonnet", (3, 0), 1024),
)
_UNKNOWN_MIN_TOKENS = 1024
_NEW_NAME = re.compile(r"claude-(opus|sonnet|haiku)-(\d{1,2})(?:[-.](\d{1,2}))?(?!\d)")
_OLD_NAME = re.compile(r"claude-(\d{1,2})(?:[-.](\d{1,2}))?-(opus|sonnet|haiku)")


def _model_version(model: str) -> tuple[str, tuple[int, int]] | None:
    """``claude-opus-4-5-20251101`` -> ``("opus", (4, 5))``; ``claude-3-5-haiku`` -> ``("haiku", (3, 5))``.

    A date suffix (``-20250514``) is not a minor version: only 1-2 digit parts count.
    """
    name = model.lower()
    match = _NEW_NAME.search(name)
    if match:
        return match.group(1), (int(match.group(2)), int(match.group(3) or 0))
    match = _OLD_NAME.search(name)
    if match:
        return match.group(3), (int(match.group(1)), int(match.group(2) or 0))
    return None


@functools.lru_cache(maxsize=256)
def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix ``model`` caches: 4096 (Opus 4.5+, Haiku 4.5), 2048 (Haiku 3 / 3.5),
    1024 (Sonnet, Opus 4 / 4.1, and any model not in the table).

    >>> min_cacheable_tokens("claude-opus-4-5"), min_cacheable_tokens("claude-3-5-haiku-20241022")
    (4096, 2048)
    """
    parsed = _model_version(model)
    if parsed is not None:
        family, version = parsed
        for row_family, lowest, tokens in _MIN_TOKENS_TABLE:
            if family == row_family and version >= lowest:
                return tokens
    return _UNKNOWN_MIN_TOKENS


# -- the reuse tracker -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sighting:
    """What a :class:`ReuseTracker` remembers of one prefix."""

    last_seen: float
    """When it was last seen (the planner's clock, seconds)."""
    count: int
    """How many times it was seen (a conversation tail counts its conversation's turns)."""
    gaps: tuple[float, ...] = ()
    """The last few gaps between sightings, oldest first, all at most an hour."""


@dataclass(slots=True)
class _Entry:
    sighting: Sighting
    fresh: bool  # a new static prefix whose first repeat has not been seen yet


class ReuseTracker:
    """Recently seen prompt prefixes (hashes) and when: the planner's memory. Thread-safe.

    Memory is bounded: the least recently recorded prefix is forgotten past ``max_entries``
    (a few hundred bytes each). One tracker per process (or per tenant) is enough; the pipeline owns it.
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries!r}")
        self._max_entries = max_entries
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._new_static = 0.0  # static prefixes seen for the first time (decayed)
        self._reused_static = 0.0  # ...of which were seen again within 5 minutes (decayed)

    def sighting(self, key: bytes) -> Sighting | None:
        """What is remembered of ``key``, if anything."""
        with self._lock:
            entry = self._entries.get(key)
            return None if entry is None else entry.sighting

    def record(self, key: bytes, now: float, *, inherit: bytes | None = None, static: bool = False) -> None:
        """Remember that ``key`` was seen at ``now``.

        ``inherit``: a new key continues that key's history (a conversation's new tail continues
        the previous turn's). ``static``: a tools/system prefix, counted in :attr:`eager_reuse_rate`.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and now - entry.sighting.last_seen <= LONG_TTL_S:
                gap = max(now - entry.sighting.last_seen, 0.0)
                if static and entry.fresh and gap <= SHORT_TTL_S:
                    self._reused_static += 1
                entry.sighting = _next_sighting(entry.sighting, now)
                entry.fresh = False
            else:
                parent = self._entries.get(inherit) if inherit is not None else None
                if parent is not None and now - parent.sighting.last_seen <= LONG_TTL_S:
                    sighting = _next_sighting(parent.sighting, now)
                else:
                    sighting = Sighting(last_seen=now, count=1 if entry is None else entry.sighting.count + 1)
                if static:
                    self._count_new_static()
                entry = _Entry(sighting, fresh=static)
                self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def _count_new_static(self) -> None:
        self._new_static += 1
        if self._new_static >= _EAGER_DECAY_AT:
            self._new_static /= 2
            self._reused_static /= 2

    @property
    def eager_reuse_rate(self) -> float:
        """How often a new tools/system prefix was seen again within 5 minutes (smoothed: starts at 1/2)."""
        with self._lock:
            return (self._reused_static + 1) / (self._new_static + 2)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._new_static = self._reused_static = 0.0

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


def _next_sighting(previous: Sighting, now: float) -> Sighting:
    gap = max(now - previous.last_seen, 0.0)
    return Sighting(last_seen=now, count=previous.count + 1, gaps=(*previous.gaps, gap)[-_MAX_GAPS:])
