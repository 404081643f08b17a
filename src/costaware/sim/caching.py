"""Prompt-cache simulation for both providers, driven by an injectable clock.

Anthropic (explicit breakpoints). The breakpoints are the blocks carrying ``cache_control``
(tools, system blocks, message content blocks), plus the last block when the request has a
top-level ``cache_control`` (automatic caching; it uses one of the 4 slots unless that block
already has a marker). More than 4 is an error. A breakpoint whose prefix (canonical text
through its block, see ``tokens``) is below the model's minimum is ignored. The cache is keyed
by ``(model, sha256(prefix))``.

* Read: the longest prefix, at a breakpoint or up to 20 blocks before one, that is cached and
  not expired. Its TTL is refreshed. ``cache_read_input_tokens`` = its tokens.
* Write: every cacheable breakpoint after the read one is stored with its TTL (``"5m"`` default,
  ``"1h"``). ``cache_creation_input_tokens`` = tokens of the last written prefix minus the read
  tokens, split into 5m/1h by the TTL of the breakpoint that ends each stretch.
* ``input_tokens`` = prompt tokens - read - written.

OpenAI (automatic). Prompts of 1024+ tokens: token ``i`` is UTF-8 bytes ``[4i, 4i + 4)`` of the
canonical text. Prefixes of 1024, 1152, ... tokens (128-token steps, up to the prompt's length)
are stored per ``(model, prompt_cache_key)`` for 10 minutes of the clock, refreshed on use;
``cached_tokens`` = the longest stored prefix of the prompt. Nothing is billed for writes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .tokens import Block, tokens_for_length

__all__ = [
    "AnthropicPromptCache",
    "CacheUsage",
    "OpenAIPromptCache",
    "TooManyBreakpoints",
    "min_cacheable_tokens",
]

MAX_BREAKPOINTS = 4
LOOKBACK_BLOCKS = 20
OPENAI_MIN_TOKENS = 1024
OPENAI_STEP_TOKENS = 128
OPENAI_TTL_SECONDS = 600.0
_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
_PURGE_EVERY = 2048

_NEW_NAME = re.compile(r"claude-(opus|sonnet|haiku)-(\d+)(?:-(\d{1,2}))?(?![\d])")
_OLD_NAME = re.compile(r"claude-(\d+)(?:[-.](\d))?-(opus|sonnet|haiku)")


def min_cacheable_tokens(model: str) -> int:
    """Return the minimum cacheable prefix for an Anthropic model (1024 when unknown).

    4096 for Opus 4.5+ and Haiku 4.5+, 2048 for Haiku 3 / 3.5, else 1024 (Sonnet, Opus 4 / 4.1).
    """
    name = model.lower()
    match = _NEW_NAME.search(name)
    if match:
        family, major, minor = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    else:
        match = _OLD_NAME.search(name)
        if not match:
            return 1024
        family, major, minor = match.group(3), int(match.group(1)), int(match.group(2) or 0)
    version = (major, minor)
    if family == "haiku":
        return 2048 if version < (4, 0) else 4096
    if family == "opus" and version >= (4, 5):
        return 4096
    return 1024


class TooManyBreakpoints(ValueError):
    """More than 4 ``cache_control`` breakpoints in one request (a 400 from the real API)."""


@dataclass(frozen=True)
class CacheUsage:
    """The cache part of a request's usage, in tokens."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0

    @property
    def written(self) -> int:
        """All tokens written to the cache (5m + 1h)."""
        return self.write_5m + self.write_1h


class _ExpiringSet:
    """Keys with an expiry time and a TTL, refreshed on use; thread-safe."""

    def __init__(self) -> None:
        self._entries: dict[bytes, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self._inserts = 0

    def alive(self, key: bytes, now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry[0] > now

    def touch(self, key: bytes, now: float, ttl: float | None = None) -> None:
        """Store ``key`` (or refresh it with its own TTL when ``ttl`` is None)."""
        if ttl is None:
            ttl = self._entries[key][1]
        self._entries[key] = (now + ttl, ttl)
        self._inserts += 1
        if self._inserts % _PURGE_EVERY == 0:
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def lock(self) -> threading.Lock:
        return self._lock


def _ttl_of(marker: Mapping[str, Any] | None) -> str:
    ttl = marker.get("ttl") if isinstance(marker, Mapping) else None
    return ttl if ttl in _TTL_SECONDS else "5m"


def _breakpoints(blocks: Sequence[Block], auto_marker: Any) -> list[tuple[int, str]]:
    """Return ``(block index, ttl)`` for each breakpoint, in prompt order."""
    points = [(i, _ttl_of(marker)) for i, (_, marker) in enumerate(blocks) if marker is not None]
    if isinstance(auto_marker, Mapping) and blocks:
        last = len(blocks) - 1
        if not points or points[-1][0] != last:
            points.append((last, _ttl_of(auto_marker)))
    if len(points) > MAX_BREAKPOINTS:
        raise TooManyBreakpoints(
            f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(points)}."
        )
    return points


def _prefix_digests(seed: str, blocks: Sequence[Block], upto: int) -> tuple[list[bytes], list[int]]:
    """Digest and token count of the canonical prefix through each block ``0..upto``."""
    hasher = hashlib.sha256(seed.encode("utf-8") + b"\0")
    digests: list[bytes] = []
    tokens: list[int] = []
    length = 0
    for i in range(upto + 1):
        data = (blocks[i][0] if i == 0 else "\n" + blocks[i][0]).encode("utf-8")
        hasher.update(data)
        length += len(data)
        digests.append(hasher.copy().digest())
        tokens.append(tokens_for_length(length))
    return digests, tokens


class AnthropicPromptCache:
    """Anthropic's explicit prompt cache (see the module docstring)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._entries = _ExpiringSet()

    def apply(self, model: str, blocks: Sequence[Block], auto_marker: Any = None) -> CacheUsage:
        """Look up and store the request's breakpoint prefixes; return the cache usage.

        Raises ``TooManyBreakpoints`` for more than 4 breakpoints.
        """
        points = _breakpoints(blocks, auto_marker)
        if not points:
            return CacheUsage()
        digests, tokens = _prefix_digests(model, blocks, points[-1][0])
        minimum = min_cacheable_tokens(model)
        candidates = sorted(
            {j for i, _ in points for j in range(max(0, i - LOOKBACK_BLOCKS), i + 1)}, reverse=True
        )
        with self._entries.lock:
            now = self.clock()
            hit = next((j for j in candidates if self._entries.alive(digests[j], now)), -1)
            read = tokens[hit] if hit >= 0 else 0
            if hit >= 0:
                self._entries.touch(digests[hit], now)
            written = {"5m": 0, "1h": 0}
            previous = read
            for index, ttl in points:
                if index <= hit or tokens[index] < minimum:
                    continue
                self._entries.touch(digests[index], now, _TTL_SECONDS[ttl])
                written[ttl] += tokens[index] - previous
                previous = tokens[index]
        return CacheUsage(read=read, write_5m=written["5m"], write_1h=written["1h"])

    def clear(self) -> None:
        """Forget every cached prefix."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class OpenAIPromptCache:
    """OpenAI's automatic prompt cache (see the module docstring)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._entries = _ExpiringSet()

    def apply(self, model: str, canonical: str, cache_key: str | None = None) -> int:
        """Return ``cached_tokens`` for this prompt and store its prefixes."""
        data = canonical.encode("utf-8")
        total = tokens_for_length(len(data))
        if total < OPENAI_MIN_TOKENS:
            return 0
        hasher = hashlib.sha256(f"{model}\0{cache_key or ''}\0".encode())
        digests: list[tuple[int, bytes]] = []
        start = 0
        for size in range(OPENAI_MIN_TOKENS, total + 1, OPENAI_STEP_TOKENS):
            hasher.update(data[start : 4 * size])
            start = 4 * size
            digests.append((size, hasher.copy().digest()))
        with self._entries.lock:
            now = self.clock()
            cached = next((size for size, d in reversed(digests) if self._entries.alive(d, now)), 0)
            for _, digest in digests:
                self._entries.touch(digest, now, OPENAI_TTL_SECONDS)
        return cached

    def clear(self) -> None:
        """Forget every cached prefix."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
