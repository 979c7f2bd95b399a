"""In-process broker: subscribers are called directly, in publish order."""

import logging

from app.realtime.broker import Broker, Callback

log = logging.getLogger(__name__)


class MemoryBroker(Broker):
    single_process = True

    def __init__(self) -> None:
        self._subs: dict[str, list[Callback]] = {}

    async def publish(self, channel: str, message: str) -> None:
        for callback in list(self._subs.get(channel, ())):
            try:
                callback(message)
            except Exception:  # one bad subscriber must not starve the others
                log.exception("subscriber of %s failed", channel)

    async def subscribe(self, channel: str, callback: Callback) -> None:
        self._subs.setdefault(channel, []).append(callback)

    async def unsubscribe(self, channel: str, callback: Callback) -> None:
        subs = self._subs.get(channel)
        if not subs:
            return
        try:
            subs.remove(callback)
        except ValueError:
            return
        if not subs:
            del self._subs[channel]
