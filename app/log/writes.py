"""How one append is written, inside a writer's transaction: take the seq, check, insert —
and the three ways to run a batch of them (SQLite; PostgreSQL in one pipelined round trip;
PostgreSQL statement by statement, with SAVEPOINTs after a failed one). A refusal gives back
the seq it took, so seqs stay gap-free."""

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.clock import now_ms
from app.db import Database
from app.errors import AppError, InvalidBody, NotFound, SessionEnded
from app.log.rules import AFTER_END, ANY_EARLIER, REF_TARGETS, also_not, check_refs, ref_problem
from app.log.sql import AsyncpgStatements, SqliteStatements, Statements, database_error, event_of
from app.models import Event
from app.models.kinds import SYSTEM


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
class Request:
    session_id: str
    author: Author
    kind: str
    body: dict[str, Any]
    event_id: str
    after_commit: AfterCommit | None


class Repeat(Exception):
    def __init__(self, event: Event) -> None:
        self.event = event


class NothingTaken(Exception):
    """An append refused before it took a seq (``reason``): there is nothing to give back."""

    def __init__(self, reason: BaseException) -> None:
        self.reason = reason


def one_statement(r: Request) -> bool:
    """What one statement can check and insert: all but segments, start and end (which
    read the agenda or change the session)."""
    return not r.kind.startswith(("segment.", "session."))


def conditions(r: Request) -> dict[str, Any]:
    """The one-statement append's conditions besides the id (``app.log.sql.TAKE_AND_INSERT``)."""
    rule = REF_TARGETS.get(r.kind, ANY_EARLIER)
    return {
        "after_end": r.kind in AFTER_END,
        "ref": r.body.get("ref"),
        "ref_kind": rule.must_be,
        "ref_not_kind": rule.must_not_be,
        "ref_not_kind_2": also_not(r.kind, r.body),
    }


async def _insert(sql: Statements, r: Request) -> Event:
    """Take the next seq and insert the event, in the caller's transaction.

    Raises ``Repeat`` when the id is already logged. A refusal that comes before a seq was
    taken comes as ``NothingTaken``; every other one after: the caller rolls back, or
    (group commit) gives the seq back with ``give_back`` (see ``_insert_batch``).
    """
    if sql.one_trip and one_statement(r):
        return await _take_and_insert(sql, r)
    # Taking the next seq first locks the session's row until commit, so seqs are handed
    # out and committed in order, with no gap, whichever process writes.
    sid = {"sid": r.session_id}
    row = await sql.row("take_agenda" if r.kind.startswith("segment.") else "take", sid)
    if row is None:
        raise NothingTaken(NotFound("no such session"))
    seq = int(row[0])
    if row[1] == "ended" and r.kind not in AFTER_END:
        # The status is read in the same statement that locks the row: no race with the end.
        existing = await sql.row("by_id", {"sid": r.session_id, "eid": r.event_id})
        if existing is not None:  # a retry of what was logged before the end
            raise Repeat(event_of(existing))
        raise SessionEnded("the session has ended: only notes, seen and ack are accepted")
    await check_refs(sql, r.session_id, seq, r.kind, r.body, row[2] if len(row) > 2 else [])
    values = {**_event_values(r), "seq": seq}
    at = values["at_ms"]
    if await sql.insert(values) is None:
        existing = await sql.row("by_id", {"sid": r.session_id, "eid": r.event_id})
        assert existing is not None  # the conflict was on this very row
        raise Repeat(event_of(existing))
    if r.kind == "session.start":
        await sql.run("started", {"sid": r.session_id, "at": at})
    elif r.kind == "session.end":
        await sql.run("ended", {"sid": r.session_id, "at": at})
    return Event(**values)


async def _take_and_insert(sql: Statements, r: Request) -> Event:
    """``_insert`` in one statement (PostgreSQL), which takes a seq only when it inserts."""
    values = _event_values(r)
    row = await sql.take_and_insert(values, conditions(r))
    if row is not None:
        return Event(seq=int(row[0]), **values)
    raise NothingTaken(await _refusal(sql, r))


async def _refusal(sql: Statements, r: Request) -> BaseException:
    """Why the one-statement append inserted nothing (and took nothing): the id is logged,
    or the session is missing or has ended."""
    existing = await sql.row("by_id", {"sid": r.session_id, "eid": r.event_id})
    if existing is not None:  # a repeat (or a retry of what was logged before the end)
        return Repeat(event_of(existing))
    session = await sql.row("session_row", {"sid": r.session_id})
    if session is None:
        return NotFound("no such session")
    if session[1] == "ended" and r.kind not in AFTER_END:
        return SessionEnded("the session has ended: only notes, seen and ack are accepted")
    problem = await ref_problem(sql, r.session_id, int(session[0]) + 1, r.kind, r.body)
    if problem is None and r.body.get("ref") is not None:
        # Its target was logged only after it (later in the same batch, say).
        problem = f"ref {r.body['ref']} is not an earlier event of this session"
    if problem is not None:
        return InvalidBody(problem)
    return RuntimeError(f"append to {r.session_id} inserted nothing and found no reason")


def _event_values(r: Request) -> dict[str, Any]:
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
    sql: Statements, batch: list[Request], isolated: bool = False
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
        except NothingTaken as refused:
            outcome = refused.reason
            if savepoint is not None:
                await savepoint.commit()  # (it did nothing)
        except (AppError, Repeat, DBAPIError) as exc:
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


async def commit_sqlite(engine: Engine, batch: list[Request]) -> list[Event | BaseException]:
    """SQLite: the batch in one transaction, on the writer's connection. (Its statements
    never wait: the whole batch runs without letting go of the event loop.)"""
    with engine.begin() as conn:
        return await _insert_batch(SqliteStatements(conn), batch)


async def commit_postgres(
    conn: asyncpg.Connection, batch: list[Request], db: Database
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
    if distinct and all(one_statement(r) for r in batch):
        values = [_event_values(r) for r in batch]
        try:
            rows = await sql.take_and_insert_many(
                [(v, conditions(r)) for r, v in zip(batch, values, strict=True)]
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
    sql: Statements, batch: list[Request], values: list[dict[str, Any]], rows: list[Any]
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
