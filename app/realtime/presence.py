"""Who is online, logged as ``presence`` events when a participant's first socket opens
and after their last one closes.

``LocalPresence`` counts sockets in this process: right for the in-memory broker, where
one process holds every socket. The Redis broker brings a tracker that counts across
processes and expires the sockets of a process that died.
"""

from app.models import Participant
from app.realtime.hub import Hub


class LocalPresence:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def joined(self, participant: Participant) -> None:
        if self.hub.count_local(participant, +1) == 1:
            await self.hub.append_presence(participant, "online")

    async def left(self, participant: Participant) -> None:
        if self.hub.count_local(participant, -1) == 0:
            await self.hub.append_presence(participant, "offline")
