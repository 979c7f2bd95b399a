"""The rows a session's model is built from, read for many sessions at once.

After a restart the first socket of every session asks for its session's model within a
second or two. Read one session at a time, that is three queries per session (the row,
the participants, the log) through the ORM. Here the sessions asked for while a read is in
flight are read together by the next one: one query for their rows, one for their
participants and one for their logs (when short; a long log is left to be read page by
page). Alone, a session costs three light queries on one connection.
"""

import asyncio
import collections
from dataclasses import dataclass

from sqlalchemy import bindparam, select
from sqlmodel import col

from app.db import Database
from app.errors import NotFound
from app.fold import PlainEvent
from app.models import Event, Participant, Session

BATCH = 200
SHORT_LOG = 500  # events; a longer log is not read in the batch

_SESSIONS = select(*Session.__table__.columns).where(  # type: ignore[attr-defined]
    col(Session.id).in_(bindparam("ids", expanding=True))
)
_PARTICIPANTS = (
    select(*Participant.__table__.columns)  # type: ignore[attr-defined]
    .where(col(Participant.session_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Participant.session_id), col(Participant.created_ms))
)
_EVENTS = (
    select(
        col(Event.session_id),
        col(Event.seq),
        col(Event.id),
        col(Event.kind),
        col(Event.body),
        col(Event.author_id),
        col(Event.author_role),
        col(Event.author_name),
        col(Event.at_ms),
    )
    .where(col(Event.session_id).in_(bindparam("ids", expanding=True)))
    .order_by(col(Event.session_id), col(Event.seq))
)


@dataclass
class SessionRows:
    session: Session
    participants: list[Participant]
    # The whole log as of the read; None: not asked for, or too long (page it).
    events: list[PlainEvent] | None


class SessionRowReader:
    """``read(session_id)``: the session's rows, or ``NotFound``; batched."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._waiting: dict[str, list[asyncio.Future[SessionRows]]] = {}
        self._with_log: set[str] = set()
        self._reader: asyncio.Task[None] | None = None

    async def read(self, session_id: str, *, with_log: bool = True) -> SessionRows:
        """The session's row and participants, and its log if ``with_log`` (and short)."""
        fut: asyncio.Future[SessionRows] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(session_id, []).append(fut)
        if with_log:
            self._with_log.add(session_id)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_all(), name="session-rows")
        return await fut

    async def _read_all(self) -> None:
        await asyncio.sleep(0)  # let this turn of the loop's requests join the first batch
        while self._waiting:
            ids = list(self._waiting)[:BATCH]
            batch = {sid: self._waiting.pop(sid) for sid in ids}
            logs = {sid for sid in ids if sid in self._with_log}
            self._with_log -= logs
            try:
                found = await self._read(ids, logs)
            except Exception as exc:
                for futs in batch.values():
                    for fut in futs:
                        if not fut.done():
                            fut.set_exception(exc)
                continue
            for sid, futs in batch.items():
                rows = found.get(sid)
                for fut in futs:
                    if fut.done():
                        continue
                    if rows is None:
                        fut.set_exception(NotFound("no such session"))
                    else:
                        fut.set_result(rows)

    async def _read(self, ids: list[str], with_log: set[str]) -> dict[str, SessionRows]:
        async with self.db.engine.connect() as conn:
            sessions = {
                row["id"]: Session.model_construct(**row)
                for row in (await conn.execute(_SESSIONS, {"ids": ids})).mappings()
            }
            if not sessions:
                return {}
            people: dict[str, list[Participant]] = collections.defaultdict(list)
            for row in (await conn.execute(_PARTICIPANTS, {"ids": list(sessions)})).mappings():
                people[row["session_id"]].append(Participant.model_construct(**row))
            short = [
                sid for sid, s in sessions.items() if sid in with_log and s.last_seq <= SHORT_LOG
            ]
            logs: dict[str, list[PlainEvent]] = {sid: [] for sid in short}
            if short:
                for r in await conn.execute(_EVENTS, {"ids": short}):
                    logs[r[0]].append(PlainEvent(*r[1:]))
        return {
            sid: SessionRows(s, people.get(sid, []), logs.get(sid)) for sid, s in sessions.items()
        }
