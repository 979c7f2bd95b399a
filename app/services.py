"""What a running app holds (settings, database, broker, hub) and the views built from them."""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from app.config import Settings
from app.db import Database
from app.log import read_events
from app.models import Participant
from app.ratelimit import Buckets
from app.realtime.broker import Broker
from app.realtime.hub import Hub
from app.sessions import get_session, list_participants, participant_for_token, session_public
from app.state import fold, state_public

if TYPE_CHECKING:
    from app.scheduler import Scheduler


class PresenceTracker(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def joined(self, participant: Participant) -> None: ...
    async def left(self, participant: Participant) -> None: ...


@dataclass
class Services:
    settings: Settings
    db: Database
    broker: Broker
    hub: Hub
    presence: PresenceTracker
    scheduler: "Scheduler | None" = None
    http_buckets: Buckets | None = None  # per-participant HTTP rate limits, made on first use

    async def participant_for_token(self, token: str) -> Participant:
        return await participant_for_token(self.db, token)


async def session_view(services: Services, session_id: str) -> dict[str, Any]:
    """``{session, state}``: the session and what a screen needs to draw itself."""
    session = await get_session(services.db, session_id)
    participants = await list_participants(services.db, session_id)
    events = await read_events(services.db, session_id)
    state = state_public(session, participants, fold(events))
    public = session_public(session)
    public["last_seq"] = state["last_seq"]
    return {"session": public, "state": state}
