"""Fixtures: a fresh real server (uvicorn subprocess, own port, own database) per test.

Every test fails if a server it ran (started by a fixture or by the test itself) logged an
ERROR record or a traceback while it ran, unless the test allows that record by name:
``@pytest.mark.allow_server_errors("regex", ..., reason="why this test breaks things")``.
"""

import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    TEST_HOOKS,
    Api,
    Client,
    Server,
    postgres_database,
    server_log_problems,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allow_server_errors(*patterns, reason): server log records (regexes) this test "
        "causes on purpose; any other ERROR or traceback in a server log fails the test",
    )


def _allowed(request: pytest.FixtureRequest) -> tuple[str, ...]:
    patterns: list[str] = []
    for marker in request.node.iter_markers("allow_server_errors"):
        assert marker.kwargs.get("reason"), "allow_server_errors needs a reason="
        assert marker.args, "allow_server_errors needs at least one pattern"
        patterns.extend(marker.args)
    return tuple(patterns)


@pytest.fixture(autouse=True)
def server_log_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test on an ERROR record or traceback in what its servers logged meanwhile."""
    # Servers of earlier tests that still run (module-scoped ones) are read from here on.
    Server.started[:] = [s for s in Server.started if s.proc is not None]
    offsets = {id(s): s.log_size() for s in Server.started}
    yield
    problems: list[str] = []
    for srv in Server.started:
        found = server_log_problems(srv.log_text(offsets.get(id(srv), 0)), _allowed(request))
        problems += [f"server :{srv.port}: {record[:3000]}" for record in found]
    if problems:
        pytest.fail("server logged errors:\n" + "\n\n".join(problems[:5]), pytrace=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


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


@pytest.fixture
async def timed_api(timed_server: Server) -> AsyncIterator[Api]:
    client = Api(timed_server.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgres_database()) if request.param == "postgres" else None
        srv = Server(tmp_path, database_url=url).start()
        try:
            yield srv
        finally:
            srv.stop()


@pytest.fixture
async def db_api(db_server: Server) -> AsyncIterator[Api]:
    api = Api(db_server.url)
    try:
        yield api
    finally:
        await api.close()
        log = db_server.log_text()
        assert "Traceback" not in log and " 500 " not in log, log[-4000:]
