"""The JSON export: complete, in seq order, valid against docs/export.schema.json."""

import json
import os
import subprocess
import sys
from typing import Any

import jsonschema

from tests.support import ROOT, Api, Client, Server

SCHEMA = json.loads((ROOT / "docs" / "export.schema.json").read_text())


async def _run_a_small_class(
    server: Server, session: dict[str, Any], clients: list[Client]
) -> None:
    t = session["tokens"]
    p = Client(server.ws_url, t["producer"])
    f = Client(server.ws_url, t["facilitator"])
    o = Client(server.ws_url, t["observer"])
    clients += [p, f, o]
    for c in (p, f, o):
        await c.connect()
    await p.send("session.start")
    await p.send("segment.start", {"index": 0})
    prompt = await p.send("prompt.time", {"text": "5 min left", "minutes_left": 5, "segment": 0})
    await p.send("flag.learner", {"learner": "Maria", "flag": "quiet"})
    alert = await p.send("alert.stop", {"reason": "chat", "text": "<b>question</b> in chat"})
    await f.send("seen", {"ref": alert["seq"]})
    await f.send("ack", {"ref": alert["seq"], "status": "done"})
    await f.send("seen", {"ref": prompt["seq"]})
    await p.send("note", {"text": "exercise ran long", "tags": ["timing"]})
    await o.send("note", {"text": "observer: good energy"})
    await p.send("segment.end", {"index": 0})
    await p.send("session.end")


async def test_the_export_holds_every_event_and_validates_against_the_schema(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    await _run_a_small_class(server, session, clients)
    sid = session["session"]["id"]
    r = await api.http.get(
        f"/api/v1/sessions/{sid}/export", headers=api.auth(session["tokens"]["observer"])
    )
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    export = r.json()
    jsonschema.validate(export, SCHEMA)
    logged = await api.events(sid, session["tokens"]["producer"])
    assert export["events"] == logged
    assert [e["seq"] for e in export["events"]] == list(range(1, len(logged) + 1))
    assert export["session"]["started_at"] and export["session"]["ended_at"]
    assert {p["role"] for p in export["participants"]} == {"producer", "facilitator", "observer"}
    report = (
        await api.http.get(
            f"/api/v1/sessions/{sid}/report", headers=api.auth(session["tokens"]["producer"])
        )
    ).json()
    assert export["report"] == report, "the export's report is exactly the endpoint's"
    assert report["counts"]["note"] == 2
    assert report["learners"] == {"Ahmed": {}, "Li": {}, "Maria": {"quiet": 1}}
    alert = next(m for m in report["messages"] if m["kind"] == "alert.stop")
    assert alert["ack_status"] == "done" and alert["ack_after_s"] >= alert["seen_after_s"] >= 0
    assert "<b>question</b> in chat" in json.dumps(export), "text is kept as sent"


async def test_a_facilitator_report_leaves_out_the_notes(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    await _run_a_small_class(server, session, clients)
    sid = session["session"]["id"]
    report = (
        await api.http.get(
            f"/api/v1/sessions/{sid}/report", headers=api.auth(session["tokens"]["facilitator"])
        )
    ).json()
    assert report["notes"] == [] and "note" not in report["counts"]


async def test_the_cli_prints_the_same_export(
    server: Server, api: Api, session: dict[str, Any], clients: list[Client]
) -> None:
    await _run_a_small_class(server, session, clients)
    sid = session["session"]["id"]
    env = {**os.environ, "BACKCHANNEL_DATABASE_URL": server.database_url}
    out = subprocess.run(
        [sys.executable, "-m", "app", "export", sid],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    export = json.loads(out.stdout)
    jsonschema.validate(export, SCHEMA)
    assert export["events"] == await api.events(sid, session["tokens"]["producer"])
    missing = subprocess.run(
        [sys.executable, "-m", "app", "export", "nosuchsession"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1 and "no session" in missing.stderr
