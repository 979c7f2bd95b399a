"""What a client needs to draw itself: folded from the log alone, so every process agrees."""

from dataclasses import dataclass, field
from typing import Any

from app.clock import iso
from app.models import Event, Participant, Session


@dataclass
class SegmentRun:
    index: int
    started_ms: int
    extended_minutes: float = 0
    ended_ms: int | None = None
    start_seq: int = 0  # seq of the segment.start: names this run in derived event ids
    earlier_ms: int = 0  # time spent in earlier runs of the same segment (restarted)

    def spent_ms(self, until_ms: int | None) -> int | None:
        """Minutes actually spent in this segment, all runs together, as ms."""
        stop = self.ended_ms if self.ended_ms is not None else until_ms
        if not self.started_ms or stop is None:
            return None
        return self.earlier_ms + max(0, stop - self.started_ms)

    def planned_end_ms(self, planned_minutes: float) -> int:
        return self.started_ms + int((planned_minutes + self.extended_minutes) * 60_000)


@dataclass
class OpenAlert:
    seq: int
    reason: str
    text: str | None
    at_ms: int
    level: int = 0
    seen_ms: int | None = None
    snoozed_until_ms: int | None = None
    # Escalation counts from here; after a snooze it restarts when the alert resurfaces.
    escalate_from_ms: int = 0
    resurfaced_by: int | None = None  # seq of the snoozing ack it came back from


@dataclass
class Snooze:
    ref: int
    ack_seq: int
    until_ms: int


@dataclass
class Fold:
    """Incremental fold over a session's events (any order-preserving prefix of the log)."""

    started_ms: int | None = None
    ended_ms: int | None = None
    current: SegmentRun | None = None
    runs: dict[int, SegmentRun] = field(default_factory=dict)
    alerts: dict[int, OpenAlert] = field(default_factory=dict)
    online: dict[str, int] = field(default_factory=dict)  # participant_id -> since
    snoozes: dict[int, Snooze] = field(default_factory=dict)  # alert seq -> pending snooze
    system_ids: set[str] = field(default_factory=set)  # ids of system events already logged
    last_seq: int = 0

    def apply(self, e: Event) -> None:
        self.last_seq = max(self.last_seq, e.seq)
        b = e.body
        k = e.kind
        if e.author_role == "system":
            self.system_ids.add(e.id)
        if k == "session.start":
            self.started_ms = self.started_ms or e.at_ms
        elif k == "session.end":
            self.ended_ms = e.at_ms
            if self.current is not None:
                self.current.ended_ms = e.at_ms
                self.current = None
        elif k == "segment.start":
            if self.current is not None and self.current.ended_ms is None:
                self.current.ended_ms = e.at_ms
            run = SegmentRun(index=b["index"], started_ms=e.at_ms, start_seq=e.seq)
            prev = self.runs.get(b["index"])
            if prev is not None:  # restarted: keep the extensions and the time already spent
                run.extended_minutes = prev.extended_minutes
                run.earlier_ms = prev.spent_ms(e.at_ms) or 0
            self.runs[b["index"]] = run
            self.current = run
            if self.started_ms is None:
                self.started_ms = e.at_ms
        elif k == "segment.end":
            ended = self.runs.get(b["index"])
            if ended is not None and ended.ended_ms is None:
                ended.ended_ms = e.at_ms
            if self.current is not None and self.current.index == b["index"]:
                self.current = None
        elif k == "segment.extend":
            extended = self.runs.get(b["index"])
            if extended is None:
                extended = self.runs[b["index"]] = SegmentRun(index=b["index"], started_ms=0)
            extended.extended_minutes += b["minutes"]
        elif k == "alert.stop":
            self.alerts[e.seq] = OpenAlert(
                e.seq, b["reason"], b.get("text"), e.at_ms, escalate_from_ms=e.at_ms
            )
        elif k == "alert.cancel":
            self.alerts.pop(b["ref"], None)
            self.snoozes.pop(b["ref"], None)
        elif k == "alert.escalated":
            if (a := self.alerts.get(b["ref"])) is not None:
                a.level = max(a.level, b["level"])
        elif k == "seen":
            if (a := self.alerts.get(b["ref"])) is not None and a.seen_ms is None:
                a.seen_ms = e.at_ms
        elif k == "ack":
            ref = b["ref"]
            if b["status"] == "snoozed":
                # Only open stop alerts come back (alert.resurface); other snoozes are answers.
                if (a := self.alerts.get(ref)) is not None:
                    until = e.at_ms + int(b.get("minutes", 1) * 60_000)
                    self.snoozes[ref] = Snooze(ref, e.seq, until)
                    a.snoozed_until_ms = until
            else:
                self.snoozes.pop(ref, None)
                self.alerts.pop(ref, None)
        elif k == "alert.resurface":
            ref = b["ref"]
            snooze = self.snoozes.get(ref)
            if snooze is not None and snooze.ack_seq == b["ack"]:
                del self.snoozes[ref]
                if (a := self.alerts.get(ref)) is not None:
                    a.snoozed_until_ms = None
                    a.escalate_from_ms = e.at_ms
                    a.resurfaced_by = b["ack"]
                    a.level = 0
        elif k == "presence":
            pid = b["participant_id"]
            if b["status"] == "online":
                self.online.setdefault(pid, e.at_ms)
            else:
                self.online.pop(pid, None)


def fold(events: list[Event]) -> Fold:
    f = Fold()
    for e in events:
        f.apply(e)
    return f


def planned_minutes(session: Session, index: int) -> float:
    if 0 <= index < len(session.agenda):
        return float(session.agenda[index]["minutes"])
    return 0.0


def segment_title(session: Session, index: int) -> str:
    if 0 <= index < len(session.agenda):
        return str(session.agenda[index]["title"])
    return f"segment {index + 1}"


def state_public(session: Session, participants: list[Participant], f: Fold) -> dict[str, Any]:
    names = {p.id: p for p in participants}
    segment = None
    if f.current is not None:
        run = f.current
        planned = planned_minutes(session, run.index)
        segment = {
            "index": run.index,
            "title": segment_title(session, run.index),
            "planned_minutes": planned,
            "extended_minutes": run.extended_minutes,
            "started_at": iso(run.started_ms),
            "planned_end": iso(run.planned_end_ms(planned)),
        }
    return {
        "status": session.status,
        "started_at": iso(f.started_ms),
        "ended_at": iso(f.ended_ms),
        "segment": segment,
        "open_alerts": [
            {
                "seq": a.seq,
                "reason": a.reason,
                "text": a.text,
                "at": iso(a.at_ms),
                "level": a.level,
                "seen_at": iso(a.seen_ms),
                "snoozed_until": iso(a.snoozed_until_ms),
            }
            for a in sorted(f.alerts.values(), key=lambda a: a.seq)
        ],
        "online": [
            {
                "participant_id": pid,
                "role": names[pid].role,
                "name": names[pid].name,
                "since": iso(ms),
            }
            for pid, ms in f.online.items()
            if pid in names
        ],
        "last_seq": max(f.last_seq, session.last_seq),
    }
