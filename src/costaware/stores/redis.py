"""The Redis store: one budget shared by every process that can reach the server.

- Atomicity: one Lua script per operation (reserve, settle, release, usage), run with EVALSHA and
  re-sent on NOSCRIPT (redis-py's ``Script``). Every script is idempotent, so redis-py's retry of
  a command that timed out cannot reserve or settle twice.
- Money: integer units of 1e-18 USD ("atto-dollars"), kept as decimal strings. Lua numbers are
  doubles (exact only to 2**53, i.e. $9,007 at this unit), so the scripts add, subtract and compare
  these strings as arbitrary-precision integers in base-1e7 limbs: exact with no upper bound.
  Amounts finer than 1e-18 USD are rounded on the safe side: a reservation up, a limit down, a
  charge to the nearest unit. Charges are recorded in the report stream as the exact ``Decimal``.
- Layout, per budget key and window: a hash ``{spent, reserved}``, a hash of reservation amounts and
  a sorted set of reservation expiries (server time + ``reservation_ttl``, default 15 min): a crashed
  process's reservations expire and are subtracted by the next script that touches the window.
  Hourly, daily and monthly windows expire 2, 3 and 62 days after their last write. A settled
  reservation id is remembered for max(2 x reservation_ttl, 1 h) to make settle idempotent.
  Settled charges go to a stream capped at about ``max_charges`` entries (default 100,000).
- Durability is the server's: with Redis's defaults (RDB snapshots) a server crash loses the
  writes since the last snapshot; use ``appendonly yes`` (``appendfsync everysec``) to lose at most
  about a second. Single-node Redis only (the scripts touch keys in several hash slots).

``redis`` (redis-py) is an optional dependency, imported when a Redis store is opened.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal, localcontext
from typing import TYPE_CHECKING, Any

from costaware.core.budget import (
    DEFAULT_RESERVATION_TTL,
    DEFAULT_STORE_TIMEOUT,
    MONEY_CONTEXT,
    Charge,
    Reservation,
    as_utc,
    redact_url,
)
from costaware.core.errors import ConfigurationError
from costaware.stores._time import from_micros, to_micros

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore"]

_UNIT_EXPONENT = 18  # amounts are stored as integers of 1e-18 USD
_WINDOW_TTL_S = {"hour": 2 * 86_400, "day": 3 * 86_400, "month": 62 * 86_400}
_CLOCK_SKEW_MS = 10 * 60 * 1000  # stream ids use the server's clock, charges' times the client's

# Arbitrary-precision non-negative integers as arrays of base-1e7 limbs, least significant first.
# Every limb operation stays far below 2**53, so doubles compute it exactly.
_LUA_DECIMALS = """
local BASE = 10000000
local function trim(a)
  local n = #a
  while n > 1 and a[n] == 0 do a[n] = nil; n = n - 1 end
  if n == 0 then a[1] = 0 end
  return a
end
local function parse(s)
  local limbs, i = {}, #s
  while i > 0 do
    local j = i - 6
    if j < 1 then j = 1 end
    limbs[#limbs + 1] = tonumber(string.sub(s, j, i))
    i = j - 1
  end
  return trim(limbs)
end
local function fmt(a)
  local out = {tostring(a[#a])}
  for i = #a - 1, 1, -1 do out[#out + 1] = string.format('%07d', a[i]) end
  return table.concat(out)
end
local function cmp(a, b)
  if #a ~= #b then return (#a < #b) and -1 or 1 end
  for i = #a, 1, -1 do
    if a[i] ~= b[i] then return (a[i] < b[i]) and -1 or 1 end
  end
  return 0
end
local function add(a, b)
  local r, carry = {}, 0
  for i = 1, math.max(#a, #b) do
    local s = (a[i] or 0) + (b[i] or 0) + carry
    if s >= BASE then r[i] = s - BASE; carry = 1 else r[i] = s; carry = 0 end
  end
  if carry > 0 then r[#r + 1] = carry end
  return r
end
local function sub(a, b) -- a - b, never below zero
  if cmp(a, b) <= 0 then return {0} end
  local r, borrow = {}, 0
  for i = 1, #a do
    local s = a[i] - (b[i] or 0) - borrow
    if s < 0 then r[i] = s + BASE; borrow = 1 else r[i] = s; borrow = 0 end
  end
  return trim(r)
end
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- KEYS[1] usage hash, KEYS[2] reservation amounts, KEYS[3] reservation expiries.
local function reserved_after_expiry()
  local reserved = parse(redis.call('HGET', KEYS[1], 'reserved') or '0')
  local stale = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now(), 'LIMIT', 0, 256)
  if #stale > 0 then
    for _, id in ipairs(stale) do
      local amount = redis.call('HGET', KEYS[2], id)
      if amount then reserved = sub(reserved, parse(amount)) end
    end
    redis.call('HDEL', KEYS[2], unpack(stale))
    redis.call('ZREM', KEYS[3], unpack(stale))
    redis.call('HSET', KEYS[1], 'reserved', fmt(reserved))
  end
  return reserved
end
local function drop_reservation(id)
  local amount = redis.call('HGET', KEYS[2], id)
  if not amount then return end
  local reserved = parse(redis.call('HGET', KEYS[1], 'reserved') or '0')
  redis.call('HSET', KEYS[1], 'reserved', fmt(sub(reserved, parse(amount))))
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
end
local function keep_for(seconds)
  if tonumber(seconds) > 0 then
    for i = 1, 3 do redis.call('EXPIRE', KEYS[i], seconds) end
  end
end
"""

# ARGV: id, amount units, limit units, reservation ttl (s), window ttl (s).
_RESERVE = (
    _LUA_DECIMALS
    + """
local reserved = reserved_after_expiry()
local spent = parse(redis.call('HGET', KEYS[1], 'spent') or '0')
local amount = parse(ARGV[2])
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then -- a retried command: already reserved
  return {1, fmt(spent), fmt(sub(reserved, amount))}
end
if cmp(add(add(spent, reserved), amount), parse(ARGV[3])) > 0 then
  return {0, fmt(spent), fmt(reserved)}
end
redis.call('HSET', KEYS[1], 'reserved', fmt(add(reserved, amount)))
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], now() + tonumber(ARGV[4]), ARGV[1])
keep_for(ARGV[5])
return {1, fmt(spent), fmt(reserved)}
"""
)

# KEYS[4] settled marker, KEYS[5] charges stream.
# ARGV: id, charge units, marker ttl (s), window ttl (s), max charges, then the charge's fields.
_SETTLE = (
    _LUA_DECIMALS
    + """
-- A script that fails part-way keeps its earlier writes: so read everything first (a key of the
-- wrong type fails here, having changed nothing), then set the settled marker and book the spend
-- together, and only then drop the reservation. A failed settle can then be replayed; a settle
-- that booked its spend is never booked again.
if redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
local spent = parse(redis.call('HGET', KEYS[1], 'spent') or '0')
redis.call('HGET', KEYS[2], ARGV[1])
redis.call('SET', KEYS[4], '1', 'EX', ARGV[3])
redis.call('HSET', KEYS[1], 'spent', fmt(add(spent, parse(ARGV[2]))))
drop_reservation(ARGV[1])
keep_for(ARGV[4])
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[5], '*', unpack(ARGV, 6))
return 1
"""
)

# ARGV: id.
_RELEASE = (
    _LUA_DECIMALS
    + """
drop_reservation(ARGV[1])
return 1
"""
)

_USAGE = (
    _LUA_DECIMALS
    + """
local reserved = reserved_after_expiry()
return {redis.call('HGET', KEYS[1], 'spent') or '0', fmt(reserved)}
"""
)


class RedisStore:
    """A budget store on a Redis server. ``RedisStore.from_url("redis://localhost:6379/0")``.

    Given a client, the store uses it as is (``decode_responses`` either way).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        prefix: str = "costaware",
        max_charges: int = 100_000,
        read_only: bool = False,
    ) -> None:
        self._client = client
        self._read_only = read_only
        """Only read (a report, possibly from a replica): usage reads leave expired reservations be."""
        self._ttl = reservation_ttl
        self._prefix = prefix
        self._max_charges = max_charges
        self._marker_ttl = max(int(2 * reservation_ttl) + 1, 3600)
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._release = client.register_script(_RELEASE)
        self._usage = client.register_script(_USAGE)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        reservation_ttl: float = DEFAULT_RESERVATION_TTL,
        prefix: str = "costaware",
        timeout: float = DEFAULT_STORE_TIMEOUT,
        read_only: bool = False,
    ) -> RedisStore:
        """Connect and write a short-lived key; raise :class:`ConfigurationError` naming the URL if
        Redis is unreachable or read-only (a replica). ``read_only``: a store that is only read (a
        report): a PING instead of the write, so a replica serves.

        Every command waits at most ``timeout`` seconds (connect and socket timeouts) and is not
        retried by redis-py: a failure goes to the store's breaker at once (``stores/guarded.py``)."""
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise ConfigurationError(
                "a redis:// budget store needs the redis package: pip install 'costaware[redis]'"
            ) from None
        shown = redact_url(url)
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"budget store URL {shown!r} is invalid: {error}") from None
        try:
            if read_only:
                client.ping()
            else:  # a write, not a PING: a read-only replica must fail here, not leave calls unbudgeted
                client.set(f"{prefix}:open-check", "1", ex=60)
        except redis.RedisError as error:
            client.close()
            doing = "reach" if read_only else "write to"
            raise ConfigurationError(f"cannot {doing} the budget store at {shown!r}: {error}") from None
        return cls(client, reservation_ttl=reservation_ttl, prefix=prefix, read_only=read_only)

    def reserve(
        self, key: str, window: str, amount: Decimal, limit: Decimal, *, reservation_id: str | None = None
    ) -> tuple[Reservation | None, Decimal, Decimal]:
        reservation = Reservation(
            id=reservation_id or uuid.uuid4().hex, key=key, window=window, amount=amount
        )
        ok, spent, reserved = self._reserve(
            keys=self._window_keys(key, window),
            args=[
                reservation.id,
                _to_units(amount, ROUND_CEILING),
                _to_units(limit, ROUND_FLOOR),
                repr(float(self._ttl)),
                self._window_ttl(window),
            ],
        )
        return (reservation if int(ok) else None), _from_units(spent), _from_units(reserved)

    def settle(self, reservation: Reservation, charge: Charge) -> None:
        at = as_utc(charge.at) if charge.at is not None else datetime.now(timezone.utc)
        fields = {
            "id": reservation.id,
            "key": reservation.key,
            "window": reservation.window,
            "budget_key": charge.budget_key,
            "amount": str(charge.amount),
            "provider": charge.provider,
            "model": charge.model,
            "feature": charge.feature,
            "tenant": charge.tenant,
            "at_us": str(to_micros(at)),
        }
        self._settle(
            keys=[
                *self._window_keys(reservation.key, reservation.window),
                self._name("settled", reservation.id),
                self._name("charges"),
            ],
            args=[
                reservation.id,
                _to_units(charge.amount, ROUND_HALF_EVEN),
                self._marker_ttl,
                self._window_ttl(reservation.window),
                self._max_charges,
                *(part for item in fields.items() for part in item),
            ],
        )

    def release(self, reservation: Reservation) -> None:
        self._release(keys=self._window_keys(reservation.key, reservation.window), args=[reservation.id])

    def usage(self, key: str, window: str) -> tuple[Decimal, Decimal]:
        if self._read_only:
            return self._usage_read_only(self._window_keys(key, window))
        spent, reserved = self._usage(keys=self._window_keys(key, window))
        return _from_units(spent), _from_units(reserved)

    def _usage_read_only(self, keys: list[str]) -> tuple[Decimal, Decimal]:
        """What the usage script returns, with reads only (a replica refuses the script, which drops
        expired reservations): expired ones are left out of the total, not deleted."""
        usage, amounts, expiries = keys
        client: Any = self._client  # the sync client (its stubs type every reply as sync or async)
        spent, reserved = client.hmget(usage, ["spent", "reserved"])
        seconds, micros = client.time()
        stale = client.zrangebyscore(expiries, "-inf", seconds + micros / 1_000_000)
        expired = sum(int(_text(a)) for a in client.hmget(amounts, stale) if a) if stale else 0
        held = max(int(_text(reserved or "0")) - expired, 0)
        return _from_units(spent or "0"), _from_units(str(held))

    def charges(self, since: datetime | None = None) -> list[Charge]:
        start = "-"
        floor = 0
        if since is not None:
            floor = to_micros(as_utc(since))
            start = str(max(floor // 1000 - _CLOCK_SKEW_MS, 0))
        found = []
        for _, raw in self._client.xrange(self._name("charges"), min=start, max="+") or ():
            entry = {_text(k): _text(v) for k, v in (raw or {}).items()}
            at_us = int(entry["at_us"])
            if at_us < floor:
                continue
            found.append(
                Charge(
                    budget_key=entry["budget_key"],
                    amount=Decimal(entry["amount"]),
                    provider=entry["provider"],
                    model=entry["model"],
                    feature=entry["feature"],
                    tenant=entry["tenant"],
                    at=from_micros(at_us),
                )
            )
        return found

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RedisStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _name(self, *parts: str) -> str:
        return ":".join((self._prefix, *parts))

    def _window_keys(self, key: str, window: str) -> list[str]:
        # The key's length first, so that no (key, window) pair can spell another's name.
        slot = f"{len(key)}:{key}:{window}"
        return [self._name(kind, slot) for kind in ("usage", "reservations", "expiries")]

    def _window_ttl(self, window: str) -> int:
        seconds = _WINDOW_TTL_S.get(window.partition(":")[0], 0)
        return max(seconds, int(self._ttl) + 60) if seconds else 0


def _to_units(amount: Decimal, rounding: str) -> str:
    with localcontext(MONEY_CONTEXT):
        return str(int(amount.scaleb(_UNIT_EXPONENT).to_integral_value(rounding=rounding)))


def _from_units(units: Any) -> Decimal:
    text = _text(units)
    digits = text.rstrip("0")
    if not digits:
        return Decimal(0)
    exponent = len(text) - len(digits) - _UNIT_EXPONENT
    # Built from a string: exact whatever the length (no context rounding), no trailing zeros.
    return Decimal(f"{digits}E{exponent}") if exponent < 0 else Decimal(digits + "0" * exponent)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
