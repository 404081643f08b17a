"""Deterministic simulated answers: the same prompt always gets the same text.

The answer is seeded by the canonical text of the last user turn (``tokens.last_user_text``):
``sha256`` of it picks a target length of 20..200 tokens and the words. Sentences are added
until the text reaches the target, so ``count_tokens(answer)`` is close to (at least) the
target. A ``max_tokens`` limit cuts the text to its first ``4 * max_tokens`` characters (the
vocabulary is ASCII), which makes ``count_tokens`` of a cut answer exactly ``max_tokens``.

OpenAI reasoning models (names starting ``o1``, ``o3``, ``o4`` or ``gpt-5``, except ``*-chat*``;
and not when the request's reasoning effort is ``"none"``) also spend reasoning tokens, as
many as the untruncated answer has tokens. They count towards the output limit first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from .tokens import count_tokens

__all__ = ["Answer", "answer_text", "is_reasoning_model", "make_answer", "split_for_stream"]

_WORDS = (
    "the", "model", "answer", "token", "cost", "cache", "prompt", "budget", "route", "simple",
    "request", "reply", "quick", "steady", "signal", "value", "price", "result", "clear", "local",
    "we", "can", "see", "that", "this", "is", "a", "good", "plan", "for", "each", "call",
    "every", "small", "large", "step", "data", "note", "check", "trace", "count", "fair",
    "light", "fast", "safe", "sure", "it", "will", "keep", "track", "of", "spend", "and", "time",
    "test", "policy", "limit", "retry", "once", "more", "still", "works", "well", "here",
)  # fmt: skip


@dataclass(frozen=True)
class Answer:
    """A simulated completion: visible text and the token counts the wire formats report."""

    text: str
    output_tokens: int  # visible tokens + reasoning tokens
    reasoning_tokens: int
    truncated: bool


@lru_cache(maxsize=4096)
def answer_text(seed: str) -> str:
    """Return the full (untruncated) deterministic answer for ``seed``."""
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    limit = 4 * (20 + int.from_bytes(digest[:2], "big") % 181)
    stream = _byte_stream(digest)
    sentences: list[str] = []
    size = -1  # no space before the first sentence
    while size < limit:
        words: list[str] = []
        n_words = 6 + next(stream) % 8
        while len(words) < n_words and size < limit:
            words.append(_WORDS[next(stream) % len(_WORDS)])
            size += len(words[-1]) + 1
        sentences.append(" ".join(words).capitalize() + ".")
        size += 1  # the full stop
    return " ".join(sentences)


def _byte_stream(digest: bytes) -> Iterator[int]:
    counter = 0
    while True:
        yield from hashlib.sha256(digest + counter.to_bytes(4, "big")).digest()
        counter += 1


def is_reasoning_model(model: str, effort: object = None) -> bool:
    """Return whether the simulator gives ``model`` reasoning tokens (OpenAI o-series, gpt-5)."""
    if effort == "none":
        return False
    name = model.lower().rsplit("/", 1)[-1]
    if "-chat" in name:
        return False
    return name.startswith(("o1", "o3", "o4", "gpt-5"))


def make_answer(
    seed: str, *, max_tokens: int | None, reasoning: bool = False, text: str | None = None
) -> Answer:
    """Build the answer for ``seed`` (or ``text``, when given), cut to ``max_tokens`` output tokens
    (reasoning first)."""
    full = answer_text(seed) if text is None else text
    visible = count_tokens(full)
    reasoning_tokens = visible if reasoning else 0
    if max_tokens is None or reasoning_tokens + visible <= max_tokens:
        return Answer(full, reasoning_tokens + visible, reasoning_tokens, False)
    budget = max(int(max_tokens), 0)
    reasoning_tokens = min(reasoning_tokens, budget)
    text = full[: 4 * (budget - reasoning_tokens)]
    return Answer(text, reasoning_tokens + count_tokens(text), reasoning_tokens, True)


def split_for_stream(text: str, words_per_delta: int = 4) -> list[str]:
    """Split ``text`` into stream deltas of a few words each; ``"".join`` gives it back."""
    if not text:
        return []
    words = text.split(" ")
    deltas = [" ".join(words[i : i + words_per_delta]) + " " for i in range(0, len(words), words_per_delta)]
    deltas[-1] = deltas[-1][:-1]
    return [d for d in deltas if d]
