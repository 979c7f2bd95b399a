"""Several `backchannel serve` processes on one PostgreSQL database and one Redis."""

import concurrent.futures
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import (
    TEST_HOOKS,
    Api,
    Client,
    Server,
    postgres_database,
    shared_redis_url,
)


@pytest.fixture
def pg_url() -> Iterator[str]:
    with postgres_database() as url:
        yield url


@pytest.fixture
def redis_url() -> str:
    return shared_redis_url()


class Cluster:
    """N server processes sharing a database and a broker."""

    def __init__(self, tmp_path: Path, database_url: str, broker_url: str) -> None:
        self.tmp_path = tmp_path
        self.database_url = database_url
        self.broker_url = broker_url
        self.servers: list[Server] = []

    def start(self, n: int, env: dict[str, str] | None = None) -> list[Server]:
        made = [
            Server(
                self.tmp_path, database_url=self.database_url, broker_url=self.broker_url, env=env
            )
            for _ in range(n)
        ]
        self.servers += made
        # The first one migrates the empty database; the others start side by side.
        made[0].start()
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(n - 1, 1)) as pool:
            list(pool.map(lambda s: s.start(), made[1:]))
        return made

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def logs(self) -> str:
        return "\n".join(s.log_text() for s in self.servers)


@pytest.fixture
def cluster_factory(tmp_path: Path, pg_url: str) -> Iterator[Callable[..., Cluster]]:
    made: list[Cluster] = []

    def make(broker_url: str) -> Cluster:
        cluster = Cluster(tmp_path, pg_url, broker_url)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        cluster.stop()
    for cluster in made:
        logs = cluster.logs()
        assert " 500 " not in logs, logs[-4000:]


@pytest.fixture
def cluster(cluster_factory: Callable[..., Cluster], redis_url: str) -> Cluster:
    return cluster_factory(redis_url)


@pytest.fixture(scope="module")
def shared_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two processes on one PostgreSQL database and one Redis, shared by a module's tests
    (each makes sessions of its own): starting them is most of what such a test costs. With
    the test hooks, so that a test moves both clocks (presence grace, rate limits)."""
    with postgres_database(migrated=True) as pg_url:  # (the first start need not migrate)
        cluster = Cluster(tmp_path_factory.mktemp("two-processes"), pg_url, shared_redis_url())
        try:
            # Every test of the module creates its sessions from the same address.
            a, b = cluster.start(2, env={"BACKCHANNEL_CREATE_PER_MIN": "100000", **TEST_HOOKS})
            yield a, b
        finally:
            # Also when the second did not start: the first must not outlive its database
            # (its scheduler's errors would fail the next tests on this worker).
            cluster.stop()
        logs = cluster.logs()
        assert " 500 " not in logs, logs[-4000:]


@pytest.fixture
async def made_clients() -> AsyncIterator[list[Client]]:
    made: list[Client] = []
    yield made
    for c in made:
        await c.close()


async def new_session(server: Server) -> dict[str, Any]:
    api = Api(server.url)
    try:
        return await api.create_session(
            title="Scale-out class",
            agenda=[{"title": "Welcome", "minutes": 10}, {"title": "Practice", "minutes": 20}],
            roster=["Maria", "Ahmed", "Li"],
        )
    finally:
        await api.close()


async def all_events(server: Server, session: dict[str, Any]) -> list[dict[str, Any]]:
    """The whole log, as the producer reads it over HTTP."""
    api = Api(server.url)
    try:
        return await api.events(session["session"]["id"], session["tokens"]["producer"])
    finally:
        await api.close()
