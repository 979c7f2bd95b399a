"""Who is online: ``presence`` events in the log, and at most N sockets per participant.

A participant is online while at least one of their sockets is open, in any process. The
log gets ``online`` when the first socket opens, and ``offline`` only once the last one has
stayed closed for ``grace_s``: a reconnect within the grace logs nothing, so connecting in a
loop cannot grow the log. Each transition is appended by *reconciling*: compare "has an open
socket" with the participant's last presence event and append the difference with the id
``presence:<participant>:<n>`` (their n-th presence event), so it is logged once even when
two processes race.

``LocalPresence`` counts sockets in this process: right for the in-memory broker, where one
process holds every socket. ``RedisPresence`` counts them across processes in Redis: one
sorted-set member per socket, ``<participant>|<process>|<n>``, scored with an expiry (Redis
server time) that a heartbeat renews while the process lives; any surviving process sweeps
the members of a process that died. A pending ``offline`` is a Redis entry with a due time,
so whichever process is alive when it falls due logs it.
"""

import asyncio
import contextlib
import itertools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from app.clock import Timer, clock
from app.db import Database
from app.errors import AppError
from app.locks import KeyedLocks
from app.log import SYSTEM_AUTHOR, append_event
from app.models import Event, Participant
from app.session_model import SessionModels

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

RETRY_S = 2.0  # a re-check that failed runs again after this long

Publish = Callable[[Event], Awaitable[None]]
Key = tuple[str, str]  # (session id, participant id)


class TooManySockets(Exception):
    """The participant has ``max_sockets`` open already (the socket closes with 4409)."""


class PresenceTracker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def joined(self, participant: Participant) -> None:
        """Count a new socket before its welcome, or raise TooManySockets (then it is not
        counted)."""

    def welcomed(self, participant: Participant) -> None:
        """The socket ``joined`` counted has its welcome: log ``online`` if that is due, in
        the background (off the connect path)."""

    async def left(self, participant: Participant, *, stopped: bool = False) -> None:
        """Uncount a socket that ``joined`` accepted. ``stopped``: its link was rotated or
        revoked (close 4401): it will not come back, so if it was the participant's last
        socket their ``offline`` is logged at once, without the grace."""

    async def settled(self) -> None:
        """Until the presence work started so far has run."""


# -- the log ---------------------------------------------------------------------------


class _Logbook:
    """Each participant's presence as the log has it, and the append of a transition.

    What the log says comes from the session's model (held by the hub while a socket is
    open, else cached and caught up from the log's tail): no read of the presence events.
    The model hears of an append a moment after its commit, so what this process appended
    is remembered until the model has it. An append whose id is taken (another process, or
    a model behind) returns the event that holds the id: the model is waited for until it
    has that event, and the transition looked at again.
    """

    def __init__(self, db: Database, publish: Publish, models: SessionModels) -> None:
        self.db = db
        self.publish = publish
        self.models = models
        self._appended: dict[Key, tuple[int, bool]] = {}

    async def says(self, key: Key) -> tuple[int, bool]:
        """(how many presence events the participant has, does the last say online)."""
        model = await self.models.current(key[0])
        logged = model.presence.get(key[1], (0, False))
        mine = self._appended.get(key)
        if mine is None:
            return logged
        if mine[0] > logged[0]:
            return mine
        del self._appended[key]  # the model has caught up
        return logged

    async def online_in_log(self, session_id: str) -> list[str]:
        """The participants the log calls online."""
        model = await self.models.current(session_id)
        return [pid for pid, (_, online) in model.presence.items() if online]

    async def write(self, key: Key, online: bool) -> None:
        """Log ``online``/``offline`` for the participant unless the log says so already."""
        session_id, participant_id = key
        for _ in range(5):
            n, says_online = await self.says(key)
            if says_online == online:
                return
            try:
                appended = await append_event(
                    self.db,
                    session_id,
                    SYSTEM_AUTHOR,
                    "presence",
                    {"participant_id": participant_id, "status": _status(online)},
                    f"presence:{participant_id}:{n + 1}",
                    after_commit=self.publish,
                )
            except AppError as err:  # the session is gone, or the id holds another event
                log.debug("presence for %s not appended: %s", participant_id, err.code)
                return
            if appended.created:
                self._appended[key] = (n + 1, online)
                return
            # The id was taken (another process logged a transition the model has not
            # heard of yet): look again once the model has caught up with it.
            await self._caught_up(session_id, appended.event.seq)
        log.warning("presence for %s: the log kept moving; left as it is", participant_id)

    async def _caught_up(self, session_id: str, seq: int, timeout_s: float = 3.0) -> None:
        deadline = time.monotonic() + timeout_s
        while (await self.models.current(session_id)).last_seq < seq:
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(0.05)


def _status(online: bool) -> str:
    return "online" if online else "offline"


class _Background:
    """Presence work that runs after the socket's welcome, not on its connect path."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        task = asyncio.create_task(self._guard(coro, what), name="presence")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(coro: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await coro
        except Exception as exc:  # presence is best effort: never fail the socket for it
            log.warning("presence: %s not recorded (%r)", what, exc)

    async def wait(self) -> None:
        """Until what was spawned so far has run (tests; stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


class _Timers:
    """One pending re-check per participant (a due ``offline``), run as a task when due."""

    def __init__(self, run: Callable[[Key], Coroutine[Any, Any, None]]) -> None:
        self._run = run
        self._handles: dict[Key, Timer] = {}  # on the movable clock (tests move it)
        self._tasks: set[asyncio.Task[None]] = set()

    def __contains__(self, key: Key) -> bool:
        return key in self._handles

    def keys(self) -> list[Key]:
        return list(self._handles)

    def schedule(self, key: Key, delay_s: float) -> None:
        self.cancel(key)
        self._handles[key] = clock.call_later(max(delay_s, 0), self._fire, key)

    def cancel(self, key: Key) -> None:
        handle = self._handles.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, key: Key) -> None:
        self._handles.pop(key, None)
        task = asyncio.create_task(self._recheck(key), name="presence-recheck")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _recheck(self, key: Key) -> None:
        try:
            await self._run(key)
        except Exception as exc:  # the database or Redis is away: try again a bit later
            log.warning("presence: re-check of %s failed (%r); retrying", key[1], exc)
            if key not in self._handles:
                self.schedule(key, RETRY_S)

    async def close(self) -> None:
        for key in self.keys():
            self.cancel(key)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


class _Drain:
    """Lets stop() wait (bounded) for the sockets that are closing to call left()."""

    def __init__(self) -> None:
        self.open = 0
        self._empty = asyncio.Event()
        self._empty.set()

    def add(self, n: int) -> None:
        self.open += n
        if self.open > 0:
            self._empty.clear()
        else:
            self._empty.set()

    async def wait(self, timeout_s: float = 2.0) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._empty.wait(), timeout_s)


# -- one process -----------------------------------------------------------------------


class _Arrivals:
    """What both trackers do around a welcome: the first socket of a participant, counted by
    ``joined``, is logged ``online`` after its welcome, in the background."""

    def __init__(self) -> None:
        self._due: set[Key] = set()  # counted, first of the participant, not welcomed yet
        self._background = _Background()

    def welcomed(self, participant: Participant) -> None:
        key = (participant.session_id, participant.id)
        if key in self._due:
            self._due.discard(key)
            self._background.spawn(self._arrive(key), f"join of {participant.id}")

    async def settled(self) -> None:
        await self._background.wait()

    async def _arrive(self, key: Key) -> None:
        raise NotImplementedError


class LocalPresence(_Arrivals):
    """Presence for one process that holds every socket (the in-memory broker)."""

    def __init__(
        self,
        db: Database,
        publish: Publish,
        models: SessionModels | None = None,
        *,
        max_sockets: int = 10,
        grace_s: float = 5.0,
    ) -> None:
        self.max_sockets = max_sockets
        self.grace_s = grace_s
        super().__init__()
        self._log = _Logbook(db, publish, models or SessionModels(db))
        self._sockets: dict[Key, int] = {}
        self._checked: set[str] = set()  # sessions whose stale "online" were closed here
        self._timers = _Timers(self._reconcile)
        self._locks: KeyedLocks[Key] = KeyedLocks()
        self._drain = _Drain()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        await self._drain.wait()
        await self._background.wait()
        # The process is going away and cannot see a reconnect: log the pending now.
        pending = self._timers.keys()
        await self._timers.close()
        for key in pending:
            with contextlib.suppress(Exception):
                await self._reconcile(key)

    async def joined(self, participant: Participant) -> None:
        key = (participant.session_id, participant.id)
        n = self._sockets.get(key, 0)
        if n >= self.max_sockets:
            raise TooManySockets(f"at most {self.max_sockets} open sockets per participant")
        self._sockets[key] = n + 1
        self._drain.add(1)
        if n > 0:
            return
        if key in self._timers:
            self._timers.cancel(key)  # back within the grace: nothing to log
            return
        self._due.add(key)

    async def left(self, participant: Participant, *, stopped: bool = False) -> None:
        key = (participant.session_id, participant.id)
        n = self._sockets.get(key, 0) - 1
        if n < 0:
            return
        self._drain.add(-1)
        if n > 0:
            self._sockets[key] = n
            return
        del self._sockets[key]
        self._due.discard(key)
        if stopped:  # a dead link does not reconnect: no grace to wait for
            self._timers.cancel(key)
            self._background.spawn(self._reconcile(key), f"stop of {participant.id}")
        else:
            self._timers.schedule(key, self.grace_s)

    async def _arrive(self, key: Key) -> None:
        session_id = key[0]
        if session_id not in self._checked:
            # The first socket of the session in this process: whoever the log calls online
            # without a socket here may not be (a crash or restart logged no leaving). Their
            # `offline` is due after the grace, as for any socket that closed: after a
            # restart everyone is back within it, and nothing is logged.
            self._checked.add(session_id)
            for pid in await self._log.online_in_log(session_id):
                other = (session_id, pid)
                if other != key and other not in self._timers and other not in self._sockets:
                    self._timers.schedule(other, self.grace_s)
        await self._reconcile(key)

    async def _reconcile(self, key: Key) -> None:
        async with self._locks.hold(key):
            await self._log.write(key, self._sockets.get(key, 0) > 0)


# -- several processes: Redis ----------------------------------------------------------

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

# KEYS: pending zset. ARGV: entry, grace ms. Ms until the entry's offline is due (0: now),
# setting the due time if the entry is new.
_PENDING = (
    _NOW
    + """
local due = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not due then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  return tonumber(ARGV[2])
end
return math.max(0, tonumber(due) - now)
"""
)

# KEYS: pending zset. The entries that are due.
_DUE = _NOW + "return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)"

SESSIONS_KEY = "bc:presence:sessions"
PENDING_KEY = "bc:presence:pending"


def _members_key(session_id: str) -> str:
    return f"bc:presence:{session_id}"


class RedisPresence(_Arrivals):
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
        from redis.asyncio import Redis  # (only with a Redis broker: app.realtime.backends)
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self._log = _Logbook(db, publish, models or SessionModels(db))
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
        self._timers = _Timers(self.reconcile)
        self._drain = _Drain()
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
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
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
                for entry in await self.redis.eval(_DUE, 1, PENDING_KEY):
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
                wait_ms = int(await self.redis.eval(_PENDING, 1, PENDING_KEY, entry, self.grace_ms))
            if wait_ms > 0:
                self._timers.schedule(key, wait_ms / 1000)
                return
            await self._log.write(key, False)
            await self.redis.zrem(PENDING_KEY, entry)
        finally:
            if locked:
                with contextlib.suppress(Exception):  # (expired, or Redis went away)
                    await lock.release()
