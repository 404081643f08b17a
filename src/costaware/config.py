"""``costaware.configure()`` and the ``COSTAWARE_*`` environment variables, validated once.

Environment variables (read by :func:`settings_from_env`, and so by ``import costaware.auto``):

``COSTAWARE_ENABLED``
    ``false`` turns instrumentation off entirely (``instrument()`` patches nothing).
``COSTAWARE_PRICES``
    Path to a JSON or TOML file of price overrides, ``{"model-id": {"input": 0.5, "output": 1.5, ...}}``
    in USD per million tokens (keys: ``input``, ``output``, ``cache_read``, ``cache_write_5m``,
    ``cache_write_1h``); a key ``"provider:model"`` limits an override to one provider.
``COSTAWARE_BUDGET_LIMIT`` (USD), ``COSTAWARE_BUDGET_PERIOD`` (none/hour/day/month), ``COSTAWARE_BUDGET_KEY``,
``COSTAWARE_BUDGET_STORE`` (``memory://``, ``sqlite:///path``, ``redis://host:port/db``),
``COSTAWARE_BUDGET_TIMEZONE``, ``COSTAWARE_BUDGET_ON_EXCEED`` (raise/downgrade/warn)
    A budget applied to every LLM call, decorated or not.
``COSTAWARE_RETRIES``
    Retries of transient failures for every call outside a scope that sets its own.
``COSTAWARE_PROMPT_CACHE``
    ``true``/``false``: place prompt-cache breakpoints on every call (default: inside scopes only).
``COSTAWARE_ROUTE``
    A routing policy name (``auto``) for every call outside a scope that sets its own.
``COSTAWARE_RESPONSE_CACHE`` (``exact``, ``semantic`` or ``off``), ``COSTAWARE_RESPONSE_CACHE_STORE``
(``memory://``, ``sqlite:///path``, ``redis://host:port/db``), ``COSTAWARE_RESPONSE_CACHE_TTL`` (``1h``,
seconds), ``COSTAWARE_RESPONSE_CACHE_STRICTNESS`` (0..1)
    A response cache for every call outside a scope that sets its own (``costaware.ResponseCache``).
``COSTAWARE_RAISE_INTERNAL_ERRORS``
    ``true``/``false``: whether an error inside costaware itself is raised (default: only under pytest)
    or logged and swallowed so the application's call goes on.
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    The standard OpenTelemetry switch: ``true`` records prompts and completions on spans. Off by default.

Exporters are configured with the standard ``OTEL_*`` variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ...).
"""

from __future__ import annotations

import difflib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from costaware.core.errors import ConfigurationError

log = logging.getLogger("costaware")

__all__ = ["ConfigurationError", "Settings", "settings_from_env"]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class Settings:
    """The configured defaults. Build with :func:`configure`; every field is validated there."""

    enabled: bool = True
    capture_content: bool = False
    prices: Mapping[str, Any] = field(default_factory=dict)
    """Price overrides by model id (or ``provider:model``), USD per million tokens."""
    raise_internal_errors: bool | None = None
    """``None``: raise costaware's own errors only under pytest; otherwise log them."""
    tracer_provider: Any = None
    """An OpenTelemetry ``TracerProvider``; ``None`` uses the global one (even one set later)."""
    meter_provider: Any = None
    budget: Any = None
    """A :class:`costaware.Budget` applied to every call, decorated or not (``None``: no default budget)."""
    retries: Any = None
    """A :class:`costaware.RetryPolicy` (or a count) for every call outside a scope that sets its own."""
    budget_max_output_tokens: int = 16384
    """The output cap given to a call under a budget that sets none, so its worst case is finite."""
    prompt_cache: bool | None = None
    """Place prompt-cache breakpoints: ``None`` (default) inside ``@cost_aware`` scopes only."""
    route: Any = None
    """A routing policy for every call outside a scope that sets its own (``None``: no routing)."""
    tiers: Any = None
    """Tier ladders overriding the defaults, e.g. ``{"anthropic": {"small": "claude-haiku-4-5"}}``."""
    response_cache: Any = None
    """A :class:`costaware.ResponseCache` for every call outside a scope that sets its own."""
    allow_upgrade: bool = False
    """Let routing choose a dearer tier than the model the code requested (cascades escalate
    regardless). Off by default: routing is there to cut the bill, the requested model is its ceiling."""
    clock: Any = None
    """Seconds, monotonic: what the memories that follow prompt-cache lifetimes read (how long ago a
    prefix was last sent, which model's cache holds it). ``None``: ``time.monotonic``. For simulations
    and tests that move time themselves, alongside a simulated provider's clock."""


def _flag(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean: use true or false")


def _load_prices_file(path: str) -> dict[str, Any]:
    from costaware.core.tables import load_table_file

    try:
        return dict(load_table_file(path, what="price file", holds="a table of models"))
    except ConfigurationError as exc:
        raise ConfigurationError(f"COSTAWARE_PRICES: {exc}") from None


_CACHE_ENV = {
    "COSTAWARE_RESPONSE_CACHE": "semantic",
    "COSTAWARE_RESPONSE_CACHE_STORE": "store",
    "COSTAWARE_RESPONSE_CACHE_TTL": "ttl",
    "COSTAWARE_RESPONSE_CACHE_STRICTNESS": "strictness",
}
"""The response cache's variables and the ``ResponseCache`` argument each sets."""

_KNOWN_ENV = frozenset(
    {
        "COSTAWARE_ENABLED",
        "COSTAWARE_PRICES",
        "COSTAWARE_BUDGET_LIMIT",
        "COSTAWARE_RETRIES",
        "COSTAWARE_PROMPT_CACHE",
        "COSTAWARE_ROUTE",
        "COSTAWARE_RAISE_INTERNAL_ERRORS",
        "COSTAWARE_EXIT_FLUSH_TIMEOUT",
        "COSTAWARE_TIERS",
        *_CACHE_ENV,
    }
)
_warned_env: set[str] = set()


def _warn_unknown_env(env: Mapping[str, str]) -> None:
    """Warn once per process about each ``COSTAWARE_*`` variable costaware does not read (a typo
    such as ``COSTAWARE_BUDGET_LIMT`` would otherwise silently apply no budget)."""
    known = _KNOWN_ENV | _BUDGET_ENV.keys()
    for name in env:
        if name.startswith("COSTAWARE_") and name not in known and name not in _warned_env:
            _warned_env.add(name)
            close = difflib.get_close_matches(name, sorted(known), n=1)
            log.warning(
                "costaware: ignoring unknown environment variable %s%s",
                name,
                f" (did you mean {close[0]}?)" if close else "",
            )


def settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The settings the environment asks for, as keyword arguments for :func:`configure`.

    An unknown ``COSTAWARE_*`` variable is warned about once (it is most likely a typo)."""
    env = os.environ if environ is None else environ
    _warn_unknown_env(env)
    found: dict[str, Any] = {}
    if "COSTAWARE_ENABLED" in env:
        found["enabled"] = _flag("COSTAWARE_ENABLED", env["COSTAWARE_ENABLED"])
    if "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT" in env:
        raw = env["OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"]
        found["capture_content"] = raw.strip().lower() in _TRUE
    if env.get("COSTAWARE_PRICES"):
        found["prices"] = _load_prices_file(env["COSTAWARE_PRICES"])
    budget = _budget_from_env(env)
    if budget is not None:
        found["budget"] = budget
    if env.get("COSTAWARE_RETRIES"):
        try:
            found["retries"] = int(env["COSTAWARE_RETRIES"])
        except ValueError as exc:
            raise ConfigurationError(f"COSTAWARE_RETRIES={env['COSTAWARE_RETRIES']!r} is not an int") from exc
    if "COSTAWARE_PROMPT_CACHE" in env:
        found["prompt_cache"] = _flag("COSTAWARE_PROMPT_CACHE", env["COSTAWARE_PROMPT_CACHE"])
    if env.get("COSTAWARE_ROUTE"):
        found["route"] = env["COSTAWARE_ROUTE"]
    if env.get("COSTAWARE_TIERS"):  # read at the first routed call; a bad file fails here instead
        from costaware.core.routing import ladders

        try:
            ladders(environ=env, prices=_price_book(found.get("prices", {})))
        except ConfigurationError as exc:
            raise ConfigurationError(f"COSTAWARE_TIERS: {exc}") from None
    cache = _response_cache_from_env(env)
    if cache is not None:
        found["response_cache"] = cache
    if "COSTAWARE_RAISE_INTERNAL_ERRORS" in env:
        found["raise_internal_errors"] = _flag(
            "COSTAWARE_RAISE_INTERNAL_ERRORS", env["COSTAWARE_RAISE_INTERNAL_ERRORS"]
        )
    return found


def _response_cache_from_env(env: Mapping[str, str]) -> dict[str, Any] | None:
    """``ResponseCache`` arguments from ``COSTAWARE_RESPONSE_CACHE*`` (``configure`` builds the cache)."""
    layers = env.get("COSTAWARE_RESPONSE_CACHE", "").strip().lower()
    others = [name for name in _CACHE_ENV if name != "COSTAWARE_RESPONSE_CACHE" and env.get(name)]
    if layers in ("", "off", "false", "0", "no"):
        if others and layers == "":
            raise ConfigurationError(
                f"{others[0]} is set but COSTAWARE_RESPONSE_CACHE is not: set it to exact or semantic"
            )
        return None
    if layers not in ("exact", "semantic"):
        raise ConfigurationError(f"COSTAWARE_RESPONSE_CACHE={layers!r}: use exact, semantic or off")
    arguments: dict[str, Any] = {"semantic": layers == "semantic"}
    for name in others:
        value: Any = env[name].strip()
        if name == "COSTAWARE_RESPONSE_CACHE_STRICTNESS":
            try:
                value = float(value)
            except ValueError:
                raise ConfigurationError(f"{name}={env[name]!r} is not a number from 0 to 1") from None
        elif name == "COSTAWARE_RESPONSE_CACHE_TTL" and value.replace(".", "", 1).isdigit():
            value = float(value)
        arguments[_CACHE_ENV[name]] = value
    return arguments


_BUDGET_ENV = {
    "COSTAWARE_BUDGET_PERIOD": "period",
    "COSTAWARE_BUDGET_KEY": "key",
    "COSTAWARE_BUDGET_STORE": "store",
    "COSTAWARE_BUDGET_TIMEZONE": "timezone",
    "COSTAWARE_BUDGET_ON_EXCEED": "on_exceed",
}


def _budget_from_env(env: Mapping[str, str]) -> Any:
    """``COSTAWARE_BUDGET_LIMIT`` (USD) and its companions as a :class:`costaware.Budget`, or ``None``."""
    limit = env.get("COSTAWARE_BUDGET_LIMIT")
    if not limit:
        stray = [name for name in _BUDGET_ENV if env.get(name)]
        if stray:
            raise ConfigurationError(f"{', '.join(stray)} set without COSTAWARE_BUDGET_LIMIT")
        return None
    from costaware.core.budget import Budget

    fields: dict[str, Any] = {field: env[name] for name, field in _BUDGET_ENV.items() if env.get(name)}
    try:
        return Budget(limit=limit, **fields)
    except ConfigurationError as exc:
        raise ConfigurationError(f"COSTAWARE_BUDGET_*: {exc}") from exc


_settings = Settings()


def current_settings() -> Settings:
    return _settings


def build_settings(base: Settings, **changes: Any) -> Settings:
    """``base`` with ``changes`` applied and validated; raises :class:`ConfigurationError`."""
    unknown = set(changes) - set(Settings.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name in ("enabled", "capture_content", "allow_upgrade"):
        if name in changes and not isinstance(changes[name], bool):
            raise ConfigurationError(f"{name} must be a bool, not {changes[name]!r}")
    if changes.get("raise_internal_errors") not in (None, True, False):
        raise ConfigurationError("raise_internal_errors must be True, False or None")
    if changes.get("prompt_cache") not in (None, True, False):
        raise ConfigurationError("prompt_cache must be True, False or None")
    cache = changes.get("response_cache")
    if cache is not None and not getattr(cache, "is_response_cache", False):
        raise ConfigurationError(f"response_cache must be a costaware.ResponseCache or None, not {cache!r}")
    if "prices" in changes:
        changes["prices"] = _as_prices(changes["prices"])
        _validate_prices(changes["prices"])
    if changes.get("route") is not None:
        changes["route"] = validate_policy(changes["route"])
    if changes.get("tiers") is not None:
        from costaware.core.routing import ladders

        ladders(changes["tiers"], prices=_price_book(changes.get("prices", base.prices)))  # validates now
    if "budget" in changes:
        changes["budget"] = _as_budget(changes["budget"])
    if "retries" in changes:
        from costaware.core.retry import RetryPolicy

        changes["retries"] = RetryPolicy.of(changes["retries"])
        check_fallback(changes["retries"], changes.get("prices", base.prices))
    if changes.get("clock") is not None and not callable(changes["clock"]):
        raise ConfigurationError(f"clock must be a callable returning seconds, not {changes['clock']!r}")
    cap = changes.get("budget_max_output_tokens", base.budget_max_output_tokens)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ConfigurationError(f"budget_max_output_tokens must be a positive int, not {cap!r}")
    for name, kind, method in (
        ("tracer_provider", "TracerProvider", "get_tracer"),
        ("meter_provider", "MeterProvider", "get_meter"),
    ):
        provider = changes.get(name)
        if provider is not None and not callable(getattr(provider, method, None)):
            raise ConfigurationError(
                f"{name} must be an OpenTelemetry {kind} (with .{method}()) or None, not {provider!r}"
            )
    return replace(base, **changes)


def _as_prices(value: Any) -> dict[str, Any]:
    """Price overrides as a dict: a mapping, ``None`` (no overrides), or the path of a JSON or TOML
    file (as ``COSTAWARE_PRICES``)."""
    if value is None:
        return {}
    if isinstance(value, (str, os.PathLike)):
        from costaware.core.tables import load_table_file

        return dict(load_table_file(os.fspath(value), what="price file", holds="a table of models"))
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"prices must be a mapping of model ids to prices, or a file path, not {type(value).__name__}"
        )
    return dict(value)


def validate_policy(value: Any) -> Any:
    """A ``route=`` value checked now (configuration time) against the configured tier ladders:
    a ``Cascade`` (its ``start`` policy checked too) or a routing policy. Raises ConfigurationError."""
    from costaware.core.routing import Cascade, as_policy, ladders

    settings = current_settings()
    book = _price_book(settings.prices)
    tiers = ladders(settings.tiers, prices=book)
    if isinstance(value, Cascade):
        from costaware.providers import PROVIDERS

        unpriced = [m for m in value.models or () if not any(book.lookup(p, m) for p in PROVIDERS)]
        if unpriced:  # its hops would be recorded, and budgeted, at an unknown price
            raise ConfigurationError(
                f"Cascade model(s) {unpriced} have no known price; check the spelling, or give a price "
                "with costaware.configure(prices={...})"
            )
        as_policy(value.start, tiers)
        return value
    return as_policy(value, tiers)


def _as_budget(value: Any) -> Any:
    """A default budget as a :class:`Budget` (its store is opened by ``configure()``, which comes
    above the budgets' machinery)."""
    from costaware.core.budget import Budget

    return value if value is None or isinstance(value, Budget) else Budget(limit=value)


def check_fallback(retries: Any, prices: Mapping[str, Any] | None = None) -> None:
    """A retry policy's ``fallback`` model must have a known price (as routing tiers must): a call
    switched to it is then priced and budgeted, and a typo fails here, not during an outage."""
    fallback = getattr(retries, "fallback", None)
    if fallback is None:
        return
    from costaware.providers import PROVIDERS

    book = _price_book(current_settings().prices if prices is None else prices)
    if not any(book.lookup(provider, fallback) for provider in PROVIDERS):
        raise ConfigurationError(
            f"fallback model {fallback!r} has no known price; check its name, or add a price with "
            "costaware.configure(prices={...})"
        )


def _price_book(prices: Any) -> Any:
    from costaware.core.pricing import PriceBook

    return PriceBook(overrides=prices)


def _validate_prices(prices: Mapping[str, Any]) -> None:
    from costaware.core.pricing import PriceBook

    try:
        PriceBook(overrides=prices)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"invalid price override: {exc}") from exc


def set_settings(settings: Settings) -> None:
    global _settings
    _settings = settings


def should_raise_internal_errors() -> bool:
    flag = _settings.raise_internal_errors
    return ("pytest" in sys.modules) if flag is None else flag


def internal_error(what: str) -> None:
    """Report an error inside costaware (call from an ``except`` block).

    Logged with its traceback and swallowed, so the application's call is never broken; re-raised
    when :func:`should_raise_internal_errors` says so (under pytest by default) so bugs surface.
    """
    if should_raise_internal_errors():
        raise
    log.warning("costaware: internal error while %s; the call itself is unaffected", what, exc_info=True)
