"""The timekeeper: automatic timing prompts, stop-alert escalation and snooze resurfacing.

One asyncio task per process sleeps until the next due time of any session it watches.
What is due is worked out from the session's model (``app.session_model``: folded from the
log, kept up to date by the hub, caught up from the log's tail for sessions with no socket
here), and every event it writes has an id derived from the log —
``auto:<segment>:<run start seq>:<threshold>``,
``esc:<alert seq>:<level>``, ``resurface:<ack seq>`` — with a body that depends on nothing
else, so a restart or a second process writing the same event is an idempotent repeat
and each prompt and level lands in the log exactly once.

Wake-ups: what its ``SessionFeed`` tells of (``app.session_feed``: events this process
commits or receives, and those of other processes in the sessions it watches, settings
changes), and a periodic rescan of live sessions, which also finds sessions that went live
in another process. It knows no hub and no broker: the realtime layer feeds it.
"""

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.clock import now_ms
from app.db import Database
from app.errors import AppError, NotFound
from app.log import SYSTEM_AUTHOR, append_event
from app.models import Session
from app.models.kinds import kinds_where
from app.session_feed import SessionFeed
from app.session_model import SessionModel
from app.sessions import effective_settings
from app.tasks import cancel_and_wait

log = logging.getLogger(__name__)

MAX_LEVEL = 5
# Kinds whose arrival can change what is due (receipts, requests and presence move no timer).
WAKE_KINDS = kinds_where("wakes_scheduler")


@dataclass(frozen=True)
class Due:
    """One system event to write at ``at_ms``."""

    at_ms: int
    kind: str
    body: dict[str, Any]
    event_id: str


def prompt_text(title: str, minutes_left: int) -> str:
    if minutes_left <= 0:
        return f"Time is up for {title}"
    return f"{minutes_left} min left in {title}"


def due_events(model: SessionModel) -> list[Due]:
    """Everything the log says is still to be written, each with the time it is due."""
    f = model.state
    if f.ended_ms is not None:
        return []
    session = model.session
    settings = effective_settings(session)
    out: list[Due] = []
    run = f.current
    if run is not None and run.ended_ms is None and run.started_ms:
        segment = model.segment(run.index)
        planned = float(segment["minutes"]) if segment else 0.0
        total = planned + run.extended_minutes
        end_ms = run.planned_end_ms(planned)
        title = (str(segment["title"]) if segment else f"segment {run.index + 1}")[:400]
        for threshold in settings["auto_prompts"]:
            # "5 min left" in a 5-minute segment would arrive with its start: skip it.
            if threshold > 0 and threshold >= total:
                continue
            event_id = f"auto:{run.index}:{run.start_seq}:{threshold}"
            if event_id in f.system_ids:
                continue
            body = {
                "text": prompt_text(title, threshold),
                "minutes_left": threshold,
                "segment": run.index,
            }
            out.append(Due(end_ms - threshold * 60_000, "prompt.time", body, event_id))
    step_ms = int(settings["escalate_after_s"]) * 1000
    for alert in f.alerts.values():
        if alert.seq in f.snoozes:
            continue  # paused; it resurfaces below, then escalation starts over
        prefix = f"esc:{alert.seq}:"
        if alert.resurfaced_by is not None:
            prefix += f"{alert.resurfaced_by}:"
        for level in range(1, MAX_LEVEL + 1):
            event_id = f"{prefix}{level}"
            if event_id in f.system_ids:
                continue
            body = {"ref": alert.seq, "level": level}
            out.append(
                Due(alert.escalate_from_ms + level * step_ms, "alert.escalated", body, event_id)
            )
    for snooze in f.snoozes.values():
        event_id = f"resurface:{snooze.ack_seq}"
        if event_id not in f.system_ids:
            body = {"ref": snooze.ref, "ack": snooze.ack_seq}
            out.append(Due(snooze.until_ms, "alert.resurface", body, event_id))
    out.sort(key=lambda d: (d.at_ms, d.event_id))
    return out


class Scheduler:
    def __init__(self, db: Database, feed: SessionFeed, *, rescan_s: float = 30.0) -> None:
        self.db = db
        self.feed = feed
        self.rescan_s = rescan_s
        self.plans: dict[str, list[Due]] = {}  # session id -> what is due, soonest first
        self._dirty: set[str] = set()
        self._seen: dict[str, tuple[int, Any]] = {}  # session id -> (last_seq, settings) planned
        # (session, event id) the log already holds or refused: never tried again here.
        self._settled: set[tuple[str, str]] = set()
        self._rescan = True
        self._wake = asyncio.Event()
        self._pokes: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None
        self.fired = 0  # events this process wrote (tests and logs)

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Listen to the feed and start the timer task."""
        self.feed.listen(self.notice)
        self._task = asyncio.create_task(self._run(), name="scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        self.plans.clear()
        await self.feed.close()
        for fut in self._pokes:
            if not fut.done():
                fut.cancel()

    # -- wake-ups -----------------------------------------------------------------------

    def notice(self, session_id: str, kind: str | None) -> None:
        """An event passed: recompute that session if the kind moves a timer (``None``:
        anything may have changed)."""
        if kind is None or kind in WAKE_KINDS:
            self._dirty.add(session_id)
            self._wake.set()

    async def poke(self) -> None:
        """Rescan, fire whatever is due now, and return when that pass is over (test hook)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pokes.append(fut)
        self._rescan = True
        self._wake.set()
        await asyncio.wait_for(fut, 30)

    # -- the loop -----------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_rescan = loop.time()
        while True:
            pokes, self._pokes = self._pokes, []
            self._wake.clear()
            retry = False
            try:
                if self._rescan or loop.time() >= next_rescan:
                    self._rescan = False
                    next_rescan = loop.time() + self.rescan_s
                    await self._scan()
                retry = not await self._pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed")
                retry = True
            for fut in pokes:
                if not fut.done():
                    fut.set_result(None)
            timeout = max(0.0, next_rescan - loop.time())
            soonest = min((p[0].at_ms for p in self.plans.values() if p), default=None)
            if soonest is not None:
                timeout = min(timeout, max(0.0, (soonest - now_ms()) / 1000))
            if self._dirty or self._pokes:
                timeout = 0.0
            if retry:  # the database or broker is failing: do not spin
                timeout = max(timeout, 1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _scan(self) -> None:
        """Every session that may have timers: not ended, and with something in its log."""
        async with self.db.session() as s:
            rows = await s.execute(
                select(col(Session.id), col(Session.last_seq), col(Session.settings)).where(
                    col(Session.status) != "ended", col(Session.last_seq) > 0
                )
            )
            found = {sid: (seq, settings) for sid, seq, settings in rows.all()}
        for sid in list(self.plans):
            if sid not in found:
                await self._unwatch(sid)
        for sid in list(self._seen):
            if sid not in found:
                del self._seen[sid]
        self._settled = {key for key in self._settled if key[0] in found}
        # Watched sessions resync (a broker may drop messages); the others only if changed.
        self._dirty |= {
            sid for sid, mark in found.items() if sid in self.plans or self._changed(sid, mark)
        }

    def _changed(self, session_id: str, mark: tuple[int, Any]) -> bool:
        """Whether a session the scan found may have new timers since it was planned.

        With the in-process broker every event passes this process's publish, and
        ``notice`` already marked the sessions whose timers an event can move: a log that
        only grew is no reason to replan (at 1,000 busy sessions that replan was a
        two-second stall every rescan). With a shared broker other processes write too.
        """
        seen = self._seen.get(session_id)
        if seen is None:
            return True
        if self.feed.single_process:
            return bool(seen[1] != mark[1])
        return seen != mark

    async def _pass(self) -> bool:
        """Recompute dirty sessions and fire what is due; False if something failed."""
        ok = True
        for _ in range(1000):  # a bound, so a bug cannot turn this into a busy loop
            now = now_ms()
            todo = set(self._dirty)
            todo.update(sid for sid, plan in self.plans.items() if plan and plan[0].at_ms <= now)
            if not todo:
                return ok
            self._dirty -= todo
            for sid in sorted(todo):
                try:
                    await self._refresh_and_fire(sid)
                except Exception:
                    log.exception("scheduler failed for session %s", sid)
                    ok = False
            if not ok:
                return ok
        log.error("scheduler pass did not settle; backing off")
        return False

    async def _refresh_and_fire(self, session_id: str) -> None:
        plan = await self._plan(session_id)
        now = now_ms()
        for due in plan:
            if due.at_ms > now:
                break
            await self._fire(session_id, due)
        if any(d.at_ms <= now for d in plan):
            self._dirty.add(session_id)  # what is due next depends on what was just written

    async def _plan(self, session_id: str) -> list[Due]:
        try:
            model = await self.feed.models.current(session_id)
        except NotFound:
            self._seen.pop(session_id, None)
            await self._unwatch(session_id)
            return []
        self._seen[session_id] = (model.last_seq, model.session.settings)
        plan = [d for d in due_events(model) if (session_id, d.event_id) not in self._settled]
        if plan:
            self.plans[session_id] = plan
            await self._watch(session_id)
        else:
            await self._unwatch(session_id)
        return plan

    async def _fire(self, session_id: str, due: Due) -> None:
        try:
            appended = await append_event(
                self.db,
                session_id,
                SYSTEM_AUTHOR,
                due.kind,
                due.body,
                due.event_id,
                after_commit=self.feed.publish,
            )
        except AppError as exc:
            # Someone else wrote it differently (renamed segment) or the session is gone.
            log.warning("scheduler could not write %s in %s: %s", due.event_id, session_id, exc)
            self._settled.add((session_id, due.event_id))
            return
        if appended.created:
            self.fired += 1
        else:
            # Already logged (another process, or a client that used the same id): done.
            self._settled.add((session_id, due.event_id))

    async def _watch(self, session_id: str) -> None:
        await self.feed.watch(session_id)

    async def _unwatch(self, session_id: str) -> None:
        self.plans.pop(session_id, None)
        await self.feed.unwatch(session_id)
