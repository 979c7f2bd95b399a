"""One session in memory: its settings, participants and folds, kept up to date event by
event — so a connect, a ``GET /session``, a report or a status costs next to nothing.

``SessionModels`` holds them: the hub keeps the model of every session with a socket in
this process (fed in seq order from the broker, gaps filled from the log); other sessions
(an HTTP client, the scheduler, a debrief after class) are kept in a small LRU cache and
caught up from the tail of the log on each use. A model is built from the whole log only
when neither has it.
"""

import asyncio
import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from app.clock import iso
from app.db import Database
from app.delivery import message_status
from app.fold import LoggedEvent, SessionFold
from app.locks import KeyedLocks
from app.log import read_events
from app.models import Participant, Session
from app.report import ReportFold, build_report
from app.session_rows import SessionRowReader
from app.sessions import effective_settings, get_session, list_participants, session_public

READ_PAGE = 2000


@dataclass
class SessionModel:
    session: Session
    participants: dict[str, Participant]
    state: SessionFold = field(default_factory=SessionFold)
    report: ReportFold = field(default_factory=ReportFold)
    # participant_id -> (how many presence events they have, does the last say online)
    presence: dict[str, tuple[int, bool]] = field(default_factory=dict)
    _state_public: dict[str, Any] | None = None
    _session_public: dict[str, Any] | None = None  # what the session's row alone gives
    _reports: dict[bool, tuple[int, dict[str, Any], bytes | None]] = field(default_factory=dict)
    _meta_changes: int = 0  # a report built while the meta changed is not kept

    @property
    def last_seq(self) -> int:
        return self.state.last_seq

    def apply(self, e: LoggedEvent) -> bool:
        """Fold the next event; True if the ``state`` changed (a ``state`` frame is due)."""
        if e.seq != self.state.last_seq + 1:
            raise ValueError(f"event {e.seq} applied after {self.state.last_seq}")
        changed = self.state.apply(e)
        self.report.apply(e, self.state)
        if e.kind == "presence":
            pid = str(e.body.get("participant_id"))
            self.presence[pid] = (self.presence.get(pid, (0, False))[0] + 1, _online(e.body))
        if changed:
            self._state_public = None
        return changed

    def set_meta(self, session: Session, participants: list[Participant]) -> bool:
        """Title, agenda, roster, settings, playbook and participants as the database has them;
        True if anything the views show changed."""
        before = _meta(self.session, self.participants.values())
        self.session = session
        self.participants = {p.id: p for p in participants}
        self._session_public = None
        if before == _meta(session, participants):
            return False
        self._state_public = None
        self._reports.clear()
        self._meta_changes += 1
        return True

    def know(self, participant: Participant) -> None:
        """A participant this model may not have heard of yet (added on another process)."""
        if participant.id not in self.participants:
            self.participants[participant.id] = participant
            self._state_public = None

    def segment(self, index: int) -> dict[str, Any] | None:
        """The agenda's segment ``index`` ({title, minutes}), if there is one."""
        agenda = self.session.agenda
        return agenda[index] if 0 <= index < len(agenda) else None

    # -- views ---------------------------------------------------------------------------

    def session_public(self) -> dict[str, Any]:
        # The row's part is validated once (settings with their defaults), not per welcome.
        if self._session_public is None:
            self._session_public = session_public(self.session)
        public = dict(self._session_public)
        f = self.state
        public.update(
            status=f.status,
            started_at=iso(f.live_ms),
            ended_at=iso(f.ended_ms),
            last_seq=f.last_seq,
        )
        return public

    def state_public(self) -> dict[str, Any]:
        """The ``state`` object of docs/protocol.md (cached until the state changes)."""
        if self._state_public is None:
            self._state_public = _state_public(self)
        return self._state_public

    def view(self) -> dict[str, Any]:
        return {"session": self.session_public(), "state": self.state_public()}

    def report_public(self, *, with_notes: bool = True) -> dict[str, Any]:
        return self._report(with_notes)[0]

    def report_json(self, *, with_notes: bool = True) -> bytes:
        """The report as JSON, encoded once per seq (a debrief page polls it)."""
        encoded = self.cached_report_json(with_notes=with_notes)
        if encoded is None:
            meta_changes = self._meta_changes
            report, _ = self._report(with_notes)
            encoded = orjson.dumps(report)
            if meta_changes == self._meta_changes:
                self._reports[with_notes] = (self.last_seq, report, encoded)
        return encoded

    def cached_report_json(self, *, with_notes: bool = True) -> bytes | None:
        """The report as JSON if it was encoded at this seq already."""
        cached = self._reports.get(with_notes)
        return cached[2] if cached is not None and cached[0] == self.last_seq else None

    def _report(self, with_notes: bool) -> tuple[dict[str, Any], bytes | None]:
        cached = self._reports.get(with_notes)
        if cached is not None and cached[0] == self.last_seq:
            return cached[1], cached[2]
        # Read in one step each (list() of a dict's items holds the GIL throughout): the
        # report may be built on a worker thread (SessionModels.report_json).
        meta_changes = self._meta_changes
        people = {pid: (p.role, p.name) for pid, p in list(self.participants.items())}
        s = self.session
        report = build_report(
            s.agenda, s.roster, people, self.state, self.report, with_notes=with_notes
        )
        if meta_changes == self._meta_changes:
            self._reports[with_notes] = (self.last_seq, report, None)
        return report, None

    def status_of(self, seq: int, kind: str, at_ms: int) -> dict[str, Any]:
        facilitators = {pid for pid, p in self.participants.items() if p.role == "facilitator"}
        row = self.report.messages.get(seq)
        return message_status(seq, kind, at_ms, row, self.report.presence, facilitators)


def _meta(s: Session, participants: Iterable[Participant]) -> tuple[Any, ...]:
    people = tuple((p.id, p.role, p.name) for p in participants)
    return (s.title, s.planned_start, s.agenda, s.roster, s.settings, s.presets, people)


def _segment_title(agenda: list[dict[str, Any]], index: int) -> str:
    return str(agenda[index]["title"]) if 0 <= index < len(agenda) else f"segment {index + 1}"


def _planned(agenda: list[dict[str, Any]], index: int) -> float:
    return float(agenda[index]["minutes"]) if 0 <= index < len(agenda) else 0.0


def _state_public(m: SessionModel) -> dict[str, Any]:
    f = m.state
    agenda = m.session.agenda
    segment = None
    if f.current is not None:
        current = f.current
        planned = _planned(agenda, current.index)
        segment = {
            "index": current.index,
            "title": _segment_title(agenda, current.index),
            "planned_minutes": planned,
            "extended_minutes": current.extended_minutes,
            "started_at": iso(current.started_ms),
            "planned_end": iso(current.planned_end_ms(planned)),
        }
    segments = []
    for index, seg in enumerate(agenda):
        run = f.runs.get(index)
        started = run is not None and run.started_ms > 0
        state = "pending"
        if f.current is not None and f.current.index == index:
            state = "running"
        elif started:
            state = "done"
        segments.append(
            {
                "index": index,
                "title": seg["title"],
                "planned_minutes": float(seg["minutes"]),
                "extended_minutes": run.extended_minutes if run is not None else 0,
                "state": state,
                "started_at": iso(run.started_ms) if run is not None and started else None,
                "ended_at": iso(run.ended_ms) if run is not None else None,
            }
        )
    return {
        "status": f.status,
        "started_at": iso(f.started_ms),
        "ended_at": iso(f.ended_ms),
        "segment": segment,
        "next_segment": _next_segment(segments, f),
        "segments": segments,
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
        "open_requests": [
            {
                "seq": r.seq,
                "action": r.action,
                "text": r.text,
                "at": iso(r.at_ms),
                "by": r.by,
                "status": r.status,
                "status_text": r.status_text,
            }
            for r in sorted(f.requests.values(), key=lambda r: r.seq)
        ],
        "online": [
            {
                "participant_id": pid,
                "role": m.participants[pid].role,
                "name": m.participants[pid].name,
                "since": iso(ms),
            }
            for pid, ms in f.online.items()
            if pid in m.participants
        ],
        "settings": effective_settings(m.session),
        "last_seq": f.last_seq,
    }


def _next_segment(segments: list[dict[str, Any]], f: SessionFold) -> dict[str, Any] | None:
    """The segment after the running one; with none running, the first not yet started."""
    if f.ended_ms is not None:
        return None
    if f.current is not None:
        candidates = segments[f.current.index + 1 :]
    else:
        candidates = [s for s in segments if s["state"] == "pending"]
    if not candidates:
        return None
    nxt = candidates[0]
    return {k: nxt[k] for k in ("index", "title", "planned_minutes")}


def _online(body: dict[str, Any]) -> bool:
    return body.get("status") == "online"


def fold_events(
    session: Session, participants: list[Participant], events: Iterable[LoggedEvent]
) -> SessionModel:
    """A model folded from these events alone (the export's fallback, tests)."""
    model = SessionModel(session, {p.id: p for p in participants})
    for e in events:
        model.apply(e)
    return model


class SessionModels:
    """The models this process holds: those of its channels, and an LRU of the others."""

    def __init__(self, db: Database, *, keep: int = 256) -> None:
        self.db = db
        self.keep = keep
        self.held: dict[str, SessionModel] = {}
        self._cache: collections.OrderedDict[str, SessionModel] = collections.OrderedDict()
        self._locks: KeyedLocks[str] = KeyedLocks()
        self._rows = SessionRowReader(db)

    async def current(self, session_id: str) -> SessionModel:
        """The model as of (at least) the last commit this process knows of.

        A held model is fed by its channel; a cached one reads the log's tail and the
        session's row again (both cheap) so it is as fresh as the database.
        """
        held = self.held.get(session_id)
        if held is not None:
            return held
        async with self._locks.hold(session_id):
            held = self.held.get(session_id)
            if held is not None:
                return held
            model = self._cache.get(session_id)
            if model is None:
                model = await self._build(session_id)
            else:
                await self._refresh(model)
            self._remember(session_id, model)
            return model

    async def report_json(
        self, session_id: str, *, with_notes: bool = True
    ) -> tuple[SessionModel, bytes]:
        """The model and its report as JSON, as of (at least) the last commit known here.

        A report not encoded at this seq yet (a 20,000-event session's takes tens of ms) is
        built on a worker thread when no channel of this process feeds the model: it is
        changed only under the session's lock, which the build holds. A model a channel
        feeds (on the loop, event by event) builds its report on the loop.
        """
        model = await self.current(session_id)
        encoded = model.cached_report_json(with_notes=with_notes)
        if encoded is not None or session_id in self.held:
            return model, encoded or model.report_json(with_notes=with_notes)
        async with self._locks.hold(session_id):
            if self._cache.get(session_id) is not model:  # a channel took it, or it went
                return model, model.report_json(with_notes=with_notes)
            encoded = await asyncio.to_thread(model.report_json, with_notes=with_notes)
            return model, encoded

    async def hold(self, session_id: str) -> SessionModel:
        """A channel opens: take the model (cached and caught up, or built) and keep it."""
        async with self._locks.hold(session_id):
            model = self._cache.pop(session_id, None)
            if model is None:
                model = await self._build(session_id)
            else:
                await self._refresh(model)
            self.held[session_id] = model
            return model

    def release(self, session_id: str) -> None:
        """A channel closed: its model goes to the cache (a reconnect finds it there)."""
        model = self.held.pop(session_id, None)
        if model is not None:
            self._remember(session_id, model)

    def forget(self, session_id: str) -> None:
        """The session was deleted."""
        self.held.pop(session_id, None)
        self._cache.pop(session_id, None)

    async def refresh_meta(self, session_id: str) -> bool:
        """Settings, agenda or participants changed: re-read them for a model we have;
        True if what the views show changed."""
        model = self.held.get(session_id) or self._cache.get(session_id)
        if model is None:
            return False
        session = await get_session(self.db, session_id)
        return model.set_meta(session, await list_participants(self.db, session_id))

    # -- inside --------------------------------------------------------------------------

    def _remember(self, session_id: str, model: SessionModel) -> None:
        self._cache[session_id] = model
        self._cache.move_to_end(session_id)
        while len(self._cache) > self.keep:
            self._cache.popitem(last=False)

    async def _build(self, session_id: str) -> SessionModel:
        """From the session's rows (read together with other sessions' that are built at
        the same moment, as after a restart)."""
        rows = await self._rows.read(session_id)
        model = SessionModel(rows.session, {p.id: p for p in rows.participants})
        for e in rows.events or ():
            model.apply(e)
        if rows.events is None:
            await self._catch_up(model)
        return model

    async def _refresh(self, model: SessionModel) -> None:
        """Cheap: the session's row and participants (read with other sessions' asked for
        at the same moment), then only the events not folded yet."""
        rows = await self._rows.read(model.session.id, with_log=False)
        model.set_meta(rows.session, rows.participants)
        if rows.session.last_seq != model.last_seq:
            await self._catch_up(model)

    async def _catch_up(self, model: SessionModel) -> None:
        while True:
            page = await read_events(
                self.db, model.session.id, after=model.last_seq, limit=READ_PAGE
            )
            for e in page:
                model.apply(e)
            if len(page) < READ_PAGE:
                return
