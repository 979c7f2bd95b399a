"""Append to and read the event log: gap-free seq, idempotency, validation, visibility.

No HTTP and no WebSocket here: callers pass an ``Author`` and get ``Event`` rows back.
"""

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from app.clock import now_ms
from app.db import Database
from app.errors import (
    AppError,
    IdempotencyConflict,
    InvalidBody,
    InvalidId,
    InvalidInput,
    NotFound,
    SessionEnded,
)
from app.models import Event, Session
from app.models.event import ID_PATTERN, RESERVED_ID_PREFIXES, is_reserved_id
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


AfterCommit = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True)
class _Request:
    session_id: str
    author: Author
    kind: str
    body: dict[str, Any]
    event_id: str
    after_commit: AfterCommit | None


class _Repeat(Exception):
    def __init__(self, event: Event) -> None:
        self.event = event


_EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
_SESSIONS: Table = Session.__table__  # type: ignore[attr-defined]

# The append's statements, built once: SQLAlchemy then reuses their compiled form instead of
# deriving a cache key from fresh literal values on every append (a hot spot in profiles).
_TAKE_SEQ = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("sid"))
    .values(last_seq=_SESSIONS.c.last_seq + 1)
)
_TAKE_SEQ_PLAIN = _TAKE_SEQ.returning(_SESSIONS.c.last_seq, _SESSIONS.c.status)
_TAKE_SEQ_AGENDA = _TAKE_SEQ.returning(_SESSIONS.c.last_seq, _SESSIONS.c.status, _SESSIONS.c.agenda)
# After session.end the live line is closed; the debrief may still add notes and answers.
# (Presence is no message: it still records who opens the session's links.)
AFTER_END = frozenset({"note", "ack", "seen", "presence"})
_GIVE_BACK_SEQ = (
    update(_SESSIONS)
    .where(_SESSIONS.c.id == bindparam("sid"))
    .values(last_seq=_SESSIONS.c.last_seq - 1)
)
_INSERT = {
    dialect: insert(_EVENTS)
    .on_conflict_do_nothing(index_elements=[_EVENTS.c.session_id, _EVENTS.c.id])
    .returning(_EVENTS.c.seq)
    for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}
_BY_ID = select(_EVENTS).where(
    _EVENTS.c.session_id == bindparam("sid"), _EVENTS.c.id == bindparam("eid")
)
_REF_KIND = select(_EVENTS.c.kind).where(
    _EVENTS.c.session_id == bindparam("sid"), _EVENTS.c.seq == bindparam("ref")
)


def new_event_id() -> str:
    return str(uuid.uuid4())


def check_event_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not _ID_RE.fullmatch(event_id):  # "$" allows "\n"
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
    after_commit: AfterCommit | None = None,
) -> Appended:
    """Validate and append one event; a repeated ``id`` returns the original (or a conflict).

    ``after_commit`` runs once the event is durable, before the next commit of its session
    (still under the write lock), so events are published in seq order.
    """
    clean = validate_body(kind, body, author.role)
    event_id = new_event_id() if event_id is None else check_event_id(event_id)
    if author.role != SYSTEM and is_reserved_id(event_id):
        raise InvalidInput(f"ids beginning {', '.join(RESERVED_ID_PREFIXES)} are the server's")
    request = _Request(session_id, author, kind, clean, event_id, after_commit)
    if db.is_sqlite:
        return await _group_writer(db).submit(request)
    async with db.write_lock(session_id):
        try:
            async with db.engine.begin() as conn:
                event = await conn.run_sync(_insert, False, request)
        except _Repeat as repeat:
            return Appended(_same_or_conflict(repeat.event, request.kind, clean), created=False)
        except IntegrityError as exc:
            return await _after_race(db, request, exc)
        if after_commit is not None:
            await after_commit(event)
        return Appended(event, created=True)


def _insert(conn: Connection, is_sqlite: bool, r: _Request) -> Event:
    """Take the next seq and insert the event, in the caller's transaction (sync: SQLite's
    writer thread calls it directly, PostgreSQL through ``AsyncConnection.run_sync``).

    Raises ``_Repeat`` when the id is already logged. On any refusal the caller must roll
    back, or (group commit) give the seq back with ``_GIVE_BACK_SEQ``.
    """
    # Taking the next seq first locks the session's row until commit, so seqs are handed
    # out and committed in order, with no gap, whichever process writes.
    take = _TAKE_SEQ_AGENDA if r.kind.startswith("segment.") else _TAKE_SEQ_PLAIN
    row = conn.execute(take, {"sid": r.session_id}).first()
    if row is None:
        raise NotFound("no such session")
    seq = int(row[0])
    if row[1] == "ended" and r.kind not in AFTER_END:
        # The status is read in the same statement that locks the row: no race with the end.
        existing = conn.execute(_BY_ID, {"sid": r.session_id, "eid": r.event_id}).first()
        if existing is not None:  # a retry of what was logged before the end
            raise _Repeat(Event(**existing._mapping))
        raise SessionEnded("the session has ended: only notes, seen and ack are accepted")
    _check_refs(conn, r.session_id, seq, r.kind, r.body, row[2] if len(row) > 2 else [])
    at = now_ms()
    values: dict[str, Any] = {
        "session_id": r.session_id,
        "seq": seq,
        "id": r.event_id,
        "kind": r.kind,
        "body": r.body,
        "author_id": r.author.participant_id,
        "author_role": r.author.role,
        "author_name": r.author.name,
        "at_ms": at,
    }
    # One statement both inserts and checks idempotency: a known id inserts nothing.
    insert = _INSERT["sqlite" if is_sqlite else "postgresql"]
    if conn.execute(insert, values).first() is None:
        existing = conn.execute(_BY_ID, {"sid": r.session_id, "eid": r.event_id}).first()
        assert existing is not None  # the conflict was on this very row
        raise _Repeat(Event(**existing._mapping))
    if r.kind == "session.start":
        conn.execute(
            update(_SESSIONS)
            .where(_SESSIONS.c.id == r.session_id, _SESSIONS.c.started_ms.is_(None))
            .values(status="live", started_ms=at)
        )
    elif r.kind == "session.end":
        conn.execute(
            update(_SESSIONS)
            .where(_SESSIONS.c.id == r.session_id)
            .values(status="ended", ended_ms=at)
        )
    return Event(**values)


def _insert_batch(engine: Engine, batch: list[_Request]) -> list[Event | BaseException]:
    """SQLite: every append of the batch in one transaction, in the writer thread."""
    outcomes: list[Event | BaseException] = []
    with engine.begin() as conn:
        for request in batch:
            try:
                outcomes.append(_insert(conn, True, request))
            except NotFound as exc:
                outcomes.append(exc)
            except (AppError, _Repeat, IntegrityError) as exc:
                # SQLite undid just the failed statement; give the seq back (we hold the
                # write lock: nobody took another one since).
                conn.execute(_GIVE_BACK_SEQ, {"sid": request.session_id})
                outcomes.append(exc)
    return outcomes


async def _after_race(db: Database, r: _Request, exc: IntegrityError) -> Appended:
    """An integrity error: another writer logged the same id first; report its event."""
    existing = await get_event_by_id(db, r.session_id, r.event_id)
    if existing is None:
        raise exc
    return Appended(_same_or_conflict(existing, r.kind, r.body), created=False)


class _GroupWriter:
    """SQLite's appends, one writer per process: those that arrive while a commit is in
    flight share the next transaction (group commit).

    Each append still takes its seq, checks and inserts in order; a refused one gives its
    seq back inside the transaction, so the log stays gap-free. Nobody hears ``sent`` before
    the commit, and ``after_commit`` runs for the batch in seq order before the next batch.
    """

    MAX_BATCH = 256

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queue: list[tuple[_Request, asyncio.Future[Appended]]] = []
        self.task: asyncio.Task[None] | None = None

    async def submit(self, request: _Request) -> Appended:
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self.queue.append((request, future))
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = asyncio.create_task(self._run())
        return await future

    async def _run(self) -> None:
        while self.queue:
            batch = self.queue[: self.MAX_BATCH]
            del self.queue[: self.MAX_BATCH]
            try:
                async with self.db.write_lock(""):
                    await self._write(batch)
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise

    async def _write(self, batch: list[tuple[_Request, asyncio.Future[Appended]]]) -> None:
        # One hop to the writer thread for the whole batch, not one per statement: under
        # load each hop back to a busy event loop costs up to a GIL switch interval (5 ms).
        engine = self.db.writer_engine
        assert engine is not None  # SQLite
        outcomes = await asyncio.get_running_loop().run_in_executor(
            self.db.writer_thread, _insert_batch, engine, [r for r, _ in batch]
        )
        # Committed: publish in seq order, then answer.
        for (request, future), outcome in zip(batch, outcomes, strict=True):
            result: Appended | BaseException
            if isinstance(outcome, Event):
                result = Appended(outcome, created=True)
                if request.after_commit is not None:
                    try:
                        await request.after_commit(outcome)
                    except Exception as exc:
                        result = exc
            elif isinstance(outcome, _Repeat):
                try:
                    result = Appended(
                        _same_or_conflict(outcome.event, request.kind, request.body),
                        created=False,
                    )
                except AppError as exc:
                    result = exc
            elif isinstance(outcome, IntegrityError):
                try:
                    result = await _after_race(self.db, request, outcome)
                except Exception as exc:
                    result = exc
            else:
                result = outcome
            if future.done():  # the caller went away (its socket closed)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _group_writer(db: Database) -> _GroupWriter:
    if db.group_writer is None:
        db.group_writer = _GroupWriter(db)
    writer: _GroupWriter = db.group_writer
    return writer


def _check_refs(
    conn: Connection,
    session_id: str,
    seq: int,
    kind: str,
    body: dict[str, Any],
    agenda: list[Any],
) -> None:
    """References must point into this session's own log and agenda."""
    ref = body.get("ref")
    if ref is not None:
        if ref >= seq:
            raise InvalidBody(f"ref {ref} is not an earlier event of this session")
        target = conn.execute(_REF_KIND, {"sid": session_id, "ref": ref}).scalar_one_or_none()
        if target is None:
            raise InvalidBody(f"ref {ref} is not an event of this session")
        if kind == "alert.cancel" and target != "alert.stop":
            raise InvalidBody(f"ref {ref} is not an alert.stop")
        if kind == "request.status" and target != "request":
            raise InvalidBody(f"ref {ref} is not a request")
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
