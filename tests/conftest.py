"""Fixtures: a fresh server with its own database per test.

``server``, ``timed_server`` and ``db_server`` run the app in the test's own event loop
(tests/inprocess.py): same URLs, same ``Api`` and ``Client``, milliseconds instead of a
process. ``real_server`` (and ``Server(...)`` in a test) is ``backchannel serve`` in a
subprocess, for what only a real process shows: kill -9, SIGTERM, uvicorn's limits and
transport, several processes.

Every test fails if a server it ran (started by a fixture or by the test itself, in
process or not) logged an ERROR record or a traceback while it ran, unless the test allows
that record by name:
``@pytest.mark.allow_server_errors("regex", ..., reason="why this test breaks things")``.
The movable clock (app.clock) is back at real time for every test.
"""

import contextlib
import functools
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.clock import clock
from tests.inprocess import InProcessServer
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


# How `make test` spreads the suite over xdist workers (`--dist loadscope
# --no-loadscope-reorder`, with the scheduler below):
# - the slowest files start first, so that no long one begins near the end and finishes the
#   run alone: the class rehearsal in Chromium, the fuzzers, the other browser files, the
#   clusters of real processes, the crash tests; the rest keeps pytest's order;
# - a module whose tests share a fixture made once per module (a server and a browser, a
#   cluster, a built container) is one unit of work, on one worker;
# - every other test is a unit of its own, for whichever worker is free.
# (Longest units first, by their time in a run of the whole suite on this 2-core machine:
# the rehearsal 90 s, typing at a person's speed 60 s, the container 60 s, the console 55 s…)
SLOW_FIRST = (
    "tests/e2e/test_class_rehearsal.py",
    "tests/e2e/test_producer_typing.py",
    "tests/scale/test_container.py",
    "tests/e2e/test_console.py",
    "tests/fuzz/",
    "tests/e2e/test_resilience.py",
    "tests/e2e/test_producer_facilitator.py",
    "tests/e2e/test_producer_attention.py",
    "tests/e2e/",
    "tests/scale/",
    "tests/test_crash.py",
)
TESTS = Path(__file__).resolve().parent
_MODULE_FIXTURE = re.compile(
    r"@pytest\.fixture\(scope=[\"'](?:module|class)[\"']\)\s*\n(?:async )?def (\w+)"
)


@functools.cache
def _module_fixtures(directory: Path) -> frozenset[str]:
    """The fixtures made once per module or class in the conftest.py files above
    ``directory`` (up to tests/)."""
    names: set[str] = set()
    for d in (directory, *directory.parents):
        if (d / "conftest.py").exists():
            names |= set(_MODULE_FIXTURE.findall((d / "conftest.py").read_text()))
        if d == TESTS:
            break
    return frozenset(names)


@functools.cache
def _shares_per_module(path: str) -> bool:
    """Do a test file's tests share a fixture made once per module (a server and a browser,
    a cluster, a built container)? Read from its source: it defines one, or it names one of
    its conftests' (the browser files take theirs through ``pages``)."""
    file = TESTS.parent / path
    if not file.is_file():
        return False
    text = file.read_text()
    if _MODULE_FIXTURE.search(text) or path.startswith("tests/e2e/"):
        return True
    return any(re.search(rf"\b{name}\b", text) for name in _module_fixtures(file.parent))


def _rank(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    return next((i for i, p in enumerate(SLOW_FIRST) if path.startswith(p)), len(SLOW_FIRST))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: pytest's order within each rank


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope``, with a module as the unit only where it shares a fixture.

    (``--dist loadgroup`` would say the same with ``xdist_group`` marks, but pytest-xdist
    3.8 cannot add a group to a test's id under pytest 9.)
    """
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return path if _shares_per_module(path) else nodeid

    return SharedFixtureScheduling(config, log)


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
    InProcessServer.started[:] = [s for s in InProcessServer.started if s.running]
    offsets = {id(s): s.log_size() for s in [*Server.started, *InProcessServer.started]}
    yield
    problems: list[str] = []
    for srv in [*Server.started, *InProcessServer.started]:
        found = server_log_problems(srv.log_text(offsets.get(id(srv), 0)), _allowed(request))
        name = f":{srv.port}" if isinstance(srv, Server) else srv.host
        problems += [f"server {name}: {record[:3000]}" for record in found]
    if problems:
        pytest.fail("server logged errors:\n" + "\n\n".join(problems[:5]), pytrace=False)


@pytest.fixture(autouse=True)
def real_time() -> Iterator[None]:
    """Every test starts (and leaves) the movable clock at real time, with no timer on it."""
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    """The app in process, on a fresh SQLite database and the in-memory broker."""
    srv = await InProcessServer(tmp_path).start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[Server]:
    """``backchannel serve`` in a subprocess: for what needs uvicorn or a process."""
    srv = Server(tmp_path).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def api(server: InProcessServer) -> AsyncIterator[Api]:
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
async def clients() -> AsyncIterator[list[Client]]:
    """Collects clients made in a test and closes them at the end."""
    made: list[Client] = []
    yield made
    for c in made:
        await c.close()


@pytest.fixture
async def timed_server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    """A server whose clock the test moves (``POST /api/v1/_test/clock``, or
    ``app.clock.clock.advance`` and the scheduler's poke, in process)."""
    srv = await InProcessServer(tmp_path, env=TEST_HOOKS).start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def timed_api(timed_server: InProcessServer) -> AsyncIterator[Api]:
    client = Api(timed_server.url)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture(params=["sqlite", "postgres"])
async def db_server(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[InProcessServer]:
    with contextlib.ExitStack() as stack:
        url = None
        if request.param == "postgres":
            url = stack.enter_context(postgres_database(migrated=True))
        srv = await InProcessServer(tmp_path, database_url=url).start()
        try:
            yield srv
        finally:
            await srv.stop()


@pytest.fixture
async def db_api(db_server: InProcessServer) -> AsyncIterator[Api]:
    api = Api(db_server.url)
    statuses: list[int] = []

    async def note(response: Any) -> None:
        statuses.append(response.status_code)

    api.http.event_hooks["response"].append(note)
    try:
        yield api
    finally:
        await api.close()
        log = db_server.log_text()
        assert "Traceback" not in log and 500 not in statuses, log[-4000:]
