"""Group commit: the appends that arrive while a writer's transaction is in flight share its
next one; each caller hears back after the commit, in seq order per session."""

import asyncio

from sqlalchemy.exc import IntegrityError

from app.db import POSTGRES_WRITERS, Database
from app.errors import AppError
from app.log.reads import get_event_by_id
from app.log.rules import same_or_conflict
from app.log.writes import Appended, Repeat, Request, commit_postgres, commit_sqlite
from app.models import Event


async def _after_race(db: Database, r: Request, exc: IntegrityError) -> Appended:
    """An integrity error: another writer logged the same id first; report its event."""
    existing = await get_event_by_id(db, r.session_id, r.event_id)
    if existing is None:
        raise exc
    return Appended(same_or_conflict(existing, r.kind, r.body), created=False)


_Waiter = tuple[Request, "asyncio.Future[Appended]"]


class GroupWriter:
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
    ``group_writer``). The seq UPDATE of each append takes its session's row lock until the
    commit; that is what orders the writers of one session, across processes too. The batch
    is sorted by session id (stably: each session keeps its order), so every batch takes its
    row locks in the same order and two processes' batches cannot deadlock. Most appends
    need one statement that takes a seq only when it inserts (``app.log.sql.TAKE_AND_INSERT``):
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

    async def submit(self, request: Request) -> Appended:
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
            outcomes = await commit_postgres(conn, [r for r, _ in batch], self.db)
        else:
            # On the event loop, not in a thread (see Database.writer_engine): a batch of
            # one append takes about half a millisecond.
            engine = self.db.writer_engine
            assert engine is not None
            async with self.db.write_lock(""):
                outcomes = await commit_sqlite(engine, [r for r, _ in batch])
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
            elif isinstance(outcome, Repeat):
                try:
                    result = Appended(
                        same_or_conflict(outcome.event, request.kind, request.body),
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


def group_writer(db: Database, session_id: str) -> GroupWriter:
    """The writer of this session's appends in this process (always the same one)."""
    if db.group_writer is None:
        lanes = 1 if db.is_sqlite else POSTGRES_LANES
        db.group_writer = [GroupWriter(db, number) for number in range(lanes)]
    writers: list[GroupWriter] = db.group_writer
    return writers[hash(session_id) % len(writers)]
