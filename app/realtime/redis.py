"""Redis: the broker between server processes.

``RedisBroker`` keeps ONE pub/sub connection per process and one Redis subscription per
channel that has local subscribers. redis-py would silently reconnect a pub/sub connection
and lose what was published meanwhile, so the reader owns the connection instead: on any
error it drops it, reconnects with backoff, re-subscribes every channel and, once Redis
confirms each subscription, calls that channel's callbacks with ``None`` (the hub then reads
what it missed from the log). Publishing never raises: the event is committed already.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from app.realtime.broker import Broker, Callback

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
        self._own_channel = f"bc:broker:{uuid.uuid4().hex}"
        self._last_publish_error = 0.0
        self.reconnects = 0
        # Commands (publish): a normal pool that retries once, quickly.
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
            # (app.tasks.cancel_and_wait's loop, inline: the transport imports nothing of the app)
            for _ in range(100):
                self._reader.cancel()
                done, _pending = await asyncio.wait({self._reader}, timeout=0.1)
                if done:
                    break
        await self._drop_pubsub()
        await self.client.aclose()
        await self._sub_client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    async def publish(self, channel: str, message: str) -> None:
        await self.publish_many([(channel, message)])

    async def publish_many(self, messages: Sequence[tuple[str, str]]) -> None:
        """All in one pipeline: one round trip however many there are (a process that
        publishes one at a time waits a turn of its busy event loop for every reply)."""
        try:
            if len(messages) == 1:
                channel, message = messages[0]
                await asyncio.wait_for(self.client.publish(channel, message), PUBLISH_TIMEOUT_S)
                return
            async with self.client.pipeline(transaction=False) as pipe:
                for channel, message in messages:
                    pipe.publish(channel, message)
                await asyncio.wait_for(pipe.execute(), PUBLISH_TIMEOUT_S)
        except Exception as exc:
            # The events are committed; other processes catch up from the log when Redis
            # returns (their reader reconnects and resyncs). One line per 5 s, not per event.
            now = time.monotonic()
            if now - self._last_publish_error > 5:
                self._last_publish_error = now
                log.warning("redis publish failed (%s: %s)", type(exc).__name__, exc)

    async def subscribe(self, channel: str, callback: Callback) -> None:
        callbacks = self._subs.setdefault(channel, [])
        callbacks.append(callback)
        if len(callbacks) > 1:
            # Already subscribed, or being subscribed: wait for that confirmation too, so
            # no caller reads the log before Redis delivers to this channel.
            pending = self._confirm.get(channel)
            if pending is not None and not pending.done():
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(pending), SUBSCRIBE_WAIT_S)
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
