"""Ids that begin auto:, esc:, resurface:, presence: or sys: are the server's own: a client
that sends one (socket, HTTP id, Idempotency-Key, preset send) gets ``invalid_input`` and
nothing is logged, so the scheduler never meets "its" id already taken."""

from typing import Any

import pytest

from tests.storage import snapshot
from tests.support import Api, Client, Server

RESERVED = ["auto:0:5:0", "esc:5:1", "resurface:7", "presence:p_abc:2", "sys:anything"]
# Look-alikes that are not reserved: clients may use them.
ALLOWED = ["automatic-1", "auto-0-5", "escape:1", "Sys:x", "my:auto:1"]


async def test_a_client_cannot_send_a_reserved_id_on_the_socket(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    producer = Client(server.ws_url, session["tokens"]["producer"])
    facilitator = Client(server.ws_url, session["tokens"]["facilitator"])
    clients += [producer, facilitator]
    await producer.connect()
    me = (await facilitator.connect())["you"]["participant_id"]
    await producer.wait_for(
        lambda f: f["type"] == "event" and f["event"]["body"].get("participant_id") == me
    )
    first = await producer.send("alert.stop", {"reason": "problem"})
    before = await snapshot(server.database_url)
    for event_id in RESERVED:
        reply = await producer.send("prompt.time", {"text": "5 min left"}, id=event_id)
        assert reply["type"] == "error" and reply["code"] == "invalid_input", reply
        assert reply["message"]
        reply = await facilitator.send("ack", {"ref": first["seq"], "status": "done"}, id=event_id)
        assert reply["code"] == "invalid_input", reply
    assert await snapshot(server.database_url) == before
    for event_id in ALLOWED:
        assert (await producer.send("note", {"text": event_id}, id=event_id))["type"] == "sent"


@pytest.mark.parametrize("event_id", RESERVED)
async def test_a_client_cannot_post_a_reserved_id_over_http(
    server: Server, api: Api, session: dict[str, Any], event_id: str
) -> None:
    sid = session["session"]["id"]
    h = api.auth(session["tokens"]["producer"])
    url = f"/api/v1/sessions/{sid}/events"
    before = await snapshot(server.database_url)
    r = await api.http.post(
        url, json={"id": event_id, "kind": "note", "body": {"text": "x"}}, headers=h
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    r = await api.http.post(
        url,
        json={"kind": "prompt.time", "body": {"text": "x"}},
        headers={**h, "Idempotency-Key": event_id},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    preset = f"/api/v1/sessions/{sid}/presets/five-min/send"
    r = await api.http.post(preset, headers={**h, "Idempotency-Key": event_id})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    r = await api.http.post(preset, json={"id": event_id}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", r.text
    assert await snapshot(server.database_url) == before


async def test_the_server_still_logs_its_own_reserved_ids(
    timed_server: Server, timed_api: Api
) -> None:
    """Presence and the agenda's time-up prompts keep their derived ids; a client's attempt
    to take the prompt's id first does not stop the prompt."""
    s = await timed_api.create_session(title="Reserved", agenda=[{"title": "Only", "minutes": 6}])
    sid, tok = s["session"]["id"], s["tokens"]["producer"]
    h = timed_api.auth(tok)
    url = f"/api/v1/sessions/{sid}/events"
    for kind, body in (("session.start", {}), ("segment.start", {"index": 0})):
        r = await timed_api.http.post(url, json={"kind": kind, "body": body}, headers=h)
        assert r.status_code == 201
    # The scheduler's id for "5 min left" in this run of segment 0 (app/scheduler.py).
    prompt_id = f"auto:0:{r.json()['seq']}:5"
    squat = await timed_api.http.post(
        url, json={"id": prompt_id, "kind": "prompt.time", "body": {"text": "x"}}, headers=h
    )
    assert squat.status_code == 422
    r = await timed_api.http.post("/api/v1/_test/clock", json={"advance_s": 61})
    assert r.status_code == 200
    c = Client(timed_server.ws_url, tok)
    try:
        await c.connect(since=0)
        prompt = await c.wait_for(lambda f: f["type"] == "event" and f["event"]["id"] == prompt_id)
        assert prompt["event"]["author"]["role"] == "system"
        assert prompt["event"]["kind"] == "prompt.time"
        presence = await c.wait_for(
            lambda f: f["type"] == "event" and f["event"]["kind"] == "presence"
        )
        assert presence["event"]["id"].startswith("presence:")
    finally:
        await c.close()
