"""Routing and cascades inside the pipeline: apply a policy's decision, escalate rejected answers,
downgrade a call that does not fit its budget. The decisions themselves are pure (``core/routing``)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from costaware.core.caching import min_cacheable_tokens
from costaware.core.routing import (
    Answer,
    AutoClassifier,
    Cascade,
    Decision,
    ToolCall,
    cheapest_fitting,
    provider_of_model,
    requested_json,
    route,
)
from costaware.core.routing.router import auto_classifier
from costaware.core.routing.warmth import StaticPrefix, characters_after, leave_cutoff, static_prefix
from costaware.core.tokens import typical_tokens, typical_tokens_of_length

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

    from costaware.config import Settings
    from costaware.core.pricing import PriceBook
    from costaware.core.routing.tiers import Ladders
    from costaware.core.types import CallRequest
    from costaware.current import Scope
    from costaware.providers.base import Endpoint, PatchTarget

log = logging.getLogger("costaware")


class Machinery(Protocol):
    """What routing reads of the configured runtime (``costaware.pipeline.runtime.Runtime``)."""

    settings: Settings
    prices: PriceBook
    affinity: Affinity

    @property
    def ladders(self) -> Ladders:
        """The tier ladders: defaults, ``COSTAWARE_TIERS``, ``configure(tiers=...)``."""
        ...

    def warn_once(self, key: str, message: str, *args: Any, exc_info: BaseException | None = None) -> None:
        """Log a warning the first time this runtime sees ``key``."""
        ...


class Routable(Protocol):
    """The request being prepared (``costaware.steps.prepare.Prepared``): routing replaces its
    kwargs and records its decision, cascade, footprint and span attributes."""

    kwargs: dict[str, Any]
    attributes: list[tuple[str, Any]]
    cascade: Any
    decision: Any
    footprint: Any


class Budgets(Protocol):
    """What a budget downgrade asks of a call's budgets (``costaware.steps.spend.SpendGuard``)."""

    def worst_case(
        self, endpoint: Endpoint, model: str | None, kwargs: Mapping[str, Any]
    ) -> Decimal | None: ...

    def fits(self, amount: Decimal) -> bool: ...


class RoutedCall(Protocol):
    """What a cascade's next hop and a budget downgrade read of a call
    (``costaware.pipeline.call.Call``)."""

    target: PatchTarget
    request: CallRequest
    cascade: Any
    cascade_checks: list[tuple[str, bool]]
    span: Any
    footprint: Any

    @property
    def guard(self) -> Budgets: ...

    @property
    def runtime(self) -> Machinery: ...

    def escalate(self, value: Any, current: str, following: str, reason: str) -> None: ...


_KEY_JSON = json.JSONEncoder(default=str, sort_keys=True)
"""A conversation's key text (one encoder: ``json.dumps`` with options builds one per call)."""

WARM_S = 300.0
"""How long a prefix is taken to stay in a model's prompt cache: the default TTL (5 minutes)."""


def apply_route(
    runtime: Machinery,
    target: PatchTarget,
    prepared: Routable,
    policy: Any,
    scope: Scope | None,
    *,
    caching: bool = False,
) -> None:
    """Route ``prepared`` by ``policy``; ``caching``: prompt caching is on for this call (the
    warm-cache rule weighs a prefix only where caches are used)."""
    provider = target.endpoint.provider
    tiers = runtime.ladders
    label = scope.spec.feature if scope is not None else None
    upgrade = runtime.settings.allow_upgrade
    if isinstance(policy, Cascade):
        prepared.cascade = policy
        decision = _cascade_start(policy, provider, prepared.kwargs, tiers, label, upgrade)
    else:
        decision = route(policy, provider, prepared.kwargs, tiers, label, allow_upgrade=upgrade)
    if decision.failure is not None:
        _warn_policy_failed(runtime, decision)
    ladder = tiers.get(provider)
    keys = runtime.affinity.keys(provider, prepared.kwargs)  # read once, for both uses below
    decision = runtime.affinity.apply(decision, provider, prepared.kwargs, ladder, keys)
    prefix = static_prefix(prepared.kwargs)  # read once, before cache breakpoints change the request
    auto = auto_classifier(policy)
    if auto is not None and prefix is not None and caching:
        decision = _keep_warm(runtime, auto, decision, provider, prefix, ladder)
    # Remembered once a model has answered (Call._complete): not the model chosen here, which a
    # budget downgrade, a fallback or a cascade may replace, nor one whose request failed.
    prepared.footprint = runtime.affinity.footprint(provider, prepared.kwargs, prefix, keys)
    if decision.chosen_model and decision.changed:
        prepared.kwargs = {**prepared.kwargs, "model": decision.chosen_model}
    prepared.attributes.extend(decision_attributes(decision))
    prepared.decision = decision


def _keep_warm(
    runtime: Machinery,
    auto: AutoClassifier,
    decision: Decision,
    provider: str,
    prefix: StaticPrefix,
    ladder: Any,
) -> Decision:
    """``decision``, or a cheaper tier whose model's prompt cache holds the request's static
    ``prefix`` (:func:`static_prefix`) when the chosen model's does not and p(hard) falls short of
    :func:`leave_cutoff` for that move."""
    chosen = ladder.index_of(decision.chosen_model) if ladder is not None else None
    if not chosen or decision.tier is None:
        return decision
    p = dict(decision.signals).get("p_hard")
    cutoff = dict(auto.cut_table(ladder)).get(decision.tier)
    if p is None or cutoff is None:
        return decision
    text = prefix.text
    affinity = runtime.affinity
    if affinity.warm(provider, decision.chosen_model, text):
        return decision
    for tier in reversed(ladder.tiers[:chosen]):
        if not affinity.warm(provider, tier.model, text):
            continue
        if ladder.index_of(tier.model) != chosen - 1:
            return decision  # only the next tier down: a wider drop would skip tiers p clears
        tokens = typical_tokens(text)
        warm, cold = (
            runtime.prices.lookup(provider, tier.model),
            runtime.prices.lookup(provider, decision.chosen_model),
        )
        if warm is None or cold is None or tokens < min_cacheable_tokens(tier.model):
            return decision
        rest = characters_after(prefix)
        if rest is None:
            return decision  # what follows the prefix cannot be serialised: nothing to weigh
        needed = leave_cutoff(cutoff, tokens, tokens + typical_tokens_of_length(rest), warm, cold)
        if p >= needed:
            return decision
        reason = (
            f"{decision.reason}; kept on {tier.model}: its prompt cache holds the {tokens:,}-token prefix, "
            f"so {decision.chosen_model} needs p(hard) >= {needed:.4g}"
        )
        signals = (*decision.signals, ("warm_cutoff", round(needed, 4)))
        return Decision(decision.requested_model, tier.model, tier.name, decision.policy, reason, signals)
    return decision


def _cascade_start(
    cascade: Cascade, provider: str, kwargs: Any, tiers: Any, label: str | None, upgrade: bool
) -> Decision:
    """Where a cascade starts: its first listed model of this provider (routing never crosses
    providers), else the model its ``start`` policy picks."""
    requested = kwargs.get("model") or ""
    if cascade.models:
        own = [m for m in cascade.models if provider_of_model(m) in (None, provider)]
        if not own:
            reason = f"the cascade lists no {provider} model: requested model kept"
            return Decision(requested, requested, _tier(tiers, provider, requested), "cascade", reason)
        first = own[0]
        return Decision(
            requested, first, _tier(tiers, provider, first), "cascade", f"cascade starts at {first}"
        )
    decision = route(cascade.start, provider, kwargs, tiers, label, allow_upgrade=upgrade)
    return Decision(
        decision.requested_model,
        decision.chosen_model,
        decision.tier,
        "cascade",
        f"cascade starts at the classifier's tier: {decision.reason}",
        decision.signals,
        failure=decision.failure,
    )


def _tier(tiers: Any, provider: str, model: str) -> str | None:
    ladder = tiers.get(provider)
    tier = ladder.tier_of(model) if ladder is not None else None
    return tier.name if tier is not None else None


def decision_attributes(decision: Decision) -> list[tuple[str, Any]]:
    attributes: list[tuple[str, Any]] = [
        ("costaware.route.policy", decision.policy),
        ("costaware.route.requested_model", decision.requested_model),
        ("costaware.route.chosen_model", decision.chosen_model),
        ("costaware.route.reason", decision.reason),
    ]
    if decision.tier is not None:
        attributes.append(("costaware.route.tier", decision.tier))
    attributes.extend((f"costaware.route.signal.{name}", value) for name, value in decision.signals)
    return attributes


@dataclass(frozen=True)
class Footprint:
    """A routed request as :class:`Affinity` remembers it once a model has answered."""

    provider: str
    conversation: bytes | None
    """The conversation's key (its system prompt and user turns, hashed), if it has one."""
    prefix: str | None
    """Its static prefix as canonical text, if it has one."""


class Affinity:
    """Keeps a conversation on the model that holds its prompt cache, and remembers which models
    recently answered each static prefix (tools, system prompt) so routing can weigh leaving a warm
    cache (:func:`_keep_warm`).

    Prompt caches are per model: routing each turn of a conversation on its own can send turn 3 to
    another model than turn 2, and the cached history is then paid for again, in full. This remembers,
    for each conversation (its system prompt and user turns, hashed), the model that answered; the next
    turn goes to that model again unless the policy wants a *higher* tier for it (quality first). Bounded:
    the least recently used conversations are forgotten.
    """

    def __init__(self, capacity: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._models: OrderedDict[bytes, str] = OrderedDict()
        self._prefixes: OrderedDict[bytes, float] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    @staticmethod
    def _prefix_key(provider: str, model: str, prefix: str) -> bytes:
        return hashlib.blake2b(f"{provider}\0{model}\0{prefix}".encode(), digest_size=16).digest()

    def warm(self, provider: str, model: str, prefix: str) -> bool:
        """Whether ``model`` answered a request with this static prefix within the prompt cache's
        default lifetime (5 minutes), so its cache likely holds it."""
        key = self._prefix_key(provider, model, prefix)
        with self._lock:
            seen = self._prefixes.get(key)
        return seen is not None and self._clock() - seen <= WARM_S

    @staticmethod
    def keys(provider: str, kwargs: Any) -> tuple[bytes | None, bytes | None]:
        """The request's conversation keys: (through its previous user turn, through its last), each
        ``None`` when there is no such turn. One pass: the system prompt and each user turn are hashed
        in order, a string as it is (a long document is not serialised first), anything else as JSON."""
        messages = kwargs.get("messages")
        if not isinstance(messages, (list, tuple)):
            return None, None
        users = [m.get("content") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
        if not users:
            return None, None
        hasher = hashlib.blake2b(_KEY_JSON.encode([provider, kwargs.get("system")]).encode(), digest_size=16)
        previous = None
        for turn, content in enumerate(users):
            if turn == len(users) - 1 and turn:
                previous = hasher.copy().digest()
            data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else None
            tagged = b"s" + data if data is not None else b"j" + _KEY_JSON.encode(content).encode()
            hasher.update(len(tagged).to_bytes(8, "big") + tagged)
        return previous, hasher.digest()

    def footprint(
        self,
        provider: str,
        kwargs: Any,
        prefix: StaticPrefix | None,
        keys: tuple[bytes | None, bytes | None] | None = None,
    ) -> Footprint | None:
        """What to remember of this request (read as routed, before cache breakpoints are placed) once
        a model has answered it: its conversation and its static ``prefix`` (:func:`static_prefix`).
        ``keys``: its :meth:`keys`, if already read."""
        key = (keys or self.keys(provider, kwargs))[1]
        if key is None and prefix is None:
            return None
        return Footprint(provider, key, prefix.text if prefix is not None else None)

    def remember(self, footprint: Footprint, model: str, at: float | None = None) -> None:
        """``model`` answered the request seen in ``footprint`` (its prompt was read at ``at``, by the
        affinity's clock; default now): the conversation's next turn should find its cache there, and a
        request with the same static prefix finds it warm there until ``at`` + :data:`WARM_S`."""
        if not model:
            return
        if at is None:
            at = self._clock()
        key = footprint.conversation
        prefix = footprint.prefix
        digest = self._prefix_key(footprint.provider, model, prefix) if prefix is not None else None
        with self._lock:
            if key is not None:
                self._models[key] = model
                self._models.move_to_end(key)
                while len(self._models) > self._capacity:
                    self._models.popitem(last=False)
            if digest is not None:
                self._prefixes[digest] = max(at, self._prefixes.get(digest, at))  # calls end out of order
                self._prefixes.move_to_end(digest)
                while len(self._prefixes) > self._capacity:
                    self._prefixes.popitem(last=False)

    def apply(
        self,
        decision: Decision,
        provider: str,
        kwargs: Any,
        ladder: Any,
        keys: tuple[bytes | None, bytes | None] | None = None,
    ) -> Decision:
        """``decision``, or the conversation's previous model when that is at least as strong.
        ``keys``: the request's :meth:`keys`, if already read."""
        key = (keys or self.keys(provider, kwargs))[0]
        if key is None or ladder is None:
            return decision
        with self._lock:
            previous = self._models.get(key)
        chosen = decision.chosen_model
        if previous is None or previous == chosen:
            return decision
        before, now = ladder.index_of(previous), ladder.index_of(chosen)
        if before is None or now is None or before < now:
            return decision  # the policy wants a stronger model: quality first
        tier = ladder.tiers[before].name
        reason = f"{decision.reason}; kept on {previous}: its prompt cache holds this conversation"
        return Decision(decision.requested_model, previous, tier, decision.policy, reason, decision.signals)


def answer_of(call: RoutedCall, value: Any, kwargs: Any) -> Answer:
    """What the checks need from a response (read through the provider adapter)."""
    endpoint = call.target.endpoint
    result = endpoint.read_response(value, True)
    wants_json, schema = requested_json(kwargs)
    calls = endpoint.read_tool_calls(value) if endpoint.read_tool_calls is not None else ()
    return Answer(
        text=result.output_text,
        finish_reason=result.finish_reasons[0] if result.finish_reasons else None,
        tool_calls=tuple(ToolCall(name or "", arguments) for name, arguments in calls),
        wants_json=wants_json,
        json_schema=schema,
    )


def _warn_policy_failed(runtime: Machinery, decision: Decision) -> None:
    """Log a routing policy's failure (the requested model was kept), once per policy and error type."""
    failure = decision.failure
    runtime.warn_once(
        f"routing failed: {decision.policy} {type(failure).__name__}",
        "costaware: routing policy %s raised %s: %s; the requested model %r is kept (logged once per "
        "policy and error type; every such call's span says so in costaware.route.reason)",
        decision.policy,
        type(failure).__name__,
        failure,
        decision.requested_model,
        exc_info=failure,
    )


def next_hop(call: RoutedCall, value: Any, kwargs: dict[str, Any], hops: int) -> str | None:
    """The model to escalate to when ``value`` fails the cascade's checks, else ``None`` (accept it).
    An ``accept`` function that raises rejects the answer (logged): the cascade climbs, as for an
    answer it turned down, rather than trusting an answer its check could not pass."""
    cascade: Cascade = call.cascade
    answer = answer_of(call, value, kwargs)
    try:
        ok, reason = cascade.check(answer)
    except Exception as exc:
        log.warning(
            "costaware: the cascade's accept function raised %s: %s; the answer counts as rejected",
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
        ok, reason = False, f"accept raised {type(exc).__name__}: {exc}"
    current = kwargs.get("model") or ""
    following = (
        None
        if ok
        else cascade.next_model(current, hops=hops, ladder=call.runtime.ladders.get(call.request.provider))
    )
    call.cascade_checks.append((current, following is not None))
    if following is None:
        call.span.add_event(
            "costaware.cascade.accepted" if ok else "costaware.cascade.exhausted",
            {"costaware.cascade.model": current, "costaware.cascade.reason": reason},
        )
        return None
    if call.footprint is not None:  # the rejected hop read the prompt: its model's cache holds it
        call.runtime.affinity.remember(call.footprint, current)
    call.escalate(value, current, following, reason)
    return following


def downgrade_model(call: RoutedCall, kwargs: dict[str, Any]) -> str | None:
    """The cheapest tier of the call's provider whose worst case fits every budget, or ``None``."""
    ladder = call.runtime.ladders.get(call.request.provider)
    if ladder is None:
        return None

    def fits(model: str) -> bool:
        amount = call.guard.worst_case(call.target.endpoint, model, {**kwargs, "model": model})
        return amount is not None and call.guard.fits(amount)

    tier = cheapest_fitting(ladder, fits)
    return tier.model if tier is not None else None
