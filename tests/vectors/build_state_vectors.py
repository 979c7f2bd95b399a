"""Writes tests/vectors/state-*.json: scripted sessions, the events they log, and what the
server folds from them (state, the status of every message, report).

Run it after a deliberate change of meaning (``python -m tests.vectors.build_state_vectors``),
read the diff of the JSON files line by line, and commit both: the files are the contract
that pytest (tests/unit/test_vectors.py) and node (tests/js/) hold the code to.
"""

import json
from pathlib import Path
from typing import Any

from app.clock import iso
from app.fold import PlainEvent
from app.models import Participant, Session
from app.report import TRACKED
from app.session_model import SessionModel

HERE = Path(__file__).resolve().parent
T0 = 1_780_000_000_000  # 2026-05-28T20:26:40Z: any fixed instant will do

PEOPLE = [
    {"participant_id": "p_prod", "role": "producer", "name": "Pat Producer"},
    {"participant_id": "p_fac", "role": "facilitator", "name": "Fran Facilitator"},
    {"participant_id": "p_obs", "role": "observer", "name": "Oli Observer"},
]
SYSTEM = {"participant_id": None, "role": "system", "name": "Backchannel"}


class Script:
    def __init__(self, name: str, description: str, session: dict[str, Any]) -> None:
        self.name = name
        self.description = description
        self.session = {"settings": {"auto_prompts": [5, 1, 0], "escalate_after_s": 60}, **session}
        self.events: list[dict[str, Any]] = []
        self.t = T0

    def wait(self, seconds: float) -> "Script":
        self.t += int(seconds * 1000)
        return self

    def log(self, who: str, kind: str, body: dict[str, Any] | None = None, eid: str = "") -> int:
        author = SYSTEM if who == "system" else next(p for p in PEOPLE if p["role"] == who)
        seq = len(self.events) + 1
        self.events.append(
            {
                "seq": seq,
                "id": eid or f"{who[:3]}-{seq}",
                "kind": kind,
                "body": body or {},
                "author": dict(author),
                "at": iso(self.t),
            }
        )
        return seq

    def presence(self, pid: str, status: str) -> int:
        n = sum(1 for e in self.events if e["kind"] == "presence") + 1
        body = {"participant_id": pid, "status": status}
        return self.log("system", "presence", body, f"presence:{pid}:{n}")


def model_for(vector: dict[str, Any]) -> SessionModel:
    """The server's model of a vector's session after all its events (no database)."""
    s = vector["session"]
    session = Session(
        id="vector",
        title=s["title"],
        agenda=s["agenda"],
        roster=s["roster"],
        settings=s["settings"],
        presets=[],
        status="planned",
        created_ms=T0,
    )
    people = [
        Participant(
            id=p["participant_id"],
            session_id="vector",
            role=p["role"],
            name=p["name"],
            token_hash=p["participant_id"],
            created_ms=T0,
        )
        for p in vector["participants"]
    ]
    model = SessionModel(session, {p.id: p for p in people})
    for e in vector["events"]:
        model.apply(plain_event(e))
    return model


def plain_event(e: dict[str, Any]) -> PlainEvent:
    from app.clock import parse_iso

    a = e["author"]
    return PlainEvent(
        e["seq"], e["id"], e["kind"], e["body"], a["participant_id"], a["role"], a["name"],
        parse_iso(e["at"]),
    )  # fmt: skip


def expected_status(model: SessionModel, events: list[dict[str, Any]]) -> dict[str, Any]:
    """``GET …/events/{seq}/status`` of every message: what the pages' Ticks must derive."""
    from app.clock import parse_iso

    return {
        str(e["seq"]): model.status_of(e["seq"], e["kind"], parse_iso(e["at"]))
        for e in events
        if e["kind"] in TRACKED
    }


def superseded_of(report: dict[str, Any]) -> list[int]:
    """The seqs of the timing prompts a newer prompt or a segment boundary replaced unanswered."""
    return [m["seq"] for m in report["messages"] if m["superseded"]]


def every_kind() -> Script:
    s = Script(
        "state-every-kind",
        "One class over every kind: segments with an extension and a restart, a message, "
        "flags, stop alerts snoozed, resurfaced, escalated, answered, declined and "
        "cancelled, a request worked on and done, presence, notes, the end.",
        {
            "title": "Every kind",
            "agenda": [
                {"title": "Welcome", "minutes": 10},
                {"title": "Practice", "minutes": 20},
                {"title": "Close", "minutes": 5},
            ],
            "roster": ["Maria Lopez", "Ahmed Khan", "Li Wei"],
        },
    )
    s.presence("p_prod", "online")
    s.log("producer", "session.start")
    s.log("producer", "segment.start", {"index": 0})
    s.wait(30)
    prompt = s.log("producer", "prompt.time", {"text": "Slow down a little"})
    s.wait(5)
    s.presence("p_fac", "online")  # the prompt is delivered now
    s.wait(5)
    s.log("facilitator", "seen", {"ref": prompt})
    s.wait(20)
    msg = s.log("producer", "message", {"text": "Ahmed has to leave at 10:40", "urgent": False})
    s.wait(2)
    s.log("facilitator", "ack", {"ref": msg, "status": "done", "text": "OK"})
    flag = s.log("producer", "flag.learner", {"learner": "Maria Lopez", "flag": "quiet"})
    s.log("observer", "note", {"text": "Intro ran long", "tags": ["timing"]})
    s.wait(10)
    stop = s.log("producer", "alert.stop", {"reason": "chat", "text": "Question from Li"})
    s.wait(4)
    s.log("facilitator", "seen", {"ref": stop})
    s.wait(2)
    snooze = s.log("facilitator", "ack", {"ref": stop, "status": "snoozed", "minutes": 1})
    s.wait(60)
    s.log("system", "alert.resurface", {"ref": stop, "ack": snooze}, f"resurface:{snooze}")
    s.wait(60)
    s.log("system", "alert.escalated", {"ref": stop, "level": 1}, f"esc:{stop}:{snooze}:1")
    s.wait(15)
    s.log("facilitator", "ack", {"ref": stop, "status": "done"})
    s.log("producer", "segment.extend", {"index": 0, "minutes": 5})
    s.wait(30)
    s.log("producer", "segment.extend", {"index": 0, "minutes": 1})
    request = s.log("facilitator", "request", {"action": "breakout", "text": "Pairs, 5 min"})
    s.wait(3)
    s.log("producer", "request.status", {"ref": request, "status": "on_it"})
    s.log("facilitator", "reply", {"text": "Thanks", "ref": flag})
    s.wait(600)
    s.log("producer", "segment.end", {"index": 0})
    s.log("producer", "request.status", {"ref": request, "status": "done", "text": "Open"})
    s.log("producer", "segment.start", {"index": 1})
    s.wait(90)
    declined = s.log("producer", "alert.stop", {"reason": "break"})
    s.wait(8)
    s.log("facilitator", "ack", {"ref": declined, "status": "declined", "text": "After this"})
    cancelled = s.log("producer", "alert.stop", {"reason": "problem", "text": "Audio echo"})
    s.wait(6)
    s.log("producer", "alert.cancel", {"ref": cancelled})
    s.presence("p_fac", "offline")
    s.wait(45)
    late = s.log("producer", "prompt.time", {"text": "5 min left", "minutes_left": 5})
    s.wait(20)
    s.presence("p_fac", "online")
    s.log("producer", "flag.learner", {"learner": "Li Wei", "flag": "hand"})
    s.log("producer", "segment.start", {"index": 0})  # back to the welcome for a recap
    s.wait(120)
    s.log("facilitator", "seen", {"ref": late})
    open_stop = s.log("producer", "alert.stop", {"reason": "other", "text": "Wrap up"})
    s.log("system", "alert.escalated", {"ref": open_stop, "level": 1}, f"esc:{open_stop}:1")
    s.log("producer", "session.end")
    return s


def extend_and_reload() -> Script:
    s = Script(
        "state-extend-twice",
        "A 10-minute segment extended by 5 and then by 1: planned_end is start + 16 min, "
        "wherever the state is folded from (the countdown bug of issue 10).",
        {"title": "Extend", "agenda": [{"title": "Talk", "minutes": 10}], "roster": []},
    )
    s.log("producer", "session.start")
    s.log("producer", "segment.start", {"index": 0})
    s.wait(60)
    s.log("producer", "segment.extend", {"index": 0, "minutes": 5})
    s.wait(60)
    s.log("producer", "segment.extend", {"index": 0, "minutes": 1})
    return s


def deliveries() -> Script:
    s = Script(
        "state-deliveries",
        "Ticks: sent while no facilitator is online (delivered when one comes), a snooze "
        "that resurfaces (no answer again), a flag answered, a message never seen, a "
        "prompt snoozed with no overlay open.",
        {"title": "Ticks", "agenda": [{"title": "Talk", "minutes": 30}], "roster": ["Ana"]},
    )
    s.log("producer", "session.start")
    early = s.log("producer", "prompt.time", {"text": "Before you came"})
    s.wait(10)
    s.presence("p_fac", "online")
    s.log("facilitator", "seen", {"ref": early})
    stop = s.log("producer", "alert.stop", {"reason": "chat"})
    snooze = s.log("facilitator", "ack", {"ref": stop, "status": "snoozed", "minutes": 2})
    s.wait(120)
    s.log("system", "alert.resurface", {"ref": stop, "ack": snooze}, f"resurface:{snooze}")
    flag = s.log("producer", "flag.learner", {"learner": "Ana", "flag": "question"})
    s.log("facilitator", "ack", {"ref": flag, "status": "done"})
    s.presence("p_fac", "offline")
    s.log("producer", "message", {"text": "Are you there?", "urgent": True})
    s.wait(30)
    # Snoozed over HTTP with no overlay open: answered, hence seen, hence delivered (then).
    later = s.log("producer", "prompt.time", {"text": "Wrap up soon"})
    s.wait(3)
    s.log("facilitator", "ack", {"ref": later, "status": "snoozed", "minutes": 2})
    return s


def clear_all() -> Script:
    s = Script(
        "state-clear-all",
        "The overlay's Clear all (ack dismissed): cards closed without an answer. Dismissed "
        "counts apart, never as an answer; an answer given before or after wins; a dismissed "
        "prompt is not superseded by the next one; a dismissed message is not never answered.",
        {"title": "Clear all", "agenda": [{"title": "Talk", "minutes": 30}], "roster": ["Ana"]},
    )
    s.presence("p_fac", "online")
    s.log("producer", "session.start")
    s.log("producer", "segment.start", {"index": 0})
    prompt = s.log("producer", "prompt.time", {"text": "5 min left", "minutes_left": 5})
    flag = s.log("producer", "flag.learner", {"learner": "Ana", "flag": "hand"})
    answered = s.log("producer", "flag.learner", {"learner": "Ana", "flag": "question"})
    later = s.log("producer", "message", {"text": "Poll is ready"})
    s.wait(20)
    s.log("facilitator", "seen", {"ref": flag})
    s.log("facilitator", "ack", {"ref": answered, "status": "done"})
    s.wait(10)
    for ref in (prompt, flag, answered, later):  # Clear all: what was still open, and a late one
        s.log("facilitator", "ack", {"ref": ref, "status": "dismissed"})
    s.wait(5)
    s.log("facilitator", "ack", {"ref": later, "status": "done", "text": "Launching"})
    s.log("producer", "prompt.time", {"text": "1 min left", "minutes_left": 1})
    return s


def dismissed_of(report: dict[str, Any]) -> list[int]:
    """The seqs of the messages cleared without an answer."""
    return [m["seq"] for m in report["messages"] if m["dismissed"]]


def write(script: Script) -> None:
    vector: dict[str, Any] = {
        "name": script.name,
        "description": script.description,
        "session": script.session,
        "participants": PEOPLE,
        "events": script.events,
    }
    model = model_for(vector)
    vector["expect"] = {
        "state": model.state_public(),
        "status": expected_status(model, script.events),
        "report": model.report_public(),
    }
    vector["expect"]["superseded"] = superseded_of(vector["expect"]["report"])
    vector["expect"]["dismissed"] = dismissed_of(vector["expect"]["report"])
    path = HERE / f"{script.name}.json"
    path.write_text(json.dumps(vector, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {path.relative_to(HERE.parent.parent)}")


if __name__ == "__main__":
    for build in (every_kind, extend_and_reload, deliveries, clear_all):
        write(build())
