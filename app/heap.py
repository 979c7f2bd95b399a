"""Keep Python's full garbage collections off the sockets' path.

Each open socket holds about a hundred objects the collector tracks (the server's protocol,
its parser, our connection, tasks and futures). A full collection walks every tracked
object, and the collector runs one each time the long-lived objects have grown by a quarter:
during a burst of 3,000 connects that was some twenty collections of 0.3 s each, about 40 %
of the server's CPU, and the pauses that set the tail (docs/benchmarks.md, "Heap").

``HeapPacer`` moves what survives out of the collector's sight (``gc.freeze``) every
``burst`` new sockets, and after every full collection the collector made by itself (what
survived one full walk is walked again by none: a 20,000-event session's model, some 100,000
objects, cost a pause of about 0.1 s on each full collection while 8 clients polled another
session), so later collections walk only what is new. Objects frozen are still
freed by reference counting; only cyclic garbage among them waits for ``reclaim``, which
unfreezes, collects and freezes again, at most every ``reclaim_s`` and only when many
sockets have closed since — one full pause, when the process is quiet.
"""

import asyncio
import gc
import logging
import time

from app.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class HeapPacer:
    def __init__(self, *, burst: int = 200, quiet_s: float = 1.0, reclaim_s: float = 300.0) -> None:
        self.burst = burst
        self.quiet_s = quiet_s
        self.reclaim_s = reclaim_s
        self.opened = 0  # sockets opened since the last freeze
        self.closed = 0  # sockets closed since the last reclaim
        self.freezes = 0
        self.reclaims = 0
        self._last_change = time.monotonic()
        self._last_reclaim = time.monotonic()
        self.full_collections = 0  # full collections since the last freeze
        self.frozen_since_reclaim = 0  # freezes after full collections since the last reclaim
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Freeze what start-up made (modules, classes, the app), then keep pace."""
        gc.collect()
        gc.freeze()
        self.watch_collections()
        self._task = asyncio.create_task(self._loop(), name="heap-pacer")

    async def stop(self) -> None:
        if self._after_collection in gc.callbacks:
            gc.callbacks.remove(self._after_collection)
        if self._task is not None:
            await cancel_and_wait(self._task)

    def watch_collections(self) -> None:
        """Count the full collections the collector makes (the next tick freezes after one)."""
        if self._after_collection not in gc.callbacks:
            gc.callbacks.append(self._after_collection)

    def _after_collection(self, phase: str, info: dict[str, int]) -> None:
        # Called by the collector itself: nothing here may allocate much or collect.
        if phase == "stop" and info.get("generation") == 2:
            self.full_collections += 1

    def opened_one(self) -> None:
        self.opened += 1
        self._last_change = time.monotonic()

    def closed_one(self) -> None:
        self.closed += 1
        self._last_change = time.monotonic()

    def tick(self, now: float) -> None:
        """One look: freeze every ``burst`` new sockets, or after a full collection;
        reclaim after much churn (sockets, or many freezes), when quiet."""
        quiet = now - self._last_change >= self.quiet_s
        churned = self.closed >= self.burst or self.frozen_since_reclaim >= 10
        if quiet and churned and now - self._last_reclaim >= self.reclaim_s:
            started = time.perf_counter()
            gc.unfreeze()
            gc.collect()
            gc.freeze()
            self.closed = self.opened = self.full_collections = self.frozen_since_reclaim = 0
            self._last_reclaim = now
            self.reclaims += 1
            log.info("heap: reclaimed in %.0f ms", (time.perf_counter() - started) * 1000)
        elif self.opened >= self.burst:
            gc.collect(1)  # the young garbage first: it is not worth keeping
            gc.freeze()
            self.opened = self.full_collections = 0
            self.freezes += 1
        elif self.full_collections:
            # What the full collection left is alive; the young garbage since is not kept.
            gc.collect(1)
            gc.freeze()
            self.full_collections = 0
            self.frozen_since_reclaim += 1
            self.freezes += 1

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.quiet_s / 4)
            self.tick(time.monotonic())
