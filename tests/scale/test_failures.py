"""Load and faults across processes: many writers, racing ids, a Redis restart, a SIGKILL."""

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from tests.scale.conftest import Cluster, all_events, new_session
from tests.scale.test_cluster import assert_stream
from tests.support import Client, RedisServer, seqs


async def _joined(client: Client) -> None:
    """The server reads frames only after the socket is attached and counted: a pong proves it."""
    await client.send_raw(json.dumps({"type": "ping", "t": "attached?"}))
    await client.wait_for(lambda f: f["type"] == "pong" and f.get("t") == "attached?")


async def test_four_processes_with_many_writers_keep_one_gap_free_order_seen_by_all(
    cluster: Cluster, made_clients: list[Client]
) -> None:
    servers = cluster.start(4)
    session = await new_session(servers[0])
    tokens = session["tokens"]
    clients: list[tuple[str, Client]] = []
    for server in servers:
        for role in ("producer", "facilitator", "observer"):
            c = Client(server.ws_url, tokens[role])
            clients.append((role, c))
            made_clients.append(c)
    await asyncio.gather(*(c.connect() for _, c in clients))
    await asyncio.gather(*(_joined(c) for _, c in clients))
    per_client = 25

    async def write(role: str, c: Client, n: int) -> list[int]:
        got = []
        for k in range(n):
            if role == "producer":
                kind, body = (
                    ("note", {"text": f"n{k}"})
                    if k % 3 == 0
                    else ("prompt.time", {"text": f"p{k}"})
                )
            elif role == "facilitator":
                kind, body = "reply", {"text": f"r{k}"}
            else:
                kind, body = "note", {"text": f"o{k}"}
            reply = await c.send(kind, body)
            assert reply["type"] == "sent", reply
            got.append(reply["seq"])
        return got

    started = time.monotonic()
    written = await asyncio.gather(*(write(role, c, per_client) for role, c in clients))
    elapsed = time.monotonic() - started
    sent_seqs = [s for w in written for s in w]
    assert len(sent_seqs) == len(set(sent_seqs)) == len(clients) * per_client
    last = await clients[0][1].send("prompt.time", {"text": "the end"})
    await asyncio.gather(*(c.wait_seq(last["seq"], timeout=30) for _, c in clients))

    log = await all_events(servers[1], session)
    assert seqs(log) == list(range(1, len(log) + 1)), "seq has a gap or a duplicate"
    assert set(sent_seqs) <= set(seqs(log))
    for role, c in clients:
        assert_stream(c, log, role, last["seq"])
    print(f"\n{len(sent_seqs)} sends from {len(clients)} clients on 4 processes in {elapsed:.2f}s")


async def test_the_same_id_sent_to_two_processes_at_once_is_one_event_with_one_seq(
    cluster: Cluster, made_clients: list[Client]
) -> None:
    a, b = cluster.start(2)
    session = await new_session(a)
    on_a = Client(a.ws_url, session["tokens"]["producer"])
    on_b = Client(b.ws_url, session["tokens"]["producer"])
    made_clients += [on_a, on_b]
    await on_a.connect()
    await on_b.connect()
    for i in range(20):
        body = {"text": f"race {i}"}
        ra, rb = await asyncio.gather(
            on_a.send("prompt.time", body, id=f"race-{i}"),
            on_b.send("prompt.time", body, id=f"race-{i}"),
        )
        assert ra["type"] == rb["type"] == "sent", (ra, rb)
        assert ra["seq"] == rb["seq"]
        assert bool(ra.get("repeat")) != bool(rb.get("repeat")), (ra, rb)
    log = await all_events(a, session)
    ids = [e["id"] for e in log if e["id"].startswith("race-")]
    assert sorted(ids) == sorted(f"race-{i}" for i in range(20))
    assert seqs(log) == list(range(1, len(log) + 1))


async def test_a_redis_restart_mid_stream_loses_and_duplicates_nothing(
    tmp_path: Path, cluster_factory: Any, made_clients: list[Client]
) -> None:
    redis = RedisServer(tmp_path).start()
    try:
        a, b = cluster_factory(redis.url).start(2)
        session = await new_session(a)
        tokens = session["tokens"]
        producer = Client(a.ws_url, tokens["producer"])
        readers = [
            (role, Client(srv.ws_url, tokens[role]))
            for srv in (a, b)
            for role in ("facilitator", "observer")
        ]
        made_clients += [producer, *(c for _, c in readers)]
        await producer.connect()
        await asyncio.gather(*(c.connect() for _, c in readers))
        await asyncio.gather(*(_joined(c) for _, c in readers))

        async def send_some(first: int, n: int) -> int:
            seq = 0
            for i in range(first, first + n):
                kind = "note" if i % 4 == 0 else "prompt.time"
                reply = await producer.send(kind, {"text": f"m{i}"})
                assert reply["type"] == "sent", reply  # sends never depend on Redis
                seq = reply["seq"]
                await asyncio.sleep(0.02)
            return seq

        await send_some(0, 20)
        redis.kill()  # mid-stream: process B hears nothing of what follows...
        during = await send_some(20, 20)
        await asyncio.sleep(0.3)
        redis.start()
        # ...and, with no later event to reveal the gap, catches up once Redis is back.
        during_visible = max(e["seq"] for e in producer.events if e["kind"] != "note")
        assert during_visible <= during
        await asyncio.gather(*(c.wait_seq(during_visible, timeout=20) for _, c in readers))
        await send_some(40, 20)
        last = await producer.send("prompt.time", {"text": "the end"})
        await asyncio.gather(*(c.wait_seq(last["seq"], timeout=30) for _, c in readers))
        log = await all_events(a, session)
        for role, c in readers:
            assert_stream(c, log, role, last["seq"])
        assert (await producer.send("prompt.time", {"text": "still fine"}))["type"] == "sent"
    finally:
        redis.kill()


async def test_a_killed_process_loses_no_event_and_its_absent_clients_go_offline_in_time(
    cluster: Cluster, made_clients: list[Client]
) -> None:
    ttl, grace = 2.0, 1.0
    a, b = cluster.start(
        2, env={"BACKCHANNEL_PRESENCE_TTL_S": str(ttl), "BACKCHANNEL_PRESENCE_GRACE_S": str(grace)}
    )
    session = await new_session(a)
    tokens = session["tokens"]
    producer = Client(b.ws_url, tokens["producer"])
    facilitator = Client(a.ws_url, tokens["facilitator"])
    observer = Client(a.ws_url, tokens["observer"])
    made_clients += [producer, facilitator, observer]
    await producer.connect()
    facilitator_id = (await facilitator.connect())["you"]["participant_id"]
    observer_id = (await observer.connect())["you"]["participant_id"]
    await _joined(facilitator)
    await _joined(observer)

    stop = asyncio.Event()

    async def keep_sending() -> list[int]:
        out = []
        i = 0
        while not stop.is_set():
            reply = await producer.send("prompt.time", {"text": f"tick {i}"})
            assert reply["type"] == "sent"
            out.append(reply["seq"])
            i += 1
            await asyncio.sleep(0.05)
        return out

    sender = asyncio.create_task(keep_sending())
    await asyncio.sleep(0.5)
    a.kill()  # SIGKILL: no goodbye, no offline logged by A
    killed_at = time.monotonic()
    # The facilitator's client notices the dead socket and reconnects to the survivor.
    assert facilitator._reader is not None
    await asyncio.wait_for(facilitator._reader, 10)
    facilitator.ws_url = b.ws_url
    await facilitator.connect(since=facilitator.last_seq)
    await asyncio.sleep(0.5)
    stop.set()
    await sender
    last = await producer.send("prompt.time", {"text": "after the crash"})
    await facilitator.wait_seq(last["seq"])
    log = await all_events(b, session)
    assert seqs(log) == list(range(1, len(log) + 1))
    assert_stream(facilitator, log, "facilitator", last["seq"])

    # The observer never came back: the surviving process logs it offline, once, in time.
    def went_offline(f: dict[str, Any]) -> bool:
        return (
            f["type"] == "event"
            and f["event"]["kind"] == "presence"
            and f["event"]["body"] == {"participant_id": observer_id, "status": "offline"}
        )

    bound = ttl + ttl / 3 + grace + ttl / 3 + 3.0  # expiry, sweep, grace, due check, slack
    await producer.wait_for(went_offline, timeout=bound + 2)
    assert time.monotonic() - killed_at <= bound
    await asyncio.sleep(ttl)
    log = await all_events(b, session)

    def statuses(pid: str) -> list[str]:
        return [
            e["body"]["status"]
            for e in log
            if e["kind"] == "presence" and e["body"]["participant_id"] == pid
        ]

    assert statuses(observer_id) == ["online", "offline"]
    # The facilitator moved to B before A's entry expired: never logged offline.
    assert statuses(facilitator_id) == ["online"]
