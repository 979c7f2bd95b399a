"""Token buckets: about ``rate`` requests per second with bursts of ``burst``.

``TokenBucket`` and ``Buckets`` live in one process (a socket's own sends); a ``Limiter``
keeps buckets by key for HTTP, in this process or in Redis for all processes at once.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from app.clock import clock
from app.errors import RateLimited

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)


# Tokens are floats: 100 takes of 0.05 from 5 leave about -1e-14, not 0.
_ROUNDING = 1e-9


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; a take may cost more than one
    and leave the bucket in debt (below zero), which the refill pays back before the next
    take is allowed (see ``take``)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = clock.monotonic()  # the movable clock: tests move time, not wait

    def take(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens; return 0 if allowed, else seconds until it would be.

        The debt model: a take is allowed while the bucket holds ``min(cost, 1)`` — one
        token, or the whole cost of a cheaper one — and then takes its whole cost, which may
        leave the bucket below zero. A read of 20,000 rows (20 tokens) is served when the
        bucket is not in debt, and the next read of that key waits until the refill has paid
        for it: what a key takes over time is the rate, whatever each read costs.
        """
        now = clock.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        needed = min(cost, 1.0)
        if self.tokens >= needed - _ROUNDING:
            self.tokens -= cost
            return 0.0
        return (needed - self.tokens) / self.rate

    def full_at(self) -> float:
        """When (on the movable clock) the bucket is full again: it can be forgotten then."""
        return self.stamp + max(0.0, self.burst - self.tokens) / self.rate


class Buckets:
    """One bucket per key (a participant, for HTTP), dropping idle ones."""

    def __init__(self, rate: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: dict[str, TokenBucket] = {}

    def take(self, key: str, cost: float = 1.0) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune()
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst)
        return bucket.take(cost)

    def _prune(self) -> None:
        """Forget the buckets that are full again (not those still paying a debt)."""
        now = clock.monotonic()
        for key, bucket in list(self._buckets.items()):
            if bucket.full_at() <= now:
                del self._buckets[key]


@dataclass(frozen=True)
class Rate:
    """``per_s`` tokens a second, at most ``burst`` saved up."""

    per_s: float
    burst: int


class Limiter(Protocol):
    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        """Take ``cost`` tokens from ``key``'s bucket (the debt model of ``TokenBucket``):
        0 if allowed, else seconds to wait."""
        ...


class LocalLimiter:
    """Buckets in this process: right when one process serves everything (``memory://``)."""

    def __init__(self) -> None:
        self._by_rate: dict[Rate, Buckets] = {}

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        buckets = self._by_rate.get(rate)
        if buckets is None:
            buckets = self._by_rate[rate] = Buckets(rate.per_s, rate.burst)
        return buckets.take(key, cost)


# One token bucket per key, as a hash {tokens, stamp}, on Redis's own clock so that every
# process agrees, plus the offset of the movable clock (app.clock: 0 outside tests, where a
# test moves every process's clock alike, so refills come without waiting); the debt model
# of ``TokenBucket.take`` (``tokens`` may go below zero). The key lives until the bucket
# would be full again. Returns the wait as a string (a Lua number would be cut to an integer).
_TAKE_LUA = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000 + tonumber(ARGV[4]) / 1000
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(saved[1]) or burst
local stamp = tonumber(saved[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local needed = math.min(cost, 1)
local wait = 0
if tokens >= needed - 1e-9 then
  tokens = tokens - cost
else
  wait = (needed - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return tostring(wait)
"""


class RedisLimiter:
    """Buckets in Redis, shared by every process: ``--workers N`` does not multiply limits.

    If Redis cannot answer, this process's own buckets stand in (limits hold per process
    rather than not at all) until it can again. A check that Redis does not answer within
    ``TIMEOUT_S`` is taken here; after a failure, Redis is asked again only ``RETRY_S`` later,
    so a request never waits on an unreachable Redis for more than one such timeout (the
    client's own socket timeout is 5 s, and a read held that long is a read refused).
    """

    PREFIX = "bc:rl:"
    TIMEOUT_S = 0.5
    RETRY_S = 2.0

    def __init__(self, redis: "Redis") -> None:
        from redis.exceptions import RedisError  # (only with a Redis broker)

        self._failures = (RedisError, OSError, ValueError)
        self._script = redis.register_script(_TAKE_LUA)
        self._fallback = LocalLimiter()
        self._warned = 0.0
        self._down_until = 0.0

    async def take(self, key: str, rate: Rate, cost: float = 1.0) -> float:
        if time.monotonic() < self._down_until:
            return await self._fallback.take(key, rate, cost)
        try:
            args = [rate.per_s, rate.burst, cost, clock.offset_ms]
            call = self._script(keys=[self.PREFIX + key], args=args)
            wait = await asyncio.wait_for(call, self.TIMEOUT_S)
            return float(wait)
        except (*self._failures, TimeoutError) as exc:
            now = time.monotonic()
            self._down_until = now + self.RETRY_S
            if now - self._warned > 60:
                self._warned = now
                log.warning("rate limits fall back to this process: redis: %r", exc)
            return await self._fallback.take(key, rate, cost)


class ReadSlots:
    """One large read per session at a time in this process; the next waits for its turn
    at most ``wait_s`` (2 s), then is refused (429). However many tokens a session's readers
    hold, they take one stream's worth of the process at a time."""

    def __init__(self, wait_s: float = 2.0) -> None:
        self.wait_s = wait_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}  # holding or waiting, per session (to forget locks)

    async def take(self, session_id: str) -> Callable[[], None]:
        """Wait for the session's slot; returns the function that gives it back."""
        lock = self._locks.get(session_id)
        if lock is None:
            lock = self._locks[session_id] = asyncio.Lock()
        self._users[session_id] = self._users.get(session_id, 0) + 1
        try:
            await asyncio.wait_for(lock.acquire(), self.wait_s)
        except TimeoutError:
            self._leave(session_id)
            raise RateLimited(
                "another large read of this session is under way; try again shortly",
                retry_after_s=1,
            ) from None
        except BaseException:
            self._leave(session_id)
            raise

        def give_back() -> None:
            lock.release()
            self._leave(session_id)

        return give_back

    def _leave(self, session_id: str) -> None:
        users = self._users[session_id] - 1
        if users:
            self._users[session_id] = users
        else:
            del self._users[session_id]
            del self._locks[session_id]
