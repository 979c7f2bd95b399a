"""The commands that change a session outside its log, each in one place: store, then notify.

A route (``app.api.sessions``) or the CLI parses its input, calls a command here and shapes
the reply; the command stores the change, then tells whoever holds the session's sockets
through a ``Notifier``: the hub in the server (this process at once, the others through the
broker), the broker alone from the CLI (``app.realtime.notifiers``). No HTTP and no
WebSocket here, and no message format: the notifier owns that.
"""

from typing import Protocol

from app.db import Database
from app.models import Participant, Session
from app.models.participant import ParticipantCreate
from app.models.session import SessionUpdate
from app.sessions import (
    Issued,
    add_participant,
    delete_session,
    ended_before,
    revoke_participant,
    rotate_token,
    update_session,
)


class Notifier(Protocol):
    async def changed(self, session_id: str) -> None:
        """The session's settings, agenda or participants changed: views show them anew."""

    async def deleted(self, session_id: str) -> None:
        """The session is gone: its sockets close with 4404."""

    async def revoked(
        self, session_id: str, participant_id: str, old_token_hash: str | None = None
    ) -> None:
        """A link stopped: the participant's sockets close with 4401 (with ``old_token_hash``:
        only those opened with that token, a rotation)."""


async def change(db: Database, notify: Notifier, session_id: str, data: SessionUpdate) -> Session:
    session = await update_session(db, session_id, data)
    await notify.changed(session_id)
    return session


async def erase(db: Database, notify: Notifier, session_id: str) -> None:
    """Erase the session, its participants and its log."""
    await delete_session(db, session_id)
    await notify.deleted(session_id)


async def add(
    db: Database,
    notify: Notifier,
    session_id: str,
    data: ParticipantCreate,
    *,
    max_participants: int | None = None,
) -> Issued:
    """A new link (participant) for the session."""
    issued = await add_participant(db, session_id, data, max_participants=max_participants)
    await notify.changed(session_id)
    return issued


async def rotate(db: Database, notify: Notifier, session_id: str, participant_id: str) -> Issued:
    """A new link for a participant; the old one stops now."""
    issued, old_hash = await rotate_token(db, session_id, participant_id)
    await notify.revoked(session_id, participant_id, old_hash)
    return issued


async def revoke(
    db: Database, notify: Notifier, session_id: str, participant_id: str
) -> Participant:
    """Revoke a link: it stops now; the participant stays in the log."""
    participant = await revoke_participant(db, session_id, participant_id)
    await notify.revoked(session_id, participant_id)
    return participant


async def purge(db: Database, notify: Notifier, ended_before_ms: int) -> list[str]:
    """Erase every session that ended before ``ended_before_ms``; their ids."""
    erased: list[str] = []
    for session_id in await ended_before(db, ended_before_ms):
        await erase(db, notify, session_id)
        erased.append(session_id)
    return erased
