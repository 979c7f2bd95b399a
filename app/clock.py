"""Server time. One injectable clock so timers can be tested without waiting.

Outside tests the clock is never moved: its offset stays 0, ``now_ms`` is the wall clock,
``monotonic`` is ``time.monotonic`` and a timer is the event loop's ``call_later``. A test
moves it forward with ``advance`` (in process, or through ``POST /api/v1/_test/clock``):
every timer made here whose due time that passes fires at once, as if the time had gone by.
"""

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any


class Timer:
    """A callback due at a moment of the clock: the loop's timer, or an ``advance`` past it."""

    __slots__ = ("_args", "_callback", "_clock", "_handle", "_loop", "due")

    def __init__(
        self, clock: "Clock", due: float, callback: Callable[..., Any], args: tuple[Any, ...]
    ) -> None:
        self._clock = clock
        self.due = due  # on the clock's monotonic time
        self._callback = callback
        self._args = args
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.Handle | None = self._loop.call_later(
            max(due - clock.monotonic(), 0), self._fire
        )

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
            self._clock._timers.discard(self)

    def _fire(self) -> None:
        if self._handle is None:
            return
        self._handle = None
        self._clock._timers.discard(self)
        self._callback(*self._args)

    def _moved_past(self) -> None:
        """The clock was moved past the due time: fire on the loop's next turn."""
        if self._handle is not None and not self._loop.is_closed():
            self._handle.cancel()
            self._handle = self._loop.call_soon(self._fire)


class Clock:
    """Wall-clock milliseconds since the epoch, optionally shifted (tests move time forward)."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self._timers: set[Timer] = set()

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def monotonic(self) -> float:
        """Seconds for intervals (``time.monotonic``), moved with the clock."""
        return time.monotonic() + self.offset_ms / 1000

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)
        now = self.monotonic()
        for timer in [t for t in self._timers if t.due <= now]:
            timer._moved_past()

    def reset(self) -> None:
        """Back to real time, forgetting every timer (between tests)."""
        self.offset_ms = 0
        self._timers.clear()

    def call_later(self, delay_s: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """``loop.call_later`` on this clock: fires after ``delay_s`` or once moved past."""
        timer = Timer(self, self.monotonic() + delay_s, callback, args)
        self._timers.add(timer)
        return timer

    @contextlib.asynccontextmanager
    async def timeout(self, delay_s: float) -> AsyncIterator[None]:
        """``asyncio.timeout`` on this clock: TimeoutError if the block runs past ``delay_s``."""
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = self.call_later(delay_s, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()


clock = Clock()


def now_ms() -> int:
    return clock.now_ms()


_iso_second: tuple[int, str] = (-1, "")


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-25T12:00:00.000Z``."""
    global _iso_second
    if ms is None:
        return None
    # Events come in bursts within one second: format the second once (strftime is slow).
    second, prefix = _iso_second
    if ms // 1000 != second:
        second = ms // 1000
        prefix = datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        _iso_second = (second, prefix)
    return f"{prefix}{ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
