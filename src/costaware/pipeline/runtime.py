"""The configured machinery every wrapped call uses: telemetry, prices, default policies.

One :class:`Runtime` exists while costaware is instrumented (rebuilt by ``configure()``); the
pipeline reads it at each call, so a new configuration applies to the next call.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from costaware.config import Settings, internal_error
from costaware.core.budget import BudgetLedger
from costaware.core.caching import ReuseTracker
from costaware.core.pricing import PriceBook
from costaware.core.retry import RetryPolicy, http_status
from costaware.core.routing.tiers import Ladders, ladders
from costaware.core.types import NOT_BILLED, UNPRICED, CallRequest, CallResult, Cost
from costaware.providers.base import PatchTarget
from costaware.steps.prepare import Prepared, prepare_request
from costaware.steps.spend import SpendGuard
from costaware.telemetry.emit import Telemetry

if TYPE_CHECKING:
    from costaware.current import Scope

log = logging.getLogger("costaware")

_CONFIGURED = {
    "route": "route",
    "cache": "prompt_cache",
    "retry": "retries",
    "response_cache": "response_cache",
}
"""Each scope setting's ``configure()`` counterpart (``max_output_tokens`` has none)."""


class Runtime:
    """The configured machinery the wrappers use: telemetry, prices, settings, default policy."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.telemetry = Telemetry(
            tracer_provider=settings.tracer_provider,
            meter_provider=settings.meter_provider,
            capture_content=settings.capture_content,
        )
        self.prices = PriceBook(overrides=settings.prices)
        self._default_ledgers: tuple[BudgetLedger, ...] = ()
        if settings.budget is not None:
            from costaware.steps.spend import shared_ledger

            self._default_ledgers = (shared_ledger(settings.budget),)
        self._no_retry_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._replay_clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self.clock: Callable[[], float] = settings.clock or time.monotonic
        """What prompt-cache reuse and warm-prefix memories read (``configure(clock=...)``)."""
        self.cache_tracker = ReuseTracker()
        from costaware.steps.routing import Affinity

        self.affinity = Affinity(clock=self.clock)
        self._default_guard = SpendGuard(self._default_ledgers, self.prices)
        # Whether calls outside any scope are routed, cached or budgeted (else they are only observed).
        self.policies_outside_scopes = bool(
            settings.route is not None
            or settings.prompt_cache
            or self._default_ledgers
            or settings.response_cache is not None
        )
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._silent: Runtime | None = None

    @functools.cached_property
    def ladders(self) -> Ladders:
        """The tier ladders (defaults, ``COSTAWARE_TIERS``, ``configure(tiers=...)``), read once."""
        return ladders(self.settings.tiers, prices=self.prices)

    def silent(self) -> Runtime:
        """This runtime with telemetry off, for calls made inside OpenTelemetry's suppression
        context: suppression turns off spans and metric points, not money (budgets, refusals,
        retries, routing and caching apply as usual)."""
        silent = self._silent
        if silent is None:
            from opentelemetry.metrics import NoOpMeterProvider
            from opentelemetry.trace import NoOpTracerProvider

            silent = copy.copy(self)
            silent.telemetry = Telemetry(
                tracer_provider=NoOpTracerProvider(), meter_provider=NoOpMeterProvider()
            )
            silent._silent = silent
            self._silent = silent
        return silent

    def prepare(self, target: PatchTarget, kwargs: dict[str, Any], scope: Scope | None) -> Prepared:
        """Route, cap and plan the request; on an internal error, the caller's request unchanged."""
        try:
            return prepare_request(self, target, kwargs, scope)
        except Exception:
            internal_error("preparing a call")
            return Prepared(kwargs=kwargs, requested_model=kwargs.get("model"))

    def budgeted(self, scope: Scope | None) -> bool:
        """Whether a call in ``scope`` is under any budget (without building its :class:`SpendGuard`)."""
        return bool(self._default_ledgers or (scope is not None and scope.budgets[0]))

    def guard(self, scope: Scope | None) -> SpendGuard:
        """The budgets of a call in ``scope``: every enclosing scope's, then the configured default."""
        if scope is None:
            return self._default_guard
        ledgers, modes = scope.budgets
        if not ledgers:
            return self._default_guard
        return SpendGuard(ledgers + self._default_ledgers, self.prices, modes)

    def setting(self, scope: Scope | None, name: str) -> Any:
        """A per-call setting: the innermost scope that sets it wins, then ``configure()``."""
        value = scope.settings[name] if scope is not None else None
        if value is not None or name not in _CONFIGURED:
            return value
        return getattr(self.settings, _CONFIGURED[name])

    def retry_policy(self, scope: Scope | None) -> RetryPolicy | None:
        policy: RetryPolicy | None = self.setting(scope, "retry")
        return policy

    def without_sdk_retries(self, target: PatchTarget, instance: Any) -> Any:
        """The same resource on a copy of its client with the SDK's retries off (cached per client)."""
        return self._on_copy(self._no_retry_clients, target, instance, target.endpoint.without_retries)

    def replaying(self, target: PatchTarget, instance: Any) -> Any:
        """The same resource on a copy of its client that answers every request from the response
        cache's replay transport (and never retries): cached per client."""
        from costaware.steps.response_cache import serve

        def make(client: Any) -> Any:
            return target.endpoint.with_transport(client, serve, target.is_async)

        return self._on_copy(self._replay_clients, target, instance, make)

    def _on_copy(
        self, copies: weakref.WeakKeyDictionary[Any, Any], target: PatchTarget, instance: Any, make: Any
    ) -> Any:
        """``instance``'s resource on ``make(client)``, a copy of its client made once per client."""
        client = target.endpoint.client_of(instance)
        with self._lock:
            copy = copies.get(client)
            if copy is None:
                copy = copies[client] = make(client)
        return attrgetter(target.resource_path)(copy)

    def price(self, request: CallRequest, result: CallResult, error: BaseException | None) -> Cost:
        if result.usage is None:
            if error is not None and http_status(error) is not None:
                return NOT_BILLED
            return UNPRICED
        cost = self.prices.cost(
            request.provider,
            result.usage,
            response_model=result.response_model,
            request_model=request.model,
            batch=request.batch,
        )
        if cost.total is None:
            self._warn_unpriced(result.response_model or request.model or "<no model>")
        return cost

    def warn_no_usage(self, request: CallRequest, hint: str) -> None:
        """Once per endpoint: an answer came back without token usage, so its cost is unknown."""
        self.warn_once(
            f"no usage: {request.provider} {request.operation}",
            "costaware: a %s %s call returned no token usage, so its cost is unknown: it is recorded "
            "as unpriced, and a budget it runs under is charged its whole reserved worst case.%s",
            request.provider,
            request.operation,
            f" {hint}" if hint else "",
        )

    def _warn_unpriced(self, model: str) -> None:
        self.warn_once(
            f"unpriced: {model}",
            "costaware: no price known for model %r; its calls are recorded as unpriced "
            "(add one with costaware.configure(prices={...}) or COSTAWARE_PRICES)",
            model,
        )

    def warn_once(self, key: str, message: str, *args: Any, exc_info: BaseException | None = None) -> None:
        """Log ``message % args`` as a warning the first time this runtime sees ``key``."""
        with self._lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(message, *args, exc_info=exc_info)
