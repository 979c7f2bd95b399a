"""The group commit of appends (app.log.group.GroupWriter), in-process, on real SQLite and PostgreSQL.

Each test gets a fresh migrated database. What a batch is, is observed through the
database's count of the writers' commits (``Database.committed``, once per batch the writer
commits); failures are real ones, made by triggers the test adds to its own database.
"""

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from app.cli import run_migrations
from app.db import Database
from app.errors import IdempotencyConflict, InvalidBody, NotFound, SessionEnded
from app.log import Appended, Author, append_event, last_seq, read_events
from app.log.group import group_writer
from app.models import Event
from app.models.session import SessionCreate
from app.sessions import create_session
from tests.support import postgres_database

FAIL_AT_COMMIT = "fail at commit"
FAIL_AT_INSERT = "fail at insert"

SQLITE_TRAPS = [
    # A deferred foreign key is checked at COMMIT: the trigger makes that commit fail.
    "CREATE TABLE trap (sid VARCHAR REFERENCES sessions(id) DEFERRABLE INITIALLY DEFERRED)",
    f"""CREATE TRIGGER trap_at_commit AFTER INSERT ON events
        WHEN json_extract(NEW.body, '$.text') = '{FAIL_AT_COMMIT}'
        BEGIN INSERT INTO trap VALUES ('no such session'); END""",
    f"""CREATE TRIGGER trap_at_insert BEFORE INSERT ON events
        WHEN json_extract(NEW.body, '$.text') = '{FAIL_AT_INSERT}'
        BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END""",
]
POSTGRES_TRAPS = [
    "CREATE TABLE trap (sid VARCHAR REFERENCES sessions(id) DEFERRABLE INITIALLY DEFERRED)",
    f"""CREATE FUNCTION trap() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.body->>'text' = '{FAIL_AT_COMMIT}' THEN
                INSERT INTO trap VALUES ('no such session');
            ELSIF NEW.body->>'text' = '{FAIL_AT_INSERT}' THEN
                RAISE EXCEPTION 'refused by a test trigger';
            END IF;
            RETURN NEW;
        END $$""",
    "CREATE TRIGGER trap BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION trap()",
]


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'log.db'}"
        run_migrations(url)
        yield url
    else:
        with postgres_database() as url:
            run_migrations(url)
            yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    try:
        yield database
    finally:
        await database.close()


class Commits:
    """The transactions the group writers committed or rolled back (``Database``'s counts),
    with hooks run at each commit."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.hooks: list[Any] = []
        self._committed = db.committed

        def committed() -> None:
            self._committed()
            for hook in self.hooks:
                hook()

        db.committed = committed  # type: ignore[method-assign]

    @property
    def count(self) -> int:
        return self.db.commits

    @property
    def rollbacks(self) -> int:
        return self.db.rollbacks

    def close(self) -> None:
        self.db.committed = self._committed  # type: ignore[method-assign]


@pytest.fixture
def commits(db: Database) -> Iterator[Commits]:
    c = Commits(db)
    try:
        yield c
    finally:
        c.close()


async def new_session(db: Database) -> tuple[str, Author, Author]:
    created = await create_session(db, SessionCreate(title="Group commit"), [])
    ids = {role: item.participant.id for role, item in created.issued.items()}
    return (
        created.session.id,
        Author(ids["producer"], "producer", "Producer"),
        Author(ids["facilitator"], "facilitator", "Facilitator"),
    )


async def add_traps(db: Database) -> None:
    async with db.engine.begin() as conn:
        for statement in SQLITE_TRAPS if db.is_sqlite else POSTGRES_TRAPS:
            await conn.execute(text(statement))


async def logged_seqs(db: Database, session_id: str) -> list[int]:
    return [e.seq for e in await read_events(db, session_id)]


async def outcomes(*appends: Any) -> list[Appended | BaseException]:
    return list(await asyncio.gather(*appends, return_exceptions=True))


async def test_appends_that_arrive_together_share_one_commit_with_gap_free_seqs(
    db: Database, commits: Commits
) -> None:
    a, producer_a, _ = await new_session(db)
    b, producer_b, _ = await new_session(db)
    published: list[tuple[str, int]] = []

    async def publish(ev: Event) -> None:
        published.append((ev.session_id, ev.seq))

    async def send(session_id: str, who: Author, n: int) -> Appended:
        appended = await append_event(
            db, session_id, who, "prompt.time", {"text": f"m{n}"}, after_commit=publish
        )
        # The caller hears back only after its event was published.
        assert (session_id, appended.event.seq) in published
        return appended

    before = commits.count
    done = await asyncio.gather(
        *(send(a, producer_a, n) if n % 3 else send(b, producer_b, n) for n in range(30))
    )
    # One transaction per writer (PostgreSQL has several per process, each for its sessions).
    assert commits.count - before == len({id(group_writer(db, s)) for s in (a, b)})
    to_a = [d.event for d in done if d.event.session_id == a]
    to_b = [d.event for d in done if d.event.session_id == b]
    # Each session's seqs in arrival order, from 1, no gap; published in that order.
    assert [e.seq for e in to_a] == list(range(1, 21))
    assert [e.seq for e in to_b] == list(range(1, 11))
    assert [e.body["text"] for e in to_a] == [f"m{n}" for n in range(30) if n % 3]
    assert [s for sid, s in published if sid == a] == list(range(1, 21))
    assert [s for sid, s in published if sid == b] == list(range(1, 11))
    assert await logged_seqs(db, a) == list(range(1, 21))
    assert await last_seq(db, b) == 10


async def test_appends_that_arrive_during_a_commit_share_the_next_one(
    db: Database, commits: Commits
) -> None:
    sid, producer, _ = await new_session(db)
    loop = asyncio.get_running_loop()
    later: list[asyncio.Task[Appended]] = []

    def spawn() -> None:
        for n in range(10):
            later.append(
                asyncio.ensure_future(
                    append_event(db, sid, producer, "note", {"text": f"during {n}"})
                )
            )

    def while_committing() -> None:
        # (On the loop's thread for both: the appends start once the commit has let go.)
        commits.hooks.clear()
        loop.call_soon_threadsafe(spawn)

    commits.hooks.append(while_committing)
    before = commits.count
    first = await append_event(db, sid, producer, "note", {"text": "first"})
    assert first.event.seq == 1
    for _ in range(200):  # PostgreSQL: the commit's round trip let them in; wait for them
        if later:
            break
        await asyncio.sleep(0.01)
    rest = await asyncio.gather(*later)
    assert [r.event.seq for r in rest] == list(range(2, 12))
    assert commits.count - before == 2
    assert await logged_seqs(db, sid) == list(range(1, 12))


async def test_a_refused_append_gives_its_seq_back_inside_the_batch(
    db: Database, commits: Commits
) -> None:
    sid, producer, facilitator = await new_session(db)
    first = await append_event(db, sid, producer, "prompt.time", {"text": "one"})
    before = commits.count
    got = await outcomes(
        append_event(db, sid, facilitator, "seen", {"ref": first.event.seq}),
        append_event(db, sid, facilitator, "seen", {"ref": 999}),  # later than itself
        append_event(db, sid, producer, "note", {"text": "two"}),
        append_event(db, sid, facilitator, "seen", {"ref": 3}),  # the note: not for them
        append_event(db, sid, producer, "prompt.time", {"text": "three"}),
    )
    assert commits.count - before == 1
    assert isinstance(got[1], InvalidBody) and isinstance(got[3], InvalidBody)
    assert [g.event.seq for g in got if isinstance(g, Appended)] == [2, 3, 4]
    assert await logged_seqs(db, sid) == [1, 2, 3, 4]
    assert await last_seq(db, sid) == 4
    nxt = await append_event(db, sid, producer, "note", {"text": "after"})
    assert nxt.event.seq == 5


async def test_an_idempotent_repeat_inside_one_batch_is_the_same_event(
    db: Database, commits: Commits
) -> None:
    sid, producer, _ = await new_session(db)
    published: list[int] = []

    async def publish(ev: Event) -> None:
        published.append(ev.seq)

    def send(kind: str, text_: str, event_id: str) -> Any:
        return append_event(
            db, sid, producer, kind, {"text": text_}, event_id, after_commit=publish
        )

    before = commits.count
    got = await outcomes(
        send("note", "hello", "id-1"),
        send("note", "hello", "id-1"),  # a repeat: the same event, no new seq
        send("note", "other", "id-1"),  # the same id for something else: a conflict
        send("prompt.time", "next", "id-2"),
    )
    assert commits.count - before == 1
    original, repeat, conflict, nxt = got
    assert isinstance(original, Appended) and original.created and original.event.seq == 1
    assert isinstance(repeat, Appended) and not repeat.created
    assert (repeat.event.seq, repeat.event.id) == (1, "id-1")
    assert isinstance(conflict, IdempotencyConflict)
    assert isinstance(nxt, Appended) and nxt.event.seq == 2
    assert published == [1, 2]  # a repeat is not published again
    assert await logged_seqs(db, sid) == [1, 2]


async def test_an_append_refused_on_its_own_takes_no_seq(db: Database, commits: Commits) -> None:
    """One at a time (PostgreSQL: the one-statement append in autocommit), every refusal
    leaves the counter as it was."""
    sid, producer, facilitator = await new_session(db)
    first = await append_event(db, sid, producer, "note", {"text": "one"}, "id-1")
    repeat = await append_event(db, sid, producer, "note", {"text": "one"}, "id-1")
    assert not repeat.created and repeat.event.seq == first.event.seq == 1
    with pytest.raises(IdempotencyConflict):
        await append_event(db, sid, producer, "note", {"text": "other"}, "id-1")
    with pytest.raises(NotFound):
        await append_event(db, "no-such-session", producer, "note", {"text": "x"})
    with pytest.raises(InvalidBody):
        await append_event(db, sid, facilitator, "seen", {"ref": 7})
    assert await last_seq(db, sid) == 1
    end = await append_event(db, sid, producer, "session.end", {})
    assert end.event.seq == 2
    with pytest.raises(SessionEnded):
        await append_event(db, sid, producer, "prompt.time", {"text": "late"})
    # A retry of what was logged before the end is still the same event.
    late_repeat = await append_event(db, sid, producer, "note", {"text": "one"}, "id-1")
    assert not late_repeat.created and late_repeat.event.seq == 1
    debrief = await append_event(db, sid, producer, "note", {"text": "after the end"})
    assert debrief.event.seq == 3
    assert await logged_seqs(db, sid) == [1, 2, 3]
    assert await last_seq(db, sid) == 3
    assert commits.rollbacks == 0


async def test_refusals_among_the_appends_of_one_batch_take_no_seq(
    db: Database, commits: Commits
) -> None:
    """PostgreSQL sends such a batch in one round trip (pipelined statements): each answer
    is found by its session and id, whatever was refused around it."""
    live, producer, facilitator = await new_session(db)
    ended, ender, _ = await new_session(db)
    await append_event(db, live, producer, "note", {"text": "first"}, "dup")  # 1
    await append_event(db, live, producer, "prompt.time", {"text": "go"})  # 2
    await append_event(db, ended, ender, "session.end", {})
    before = commits.count
    got = await outcomes(
        append_event(db, ended, ender, "prompt.time", {"text": "too late"}),
        append_event(db, live, producer, "prompt.time", {"text": "a"}),  # 3
        append_event(db, "no-such-session", producer, "note", {"text": "nowhere"}),
        append_event(db, live, producer, "note", {"text": "first"}, "dup"),  # a repeat
        append_event(db, ended, ender, "note", {"text": "debrief"}, "dup"),  # its own id there
        append_event(db, live, facilitator, "seen", {"ref": 2}),  # 4
        append_event(db, live, facilitator, "ack", {"ref": 1, "status": "done"}),  # a note
        append_event(db, live, producer, "alert.cancel", {"ref": 2}),  # not an alert
        append_event(db, live, facilitator, "seen", {"ref": 6}),  # logged only after it
        append_event(db, live, producer, "prompt.time", {"text": "b"}),  # 5
        append_event(db, live, producer, "prompt.time", {"text": "c"}),  # 6
    )
    lanes = {id(group_writer(db, s)) for s in (live, ended, "no-such-session")}
    assert commits.count - before == len(lanes)  # one commit per writer, refusals or not
    too_late, a, nowhere, repeat, debrief, seen, ack, cancel, early, b, c = got
    assert isinstance(too_late, SessionEnded) and isinstance(nowhere, NotFound)
    assert "not a message for the facilitator" in str(ack)
    assert "not an alert.stop" in str(cancel)
    assert "not an earlier event" in str(early)
    assert all(isinstance(g, InvalidBody) for g in (ack, cancel, early))
    created = [g.event.seq for g in (a, seen, b, c) if isinstance(g, Appended) and g.created]
    assert created == [3, 4, 5, 6]
    assert isinstance(repeat, Appended) and not repeat.created and repeat.event.seq == 1
    assert isinstance(debrief, Appended) and debrief.created and debrief.event.seq == 2
    assert await logged_seqs(db, live) == [1, 2, 3, 4, 5, 6]
    assert await logged_seqs(db, ended) == [1, 2]
    assert commits.rollbacks == 0


async def test_an_id_sent_twice_in_one_batch_answers_each_for_its_own_message(
    db: Database, commits: Commits
) -> None:
    sid, producer, _ = await new_session(db)
    refused, kept = await outcomes(
        append_event(db, sid, producer, "alert.cancel", {"ref": 5}, "same"),  # no such event
        append_event(db, sid, producer, "note", {"text": "kept"}, "same"),
    )
    assert isinstance(refused, InvalidBody)
    assert isinstance(kept, Appended) and kept.created
    assert (kept.event.seq, kept.event.kind, kept.event.body) == (1, "note", {"text": "kept"})
    assert [(e.seq, e.kind) for e in await read_events(db, sid)] == [(1, "note")]


async def test_a_failed_commit_fails_every_append_of_its_batch_and_leaves_no_gap(
    db: Database, commits: Commits
) -> None:
    sid, producer, _ = await new_session(db)
    await add_traps(db)
    first = await append_event(db, sid, producer, "note", {"text": "kept"})
    published: list[int] = []

    async def publish(ev: Event) -> None:
        published.append(ev.seq)

    got = await outcomes(
        *(
            append_event(
                db,
                sid,
                producer,
                "note",
                {"text": FAIL_AT_COMMIT if n == 2 else f"lost {n}"},
                after_commit=publish,
            )
            for n in range(5)
        )
    )
    assert all(isinstance(g, Exception) and "FOREIGN KEY" in str(g).upper() for g in got), got
    assert published == []
    assert await logged_seqs(db, sid) == [first.event.seq]
    assert await last_seq(db, sid) == 1
    # The writer goes on: the next batch takes the next seq, as if nothing had happened.
    again = await outcomes(
        *(append_event(db, sid, producer, "note", {"text": f"again {n}"}) for n in range(3))
    )
    assert [g.event.seq for g in again if isinstance(g, Appended)] == [2, 3, 4]
    assert await logged_seqs(db, sid) == [1, 2, 3, 4]


async def test_a_failed_statement_fails_only_its_own_append(db: Database, commits: Commits) -> None:
    """SQLite undoes just the statement; PostgreSQL aborts the transaction, and the batch is
    run again with a SAVEPOINT per append."""
    sid, producer, _ = await new_session(db)
    await add_traps(db)
    got = await outcomes(
        *(
            append_event(
                db, sid, producer, "note", {"text": FAIL_AT_INSERT if n == 1 else f"kept {n}"}
            )
            for n in range(4)
        )
    )
    assert "refused by a test trigger" in str(got[1])
    assert [g.event.seq for g in got if isinstance(g, Appended)] == [1, 2, 3]
    assert [g.event.body["text"] for g in got if isinstance(g, Appended)] == [
        "kept 0",
        "kept 2",
        "kept 3",
    ]
    assert await logged_seqs(db, sid) == [1, 2, 3]
    assert await last_seq(db, sid) == 3


async def test_publishing_runs_after_the_lock_is_released_but_in_order(
    db: Database, commits: Commits
) -> None:
    sid, producer, _ = await new_session(db)
    release = asyncio.Event()
    published: list[int] = []

    async def slow_publish(ev: Event) -> None:
        await release.wait()
        published.append(ev.seq)

    async def publish(ev: Event) -> None:
        published.append(ev.seq)

    first = asyncio.ensure_future(
        append_event(db, sid, producer, "note", {"text": "slow"}, after_commit=slow_publish)
    )
    for _ in range(500):  # until the first is committed (and held up in its publishing)
        if await last_seq(db, sid) == 1:
            break
        await asyncio.sleep(0.01)
    second = asyncio.ensure_future(
        append_event(db, sid, producer, "note", {"text": "fast"}, after_commit=publish)
    )
    # The second commits meanwhile: publishing does not hold up the writer...
    for _ in range(500):
        if await last_seq(db, sid) == 2:
            break
        await asyncio.sleep(0.01)
    assert await logged_seqs(db, sid) == [1, 2]
    # ...but it is published, and answered, only after the first.
    assert published == [] and not first.done() and not second.done()
    release.set()
    assert (await first).event.seq == 1 and (await second).event.seq == 2
    assert published == [1, 2]


async def test_two_writers_on_the_same_sessions_in_opposite_orders_keep_one_order(
    database_url: str, db: Database
) -> None:
    """Two Databases are two writers, as in two processes: their batches lock the same
    session rows; sorted by session, they never wait for each other in a cycle."""
    other = Database(database_url)
    watched = [Commits(db), Commits(other)]
    try:
        sessions = [await new_session(db) for _ in range(3)]
        forward = [(s, p) for s, p, _ in sessions] * 10
        backward = forward[::-1]

        async def burst(database: Database, order: list[tuple[str, Author]], tag: str) -> Any:
            return await asyncio.gather(
                *(
                    append_event(database, s, p, "note", {"text": f"{tag}{n}"})
                    for n, (s, p) in enumerate(order)
                )
            )

        before = [(w.count, w.rollbacks) for w in watched]
        for _ in range(3):
            await asyncio.gather(burst(db, forward, "f"), burst(other, backward, "b"))
        after = [(w.count, w.rollbacks) for w in watched]
        # Not once did PostgreSQL break a deadlock by aborting one of the batches.
        assert [a[1] - b[1] for a, b in zip(after, before, strict=True)] == [0, 0]
        lanes = len({id(group_writer(db, s)) for s, _, _ in sessions})
        assert [a[0] - b[0] for a, b in zip(after, before, strict=True)] == [3 * lanes] * 2
        for s, _, _ in sessions:
            assert await logged_seqs(db, s) == list(range(1, 61))
    finally:
        for w in watched:
            w.close()
        await other.close()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_a_writer_whose_connection_was_lost_reconnects_and_keeps_the_order(
    db: Database,
) -> None:
    """PostgreSQL: the server ends the writers' connections (a restart, a failover). An
    append that finds its connection lost fails, and is retried with its id as a client
    would; the next batch opens a new connection. Nothing is lost, doubled or skipped."""
    assert db.writers is not None
    sid, producer, _ = await new_session(db)
    first = await append_event(db, sid, producer, "note", {"text": "one"}, "one")
    lost = list(db.writers.connections.values())
    assert lost, "the append went through a writer connection"
    async with db.engine.connect() as conn:  # another session ends them, as the server would
        for writer in lost:
            pid = writer.get_server_pid()
            await conn.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))
    for writer in lost:  # until the client side has seen the end
        for _ in range(200):
            if writer.is_closed():
                break
            await asyncio.sleep(0.01)
    attempts = 0
    while True:  # the client's retry, same id
        attempts += 1
        try:
            second = await append_event(db, sid, producer, "note", {"text": "two"}, "two")
            break
        except Exception:
            assert attempts < 3, "the writer did not reconnect"
    assert (first.event.seq, second.event.seq) == (1, 2) and second.created
    assert not set(db.writers.connections.values()) & set(lost)
    assert await logged_seqs(db, sid) == [1, 2]
