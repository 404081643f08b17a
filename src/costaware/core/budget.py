"""Spending budgets: reserve a call's worst-case cost before it is sent, settle to its actual cost after.

Pure: no SDK, no OpenTelemetry, no I/O. The shared state lives in a :class:`Store` (memory, SQLite or
Redis, see :mod:`costaware.stores`); this module defines the values, the store protocol and the
:class:`BudgetLedger` that drives it.

Why reserve-then-settle: a check of "spent so far" alone lets every concurrent request pass before any
of them records its spend. Here each request atomically claims its worst case in the store, so the sum
of in-flight worst cases plus settled spend never exceeds the limit, across threads, tasks and (with
SQLite or Redis) processes.

```python
budget = Budget(5, period="day", timezone="Europe/Paris")
ledger = BudgetLedger(budget, open_store(budget.store))   # open_store: costaware.stores
reservation = ledger.reserve(Decimal("0.02"))              # BudgetExceededError if it does not fit
... send the request ...
ledger.settle(reservation, Charge(budget_key=budget.key, amount=Decimal("0.0042")))
```

Money is ``Decimal``, computed in :data:`MONEY_CONTEXT` (80 significant digits) so that a caller's
``decimal.getcontext()`` cannot round it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any, Literal, Protocol, get_args, runtime_checkable
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from costaware.core.errors import BudgetExceededError, ConfigurationError
from costaware.core.types import MONEY_CONTEXT

__all__ = [
    "DEFAULT_RESERVATION_TTL",
    "MONEY_CONTEXT",
    "Budget",
    "BudgetLedger",
    "Charge",
    "OnExceed",
    "Period",
    "Reservation",
    "Store",
    "StoreURL",
    "as_utc",
    "parse_store_url",
    "redact_url",
]

Period = Literal["none", "hour", "day", "month"]
OnExceed = Literal["raise", "downgrade", "warn"]
OnStoreError = Literal["open", "closed"]


DEFAULT_RESERVATION_TTL = 15 * 60.0
"""Seconds after which a reservation that was neither settled nor released stops counting (the
process that made it probably died). Longer than any LLM call should take."""
DEFAULT_STORE_TIMEOUT = 0.25
"""Seconds one operation on a shared store (SQLite, Redis) may wait before it counts as failed."""
DEFAULT_STORE_RETRY_AFTER = 5.0
"""Seconds a shared store that failed is left alone (its operations fail at once, with no I/O)."""

_ZERO = Decimal(0)
_UTC = timezone.utc
_PERIODS: tuple[str, ...] = get_args(Period)
_ON_EXCEED: tuple[str, ...] = get_args(OnExceed)
_SYNCHRONOUS: dict[str, Literal["normal", "full"]] = {"normal": "normal", "full": "full"}


@dataclass(frozen=True, slots=True)
class Reservation:
    """A worst-case amount claimed against ``key`` in ``window``, until settled or released."""

    id: str
    key: str
    window: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Charge:
    """What one settled call cost and whom it is attributed to (for ``costaware report``).

    ``at`` is when it was settled; a store fills it in (UTC) when ``None``.
    """

    budget_key: str
    amount: Decimal
    provider: str = ""
    model: str = ""
    feature: str = ""
    tenant: str = ""
    at: datetime | None = None


@runtime_checkable
class Store(Protocol):
    """Where budget spend and reservations live. Every method is atomic on its own.

    A store may say ``blocking = False`` when its methods do no I/O (the memory store): async code
    then calls them in the event loop. Any other store is called from async code on costaware's
    budget worker thread, so a SQLite transaction or a Redis round trip never stalls the loop.
    """

    def reserve(
        self, key: str, window: str, amount: Decimal, limit: Decimal
    ) -> tuple[Reservation | None, Decimal, Decimal]:
        """If ``spent + reserved + amount <= limit``, record a reservation and return it, else ``None``.

        Also returns ``(spent, reserved)`` as that atomic step saw them, before this reservation.
        """
        ...

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        """Drop the reservation and add ``charge.amount`` to spent (even if it exceeds the reservation).

        Idempotent: settling the same reservation id again changes nothing.
        """
        ...

    def release(self, reservation: Reservation) -> None:
        """Drop the reservation of a request that was never sent. Idempotent."""
        ...

    def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
        """``(spent, reserved)`` of ``key`` in ``window``; expired reservations do not count."""
        ...

    def charges(self, since: datetime | None = None) -> list[Charge]:
        """Settled charges with their attribution, in settlement order (only ``at >= since`` if given)."""
        ...

    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A validated store URL (no I/O): ``memory://``, ``sqlite:///path``, ``redis://host:port/db``.

    Options read from the query string: ``reservation_ttl`` (all stores: seconds, or with a unit
    ``ms``/``s``/``m``/``h``); for SQLite and Redis ``timeout`` (how long one operation may wait:
    SQLite's busy timeout, Redis's socket timeouts; default 250 ms) and ``retry_after`` (how long an
    unavailable store is left alone before it is tried again; default 5 s); ``busy_timeout`` (an
    older name for SQLite's ``timeout``) and ``synchronous`` (``normal``/``full``) for SQLite,
    ``prefix`` for Redis (other Redis query options are passed to redis-py), ``max_charges`` for memory.
    """

    url: str
    scheme: Literal["memory", "sqlite", "redis"]
    location: str
    """SQLite: the database path. Redis: the URL as redis-py should see it (our options removed)."""
    reservation_ttl: float = DEFAULT_RESERVATION_TTL
    timeout: float = DEFAULT_STORE_TIMEOUT
    retry_after: float = DEFAULT_STORE_RETRY_AFTER
    synchronous: Literal["normal", "full"] = "normal"
    prefix: str = "costaware"
    max_charges: int = 10_000


def split_store_url(url: str, what: str) -> tuple[SplitResult, dict[str, str], str]:
    """``url`` split, its query options, and its text with any password hidden (for messages);
    a malformed URL (or port) raises :class:`ConfigurationError` naming ``what`` it was for."""
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query)))
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as error:
        raise ConfigurationError(f"{what} URL {shown!r} is malformed: {error}") from None
    return parts, options, shown


def parse_store_url(url: str) -> StoreURL:
    """Validate a store URL without touching the store. Raises :class:`ConfigurationError`.

    SQLite paths follow SQLAlchemy's convention: ``sqlite:///budget.db`` is relative to the working
    directory, ``sqlite:////var/lib/app/budget.db`` (four slashes) is absolute.
    """
    parts, options, shown = split_store_url(url, "budget store")
    scheme = parts.scheme.lower()
    ttl = DEFAULT_RESERVATION_TTL
    if "reservation_ttl" in options:
        ttl = _duration(shown, "reservation_ttl", options.pop("reservation_ttl"))
    shared = scheme in ("sqlite", "redis", "rediss")
    timeout = DEFAULT_STORE_TIMEOUT
    retry_after = DEFAULT_STORE_RETRY_AFTER
    if shared and "timeout" in options:
        timeout = _duration(shown, "timeout", options.pop("timeout"))
    if shared and "retry_after" in options:
        retry_after = _duration(shown, "retry_after", options.pop("retry_after"))
    if scheme == "memory":
        if parts.netloc or parts.path:
            raise ConfigurationError(f"budget store URL {shown!r}: write memory:// (it names no location)")
        max_charges = _positive_int(shown, "max_charges", options.pop("max_charges", "10000"))
        _no_more_options(shown, options)
        return StoreURL(url, "memory", "", reservation_ttl=ttl, max_charges=max_charges)
    if scheme == "sqlite":
        if parts.netloc or len(parts.path) < 2:
            raise ConfigurationError(
                f"budget store URL {shown!r}: write sqlite:///relative/path.db or sqlite:////absolute/path.db"
            )
        if "busy_timeout" in options:
            timeout = _duration(shown, "busy_timeout", options.pop("busy_timeout"))
        synchronous = _SYNCHRONOUS.get(options.pop("synchronous", "normal").lower())
        if synchronous is None:
            raise ConfigurationError(f"budget store URL {shown!r}: synchronous must be normal or full")
        _no_more_options(shown, options)
        path = parts.path[1:]
        return StoreURL(
            url,
            "sqlite",
            path,
            reservation_ttl=ttl,
            timeout=timeout,
            retry_after=retry_after,
            synchronous=synchronous,
        )
    if scheme in ("redis", "rediss"):
        if not parts.hostname:
            raise ConfigurationError(f"budget store URL {shown!r} names no Redis host")
        prefix = options.pop("prefix", "costaware")
        if not prefix:
            raise ConfigurationError(f"budget store URL {shown!r}: prefix must not be empty")
        # Other options are redis-py's (socket_timeout, ssl_cert_reqs, ...): it validates them.
        location = parts._replace(query=urlencode(options)).geturl()
        return StoreURL(
            url,
            "redis",
            location,
            reservation_ttl=ttl,
            timeout=timeout,
            retry_after=retry_after,
            prefix=prefix,
        )
    raise ConfigurationError(
        f"budget store URL {shown!r} has an unknown scheme {parts.scheme!r}: "
        "use memory://, sqlite:///path.db or redis://host:port/db"
    )


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for error messages and logs."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return parts._replace(netloc=f"{user}:***@{host}").geturl()


def _no_more_options(shown: str, options: dict[str, str]) -> None:
    if options:
        unknown = ", ".join(sorted(options))
        raise ConfigurationError(f"budget store URL {shown!r} has unknown options: {unknown}")


def _duration(url: str, name: str, raw: str) -> float:
    units = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    text, scale = raw.strip().lower(), 1.0
    for suffix, factor in units:
        if text.endswith(suffix) and not (suffix == "s" and text.endswith("ms")):
            text, scale = text[: -len(suffix)], factor
            break
    try:
        value = float(text) * scale
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"budget store URL {url!r}: {name}={raw!r} is not a positive duration")
    return value


def _positive_int(url: str, name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(f"budget store URL {url!r}: {name}={raw!r} is not a positive integer")
    return value


def _to_money(value: object, what: str) -> Decimal:
    """``int``/``float``/``str``/``Decimal`` to ``Decimal``; floats go through ``str`` so 0.1 stays 0.1."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ConfigurationError(f"{what} must be a number (int, float, str or Decimal), not {value!r}")
    try:
        money = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ConfigurationError(f"{what} {value!r} is not a number") from None
    if not money.is_finite():
        raise ConfigurationError(f"{what} must be finite, not {value!r}")
    if money < 0:
        raise ConfigurationError(f"{what} must be >= 0, not {value!r}")
    return money


@dataclass(frozen=True, init=False)
class Budget:
    """A spending limit in USD over a calendar period, counted under ``key`` in a shared store.

    ``Budget(5, period="day", timezone="Europe/Paris", store="sqlite:///budget.db")`` allows $5 per
    Paris calendar day, shared by every process using that file. ``period="none"`` never resets.
    Constructing a budget validates it (``ConfigurationError``) but opens nothing: the store is
    opened by ``costaware.stores.open_store``. ``on_exceed`` is for the caller: this module always
    reports a refusal as :class:`BudgetExceededError`. ``on_store_error`` says what a call does when
    the store cannot be reached: ``"open"`` (default) goes on, its spend booked when the store is back;
    ``"closed"`` is refused before anything is sent.
    """

    limit: Decimal
    period: Period
    key: str
    store: Any
    timezone: str
    on_exceed: OnExceed
    clock: Callable[[], datetime] | None
    on_store_error: OnStoreError

    def __init__(
        self,
        limit: Decimal | int | float | str,
        period: Period = "none",
        *,
        key: str = "default",
        store: Any = None,
        timezone: str = "UTC",
        on_exceed: OnExceed = "raise",
        clock: Callable[[], datetime] | None = None,
        on_store_error: OnStoreError = "open",
    ) -> None:
        set_field = object.__setattr__  # frozen
        set_field(self, "limit", _to_money(limit, "budget limit"))
        set_field(self, "period", period)
        set_field(self, "key", key)
        set_field(self, "store", store)
        set_field(self, "timezone", timezone)
        set_field(self, "on_exceed", on_exceed)
        set_field(self, "clock", clock)
        set_field(self, "on_store_error", on_store_error)
        self.__post_init__()

    def __post_init__(self) -> None:
        if self.period not in _PERIODS:
            raise ConfigurationError(f"budget period {self.period!r} is unknown: use one of {_PERIODS}")
        if not isinstance(self.key, str) or not self.key:
            raise ConfigurationError(f"budget key must be a non-empty string, not {self.key!r}")
        if self.on_store_error not in ("open", "closed"):
            raise ConfigurationError(
                f"budget on_store_error {self.on_store_error!r} is unknown: use 'open' or 'closed'"
            )
        if self.on_exceed not in _ON_EXCEED:
            raise ConfigurationError(
                f"budget on_exceed {self.on_exceed!r} is unknown: use one of {_ON_EXCEED}"
            )
        _zone(self.timezone)
        if isinstance(self.store, str):
            parse_store_url(self.store)
        elif self.store is not None and not isinstance(self.store, Store):
            raise ConfigurationError(
                f"budget store must be None, a store URL or a Store object, not {type(self.store).__name__}"
            )
        if self.clock is not None and not callable(self.clock):
            raise ConfigurationError("budget clock must be a callable returning a datetime")

    def now(self) -> datetime:
        """The current time by the budget's clock (``datetime.now(UTC)`` unless one was injected)."""
        return self.clock() if self.clock is not None else datetime.now(_UTC)

    def window(self, now: datetime | None = None) -> str:
        """The label of the period containing ``now`` (default: the clock's now), in the budget's zone.

        ``"none"``, ``"hour:2026-12-01T13"``, ``"day:2026-12-01"``, ``"month:2026-12"``. A naive
        ``now`` is taken as UTC. The hour repeated when daylight saving time ends is a window of its
        own, labelled with its UTC offset (``"hour:2026-10-25T02+01:00"``), so no window spans two hours.
        """
        if self.period == "none":
            return "none"
        local = as_utc(self.now() if now is None else now).astimezone(_zone(self.timezone))
        if self.period == "month":
            return f"month:{local:%Y-%m}"
        if self.period == "day":
            return f"day:{local:%Y-%m-%d}"
        label = f"hour:{local:%Y-%m-%dT%H}"
        if local.fold:
            offset = local.strftime("%z")
            label += f"{offset[:3]}:{offset[3:]}"
        return label


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=_UTC)
    return moment.astimezone(_UTC)


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"budget timezone must be an IANA name such as 'Europe/Paris', not {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigurationError(
            f"budget timezone {name!r} is unknown: use an IANA name such as 'Europe/Paris' "
            "(on Windows, install the tzdata package)"
        ) from None


class BudgetLedger:
    """Reserve the worst case before a request, settle to the actual cost after.

    ```python
    reservation = ledger.reserve(worst_case)       # raises BudgetExceededError: nothing is sent
    try:
        response = send()
    except Exception:
        ledger.release(reservation)                # never sent (or nothing billed)
        raise
    ledger.settle(reservation, Charge(budget_key=budget.key, amount=actual))
    ```

    A reservation is settled into the window it was reserved in, even if the period has turned since.
    """

    def __init__(self, budget: Budget, store: Store) -> None:
        self.budget = budget
        self.store = store

    def reserve(self, amount: Decimal) -> Reservation:
        """Claim ``amount`` in the current window, or raise :class:`BudgetExceededError`."""
        _check_amount(amount)
        budget = self.budget
        window = budget.window()
        reservation, spent, reserved = self.store.reserve(budget.key, window, amount, budget.limit)
        if reservation is None:
            raise BudgetExceededError(
                key=budget.key,
                window=window,
                limit=budget.limit,
                spent=spent,
                reserved=reserved,
                needed=amount,
            )
        return reservation

    def fits(self, amount: Decimal) -> bool:
        """Whether ``amount`` would fit now. Binding nothing: a concurrent call may take the room."""
        _check_amount(amount)
        spent, reserved = self.usage()
        with localcontext(MONEY_CONTEXT):
            return spent + reserved + amount <= self.budget.limit

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        """Replace the reservation with the call's actual cost. Idempotent per reservation."""
        _check_amount(charge.amount)
        self.store.settle(reservation, charge)

    def release(self, reservation: Reservation) -> None:
        """Give the reservation back (the request was never sent). Idempotent."""
        self.store.release(reservation)

    def record(self, charge: Charge) -> None:
        """Book spend that had no reservation (``on_exceed="warn"`` let an over-budget call through).

        Done as an empty reservation settled at once, so every store books it the same way.
        """
        _check_amount(charge.amount)
        reservation, _, _ = self.store.reserve(self.budget.key, self.budget.window(), _ZERO, _UNBOUNDED)
        if reservation is not None:
            self.store.settle(reservation, charge)

    def usage(self) -> tuple[Decimal, Decimal]:
        """``(spent, reserved)`` in the current window."""
        return self.store.usage(self.budget.key, self.budget.window())

    def remaining(self) -> Decimal:
        """``limit - spent - reserved`` in the current window, never below zero."""
        spent, reserved = self.usage()
        with localcontext(MONEY_CONTEXT):
            return max(self.budget.limit - spent - reserved, _ZERO)


_UNBOUNDED = Decimal(10) ** 30


def _check_amount(amount: Decimal) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite() or amount < 0:
        raise ValueError(f"a budget amount must be a finite Decimal >= 0, not {amount!r}")
