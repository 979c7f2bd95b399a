"""Server time. One injectable clock so timers can be tested without waiting."""

import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock milliseconds since the epoch, optionally shifted (tests move time forward)."""

    def __init__(self) -> None:
        self.offset_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def advance(self, seconds: float) -> None:
        self.offset_ms += int(seconds * 1000)


clock = Clock()


def now_ms() -> int:
    return clock.now_ms()


def iso(ms: int | None) -> str | None:
    """ISO 8601 UTC with milliseconds, e.g. ``2026-11-25T12:00:00.000Z``."""
    if ms is None:
        return None
    dt = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_iso(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)
