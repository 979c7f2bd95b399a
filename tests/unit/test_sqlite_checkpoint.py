"""SQLite: the group writer commits on the event loop and never checkpoints there; the
write-ahead log is copied into the database by the checkpoint thread, every
``CHECKPOINT_EVERY`` commits (real SQLite, in-process)."""

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

import app.db
from app.cli import run_migrations
from app.db import Database
from app.log import Author, append_event, read_events
from app.models.session import SessionCreate
from app.sessions import create_session


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A migrated SQLite database."""
    file = tmp_path / "cp.db"
    run_migrations(f"sqlite+aiosqlite:///{file}")
    return file


async def test_the_wal_is_checkpointed_in_its_own_thread_every_so_many_commits(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{path}"
    calls: list[tuple[str, str]] = []
    checkpoint = app.db._checkpoint

    def recorded(p: str) -> None:
        calls.append((p, threading.current_thread().name))
        checkpoint(p)

    monkeypatch.setattr(app.db, "_checkpoint", recorded)
    monkeypatch.setattr(app.db, "CHECKPOINT_EVERY", 5)
    db = Database(url)
    try:
        created = await create_session(db, SessionCreate(title="Checkpoints"), [])
        sid = created.session.id
        producer = created.issued["producer"].participant
        author = Author(producer.id, "producer", producer.name)
        for round_ in (1, 2):
            for n in range(5):  # one at a time: five commits
                await append_event(db, sid, author, "note", {"text": f"{round_}.{n}"})
            for _ in range(250):
                if len(calls) == round_ and not db._checkpointing:
                    break
                await asyncio.sleep(0.02)
            assert len(calls) == round_
        await append_event(db, sid, author, "note", {"text": "one more: no checkpoint"})
        await asyncio.sleep(0.1)
        assert [p for p, _ in calls] == [str(path), str(path)]
        assert all(name.startswith("sqlite-checkpoint") for _, name in calls)
        # The writer's own connection never checkpoints on commit.
        engine = db.writer_engine
        assert engine is not None
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        assert [e.seq for e in await read_events(db, sid)] == list(range(1, 12))
    finally:
        await db.close()
    # Everything is in the database file itself once the WAL is gone.
    with sqlite3.connect(path) as plain:
        assert plain.execute("SELECT count(*) FROM events").fetchone() == (11,)
