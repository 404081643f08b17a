"""The response cache: a request already answered is answered again from the cache, at no cost.

```python
import costaware

faq_cache = costaware.ResponseCache(semantic=True, ttl="1h", namespace=lambda tenant, **_: tenant)

@costaware.cost_aware(cache=faq_cache)
def faq(question: str, tenant: str) -> str: ...
```

Two layers, both off until a scope (or ``configure(response_cache=...)``) turns them on:

- **exact**: a hash of the whole normalised request (provider, endpoint, model or tier, system prompt,
  tools, response format, sampling parameters, every turn) and of the namespace;
- **semantic** (``semantic=True``): the same request but for the wording of its last user turn. A
  candidate must share everything else exactly (its *partition*: the rest of the request and the
  namespace), be close in embedding space, *and* pass :class:`~costaware.core.paraphrase.ParaphraseRule`,
  which checks that the two wordings ask the same thing (numbers, negation, names, word order...):
  embeddings alone put "to England through Scotland" next to "to Scotland through England".

A hit is answered by the SDK itself: the request goes to a copy of the caller's client whose transport
serves the stored answer (usage zeroed), so the caller gets the SDK's own ``Message``,
``ChatCompletion``, ``Response``, stream, raw response or stream helper, and the span says it was a
hit. A store that fails is a miss with one warning, never an error in the caller's path.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from costaware.core.errors import ConfigurationError
from costaware.stores import open_response_store
from costaware.stores.responses import Entry, ResponseStore

log = logging.getLogger("costaware")

__all__ = ["ResponseCache"]

BLOCKERS = frozenset({"tool_results", "images", "n>1", "temperature"})
"""What keeps a request out of the cache unless ``allow=`` names it."""

_FORMAT = 1
"""Version of the stored payload; entries of another version are misses."""

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_ttl(ttl: Any) -> float | None:
    """Seconds from ``"30s"``, ``"15m"``, ``"1h"``, ``"7d"``, a number of seconds, a ``timedelta``, or
    ``None`` (entries never expire).

    >>> parse_ttl("1h"), parse_ttl(90), parse_ttl(None)
    (3600.0, 90.0, None)
    """
    if ttl is None:
        return None
    if isinstance(ttl, timedelta):
        seconds = ttl.total_seconds()
    elif isinstance(ttl, (int, float)) and not isinstance(ttl, bool):
        seconds = float(ttl)
    elif isinstance(ttl, str) and (match := re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*", ttl)):
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ConfigurationError(f"ttl must be like '30s', '15m', '1h', '7d', seconds or None, not {ttl!r}")
    if not seconds > 0:
        raise ConfigurationError(f"ttl must be positive, not {ttl!r}")
    return seconds


class ResponseCache:
    """Answer repeated requests from a cache: exact repeats always, paraphrases with ``semantic=True``.

    ``ttl``: how long an answer stays (``"1h"``, seconds, a ``timedelta`` or ``None``; default a day).
    ``namespace``: a hard filter, never part of what is compared: a string, or a callable given the
    decorated function's arguments by name (``lambda tenant, **_: tenant``); by default the scope's
    ``tenant``. ``store``: ``"memory://"`` (default), ``"sqlite:///file.db"`` or
    ``"redis://host:port/db"``; ``max_entries`` bounds it (least recently used entries go first).
    ``embedder``: ``"wordllama"`` (local, default; ``pip install 'costaware[semantic]'``),
    ``"openai"`` / ``"openai:<model>"`` (the embeddings endpoint through your patched client), or a
    callable ``str -> list[float]``. ``strictness`` (0..1): the one knob trading semantic hits for
    safety (see ``bench/semantic_cache.md`` for its curve). Requests with tool results, images, ``n > 1``
    or a temperature above ``max_temperature`` are not cached unless ``allow=`` names them
    (``"tool_results"``, ``"images"``, ``"n>1"``, ``"temperature"``).
    """

    is_response_cache = True
    """Recognised by the settings' validation (which sits below this module)."""

    def __init__(
        self,
        *,
        semantic: bool = False,
        ttl: Any = "1d",
        namespace: str | Callable[..., Any] | None = None,
        store: str | ResponseStore = "memory://",
        max_entries: int | None = 100_000,
        embedder: Any = "wordllama",
        strictness: float | None = None,
        max_temperature: float = 0.7,
        allow: Iterable[str] = (),
    ) -> None:
        if not isinstance(semantic, bool):
            raise ConfigurationError(f"semantic must be True or False, not {semantic!r}")
        self.semantic = semantic
        self.ttl = parse_ttl(ttl)
        if namespace is not None and not isinstance(namespace, str) and not callable(namespace):
            raise ConfigurationError(
                "namespace must be a string, a callable of the function's arguments or None"
            )
        self.namespace = namespace
        if max_entries is not None and (
            isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1
        ):
            raise ConfigurationError(f"max_entries must be a positive int or None, not {max_entries!r}")
        if isinstance(max_temperature, bool) or not isinstance(max_temperature, (int, float)):
            raise ConfigurationError(f"max_temperature must be a number, not {max_temperature!r}")
        self.max_temperature = float(max_temperature)
        allowed = frozenset(allow) if not isinstance(allow, str) else frozenset({allow})
        unknown = allowed - BLOCKERS
        if unknown:
            raise ConfigurationError(f"allow= takes {sorted(BLOCKERS)}, not {sorted(unknown)}")
        self.allow = allowed
        from costaware.core.paraphrase import ParaphraseRule

        try:
            self.rule = (
                ParaphraseRule() if strictness is None else ParaphraseRule(strictness=float(strictness))
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"strictness must be a number from 0 to 1: {exc}") from None
        self.embedder: Any = None
        if semantic:
            from costaware.steps.embedders import embedder_of

            self.embedder = embedder_of(embedder)
            warm = getattr(self.embedder, "warm", None)
            if warm is not None:  # load a local model in the background, not in the first call's path
                threading.Thread(
                    target=_quietly, args=(warm,), name="costaware-embedder", daemon=True
                ).start()
        if isinstance(store, str):
            self.store_url = store
            self.store: ResponseStore = open_response_store(store, max_entries=max_entries)
        elif isinstance(store, ResponseStore):
            self.store_url = type(store).__name__
            self.store = store
        else:
            raise ConfigurationError(f"store must be a URL or a ResponseStore, not {type(store).__name__}")
        self._guard = _StoreGuard(self.store_url)
        self._warned: set[str] = set()
        from costaware.stores.response_memory import MemoryResponseStore

        embedder_local = self.embedder is None or bool(getattr(self.embedder, "local", False))
        self.local = (
            isinstance(self.store, MemoryResponseStore) and self.store.path is None and embedder_local
        )
        """Whether a lookup does no I/O (an in-memory store and a local embedder): async code then looks
        up in the event loop instead of a worker thread."""

    def __repr__(self) -> str:
        layers = "exact+semantic" if self.semantic else "exact"
        return f"ResponseCache({layers}, store={self.store_url!r}, ttl={self.ttl})"

    def warn_once(self, topic: str, message: str) -> None:
        """Log ``message`` about this cache once per ``topic`` (a misconfiguration repeats every call)."""
        with _WARNED_LOCK:
            if topic in self._warned:
                return
            self._warned.add(topic)
        log.warning("costaware: the response cache %r: %s", self, message)

    def invalidate(self, *, key: str | None = None, namespace: str | None = None) -> int:
        """Forget one answer (by the key a span reports as ``costaware.response_cache.key``) or every
        answer of a namespace; returns how many were removed."""
        if (key is None) == (namespace is None):
            raise ConfigurationError("invalidate() takes exactly one of key= or namespace=")
        return self.store.invalidate(key=key, namespace=namespace)

    def namespace_for(self, arguments: Mapping[str, Any] | None, tenant: str | None) -> str | None:
        """The namespace of one invocation: the configured one (called with the function's arguments
        when it is a callable), else the scope's tenant, else ``""``. ``None``: the namespace function
        returned ``None`` or ``""``, so this invocation is not cached (never the shared namespace)."""
        namespace = self.namespace
        if callable(namespace):
            if arguments is None:
                raise TypeError("a namespace function needs a decorated function's arguments")
            value = namespace(**arguments)
            return None if value is None or value == "" else str(value)
        if isinstance(namespace, str):
            return namespace
        return tenant or ""


def _quietly(action: Callable[[], Any]) -> None:
    try:
        action()
    except Exception as exc:  # the first lookup loads it again and fails there, as a miss
        log.warning("costaware: could not load the response cache's embedder: %r", exc)


# -- one call's use of the cache --------------------------------------------------------------------


@dataclass
class Plan:
    """What a call looks up and, on a miss, stores."""

    cache: ResponseCache
    key: str
    partition: str
    namespace: str
    question: str | None
    vector: Any = None


@dataclass(frozen=True)
class Hit:
    """A cached answer for a call."""

    layer: str
    """``"exact"`` or ``"semantic"``."""
    key: str
    final: dict[str, Any]
    """The stored answer in the SDK's wire form."""
    cost: Decimal | None
    """What the answer cost when it was made (what this hit saved); ``None`` if unpriced."""
    age_s: float
    similarity: float | None = None
    verdict: str | None = None


@dataclass(frozen=True)
class Lookup:
    """The cache's part of a call's outcome (for the span and metrics)."""

    result: str
    """``"exact_hit"``, ``"semantic_hit"``, ``"miss"``, ``"skipped"`` or ``"error"``."""
    key: str | None = None
    hit: Hit | None = None
    skipped: str | None = None
    """Why the request was not cached: a blocker (``"tool_results"``, ``"images"``, ``"n>1"``,
    ``"temperature"``...), ``"no_namespace"`` (the namespace function returned ``None`` or ``""``) or
    ``"namespace_error"`` (it raised)."""
    rejected: tuple[str, ...] = ()
    """Semantic candidates above the similarity threshold that the paraphrase rule turned down: why."""
    checks: tuple[str, ...] = ()
    """The check that turned each of them down (``"numbers differ"``...): bounded, for metrics."""
    best_similarity: float | None = None
    stored: bool = False
    evicted: int = 0
    """Entries the store evicted to make room for this call's answer."""


_WARNED_LOCK = threading.Lock()

_TRANSPORT_HEADERS = (
    "x-stainless-",
    "idempotency-key",
    "x-request-id",
    "traceparent",
    "tracestate",
    "baggage",
)
"""Request headers that never change an answer: the SDKs' own bookkeeping (``with_raw_response`` sends
``X-Stainless-Raw-Response``) and tracing. Every other header a call adds (``anthropic-beta``...) keys."""


def family_of(endpoint: str, base_url: str, extra_headers: Any) -> str:
    """What the key says about where a request goes: the endpoint, the server (an answer from one
    gateway or region never answers another's) and the headers that may change the answer.

    >>> family_of("p.messages", "https://a/v1", {"X-Stainless-Raw-Response": "true"})
    'p.messages https://a/v1'
    >>> family_of("p.messages", "https://a/v1", {"Some-Beta": "x"})
    'p.messages https://a/v1 some-beta=x'
    """
    family = f"{endpoint} {base_url}"
    if isinstance(extra_headers, Mapping) and extra_headers:
        kept = sorted(
            f"{name.lower()}={value}"
            for name, value in extra_headers.items()
            if isinstance(name, str) and not name.lower().startswith(_TRANSPORT_HEADERS)
        )
        if kept:
            family += " " + " ".join(kept)
    return family


def _digest(*parts: str) -> str:
    hasher = hashlib.blake2b(digest_size=20)
    for part in parts:
        hasher.update(part.encode("utf-8", "surrogatepass"))
        hasher.update(b"\x00")
    return hasher.hexdigest()


def plan(
    cache: ResponseCache, endpoint: Any, family: str, kwargs: Mapping[str, Any], namespace: str
) -> Plan | Lookup:
    """The keys of a request, or a ``skipped`` :class:`Lookup` when it is not to be cached."""
    parts = endpoint.replay.cache_parts(kwargs)
    blockers = [b for b in parts.blockers if b not in cache.allow]
    too_hot = parts.temperature is not None and parts.temperature > cache.max_temperature
    if too_hot and "temperature" not in cache.allow:
        blockers.append("temperature")
    if blockers:
        return Lookup("skipped", skipped=blockers[0])
    partition = _digest("partition", namespace, family, parts.context)
    key = _digest("exact", namespace, family, parts.context, parts.question or "")
    question = parts.question
    if question is not None and not question.isascii():  # a lone surrogate cannot be stored or embedded
        question = question.encode("utf-8", "replace").decode("utf-8")
    return Plan(cache, key, partition, namespace, question)


def look_up(plan_: Plan, now: float | None = None) -> Lookup:
    """The exact layer, then the semantic one. Never raises: a failing store is a miss (one warning)."""
    cache = plan_.cache
    guard = cache._guard
    if not guard.usable():
        return Lookup("error", key=plan_.key)
    now = time.time() if now is None else now
    try:
        entry = cache.store.get(plan_.key)
        if entry is not None:
            hit = _hit_of(entry, "exact", now)
            if hit is not None:
                return Lookup("exact_hit", key=plan_.key, hit=hit)
    except Exception as exc:
        guard.failed(exc)
        return Lookup("error", key=plan_.key)
    if not (cache.semantic and plan_.question):
        return Lookup("miss", key=plan_.key)
    try:
        plan_.vector = cache.embedder.embed(plan_.question)
    except Exception as exc:  # this question only (too long for an embeddings API...): exact layer only
        cache.warn_once("embedder", f"its embedder failed ({exc!r}): such calls use the exact layer only")
        return Lookup("miss", key=plan_.key)
    try:
        found = cache.store.candidates(plan_.partition, plan_.vector, 8, cache.rule.min_similarity)
    except Exception as exc:
        guard.failed(exc)
        return Lookup("error", key=plan_.key)
    guard.succeeded()
    rejected: list[str] = []
    checks: list[str] = []
    for similarity, candidate in found:
        verdict = cache.rule.decide(similarity, candidate.question, plan_.question)
        if not verdict.same:
            rejected.append(verdict.reason)
            checks.append(verdict.check)
            continue
        hit = _hit_of(candidate, "semantic", now, similarity, verdict.reason)
        if hit is None:
            continue
        try:
            cache.store.touch(candidate.key)
        except Exception as exc:
            guard.failed(exc)
        return Lookup("semantic_hit", key=plan_.key, hit=hit, rejected=tuple(rejected), checks=tuple(checks))
    best = found[0][0] if found else None
    return Lookup("miss", key=plan_.key, rejected=tuple(rejected), checks=tuple(checks), best_similarity=best)


def _hit_of(
    entry: Entry, layer: str, now: float, similarity: float | None = None, verdict: str | None = None
) -> Hit | None:
    try:
        payload = json.loads(entry.payload)
        if payload.get("v") != _FORMAT or not isinstance(payload.get("final"), dict):
            return None
        cost = payload.get("cost")
        return Hit(
            layer=layer,
            key=entry.key,
            final=payload["final"],
            cost=Decimal(cost) if isinstance(cost, str) else None,
            age_s=max(0.0, now - entry.created_at),
            similarity=similarity,
            verdict=verdict,
        )
    except (ValueError, TypeError, ArithmeticError):
        return None  # a corrupt entry is a miss


def store(
    plan_: Plan, final: Mapping[str, Any], cost: Decimal | None, now: float | None = None
) -> int | None:
    """Keep an answer for the plan's request; returns how many entries the store evicted for it, or
    ``None`` (after one warning) when the store failed."""
    cache = plan_.cache
    guard = cache._guard
    if not guard.usable():
        return None
    now = time.time() if now is None else now
    try:
        evictions = cache.store.evictions
        vector = plan_.vector
        if vector is None and cache.semantic and plan_.question:
            try:
                vector = cache.embedder.embed(plan_.question)
            except Exception:  # warned at the lookup: kept for the exact layer only
                vector = None
        payload = json.dumps(
            {"v": _FORMAT, "final": final, "cost": None if cost is None else str(cost)},
            separators=(",", ":"),
        ).encode()
        cache.store.put(
            Entry(
                key=plan_.key,
                partition=plan_.partition,
                namespace=plan_.namespace,
                question=plan_.question or "",
                vector=vector,
                payload=payload,
                created_at=now,
                expires_at=None if cache.ttl is None else now + cache.ttl,
            )
        )
        evicted = max(0, cache.store.evictions - evictions)  # approximate under concurrent writers
    except Exception as exc:
        guard.failed(exc)
        return None
    guard.succeeded()
    return evicted


_WRITER: Any = None
_WRITER_LOCK = threading.Lock()


def _forget_writer() -> None:
    """In a forked child the writer's thread does not exist: the child makes its own on first use."""
    global _WRITER, _WRITER_LOCK, _pending
    _WRITER, _WRITER_LOCK, _pending = None, threading.Lock(), 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_writer)


MAX_PENDING_WRITES = 1000
"""Answers waiting for a slow shared store, at most; beyond, new ones are not cached (memory stays
bounded when the store is slower than the calls)."""

_pending = 0


def store_later(plan_: Plan, final: Mapping[str, Any], cost: Decimal | None) -> None:
    """:func:`store` on a worker thread (for async calls: the event loop does not wait for the store)."""
    global _WRITER, _pending
    with _WRITER_LOCK:
        if _pending >= MAX_PENDING_WRITES:
            full = True
        else:
            full = False
            _pending += 1
            if _WRITER is None:
                from concurrent.futures import ThreadPoolExecutor

                _WRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="costaware-cache")
            writer = _WRITER
    if full:
        plan_.cache.warn_once(
            "backlog",
            f"its store is slower than the calls: over {MAX_PENDING_WRITES} "
            "answers waiting, newer ones are not cached",
        )
        return
    writer.submit(_store_pending, plan_, final, cost, time.time())


def _store_pending(plan_: Plan, final: Mapping[str, Any], cost: Decimal | None, now: float) -> None:
    global _pending
    try:
        store(plan_, final, cost, now)
    finally:
        with _WRITER_LOCK:
            _pending -= 1


class _StoreGuard:
    """After a store failure, skip the store for a few seconds (so an unreachable store costs one
    timeout, not one per call), and warn once per outage."""

    RETRY_AFTER = 5.0

    def __init__(self, name: str) -> None:
        self._name = name
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def usable(self) -> bool:
        return time.monotonic() >= self._down_until

    def failed(self, error: BaseException) -> None:
        with self._lock:
            self._down_until = time.monotonic() + self.RETRY_AFTER
            warn, self._warned = not self._warned, True
        if warn:
            log.warning(
                "costaware: the response cache store %s (or its embedder) failed (%s: %s); calls go to "
                "the provider (cache misses) until it is back",
                self._name,
                type(error).__name__,
                error,
            )

    def succeeded(self) -> None:
        if self._warned:
            with self._lock:
                self._warned = False


# -- replay: the SDK answers from a stored body ------------------------------------------------------

REPLAY: contextvars.ContextVar[tuple[str, bytes] | None] = contextvars.ContextVar(
    "costaware_replay", default=None
)
"""The (content type, body) the replay transport serves to the request being made in this context."""


def serve(http: Any, request: Any) -> Any:
    """The replay client's answer to ``request`` (``http``: the SDK's HTTP library): the stored body
    in :data:`REPLAY`. Outside a replay it refuses to connect, so a replay client never reaches the
    network."""
    body = REPLAY.get()
    if body is None:
        raise http.ConnectError("costaware's replay client has no cached answer to serve", request=request)
    content_type, content = body
    return http.Response(
        200,
        headers={"content-type": content_type, "x-costaware-cache": "hit"},
        content=content,
        request=request,
    )
