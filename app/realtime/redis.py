"""Redis: the broker between server processes, and presence counted across them.

``RedisBroker`` keeps ONE pub/sub connection per process and one Redis subscription per
channel that has local subscribers. redis-py would silently reconnect a pub/sub connection
and lose what was published meanwhile, so the reader owns the connection instead: on any
error it drops it, reconnects with backoff, re-subscribes every channel and, once Redis
confirms each subscription, calls that channel's callbacks with ``None`` (the hub then reads
what it missed from the log). Publishing never raises: the event is committed already.

``RedisPresence`` counts a participant's sockets across processes: a sorted set per session
holds ``<participant>|<process>`` members scored with an expiry (Redis server time), renewed
by a heartbeat while the process lives. A process that dies stops renewing; any surviving
process sweeps the expired members. Whatever changed, the tracker *reconciles*: under a
short Redis lock per session it compares "has a live member" with the last presence event
in the log and appends the difference with the id ``presence:<participant>:<n>`` (the n-th
presence event of that participant), so a transition is logged exactly once even when two
processes race.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.errors import AppError
from app.log import SYSTEM_AUTHOR, append_event, read_events
from app.models import Participant
from app.realtime.broker import Broker, Callback
from app.realtime.hub import PROCESS_ID, Hub

log = logging.getLogger(__name__)

SUBSCRIBE_WAIT_S = 5.0  # how long subscribe() waits for Redis to confirm
PUBLISH_TIMEOUT_S = 2.0
IDLE_PING_S = 5.0  # ping the pub/sub connection after this much silence...
DEAD_AFTER_S = 10.0  # ...and drop it when nothing at all came back for this long
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 2.0


class RedisBroker(Broker):
    single_process = False

    def __init__(self, url: str) -> None:
        self.url = url
        self._subs: dict[str, list[Callback]] = {}
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._resync: set[str] = set()
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closing = False
        self._connected = asyncio.Event()  # the pub/sub connection is up and subscribed
        # A private channel keeps the connection in subscribed mode even with no sessions.
        self._own_channel = f"bc:broker:{PROCESS_ID}:{uuid.uuid4().hex[:8]}"
        self._last_publish_error = 0.0
        self.reconnects = 0
        # Commands (publish, presence): a normal pool that retries once, quickly.
        self.client: Redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=5,
            retry=Retry(NoBackoff(), 1),
        )
        # Pub/sub: no silent retries; the reader notices every loss.
        self._sub_client: Redis = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_keepalive=True,
            retry=Retry(NoBackoff(), 0),
        )

    async def connect(self) -> None:
        """Start the reader; a Redis that is down now is retried in the background."""
        self._closing = False
        self._reader = asyncio.create_task(self._read_forever(), name="redis-broker-reader")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), SUBSCRIBE_WAIT_S)

    async def disconnect(self) -> None:
        self._closing = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(BaseException):
                await self._reader
        await self._drop_pubsub()
        await self.client.aclose()
        await self._sub_client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    async def publish(self, channel: str, message: str) -> None:
        try:
            await asyncio.wait_for(self.client.publish(channel, message), PUBLISH_TIMEOUT_S)
        except Exception as exc:
            # The event is committed; other processes catch up from the log when Redis
            # returns (their reader reconnects and resyncs). One line per 5 s, not per event.
            now = time.monotonic()
            if now - self._last_publish_error > 5:
                self._last_publish_error = now
                log.warning("redis publish failed (%s: %s)", type(exc).__name__, exc)

    async def subscribe(self, channel: str, callback: Callback) -> None:
        callbacks = self._subs.setdefault(channel, [])
        callbacks.append(callback)
        if len(callbacks) > 1:
            return
        if not self._connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), 1.0)
        pubsub = self._pubsub
        if pubsub is None:
            # Redis is away: the reader subscribes it on connect, then calls back with None
            # so the subscriber reads what it missed.
            self._resync.add(channel)
            return
        fut = self._confirm.get(channel)
        if fut is None or fut.done():
            fut = self._confirm[channel] = asyncio.get_running_loop().create_future()
        try:
            await pubsub.execute_command("SUBSCRIBE", channel)
            # Wait for Redis to confirm: the caller reads the log next, and nothing
            # published after that read may be missed.
            await asyncio.wait_for(asyncio.shield(fut), SUBSCRIBE_WAIT_S)
        except Exception as exc:
            # The connection is failing; the reader reconnects, re-subscribes and resyncs.
            log.warning("redis subscribe to %s not confirmed (%s)", channel, type(exc).__name__)
            self._resync.add(channel)

    async def unsubscribe(self, channel: str, callback: Callback) -> None:
        callbacks = self._subs.get(channel)
        if not callbacks:
            return
        with contextlib.suppress(ValueError):
            callbacks.remove(callback)
        if callbacks:
            return
        del self._subs[channel]
        self._confirm.pop(channel, None)
        self._resync.discard(channel)
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.execute_command("UNSUBSCRIBE", channel)

    # -- the reader -------------------------------------------------------------------

    async def _read_forever(self) -> None:
        delay = BACKOFF_MIN_S
        first = True
        while not self._closing:
            try:
                await self._connect_and_subscribe(resync=not first)
                first = False
                delay = BACKOFF_MIN_S
                await self._read_until_lost()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("redis pub/sub connection lost (%s: %s)", type(exc).__name__, exc)
            await self._drop_pubsub()
            if self._closing:
                return
            # Anything published from here until the resubscription is lost: resync after.
            first = False
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)

    async def _connect_and_subscribe(self, *, resync: bool) -> None:
        pubsub = self._sub_client.pubsub()
        try:
            await pubsub.connect()
        except BaseException:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            raise
        # No await between the snapshot and publishing self._pubsub: a subscribe() from now
        # on sends its own SUBSCRIBE on this connection, everything before is in the snapshot.
        channels = list(self._subs)
        self._pubsub = pubsub
        if resync:
            self._resync.update(channels)
        await pubsub.execute_command("SUBSCRIBE", self._own_channel, *channels)

    async def _read_until_lost(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        last_rx = time.monotonic()
        pinged = False
        while not self._closing:
            message = await pubsub.get_message(timeout=1.0)
            now = time.monotonic()
            if message is None:
                if now - last_rx > DEAD_AFTER_S:
                    raise ConnectionError("no answer from redis")
                if now - last_rx > IDLE_PING_S and not pinged:
                    await pubsub.execute_command("PING")
                    pinged = True
                continue
            last_rx = now
            pinged = False
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        channel = message.get("channel")
        if kind == "message" and isinstance(channel, str):
            self._call(channel, message.get("data"))
        elif kind == "subscribe" and channel == self._own_channel:
            self._connected.set()
        elif kind == "subscribe" and isinstance(channel, str):
            fut = self._confirm.pop(channel, None)
            if fut is not None and not fut.done():
                fut.set_result(None)
            if channel in self._resync:
                self._resync.discard(channel)
                self._call(channel, None)

    def _call(self, channel: str, data: Any) -> None:
        for callback in list(self._subs.get(channel, ())):
            try:
                callback(data if data is None else str(data))
            except Exception:  # one bad subscriber must not starve the others
                log.exception("subscriber of %s failed", channel)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        self._connected.clear()
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), 2)


# -- presence ---------------------------------------------------------------------------

# Redis server time in ms, so processes on hosts with skewed clocks agree on expiry.
_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

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

# KEYS: members zset. ARGV: participant id. 1 when some live member belongs to it.
_ONLINE = (
    _NOW
    + """
local prefix = ARGV[1] .. '|'
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  if string.sub(m, 1, #prefix) == prefix then return 1 end
end
return 0
"""
)

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

SESSIONS_KEY = "bc:presence:sessions"


def _members_key(session_id: str) -> str:
    return f"bc:presence:{session_id}"


class RedisPresence:
    """Presence across processes: Redis members with expiry, reconciled into the log."""

    def __init__(self, hub: Hub, redis: Redis, ttl_s: float) -> None:
        self.hub = hub
        self.redis = redis
        self.ttl_ms = max(int(ttl_s * 1000), 300)
        self.interval_s = max(ttl_s / 3, 0.1)
        self._task: asyncio.Task[None] | None = None
        self._checked: set[str] = set()  # sessions whose stale "online" were checked here

    def _member(self, participant_id: str) -> str:
        return f"{participant_id}|{PROCESS_ID}"

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="redis-presence")

    async def stop(self) -> None:
        # Sockets are closing (hub.close_all): give their left() a moment to run first.
        for _ in range(20):
            if not self.hub._local:
                break
            await asyncio.sleep(0.1)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def joined(self, participant: Participant) -> None:
        if self.hub.count_local(participant, +1) != 1:
            return
        sid = participant.session_id
        try:
            await self.redis.eval(
                _RENEW,
                2,
                _members_key(sid),
                SESSIONS_KEY,
                sid,
                self.ttl_ms,
                self._member(participant.id),
            )
            await self.reconcile(sid, participant.id)
            if sid not in self._checked:
                self._checked.add(sid)
                await self._check_logged_online(sid)
        except Exception as exc:  # presence is best effort: never fail the socket for it
            log.warning("presence: join of %s not recorded (%r)", participant.id, exc)

    async def left(self, participant: Participant) -> None:
        if self.hub.count_local(participant, -1) != 0:
            return
        sid = participant.session_id
        try:
            await self.redis.zrem(_members_key(sid), self._member(participant.id))
            await self.reconcile(sid, participant.id)
        except Exception as exc:
            log.warning("presence: leave of %s not recorded (%r)", participant.id, exc)

    # -- the heartbeat and the sweep -----------------------------------------------------

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._renew()
                await self._sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("presence heartbeat failed (%s: %s)", type(exc).__name__, exc)

    async def _renew(self) -> None:
        by_session: dict[str, list[str]] = {}
        for sid, pid in list(self.hub._local):
            by_session.setdefault(sid, []).append(pid)
        for sid, pids in by_session.items():
            members = [self._member(pid) for pid in pids]
            added = await self.redis.eval(
                _RENEW, 2, _members_key(sid), SESSIONS_KEY, sid, self.ttl_ms, *members
            )
            for member in added or ():
                # Redis forgot this socket (restarted): make sure the log says online.
                await self.reconcile(sid, str(member).split("|", 1)[0])

    async def _sweep(self) -> None:
        for raw in await self.redis.smembers(SESSIONS_KEY):
            sid = str(raw)
            gone = await self.redis.eval(_SWEEP, 2, _members_key(sid), SESSIONS_KEY, sid)
            for pid in {str(m).split("|", 1)[0] for m in gone or ()}:
                await self.reconcile(sid, pid)

    async def _check_logged_online(self, session_id: str) -> None:
        """Anyone the log calls online without a live socket anywhere is not (all crashed)."""
        for pid in _logged_online(await read_events(self.hub.db, session_id, kinds=("presence",))):
            await self.reconcile(session_id, pid)

    # -- the log ----------------------------------------------------------------------

    async def reconcile(self, session_id: str, participant_id: str) -> None:
        """Append online/offline if the log disagrees with Redis (once, whoever runs it)."""
        lock_key = f"bc:presence:lock:{session_id}"
        token = uuid.uuid4().hex
        deadline = time.monotonic() + 5
        while not await self.redis.set(lock_key, token, nx=True, px=10_000):
            if time.monotonic() > deadline:
                break  # a holder that died; the deterministic id still prevents doubles
            await asyncio.sleep(0.02)
        try:
            online = bool(
                await self.redis.eval(_ONLINE, 1, _members_key(session_id), participant_id)
            )
            events = await read_events(self.hub.db, session_id, kinds=("presence",))
            mine = [e for e in events if e.body.get("participant_id") == participant_id]
            logged_online = bool(mine) and mine[-1].body.get("status") == "online"
            if online == logged_online:
                return
            try:
                await append_event(
                    self.hub.db,
                    session_id,
                    SYSTEM_AUTHOR,
                    "presence",
                    {"participant_id": participant_id, "status": "online" if online else "offline"},
                    f"presence:{participant_id}:{len(mine) + 1}",
                    after_commit=self.hub.publish,
                )
            except AppError as err:
                # Another process logged this transition (or the session is gone).
                log.debug("presence for %s not appended: %s", participant_id, err.code)
        finally:
            with contextlib.suppress(Exception):
                await self.redis.eval(_UNLOCK, 1, lock_key, token)


def _logged_online(events: list[Any]) -> set[str]:
    online: dict[str, bool] = {}
    for e in events:
        online[e.body["participant_id"]] = e.body["status"] == "online"
    return {pid for pid, is_online in online.items() if is_online}
