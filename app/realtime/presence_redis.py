"""``RedisPresence``: sockets counted across processes in Redis (``app.realtime.presence``
has the rules).

One sorted-set member per socket, ``<participant>|<process>|<n>``, scored with an expiry
(Redis server time) that a heartbeat renews while the process lives; any surviving process
sweeps the members of a process that died. A pending ``offline`` is a Redis entry with a
due time, so whichever process is alive when it falls due logs it. Imported only for a
Redis URL (``app.realtime.backends``).
"""

import asyncio
import contextlib
import itertools
import time
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.clock import clock
from app.db import Database
from app.models import Participant
from app.realtime.presence import (
    Arrivals,
    Drain,
    Key,
    Logbook,
    Publish,
    Timers,
    TooManySockets,
    log,
)
from app.session_model import SessionModels
from app.tasks import cancel_and_wait

# Redis server time in ms, so processes on hosts with skewed clocks agree on expiry.
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "


# Live members of ARGV[1] (a participant) in the zset KEYS[1] -> n.
_COUNT = """
local function count(key, pid)
  local prefix = pid .. '|'
  local n = 0
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', key, '(' .. now, '+inf')) do
    if string.sub(m, 1, #prefix) == prefix then n = n + 1 end
  end
  return n
end
"""


# KEYS: members zset, sessions set. ARGV: session, participant, member, ttl ms, max.
# Adds the socket unless the participant has max live ones: returns their count, or -1.
_JOIN = (
    _NOW
    + _COUNT
    + """
local n = count(KEYS[1], ARGV[2])
if n >= tonumber(ARGV[5]) then return -1 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[3])
redis.call('SADD', KEYS[2], ARGV[1])
return n + 1
"""
)


# KEYS: members zset. ARGV: participant. Their live sockets in every process.
_ONLINE = _NOW + _COUNT + "return count(KEYS[1], ARGV[1])"


# KEYS: members zset, sessions set. ARGV: session id, ttl ms, members...
# Returns the members that were missing (a Redis restart lost them).
_RENEW = (
    _NOW
    + """
local added = {}
for i = 3, #ARGV do
  if redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[i]) == 1 then
    table.insert(added, ARGV[i])
  end
end
redis.call('SADD', KEYS[2], ARGV[1])
return added
"""
)


# KEYS: members zset, sessions set. ARGV: session id. Returns the expired members removed.
_SWEEP = (
    _NOW
    + """
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now) end
if redis.call('ZCARD', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return gone
"""
)


# The grace is a timer: its due times are Redis time plus the offset of the processes'
# movable clock (app.clock; 0 outside tests, where a test moves every process's clock alike),
# so a test moves time past a grace instead of waiting for it. (Socket liveness, the
# heartbeats above, stays on Redis time: it is about processes that really run.)
_GRACE_NOW = _NOW + "now = now + tonumber(ARGV[#ARGV]) "

# KEYS: pending zset. ARGV: entry, grace ms, clock offset ms. Ms until the entry's offline is
# due (0: now), setting the due time if the entry is new.
_PENDING = (
    _GRACE_NOW
    + """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  return tonumber(ARGV[2])
end
return math.max(0, tonumber(due) - now)
"""
)


# KEYS: pending zset. ARGV: clock offset ms. The entries that are due.
_DUE = _GRACE_NOW + "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)"


SESSIONS_KEY = "bc:presence:sessions"


PENDING_KEY = "bc:presence:pending"


def _members_key(session_id: str) -> str:
    return f"bc:presence:{session_id}"


class RedisPresence(Arrivals):
    """Presence across processes: Redis members with expiry, reconciled into the log."""

    def __init__(
        self,
        db: Database,
        publish: Publish,
        redis_url: str,
        models: SessionModels | None = None,
        *,
        ttl_s: float = 15.0,
        max_sockets: int = 10,
        grace_s: float = 5.0,
    ) -> None:
        super().__init__()
        self._log = Logbook(db, publish, models or SessionModels(db))
        self.redis: Redis = Redis.from_url(
            redis_url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 1),
        )
        self.ttl_ms = max(int(ttl_s * 1000), 300)
        self.interval_s = max(ttl_s / 3, 0.1)
        self.max_sockets = max_sockets
        self.grace_ms = int(grace_s * 1000)
        self.process = uuid.uuid4().hex[:12]
        self._serial = itertools.count(1)
        self._members: dict[Key, list[str]] = {}  # this process's sockets
        self._timers = Timers(self.reconcile)
        self._drain = Drain()
        self._task: asyncio.Task[None] | None = None
        self._checked: set[str] = set()  # sessions whose stale "online" were checked here
        self._last_warning = 0.0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="redis-presence")

    async def stop(self) -> None:
        # Sockets are closing: let their left() run first. Pending offlines stay in Redis
        # for whichever process is alive when they fall due.
        await self._drain.wait()
        await self._background.wait()
        if self._task is not None:
            await cancel_and_wait(self._task)
        await self._timers.close()
        await self.redis.aclose()

    async def joined(self, participant: Participant) -> None:
        sid, pid = key = (participant.session_id, participant.id)
        member = f"{pid}|{self.process}|{next(self._serial)}"
        try:
            keys = (_members_key(sid), SESSIONS_KEY)
            count = await self.redis.eval(
                _JOIN, 2, *keys, sid, pid, member, self.ttl_ms, self.max_sockets
            )
        except Exception as exc:  # Redis is away: admit the socket, count it later
            self._warn("join of %s not counted (%r)", pid, exc)
            count = None
        if count == -1:
            raise TooManySockets(f"at most {self.max_sockets} open sockets per participant")
        self._members.setdefault(key, []).append(member)
        self._drain.add(1)
        if count in (1, None):
            self._due.add(key)

    async def _arrive(self, key: Key) -> None:
        sid = key[0]
        if sid not in self._checked:
            self._checked.add(sid)
            await self._check_logged_online(sid)
        await self.reconcile(key)

    async def left(self, participant: Participant, *, stopped: bool = False) -> None:
        key = (participant.session_id, participant.id)
        members = self._members.get(key)
        if not members:
            return
        member = members.pop()
        if not members:
            del self._members[key]
            self._due.discard(key)
        self._drain.add(-1)
        leave = self._leave(key, member, stopped)
        self._background.spawn(leave, f"leave of {participant.id}")

    async def _leave(self, key: Key, member: str, stopped: bool = False) -> None:
        try:
            await self.redis.zrem(_members_key(key[0]), member)
            if key not in self._members:
                await self.reconcile(key, grace=not stopped)
        except Exception as exc:
            self._warn("leave of %s not recorded (%r)", key[1], exc)

    def _warn(self, message: str, *args: Any) -> None:
        """One line per 5 s while Redis is away, not one per socket."""
        now = time.monotonic()
        if now - self._last_warning > 5:
            self._last_warning = now
            log.warning("presence: " + message, *args)

    # -- the heartbeat, the sweep and the due offlines --------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._renew()
                await self._sweep()
                for entry in await self.redis.eval(_DUE, 1, PENDING_KEY, clock.offset_ms):
                    sid, _, pid = str(entry).partition("|")
                    await self.reconcile((sid, pid))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._warn("heartbeat failed (%s: %s)", type(exc).__name__, exc)

    async def _renew(self) -> None:
        by_session: dict[str, list[str]] = {}
        for (sid, _), members in list(self._members.items()):
            by_session.setdefault(sid, []).extend(members)
        for sid, members in by_session.items():
            added = await self.redis.eval(
                _RENEW, 2, _members_key(sid), SESSIONS_KEY, sid, self.ttl_ms, *members
            )
            for pid in {str(m).split("|", 1)[0] for m in added or ()}:
                # Redis forgot these sockets (restarted): make sure the log says online.
                await self.reconcile((sid, pid))

    async def _sweep(self) -> None:
        for raw in await self.redis.smembers(SESSIONS_KEY):
            sid = str(raw)
            gone = await self.redis.eval(_SWEEP, 2, _members_key(sid), SESSIONS_KEY, sid)
            for pid in {str(m).split("|", 1)[0] for m in gone or ()}:
                await self.reconcile((sid, pid))

    async def _check_logged_online(self, session_id: str) -> None:
        """Anyone the log calls online without a live socket anywhere is not (all crashed)."""
        for pid in await self._log.online_in_log(session_id):
            await self.reconcile((session_id, pid))

    # -- the log ----------------------------------------------------------------------

    async def reconcile(self, key: Key, *, grace: bool = True) -> None:
        """Make the log agree with Redis: online at once, offline once the grace is over
        (at once with ``grace=False``: the last socket's link was rotated or revoked)."""
        sid, pid = key
        entry = f"{sid}|{pid}"
        # One reconcile of a session at a time across processes. A holder that died lets go
        # after 10 s; waiting gives up after 5 s and goes on (the derived id still prevents
        # doubles).
        lock = self.redis.lock(
            f"bc:presence:lock:{sid}",
            timeout=10,
            sleep=0.02,
            blocking_timeout=5,
            thread_local=False,
        )
        locked = await lock.acquire()
        try:
            online = int(await self.redis.eval(_ONLINE, 1, _members_key(sid), pid)) > 0
            _, says_online = await self._log.says(key)
            if online or not says_online:
                await self.redis.zrem(PENDING_KEY, entry)
                if online and not says_online:
                    await self._log.write(key, True)
                return
            wait_ms = 0
            if grace:
                wait_ms = int(
                    await self.redis.eval(
                        _PENDING, 1, PENDING_KEY, entry, self.grace_ms, clock.offset_ms
                    )
                )
            if wait_ms > 0:
                self._timers.schedule(key, wait_ms / 1000)
                return
            await self._log.write(key, False)
            await self.redis.zrem(PENDING_KEY, entry)
        finally:
            if locked:
                with contextlib.suppress(Exception):  # (expired, or Redis went away)
                    await lock.release()
