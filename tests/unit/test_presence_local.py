"""LocalPresence in-process, on a real SQLite log: the grace, the socket cap, the retries."""

import asyncio
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.cli import run_migrations
from app.db import Database
from app.log import SYSTEM_AUTHOR, Appended, append_event, read_events
from app.models import Event, Participant
from app.models.session import SessionCreate
from app.realtime import presence as presence_module
from app.realtime.presence import TooManySockets
from app.realtime.presence_local import LocalPresence
from app.session_model import SessionModels
from app.sessions import create_session

GRACE_S = 0.2


class Published:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def __call__(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty database at the latest schema, migrated once and copied per test."""
    path = tmp_path_factory.mktemp("presence") / "template.db"
    run_migrations(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
async def db(migrated: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "unit.db"
    shutil.copy(migrated, path)
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def facilitator(db: Database) -> Participant:
    created = await create_session(db, SessionCreate(title="Unit"), {})
    return created.issued["facilitator"].participant


async def statuses(db: Database, p: Participant) -> list[str]:
    events = await read_events(db, p.session_id, kinds=("presence",))
    return [e.body["status"] for e in events if e.body["participant_id"] == p.id]


async def arrive(tracker: LocalPresence, p: Participant) -> None:
    """A socket opens: counted before its welcome, logged after it (in the background)."""
    await tracker.joined(p)
    tracker.welcomed(p)
    await tracker.settled()


async def until(db: Database, p: Participant, want: list[str], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while (got := await statuses(db, p)) != want:
        assert time.monotonic() < deadline, got
        await asyncio.sleep(0.02)


async def test_online_at_the_first_socket_offline_only_after_the_grace(
    db: Database, facilitator: Participant
) -> None:
    published = Published()
    tracker = LocalPresence(db, published, grace_s=GRACE_S)
    await arrive(tracker, facilitator)
    await arrive(tracker, facilitator)  # a second tab: nothing new
    assert await statuses(db, facilitator) == ["online"]
    assert [e.body["status"] for e in published.events] == ["online"]
    await tracker.left(facilitator)
    await tracker.left(facilitator)
    assert await statuses(db, facilitator) == ["online"], "not before the grace"
    started = time.monotonic()
    await until(db, facilitator, ["online", "offline"])
    assert time.monotonic() - started >= GRACE_S * 0.9
    await tracker.stop()


async def test_cycles_within_the_grace_log_nothing(db: Database, facilitator: Participant) -> None:
    tracker = LocalPresence(db, Published(), grace_s=GRACE_S)
    for _ in range(100):
        await arrive(tracker, facilitator)
        await tracker.left(facilitator)
    await until(db, facilitator, ["online", "offline"])
    await asyncio.sleep(GRACE_S * 2)
    assert await statuses(db, facilitator) == ["online", "offline"]
    await tracker.stop()


async def test_the_socket_past_the_cap_is_refused_and_not_counted(
    db: Database, facilitator: Participant
) -> None:
    tracker = LocalPresence(db, Published(), max_sockets=3, grace_s=GRACE_S)
    for _ in range(3):
        await arrive(tracker, facilitator)
    with pytest.raises(TooManySockets):
        await tracker.joined(facilitator)
    await tracker.left(facilitator)
    await arrive(tracker, facilitator)  # a freed place can be taken
    for _ in range(3):
        await tracker.left(facilitator)
    await until(db, facilitator, ["online", "offline"])
    await tracker.stop()


def observer_of(p: Participant) -> Participant:
    return Participant(
        id="p-other", session_id=p.session_id, role="observer", name="O", token_hash="x"
    )


async def test_a_stale_online_from_before_a_restart_is_closed_a_grace_after_the_first_join(
    db: Database, facilitator: Participant
) -> None:
    before = LocalPresence(db, Published(), grace_s=GRACE_S)
    await arrive(before, facilitator)  # then the process dies: no offline logged
    assert await statuses(db, facilitator) == ["online"]
    after = LocalPresence(db, Published(), grace_s=GRACE_S)
    other = observer_of(facilitator)
    await arrive(after, other)
    await until(db, facilitator, ["online", "offline"])
    await after.left(other)
    await after.stop()


async def test_after_a_restart_a_participant_back_within_the_grace_logs_nothing(
    db: Database, facilitator: Participant
) -> None:
    before = LocalPresence(db, Published(), grace_s=GRACE_S)
    await arrive(before, facilitator)  # then the process dies: no offline logged
    after = LocalPresence(db, Published(), grace_s=GRACE_S)
    other = observer_of(facilitator)
    await arrive(after, other)  # the session's first socket in the new process
    await arrive(after, facilitator)  # back a moment later
    await asyncio.sleep(GRACE_S * 3)
    assert await statuses(db, facilitator) == ["online"]
    assert await statuses(db, other) == ["online"]
    await after.left(other)
    await after.left(facilitator)
    await after.stop()


async def test_a_recheck_that_fails_is_retried_and_stop_logs_what_is_pending(
    db: Database, facilitator: Participant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(presence_module, "RETRY_S", 0.05)
    tracker = LocalPresence(db, Published(), grace_s=GRACE_S)
    await arrive(tracker, facilitator)
    real_append = presence_module.append_event
    failures = 0

    async def flaky(*args: Any, **kwargs: Any) -> Appended:
        nonlocal failures
        if failures < 2:
            failures += 1
            raise OSError("database is away")
        return await real_append(*args, **kwargs)

    monkeypatch.setattr(presence_module, "append_event", flaky)
    await tracker.left(facilitator)
    await until(db, facilitator, ["online", "offline"])
    assert failures == 2
    # A socket that leaves right before shutdown is logged offline by stop(), not lost.
    await arrive(tracker, facilitator)
    await tracker.left(facilitator)
    await tracker.stop()
    assert await statuses(db, facilitator) == ["online", "offline", "online", "offline"]


async def test_a_stale_model_never_logs_a_transition_twice(
    db: Database, facilitator: Participant
) -> None:
    """The model is behind the log (another process appended; its broker message is late):
    the taken id is seen, the model caught up, and the next number used."""
    models = SessionModels(db)
    model = await models.hold(facilitator.session_id)  # held: fed only by its "channel"
    foreign = []
    for n, status in ((1, "online"), (2, "offline")):
        appended = await append_event(
            db,
            facilitator.session_id,
            SYSTEM_AUTHOR,
            "presence",
            {"participant_id": facilitator.id, "status": status},
            f"presence:{facilitator.id}:{n}",
        )
        foreign.append(appended.event)

    async def late_broker() -> None:
        await asyncio.sleep(0.2)
        for e in foreign:
            model.apply(e)

    delivery = asyncio.create_task(late_broker())
    tracker = LocalPresence(db, Published(), models, grace_s=GRACE_S)
    await arrive(tracker, facilitator)
    await delivery
    assert await statuses(db, facilitator) == ["online", "offline", "online"]
    events = await read_events(db, facilitator.session_id, kinds=("presence",))
    assert [e.id for e in events][-1] == f"presence:{facilitator.id}:3"
    await tracker.left(facilitator)
    await tracker.stop()


async def test_what_this_process_appended_counts_before_the_model_hears_of_it(
    db: Database, facilitator: Participant
) -> None:
    models = SessionModels(db)
    await models.hold(facilitator.session_id)  # never fed here: the broker is "slow"
    tracker = LocalPresence(db, Published(), models, grace_s=GRACE_S)
    await arrive(tracker, facilitator)
    await tracker.left(facilitator)
    await until(db, facilitator, ["online", "offline"])
    await arrive(tracker, facilitator)
    await until(db, facilitator, ["online", "offline", "online"])
    await tracker.left(facilitator)
    await tracker.stop()
