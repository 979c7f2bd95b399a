"""After session.end the live line is closed; links expire; `backchannel purge` erases."""

import asyncio
import json
import subprocess
import sys
from typing import Any

import websockets

from tests.support import Api, Client, Server, ws_connect

DAY_S = 86_400


def base(s: dict[str, Any]) -> str:
    return f"/api/v1/sessions/{s['session']['id']}"


async def post(api: Api, s: dict[str, Any], role: str, kind: str, body: Any = None) -> Any:
    return await api.http.post(
        f"{base(s)}/events",
        json={"kind": kind, "body": body or {}},
        headers=api.auth(s["tokens"][role]),
    )


async def advance(api: Api, seconds: float) -> None:
    r = await api.http.post("/api/v1/_test/clock", json={"advance_s": seconds})
    assert r.status_code == 200, r.text


async def end(api: Api, s: dict[str, Any]) -> int:
    assert (await post(api, s, "producer", "session.start")).status_code == 201
    r = await post(api, s, "producer", "session.end")
    assert r.status_code == 201, r.text
    seq: int = r.json()["seq"]
    return seq


async def hello_close(server: Server, token: str) -> tuple[int, str]:
    """Send hello with ``token`` and return the close code and reason the server answers."""
    async with ws_connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "since": 0}))
        try:
            frame = await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as exc:
            assert exc.rcvd is not None
            return exc.rcvd.code, exc.rcvd.reason
    raise AssertionError(f"the server answered {frame!r} instead of closing")


async def test_after_the_end_only_notes_seen_and_acks_are_accepted(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    alert = await post(api, session, "producer", "alert.stop", {"reason": "chat"})
    end_seq = await end(api, session)
    before = await api.events(session["session"]["id"], session["tokens"]["producer"])

    for role, kind, body in [
        ("producer", "prompt.time", {"text": "5 min left"}),
        ("producer", "flag.learner", {"learner": "Maria", "flag": "quiet"}),
        ("producer", "alert.stop", {"reason": "problem"}),
        ("producer", "segment.start", {"index": 0}),
        ("producer", "session.start", {}),
        ("producer", "session.end", {}),
        ("facilitator", "reply", {"text": "OK"}),
        ("facilitator", "request", {"action": "break"}),
    ]:
        r = await post(api, session, role, kind, body)
        assert r.status_code == 409, (kind, r.text)
        assert r.json()["error"]["code"] == "session_ended"
    assert await api.events(session["session"]["id"], session["tokens"]["producer"]) == before

    # The socket gets an error frame and stays open; the debrief may still add notes/answers.
    producer = Client(server.ws_url, session["tokens"]["producer"])
    facilitator = Client(server.ws_url, session["tokens"]["facilitator"])
    clients += [producer, facilitator]
    await producer.connect()
    await facilitator.connect()
    refused = await producer.send("prompt.time", {"text": "wrap up"})
    assert refused["type"] == "error" and refused["code"] == "session_ended", refused
    assert (await producer.send("note", {"text": "debrief: ran long"}))["type"] == "sent"
    alert_seq = alert.json()["seq"]
    assert (await facilitator.send("seen", {"ref": alert_seq}))["type"] == "sent"
    ack = await facilitator.send("ack", {"ref": alert_seq, "status": "done"})
    assert ack["type"] == "sent"
    observer_note = await post(api, session, "observer", "note", {"text": "good pacing"})
    assert observer_note.status_code == 201
    assert producer.close_code is None and facilitator.close_code is None
    # A retry of the end itself (same id) is still the original event, not an error.
    events = await api.events(session["session"]["id"], session["tokens"]["producer"])
    end_event = next(e for e in events if e["seq"] == end_seq)
    retry = await api.http.post(
        f"{base(session)}/events",
        json={"id": end_event["id"], "kind": "session.end", "body": {}},
        headers=api.auth(session["tokens"]["producer"]),
    )
    assert retry.status_code == 200 and retry.json()["seq"] == end_seq, retry.text


async def test_the_scheduler_writes_nothing_after_the_end(timed_api: Api) -> None:
    s = await timed_api.create_session(agenda=[{"title": "Only", "minutes": 10}])
    assert (await post(timed_api, s, "producer", "session.start")).status_code == 201
    assert (await post(timed_api, s, "producer", "segment.start", {"index": 0})).status_code == 201
    assert (
        await post(timed_api, s, "producer", "alert.stop", {"reason": "chat"})
    ).status_code == 201
    assert (await post(timed_api, s, "producer", "session.end")).status_code == 201
    before = await timed_api.events(s["session"]["id"], s["tokens"]["producer"])
    for _ in range(4):
        await advance(timed_api, 5 * 60)
    after = await timed_api.events(s["session"]["id"], s["tokens"]["producer"])
    assert after == before


async def test_links_expire_link_ttl_days_after_the_end(
    timed_server: Server, timed_api: Api
) -> None:
    ended = await timed_api.create_session(title="Ended")
    live = await timed_api.create_session(title="Still planned")
    await end(timed_api, ended)
    await advance(timed_api, 29 * DAY_S)
    # Read-only for the debrief until then.
    r = await timed_api.http.get(
        base(ended), headers=timed_api.auth(ended["tokens"]["facilitator"])
    )
    assert r.status_code == 200
    await advance(timed_api, 2 * DAY_S)
    for role in ("producer", "facilitator", "observer"):
        r = await timed_api.http.get(
            f"{base(ended)}/report", headers=timed_api.auth(ended["tokens"][role])
        )
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "link_expired"
    assert await hello_close(timed_server, ended["tokens"]["facilitator"]) == (4401, "link_expired")
    # A session that never ended keeps its links.
    r = await timed_api.http.get(base(live), headers=timed_api.auth(live["tokens"]["producer"]))
    assert r.status_code == 200


async def test_purge_erases_sessions_that_ended_before_the_given_days(
    server: Server, api: Api
) -> None:
    old = await api.create_session(title="Ended")
    running = await api.create_session(title="Running")
    await end(api, old)
    assert (await post(api, running, "producer", "session.start")).status_code == 201

    def purge(days: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "app", "purge", "--ended-before", days],
            env=server.env(),
            cwd=server.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "0 session(s) erased" in purge("1")
    assert await api.events(old["session"]["id"], old["tokens"]["producer"])
    out = purge("0")
    assert f"erased {old['session']['id']}" in out and "1 session(s) erased" in out
    r = await api.http.get(base(old), headers=api.auth(old["tokens"]["producer"]))
    assert r.status_code == 401
    r = await api.http.get(base(running), headers=api.auth(running["tokens"]["producer"]))
    assert r.status_code == 200
    bad = subprocess.run(
        [sys.executable, "-m", "app", "purge", "--ended-before", "-3"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
