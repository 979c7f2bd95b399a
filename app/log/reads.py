"""Reads of the event log: by id, by seq, in order with a role's visibility, counts."""

from typing import Any

from sqlalchemy import Text, cast, func, select
from sqlmodel import col

from app.db import Database
from app.errors import NotFound
from app.log.sql import EVENTS
from app.models import Event, Session
from app.models.kinds import HIDDEN


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
    until: int | None = None,
    limit: int | None = None,
    role: str | None = None,
    kinds: tuple[str, ...] | None = None,
) -> list[Event]:
    """Events with ``after < seq <= until`` in order, without the kinds ``role`` may not
    see. (``until``: a read in pages stays one snapshot of the log while it grows.)"""
    q = select(Event).where(col(Event.session_id) == session_id, col(Event.seq) > after)
    if until is not None:
        q = q.where(col(Event.seq) <= until)
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


async def read_event_rows(
    db: Database,
    session_id: str,
    *,
    after: int,
    until: int,
    limit: int,
    role: str | None = None,
) -> list[tuple[Any, ...]]:
    """``read_events`` for a stream: plain rows, ``(seq, id, kind, body, author_id,
    author_role, author_name, at_ms)`` with ``body`` the stored JSON text, undecoded.

    A stream only re-encodes what it reads, so it skips what an ``Event`` costs (the ORM's
    objects, decoding every body): most of the CPU of a 20,000-event export."""
    c = EVENTS.c
    q = select(
        c.seq, c.id, c.kind, cast(c.body, Text), c.author_id, c.author_role, c.author_name, c.at_ms
    ).where(c.session_id == session_id, c.seq > after, c.seq <= until)
    hidden = HIDDEN.get(role or "")
    if hidden:
        q = q.where(c.kind.not_in(hidden))
    q = q.order_by(c.seq).limit(limit)
    async with db.session() as s:
        return [tuple(row) for row in (await s.execute(q)).all()]


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
