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
