"""The append-only event log: ``(session_id, seq)`` is the key, ``(session_id, id)`` is unique."""

from typing import Any

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, String, UniqueConstraint
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

ID_PATTERN = r"^[A-Za-z0-9._:\-]{1,128}$"
# The server's own ids (scheduler, escalation, snooze, presence): a client may not use them,
# or the scheduler would meet "its" id already logged and never fire.
RESERVED_ID_PREFIXES = ("auto:", "esc:", "resurface:", "presence:", "sys:")


def is_reserved_id(event_id: str) -> bool:
    return event_id.startswith(RESERVED_ID_PREFIXES)


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("session_id", "id", name="uq_events_session_id_id"),)

    session_id: str = SQLField(
        sa_column=Column(
            String(32), ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True
        )
    )
    seq: int = SQLField(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    id: str = SQLField(max_length=128)
    kind: str = SQLField(max_length=32)
    body: dict[str, Any] = SQLField(default_factory=dict, sa_column=Column(JSON, nullable=False))
    author_id: str | None = SQLField(default=None, max_length=32)
    author_role: str = SQLField(max_length=16)
    author_name: str = SQLField(max_length=80)
    at_ms: int = SQLField(sa_column=Column(BigInteger, nullable=False))


def event_public(e: Event) -> dict[str, Any]:
    """The wire shape of an event (WebSocket, HTTP and export alike)."""
    from app.clock import iso

    return {
        "seq": e.seq,
        "id": e.id,
        "kind": e.kind,
        "body": e.body,
        "author": {"participant_id": e.author_id, "role": e.author_role, "name": e.author_name},
        "at": iso(e.at_ms),
    }
