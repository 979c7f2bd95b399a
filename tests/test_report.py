"""The debrief report, checked against a scripted 3-segment session with known timings.

The script moves the server's clock (test hook) between steps, so every figure is known
in advance; real time between steps adds a few milliseconds, hence the tolerances.
"""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.clock import parse_iso
from app.config import Settings
from tests.support import GRACE_S, Api, Client, Server

AGENDA = [
    {"title": "Welcome", "minutes": 10},
    {"title": "Practice", "minutes": 20},
    {"title": "Close", "minutes": 5},
]
SECONDS = pytest.approx  # for readability below


class Script:
    """Drives one session along a timeline of seconds since its start."""

    def __init__(self, api: Api, server: Server, session: dict[str, Any]) -> None:
        self.api = api
        self.server = server
        self.s = session
        self.sid = session["session"]["id"]
        self.origin_ms: int | None = None
        self.last_at = 0  # server time of the last event sent

    async def clock(self, advance_s: float = 0) -> int:
        """Move the server's clock; returns the server's time (ms) after the move."""
        r = await self.api.http.post("/api/v1/_test/clock", json={"advance_s": advance_s})
        assert r.status_code == 200, r.text
        return parse_iso(r.json()["now"])

    async def until(self, ms: int) -> None:
        """Move the server's clock to ``ms`` (server time), if it is not there yet."""
        behind = ms - await self.clock()
        if behind > 0:
            await self.clock(behind / 1000)

    async def at(self, t: float) -> None:
        """Move the server's clock to ``t`` seconds after the script's origin.

        Measured against the server's own clock each time, so the real time the steps take
        does not pile up.
        """
        if self.origin_ms is None:
            self.origin_ms = await self.clock()
        await self.until(self.origin_ms + int(t * 1000))

    async def after(self, ref_ms: int, seconds: float) -> None:
        """Move to ``seconds`` after an event's own timestamp (when a timer is due)."""
        await self.until(ref_ms + int(seconds * 1000))

    async def send(self, role: str, kind: str, body: Any = None) -> int:
        r = await self.api.http.post(
            f"/api/v1/sessions/{self.sid}/events",
            json={"kind": kind, "body": body or {}},
            headers=self.api.auth(self.s["tokens"][role]),
        )
        assert r.status_code == 201, r.text
        self.last_at = parse_iso(r.json()["at"])
        return int(r.json()["seq"])

    async def events(self) -> list[dict[str, Any]]:
        return await self.api.events(self.sid, self.s["tokens"]["observer"])

    async def wait_presence(self, status: str, count: int) -> None:
        for _ in range(200):
            got = [
                e
                for e in await self.events()
                if e["kind"] == "presence" and e["body"]["status"] == status
            ]
            if len(got) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {count} presence {status} events")

    async def get(self, path: str, role: str = "producer") -> Any:
        r = await self.api.http.get(
            f"/api/v1/sessions/{self.sid}{path}", headers=self.api.auth(self.s["tokens"][role])
        )
        assert r.status_code == 200, r.text
        return r.json()


@pytest.fixture
async def scripted(timed_server: Server) -> AsyncIterator[tuple[Script, dict[str, int]]]:
    """The scripted class; yields the script and the seqs of its messages."""
    api = Api(timed_server.url)
    s = await api.create_session(title="Scripted", agenda=AGENDA, roster=["Maria", "Ahmed"])
    script = Script(api, timed_server, s)
    facilitator = Client(timed_server.ws_url, s["tokens"]["facilitator"])
    seq: dict[str, int] = {}
    try:
        await facilitator.connect()
        await script.wait_presence("online", 1)
        await script.at(0)
        await script.send("producer", "session.start")
        await script.send("producer", "segment.start", {"index": 0})
        seg0 = script.last_at
        await script.at(30)
        seq["slow"] = await script.send("producer", "prompt.time", {"text": "Slow down"})
        await script.at(40)
        await script.send("facilitator", "seen", {"ref": seq["slow"]})
        await script.at(45)
        await script.send("facilitator", "ack", {"ref": seq["slow"], "status": "done"})
        await script.at(60)
        seq["maria"] = await script.send(
            "producer", "flag.learner", {"learner": "Maria", "flag": "quiet"}
        )
        await script.send("observer", "note", {"text": "Intro ran long", "tags": ["timing"]})
        await script.at(75)
        await script.send("facilitator", "seen", {"ref": seq["maria"]})
        await script.after(seg0, 300)  # "5 min left in Welcome"
        await script.at(305)
        auto = [e for e in await script.events() if e["id"].startswith("auto:0:")]
        assert len(auto) == 1
        seq["auto5"] = auto[0]["seq"]
        await script.send("facilitator", "seen", {"ref": seq["auto5"]})
        await script.at(320)
        await script.send("facilitator", "ack", {"ref": seq["auto5"], "status": "done"})
        await script.after(seg0, 540)  # 1 min left
        await script.after(seg0, 600)  # time is up
        await script.at(660)
        await script.send("producer", "segment.end", {"index": 0})
        await script.send("producer", "segment.start", {"index": 1})
        seg1 = script.last_at
        await script.at(720)
        seq["stop1"] = await script.send("producer", "alert.stop", {"reason": "chat"})
        stop1 = script.last_at
        await script.at(725)
        await script.send("facilitator", "seen", {"ref": seq["stop1"]})
        await script.after(stop1, 20)  # escalated to level 1
        await script.at(750)
        await script.send("facilitator", "ack", {"ref": seq["stop1"], "status": "done"})
        await script.at(780)
        await facilitator.close()  # the facilitator's Wi-Fi goes for two minutes
        await script.clock(GRACE_S)  # the presence grace, moved rather than waited for
        await script.wait_presence("offline", 1)
        await script.at(900)
        facilitator = Client(timed_server.ws_url, s["tokens"]["facilitator"])
        await facilitator.connect()
        await script.wait_presence("online", 2)
        await script.send("producer", "segment.extend", {"index": 1, "minutes": 5})
        await script.after(seg1, 1200)  # "5 min left in Practice" (of 25)
        await script.at(1980)  # 22 of 25 minutes
        await script.send("producer", "segment.end", {"index": 1})
        await script.send("producer", "segment.start", {"index": 2})
        seg2 = script.last_at
        await script.at(2000)
        seq["stop2"] = await script.send("producer", "alert.stop", {"reason": "break"})
        await script.at(2010)
        await script.send("producer", "alert.cancel", {"ref": seq["stop2"]})
        await script.at(2040)
        seq["stop3"] = await script.send("producer", "alert.stop", {"reason": "problem"})
        stop3 = script.last_at
        for n in range(1, 6):  # stop3 escalates every 20 s up to level 5
            await script.after(stop3, 20 * n)
        await script.after(seg2, 240)  # 1 min left in Close
        await script.after(seg2, 300)  # time is up
        await script.at(2340)
        await script.send("producer", "session.end")
        await facilitator.close()  # after the end: not an offline period
        await script.clock(GRACE_S)
        await script.wait_presence("offline", 2)
        yield script, seq
    finally:
        await facilitator.close()
        await api.close()


def by_seq(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {m["seq"]: m for m in report["messages"]}


async def test_segments_show_planned_extended_actual_and_overrun(
    scripted: tuple[Script, dict[str, int]],
) -> None:
    script, _ = scripted
    report = await script.get("/report")
    got = [
        (s["title"], s["planned_minutes"], s["extended_minutes"], s["actual_minutes"])
        for s in report["segments"]
    ]
    assert got == [
        ("Welcome", 10, 0, SECONDS(11, abs=0.02)),
        ("Practice", 20, 5, SECONDS(22, abs=0.02)),
        ("Close", 5, 0, SECONDS(6, abs=0.02)),
    ]
    # Overrun is actual - planned as in the agenda: Practice ran 22 of 20 planned minutes
    # (+2), although the producer had granted 5 more on the way (extended_minutes).
    overruns = [s["overrun_minutes"] for s in report["segments"]]
    assert overruns == [SECONDS(1, abs=0.02), SECONDS(2, abs=0.02), SECONDS(1, abs=0.02)]


async def test_automatic_prompts_and_escalations_happened_exactly_as_scripted(
    scripted: tuple[Script, dict[str, int]],
) -> None:
    script, seq = scripted
    system = [e for e in await script.events() if e["author"]["role"] == "system"]
    events = await script.events()
    starts = {
        e["body"]["index"]: parse_iso(e["at"]) for e in events if e["kind"] == "segment.start"
    }
    prompts = [
        (e["body"]["text"], (parse_iso(e["at"]) - starts[e["body"]["segment"]]) / 1000)
        for e in system
        if e["kind"] == "prompt.time"
    ]
    assert prompts == [  # seconds after the start of their segment
        ("5 min left in Welcome", SECONDS(300, abs=1.0)),
        ("1 min left in Welcome", SECONDS(540, abs=1.0)),
        ("Time is up for Welcome", SECONDS(600, abs=1.0)),
        ("5 min left in Practice", SECONDS(1200, abs=1.0)),
        ("1 min left in Close", SECONDS(240, abs=1.0)),
        ("Time is up for Close", SECONDS(300, abs=1.0)),
    ]
    alerts = {e["seq"]: parse_iso(e["at"]) for e in events if e["kind"] == "alert.stop"}
    escalated = [
        (parse_iso(e["at"]) - alerts[e["body"]["ref"]]) / 1000
        for e in system
        if e["kind"] == "alert.escalated"
    ]
    assert escalated == [SECONDS(20 * n, abs=1.0) for n in (1, 1, 2, 3, 4, 5)]
    levels = [
        (e["body"]["ref"], e["body"]["level"]) for e in system if e["kind"] == "alert.escalated"
    ]
    assert levels == [(seq["stop1"], 1)] + [(seq["stop3"], n) for n in range(1, 6)]


async def test_messages_show_time_to_seen_and_ack(scripted: tuple[Script, dict[str, int]]) -> None:
    script, seq = scripted
    m = by_seq(await script.get("/report"))
    approx = SECONDS
    assert m[seq["slow"]]["seen_after_s"] == approx(10, abs=1.0)
    assert m[seq["slow"]]["ack_after_s"] == approx(15, abs=1.0)
    assert m[seq["slow"]]["ack_status"] == "done"
    assert m[seq["maria"]]["seen_after_s"] == approx(15, abs=1.0)
    assert m[seq["maria"]]["ack_after_s"] is None
    assert m[seq["auto5"]]["seen_after_s"] == approx(5, abs=1.0)
    assert m[seq["auto5"]]["ack_after_s"] == approx(20, abs=1.0)
    assert m[seq["stop1"]]["seen_after_s"] == approx(5, abs=1.0)
    assert m[seq["stop1"]]["ack_after_s"] == approx(30, abs=1.0)
    assert m[seq["stop1"]]["escalation_level"] == 1
    assert m[seq["stop2"]]["cancelled"] is True
    assert m[seq["stop3"]]["escalation_level"] == 5
    assert m[seq["stop3"]]["ack_status"] is None


async def test_latency_per_kind_has_median_max_and_unacknowledged(
    scripted: tuple[Script, dict[str, int]],
) -> None:
    script, _ = scripted
    latency = (await script.get("/report"))["latency"]
    prompts = latency["prompt.time"]
    assert prompts["count"] == 7
    assert prompts["seen_p50_s"] == SECONDS(7.5, abs=1.0)  # median of 10 and 5
    assert prompts["seen_max_s"] == SECONDS(10, abs=1.0)
    assert prompts["ack_p50_s"] == SECONDS(17.5, abs=1.0)  # median of 15 and 20
    assert prompts["ack_max_s"] == SECONDS(20, abs=1.0)
    # Of the five unanswered timing prompts, four were replaced while waiting (1 min left by
    # "Time is up", that one and "5 min left in Practice" by a segment's end, "1 min left in
    # Close" by "Time is up"): superseded, not ignored. "Time is up for Close" was the last.
    assert (prompts["unacknowledged"], prompts["superseded"]) == (1, 4)
    flags = latency["flag.learner"]
    assert (flags["count"], flags["ack_p50_s"], flags["unacknowledged"]) == (1, None, 1)
    alerts = latency["alert.stop"]
    assert alerts["count"] == 3
    assert alerts["ack_max_s"] == SECONDS(30, abs=1.0)
    assert alerts["unacknowledged"] == 1  # stop2 was cancelled, stop3 never answered


async def test_counts_learners_offline_and_notes(scripted: tuple[Script, dict[str, int]]) -> None:
    script, _ = scripted
    report = await script.get("/report")
    events = await script.events()
    assert report["counts"] == dict(Counter(e["kind"] for e in events))
    assert report["learners"] == {"Ahmed": {}, "Maria": {"quiet": 1}}  # every roster name
    offline = report["offline"]
    # Gone 120 s; `offline` is logged once the 5 s presence grace is over (a reconnect within
    # it logs nothing), so the period the log shows starts 5 s after the socket closed.
    grace = Settings.model_fields["presence_grace_s"].default
    assert [(o["role"], o["seconds"]) for o in offline] == [
        ("facilitator", SECONDS(120 - grace, abs=2))
    ]
    notes = report["notes"]
    assert [(n["segment"], n["segment_title"], n["text"]) for n in notes] == [
        (0, "Welcome", "Intro ran long")
    ]


async def test_the_export_report_is_the_endpoints_and_stable(
    scripted: tuple[Script, dict[str, int]],
) -> None:
    script, _ = scripted
    first = await script.get("/report")
    export = await script.get("/export")
    assert export["report"] == first
    await script.clock(3600)  # later reads of an ended session do not drift
    assert await script.get("/report") == first
    facilitator = await script.get("/report", role="facilitator")
    assert facilitator["notes"] == []
    assert "note" not in facilitator["counts"]
    assert facilitator["segments"] == first["segments"]


async def test_a_timing_prompt_replaced_while_waiting_is_superseded_not_never_answered(
    api: Api, session: dict[str, Any]
) -> None:
    """ "5 min left" then "1 min left": the first was replaced, not ignored. Stop alerts,
    messages and flags that need an answer still count, and the session's end replaces nothing.
    """
    sid, token = session["session"]["id"], session["tokens"]["producer"]

    async def send(kind: str, body: dict[str, Any], role: str = "producer") -> int:
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/events",
            json={"kind": kind, "body": body},
            headers=api.auth(session["tokens"][role]),
        )
        assert r.status_code == 201, r.text
        return int(r.json()["seq"])

    await send("session.start", {})
    await send("segment.start", {"index": 0})
    five = await send("prompt.time", {"text": "5 min left", "minutes_left": 5})
    snoozed = await send("prompt.time", {"text": "Slow down a little"})
    await send("ack", {"ref": snoozed, "status": "snoozed", "minutes": 1}, "facilitator")
    one = await send("prompt.time", {"text": "1 min left", "minutes_left": 1})
    answered = await send("prompt.time", {"text": "Time is up"})
    await send("ack", {"ref": answered, "status": "done"}, "facilitator")
    stop = await send("alert.stop", {"reason": "chat"})
    message = await send("message", {"text": "Ahmed has to leave at 10:40"})
    flag = await send("flag.learner", {"learner": "Maria", "flag": "hand"})
    await send("segment.start", {"index": 1})  # retires the waiting prompts of segment 1
    later = await send("prompt.time", {"text": "Pick up the pace"})
    last = await send("prompt.time", {"text": "2 min left", "minutes_left": 2})
    await send("alert.stop", {"reason": "break"})  # a second alert, never answered
    await send("session.end", {})

    r = await api.http.get(f"/api/v1/sessions/{sid}/report", headers=api.auth(token))
    assert r.status_code == 200, r.text
    report = r.json()
    rows = by_seq(report)
    superseded = sorted(seq for seq, m in rows.items() if m["superseded"])
    assert superseded == [five, snoozed, one, later]
    assert rows[answered]["superseded"] is False and rows[answered]["ack_status"] == "done"
    assert rows[last]["superseded"] is False  # the session's end replaces nothing
    for seq in (stop, message, flag):
        assert rows[seq]["superseded"] is False
    latency = report["latency"]
    assert (latency["prompt.time"]["unacknowledged"], latency["prompt.time"]["superseded"]) == (
        1,
        4,
    )
    assert latency["alert.stop"]["unacknowledged"] == 2
    assert latency["message"]["unacknowledged"] == 1
    assert latency["flag.learner"]["unacknowledged"] == 1
