"""The response store on Redis: one cache shared by processes on many machines.

Open it with ``RedisResponseStore.from_url("redis://host:6379/0?prefix=costaware:rc&timeout=0.1")``
(or :func:`costaware.stores.open_response_store`). Works on any Redis >= 6 (and Valkey) with
plain types and Lua scripts; the server's vector search (Redis 8, Redis Stack) is not used, so Debian's
redis-server 7.0 and Redis 8 behave the same. Single-node Redis only: the scripts touch keys in
several hash slots (as the budget store's do).

Layout under ``{prefix}`` (default ``costaware:rc``):

- ``{prefix}:e:{key}``: a hash per entry: ``partition namespace question vector payload created_at
  expires_at gen bands``; the vector as little-endian float32 bytes, ``bands`` the entry's LSH bucket
  codes. With a TTL, Redis expires the hash ``GRACE_S`` (10 min) after ``expires_at``, so the sweep below
  can still read which indexes name it; ``expires_at`` is checked on every read, so an expired entry is
  never returned.
- ``{prefix}:b:{partition}:{band}:{code}``: a set of entry keys per LSH bucket (the semantic index).
  Its TTL is kept at least as long as every member's; a member whose hash is gone is removed by the
  next lookup that meets it.
- ``{prefix}:lru``: entry key -> last use (the server's clock, so every machine agrees); a put that
  takes the count over ``max_entries`` evicts the least recently used, at most 64 per put, so lowering
  the limit shrinks the store over the next puts rather than in one long script.
- ``{prefix}:exp``: entry key -> ``expires_at``; every put sweeps up to 16 expired entries from all the
  indexes.
- ``{prefix}:g:{namespace}`` and ``{prefix}:n:{namespace}``: the namespace's generation and the set of
  its entry keys. Invalidating a namespace is O(1): one INCR makes every entry of the old generation
  unreachable at once (reads compare an entry's ``gen``), and the old key set is queued on
  ``{prefix}:gc``, which puts drain 16 keys at a time. It returns the set's size: an estimate, as it
  may still count expired entries not yet swept.

The semantic index is sign-random-projection LSH. A vector's 336 sign bits come from a fixed
projection on +1/-1 entries derived from SHAKE-256 (so every machine, NumPy version and dimension gets
the same bits; the dimension is read from the vector). They are cut into 24 bands of 14 bits; an entry
is a member of one bucket per band. A lookup reads the query's bucket and, per band, the 3 buckets one
bit away across its least certain bits (multi-probe: 96 sets), ranks the members by how many of these
sets they are in, and fetches the vectors of the best 128 in the same script; the client rescores
cosine with NumPy, keeps those at or above ``min_similarity``, and fetches the best ``limit`` entries
in full. Measured on 10,000 random unit 256-d vectors (WordLlama's are close to isotropic: mean
pairwise cosine 0.01 on the QQP/PAWS/MRPC dev pairs), a neighbour at cosine 0.9 is found 100% of the
time, at 0.85 99.4%, at 0.8 96%, at 0.75 86%; a lookup meets about 70 candidates (about 150 when the
vectors share a direction, mean pairwise cosine 0.14). Memory: 24 set memberships per entry. Against a
local redis-server 7.0 with 10,000 entries in one partition: put 0.4 ms, get 0.2 ms, candidates 3 ms
(p99 5 ms); about 6.6 KB of server memory per entry with a 500-byte payload, most of it the buckets.

Round trips: ``get``, ``touch``, ``put`` and ``invalidate`` make one (a script each); ``candidates``
makes one, and a second when it has something to return. Every round trip waits at most ``timeout``
(socket and connect timeouts, no redis-py retries), so a hung or unreachable server fails an
operation after about one ``timeout``; the store raises and the response cache turns that into a miss.
A field that cannot be read (corrupt vector bytes, a missing payload) makes the entry a miss. A fork
is safe: redis-py's pool notices the new pid and opens new connections in the child.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from costaware.core.budget import _duration, redact_url, split_store_url
from costaware.core.errors import ConfigurationError
from costaware.stores import _forksafe
from costaware.stores.responses import Entry

if TYPE_CHECKING:
    import numpy as np
    import redis

__all__ = ["RedisResponseStore"]

DEFAULT_PREFIX = "costaware:rc"
DEFAULT_TIMEOUT = 0.1
BANDS = 24
BITS_PER_BAND = 14
PROBES = 3  # buckets one bit away, per band, looked up besides the query's own
MAX_CANDIDATES = 128  # vectors fetched per lookup, best-ranked first
GRACE_S = 600  # Redis keeps an expired entry this long for the sweep to unindex it
_SWEEP = 16  # expired and invalidated entries reclaimed per put
_MAX_EVICT = 64  # evictions per put
_FIELDS = ("partition", "namespace", "question", "vector", "payload", "created_at", "expires_at")
_RESERVED_OPTIONS = ("socket_timeout", "socket_connect_timeout", "retry_on_timeout", "retry_on_error")

# ARGV[1] is always the prefix.
_LUA_COMMON = """
local P = ARGV[1]
local function ekey(k) return P .. ':e:' .. k end
local function gen_of(ns) return redis.call('GET', P .. ':g:' .. ns) or '0' end
local function server_now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
-- Remove an entry and every index that names it; 1 if its hash was there.
local function drop(k)
  local f = redis.call('HMGET', ekey(k), 'partition', 'namespace', 'bands')
  if f[1] and f[3] then
    local band = 0
    for code in string.gmatch(f[3], '%S+') do
      redis.call('SREM', P .. ':b:' .. f[1] .. ':' .. band .. ':' .. code, k)
      band = band + 1
    end
  end
  if f[2] then redis.call('SREM', P .. ':n:' .. f[2], k) end
  redis.call('ZREM', P .. ':lru', k)
  redis.call('ZREM', P .. ':exp', k)
  return redis.call('DEL', ekey(k))
end
-- Whether the hash fields namespace, gen, expires_at describe a live entry at time `now`.
local function live(ns, gen, expires_at, now, gens)
  local current = gens[ns or '']
  if not current then current = gen_of(ns or ''); gens[ns or ''] = current end
  local ends = tonumber(expires_at or '')
  return gen == current and not (ends and ends <= now)
end
"""

# ARGV: prefix, now, touch ('1'/'0'), keys... -> per key: the fields of _FIELDS, or false.
_GET = (
    _LUA_COMMON
    + """
local now, touch, gens, out = tonumber(ARGV[2]), ARGV[3] == '1', {}, {}
for i = 4, #ARGV do
  local k = ARGV[i]
  local f = redis.call('HMGET', ekey(k), 'partition', 'namespace', 'question', 'vector', 'payload',
                       'created_at', 'expires_at', 'gen')
  if f[1] and live(f[2], f[8], f[7], now, gens) then
    if touch then redis.call('ZADD', P .. ':lru', server_now(), k) end
    local row = {}
    for j = 1, 7 do row[j] = f[j] or false end -- a missing field must not end the array
    out[#out + 1] = row
  else
    if f[1] then drop(k) end
    out[#out + 1] = false
  end
end
return out
"""
)

_TOUCH = (
    _LUA_COMMON
    + """
if redis.call('EXISTS', ekey(ARGV[2])) == 1 then redis.call('ZADD', P .. ':lru', server_now(), ARGV[2]) end
return 1
"""
)

# KEYS: the probed bucket sets. ARGV: prefix, now, max candidates -> flat [key, vector, partition, ...].
_LOOKUP = (
    _LUA_COMMON
    + """
local counts, order = {}, {}
for _, bucket in ipairs(KEYS) do
  for _, m in ipairs(redis.call('SMEMBERS', bucket)) do
    if counts[m] then counts[m] = counts[m] + 1 else counts[m] = 1; order[#order + 1] = m end
  end
end
table.sort(order, function(a, b) return counts[a] > counts[b] end)
local now, gens, out = tonumber(ARGV[2]), {}, {}
for i = 1, math.min(#order, tonumber(ARGV[3])) do
  local m = order[i]
  local f = redis.call('HMGET', ekey(m), 'partition', 'namespace', 'gen', 'expires_at', 'vector')
  if not f[1] then -- gone (expired, evicted): forget it in the buckets we read
    for _, bucket in ipairs(KEYS) do redis.call('SREM', bucket, m) end
  elseif f[5] and live(f[2], f[3], f[4], now, gens) then
    out[#out + 1] = m; out[#out + 1] = f[5]; out[#out + 1] = f[1]
  end
end
return out
"""
)

# ARGV: prefix, now, key, partition, namespace, question, vector, payload, created_at, expires_at,
# bands, ttl ms ('' for none), max entries ('0' for none) -> entries evicted.
_PUT = (
    (
        _LUA_COMMON
        + """
local now, k, partition, ns = tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
local ttl = tonumber(ARGV[12])
-- A set must outlive its members: no TTL if one has none, else the longest member's.
local function keep(set, before)
  if not ttl then redis.call('PERSIST', set)
  elseif before == -2 or (before >= 0 and before < ttl) then redis.call('PEXPIRE', set, ttl) end
end
local function add(set, member)
  local before = redis.call('PTTL', set)
  redis.call('SADD', set, member)
  keep(set, before)
end
drop(k)
redis.call('HSET', ekey(k), 'partition', partition, 'namespace', ns, 'question', ARGV[6],
           'vector', ARGV[7], 'payload', ARGV[8], 'created_at', ARGV[9], 'expires_at', ARGV[10],
           'gen', gen_of(ns), 'bands', ARGV[11])
if ttl then
  redis.call('PEXPIRE', ekey(k), ttl)
  redis.call('ZADD', P .. ':exp', ARGV[10], k)
end
local band = 0
for code in string.gmatch(ARGV[11], '%S+') do
  add(P .. ':b:' .. partition .. ':' .. band .. ':' .. code, k)
  band = band + 1
end
add(P .. ':n:' .. ns, k)
redis.call('ZADD', P .. ':lru', server_now(), k)
-- Sweep: expired entries, then entries of invalidated namespace generations.
for _, old in ipairs(redis.call('ZRANGEBYSCORE', P .. ':exp', '-inf', now, 'LIMIT', 0, SWEEP)) do
  drop(old)
end
local queue = redis.call('LINDEX', P .. ':gc', 0)
if queue then
  local gens = {}
  for _, old in ipairs(redis.call('SPOP', queue, SWEEP)) do
    local f = redis.call('HMGET', ekey(old), 'namespace', 'gen')
    if f[1] and not live(f[1], f[2], nil, now, gens) then drop(old) end
  end
  if redis.call('SCARD', queue) == 0 then redis.call('LPOP', P .. ':gc') end
end
local evicted, limit = 0, tonumber(ARGV[13])
if limit > 0 then
  local over = redis.call('ZCARD', P .. ':lru') - limit
  if over > 0 then
    for _, old in ipairs(redis.call('ZRANGE', P .. ':lru', 0, math.min(over, MAX_EVICT) - 1)) do
      if old ~= k then evicted = evicted + drop(old) end
    end
  end
end
return evicted
"""
    )
    .replace("MAX_EVICT", str(_MAX_EVICT))
    .replace("SWEEP", str(_SWEEP))
)

# ARGV: prefix, key -> 1 or 0.
_INVALIDATE_KEY = _LUA_COMMON + "return drop(ARGV[2])"

# ARGV: prefix, namespace -> how many entries the namespace had (an estimate).
_INVALIDATE_NAMESPACE = (
    _LUA_COMMON
    + """
local ns = ARGV[2]
local generation = redis.call('INCR', P .. ':g:' .. ns)
local members = P .. ':n:' .. ns
local count = redis.call('SCARD', members)
if count > 0 then
  local queue = P .. ':gc:' .. generation .. ':' .. ns
  redis.call('RENAME', members, queue)
  redis.call('RPUSH', P .. ':gc', queue)
end
return count
"""
)


class RedisResponseStore:
    """A :class:`~costaware.stores.responses.ResponseStore` on a Redis server (see the module's
    description). Thread-safe; share one per process."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_entries: int | None = 100_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_entries is not None and (isinstance(max_entries, bool) or max_entries <= 0):
            raise ConfigurationError(f"max_entries must be a positive integer or None, not {max_entries!r}")
        self._client = client
        self._prefix = prefix
        self._max_entries = max_entries or 0
        self._clock = clock
        self._lock: threading.Lock = _forksafe.register(self)
        self._evictions = 0
        self._get = client.register_script(_GET)
        self._touch = client.register_script(_TOUCH)
        self._lookup = client.register_script(_LOOKUP)
        self._put = client.register_script(_PUT)
        self._invalidate_key = client.register_script(_INVALIDATE_KEY)
        self._invalidate_namespace = client.register_script(_INVALIDATE_NAMESPACE)

    @classmethod
    def from_url(
        cls, url: str, *, max_entries: int | None = 100_000, clock: Callable[[], float] = time.time
    ) -> RedisResponseStore:
        """Connect and write a short-lived key: raise :class:`ConfigurationError` naming the URL if it
        is invalid or Redis is unreachable or read-only.

        Query options: ``prefix`` (default ``costaware:rc``), ``timeout`` (seconds, or with a unit
        ``ms``/``s``; default 0.1): how long a round trip may wait. Others go to redis-py."""
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise ConfigurationError(
                "a redis:// response store needs the redis package: pip install 'costaware[redis]'"
            ) from None
        location, prefix, timeout = _parse_url(url)
        shown = redact_url(url)
        try:
            client = redis.Redis.from_url(
                location,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),
                decode_responses=False,  # vectors and payloads are bytes
            )
            client.set(f"{prefix}:open-check", b"1", ex=60)  # a write: a read-only replica fails here
        except (ValueError, TypeError) as error:
            raise ConfigurationError(f"response store URL {shown!r} is invalid: {error}") from None
        except redis.RedisError as error:
            client.close()
            raise ConfigurationError(f"cannot write to the response store at {shown!r}: {error}") from None
        return cls(client, prefix=prefix, max_entries=max_entries, clock=clock)

    # -- the ResponseStore protocol -------------------------------------------------------------
    def get(self, key: str) -> Entry | None:
        [found] = self._fetch([key], touch=True)
        return found

    def candidates(
        self, partition: str, vector: Any, limit: int, min_similarity: float
    ) -> list[tuple[float, Entry]]:
        import numpy as np

        query = np.asarray(vector, dtype=np.float32).ravel()
        if limit <= 0 or not query.size:
            return []
        buckets = [self._bucket(partition, band, code) for band, code in _probes(query)]
        found = self._lookup(keys=buckets, args=[self._prefix, repr(self._clock()), MAX_CANDIDATES])
        scored = []
        for at in range(0, len(found), 3):
            key, raw, owner = found[at : at + 3]
            candidate = _vector(raw)
            if owner.decode() != partition or candidate is None or candidate.size != query.size:
                continue
            similarity = _cosine(query, candidate)
            if similarity >= min_similarity:
                scored.append((similarity, key.decode()))
        scored.sort(reverse=True)
        winners = [key for _, key in scored[:limit]]
        hits = []
        for entry in self._fetch(winners, touch=False) if winners else ():
            if entry is None or entry.partition != partition or entry.vector is None:
                continue
            if entry.vector.size == query.size:
                similarity = _cosine(query, entry.vector)
                if similarity >= min_similarity:
                    hits.append((similarity, entry))
        hits.sort(key=lambda hit: hit[0], reverse=True)
        return hits

    def touch(self, key: str) -> None:
        self._touch(args=[self._prefix, key])

    def put(self, entry: Entry) -> None:
        now = self._clock()
        ttl_ms = ""
        if entry.expires_at is not None:
            if entry.expires_at <= now:
                return  # already expired: nothing to keep
            ttl_ms = str(math.ceil((entry.expires_at - now + GRACE_S) * 1000))
        raw_vector, bands = b"", ""
        if entry.vector is not None:
            import numpy as np

            vector = np.asarray(entry.vector, dtype="<f4").ravel()
            raw_vector = vector.tobytes()
            bands = " ".join(f"{code:x}" for code in _codes(vector))
        evicted = self._put(
            args=[
                self._prefix,
                repr(now),
                entry.key,
                entry.partition,
                entry.namespace,
                entry.question.encode(),
                raw_vector,
                bytes(entry.payload),
                repr(float(entry.created_at)),
                "" if entry.expires_at is None else repr(float(entry.expires_at)),
                bands,
                ttl_ms,
                self._max_entries,
            ]
        )
        if evicted:
            with self._lock:
                self._evictions += int(evicted)

    def invalidate(self, *, key: str | None = None, namespace: str | None = None) -> int:
        if (key is None) == (namespace is None):
            raise ValueError("invalidate takes exactly one of key= or namespace=")
        if key is not None:
            return int(self._invalidate_key(args=[self._prefix, key]))
        assert namespace is not None
        return int(self._invalidate_namespace(args=[self._prefix, namespace]))

    @property
    def evictions(self) -> int:
        return self._evictions

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RedisResponseStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals --------------------------------------------------------------------------------
    def _bucket(self, partition: str, band: int, code: int) -> str:
        return f"{self._prefix}:b:{partition}:{band}:{code:x}"

    def _fetch(self, keys: Sequence[str], *, touch: bool) -> list[Entry | None]:
        """The live entries with these keys (``None`` where missing, expired or unreadable)."""
        now = self._clock()
        rows = self._get(args=[self._prefix, repr(now), "1" if touch else "0", *keys])
        found = [_entry(key, row) if row else None for key, row in zip(keys, rows, strict=True)]
        # The script compared expires_at with this clock too; checked again here so that no way
        # through the script can return an expired entry.
        return [e if e is None or e.expires_at is None or e.expires_at > now else None for e in found]


def _parse_url(url: str) -> tuple[str, str, float]:
    """``(url for redis-py, prefix, timeout)``; raises :class:`ConfigurationError`."""
    parts, options, shown = split_store_url(url, "response store")
    if parts.scheme.lower() not in ("redis", "rediss") or not parts.hostname:
        raise ConfigurationError(f"response store URL {shown!r}: write redis://host:port/db")
    prefix = options.pop("prefix", DEFAULT_PREFIX)
    if not prefix:
        raise ConfigurationError(f"response store URL {shown!r}: prefix must not be empty")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in options:
        raw = options.pop("timeout")
        try:
            timeout = _duration(shown, "timeout", raw)
        except ConfigurationError:
            raise ConfigurationError(
                f"response store URL {shown!r}: timeout={raw!r} is not a positive duration"
            ) from None
    reserved = sorted(set(options) & set(_RESERVED_OPTIONS))
    if reserved:
        raise ConfigurationError(
            f"response store URL {shown!r}: {', '.join(reserved)} is set by the store: use timeout="
        )
    return parts._replace(query=urlencode(options)).geturl(), prefix, timeout


@lru_cache(maxsize=8)
def _projection(dimension: int) -> np.ndarray:
    """The fixed (BANDS * BITS_PER_BAND, dimension) matrix of +1/-1 hyperplanes for this dimension."""
    import numpy as np

    bits = BANDS * BITS_PER_BAND
    seed = f"costaware-lsh-v1:{dimension}".encode()
    raw = np.frombuffer(hashlib.shake_256(seed).digest(bits * dimension // 8 + 1), dtype=np.uint8)
    signs = np.unpackbits(raw)[: bits * dimension].reshape(bits, dimension)
    return signs.astype(np.float32) * 2 - 1


def _margins(vector: np.ndarray) -> np.ndarray:
    """The projections, one row of BITS_PER_BAND per band; a bit is 1 where its projection is > 0."""
    import numpy as np

    return (_projection(vector.size) @ vector.astype(np.float32)).reshape(BANDS, BITS_PER_BAND)


def _codes(vector: np.ndarray) -> list[int]:
    """The bucket code of ``vector`` in each band."""
    import numpy as np

    weights = 1 << np.arange(BITS_PER_BAND)
    return [int(code) for code in ((_margins(vector) > 0) * weights).sum(axis=1)]


def _probes(vector: np.ndarray) -> list[tuple[int, int]]:
    """``(band, code)`` of the query's bucket in each band and of the PROBES buckets one bit away
    across its least certain bits (the projections nearest zero)."""
    import numpy as np

    margins = _margins(vector)
    weights = 1 << np.arange(BITS_PER_BAND)
    found = []
    for band, row in enumerate(margins):
        code = int(((row > 0) * weights).sum())
        found.append((band, code))
        found.extend((band, code ^ (1 << int(bit))) for bit in np.argsort(np.abs(row))[:PROBES])
    return found


def _vector(raw: bytes | None) -> np.ndarray | None:
    import numpy as np

    if not raw or len(raw) % 4:
        return None
    vector = np.frombuffer(raw, dtype="<f4")
    return vector if np.isfinite(vector).all() else None


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    norms = float(np.linalg.norm(a)) * float(np.linalg.norm(b))
    return float(np.dot(a, b)) / norms if norms > 0 else -1.0


def _entry(key: str, row: list[bytes | None]) -> Entry | None:
    """An entry from its hash fields (in _FIELDS order), or ``None`` if one cannot be read."""
    partition, namespace, question, raw_vector, payload, created_at, expires_at = row
    try:
        if partition is None or namespace is None or question is None or payload is None:
            return None
        vector = _vector(raw_vector) if raw_vector else None
        if raw_vector and vector is None:
            return None
        return Entry(
            key=key,
            partition=partition.decode(),
            namespace=namespace.decode(),
            question=question.decode(),
            vector=vector,
            payload=bytes(payload),
            created_at=float(created_at),  # type: ignore[arg-type]
            expires_at=float(expires_at) if expires_at else None,
        )
    except (UnicodeDecodeError, ValueError, TypeError):
        return None
