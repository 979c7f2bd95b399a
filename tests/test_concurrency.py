"""Many writers, one session: gap-free seq, no duplicate, everyone sees everything in order."""

import asyncio
import time
import uuid
from typing import Any

from tests.inprocess import InProcessServer
from tests.support import Api, Client, seqs

SENDERS = 20
MESSAGES = 50


async def _wait_all_online(api: Api, sid: str, token: str, participants: int) -> int:
    """Poll the log (bounded) until ``participants`` are logged online; its last seq."""
    deadline = time.monotonic() + 10
    while True:
        logged = await api.events(sid, token)
        online = {
            e["body"]["participant_id"]
            for e in logged
            if e["kind"] == "presence" and e["body"]["status"] == "online"
        }
        if len(online) == participants:
            return int(logged[-1]["seq"])
        assert time.monotonic() < deadline, f"only {len(online)} online: {logged}"
        await asyncio.sleep(0.05)


async def test_twenty_concurrent_senders_get_seq_1_to_1000_without_gap_or_duplicate(
    tmp_path: Any,
) -> None:
    # Many sockets share one producer token here, so lift the per-connection send limit and
    # the sockets-per-participant cap; the point is contention on one session's log.
    srv = await InProcessServer(
        tmp_path,
        env={
            "BACKCHANNEL_RATE_PER_S": "1000",
            "BACKCHANNEL_RATE_BURST": "1000",
            "BACKCHANNEL_MAX_SOCKETS_PER_PARTICIPANT": "20",
        },
    ).start()
    api = Api(srv.url)
    clients: list[Client] = []
    try:
        s = await api.create_session(title="Load")
        sid = s["session"]["id"]
        token = s["tokens"]["producer"]
        # Senders: 16 sockets and 4 HTTP writers, all at once.
        watchers = [
            Client(srv.ws_url, s["tokens"][role])
            for role in ("facilitator", "observer", "producer")
        ]
        for w in watchers:
            await w.connect()
        senders = [Client(srv.ws_url, token) for _ in range(16)]
        for c in senders:
            await c.connect()
        clients += watchers + senders
        # Everyone is connected: once the three participants' presence is logged, the
        # messages come after it.
        base = await _wait_all_online(api, sid, token, participants=3)

        async def ws_sender(c: Client, n: int) -> list[int]:
            got = []
            for i in range(MESSAGES):
                reply = await c.send("prompt.time", {"text": f"ws {n}/{i}"})
                assert reply["type"] == "sent", reply
                got.append(reply["seq"])
            return got

        async def http_sender(n: int) -> list[int]:
            got = []
            for i in range(MESSAGES):
                r = await api.http.post(
                    f"/api/v1/sessions/{sid}/events",
                    json={"kind": "prompt.time", "body": {"text": f"http {n}/{i}"}},
                    headers={**api.auth(token), "Idempotency-Key": str(uuid.uuid4())},
                )
                assert r.status_code == 201, r.text
                got.append(r.json()["seq"])
            return got

        results = await asyncio.gather(
            *(ws_sender(c, n) for n, c in enumerate(senders)), *(http_sender(n) for n in range(4))
        )
        acked = sorted(seq for group in results for seq in group)
        assert len(acked) == SENDERS * MESSAGES
        assert acked == list(range(base + 1, base + SENDERS * MESSAGES + 1)), (
            "gap-free, no duplicate"
        )
        for group in results:
            assert group == sorted(group), "one sender's messages keep their order"

        logged = await api.events(sid, token)
        assert seqs(logged) == list(range(1, base + SENDERS * MESSAGES + 1))
        last = logged[-1]["seq"]
        for c in watchers + senders:
            await c.wait_seq(last, timeout=30)
            got = [e for e in c.events if e["kind"] == "prompt.time"]
            assert seqs(got) == acked, "every client received all 1000, in order, once"
    finally:
        for c in clients:
            await c.close()
        await api.close()
        await srv.stop()
