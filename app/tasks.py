"""Stopping background tasks for good.

Python 3.11's ``asyncio.wait_for`` loses a cancellation that arrives just as the awaited
thing completes (the loop's ``wait_for(event.wait(), timeout)`` returns as if woken, and
the task goes round again). A ``stop()`` that cancels once and then awaits the task would
then wait for ever: a shutdown that never ends. ``cancel_and_wait`` cancels again until the
task is done, within a bound.
"""

import asyncio
import contextlib
import logging

log = logging.getLogger("backchannel.tasks")

RECANCEL_S = 0.1
GIVE_UP_S = 10.0


async def cancel_and_wait(
    *tasks: asyncio.Task[object] | None, give_up_s: float = GIVE_UP_S
) -> None:
    """Cancel each task and wait until all are done (cancelling again every RECANCEL_S);
    after ``give_up_s`` a task still running is logged and left."""
    pending = {t for t in tasks if t is not None and not t.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + give_up_s
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_S)
        if pending and loop.time() >= deadline:
            log.warning(
                "tasks still running after %.0f s of cancelling: %s",
                give_up_s,
                ", ".join(t.get_name() for t in pending),
            )
            break
    for ended in tasks:
        if ended is not None and ended.done() and not ended.cancelled():
            with contextlib.suppress(BaseException):
                ended.exception()  # retrieved: a task that failed before its stop is no news
