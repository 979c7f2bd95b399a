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

from sqlalchemy import Table, bindparam, select, update
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


class Statements(Protocol):
    """Runs ``STATEMENTS`` by name (and ``INSERT``) in the caller's transaction."""

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
