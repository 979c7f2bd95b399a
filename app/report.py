"""The debrief report, computed from the log alone (so the export and the endpoint agree).

Definitions (all times in seconds, minutes where the name says so):

- a segment's ``actual_minutes`` is the time it ran, all its runs together, up to its
  ``segment.end``, the start of another segment, or the end of the session (for a session
  still live: the last event); ``overrun_minutes`` is actual minus planned minus extensions.
- a message's ``seen_after_s`` is the time to its first ``seen`` (or first ``ack``, which
  implies it); ``ack_after_s`` the time to its first ``ack`` of any status (the answer);
  ``ack_status`` the status of its last ``ack``. Cancelled alerts are not "unacknowledged".
- ``p50`` is the median.
- offline periods are those of participants while the session ran (a participant still
  offline at its end counts until the end).
"""

import statistics
from collections import Counter, defaultdict
from typing import Any

from app.clock import iso
from app.models import Event, Participant, Session
from app.state import fold, planned_minutes, segment_title

TRACKED = ("prompt.time", "flag.learner", "alert.stop")


def _secs(ms: int) -> float:
    return round(ms / 1000, 3)


def _p50(values: list[float]) -> float | None:
    if not values:
        return None
    return round(statistics.median(values), 3)


def build_report(
    session: Session, participants: list[Participant], events: list[Event]
) -> dict[str, Any]:
    f = fold(events)
    end_ms = f.ended_ms or (events[-1].at_ms if events else None)
    return {
        "segments": _segments(session, f, end_ms),
        "counts": dict(sorted(Counter(e.kind for e in events).items())),
        **_messages(events),
        "learners": _learners(events),
        "offline": _offline(participants, events, f.started_ms, end_ms),
        "notes": _notes(session, events),
    }


def _segments(session: Session, f: Any, end_ms: int | None) -> list[dict[str, Any]]:
    out = []
    for index, seg in enumerate(session.agenda):
        run = f.runs.get(index)
        planned = planned_minutes(session, index)
        extended = run.extended_minutes if run else 0
        spent = run.spent_ms(end_ms) if run is not None else None
        started = run.started_ms if run is not None and run.started_ms else None
        out.append(
            {
                "index": index,
                "title": seg["title"],
                "planned_minutes": planned,
                "extended_minutes": extended,
                "actual_minutes": None if spent is None else round(spent / 60_000, 2),
                "overrun_minutes": None
                if spent is None
                else round(spent / 60_000 - planned - extended, 2),
                "started_at": iso(started),
                "ended_at": iso(run.ended_ms if run is not None else None),
            }
        )
    return out


def _messages(events: list[Event]) -> dict[str, Any]:
    tracked = {e.seq: e for e in events if e.kind in TRACKED}
    seen: dict[int, int] = {}
    ack: dict[int, Event] = {}  # the first answer
    last_ack: dict[int, Event] = {}
    escalations: dict[int, int] = {}
    for e in events:
        ref = e.body.get("ref") if isinstance(e.body, dict) else None
        if ref not in tracked:
            continue
        if e.kind == "seen":
            seen.setdefault(ref, e.at_ms)
        elif e.kind == "ack":
            ack.setdefault(ref, e)
            last_ack[ref] = e
            seen.setdefault(ref, e.at_ms)  # an answer implies it was seen
        elif e.kind == "alert.escalated":
            escalations[ref] = max(escalations.get(ref, 0), e.body["level"])
    cancelled = {e.body["ref"] for e in events if e.kind == "alert.cancel"}
    messages = []
    by_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"seen": [], "ack": []})
    unacked: Counter[str] = Counter()
    for seq, e in tracked.items():
        seen_after = _secs(seen[seq] - e.at_ms) if seq in seen else None
        a = ack.get(seq)
        ack_after = _secs(a.at_ms - e.at_ms) if a is not None else None
        row: dict[str, Any] = {
            "seq": seq,
            "kind": e.kind,
            "at": iso(e.at_ms),
            "text": e.body.get("text"),
            "seen_after_s": seen_after,
            "ack_after_s": ack_after,
            "ack_status": last_ack[seq].body["status"] if a is not None else None,
        }
        if e.kind == "alert.stop":
            row["escalation_level"] = escalations.get(seq, 0)
            row["cancelled"] = seq in cancelled
        messages.append(row)
        stats = by_kind[e.kind]
        if seen_after is not None:
            stats["seen"].append(seen_after)
        if ack_after is not None:
            stats["ack"].append(ack_after)
        elif seq not in cancelled:
            unacked[e.kind] += 1
    latency = {
        kind: {
            "count": sum(1 for m in messages if m["kind"] == kind),
            "seen_p50_s": _p50(stats["seen"]),
            "seen_max_s": max(stats["seen"], default=None),
            "ack_p50_s": _p50(stats["ack"]),
            "ack_max_s": max(stats["ack"], default=None),
            "unacknowledged": unacked[kind],
        }
        for kind, stats in sorted(by_kind.items())
    }
    return {"messages": messages, "latency": latency}


def _learners(events: list[Event]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for e in events:
        if e.kind == "flag.learner":
            out[e.body["learner"]][e.body["flag"]] += 1
    return {name: dict(sorted(c.items())) for name, c in sorted(out.items())}


def _offline(
    participants: list[Participant],
    events: list[Event],
    start_ms: int | None,
    end_ms: int | None,
) -> list[dict[str, Any]]:
    people = {p.id: p for p in participants}
    went: dict[str, int] = {}
    periods: list[tuple[str, int, int | None]] = []
    for e in events:
        if e.kind != "presence":
            continue
        pid = e.body["participant_id"]
        if e.body["status"] == "offline":
            went.setdefault(pid, e.at_ms)
        elif pid in went:
            start = went.pop(pid)
            periods.append((pid, start, e.at_ms))
    for pid, start in went.items():
        periods.append((pid, start, None))
    out = []
    for pid, start, stop in sorted(periods, key=lambda p: (p[1], p[0])):
        if start_ms is None or (end_ms is not None and start >= end_ms):
            continue  # before the session started or after it ended: not a drop-out
        if stop is not None and stop <= start_ms:
            continue
        start = max(start, start_ms)
        if stop is not None and end_ms is not None:
            stop = min(stop, end_ms)
        p = people.get(pid)
        until = stop if stop is not None else end_ms
        out.append(
            {
                "participant_id": pid,
                "role": p.role if p else None,
                "name": p.name if p else None,
                "from": iso(start),
                "to": iso(stop),
                "seconds": None if until is None else max(0.0, _secs(until - start)),
            }
        )
    return out


def _notes(session: Session, events: list[Event]) -> list[dict[str, Any]]:
    """Producer and observer notes in order, each with the segment it was written in."""
    out = []
    segment: int | None = None
    for e in events:
        if e.kind == "segment.start":
            segment = e.body["index"]
        elif e.kind == "segment.end" and segment == e.body["index"]:
            segment = None
        elif e.kind == "note":
            out.append(
                {
                    "seq": e.seq,
                    "at": iso(e.at_ms),
                    "segment": segment,
                    "segment_title": None if segment is None else segment_title(session, segment),
                    "text": e.body["text"],
                    "tags": e.body.get("tags", []),
                    "author": {
                        "participant_id": e.author_id,
                        "role": e.author_role,
                        "name": e.author_name,
                    },
                }
            )
    return out
