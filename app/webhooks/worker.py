"""Delivering webhooks: every process runs a ``WebhookWorker``; an endpoint is served by
the one process that holds its lease.

The session's log is the outbox: an event is durable before anything is tried, and an
endpoint's ``cursor`` says how far down the log it is done. A pass finds endpoints behind
their session's log (and due), leases each with one conditional UPDATE (``leased_until_ms``
in the past, so two processes cannot both win), and delivers its events in seq order, one
at a time: an event is passed only once the endpoint answered 2xx, so delivery is at least
once and in order. A failure holds the endpoint back with exponential backoff
(``webhook_retry_base_s`` doubling up to ``webhook_retry_max_s``); an endpoint failing for
``webhook_give_up_s`` (2 h) is disabled with its reason. A process killed mid-delivery
holds its leases until they run out (``webhook_lease_s`` beyond the longest attempt,
``webhook_timeout_s``); then another process (or the same one, restarted) sends what was
owed: the receiver may see that one event twice, under the same ``webhook-id``.
"""

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.clock import iso, now_ms
from app.config import Settings
from app.db import Database
from app.log import get_event, read_events
from app.models import Event, Session, Webhook, WebhookDelivery
from app.models.event import event_public
from app.tasks import cancel_and_wait
from app.webhooks import http, signing
from app.webhooks.store import UNANSWERED

log = logging.getLogger(__name__)

Describe = Callable[[str], Awaitable[tuple[str, dict[str, Any]]]]  # -> (title, state)

EVENTS_PER_LEASE = 200
CONCURRENT = 8
DEFAULTS_EVERY_MS = 10_000
MIN_PASS_GAP_S = 0.05


@dataclass(frozen=True)
class Target:
    msg_id: str
    type: str
    seq: int
    event: Event
    level: int | None = None


def targets(w: Webhook, e: Event, alert: Event | None) -> list[Target]:
    """What an endpoint is owed for one event of the log."""
    out = []
    if e.kind in w.kinds:
        out.append(Target(f"{w.session_id}:{e.seq}", e.kind, e.seq, e))
    if (
        UNANSWERED in w.kinds
        and e.kind == "alert.escalated"
        and e.body.get("level") == w.level
        and alert is not None
    ):
        msg_id = f"{w.session_id}:unanswered:{alert.seq}:{w.level}"
        out.append(Target(msg_id, UNANSWERED, e.seq, alert, w.level))
    return out


REASONS = {"problem": "address a problem", "chat": "respond to chat", "break": "take a break"}


def summary(t: Target, title: str) -> str:
    """One line a person reads (Slack's and Teams' ``text``, ntfy's message)."""
    body = t.event.body
    text = body.get("text") if isinstance(body.get("text"), str) else ""
    if t.type == UNANSWERED:
        reason = REASONS.get(str(body.get("reason")), "stop")
        line = f"Stop alert not answered (level {t.level}) in “{title}”: {reason}"
        return f"{line} — {text}" if text else line
    detail = text or ", ".join(f"{k}: {v}" for k, v in body.items() if isinstance(v, str | int))
    return f"{title} · {t.type}" + (f": {detail}" if detail else "")


def backoff_ms(attempts: int, base_s: float, max_s: float) -> int:
    return int(min(base_s * 2 ** max(attempts - 1, 0), max_s) * 1000)


class WebhookWorker:
    def __init__(self, db: Database, settings: Settings, describe: Describe) -> None:
        self.db = db
        self.settings = settings
        self.describe = describe
        self.owner = "w_" + secrets.token_urlsafe(12)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._serving: dict[str, asyncio.Task[None]] = {}
        self._defaults_at = 0
        self.defaults = bool(settings.webhook_default_url)
        if self.defaults:
            try:
                signing.secret_key(settings.webhook_default_secret or "")
            except ValueError as exc:
                log.warning("BACKCHANNEL_WEBHOOK_DEFAULT_URL is set but not used: %s", exc)
                self.defaults = False

    # -- running ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        await cancel_and_wait(self._task, *self._serving.values())
        with contextlib.suppress(Exception):  # let another process take over at once
            await self._set(
                and_(col(Webhook.lease_owner) == self.owner), leased_until_ms=0, lease_owner=None
            )

    async def _run(self) -> None:
        poll_s = self.settings.webhook_poll_s
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), poll_s)
            self._wake.clear()
            try:
                await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: try again at the next pass
                log.warning("webhook pass failed (%s: %s)", type(exc).__name__, exc)
            await asyncio.sleep(MIN_PASS_GAP_S)

    async def run_pass(self) -> None:
        """Lease the endpoints that are owed something and due, and serve each."""
        now = now_ms()
        if self.defaults and now - self._defaults_at >= DEFAULTS_EVERY_MS:
            self._defaults_at = now
            await self._ensure_defaults()
        async with self.db.session() as s:
            rows = await s.execute(
                select(col(Webhook.id))
                .join(Session, col(Session.id) == col(Webhook.session_id))
                .where(
                    col(Webhook.disabled_ms).is_(None),
                    col(Webhook.next_attempt_ms) <= now,
                    col(Webhook.leased_until_ms) < now,
                    col(Session.last_seq) > col(Webhook.cursor),
                )
                .limit(50)
            )
            due = [r[0] for r in rows.all()]
        for webhook_id in due:
            if webhook_id in self._serving or len(self._serving) >= CONCURRENT:
                continue
            if await self._claim(webhook_id):
                task = asyncio.create_task(self._serve(webhook_id))
                self._serving[webhook_id] = task

    async def _claim(self, webhook_id: str) -> bool:
        now = now_ms()
        return await self._set(
            and_(
                col(Webhook.id) == webhook_id,
                col(Webhook.leased_until_ms) < now,
                col(Webhook.disabled_ms).is_(None),
            ),
            leased_until_ms=now + self._lease_ms(),
            lease_owner=self.owner,
        )

    def _lease_ms(self) -> int:
        # Longer than an attempt can take: a lease that ran out while its holder still
        # waits for an answer would let another process send the same event meanwhile.
        s = self.settings
        return int((s.webhook_lease_s + s.webhook_timeout_s) * 1000)

    async def _serve(self, webhook_id: str) -> None:
        try:
            await self._deliver_owed(webhook_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("webhook %s: delivery failed", webhook_id)
        finally:
            self._serving.pop(webhook_id, None)
            with contextlib.suppress(Exception):
                await self._set(
                    and_(col(Webhook.id) == webhook_id, col(Webhook.lease_owner) == self.owner),
                    leased_until_ms=0,
                    lease_owner=None,
                )
            self.wake()  # more may be owed (a batch's end), or due elsewhere

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """A write transaction, behind the process's write lock: on SQLite the group commit
        runs on the event loop and must not find the file locked by a transaction of ours
        that waits for the loop (app.db ``write_lock``)."""
        async with self.db.write_lock(""), self.db.session() as s:
            yield s
            await s.commit()

    async def _set(self, where: Any, **values: Any) -> bool:
        async with self._writing() as s:
            result = await s.execute(update(Webhook).where(where).values(**values))
        return bool(getattr(result, "rowcount", 0) >= 1)

    def _mine(self, webhook_id: str) -> Any:
        return and_(col(Webhook.id) == webhook_id, col(Webhook.lease_owner) == self.owner)

    # -- delivering -------------------------------------------------------------------------

    async def _deliver_owed(self, webhook_id: str) -> None:
        async with self.db.session() as s:
            w = await s.get(Webhook, webhook_id)
        if w is None or w.lease_owner != self.owner:
            return
        events = await read_events(self.db, w.session_id, after=w.cursor, limit=EVENTS_PER_LEASE)
        stored = w.cursor  # the cursor as the row has it
        for e in events:
            alert = None
            if UNANSWERED in w.kinds and e.kind == "alert.escalated":
                ref = e.body.get("ref")
                if isinstance(ref, int):
                    alert = await get_event(self.db, w.session_id, ref)
            owed = targets(w, e, alert)
            if not owed:
                continue
            if stored < e.seq - 1:
                # The events passed over first: a crash during this delivery must not
                # make them owed again.
                if not await self._set(self._mine(w.id), cursor=e.seq - 1):
                    return
                stored = e.seq - 1
            for target in owed:
                if not await self._attempt(w, target):
                    return
            renewed = await self._set(
                self._mine(w.id),
                cursor=e.seq,
                attempts=0,
                failing_since_ms=None,
                last_error=None,
                next_attempt_ms=0,
                leased_until_ms=now_ms() + self._lease_ms(),
            )
            if not renewed:
                return  # deleted, or the lease ran out and another process has it
            stored = e.seq
            w.attempts, w.failing_since_ms = 0, None
        if events and stored < events[-1].seq:
            await self._set(self._mine(w.id), cursor=events[-1].seq)

    async def _delivery(self, w: Webhook, t: Target) -> WebhookDelivery | None:
        """The delivery's row (made, with the body every attempt sends, on the first)."""
        async with self.db.session() as s:
            d = await s.get(WebhookDelivery, (w.id, t.msg_id))
        if d is not None:
            return d
        title, state = await self.describe(w.session_id)
        payload: dict[str, Any] = {
            "type": t.type,
            "session_id": w.session_id,
            "session_title": title,
            "text": summary(t, title)[:1000],
            "event": event_public(t.event),
            "state": state,
        }
        if t.level is not None:
            payload["level"] = t.level
        d = WebhookDelivery(
            webhook_id=w.id,
            msg_id=t.msg_id,
            seq=t.seq,
            type=t.type,
            status="pending",
            created_ms=now_ms(),
            payload=orjson.dumps(payload).decode(),
        )
        try:
            async with self._writing() as s:
                s.add(d)
        except IntegrityError:  # the endpoint was deleted meanwhile
            return None
        return d

    async def _attempt(self, w: Webhook, t: Target) -> bool:
        """One try of one delivery: True once it is delivered (now or before)."""
        d = await self._delivery(w, t)
        if d is None:
            return False
        if d.status == "delivered":
            return True
        body = d.payload.encode()
        now = now_ms()
        headers = signing.headers(w.secret, t.msg_id, now // 1000, body)
        status: int | None = None
        error: str | None = None
        try:
            status = await http.post(
                w.url,
                body,
                headers,
                # The deployment's own endpoint may be inside its network (an SMS gateway).
                allow_private=self.settings.webhook_allow_private or w.is_default,
                timeout_s=self.settings.webhook_timeout_s,
            )
            if not 200 <= status < 300:
                error = f"HTTP {status}" + (
                    " (redirects are not followed)" if 300 <= status < 400 else ""
                )
        except http.DeliveryError as exc:
            error = str(exc)[:400]
        now = now_ms()
        async with self._writing() as s:
            values: dict[str, Any] = {
                "attempts": col(WebhookDelivery.attempts) + 1,
                "response_status": status,
                "last_attempt_ms": now,
                "last_error": error,
            }
            if error is None:
                values.update(status="delivered", delivered_ms=now)
            await s.execute(
                update(WebhookDelivery)
                .where(
                    col(WebhookDelivery.webhook_id) == w.id,
                    col(WebhookDelivery.msg_id) == t.msg_id,
                )
                .values(**values)
            )
        if error is None:
            return True
        await self._failed(w, t, error, now)
        return False

    async def _failed(self, w: Webhook, t: Target, error: str, now: int) -> None:
        s = self.settings
        attempts = w.attempts + 1
        failing_since = w.failing_since_ms if w.failing_since_ms is not None else now
        w.attempts, w.failing_since_ms = attempts, failing_since
        if now - failing_since >= s.webhook_give_up_s * 1000:
            reason = (
                f"disabled after {attempts} failed attempts since {iso(failing_since)}; "
                f"the last: {error}"
            )[:500]
            log.warning("webhook %s of %s disabled: %s", w.id, w.session_id, error)
            await self._set(
                self._mine(w.id),
                attempts=attempts,
                last_error=error,
                disabled_ms=now,
                disabled_reason=reason,
            )
            async with self._writing() as db:
                await db.execute(
                    update(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.webhook_id) == w.id,
                        col(WebhookDelivery.msg_id) == t.msg_id,
                    )
                    .values(status="failed")
                )
            return
        wait = backoff_ms(attempts, s.webhook_retry_base_s, s.webhook_retry_max_s)
        await self._set(
            self._mine(w.id),
            attempts=attempts,
            failing_since_ms=failing_since,
            last_error=error,
            next_attempt_ms=now + wait,
        )

    # -- the deployment's endpoint ----------------------------------------------------------

    async def _ensure_defaults(self) -> None:
        """Every open session has a row for BACKCHANNEL_WEBHOOK_DEFAULT_URL (alert.unanswered
        at BACKCHANNEL_WEBHOOK_DEFAULT_LEVEL); rows follow the settings."""
        st = self.settings
        url, secret = st.webhook_default_url or "", st.webhook_default_secret or ""
        async with self._writing() as s:
            await s.execute(
                update(Webhook)
                .where(
                    col(Webhook.is_default).is_(True),
                    (col(Webhook.url) != url)
                    | (col(Webhook.secret) != secret)
                    | (col(Webhook.level) != st.webhook_default_level),
                )
                .values(url=url, secret=secret, level=st.webhook_default_level)
            )
            missing = await s.execute(
                select(col(Session.id))
                .outerjoin(
                    Webhook,
                    and_(
                        col(Webhook.session_id) == col(Session.id),
                        col(Webhook.is_default).is_(True),
                    ),
                )
                .where(col(Session.ended_ms).is_(None), col(Webhook.id).is_(None))
                .limit(500)
            )
            ids = [r[0] for r in missing.all()]
        for session_id in ids:
            with contextlib.suppress(IntegrityError):  # another process made it first
                async with self._writing() as s:
                    s.add(
                        Webhook(
                            id="whd_" + session_id,
                            session_id=session_id,
                            url=url,
                            secret=secret,
                            kinds=[UNANSWERED],
                            level=st.webhook_default_level,
                            is_default=True,
                            created_ms=now_ms(),
                            cursor=0,
                        )
                    )
