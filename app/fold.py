"""A session's live state, folded from its log one event at a time (pure: no I/O).

Every process folds the same events in seq order, so the state as of a seq is the same on
every process, after any reload and after any replay. ``SessionFold.apply`` is the only
place that says what an event does to the state; the scheduler, the ``state`` frames, the
welcome, ``GET /session`` and the report all read what it keeps.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

from app.models.kinds import kinds_where


class LoggedEvent(Protocol):
    """What the fold reads of an event (``app.models.Event`` rows have it)."""

    seq: int
    id: str
    kind: str
    body: dict[str, Any]
    author_id: str | None
    author_role: str
    author_name: str
    at_ms: int


@dataclass(slots=True)
class PlainEvent:
    """An event outside the database (from a broker frame or a test vector)."""

    seq: int
    id: str
    kind: str
    body: dict[str, Any]
    author_id: str | None
    author_role: str
    author_name: str
    at_ms: int


@dataclass(slots=True)
class SegmentRun:
    index: int
    started_ms: int
    extended_minutes: float = 0
    ended_ms: int | None = None
    start_seq: int = 0  # seq of the segment.start: names this run in derived event ids
    earlier_ms: int = 0  # time spent in earlier runs of the same segment (restarted)

    def spent_ms(self, until_ms: int | None) -> int | None:
        """Time actually spent in this segment, all runs together, as ms."""
        stop = self.ended_ms if self.ended_ms is not None else until_ms
        if not self.started_ms or stop is None:
            return None
        return self.earlier_ms + max(0, stop - self.started_ms)

    def planned_end_ms(self, planned_minutes: float) -> int:
        return self.started_ms + int((planned_minutes + self.extended_minutes) * 60_000)


@dataclass(slots=True)
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


@dataclass(slots=True)
class Snooze:
    ref: int
    ack_seq: int
    until_ms: int


@dataclass(slots=True)
class OpenRequest:
    seq: int
    action: str
    text: str | None
    at_ms: int
    by: str | None
    status: str | None = None  # "on_it" while the producer works on it
    status_text: str | None = None


# Kinds whose events can change the state (the others never do: prompts, notes, replies…).
STATE_KINDS = kinds_where("changes_state")


@dataclass
class SessionFold:
    """The state of one session as of ``last_seq``: apply events in seq order, each once."""

    live_ms: int | None = None  # when session.start was logged
    started_ms: int | None = None  # session.start, or the first segment.start before it
    ended_ms: int | None = None
    last_at_ms: int | None = None
    current: SegmentRun | None = None
    runs: dict[int, SegmentRun] = field(default_factory=dict)
    alerts: dict[int, OpenAlert] = field(default_factory=dict)
    snoozes: dict[int, Snooze] = field(default_factory=dict)  # alert seq -> pending snooze
    requests: dict[int, OpenRequest] = field(default_factory=dict)
    online: dict[str, int] = field(default_factory=dict)  # participant_id -> since
    system_ids: set[str] = field(default_factory=set)  # ids of system events already logged
    last_seq: int = 0

    @property
    def status(self) -> str:
        if self.ended_ms is not None:
            return "ended"
        return "live" if self.live_ms is not None else "planned"

    def apply(self, e: LoggedEvent) -> bool:
        """Fold one event (the next seq); True if the state changed."""
        self.last_seq = e.seq
        self.last_at_ms = e.at_ms
        if e.author_role == "system":
            self.system_ids.add(e.id)
        handler = _HANDLERS.get(e.kind)
        return handler(self, e, e.body) if handler is not None else False

    # -- the session and its segments ----------------------------------------------------

    def _session_start(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        self.live_ms = self.live_ms or e.at_ms
        self.started_ms = self.started_ms or e.at_ms
        return True

    def _session_end(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        """The live line closes: nothing stays open or escalates after the class."""
        self.ended_ms = e.at_ms
        if self.current is not None:
            self.current.ended_ms = e.at_ms
            self.current = None
        self.alerts.clear()
        self.snoozes.clear()
        self.requests.clear()
        return True

    def _segment_start(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
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
        return True

    def _segment_end(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        ended = self.runs.get(b["index"])
        if ended is not None and ended.ended_ms is None:
            ended.ended_ms = e.at_ms
        if self.current is not None and self.current.index == b["index"]:
            self.current = None
        return True

    def _segment_extend(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        run = self.runs.get(b["index"])
        if run is None:  # extended before it started: the extension waits for the start
            run = self.runs[b["index"]] = SegmentRun(index=b["index"], started_ms=0)
        run.extended_minutes += b["minutes"]
        return True

    # -- stop alerts ---------------------------------------------------------------------

    def _alert_stop(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        self.alerts[e.seq] = OpenAlert(
            e.seq, b["reason"], b.get("text"), e.at_ms, escalate_from_ms=e.at_ms
        )
        return True

    def _alert_cancel(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        self.snoozes.pop(b["ref"], None)
        return self.alerts.pop(b["ref"], None) is not None

    def _alert_escalated(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        alert = self.alerts.get(b["ref"])
        if alert is None or alert.level >= b["level"]:
            return False
        alert.level = b["level"]
        return True

    def _seen(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        alert = self.alerts.get(b["ref"])
        if alert is None or alert.seen_ms is not None:
            return False
        alert.seen_ms = e.at_ms
        return True

    def _ack(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        ref = b["ref"]
        alert = self.alerts.get(ref)
        if alert is None:
            return False
        if alert.seen_ms is None:
            alert.seen_ms = e.at_ms  # an answer implies it was seen
        if b["status"] == "snoozed":
            # Only open stop alerts come back (alert.resurface); other snoozes are answers.
            until = e.at_ms + int(b.get("minutes", 1) * 60_000)
            self.snoozes[ref] = Snooze(ref, e.seq, until)
            alert.snoozed_until_ms = until
        else:
            self.snoozes.pop(ref, None)
            del self.alerts[ref]
        return True

    def _alert_resurface(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        ref = b["ref"]
        snooze = self.snoozes.get(ref)
        if snooze is None or snooze.ack_seq != b["ack"]:
            return False
        del self.snoozes[ref]
        alert = self.alerts.get(ref)
        if alert is not None:
            alert.snoozed_until_ms = None
            alert.escalate_from_ms = e.at_ms
            alert.resurfaced_by = b["ack"]
            alert.level = 0
        return True

    # -- requests and presence -----------------------------------------------------------

    def _request(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        self.requests[e.seq] = OpenRequest(e.seq, b["action"], b.get("text"), e.at_ms, e.author_id)
        return True

    def _request_status(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        request = self.requests.get(b["ref"])
        if request is None:
            return False
        if b["status"] == "on_it":
            request.status = "on_it"
            request.status_text = b.get("text")
        else:
            del self.requests[b["ref"]]
        return True

    def _presence(self, e: LoggedEvent, b: dict[str, Any]) -> bool:
        pid = b["participant_id"]
        if b["status"] == "online":
            if pid in self.online:
                return False
            self.online[pid] = e.at_ms
            return True
        return self.online.pop(pid, None) is not None


_HANDLERS = {
    "session.start": SessionFold._session_start,
    "session.end": SessionFold._session_end,
    "segment.start": SessionFold._segment_start,
    "segment.end": SessionFold._segment_end,
    "segment.extend": SessionFold._segment_extend,
    "alert.stop": SessionFold._alert_stop,
    "alert.cancel": SessionFold._alert_cancel,
    "alert.escalated": SessionFold._alert_escalated,
    "seen": SessionFold._seen,
    "ack": SessionFold._ack,
    "alert.resurface": SessionFold._alert_resurface,
    "request": SessionFold._request,
    "request.status": SessionFold._request_status,
    "presence": SessionFold._presence,
}
assert set(_HANDLERS) == STATE_KINDS, "a kind that changes state has a handler, and only those"
