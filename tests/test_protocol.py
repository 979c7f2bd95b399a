"""WebSocket protocol v1: kinds, visibility, ordering, resume, idempotency, receipts."""

import asyncio
import contextlib
import json
import sqlite3
from typing import Any

from tests.inprocess import InProcessServer
from tests.support import GRACE_S, Api, Client, Server, let_time_pass, seqs

PRODUCER_KINDS: list[tuple[str, dict[str, Any]]] = [
    ("prompt.time", {"text": "5 min left", "minutes_left": 5, "segment": 0}),
    ("flag.learner", {"learner": "Maria", "flag": "quiet", "text": "quiet for 20 min"}),
    ("alert.stop", {"reason": "chat", "text": "question in chat"}),
    ("note", {"text": "designers: exercise 2 runs long", "tags": ["timing"]}),
    ("session.start", {}),
    ("segment.start", {"index": 0}),
    ("segment.extend", {"index": 0, "minutes": 3}),
    ("segment.end", {"index": 0}),
]


async def _connect(server: Server, token: str, clients: list[Client], since: int = 0) -> Client:
    c = Client(server.ws_url, token)
    clients.append(c)
    await c.connect(since=since)
    return c


async def test_welcome_describes_session_participant_and_state(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    c = await _connect(server, session["tokens"]["facilitator"], clients)
    w = c.welcome
    assert w["protocol"] == 1
    assert w["session"]["id"] == session["session"]["id"]
    assert w["session"]["agenda"][1] == {"title": "Practice", "minutes": 20}
    assert w["you"]["role"] == "facilitator"
    assert set(w["state"]) >= {"segment", "open_alerts", "online", "last_seq"}
    assert w["server_time"].endswith("Z")
    assert w["last_seq"] == 0


async def test_each_role_receives_exactly_the_kinds_it_may_see(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    t = session["tokens"]
    producer = await _connect(server, t["producer"], clients)
    facilitator = await _connect(server, t["facilitator"], clients)
    observer = await _connect(server, t["observer"], clients)
    sent = {}
    for kind, body in PRODUCER_KINDS:
        reply = await producer.send(kind, body)
        assert reply["type"] == "sent", reply
        sent[kind] = reply["seq"]
    alert = sent["alert.stop"]
    for kind, body in [
        ("seen", {"ref": alert}),
        ("ack", {"ref": alert, "status": "done", "text": "on it"}),
        ("reply", {"text": "OK", "ref": sent["prompt.time"]}),
        ("request", {"action": "poll", "text": "launch poll 2"}),
    ]:
        reply = await facilitator.send(kind, body)
        assert reply["type"] == "sent", reply
        sent[kind] = reply["seq"]
    # The end last: after it the facilitator may no longer reply or request.
    reply = await producer.send("session.end", {})
    assert reply["type"] == "sent", reply
    sent["session.end"] = reply["seq"]
    note_reply = await observer.send("note", {"text": "observer note"})
    assert note_reply["type"] == "sent"
    last = note_reply["seq"]
    for c in (producer, facilitator, observer):
        await c.wait_seq(last if c is not facilitator else sent["session.end"])
    for c in (producer, facilitator, observer):
        # A connection's frames go out in order: what was wrongly delivered to it before
        # its pong would be here by now.
        await c.send_raw('{"type":"ping","t":"flush"}')
        await c.wait_for(lambda f: f["type"] == "pong" and f["t"] == "flush")

    everything = [e["kind"] for e in producer.events]
    assert [e["kind"] for e in observer.events] == everything
    assert "note" in everything
    assert [e["kind"] for e in facilitator.events] == [k for k in everything if k != "note"]
    for c in (producer, facilitator, observer):
        assert seqs(c.events) == sorted(set(seqs(c.events))), "in order, once each"


async def test_sent_arrives_only_after_the_event_is_committed(
    server: InProcessServer, session: dict[str, Any], clients: list[Client]
) -> None:
    """A ``sent`` frame leaves the server only once its event is durable.

    Each ``sent`` is checked at the moment the app hands it to the socket (the in-process
    socket calls ``on_server_frame`` before the test sees the frame), by a connection of
    its own to the database file, as a crash-recovery reader would read it: no delay
    between the frame and the read can hide a late commit. Seen failing on the mutation
    "the group writer answers and publishes inside its transaction and commits 1 ms later"
    (``AssertionError: one-0: sent as seq 2, not committed yet``).
    """
    producer = await _connect(server, session["tokens"]["producer"], clients)
    db_path = server.database_url.split("///", 1)[1]
    checked: dict[str, tuple[int, Any]] = {}

    def committed_when_sent(frame: str | bytes) -> None:
        reply = json.loads(frame)
        if reply["type"] != "sent":
            return
        with contextlib.closing(sqlite3.connect(db_path)) as conn:
            row = conn.execute(
                "SELECT seq, kind FROM events WHERE session_id = ? AND id = ?",
                (session["session"]["id"], reply["id"]),
            ).fetchone()
        checked[reply["id"]] = (reply["seq"], row)

    producer.ws.on_server_frame = committed_when_sent
    replies = [
        await producer.send("prompt.time", {"text": f"one {i}"}, id=f"one-{i}") for i in range(5)
    ]
    # And sends that share a group commit.
    replies += await asyncio.gather(
        *(producer.send("prompt.time", {"text": f"many {i}"}, id=f"many-{i}") for i in range(10))
    )
    assert {r["id"] for r in replies} == set(checked)
    for event_id, (seq, row) in checked.items():
        assert row == (seq, "prompt.time"), f"{event_id}: sent as seq {seq}, not committed yet"


async def test_a_client_that_reconnects_with_since_gets_every_missed_event_once_in_order(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    t = session["tokens"]
    producer = await _connect(server, t["producer"], clients)
    facilitator = await _connect(server, t["facilitator"], clients)
    stop = asyncio.Event()
    sent_seqs: list[int] = []

    async def keep_sending() -> None:
        i = 0
        while not stop.is_set() and i < 80:
            reply = await producer.send("prompt.time", {"text": f"n{i}"})
            assert reply["type"] == "sent", reply
            sent_seqs.append(reply["seq"])
            i += 1
            await let_time_pass(server, seconds=0.055)  # under the 20/s rate limit

    sender = asyncio.create_task(keep_sending())
    received: list[dict[str, Any]] = []
    for drop in range(4):
        while len(sent_seqs) < 15 * (drop + 1):  # drops while the producer keeps sending
            await asyncio.sleep(0.01)
        await facilitator.abort()  # a dropped Wi-Fi: no close handshake
        received.extend(facilitator.events)
        # Resume from the last event seen on any socket (a drop may come before the new
        # socket heard anything, as client.js keeps its last seq across sockets).
        since = received[-1]["seq"] if received else 0
        facilitator = Client(server.ws_url, t["facilitator"])
        clients.append(facilitator)
        await facilitator.connect(since=since)
    await sender
    stop.set()
    # The last prompt may have reached the socket dropped last, before this one resumed.
    if not received or received[-1]["seq"] < sent_seqs[-1]:
        await facilitator.wait_seq(sent_seqs[-1])
    received.extend(facilitator.events)
    prompts = [e["seq"] for e in received if e["kind"] == "prompt.time"]
    assert prompts == sent_seqs, "every prompt exactly once, in order, across four reconnects"
    all_seqs = seqs(received)
    assert all_seqs == sorted(all_seqs) and len(all_seqs) == len(set(all_seqs))


async def test_resending_an_id_returns_the_same_seq_and_logs_nothing_new(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    t = session["tokens"]
    producer = await _connect(server, t["producer"], clients)
    first = await producer.send("alert.stop", {"reason": "break"}, id="stop-1")
    again = await producer.send("alert.stop", {"reason": "break"}, id="stop-1")
    assert again["type"] == "sent" and again["seq"] == first["seq"]
    # after a reconnect, too
    await producer.close()
    producer = await _connect(server, t["producer"], clients, since=first["seq"])
    third = await producer.send("alert.stop", {"reason": "break"}, id="stop-1")
    assert third["seq"] == first["seq"]
    conflict = await producer.send("alert.stop", {"reason": "chat"}, id="stop-1")
    assert conflict["type"] == "error" and conflict["code"] == "idempotency_conflict"
    logged = await api.events(session["session"]["id"], t["producer"])
    assert [e["id"] for e in logged].count("stop-1") == 1


async def test_ping_answers_pong_with_the_same_token_and_server_time(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    c = await _connect(server, session["tokens"]["observer"], clients)
    await c.send_raw('{"type":"ping","t":{"n":42}}')
    pong = await c.wait_for(lambda f: f["type"] == "pong")
    assert pong["t"] == {"n": 42}
    assert pong["server_time"].endswith("Z")


async def test_presence_is_logged_when_a_participant_comes_and_goes(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    t = session["tokens"]
    producer = await _connect(server, t["producer"], clients)
    facilitator = await _connect(server, t["facilitator"], clients)
    fid = facilitator.welcome["you"]["participant_id"]
    await producer.wait_for(
        lambda f: (
            f["type"] == "event"
            and f["event"]["kind"] == "presence"
            and f["event"]["body"]["participant_id"] == fid
        )
    )
    await facilitator.close()
    await let_time_pass(server, seconds=GRACE_S)  # past the grace (moved, in process)
    offline = await producer.wait_for(
        lambda f: (
            f["type"] == "event"
            and f["event"]["kind"] == "presence"
            and f["event"]["body"] == {"participant_id": fid, "status": "offline"}
        )
    )
    assert offline["event"]["author"]["role"] == "system"
    view = (
        await api.http.get(
            f"/api/v1/sessions/{session['session']['id']}", headers=api.auth(t["producer"])
        )
    ).json()
    assert fid not in [p["participant_id"] for p in view["state"]["online"]]


async def test_every_connection_of_the_sender_sees_its_own_messages(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    t = session["tokens"]
    tab1 = await _connect(server, t["producer"], clients)
    tab2 = await _connect(server, t["producer"], clients)
    reply = await tab1.send("flag.learner", {"learner": "Ahmed", "flag": "hand"})
    await tab2.wait_seq(reply["seq"])
    assert any(e["seq"] == reply["seq"] and e["kind"] == "flag.learner" for e in tab2.events)
