"""What only the Redis broker does: survive a Redis restart and say so to its subscribers."""

import asyncio
import time
from pathlib import Path

from app.realtime.redis import RedisBroker
from tests.support import RedisServer


class Inbox:
    def __init__(self) -> None:
        self.got: list[str | None] = []
        self.changed = asyncio.Event()

    def __call__(self, message: str | None) -> None:
        self.got.append(message)
        self.changed.set()

    async def wait_for(self, item: str | None, timeout: float = 15) -> None:
        async with asyncio.timeout(timeout):
            while item not in self.got:
                self.changed.clear()
                await self.changed.wait()


async def test_after_a_redis_restart_subscribers_get_none_then_live_messages_again(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path).start()
    a, b = RedisBroker(redis.url), RedisBroker(redis.url)
    try:
        await a.connect()
        await b.connect()
        inbox = Inbox()
        await a.subscribe("bc:session:x", inbox)
        await b.publish("bc:session:x", "1|note|{}")
        await inbox.wait_for("1|note|{}")

        redis.kill()
        started = time.monotonic()
        await b.publish("bc:session:x", "2|note|{}")  # lost, but never raised to the sender
        assert time.monotonic() - started < 5
        await asyncio.sleep(0.5)
        redis.start()

        # The reader reconnects, re-subscribes and tells the subscriber it may have lost some.
        await inbox.wait_for(None)
        await b.publish("bc:session:x", "3|note|{}")
        await inbox.wait_for("3|note|{}")
        assert inbox.got == ["1|note|{}", None, "3|note|{}"]
        assert a.reconnects >= 1
        await a.ping()
    finally:
        await a.disconnect()
        await b.disconnect()
        redis.kill()


async def test_a_broker_started_while_redis_is_down_connects_when_it_comes_up(
    tmp_path: Path,
) -> None:
    redis = RedisServer(tmp_path)  # a port, nothing listening yet
    broker = RedisBroker(redis.url)
    try:
        started = time.monotonic()
        await broker.connect()  # does not fail the process start
        inbox = Inbox()
        await broker.subscribe("bc:session:y", inbox)
        assert time.monotonic() - started < 10
        redis.start()
        await inbox.wait_for(None)  # subscribed late: told to catch up
        publisher = RedisBroker(redis.url)
        await publisher.connect()
        await publisher.publish("bc:session:y", "5|note|{}")
        await inbox.wait_for("5|note|{}")
        await publisher.disconnect()
    finally:
        await broker.disconnect()
        redis.kill()
