"""What several unit tests share: a hub on a database of its own (a copy of the migrated
SQLite template) and the memory broker, all in the test's loop."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.db import Database
from app.realtime.hub import Hub
from app.realtime.memory import MemoryBroker
from tests.inprocess import fresh_sqlite


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    db = Database(fresh_sqlite(tmp_path / "unit.db"))
    broker = MemoryBroker()
    await broker.connect()
    hub = Hub(db, broker, linger_s=0)
    try:
        yield hub
    finally:
        await hub.close_all()
        await broker.disconnect()
        await db.close()
