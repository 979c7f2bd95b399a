"""The async engine and session factory; SQLite is tuned for a durable, single-writer log."""

import asyncio
import contextlib
import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import orjson
from sqlalchemy import Engine, StaticPool, create_engine, event, make_url, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.locks import KeyedLocks

log = logging.getLogger(__name__)

# SQLite: the group writer checkpoints the write-ahead log after this many commits, and waits
# at most this long for another process's write lock (a batch that times out fails; its
# clients retry).
CHECKPOINT_EVERY = 500
WRITER_BUSY_S = 5.0

# PostgreSQL: how many group-commit writers a process runs (app.log), each on a connection of
# its own (``Database.writers``).
POSTGRES_WRITERS = 8
CONNECT_TIMEOUT_S = 10.0  # a writer's (re)connect; its batch fails after that


class Database:
    """One engine per process, plus the in-process write locks that keep appends orderly."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # hide_parameters: a failing statement is logged without its values (token hashes,
        # names, message text).
        kwargs: dict[str, Any] = {
            "json_serializer": encode_json,
            "json_deserializer": decode_json,
            "hide_parameters": True,
        }
        pool: dict[str, Any] = {"connect_args": {"timeout": 30}}
        if not self.is_sqlite:
            pool = {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs, **pool)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self._global_lock = asyncio.Lock()
        self._session_locks: KeyedLocks[str] = KeyedLocks()
        # The group commit of appends (app.log: its writers), made on the first append.
        # SQLite's batches run in one thread of their own on a plain sqlite3 connection: one
        # hand-off per batch instead of one round trip through the event loop per statement.
        self.group_writer: Any = None
        self.writer_engine: Engine | None = None
        self.checkpoint_thread: ThreadPoolExecutor | None = None
        self.writers: WriterConnections | None = None
        self.commits = 0  # the group writers' commits and rolled-back batches, since start
        self.rollbacks = 0
        self._path = ""
        self._since_checkpoint = 0
        self._checkpointing = False
        if not self.is_sqlite:
            self.writers = WriterConnections(url)
        else:
            # The group commit's own connection (app.log). Its batches run on the event loop
            # itself: in WAL mode with synchronous=NORMAL a commit does not wait for the disk,
            # and in a thread every statement of a batch would wait for the GIL, which a busy
            # loop hands back only every switch interval (5 ms). Checkpoints, which do wait
            # for the disk, run in a thread of their own (``committed``).
            self.writer_engine = create_engine(
                make_url(url).set(drivername="sqlite"),
                connect_args={"timeout": WRITER_BUSY_S, "check_same_thread": False},
                poolclass=StaticPool,
                hide_parameters=True,
                json_serializer=encode_json,
                json_deserializer=decode_json,
            )
            event.listen(self.writer_engine, "connect", _writer_pragmas)
            self.checkpoint_thread = ThreadPoolExecutor(1, thread_name_prefix="sqlite-checkpoint")
            self._path = make_url(url).database or ""

    def committed(self) -> None:
        """A group writer committed a batch. SQLite: copy the write-ahead log into the
        database now and then, in the checkpoint thread, without blocking anybody."""
        self.commits += 1
        self._since_checkpoint += 1
        due = self._since_checkpoint >= CHECKPOINT_EVERY and not self._checkpointing
        if self.checkpoint_thread is None or not due:
            return
        self._since_checkpoint = 0
        self._checkpointing = True
        done = asyncio.get_running_loop().run_in_executor(
            self.checkpoint_thread, _checkpoint, self._path
        )
        done.add_done_callback(self._checkpoint_done)

    def _checkpoint_done(self, done: "asyncio.Future[None]") -> None:
        self._checkpointing = False
        if not done.cancelled() and done.exception() is not None:
            log.warning("WAL checkpoint failed: %s", done.exception())

    @contextlib.asynccontextmanager
    async def write_lock(self, session_id: str) -> AsyncIterator[None]:
        """Serialise writes to the log: one writer per process for SQLite (the group commit
        holds it per batch), one per session otherwise (deleting a session).

        Across processes the database does the same job (SQLite's file lock, PostgreSQL's row
        lock on the session's counter); this lock only keeps our own tasks from queueing there.
        PostgreSQL's appends take no lock of ours: their batches rely on the row lock alone.
        """
        if self.is_sqlite:
            async with self._global_lock:
                yield
            return
        async with self._session_locks.hold(session_id):
            yield

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
        if self.writers is not None:
            await self.writers.close()
        if self.checkpoint_thread is not None:
            self.checkpoint_thread.shutdown(wait=True)
        if self.writer_engine is not None:
            self.writer_engine.dispose()


class WriterConnections:
    """PostgreSQL: the group writers' own asyncpg connections, one per writer, apart from
    the pool that serves reads. A checkout costs nothing (the pool's pre-ping costs three
    round trips: BEGIN, an empty query, ROLLBACK). A connection is opened on first use, and
    again after it was lost: the batch that found it lost failed, and its appends are
    retried by their clients.
    """

    def __init__(self, url: str) -> None:
        self.dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self.connections: dict[int, asyncpg.Connection] = {}

    async def get(self, writer: int) -> asyncpg.Connection:
        """Writer ``writer``'s connection (each writer runs one batch at a time)."""
        conn = self.connections.get(writer)
        if conn is None or conn.is_closed():
            conn = self.connections[writer] = await asyncpg.connect(
                self.dsn, timeout=CONNECT_TIMEOUT_S
            )
        return conn

    async def close(self) -> None:
        connections = list(self.connections.values())
        self.connections.clear()
        for conn in connections:
            try:
                await asyncio.wait_for(conn.close(), 5)
            except Exception:  # lost, or stuck: let go of it anyway
                conn.terminate()


def encode_json(obj: Any) -> str:
    """JSON columns (event bodies, agendas) through orjson; the json module for what it refuses."""
    try:
        return orjson.dumps(obj).decode()
    except TypeError:
        return json.dumps(obj)


def decode_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # NaN or the like, written by the json module
        return json.loads(text)


def _writer_pragmas(dbapi_conn: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_conn, record)
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout={int(WRITER_BUSY_S * 1000)}")
    cur.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint thread does it
    cur.close()


def _checkpoint(path: str) -> None:
    """PASSIVE: copies what it can without waiting for readers or writers."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        conn.close()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    # WAL + synchronous=NORMAL: a commit survives a crash of the server process.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()
