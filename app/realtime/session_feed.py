"""``HubSessionFeed``: the scheduler's ``SessionFeed`` (``app.session_feed``) over the hub.

The hub tells it of the events this process commits or passes on; a watched session's
broker channel tells it of other processes' events; reading the channel's messages stays
in this layer (``app.realtime.channel``).
"""

import contextlib
import logging
from collections.abc import Callable

from app.fold import PlainEvent
from app.models import Event
from app.realtime.channel import channel_name, message_kind
from app.realtime.hub import Hub
from app.session_feed import Notice

log = logging.getLogger(__name__)


class HubSessionFeed:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.models = hub.models
        self._notices: list[Notice] = []
        self._watched: dict[str, Callable[[str | None], None]] = {}
        hub.add_listener(self._heard)

    @property
    def single_process(self) -> bool:
        return self.hub.broker.single_process

    def listen(self, notice: Notice) -> None:
        self._notices.append(notice)

    def _tell(self, session_id: str, kind: str | None) -> None:
        for notice in self._notices:
            notice(session_id, kind)

    def _heard(self, session_id: str, event: Event | PlainEvent) -> None:
        self._tell(session_id, event.kind)

    async def publish(self, event: Event) -> None:
        await self.hub.publish(event)

    async def watch(self, session_id: str) -> None:
        if session_id in self._watched:
            return

        def callback(message: str | None) -> None:
            self._tell(session_id, message_kind(message))

        self._watched[session_id] = callback
        try:
            await self.hub.broker.subscribe(channel_name(session_id), callback)
        except Exception:
            log.exception("could not subscribe to %s for the scheduler", session_id)
            self._watched.pop(session_id, None)

    async def unwatch(self, session_id: str) -> None:
        callback = self._watched.pop(session_id, None)
        if callback is not None:
            with contextlib.suppress(Exception):
                await self.hub.broker.unsubscribe(channel_name(session_id), callback)

    async def close(self) -> None:
        for session_id in list(self._watched):
            await self.unwatch(session_id)
