"""The prompt-cache planner: where to put Anthropic ``cache_control`` breakpoints, which OpenAI
``prompt_cache_key`` to send, and what a call's cache reads saved and its writes cost.

Pure: no SDK, no OpenTelemetry, no I/O. The pipeline calls :func:`plan_anthropic` with an SDK
call's keyword arguments before sending, then :func:`apply` to get *new* kwargs (the caller's dicts
and lists are never mutated: only what changes is copied)::

    plan = plan_anthropic(kwargs, model=model, tracker=tracker, now=time.monotonic())
    response = client.messages.create(**apply(kwargs, plan))

Where breakpoints go (Anthropic)
--------------------------------
Candidates, in the API's prefix order tools -> system -> messages:

* **tools**: the last tool (a tools-only prefix survives a changing system prompt);
* **system**: the last system block (a string ``system`` becomes a one-block list to carry it);
* **conversation tail**: the last content block of the last user message, when the conversation is
  *growing*: an earlier message boundary of this request is a prefix this tracker saw (the previous
  turn's tail), so marking the tail now lets the next turn read it; also when the very same prompt
  was seen before (a repeated call);
* **stable history**: when the history before the last user message was seen before with a different
  last message (several questions over one document, a regenerated answer), the last block of the
  message that ends that shared history;
* **bridge**: in a growing conversation whose new part is more than 20 blocks long, the previous
  turn's tail is marked too, because the API only looks 20 blocks back from a breakpoint for a hit.

Rules: at most 4 breakpoints including the caller's own (with few slots left, a conversation or
history breakpoint wins, as its prefix holds the system prompt too, then the system prompt, then
the tools, then a bridge); the caller's markers are never moved, changed or removed, and a block
the caller marked is not marked again; a top-level ``cache_control`` (automatic caching) makes the
planner do nothing; no breakpoint whose prefix is below the model's minimum
(:func:`min_cacheable_tokens`), and a request whose whole estimate is under half that minimum is
neither planned nor remembered (its conversation's next turn would have to more than double it to
be cacheable; that turn's breakpoint then waits one turn); a 1h breakpoint never follows a 5m one
(the API requires longer TTLs first: our 5m markers before a 1h one are upgraded, and a 1h marker of
ours that would follow a 5m marker of the caller's is dropped). Token counts are estimates
(``estimate_tokens``, by default ``ceil(utf8 bytes / 4)`` over the canonical serialisation that the
simulator uses); a marker placed on a prefix the real tokenizer counts under the minimum is
harmless: the API caches nothing there and raises no error.

When a breakpoint pays (the TTL rule)
-------------------------------------
Per token of the marked prefix, in units of the base input price: no caching costs 1 per call; a
5m write costs 1.25 and a 1h write 2, a read 0.1, and a read refreshes the entry's TTL. So:

* a 5m write followed by ``r`` reads costs ``1.25 + 0.1 r`` against ``1 + r``: it pays from the
  first read (1.35 < 2); unread it costs 0.25 more;
* a 1h write costs ``2 + 0.1 r`` against ``1 + r``: one read loses 0.1 (2.1 > 2), two reads win
  (2.2 < 3); unread it costs 1 more;
* when every gap between uses is at most 5 minutes the 5m entry never lapses (reads refresh it), so
  5m is always cheaper; when gaps exceed 5 minutes but stay under an hour, every 5m write lapses
  unread (1.25 a call, worse than not caching) while one 1h write is read by every later call;
  gaps over an hour make every write lapse: no breakpoint.

The :class:`ReuseTracker` remembers, per prefix (a hash), when it was last seen and its last four
gaps between sightings (gaps over an hour start a new history: the cache would have lapsed).
With ``gaps`` the last four gaps, the current one (now - last seen) included: max(gaps) <= 5 min
gives **5m**; 5 min < max(gaps) <= 1 h gives **1h** once at least two such gaps were observed (a 1h
write needs two reads to pay, and one recurrence is weak evidence of two more), otherwise no
breakpoint yet. The max, not the mean: one long gap is enough to make a 5m entry
lapse. A conversation's tail is new every turn, so its history is the conversation's: each turn's
tail inherits the gaps of the previous turn's.

A prefix never seen (or last seen over an hour ago) gets no breakpoint, except a tools/system
prefix under ``CachePolicy.eager_static`` (the default): system prompts and tool definitions are
usually shared by many calls, so the first call writes them (5m). That bet pays when the chance
``p`` of a reuse within 5 minutes satisfies ``0.9 p > 0.25 (1 - p)``, i.e. ``p > 0.25 / 1.15 ~ 22%``
(a read saves 0.9, an unread write loses 0.25). The tracker measures ``p`` over the new static
prefixes it sees (smoothed, decaying), and eager marking stops while it is below that break-even,
e.g. for a system prompt that embeds a timestamp and so is new on every call.

OpenAI
------
OpenAI caches prompts of 1024+ tokens automatically (in 128-token steps, no write fee), routed by a
hash of the prompt's start and ``prompt_cache_key``. :func:`openai_cache_key` derives a stable key
from the stable prefix (tools + leading system/developer messages, or Responses ``instructions``)
when that prefix is itself 1024+ tokens, so requests sharing it are steered to the same cache;
a caller's own key is always kept.
"""

from __future__ import annotations

from costaware.core.caching.openai import apply_openai, openai_cache_key
from costaware.core.caching.planner import apply, plan_anthropic
from costaware.core.caching.reading import DEFAULT_POLICY, Breakpoint, CachePlan, CachePolicy
from costaware.core.caching.savings import CacheCounts, cache_savings
from costaware.core.caching.tracker import (
    LONG_TTL_S,
    MAX_BREAKPOINTS,
    OPENAI_MIN_TOKENS,
    SHORT_TTL_S,
    TTL,
    ReuseTracker,
    Sighting,
    estimate_tokens,
    min_cacheable_tokens,
)

__all__ = [
    "DEFAULT_POLICY",
    "LONG_TTL_S",
    "MAX_BREAKPOINTS",
    "OPENAI_MIN_TOKENS",
    "SHORT_TTL_S",
    "TTL",
    "Breakpoint",
    "CacheCounts",
    "CachePlan",
    "CachePolicy",
    "ReuseTracker",
    "Sighting",
    "apply",
    "apply_openai",
    "cache_savings",
    "estimate_tokens",
    "min_cacheable_tokens",
    "openai_cache_key",
    "plan_anthropic",
]
