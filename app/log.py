"""Append to and read the event log: gap-free seq, idempotency, validation, visibility.

No HTTP and no WebSocket here: callers pass an ``Author`` and get ``Event`` rows back.
"""

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import col

from app.clock import now_ms
from app.db import POSTGRES_WRITERS, Database
from app.errors import (
    AppError,
    IdempotencyConflict,
    InvalidBody,
    InvalidId,
    InvalidInput,
    NotFound,
    SessionEnded,
)
from app.log_sql import (
    AsyncpgStatements,
    SqliteStatements,
    Statements,
    database_error,
    event_of,
)
from app.models import Event, Session
from app.models.event import ID_PATTERN, RESERVED_ID_PREFIXES, is_reserved_id
from app.models.kinds import HIDDEN, SPECS, SYSTEM, RefRule, kinds_where, validate_body

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


class _NothingTaken(Exception):
    """An append refused before it took a seq (``reason``): there is nothing to give back."""

    def __init__(self, reason: BaseException) -> None:
        self.reason = reason


# After session.end the live line is closed; the debrief may still add notes and answers.
AFTER_END = kinds_where("after_end")


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

    The append joins the process's group commit (``_GroupWriter``) and returns once its
    transaction committed. ``after_commit`` runs once the event is durable, after that of
    every earlier event of its session, so events are published in seq order; the caller
    hears back after it ran.
    """
    clean = validate_body(kind, body, author.role)
    event_id = new_event_id() if event_id is None else check_event_id(event_id)
    if author.role != SYSTEM and is_reserved_id(event_id):
        raise InvalidInput(f"ids beginning {', '.join(RESERVED_ID_PREFIXES)} are the server's")
    request = _Request(session_id, author, kind, clean, event_id, after_commit)
    return await _group_writer(db, session_id).submit(request)


async def _insert(sql: Statements, r: _Request) -> Event:
    """Take the next seq and insert the event, in the caller's transaction.

    Raises ``_Repeat`` when the id is already logged. A refusal that comes before a seq was
    taken comes as ``_NothingTaken``; every other one after: the caller rolls back, or
    (group commit) gives the seq back with ``give_back`` (see ``_insert_batch``).
    """
    if sql.one_trip and _one_statement(r):
        return await _take_and_insert(sql, r)
    # Taking the next seq first locks the session's row until commit, so seqs are handed
    # out and committed in order, with no gap, whichever process writes.
    sid = {"sid": r.session_id}
    row = await sql.row("take_agenda" if r.kind.startswith("segment.") else "take", sid)
    if row is None:
        raise _NothingTaken(NotFound("no such session"))
    seq = int(row[0])
    if row[1] == "ended" and r.kind not in AFTER_END:
        # The status is read in the same statement that locks the row: no race with the end.
        existing = await sql.row("by_id", {"sid": r.session_id, "eid": r.event_id})
        if existing is not None:  # a retry of what was logged before the end
            raise _Repeat(event_of(existing))
        raise SessionEnded("the session has ended: only notes, seen and ack are accepted")
    await _check_refs(sql, r.session_id, seq, r.kind, r.body, row[2] if len(row) > 2 else [])
    values = {**_event_values(r), "seq": seq}
    at = values["at_ms"]
    if await sql.insert(values) is None:
        existing = await sql.row("by_id", {"sid": r.session_id, "eid": r.event_id})
        assert existing is not None  # the conflict was on this very row
        raise _Repeat(event_of(existing))
    if r.kind == "session.start":
        await sql.run("started", {"sid": r.session_id, "at": at})
    elif r.kind == "session.end":
        await sql.run("ended", {"sid": r.session_id, "at": at})
    return Event(**values)


def _one_statement(r: _Request) -> bool:
    """What one statement can check and insert: all but segments, start and end (which
    read the agenda or change the session)."""
    return not r.kind.startswith(("segment.", "session."))


async def _take_and_insert(sql: Statements, r: _Request) -> Event:
    """``_insert`` in one statement (PostgreSQL), which takes a seq only when it inserts."""
    values = _event_values(r)
    row = await sql.take_and_insert(values, _conditions(r))
    if row is not None:
        return Event(seq=int(row[0]), **values)
    raise _NothingTaken(await _refusal(sql, r))


def _conditions(r: _Request) -> dict[str, Any]:
    """The one-statement append's conditions besides the id (``log_sql.TAKE_AND_INSERT``)."""
    rule = REF_TARGETS.get(r.kind, _ANY_EARLIER)
    return {
        "after_end": r.kind in AFTER_END,
        "ref": r.body.get("ref"),
        "ref_kind": rule.must_be,
        "ref_not_kind": rule.must_not_be,
        "ref_not_kind_2": _also_not(r.kind, r.body),
    }


async def _refusal(sql: Statements, r: _Request) -> BaseException:
    """Why the one-statement append inserted nothing (and took nothing): the id is logged,
    or the session is missing or has ended."""
    existing = await sql.row("by_id", {"sid": r.session_id, "eid": r.event_id})
    if existing is not None:  # a repeat (or a retry of what was logged before the end)
        return _Repeat(event_of(existing))
    session = await sql.row("session_row", {"sid": r.session_id})
    if session is None:
        return NotFound("no such session")
    if session[1] == "ended" and r.kind not in AFTER_END:
        return SessionEnded("the session has ended: only notes, seen and ack are accepted")
    problem = await _ref_problem(sql, r.session_id, int(session[0]) + 1, r.kind, r.body)
    if problem is None and r.body.get("ref") is not None:
        # Its target was logged only after it (later in the same batch, say).
        problem = f"ref {r.body['ref']} is not an earlier event of this session"
    if problem is not None:
        return InvalidBody(problem)
    return RuntimeError(f"append to {r.session_id} inserted nothing and found no reason")


def _event_values(r: _Request) -> dict[str, Any]:
    """The event's columns but its seq."""
    return {
        "session_id": r.session_id,
        "id": r.event_id,
        "kind": r.kind,
        "body": r.body,
        "author_id": r.author.participant_id,
        "author_role": r.author.role,
        "author_name": r.author.name,
        "at_ms": now_ms(),
    }


class _Aborted(Exception):
    """PostgreSQL aborted the batch's transaction at a failed statement: nothing of it is kept."""


async def _insert_batch(
    sql: Statements, batch: list[_Request], isolated: bool = False
) -> list[Event | BaseException]:
    """Every append of the batch in order, in the caller's transaction: one outcome each.

    A refused append (a repeat or a conflict, a bad reference) gives back the seq it took,
    with ``give_back``: the writer holds the session's seq (SQLite: the write lock;
    PostgreSQL: the row lock its UPDATE took), so nobody took another one since, and the
    next append of that session takes the same seq again. ``isolated`` wraps every append
    in a SAVEPOINT instead, so that even a failed statement undoes only its own append.
    """
    outcomes: list[Event | BaseException] = []
    for request in batch:
        savepoint = sql.savepoint() if isolated else None
        if savepoint is not None:
            await savepoint.start()
        outcome: Event | BaseException
        try:
            outcome = await _insert(sql, request)
        except _NothingTaken as refused:
            outcome = refused.reason
            if savepoint is not None:
                await savepoint.commit()  # (it did nothing)
        except (AppError, _Repeat, DBAPIError) as exc:
            outcome = exc
            if savepoint is not None:
                await savepoint.rollback()  # undoes the seq it took as well
            elif isinstance(exc, DBAPIError) and sql.aborts:
                raise _Aborted from exc
            elif isinstance(exc, DBAPIError) and not isinstance(exc, IntegrityError):
                raise
            else:
                # (SQLite undoes just a failed statement: the seq is still taken.)
                await sql.run("give_back", {"sid": request.session_id})
        else:
            if savepoint is not None:
                await savepoint.commit()
        outcomes.append(outcome)
    return outcomes


async def _commit_sqlite(engine: Engine, batch: list[_Request]) -> list[Event | BaseException]:
    """SQLite: the batch in one transaction, on the writer's connection. (Its statements
    never wait: the whole batch runs without letting go of the event loop.)"""
    with engine.begin() as conn:
        return await _insert_batch(SqliteStatements(conn), batch)


async def _commit_postgres(
    conn: asyncpg.Connection, batch: list[_Request], db: Database
) -> list[Event | BaseException]:
    """PostgreSQL: the batch in one transaction; again with SAVEPOINTs if a statement failed.

    A batch whose appends each need one statement (every append under a steady load of
    messages) goes in ONE round trip: the statements pipelined, committed together at the
    end (``_pipelined``). Any other batch takes one round trip per statement, between a
    BEGIN and a COMMIT, each a turn of the event loop.
    """
    sql = AsyncpgStatements(conn)
    # (An id sent twice in one batch takes the transaction path: which of the two inserted
    # could not be told from the rows alone.)
    distinct = len({(r.session_id, r.event_id) for r in batch}) == len(batch)
    if distinct and all(_one_statement(r) for r in batch):
        values = [_event_values(r) for r in batch]
        try:
            rows = await sql.take_and_insert_many(
                [(v, _conditions(r)) for r, v in zip(batch, values, strict=True)]
            )
        except DBAPIError:
            db.rollbacks += 1  # it left nothing behind; find the failing one below
            async with _transaction(conn):
                return await _insert_batch(sql, batch, isolated=True)
        return await _pipelined_outcomes(sql, batch, values, rows)
    try:
        async with _transaction(conn):
            return await _insert_batch(sql, batch)
    except _Aborted:
        db.rollbacks += 1  # rolled back: the batch left nothing behind
    async with _transaction(conn):
        return await _insert_batch(sql, batch, isolated=True)


async def _pipelined_outcomes(
    sql: Statements, batch: list[_Request], values: list[dict[str, Any]], rows: list[Any]
) -> list[Event | BaseException]:
    """The outcomes of one-statement appends sent together and committed as one (asyncpg's
    pipelined ``fetchmany``, atomic: a failure anywhere leaves nothing). Each statement saw
    what the ones before it inserted, and took a seq only when it inserted: a row per event,
    found by its session and id; a refused append needs nothing given back, and why it was
    refused is read now, after the commit."""
    seqs = {(row[1], row[2]): int(row[0]) for row in rows}  # (session, id) -> seq
    outcomes: list[Event | BaseException] = []
    for r, v in zip(batch, values, strict=True):
        seq = seqs.get((r.session_id, r.event_id))  # (distinct in the batch)
        if seq is not None:
            outcomes.append(Event(seq=seq, **v))
            continue
        try:
            outcomes.append(await _refusal(sql, r))
        except DBAPIError as exc:  # the batch is committed: only this answer is lost
            outcomes.append(exc)
    return outcomes


@contextlib.asynccontextmanager
async def _transaction(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """asyncpg's transaction, with a failed COMMIT raised as SQLAlchemy's error."""
    try:
        async with conn.transaction():
            yield
    except asyncpg.PostgresError as exc:
        raise database_error("COMMIT", exc) from exc


async def _after_race(db: Database, r: _Request, exc: IntegrityError) -> Appended:
    """An integrity error: another writer logged the same id first; report its event."""
    existing = await get_event_by_id(db, r.session_id, r.event_id)
    if existing is None:
        raise exc
    return Appended(_same_or_conflict(existing, r.kind, r.body), created=False)


_Waiter = tuple[_Request, "asyncio.Future[Appended]"]


class _GroupWriter:
    """Group commit: the appends that arrive while a writer's transaction is in flight share
    its next one.

    Each append still takes its seq, checks and inserts in order (``_insert``); a refused
    one gives its seq back inside the transaction (``_insert_batch``), so seqs stay gap-free
    and per session. Nobody hears back before the commit; if the commit fails, every append
    of the batch fails with it and the batch leaves nothing behind (no gap either).

    SQLite: each batch runs on the event loop, on the writer's own sqlite3 connection, under
    the process-wide write lock (SQLite has one writer at a time anyway).

    PostgreSQL: each batch is one transaction on the writer's own asyncpg connection, with no
    lock of ours, and ``POSTGRES_LANES`` writers share a process's sessions (see
    ``_group_writer``). The seq UPDATE of each append takes its session's row lock until the
    commit; that is what orders the writers of one session, across processes too. The batch
    is sorted by session id (stably: each session keeps its order), so every batch takes its
    row locks in the same order and two processes' batches cannot deadlock. Most appends
    need one statement that takes a seq only when it inserts (``log_sql.TAKE_AND_INSERT``):
    a batch of those goes in one round trip (``_pipelined``). In other batches a refusal
    found in Python gives the seq back with an UPDATE, as on SQLite, rather than a
    SAVEPOINT around every append (two more round trips each). Only a failed *statement*
    needs more, because PostgreSQL then aborts the whole transaction: the batch is run again
    once, every append in a SAVEPOINT of its own, so only the failing one fails.

    Publishing (``after_commit``) happens after the commit and outside the lock, so the next
    batch can start meanwhile; batches are published one after another in commit order, each
    in seq order, and every caller hears back once its own event was published.
    """

    MAX_BATCH = 256

    def __init__(self, db: Database, number: int) -> None:
        self.db = db
        self.number = number  # which of the process's writers (PostgreSQL: its connection)
        self.queue: list[_Waiter] = []
        self.task: asyncio.Task[None] | None = None
        self.publishing: asyncio.Task[None] | None = None  # the last batch's

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
                outcomes = await self._commit(batch)
            except BaseException as exc:
                self.db.rollbacks += 1
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            self._publish(batch, outcomes)
            await asyncio.sleep(0)  # the loop's turn: sockets, answers, the next arrivals

    async def _commit(self, batch: list[_Waiter]) -> list[Event | BaseException]:
        if self.db.writers is not None:
            batch.sort(key=lambda waiter: waiter[0].session_id)
            conn = await self.db.writers.get(self.number)
            outcomes = await _commit_postgres(conn, [r for r, _ in batch], self.db)
        else:
            # On the event loop, not in a thread (see Database.writer_engine): a batch of
            # one append takes about half a millisecond.
            engine = self.db.writer_engine
            assert engine is not None
            async with self.db.write_lock(""):
                outcomes = await _commit_sqlite(engine, [r for r, _ in batch])
        self.db.committed()
        return outcomes

    def _publish(self, batch: list[_Waiter], outcomes: list[Event | BaseException]) -> None:
        """Publish and answer the committed batch once the batch before it is done."""
        loop = asyncio.get_running_loop()
        previous = self.publishing
        if previous is not None and (previous.done() or previous.get_loop() is not loop):
            previous = None
        self.publishing = loop.create_task(self._answer(previous, batch, outcomes))

    async def _answer(
        self,
        previous: "asyncio.Task[None] | None",
        batch: list[_Waiter],
        outcomes: list[Event | BaseException],
    ) -> None:
        if previous is not None:
            await asyncio.wait([previous])
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


# PostgreSQL: independent group commits per process, each for a fixed share of the sessions.
# One writer would make every append of the process wait for the round trips (seq UPDATE,
# INSERT) of every append before it; several run side by side on their own connections and
# never touch the same session row. SQLite has one writer at a time anyway.
POSTGRES_LANES = POSTGRES_WRITERS


def _group_writer(db: Database, session_id: str) -> _GroupWriter:
    """The writer of this session's appends in this process (always the same one)."""
    if db.group_writer is None:
        lanes = 1 if db.is_sqlite else POSTGRES_LANES
        db.group_writer = [_GroupWriter(db, number) for number in range(lanes)]
    writers: list[_GroupWriter] = db.group_writer
    return writers[hash(session_id) % len(writers)]


# What a reference of these kinds must point at (the kind it must be, a kind it must not
# be). Any other reference may point at any earlier event of the session.
REF_TARGETS: dict[str, RefRule] = {k: s.ref for k, s in SPECS.items() if s.ref is not None}
_ANY_EARLIER = RefRule()


def _also_not(kind: str, body: dict[str, Any]) -> str | None:
    """A second kind the ``ref`` must not be: "Clear all" (an ack ``dismissed``) closes
    cards, but a stop alert needs a real answer."""
    return "alert.stop" if kind == "ack" and body.get("status") == "dismissed" else None


async def _check_refs(
    sql: Statements,
    session_id: str,
    seq: int,
    kind: str,
    body: dict[str, Any],
    agenda: list[Any],
) -> None:
    """References must point into this session's own log and agenda."""
    problem = await _ref_problem(sql, session_id, seq, kind, body)
    if problem is not None:
        raise InvalidBody(problem)
    if kind.startswith("segment.") and body["index"] >= len(agenda):
        raise InvalidBody(f"index {body['index']} is not a segment of the agenda ({len(agenda)})")


async def _ref_problem(
    sql: Statements, session_id: str, seq: int, kind: str, body: dict[str, Any]
) -> str | None:
    """What is wrong with the body's ``ref`` for an append that would take ``seq``."""
    ref = body.get("ref")
    if ref is None:
        return None
    if ref >= seq:
        return f"ref {ref} is not an earlier event of this session"
    found = await sql.row("ref_kind", {"sid": session_id, "ref": ref})
    if found is None:
        return f"ref {ref} is not an event of this session"
    rule = REF_TARGETS.get(kind, _ANY_EARLIER)
    if (rule.must_be is not None and found[0] != rule.must_be) or (
        rule.must_not_be is not None and found[0] == rule.must_not_be
    ):
        return f"ref {ref} is not {rule.otherwise}"
    if found[0] == _also_not(kind, body):
        return f"ref {ref} is a stop alert: it needs an answer, it cannot be dismissed"
    return None


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
