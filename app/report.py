"""The debrief, folded from the log as it grows, so a report costs a walk over its messages,
never a read of the whole log (the export and the endpoint share it).

Definitions (all times in seconds, minutes where the name says so):

- a segment's ``actual_minutes`` is the time it ran, all its runs together, up to its
  ``segment.end``, the start of another segment, or the end of the session (for a session
  still live: the last event); ``overrun_minutes`` is actual minus planned (the agenda's
  minutes); ``extended_minutes`` shows how much of that was granted on the way.
- a message is a ``prompt.time``, ``message``, ``flag.learner`` or ``alert.stop``. Its
  ``seen_after_s`` is the time to its first ``seen`` (or first ``ack``, which implies it);
  ``first_answer_after_s`` the time to its first ``ack`` of any status; ``ack_after_s`` the
  time to its first ``done`` or ``declined`` — a snooze is not an answer, it counts in
  ``snoozes``; ``ack_status`` is the status of its last ``ack``.
- an ``ack`` ``dismissed`` (the overlay's "Clear all") closes a card without answering it: it
  counts in ``dismissed`` (``messages[].dismissed``, ``latency{…}.dismissed``), never in
  ``first_answer_after_s`` or ``ack_after_s``. Each message counts once, in the first that
  applies of: answered (``ack_p50_s``…), ``dismissed``, ``superseded``, ``unacknowledged``.
- ``unacknowledged`` (the debrief's "never answered") counts the messages left without a
  ``done`` or ``declined`` answer, except cancelled alerts and ``superseded`` timing prompts:
  a ``prompt.time`` still waiting (no answer but a snooze) when a newer ``prompt.time``, a
  ``segment.start`` or a ``segment.end`` was logged was replaced, not ignored ("5 min left"
  then "1 min left") — the overlay retires its card then for the same reason (web/model.js
  ``Cards``: "replaced", "segment_end"; the golden vectors' ``expect.superseded`` hold the two
  together). The session's end supersedes nothing; stop alerts, messages and flags are never
  superseded.
- ``p50`` is the median.
- ``learners`` lists every roster name (flagged or not) and any other name flagged.
- offline periods are those of participants while the session ran (a participant still
  offline at its end counts until the end).
"""

import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from app.clock import iso
from app.fold import LoggedEvent, SessionFold
from app.models.kinds import kinds_where

TRACKED = kinds_where("tracked")


@dataclass(slots=True)
class MessageRow:
    """What happened to one message addressed to the facilitator."""

    seq: int
    kind: str
    at_ms: int
    text: str | None
    seen_ms: int | None = None
    seen_by: str | None = None
    first_answer_ms: int | None = None
    answer_ms: int | None = None  # first done/declined
    dismissed_ms: int | None = None  # first "Clear all" (an ack dismissed): closed, not answered
    last_ack: LoggedEvent | None = None
    snoozes: int = 0
    level: int = 0
    cancelled_ms: int | None = None  # the first alert.cancel
    resurfaced_ms: int | None = None
    superseded: bool = False  # a timing prompt replaced while still waiting for an answer


@dataclass(slots=True)
class Presence:
    seq: int
    at_ms: int
    participant_id: str
    online: bool


@dataclass
class ReportFold:
    """Report figures kept as events pass (apply after ``SessionFold.apply``)."""

    counts: Counter[str] = field(default_factory=Counter)
    messages: dict[int, MessageRow] = field(default_factory=dict)
    learners: dict[str, Counter[str]] = field(default_factory=dict)
    presence: list[Presence] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    # Timing prompts still waiting for an answer (open or snoozed): the next one supersedes them.
    waiting_prompts: set[int] = field(default_factory=set)

    def apply(self, e: LoggedEvent, state: SessionFold) -> None:
        self.counts[e.kind] += 1
        b = e.body
        kind = e.kind
        if kind in ("prompt.time", "segment.start", "segment.end"):
            self._supersede_prompts()
        if kind in TRACKED:
            text = b.get("text")
            self.messages[e.seq] = MessageRow(e.seq, kind, e.at_ms, text)
            if kind == "flag.learner":
                self.learners.setdefault(b["learner"], Counter())[b["flag"]] += 1
            elif kind == "prompt.time":
                self.waiting_prompts.add(e.seq)
            return
        if kind == "presence":
            self.presence.append(
                Presence(e.seq, e.at_ms, b["participant_id"], b["status"] == "online")
            )
        elif kind == "note":
            self.notes.append(_note(e, state))
        row = self.messages.get(b["ref"]) if "ref" in b else None
        if row is None:
            return
        if kind == "seen":
            if row.seen_ms is None:
                row.seen_ms, row.seen_by = e.at_ms, e.author_name
        elif kind == "ack":
            if row.seen_ms is None:  # an answer implies it was seen
                row.seen_ms, row.seen_by = e.at_ms, e.author_name
            if b["status"] == "dismissed":
                self.waiting_prompts.discard(row.seq)  # its card closed: nothing to supersede
                if row.dismissed_ms is None:
                    row.dismissed_ms = e.at_ms
                if row.answer_ms is None:  # an answer given before stays the answer
                    row.last_ack = e
                return
            if row.first_answer_ms is None:
                row.first_answer_ms = e.at_ms
            if b["status"] == "snoozed":
                row.snoozes += 1
            else:
                self.waiting_prompts.discard(row.seq)  # its card closed: nothing to supersede
                if row.answer_ms is None:
                    row.answer_ms = e.at_ms
            row.last_ack = e
        elif kind == "alert.escalated":
            row.level = max(row.level, b["level"])
        elif kind == "alert.cancel":
            if row.cancelled_ms is None:
                row.cancelled_ms = e.at_ms
        elif (
            kind == "alert.resurface" and row.last_ack is not None and row.last_ack.seq == b["ack"]
        ):
            # A snooze ran out: the message is back and waits for an answer again.
            row.last_ack = None
            row.resurfaced_ms = e.at_ms

    def _supersede_prompts(self) -> None:
        for seq in self.waiting_prompts:
            self.messages[seq].superseded = True
        self.waiting_prompts.clear()


def _note(e: LoggedEvent, state: SessionFold) -> dict[str, Any]:
    """A producer or observer note, with the segment it was written in."""
    segment = state.current.index if state.current is not None else None
    return {
        "seq": e.seq,
        "at": iso(e.at_ms),
        "segment": segment,
        "text": e.body["text"],
        "tags": e.body.get("tags", []),
        "author": {"participant_id": e.author_id, "role": e.author_role, "name": e.author_name},
    }


def _secs(ms: int) -> float:
    return round(ms / 1000, 3)


def _after(ms: int | None, start_ms: int) -> float | None:
    return None if ms is None else _secs(ms - start_ms)


def _p50(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


def build_report(
    agenda: list[dict[str, Any]],
    roster: list[str],
    people: dict[str, tuple[str, str]],
    state: SessionFold,
    folded: ReportFold,
    *,
    with_notes: bool = True,
) -> dict[str, Any]:
    """The report as of the folds' seq. ``people``: participant_id -> (role, name)."""
    end_ms = state.ended_ms or state.last_at_ms
    counts = dict(sorted(folded.counts.items()))
    if not with_notes:
        counts.pop("note", None)
    return {
        "segments": _segments(agenda, state, end_ms),
        "counts": counts,
        **_messages(folded),
        "learners": _learners(roster, folded),
        "offline": _offline(people, folded.presence, state.started_ms, end_ms),
        "notes": _notes(agenda, folded.notes) if with_notes else [],
    }


def _segments(
    agenda: list[dict[str, Any]], state: SessionFold, end_ms: int | None
) -> list[dict[str, Any]]:
    out = []
    for index, seg in enumerate(agenda):
        run = state.runs.get(index)
        planned = float(seg["minutes"])
        spent = run.spent_ms(end_ms) if run is not None else None
        actual = None if spent is None else spent / 60_000
        out.append(
            {
                "index": index,
                "title": seg["title"],
                "planned_minutes": planned,
                "extended_minutes": run.extended_minutes if run is not None else 0,
                "actual_minutes": None if actual is None else round(actual, 2),
                "overrun_minutes": None if actual is None else round(actual - planned, 2),
                "started_at": iso(run.started_ms or None) if run is not None else None,
                "ended_at": iso(run.ended_ms) if run is not None else None,
            }
        )
    return out


def _messages(folded: ReportFold) -> dict[str, Any]:
    rows = []
    # per kind: seen times, answer times, [count, unacknowledged, superseded, dismissed]
    by_kind: dict[str, tuple[list[float], list[float], list[int]]] = {}
    for row in folded.messages.values():
        seen = _after(row.seen_ms, row.at_ms)
        answered = _after(row.answer_ms, row.at_ms)
        dismissed = row.dismissed_ms is not None and answered is None
        superseded = row.superseded and answered is None and not dismissed
        out: dict[str, Any] = {
            "seq": row.seq,
            "kind": row.kind,
            "at": iso(row.at_ms),
            "text": row.text,
            "seen_after_s": seen,
            "first_answer_after_s": _after(row.first_answer_ms, row.at_ms),
            "ack_after_s": answered,
            "ack_status": row.last_ack.body["status"] if row.last_ack is not None else None,
            "snoozes": row.snoozes,
            "superseded": superseded,
            "dismissed": dismissed,
        }
        if row.kind == "alert.stop":
            out["escalation_level"] = row.level
            out["cancelled"] = row.cancelled_ms is not None
        rows.append(out)
        seen_list, ack_list, tally = by_kind.setdefault(row.kind, ([], [], [0, 0, 0, 0]))
        tally[0] += 1
        if seen is not None:
            seen_list.append(seen)
        if answered is not None:
            ack_list.append(answered)
        elif dismissed:
            tally[3] += 1
        elif superseded:
            tally[2] += 1
        elif row.cancelled_ms is None:
            tally[1] += 1
    latency = {
        kind: {
            "count": counts[0],
            "seen_p50_s": _p50(seen_list),
            "seen_max_s": max(seen_list, default=None),
            "ack_p50_s": _p50(ack_list),
            "ack_max_s": max(ack_list, default=None),
            "unacknowledged": counts[1],
            "superseded": counts[2],
            "dismissed": counts[3],
        }
        for kind, (seen_list, ack_list, counts) in sorted(by_kind.items())
    }
    return {"messages": rows, "latency": latency}


def _learners(roster: list[str], folded: ReportFold) -> dict[str, dict[str, int]]:
    names = set(roster) | set(folded.learners)
    empty: Counter[str] = Counter()
    return {name: dict(sorted(folded.learners.get(name, empty).items())) for name in sorted(names)}


def _offline(
    people: dict[str, tuple[str, str]],
    presence: list[Presence],
    start_ms: int | None,
    end_ms: int | None,
) -> list[dict[str, Any]]:
    went: dict[str, int] = {}
    periods: list[tuple[str, int, int | None]] = []
    for p in presence:
        if not p.online:
            went.setdefault(p.participant_id, p.at_ms)
        elif p.participant_id in went:
            periods.append((p.participant_id, went.pop(p.participant_id), p.at_ms))
    periods.extend((pid, start, None) for pid, start in went.items())
    out = []
    for pid, start, stop in sorted(periods, key=lambda p: (p[1], p[0])):
        if start_ms is None or (end_ms is not None and start >= end_ms):
            continue  # before the session started or after it ended: not a drop-out
        if stop is not None and stop <= start_ms:
            continue
        start = max(start, start_ms)
        if stop is not None and end_ms is not None:
            stop = min(stop, end_ms)
        role, name = people.get(pid, (None, None))
        until = stop if stop is not None else end_ms
        out.append(
            {
                "participant_id": pid,
                "role": role,
                "name": name,
                "from": iso(start),
                "to": iso(stop),
                "seconds": None if until is None else max(0.0, _secs(until - start)),
            }
        )
    return out


def _notes(agenda: list[dict[str, Any]], notes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for note in notes:
        index = note["segment"]
        title = None
        if index is not None:
            title = agenda[index]["title"] if index < len(agenda) else f"segment {index + 1}"
        out.append({**note, "segment_title": title})
    return out
