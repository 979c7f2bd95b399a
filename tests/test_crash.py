"""SIGKILL the server mid-stream, restart it on the same database: nothing acknowledged is lost."""

import asyncio
import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import websockets

from tests.support import Api, Client, Server, seqs


async def test_every_message_that_got_sent_survives_a_sigkill_exactly_once(tmp_path: Path) -> None:
    srv = Server(tmp_path).start()
    api = Api(srv.url)
    try:
        s = await api.create_session(title="Crash")
        sid, token = s["session"]["id"], s["tokens"]["producer"]
        facilitator = Client(srv.ws_url, s["tokens"]["facilitator"])
        await facilitator.connect()

        acked: dict[str, int] = {}
        attempted: list[str] = []

        async def produce() -> None:
            async with websockets.connect(srv.ws_url) as ws:
                await ws.send(json.dumps({"type": "hello", "token": token, "since": 0}))
                with contextlib.suppress(websockets.ConnectionClosed):
                    while True:
                        event_id = str(uuid.uuid4())
                        attempted.append(event_id)
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "send",
                                    "id": event_id,
                                    "kind": "prompt.time",
                                    "body": {"text": event_id[:8]},
                                }
                            )
                        )
                        while True:
                            frame = json.loads(await ws.recv())
                            if frame["type"] == "sent" and frame["id"] == event_id:
                                acked[event_id] = frame["seq"]
                                break
                        await asyncio.sleep(0.04)

        producer = asyncio.create_task(produce())
        while len(acked) < 25:
            await asyncio.sleep(0.05)
        srv.kill()
        await asyncio.wait_for(producer, 10)
        await facilitator.abort()
        seen_before = facilitator.last_seq

        srv.start()  # same port, same database file
        logged = await api.events(sid, token)
        by_id = {e["id"]: e for e in logged}
        for event_id, seq in acked.items():
            assert by_id[event_id]["seq"] == seq, "acknowledged means durable"
        assert seqs(logged) == list(range(1, len(logged) + 1)), "no gap"
        # Messages in flight at the kill may or may not be there; never twice.
        ids = [e["id"] for e in logged]
        assert len(ids) == len(set(ids))
        assert set(ids) - {i for i in ids if i.startswith("presence:")} <= set(attempted)

        # The client re-sends what it never saw acknowledged, with the same ids: logged once.
        again = Client(srv.ws_url, token)
        await again.connect()
        for event_id in attempted:
            if event_id not in acked:
                reply = await again.send("prompt.time", {"text": event_id[:8]}, id=event_id)
                assert reply["type"] == "sent"
        prompts = [e for e in await api.events(sid, token) if e["kind"] == "prompt.time"]
        assert sorted(e["id"] for e in prompts) == sorted(attempted)

        # The facilitator resumes from where it was: everything after, once, in order (its
        # own `online` is logged after its welcome: wait for that too).
        facilitator = Client(srv.ws_url, s["tokens"]["facilitator"])
        await facilitator.connect(since=seen_before)
        me = facilitator.welcome["you"]["participant_id"]
        for _ in range(100):
            view = (await api.http.get(f"/api/v1/sessions/{sid}", headers=api.auth(token))).json()
            if me in {o["participant_id"] for o in view["state"]["online"]}:
                break
            await asyncio.sleep(0.05)
        last = (await api.events(sid, token))[-1]["seq"]
        await facilitator.wait_seq(last)
        assert seqs(facilitator.events) == [
            e["seq"] for e in await api.events(sid, s["tokens"]["facilitator"], after=seen_before)
        ]
        await again.close()
        await facilitator.close()
        # After the crash and these goodbyes nobody is left "online" by mistake.
        online: list[Any] = ["?"]
        for _ in range(50):
            view = (await api.http.get(f"/api/v1/sessions/{sid}", headers=api.auth(token))).json()
            online = view["state"]["online"]
            if not online:
                break
            await asyncio.sleep(0.1)
        assert online == []
    finally:
        await api.close()
        srv.stop()


async def test_the_default_start_works_in_an_empty_directory(tmp_path: Path) -> None:
    """What `make run` does: migrate, demo, serve, with the default SQLite file in the cwd."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKCHANNEL_")}
    srv = Server(tmp_path)
    env["BACKCHANNEL_PUBLIC_URL"] = srv.url
    demo = subprocess.run(
        [sys.executable, "-m", "app", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "backchannel.db").exists()
    links: dict[str, Any] = {}
    for line in demo.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].startswith("http"):
            links[parts[0]] = parts[1]
    assert set(links) >= {"producer", "facilitator", "observer"}
    srv.database_url = "sqlite+aiosqlite:///./backchannel.db"
    srv.start()
    api = Api(srv.url)
    try:
        token = links["facilitator"].split("#t=", 1)[1]
        page = await api.http.get(srv.url + "/")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        c = Client(srv.ws_url, token)
        welcome = await c.connect()
        assert welcome["you"]["role"] == "facilitator"
        assert welcome["session"]["agenda"], "the demo has an agenda"
        await c.close()
    finally:
        await api.close()
        srv.stop()
