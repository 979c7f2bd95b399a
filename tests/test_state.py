"""The session's state on the wire: ``welcome.state``, ``state`` frames and ``GET /session``
agree with each other, with a full replay of the log, and after a restart."""

import asyncio
from typing import Any

from app.models.kinds import visible_to
from tests.inprocess import InProcessServer
from tests.support import GRACE_S, Api, Client, Server, let_time_pass
from tests.vectors.build_state_vectors import model_for

AGENDA = [{"title": "Welcome", "minutes": 10}, {"title": "Practice", "minutes": 20}]


def states(client: Client) -> list[dict[str, Any]]:
    return [f for f in client.frames if f["type"] == "state"]


async def _watch(server: Server, token: str, clients: list[Client]) -> Client:
    client = Client(server.ws_url, token)
    clients.append(client)
    await client.connect()
    return client


async def test_a_state_frame_follows_each_event_that_changes_the_state_and_no_other(
    server: Server, api: Api, clients: list[Client]
) -> None:
    s = await api.create_session(title="Frames", agenda=AGENDA, roster=["Ana"])
    producer = await _watch(server, s["tokens"]["producer"], clients)
    facilitator = await _watch(server, s["tokens"]["facilitator"], clients)
    await producer.wait_for(
        lambda f: (
            f["type"] == "state" and any(p["role"] == "facilitator" for p in f["state"]["online"])
        )
    )
    changes = [
        ("session.start", {}),
        ("segment.start", {"index": 0}),
        ("alert.stop", {"reason": "chat", "text": "Li asks"}),
        ("segment.extend", {"index": 0, "minutes": 5}),
    ]
    no_change = [("prompt.time", {"text": "5 min"}), ("message", {"text": "hi"})]
    sent = {}
    for kind, body in changes + no_change:
        reply = await producer.send(kind, body)
        assert reply["type"] == "sent", reply
        sent[kind] = reply["seq"]
    await facilitator.wait_seq(sent["message"])
    frames = facilitator.frames
    for kind, seq in sent.items():
        at = next(i for i, f in enumerate(frames) if f.get("event", {}).get("seq") == seq)
        after = frames[at + 1] if at + 1 < len(frames) else {}
        if kind in dict(changes):
            assert after.get("type") == "state" and after["seq"] == seq, (kind, after)
        else:
            assert after.get("type") != "state" or after["seq"] != seq, kind
    last = states(facilitator)[-1]["state"]
    assert last["status"] == "live"
    assert (last["segment"]["index"], last["segment"]["extended_minutes"]) == (0, 5)
    assert [a["text"] for a in last["open_alerts"]] == ["Li asks"]
    assert last["next_segment"] == {"index": 1, "title": "Practice", "planned_minutes": 20}
    view = await api.http.get(
        f"/api/v1/sessions/{s['session']['id']}", headers=api.auth(s["tokens"]["observer"])
    )
    assert view.json()["state"] == last


async def test_a_settings_change_sends_the_new_state_to_open_sockets(
    server: Server, api: Api, clients: list[Client]
) -> None:
    s = await api.create_session(title="Settings", agenda=AGENDA)
    facilitator = await _watch(server, s["tokens"]["facilitator"], clients)
    r = await api.http.patch(
        f"/api/v1/sessions/{s['session']['id']}",
        json={"settings": {"auto_prompts": [2], "escalate_after_s": 30}},
        headers=api.auth(s["tokens"]["producer"]),
    )
    assert r.status_code == 200, r.text
    frame = await facilitator.wait_for(
        lambda f: f["type"] == "state" and f["state"]["settings"]["escalate_after_s"] == 30
    )
    assert frame["state"]["settings"]["auto_prompts"] == [2]
    assert r.json()["state"] == frame["state"]


async def test_the_state_built_live_equals_a_full_replay_and_the_state_after_a_restart(
    server: InProcessServer, api: Api, clients: list[Client]
) -> None:
    s = await api.create_session(title="Replay", agenda=AGENDA, roster=["Ana", "Bo"])
    sid = s["session"]["id"]
    producer = await _watch(server, s["tokens"]["producer"], clients)
    facilitator = await _watch(server, s["tokens"]["facilitator"], clients)
    watcher = await _watch(server, s["tokens"]["observer"], clients)

    async def p(kind: str, body: dict[str, Any] | None = None) -> int:
        reply = await producer.send(kind, body)
        assert reply["type"] == "sent", reply
        return int(reply["seq"])

    async def f(kind: str, body: dict[str, Any]) -> int:
        reply = await facilitator.send(kind, body)
        assert reply["type"] == "sent", reply
        return int(reply["seq"])

    await p("session.start")
    await p("segment.start", {"index": 0})
    await p("prompt.time", {"text": "Slow down"})
    await p("message", {"text": "Ahmed leaves early", "urgent": True})
    flag = await p("flag.learner", {"learner": "Ana", "flag": "quiet"})
    await p("note", {"text": "intro long"})
    stop = await p("alert.stop", {"reason": "chat", "text": "Question"})
    await f("seen", {"ref": stop})
    await f("ack", {"ref": stop, "status": "snoozed", "minutes": 5})
    request = await f("request", {"action": "poll"})
    await p("request.status", {"ref": request, "status": "on_it"})
    await f("reply", {"text": "ok", "ref": flag})
    await p("segment.extend", {"index": 0, "minutes": 5})
    await p("segment.extend", {"index": 0, "minutes": 1})
    second = await p("alert.stop", {"reason": "break"})
    await f("ack", {"ref": second, "status": "declined"})
    cancelled = await p("alert.stop", {"reason": "problem"})
    await p("alert.cancel", {"ref": cancelled})
    await p("segment.end", {"index": 0})
    last = await p("segment.start", {"index": 1})
    await watcher.wait_for(lambda fr: fr["type"] == "state" and fr["seq"] == last)
    live = states(watcher)[-1]

    export = (
        await api.http.get(
            f"/api/v1/sessions/{sid}/export", headers=api.auth(s["tokens"]["producer"])
        )
    ).json()
    vector = {
        "session": {
            "title": "Replay",
            "agenda": AGENDA,
            "roster": ["Ana", "Bo"],
            "settings": s["session"]["settings"],
        },
        "participants": export["participants"],
        "events": [e for e in export["events"] if e["seq"] <= live["seq"]],
    }
    assert model_for(vector).state_public() == live["state"], "a full replay folds the same state"

    # The facilitator's own stream skips notes but its state frames are the same.
    mine = [fr for fr in states(facilitator) if fr["seq"] == live["seq"]]
    assert mine and mine[-1]["state"] == live["state"]
    assert all(visible_to("facilitator", e["kind"]) for e in facilitator.events)

    for c in clients:
        await c.close()
    await let_time_pass(server, seconds=GRACE_S)  # past the grace: offline is logged
    # Everyone left: the log now also says so. A restarted server folds it from scratch.
    await watcher_gone(api, sid, s["tokens"]["producer"])
    await server.stop()
    await server.start()
    after = (
        await api.http.get(f"/api/v1/sessions/{sid}", headers=api.auth(s["tokens"]["producer"]))
    ).json()["state"]
    everything = (
        await api.http.get(
            f"/api/v1/sessions/{sid}/export", headers=api.auth(s["tokens"]["producer"])
        )
    ).json()
    assert after == model_for({**vector, "events": everything["events"]}).state_public()
    assert after["online"] == [] and after["segment"]["index"] == 1
    assert after["segments"][0]["extended_minutes"] == 6


async def watcher_gone(api: Api, sid: str, token: str) -> None:
    """Wait (bounded) until the log says nobody is online."""
    for _ in range(240):  # 12 s, bounded: the grace is over, offline follows at once
        view = (await api.http.get(f"/api/v1/sessions/{sid}", headers=api.auth(token))).json()
        if not view["state"]["online"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("presence did not go offline")
