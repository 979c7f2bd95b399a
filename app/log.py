"""Append to and read the event log: gap-free seq, idempotency, validation, visibility.

No HTTP and no WebSocket here: callers pass an ``Author`` and get ``Event`` rows back.
"""

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.clock import now_ms
from app.db import Database
from app.errors import IdempotencyConflict, InvalidBody, InvalidId, NotFound
from app.models import Event, Session
from app.models.event import ID_PATTERN
from app.models.kinds import HIDDEN, SYSTEM, validate_body

_ID_RE = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class Author:
    participant_id: str | None
    role: str
    name: str


SYSTEM_AUTHOR = Author(participant_id=None, role=SYSTEM, name="Backchannel")


@dataclass(frozen=True)
class Appended:
    event: Event
    created: bool  # False: an idempotent repeat, the original event is returned


class _Repeat(Exception):
    def __init__(self, event: Event) -> None:
        self.event = event


def new_event_id() -> str:
    return str(uuid.uuid4())


def check_event_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not _ID_RE.match(event_id):
        raise InvalidId("id must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    return event_id


async def append_event(
    db: Database,
    session_id: str,
    author: Author,
    kind: Any,
    body: Any,
    event_id: Any = None,
    *,
    after_commit: Callable[[Event], Awaitable[None]] | None = None,
) -> Appended:
    """Validate and append one event; a repeated ``id`` returns the original (or a conflict).

    ``after_commit`` runs once the event is durable, still under the session's write lock,
    so events are published in seq order.
    """
    clean = validate_body(kind, body, author.role)
    event_id = new_event_id() if event_id is None else check_event_id(event_id)
    async with db.write_lock(session_id):
        try:
            appended = await _append_locked(db, session_id, author, kind, clean, event_id)
        except _Repeat as repeat:
            return Appended(_same_or_conflict(repeat.event, kind, clean), created=False)
        except IntegrityError:
            # Another process won a race on the same id: report its event.
            existing = await get_event_by_id(db, session_id, event_id)
            if existing is None:
                raise
            return Appended(_same_or_conflict(existing, kind, clean), created=False)
        if after_commit is not None:
            await after_commit(appended.event)
        return appended


async def _append_locked(
    db: Database, session_id: str, author: Author, kind: str, body: dict[str, Any], event_id: str
) -> Appended:
    async with db.session() as s, s.begin():
        # Taking the next seq first locks the session's row until commit, so seqs are
        # handed out and committed in order, with no gap, whichever process writes.
        row = (
            await s.execute(
                update(Session)
                .where(col(Session.id) == session_id)
                .values(last_seq=col(Session.last_seq) + 1)
                .returning(col(Session.last_seq), col(Session.agenda), col(Session.status))
            )
        ).first()
        if row is None:
            raise NotFound("no such session")
        seq, agenda, _status = row
        existing = (
            await s.execute(
                select(Event).where(col(Event.session_id) == session_id, col(Event.id) == event_id)
            )
        ).scalar_one_or_none()
        if existing is not None:
            # Leaving the block by an exception rolls back the seq we just took;
            # detach the row first so the rollback does not expire it.
            s.expunge(existing)
            raise _Repeat(existing)
        await _check_refs(s, session_id, seq, kind, body, agenda)
        at = now_ms()
        ev = Event(
            session_id=session_id,
            seq=seq,
            id=event_id,
            kind=kind,
            body=body,
            author_id=author.participant_id,
            author_role=author.role,
            author_name=author.name,
            at_ms=at,
        )
        s.add(ev)
        if kind == "session.start":
            await s.execute(
                update(Session)
                .where(col(Session.id) == session_id, col(Session.started_ms).is_(None))
                .values(status="live", started_ms=at)
            )
        elif kind == "session.end":
            await s.execute(
                update(Session)
                .where(col(Session.id) == session_id)
                .values(status="ended", ended_ms=at)
            )
    return Appended(ev, created=True)


async def _check_refs(
    s: AsyncSession, session_id: str, seq: int, kind: str, body: dict[str, Any], agenda: list[Any]
) -> None:
    """References must point into this session's own log and agenda."""
    ref = body.get("ref")
    if ref is not None:
        if ref >= seq:
            raise InvalidBody(f"ref {ref} is not an earlier event of this session")
        target = (
            await s.execute(
                select(col(Event.kind)).where(
                    col(Event.session_id) == session_id, col(Event.seq) == ref
                )
            )
        ).scalar_one_or_none()
        if target is None:
            raise InvalidBody(f"ref {ref} is not an event of this session")
        if kind == "alert.cancel" and target != "alert.stop":
            raise InvalidBody(f"ref {ref} is not an alert.stop")
        if kind in ("seen", "ack") and target == "note":
            raise InvalidBody(f"ref {ref} is not a message for the facilitator")
    if kind.startswith("segment.") and body["index"] >= len(agenda):
        raise InvalidBody(f"index {body['index']} is not a segment of the agenda ({len(agenda)})")


def _same_or_conflict(existing: Event, kind: str, body: dict[str, Any]) -> Event:
    if existing.kind != kind or existing.body != body:
        raise IdempotencyConflict(
            f"id {existing.id!r} was already used for a different message (seq {existing.seq})"
        )
    return existing


async def get_event_by_id(db: Database, session_id: str, event_id: str) -> Event | None:
    async with db.session() as s:
        return (
            await s.execute(
                select(Event).where(col(Event.session_id) == session_id, col(Event.id) == event_id)
            )
        ).scalar_one_or_none()


async def get_event(db: Database, session_id: str, seq: int) -> Event | None:
    async with db.session() as s:
        return await s.get(Event, (session_id, seq))


async def read_events(
    db: Database,
    session_id: str,
    *,
    after: int = 0,
    limit: int | None = None,
    role: str | None = None,
    kinds: tuple[str, ...] | None = None,
) -> list[Event]:
    """Events with ``seq > after`` in order, without the kinds ``role`` may not see."""
    q = select(Event).where(col(Event.session_id) == session_id, col(Event.seq) > after)
    if kinds is not None:
        q = q.where(col(Event.kind).in_(kinds))
    hidden = HIDDEN.get(role or "")
    if hidden:
        q = q.where(col(Event.kind).not_in(hidden))
    q = q.order_by(col(Event.seq))
    if limit is not None:
        q = q.limit(limit)
    async with db.session() as s:
        return list((await s.execute(q)).scalars())


async def last_seq(db: Database, session_id: str) -> int:
    async with db.session() as s:
        value = (
            await s.execute(select(col(Session.last_seq)).where(col(Session.id) == session_id))
        ).scalar_one_or_none()
    if value is None:
        raise NotFound("no such session")
    return int(value)


async def count_events(db: Database, session_id: str) -> int:
    async with db.session() as s:
        return int(
            (
                await s.execute(
                    select(func.count())
                    .select_from(Event)
                    .where(col(Event.session_id) == session_id)
                )
            ).scalar_one()
        )
