"""``Outbox``: this process's events on their way to the other processes.

Other processes hear of an event from a publisher task, never on the append's path: a
broker that hangs (a partition) delays no ``sent`` and holds no write lock. Whatever queued
up meanwhile goes in one ``publish_many`` (one round trip with Redis). A message dropped
here (the queue full, the broker failing) is found in the log by the other processes'
periodic check (``Hub.heal``).
"""

import asyncio
import collections
import logging

from app.realtime.broker import Broker

log = logging.getLogger("app.realtime.hub")

PUBLISH_TIMEOUT_S = 1.0
PUBLISH_BATCH = 500
REMOTE_QUEUE_MAX = 10_000


class Outbox:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._remote: collections.deque[tuple[str, str]] = collections.deque()
        self._publisher: asyncio.Task[None] | None = None

    def put(self, name: str, message: str) -> None:
        """Queue ``message`` for channel ``name``; the publisher task sends it."""
        self._remote.append((name, message))
        if len(self._remote) > REMOTE_QUEUE_MAX:
            self._remote.popleft()  # other processes' periodic check reads it from the log
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_queued(), name="hub-publisher")

    async def _publish_queued(self) -> None:
        # Whatever queued up meanwhile goes in one publish_many (one round trip with Redis):
        # the publisher keeps up however busy the event loop is.
        while self._remote:
            count = min(len(self._remote), PUBLISH_BATCH)
            batch = [self._remote.popleft() for _ in range(count)]
            try:
                await asyncio.wait_for(self.broker.publish_many(batch), PUBLISH_TIMEOUT_S)
            except Exception:
                # Committed already; other processes fill the gap from the log (their
                # periodic check finds it even when no later event comes).
                log.warning("broker publish failed for %d message(s)", len(batch))
