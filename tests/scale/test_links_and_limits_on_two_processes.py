"""Links and abuse limits on PostgreSQL + Redis with two server processes.

A rotated or revoked link closes its sockets on every process, the end of a session holds
on PostgreSQL, and every HTTP limit is one budget for the whole cluster, not one per process.
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.scale.conftest import Cluster, new_session
from tests.scale.test_core_on_two_processes import SpreadServer
from tests.support import Server

# Run again here, with the socket URL alternating between the two processes.
from tests.test_lifecycle import (  # noqa: F401
    test_after_the_end_only_notes_seen_and_acks_are_accepted,
)
from tests.test_links import (  # noqa: F401
    test_revoking_a_link_stops_it_and_closes_its_sockets_but_keeps_it_in_the_log,
    test_rotating_a_link_stops_the_old_token_at_once_and_closes_its_sockets_with_4401,
)


@pytest.fixture(autouse=True)
def fresh_limits(redis_url: str) -> Iterator[None]:
    """Rate-limit buckets live in Redis for a minute: start and leave this database clean."""
    client = redis.Redis.from_url(redis_url)

    def wipe() -> None:
        keys = list(client.scan_iter("bc:rl:*"))
        if keys:
            client.delete(*keys)

    wipe()
    yield
    wipe()
    client.close()


@pytest.fixture
def server(cluster: Cluster) -> SpreadServer:
    a, b = cluster.start(2)
    return SpreadServer(a, b)


def assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


async def alternate(
    servers: list[Server], n: int, method: str, path: str, **kwargs: Any
) -> list[httpx.Response]:
    """``n`` requests, taking turns between the processes."""
    out = []
    clients = [httpx.AsyncClient(base_url=s.url, timeout=15) for s in servers]
    try:
        for i in range(n):
            out.append(await clients[i % len(clients)].request(method, path, **kwargs))
    finally:
        for c in clients:
            await c.aclose()
    return out


async def test_heavy_reads_share_one_budget_across_processes(cluster: Cluster) -> None:
    # A slow refill, so that a loaded machine's slow replies do not earn new tokens.
    servers = cluster.start(2, env={"BACKCHANNEL_HEAVY_READ_PER_S": "0.05"})
    s = await new_session(servers[0])
    auth = {"Authorization": f"Bearer {s['tokens']['producer']}"}
    replies = await alternate(
        servers, 6, "GET", f"/api/v1/sessions/{s['session']['id']}/report", headers=auth
    )
    assert [r.status_code for r in replies[:5]] == [200] * 5
    assert_429(replies[5])


async def test_session_creation_shares_one_budget_per_address_across_processes(
    cluster: Cluster,
) -> None:
    servers = cluster.start(2, env={"BACKCHANNEL_CREATE_PER_MIN": "6"})
    replies = await alternate(servers, 7, "POST", "/api/v1/sessions", json={"title": "Spam?"})
    assert [r.status_code for r in replies[:6]] == [201] * 6
    assert_429(replies[6])


async def test_http_sends_share_one_budget_per_participant_across_processes(
    cluster: Cluster,
) -> None:
    servers = cluster.start(2, env={"BACKCHANNEL_RATE_PER_S": "0.2", "BACKCHANNEL_RATE_BURST": "4"})
    s = await new_session(servers[0])
    auth = {"Authorization": f"Bearer {s['tokens']['producer']}"}
    path = f"/api/v1/sessions/{s['session']['id']}/events"
    replies = await alternate(
        servers, 5, "POST", path, headers=auth, json={"kind": "note", "body": {"text": "n"}}
    )
    assert [r.status_code for r in replies[:4]] == [201] * 4, [r.text for r in replies]
    assert_429(replies[4])
