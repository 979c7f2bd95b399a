"""Token buckets: about ``rate`` requests per second with bursts of ``burst``.

``TokenBucket`` and ``Buckets`` live in one process (a socket's own sends); a ``Limiter``
keeps buckets by key for HTTP, in this process or in Redis for all processes at once.
"""

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from app.clock import clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


class TokenBucket:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = clock.monotonic()  # the movable clock: tests move time, not wait

    def take(self) -> float:
        """Take one token; return 0 if allowed, else seconds until one is available."""
        now = clock.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Buckets:
    """One bucket per key (a participant, for HTTP), dropping idle ones."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take()

    def _prune(self) -> None:
        now = clock.monotonic()
        full_after = self.burst / self.rate
        for key, bucket in list(self._buckets.items()):
            if now - bucket.stamp > full_after:
                del self._buckets[key]


@dataclass(frozen=True)
class Rate:
    """``per_s`` tokens a second, at most ``burst`` saved up."""

    per_s: float
    burst: int


class Limiter(Protocol):
    async def take(self, key: str, rate: Rate) -> float:
        """Take one token from ``key``'s bucket: 0 if allowed, else seconds to wait."""
        ...


class LocalLimiter:
    """Buckets in this process: right when one process serves everything (``memory://``)."""

    def __init__(self) -> None:
        self._by_rate: dict[Rate, Buckets] = {}

    async def take(self, key: str, rate: Rate) -> float:
        buckets = self._by_rate.get(rate)
        if buckets is None:
            buckets = self._by_rate[rate] = Buckets(rate.per_s, rate.burst)
        return buckets.take(key)


# One token bucket per key, as a hash {tokens, stamp}, on Redis's own clock so that every
# process agrees. Returns the wait as a string (a Lua number would be cut to an integer).
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(saved[1]) or burst
local stamp = tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisLimiter:
    """Buckets in Redis, shared by every process: ``--workers N`` does not multiply limits.

    If Redis cannot answer, this process's own buckets stand in (limits hold per process
    rather than not at all) until it can again.
    """

    PREFIX = "bc:rl:"

    def __init__(self, redis: "Redis") -> None:
        from redis.exceptions import RedisError  # (only with a Redis broker)

        self._failures = (RedisError, OSError, ValueError)
        self._script = redis.register_script(_TAKE_LUA)
        self._fallback = LocalLimiter()
        self._warned = 0.0

    async def take(self, key: str, rate: Rate) -> float:
        try:
            wait = await self._script(keys=[self.PREFIX + key], args=[rate.per_s, rate.burst])
            return float(wait)
        except self._failures as exc:
            now = time.monotonic()
            if now - self._warned > 60:
                self._warned = now
                log.warning("rate limits fall back to this process: redis: %r", exc)
            return await self._fallback.take(key, rate)
