"""The append's statements, built once, and two ways to run them (``app.log``'s writers).

SQLAlchemy would derive a statement's cache key from fresh literal values on every append
(a hot spot in profiles), so every statement here takes bind parameters and is built once.
SQLAlchemy builds them; it does not run them. Each is compiled once to its database's SQL
and run straight on the writer's own driver connection: SQLite's sqlite3 connection
(``SqliteStatements``), PostgreSQL's asyncpg connections (``AsyncpgStatements``). Going
through SQLAlchemy's engine for every statement was most of the CPU an append cost.
"""

import sqlite3
from typing import Any, Protocol

import asyncpg
from sqlalchemy import Boolean, Table, bindparam, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from app.db import decode_json, encode_json
from app.models import Event, Session

EVENTS: Table = Event.__table__  # type: ignore[attr-defined]
SESSIONS: Table = Session.__table__  # type: ignore[attr-defined]

_TAKE_SEQ = (
    update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("sid"))
    .values(last_seq=SESSIONS.c.last_seq + 1)
)

STATEMENTS: dict[str, Any] = {
    # The next seq and the session's status; "take_agenda" also its agenda (segments).
    "take": _TAKE_SEQ.returning(SESSIONS.c.last_seq, SESSIONS.c.status),
    "take_agenda": _TAKE_SEQ.returning(SESSIONS.c.last_seq, SESSIONS.c.status, SESSIONS.c.agenda),
    "give_back": update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("sid"))
    .values(last_seq=SESSIONS.c.last_seq - 1),
    "by_id": select(EVENTS).where(
        EVENTS.c.session_id == bindparam("sid"), EVENTS.c.id == bindparam("eid")
    ),
    "ref_kind": select(EVENTS.c.kind).where(
        EVENTS.c.session_id == bindparam("sid"), EVENTS.c.seq == bindparam("ref")
    ),
    "started": update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("sid"), SESSIONS.c.started_ms.is_(None))
    .values(status="live", started_ms=bindparam("at")),
    "ended": update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("sid"))
    .values(status="ended", ended_ms=bindparam("at")),
}
# One statement both inserts and checks idempotency: a known id inserts nothing (no row).
INSERT = {
    dialect: insert(EVENTS)
    .on_conflict_do_nothing(index_elements=[EVENTS.c.session_id, EVENTS.c.id])
    .returning(EVENTS.c.seq)
    for dialect, insert in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}
_EVENT_COLUMNS = [c.name for c in EVENTS.columns]
STATEMENTS["session_row"] = select(SESSIONS.c.last_seq, SESSIONS.c.status).where(
    SESSIONS.c.id == bindparam("sid")
)


def _take_and_insert() -> Any:
    """PostgreSQL, for an append that does not read the agenda or change the session: the
    seq taken and the event inserted in ONE statement, one round trip instead of two.

    It takes a seq only when it inserts: the UPDATE in the WITH finds no row to update when
    the session has ended (unless ``after_end``), the id is already logged or the ``ref``
    is not an event of the session of the kind it must be (and of none it must not be),
    and then nothing is inserted either (no row back: the caller finds out why, and gives
    nothing back). Whatever it does is one statement, so it is atomic even outside a
    transaction: an id logged by
    another process in the meantime (not yet visible to the NOT EXISTS) fails the whole
    statement on the unique index, with nothing taken. The UPDATE's row lock orders
    the appends of one session, across processes too, and a session ended in the meantime
    is seen: PostgreSQL checks the UPDATE's conditions again on the row's newest version.
    """
    c = EVENTS.c
    logged = (
        select(c.seq).where(c.session_id == bindparam("sid"), c.id == bindparam("e_id")).exists()
    )
    # The reference (if any) is an event of this session (so an earlier one), of the kind
    # asked for (if one is), not of the kind refused (if one is).
    ref = bindparam("ref", type_=c.seq.type)
    ref_kind = bindparam("ref_kind", type_=c.kind.type)
    ref_not_kind = bindparam("ref_not_kind", type_=c.kind.type)
    ref_not_kind_2 = bindparam("ref_not_kind_2", type_=c.kind.type)
    target = (
        select(c.seq)
        .where(
            c.session_id == bindparam("sid"),
            c.seq == ref,
            or_(ref_kind.is_(None), c.kind == ref_kind),
            or_(ref_not_kind.is_(None), c.kind != ref_not_kind),
            or_(ref_not_kind_2.is_(None), c.kind != ref_not_kind_2),
        )
        .exists()
    )
    taken = (
        update(SESSIONS)
        .where(
            SESSIONS.c.id == bindparam("sid"),
            or_(SESSIONS.c.status != "ended", bindparam("after_end", type_=Boolean)),
            ~logged,
            or_(ref.is_(None), target),
        )
        .values(last_seq=SESSIONS.c.last_seq + 1)
        .returning(SESSIONS.c.last_seq)
        .cte("taken")
    )
    values = [
        bindparam("e_session_id", type_=c.session_id.type),
        taken.c.last_seq,
        bindparam("e_id", type_=c.id.type),
        bindparam("e_kind", type_=c.kind.type),
        bindparam("e_body", type_=c.body.type),
        bindparam("e_author_id", type_=c.author_id.type),
        bindparam("e_author_role", type_=c.author_role.type),
        bindparam("e_author_name", type_=c.author_name.type),
        bindparam("e_at_ms", type_=c.at_ms.type),
    ]
    return (
        pg_insert(EVENTS)
        .from_select(_EVENT_COLUMNS, select(*values))
        .returning(c.seq, c.session_id, c.id)
    )


TAKE_AND_INSERT = _take_and_insert()


class Statements(Protocol):
    """Runs ``STATEMENTS`` by name (and ``INSERT``) in the caller's transaction.

    Async for both databases: SQLite's never suspend (the batch runs on the event loop in
    one go), PostgreSQL's wait for their round trip.
    """

    one_trip: bool  # has take_and_insert
    aborts: bool  # a failed statement aborts the whole transaction (PostgreSQL)

    async def take_and_insert(self, values: dict[str, Any], conditions: dict[str, Any]) -> Any:
        """``TAKE_AND_INSERT``: the event's seq in a row, or None when nothing was inserted
        (and nothing taken)."""

    async def row(self, name: str, params: dict[str, Any]) -> Any:
        """The first row (indexable, JSON columns decoded), or None."""

    async def run(self, name: str, params: dict[str, Any]) -> None: ...

    async def insert(self, values: dict[str, Any]) -> Any:
        """Insert an event; its seq in a row, or None when its id is already logged."""

    def savepoint(self) -> Any:
        """A SAVEPOINT to ``start``, then ``commit`` or ``rollback`` (PostgreSQL)."""


_JSON_RESULTS = {"take_agenda": 2, "by_id": _EVENT_COLUMNS.index("body")}


def event_of(row: Any) -> Event:
    """The ``Event`` of a ``by_id`` row (either driver)."""
    return Event(**dict(zip(_EVENT_COLUMNS, row, strict=True)))


def _decoded(name: str, row: Any) -> Any:
    column = _JSON_RESULTS.get(name)
    if row is None or column is None:
        return row
    row = list(row)
    row[column] = decode_json(row[column])
    return row


class _Compiled:
    """A statement compiled once to one driver's SQL: SQLite's with :named parameters,
    asyncpg's with $1, $2… (``names`` in order); with the values of its own literals."""

    def __init__(self, statement: Any, dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = str(compiled)
        self.names: list[str] = list(compiled.positiontup or [])
        self.defaults = {k: v for k, v in compiled.params.items() if v is not None}

    def named(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.defaults, **params} if self.defaults else params

    def positional(self, params: dict[str, Any]) -> list[Any]:
        values = self.named(params)
        return [values[name] for name in self.names]


_SQLITE_NAMED = sqlite.dialect(paramstyle="named")
_SQLITE = {name: _Compiled(statement, _SQLITE_NAMED) for name, statement in STATEMENTS.items()}
_SQLITE_INSERT = _Compiled(INSERT["sqlite"], _SQLITE_NAMED)


class SqliteStatements:
    """On the writer's sqlite3 connection, inside the transaction SQLAlchemy opened on it.

    Errors come out as SQLAlchemy's (``IntegrityError`` and so on, without parameters),
    the same as through SQLAlchemy.
    """

    one_trip = False  # two statements cost no round trip here
    aborts = False  # SQLite undoes just the failed statement

    def __init__(self, conn: Connection) -> None:
        driver = conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        self.cursor = driver.cursor()

    def _execute(self, statement: _Compiled, params: dict[str, Any]) -> Any:
        try:
            rows = self.cursor.execute(statement.sql, statement.named(params))
            # All rows, so the statement is finished (RETURNING writes on its first step).
            return rows.fetchall()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(
                statement.sql, None, exc, sqlite3.Error, hide_parameters=True
            ) from exc

    async def take_and_insert(self, values: dict[str, Any], conditions: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def row(self, name: str, params: dict[str, Any]) -> Any:
        rows = self._execute(_SQLITE[name], params)
        return _decoded(name, rows[0]) if rows else None

    async def run(self, name: str, params: dict[str, Any]) -> None:
        self._execute(_SQLITE[name], params)

    async def insert(self, values: dict[str, Any]) -> Any:
        rows = self._execute(_SQLITE_INSERT, {**values, "body": encode_json(values["body"])})
        return rows[0] if rows else None

    def savepoint(self) -> Any:
        raise NotImplementedError  # never needed: a failed statement undoes only itself


_ASYNCPG = asyncpg_dialect.dialect()
_PG = {name: _Compiled(statement, _ASYNCPG) for name, statement in STATEMENTS.items()}
_PG_INSERT = _Compiled(INSERT["postgresql"], _ASYNCPG)
_PG_TAKE_AND_INSERT = _Compiled(TAKE_AND_INSERT, _ASYNCPG)


def database_error(sql: str, exc: Exception) -> DBAPIError:
    """An asyncpg error as SQLAlchemy's (an integrity error stays one), without parameters."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return IntegrityError(sql, None, exc, hide_parameters=True)
    return DBAPIError(sql, None, exc, hide_parameters=True)


def _take_and_insert_params(values: dict[str, Any], conditions: dict[str, Any]) -> dict[str, Any]:
    # (Named apart from the columns: an UPDATE would take a parameter named after one of its
    # table's columns as a value to SET.)
    params = {f"e_{k}": v for k, v in values.items()}
    params.update(conditions, e_body=encode_json(values["body"]), sid=values["session_id"])
    return params


class AsyncpgStatements:
    """On a group writer's own asyncpg connection (PostgreSQL), inside its transaction.

    Straight on asyncpg rather than through SQLAlchemy's async layer, which cost most of the
    CPU of an append (a greenlet switch and a result object per statement); each statement
    is prepared once per connection (asyncpg's statement cache) and costs one round trip.
    """

    one_trip = True
    aborts = True

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def _fetch(self, statement: _Compiled, params: dict[str, Any]) -> Any:
        try:
            return await self.conn.fetchrow(statement.sql, *statement.positional(params))
        except asyncpg.PostgresError as exc:
            raise database_error(statement.sql, exc) from exc

    async def take_and_insert(self, values: dict[str, Any], conditions: dict[str, Any]) -> Any:
        return await self._fetch(_PG_TAKE_AND_INSERT, _take_and_insert_params(values, conditions))

    async def take_and_insert_many(
        self, items: list[tuple[dict[str, Any], dict[str, Any]]]
    ) -> list[Any]:
        """``take_and_insert`` for each (values, conditions), pipelined in one round trip and
        committed together (outside a transaction): the rows of those that inserted."""
        statement = _PG_TAKE_AND_INSERT
        args = [statement.positional(_take_and_insert_params(v, c)) for v, c in items]
        try:
            return list(await self.conn.fetchmany(statement.sql, args))
        except asyncpg.PostgresError as exc:
            raise database_error(statement.sql, exc) from exc

    async def row(self, name: str, params: dict[str, Any]) -> Any:
        return _decoded(name, await self._fetch(_PG[name], params))

    async def run(self, name: str, params: dict[str, Any]) -> None:
        await self._fetch(_PG[name], params)

    async def insert(self, values: dict[str, Any]) -> Any:
        return await self._fetch(_PG_INSERT, {**values, "body": encode_json(values["body"])})

    def savepoint(self) -> Any:
        return self.conn.transaction()  # nested in the batch's: a SAVEPOINT
