"""The ``Notifier`` of ``app.commands``: how a stored change reaches the session's sockets.

``HubNotifier`` in the server: this process's sockets and model at once, the other
processes through the broker. ``BrokerNotifier`` from the CLI, which holds no socket: the
servers only, through the broker (with ``memory://`` no server shares it: nobody to tell,
and the servers' link checks find the change in the database).
"""

from typing import Any

from app.realtime.broker import Broker
from app.realtime.channel import channel_name, control_message
from app.realtime.hub import Hub

# A rotation names the old token by this much of its hash: sockets on the new one stay.
TOKEN_PREFIX = 16


def _revoked(participant_id: str, old_token_hash: str | None) -> dict[str, Any]:
    control: dict[str, Any] = {"type": "revoked", "participant_id": participant_id}
    if old_token_hash is not None:
        control["token"] = old_token_hash[:TOKEN_PREFIX]
    return control


class HubNotifier:
    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def changed(self, session_id: str) -> None:
        await self.hub.meta_changed(session_id)

    async def deleted(self, session_id: str) -> None:
        await self.hub.publish_control(session_id, {"type": "deleted"})

    async def revoked(
        self, session_id: str, participant_id: str, old_token_hash: str | None = None
    ) -> None:
        await self.hub.publish_control(session_id, _revoked(participant_id, old_token_hash))


class BrokerNotifier:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def _send(self, session_id: str, control: dict[str, Any]) -> None:
        await self.broker.publish(channel_name(session_id), control_message(control))

    async def changed(self, session_id: str) -> None:
        await self._send(session_id, {"type": "session", "changed": True})

    async def deleted(self, session_id: str) -> None:
        await self._send(session_id, {"type": "deleted"})

    async def revoked(
        self, session_id: str, participant_id: str, old_token_hash: str | None = None
    ) -> None:
        await self._send(session_id, _revoked(participant_id, old_token_hash))
