"""The overlay's "Clear all" logs an ``ack`` with status ``dismissed`` (DESIGN.md, Additions
v1.3): it closes a card everywhere but is not an answer. The report counts it apart, and a stop
alert cannot be dismissed — on SQLite and PostgreSQL alike, over HTTP and over the socket."""

import json
from typing import Any

import jsonschema

from tests.inprocess import InProcessServer
from tests.support import ROOT, Api, Client

SCHEMA = json.loads((ROOT / "docs" / "export.schema.json").read_text())


class Class:
    def __init__(self, api: Api, created: dict[str, Any]) -> None:
        self.api = api
        self.sid = created["session"]["id"]
        self.tokens = created["tokens"]

    async def post(self, role: str, kind: str, body: dict[str, Any]) -> Any:
        return await self.api.http.post(
            f"/api/v1/sessions/{self.sid}/events",
            json={"kind": kind, "body": body},
            headers=self.api.auth(self.tokens[role]),
        )

    async def send(self, role: str, kind: str, body: dict[str, Any] | None = None) -> int:
        r = await self.post(role, kind, body or {})
        assert r.status_code == 201, r.text
        seq: int = r.json()["seq"]
        return seq

    async def get(self, what: str) -> dict[str, Any]:
        url = f"/api/v1/sessions/{self.sid}" + (f"/{what}" if what else "")
        r = await self.api.http.get(url, headers=self.api.auth(self.tokens["producer"]))
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()
        return data


async def _acks(api: Api, c: Class) -> list[dict[str, Any]]:
    return [e for e in await api.events(c.sid, c.tokens["producer"]) if e["kind"] == "ack"]


async def _live(api: Api) -> Class:
    created = await api.create_session(
        title="Clear all", agenda=[{"title": "Talk", "minutes": 30}], roster=["Ana"]
    )
    c = Class(api, created)
    await c.send("producer", "session.start")
    await c.send("producer", "segment.start", {"index": 0})
    return c


async def test_clear_all_is_counted_as_dismissed_never_as_an_answer(db_api: Api) -> None:
    c = await _live(db_api)
    prompt = await c.send("producer", "prompt.time", {"text": "5 min left", "minutes_left": 5})
    flag = await c.send("producer", "flag.learner", {"learner": "Ana", "flag": "hand"})
    message = await c.send("producer", "message", {"text": "Poll is ready"})
    answered = await c.send("producer", "message", {"text": "Slides frozen?"})
    await c.send("facilitator", "ack", {"ref": answered, "status": "done"})
    for ref in (prompt, flag, message, answered):
        await c.send("facilitator", "ack", {"ref": ref, "status": "dismissed"})
    # A newer prompt does not make the dismissed one "superseded": dismissed comes first.
    await c.send("producer", "prompt.time", {"text": "1 min left", "minutes_left": 1})

    report = await c.get("report")
    rows = {m["seq"]: m for m in report["messages"]}
    for seq in (prompt, flag, message):
        row = rows[seq]
        assert row["dismissed"] is True, row
        assert row["ack_status"] == "dismissed"
        assert row["ack_after_s"] is None and row["first_answer_after_s"] is None, row
        assert row["superseded"] is False
    # An answer given before the clear stays the answer.
    assert rows[answered]["dismissed"] is False
    assert rows[answered]["ack_status"] == "done"
    assert rows[answered]["ack_after_s"] is not None
    latency = report["latency"]
    assert latency["prompt.time"]["dismissed"] == 1
    assert latency["prompt.time"]["unacknowledged"] == 1  # the newer prompt, still open
    assert latency["prompt.time"]["superseded"] == 0
    assert latency["prompt.time"]["ack_p50_s"] is None
    assert latency["flag.learner"] == {**latency["flag.learner"], "dismissed": 1}
    assert latency["flag.learner"]["unacknowledged"] == 0
    assert latency["message"]["dismissed"] == 1 and latency["message"]["unacknowledged"] == 0
    assert latency["message"]["ack_max_s"] == rows[answered]["ack_after_s"]

    status = await c.get(f"events/{flag}/status")
    assert status["ack"]["status"] == "dismissed"
    await c.send("producer", "session.end")
    export = await c.get("export")
    jsonschema.validate(export, SCHEMA)
    assert export["report"]["latency"] == (await c.get("report"))["latency"]


async def test_a_stop_alert_cannot_be_dismissed_over_http_or_the_socket(
    db_server: InProcessServer, db_api: Api, clients: list[Client]
) -> None:
    c = await _live(db_api)
    alert = await c.send("producer", "alert.stop", {"reason": "chat"})
    before = await _acks(db_api, c)

    r = await c.post("facilitator", "ack", {"ref": alert, "status": "dismissed"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_body"
    assert "stop alert" in r.json()["error"]["message"]

    fac = Client(db_server.ws_url, c.tokens["facilitator"])
    clients.append(fac)
    await fac.connect()
    frame = await fac.send("ack", {"ref": alert, "status": "dismissed"})
    assert frame["type"] == "error" and frame["code"] == "invalid_body", frame

    assert await _acks(db_api, c) == before == []
    view = await c.get("")
    assert [a["seq"] for a in view["state"]["open_alerts"]] == [alert]
    # A real answer still closes it.
    await c.send("facilitator", "ack", {"ref": alert, "status": "done"})
    view = await c.get("")
    assert view["state"]["open_alerts"] == []
