"""Fixtures: a fresh real server (uvicorn subprocess, own port, own database) per test."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import TEST_HOOKS, Api, Client, Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()
        assert "Traceback" not in srv.log_text() or _only_expected(srv.log_text()), srv.log_text()[
            -4000:
        ]


def _only_expected(log: str) -> bool:
    """Tracebacks from deliberate faults (killed connections) are fine; a 500 is not."""
    return " 500 " not in log


@pytest.fixture
async def api(server: Server) -> AsyncIterator[Api]:
    client = Api(server.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def session(api: Api) -> dict[str, Any]:
    """A session with a three-segment agenda and a small roster."""
    return await api.create_session(
        title="Coaching skills",
        agenda=[
            {"title": "Welcome", "minutes": 10},
            {"title": "Practice", "minutes": 20},
            {"title": "Close", "minutes": 5},
        ],
        roster=["Maria", "Ahmed", "Li"],
    )


@pytest.fixture
async def clients(server: Server) -> AsyncIterator[list[Client]]:
    """Collects clients made in a test and closes them at the end."""
    made: list[Client] = []
    yield made
    for c in made:
        await c.close()


@pytest.fixture
def timed_server(tmp_path: Path) -> Iterator[Server]:
    """A server whose clock the test moves (``POST /api/v1/testing/clock``)."""
    srv = Server(tmp_path, env=TEST_HOOKS).start()
    try:
        yield srv
    finally:
        srv.stop()
        assert " 500 " not in srv.log_text(), srv.log_text()[-4000:]


@pytest.fixture
async def timed_api(timed_server: Server) -> AsyncIterator[Api]:
    client = Api(timed_server.url)
    try:
        yield client
    finally:
        await client.close()
