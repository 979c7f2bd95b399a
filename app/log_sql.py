"""The append's statements, built once, and two ways to run them (``app.log``'s writers).

SQLAlchemy would derive a statement's cache key from fresh literal values on every append
(a hot spot in profiles), so every statement here takes bind parameters and is built once.
PostgreSQL runs them through SQLAlchemy (``CoreStatements``). SQLite runs the same
statements compiled once to SQLite's SQL, straight on the writer's sqlite3 connection
(``SqliteStatements``): the group commit runs on the event loop, and going through
SQLAlchemy for every statement was most of the CPU an append cost.
"""

import sqlite3
from typing import Any, Protocol

from sqlalchemy import Boolean, Table, bindparam, or_, select, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

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
    """PostgreSQL, for an append with nothing to check first (no reference, no segment):
    the seq taken and the event inserted in ONE statement, one round trip instead of two.

    The UPDATE in the WITH runs whether or not the INSERT inserts (a repeated id, a session
    that has ended), so the caller must then find out why and give the seq back, exactly as
    after a refusal in two statements. No row: the session does not exist, nothing taken.
    """
    taken = _TAKE_SEQ.returning(SESSIONS.c.last_seq, SESSIONS.c.status).cte("taken")
    c = EVENTS.c
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
    allowed = or_(taken.c.status != "ended", bindparam("after_end", type_=Boolean))
    return (
        pg_insert(EVENTS)
        .from_select(_EVENT_COLUMNS, select(*values).where(allowed))
        .on_conflict_do_nothing(index_elements=[c.session_id, c.id])
        .returning(c.seq)
    )


TAKE_AND_INSERT = _take_and_insert()


class Statements(Protocol):
    """Runs ``STATEMENTS`` by name (and ``INSERT``) in the caller's transaction."""

    one_trip: bool  # has take_and_insert

    def take_and_insert(self, values: dict[str, Any], after_end: bool) -> Any:
        """``TAKE_AND_INSERT``: the event's seq in a row, or None when nothing was inserted."""

    def row(self, name: str, params: dict[str, Any]) -> Any:
        """The first row (indexable, JSON columns decoded), or None."""

    def run(self, name: str, params: dict[str, Any]) -> None: ...

    def insert(self, values: dict[str, Any]) -> Any:
        """Insert an event; its seq in a row, or None when its id is already logged."""

    def event(self, row: Any) -> Event:
        """The ``Event`` of a ``by_id`` row."""


class CoreStatements:
    """On a SQLAlchemy connection (PostgreSQL)."""

    def __init__(self, conn: Connection, dialect: str) -> None:
        self.conn = conn
        self._insert = INSERT[dialect]
        self.one_trip = dialect == "postgresql"

    def take_and_insert(self, values: dict[str, Any], after_end: bool) -> Any:
        # (Named apart from the columns: an UPDATE would take a parameter named after one of
        # its table's columns as a value to SET.)
        params = {f"e_{k}": v for k, v in values.items()}
        params.update(sid=values["session_id"], after_end=after_end)
        return self.conn.execute(TAKE_AND_INSERT, params).first()

    def row(self, name: str, params: dict[str, Any]) -> Any:
        return self.conn.execute(STATEMENTS[name], params).first()

    def run(self, name: str, params: dict[str, Any]) -> None:
        self.conn.execute(STATEMENTS[name], params)

    def insert(self, values: dict[str, Any]) -> Any:
        return self.conn.execute(self._insert, values).first()

    def event(self, row: Any) -> Event:
        return Event(**row._mapping)


def _compiled(statement: Any) -> tuple[str, dict[str, Any]]:
    """SQLite's SQL with :named parameters, and the values of the statement's own literals."""
    compiled = statement.compile(dialect=_SQLITE_NAMED)
    defaults = {k: v for k, v in compiled.params.items() if v is not None}
    return str(compiled), defaults


_SQLITE_NAMED = sqlite.dialect(paramstyle="named")
_SQLITE = {name: _compiled(statement) for name, statement in STATEMENTS.items()}
_SQLITE_INSERT = _compiled(INSERT["sqlite"])
_JSON_RESULTS = {"take_agenda": 2, "by_id": _EVENT_COLUMNS.index("body")}


class SqliteStatements:
    """On the writer's sqlite3 connection, inside the transaction SQLAlchemy opened on it.

    Errors come out as SQLAlchemy's (``IntegrityError`` and so on, without parameters),
    the same as through SQLAlchemy.
    """

    one_trip = False  # two statements cost no round trip here

    def take_and_insert(self, values: dict[str, Any], after_end: bool) -> Any:
        raise NotImplementedError

    def __init__(self, conn: Connection) -> None:
        driver = conn.connection.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        self.cursor = driver.cursor()

    def _execute(self, sql: str, defaults: dict[str, Any], params: dict[str, Any]) -> Any:
        try:
            rows = self.cursor.execute(sql, {**defaults, **params} if defaults else params)
            # All rows, so the statement is finished (RETURNING writes on its first step).
            return rows.fetchall()
        except sqlite3.Error as exc:
            raise DBAPIError.instance(sql, None, exc, sqlite3.Error, hide_parameters=True) from exc

    def row(self, name: str, params: dict[str, Any]) -> Any:
        rows = self._execute(*_SQLITE[name], params)
        if not rows:
            return None
        column = _JSON_RESULTS.get(name)
        if column is None:
            return rows[0]
        row = list(rows[0])
        row[column] = decode_json(row[column])
        return row

    def run(self, name: str, params: dict[str, Any]) -> None:
        self._execute(*_SQLITE[name], params)

    def insert(self, values: dict[str, Any]) -> Any:
        rows = self._execute(*_SQLITE_INSERT, {**values, "body": encode_json(values["body"])})
        return rows[0] if rows else None

    def event(self, row: Any) -> Event:
        return Event(**dict(zip(_EVENT_COLUMNS, row, strict=True)))
