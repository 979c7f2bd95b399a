"""Presence: connecting in a loop cannot grow the log, and sockets per participant are capped.

The same scenarios run on one process (memory://) and on two processes sharing PostgreSQL
and Redis, where the participant alternates between the processes.
"""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.inprocess import InProcessServer
from tests.support import (
    TEST_HOOKS,
    Api,
    Client,
    Server,
    let_time_pass,
    postgres_database,
    shared_redis_url,
    ws_connect,
)

CYCLES = 100
MAX_SOCKETS = 10


@pytest.fixture(params=["memory", "redis"])
async def servers(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[list[Any]]:
    """One server on memory:// (in process, on the movable clock), or two processes on one
    PostgreSQL database and one Redis (Redis keeps the time of pending offlines, on the
    processes' movable clock too)."""
    if request.param == "memory":
        srv = await InProcessServer(tmp_path).start()
        try:
            yield [srv]
        finally:
            await srv.stop()
        return
    else:
        with postgres_database() as pg_url:
            redis_url = shared_redis_url()
            # With the test hooks: the test moves both clocks past the grace, not waits.
            made = [
                Server(tmp_path, database_url=pg_url, broker_url=redis_url, env=TEST_HOOKS)
                for _ in "ab"
            ]
            try:  # (stopped also when the second does not start: none outlives its database)
                made[0].start()  # migrates the empty database first
                made[1].start()
                yield made
            finally:
                for s in made:
                    s.stop()


async def _presence_of(api: Api, session: dict[str, Any], pid: str) -> list[str]:
    events = await api.events(session["session"]["id"], session["tokens"]["producer"])
    return [
        e["body"]["status"]
        for e in events
        if e["kind"] == "presence" and e["body"]["participant_id"] == pid
    ]


async def _wait_presence(
    api: Api, session: dict[str, Any], pid: str, want: list[str], timeout: float = 15
) -> float:
    """Poll the log until the participant's presence is ``want``; seconds it took."""
    started = time.monotonic()
    while (got := await _presence_of(api, session, pid)) != want:
        assert time.monotonic() - started < timeout, got
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def _refused_before_welcome(ws_url: str, token: str) -> int | None:
    """Open a socket and say hello; the close code it gets instead of a welcome."""
    async with ws_connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "since": 0}))
        try:
            frame = await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    raise AssertionError(f"a frame instead of the close: {str(frame)[:80]}")


async def _closed_code(c: Client, timeout: float = 10) -> int | None:
    assert c._reader is not None
    await asyncio.wait_for(asyncio.shield(c._reader), timeout)
    return c.close_code


async def test_a_hundred_connect_close_cycles_add_at_most_two_presence_events(
    servers: list[Any],
) -> None:
    api = Api(servers[0].url)
    try:
        session = await api.create_session(title="Flaky Wi-Fi")
        token = session["tokens"]["facilitator"]
        pid = ""
        started = time.monotonic()
        for i in range(CYCLES):
            c = Client(servers[i % len(servers)].ws_url, token)
            welcome = await c.connect()
            pid = welcome["you"]["participant_id"]
            await c.close()
        cycling_s = time.monotonic() - started
        # Back every time well within the 5 s grace: one `online`, no `offline` yet...
        assert await _presence_of(api, session, pid) == ["online"], cycling_s
        await let_time_pass(*servers, seconds=3)
        assert await _presence_of(api, session, pid) == ["online"], "not before the grace"
        # ...and once the last socket has stayed closed past the grace, one `offline`.
        await let_time_pass(*servers, seconds=2.5)
        await _wait_presence(api, session, pid, ["online", "offline"])
        await let_time_pass(*servers, seconds=0.5)
        assert await _presence_of(api, session, pid) == ["online", "offline"]
    finally:
        await api.close()


async def test_a_reconnect_within_the_grace_logs_nothing_but_a_longer_absence_does(
    servers: list[Any],
) -> None:
    api = Api(servers[0].url)
    clients: list[Client] = []
    try:
        session = await api.create_session(title="Reconnects")
        token = session["tokens"]["facilitator"]
        first = Client(servers[0].ws_url, token)
        clients.append(first)
        pid = (await first.connect())["you"]["participant_id"]
        await _wait_presence(api, session, pid, ["online"])
        await first.abort()  # a Wi-Fi drop: no closing handshake
        await let_time_pass(*servers, seconds=1)
        back = Client(servers[-1].ws_url, token)  # on the other process, when there are two
        clients.append(back)
        await back.connect()
        await let_time_pass(
            *servers, seconds=6
        )  # past the grace of the dropped socket: nothing logged
        assert await _presence_of(api, session, pid) == ["online"]
        await back.close()
        await let_time_pass(*servers, seconds=5)  # the grace of the last socket
        await _wait_presence(api, session, pid, ["online", "offline"])
        again = Client(servers[0].ws_url, token)
        clients.append(again)
        await again.connect()
        await _wait_presence(api, session, pid, ["online", "offline", "online"])
    finally:
        for c in clients:
            await c.close()
        await api.close()


async def test_the_eleventh_socket_of_a_participant_closes_with_4409_over_all_processes(
    servers: list[Any],
) -> None:
    api = Api(servers[0].url)
    clients: list[Client] = []
    try:
        session = await api.create_session(title="Too many tabs")
        token = session["tokens"]["producer"]
        for i in range(MAX_SOCKETS):
            c = Client(servers[i % len(servers)].ws_url, token)
            clients.append(c)
            await c.connect()
        for server in servers:
            # Refused before its welcome: the eleventh socket sees nothing of the session.
            assert await _refused_before_welcome(server.ws_url, token) == 4409
        # Other participants are not affected, and a freed place can be taken again.
        other = Client(servers[-1].ws_url, session["tokens"]["facilitator"])
        clients.append(other)
        await other.connect()
        await clients[0].close()
        # The server hears the close and frees the place a moment after the client's close
        # returns (a real process counts it out in Redis in the background): retried briefly.
        retry = Client(servers[0].ws_url, token)
        clients.append(retry)
        deadline = time.monotonic() + 5
        while True:
            try:
                await retry.connect()
                break
            except websockets.ConnectionClosed as exc:
                assert exc.rcvd is not None and exc.rcvd.code == 4409, exc
                assert time.monotonic() < deadline, "the freed place was not given back"
                await asyncio.sleep(0.05)
        reply = await retry.send("note", {"text": "the eleventh place was freed"})
        assert reply["type"] == "sent", reply
        for c in [*clients[1:MAX_SOCKETS], other]:
            assert c.close_code is None, "open sockets stay open"
    finally:
        for c in clients:
            await c.close()
        await api.close()
