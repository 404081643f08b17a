"""``@cost_aware`` and ``costaware.scope()``: group a function's LLM calls, charge and limit them.

Each invocation opens a :class:`Scope` held in a contextvar, so concurrent tasks and threads never
see each other's scope; scopes nest, and a call is charged to the budgets of every enclosing scope.
Each invocation emits an INTERNAL span ``costaware.scope <name>``, parent of its calls' spans, with
the scope's total cost, calls and tokens.

```python
@cost_aware(budget=0.50, retries=3, feature="summarize")
async def summarize(doc: str) -> str: ...

daily = costaware.Budget(limit=20.00, period="day", key="support-bot", store="sqlite:///spend.db")

@cost_aware(budget=daily)
def answer(q: str) -> str: ...

with costaware.scope("batch-job", budget=5) as s:
    ...
print(s.tracker.total_cost)
```
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, overload

from opentelemetry import context as otel_context

from costaware import current
from costaware.config import check_fallback, validate_policy
from costaware.core.budget import Budget, BudgetLedger, OnExceed
from costaware.core.errors import ConfigurationError
from costaware.core.retry import RetryPolicy
from costaware.current import Scope, ScopeSpec
from costaware.stores.memory import InvocationStore

if TYPE_CHECKING:
    from typing_extensions import Unpack

F = TypeVar("F", bound=Callable[..., Any])

_CURRENT = current.CURRENT
_LAST = current.LAST


def _known(options: Mapping[str, Any]) -> None:
    """Unknown option names raise :class:`ConfigurationError` (naming the closest known one)."""
    import difflib

    known = ScopeOptions.__annotations__
    for option in options:
        if option not in known:
            close = difflib.get_close_matches(option, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigurationError(
                f"unknown option {option!r}{hint}; the options are: {', '.join(sorted(known))}"
            )


def build_spec(
    name: str,
    *,
    budget: Budget | float | int | str | Decimal | None = None,
    retries: RetryPolicy | int | None = None,
    feature: str | None = None,
    tenant: str | None = None,
    on_exceed: OnExceed | None = None,
    fallback: str | None = None,
    route: Any = None,
    cache: Any = None,
    max_output_tokens: int | None = None,
) -> ScopeSpec:
    """A scope's settings, validated (bad ones raise :class:`ConfigurationError`)."""
    response_cache: Any = None
    if getattr(cache, "is_response_cache", False):
        response_cache, cache = cache, None  # prompt-cache breakpoints stay on (the default)
    elif cache is False:
        response_cache = False  # no caching of any kind here, whatever encloses the scope
    if cache not in (None, True, False):
        raise ConfigurationError(
            f"cache must be True, False, None or a costaware.ResponseCache, not {cache!r}"
        )
    if max_output_tokens is not None and (
        isinstance(max_output_tokens, bool) or not isinstance(max_output_tokens, int) or max_output_tokens < 1
    ):
        raise ConfigurationError(f"max_output_tokens must be a positive int, not {max_output_tokens!r}")
    if route is not None:
        route = validate_policy(route)
    if on_exceed not in (None, "raise", "downgrade", "warn"):
        raise ConfigurationError(f"on_exceed must be 'raise', 'downgrade' or 'warn', not {on_exceed!r}")
    shared: Budget | None = None
    per_call: Budget | None = None
    if isinstance(budget, Budget):
        shared = budget
    elif budget is not None:  # validates: a number >= 0
        per_call = Budget(limit=budget, key=name, on_exceed=on_exceed or "raise")
    retry = RetryPolicy.of(retries)
    if fallback is not None:
        base = retry or RetryPolicy(retries=0)
        retry = RetryPolicy(**{**_fields(base), "fallback": fallback})
    check_fallback(retry)
    for label, value in (("feature", feature), ("tenant", tenant)):
        if value is not None and (not isinstance(value, str) or not value):
            raise ConfigurationError(f"{label} must be a non-empty string")
    spec = ScopeSpec(
        name,
        shared,
        per_call,
        retry,
        feature,
        tenant,
        on_exceed,
        route,
        cache,
        max_output_tokens,
        response_cache,
    )
    if shared is not None:
        from costaware.steps import spend

        spend.shared_ledger(shared)  # opens the store now: an unreachable one fails here
    return spec


def _fields(policy: RetryPolicy) -> dict[str, Any]:
    return {name: getattr(policy, name) for name in policy.__dataclass_fields__}


def _ledgers_of(spec: ScopeSpec) -> tuple[BudgetLedger, ...]:
    """A new invocation's own budgets: the shared budget's ledger, then a per-invocation one."""
    from costaware.steps import spend

    ledgers: tuple[BudgetLedger, ...] = ()
    if spec.budget is not None:
        ledgers = (spend.shared_ledger(spec.budget),)
    if spec.per_call is not None:
        ledgers += (BudgetLedger(spec.per_call, InvocationStore()),)
    return ledgers


def last_scope() -> Scope | None:
    """The scope of the most recent ``@cost_aware`` invocation that finished in this context.

    ``summarize(doc); costaware.last_scope().tracker.total_cost``. Works after a plain call and
    after ``await``; a call run as a separate task (``asyncio.gather``) records it in that task.
    """
    return _LAST.get()


class _Opened:
    """One scope, open: current (with its span) from ``__enter__`` to ``__exit__``. What is left of its
    budgets is read just before it closes (for its span), off the event loop with ``async with``.

    A class rather than generator-based context managers: every decorated call enters one."""

    __slots__ = ("_arguments", "_scope", "_span", "_spec", "_telemetry", "_token")

    def __init__(self, spec: ScopeSpec, arguments: Mapping[str, Any] | None = None) -> None:
        self._spec = spec
        self._arguments = arguments

    def __enter__(self) -> Scope:
        from costaware.instrumentation import patching

        patching.ensure_instrumented()
        scope = self._scope = Scope(self._spec, _CURRENT.get(), _ledgers_of(self._spec), self._arguments)
        runtime = patching.current_runtime()
        if runtime is not None and otel_context.get_value(otel_context._SUPPRESS_INSTRUMENTATION_KEY):
            runtime = runtime.silent()  # no span, the budgets as usual
        self._telemetry = runtime.telemetry if runtime is not None else None
        self._span = self._telemetry.open_scope(scope) if self._telemetry is not None else None
        self._token = _CURRENT.set(scope)
        return scope

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        scope = self._scope
        try:
            if scope.ledgers:
                from costaware.steps import spend

                scope.remaining = spend.read_remaining(scope.ledgers)
        finally:
            self._close(error)

    async def __aenter__(self) -> Scope:
        return self.__enter__()

    async def __aexit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        scope = self._scope
        try:
            if scope.ledgers:
                from costaware.steps import spend

                scope.remaining = await spend.read_remaining_async(scope.ledgers)
        finally:
            self._close(error)

    def _close(self, error: BaseException | None) -> None:
        scope = self._scope
        try:
            if self._telemetry is not None and self._span is not None:
                self._telemetry.close_scope(self._span, scope, error)
        finally:
            _CURRENT.reset(self._token)
            _LAST.set(scope)


def _arguments_if_needed(spec: ScopeSpec, function: Any, args: Any, kwargs: Any) -> Mapping[str, Any] | None:
    if callable(getattr(spec.response_cache, "namespace", None)):
        return _arguments_of(function, args, kwargs)
    return None


def _arguments_of(function: Any, args: Any, kwargs: Any) -> Mapping[str, Any] | None:
    """A call's arguments by name, defaults included (for a response cache's namespace callable)."""
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return None  # the call itself raises the same TypeError
    bound.apply_defaults()
    return bound.arguments


class ScopeOptions(TypedDict, total=False):
    """The settings ``@cost_aware`` and ``costaware.scope()`` take (see :func:`cost_aware`)."""

    budget: Budget | float | int | str | Decimal | None
    retries: RetryPolicy | int | None
    feature: str | None
    tenant: str | None
    on_exceed: OnExceed | None
    fallback: str | None
    route: Any
    cache: Any
    max_output_tokens: int | None


class ScopeBlock:
    """What :func:`scope` returns: use it with ``with``, or with ``async with`` in a coroutine (then
    the budgets it reads for its span at the end are read off the event loop)."""

    def __init__(self, spec: ScopeSpec) -> None:
        self._spec = spec
        self._opened: _Opened | None = None

    def __enter__(self) -> Scope:
        self._opened = _Opened(self._spec)
        return self._opened.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        assert self._opened is not None
        self._opened.__exit__(*exc_info)

    async def __aenter__(self) -> Scope:
        self._opened = _Opened(self._spec)
        return await self._opened.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        assert self._opened is not None
        await self._opened.__aexit__(*exc_info)


def scope(name: str = "scope", **options: Unpack[ScopeOptions]) -> ScopeBlock:
    """The context-manager form of :func:`cost_aware`: ``with costaware.scope("batch", budget=5) as s:``
    (or ``async with`` in a coroutine) gives the :class:`Scope`, readable after the block. Bad
    arguments raise :class:`ConfigurationError` here."""
    _known(options)
    spec = build_spec(name, **options)
    if callable(getattr(spec.response_cache, "namespace", None)):
        raise ConfigurationError(
            "a ResponseCache whose namespace is a function needs a decorated function's arguments: "
            "use @cost_aware(cache=...), or give scope() a cache with a string namespace (or tenant=)"
        )
    return ScopeBlock(spec)


@overload
def cost_aware(func: F) -> F: ...
@overload
def cost_aware(
    func: None = None, *, name: str | None = None, **options: Unpack[ScopeOptions]
) -> Callable[[F], F]: ...
def cost_aware(func: Any = None, *, name: str | None = None, **options: Unpack[ScopeOptions]) -> Any:
    """Make a function's LLM calls one scope: grouped, charged, limited, retried and traced.

    ``budget``: USD per invocation (a number) or a shared :class:`Budget`. ``retries``: a count or a
    :class:`RetryPolicy` (transient failures only; the SDK's own retries are switched off for these
    calls). ``fallback``: a model to switch to on persistent overload. ``feature`` / ``tenant``:
    attribution for spend reports. ``on_exceed``: ``"raise"`` (default), ``"downgrade"`` or ``"warn"``.
    ``route``: ``"auto"``, a policy object, a ``Cascade`` or a callable choosing the model. ``cache``:
    place prompt-cache breakpoints (default on inside scopes), or a :class:`costaware.ResponseCache`
    to answer repeated requests from it (breakpoints stay on); ``False`` turns every kind of caching
    off in the scope, a response cache set around it included. ``max_output_tokens``: cap output length.
    ``name``: the scope's name (default: the function's qualified name).
    Bad arguments raise :class:`ConfigurationError` here, at decoration time.
    """
    import wrapt

    _known(options)
    settings = build_spec(name or "scope", **options)  # validated now, function given or not

    def decorate(function: Any) -> Any:
        spec = settings.named(name or str(getattr(function, "__qualname__", "scope")))
        if inspect.isasyncgenfunction(function):

            @wrapt.decorator
            def async_gen_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                return _scoped_async_generator(spec, wrapped, args, kwargs)

            return async_gen_wrapper(function)
        if inspect.isgeneratorfunction(function):

            @wrapt.decorator
            def gen_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                return _scoped_generator(spec, wrapped, args, kwargs)

            return gen_wrapper(function)
        if inspect.iscoroutinefunction(function):

            @wrapt.decorator
            async def async_wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
                async with _Opened(spec, _arguments_if_needed(spec, wrapped, args, kwargs)):
                    return await wrapped(*args, **kwargs)

            return async_wrapper(function)

        @wrapt.decorator
        def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            with _Opened(spec, _arguments_if_needed(spec, wrapped, args, kwargs)):
                return wrapped(*args, **kwargs)

        return wrapper(function)

    return decorate(func) if func is not None else decorate


# A decorated generator's scope spans the generator's life: opened at its first ``next`` (so the
# scope enclosing that first ``next`` is its parent), closed when it is exhausted, closed or
# collected. Its body runs, step by step, in a context of its own: the scope (and its span) is
# current inside the body and never leaks into the code that iterates it between steps.


def _scoped_generator(spec: ScopeSpec, function: Any, args: Any, kwargs: Any) -> Generator[Any, Any, Any]:
    context = contextvars.copy_context()
    opened = _Opened(spec, _arguments_if_needed(spec, function, args, kwargs))
    context.run(opened.__enter__)
    failure: BaseException | None = None
    try:
        inner = context.run(function, *args, **kwargs)
        step: Callable[[], Any] = inner.__next__
        while True:
            try:
                item = context.run(step)
            except StopIteration as stop:
                return stop.value
            try:
                sent = yield item
            except GeneratorExit:
                context.run(inner.close)
                raise
            except BaseException as thrown:  # thrown into the generator: passed on to the body
                step = functools.partial(inner.throw, thrown)
            else:
                step = functools.partial(inner.send, sent)
    except BaseException as error:
        failure = error
        raise
    finally:
        exc_info = (type(failure), failure, failure.__traceback__) if failure else (None, None, None)
        context.run(opened.__exit__, *exc_info)


class _InContext:
    """Await ``awaitable`` with each of its steps run in ``context`` (the event loop sees the same
    futures; only the context variables the awaited code reads and sets are ``context``'s)."""

    __slots__ = ("_awaitable", "_context")

    def __init__(self, context: contextvars.Context, awaitable: Any) -> None:
        self._context, self._awaitable = context, awaitable

    def __await__(self) -> Generator[Any, Any, Any]:
        steps = self._awaitable.__await__()
        step: Callable[..., Any] = steps.send
        argument: Any = None
        while True:
            try:
                signal = self._context.run(step, argument)
            except StopIteration as stop:
                return stop.value
            try:
                argument = yield signal
                step = steps.send
            except BaseException as thrown:
                step, argument = steps.throw, thrown


async def _scoped_async_generator(
    spec: ScopeSpec, function: Any, args: Any, kwargs: Any
) -> AsyncGenerator[Any, Any]:
    context = contextvars.copy_context()
    opened = _Opened(spec, _arguments_if_needed(spec, function, args, kwargs))
    await _InContext(context, opened.__aenter__())
    failure: BaseException | None = None
    try:
        inner = context.run(function, *args, **kwargs)
        step: Callable[[], Any] = inner.__anext__
        while True:
            try:
                item = await _InContext(context, step())
            except StopAsyncIteration:
                return
            try:
                sent = yield item
            except GeneratorExit:
                await _InContext(context, inner.aclose())
                raise
            except BaseException as thrown:
                step = functools.partial(inner.athrow, thrown)
            else:
                step = functools.partial(inner.asend, sent)
    except BaseException as error:
        failure = error
        raise
    finally:
        exc_info = (type(failure), failure, failure.__traceback__) if failure else (None, None, None)
        await _InContext(context, opened.__aexit__(*exc_info))
