"""Connections per session: subscribe first, replay from the log, then live.

Every process keeps one broker subscription per session that has local sockets, and that
session's model (``app.session_model``), folded from every event the channel passes on.
The channel tracks the highest contiguous seq it has passed on; a message that skips ahead
(a lost or reordered publish) makes it read the missing seqs from the log, so sockets and
the model see every event once and in order whatever the broker did. With a shared broker
a periodic check of each channel's last seq against the log heals a publish that never
arrived, without waiting for a later event. Links are re-checked the same way, with any
broker (``app.realtime.link_checks``): a lost rotation message stops nothing for long.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import select
from sqlmodel import col

from app.clock import clock
from app.db import Database
from app.fold import PlainEvent
from app.log import read_events
from app.models import Event, Participant, Session
from app.models.event import event_public
from app.realtime.broker import Broker
from app.realtime.channel import Channel, channel_name, control_message, event_message
from app.realtime.connection import Connection
from app.realtime.known_tokens import KnownTokens
from app.realtime.link_checks import LinkChecks
from app.realtime.outbox import Outbox
from app.realtime.protocol import (
    CLOSE_SESSION_GONE,
    CLOSE_UNAUTHORIZED,
    dumps,
    event_frame,
)
from app.session_model import SessionModel, SessionModels

log = logging.getLogger(__name__)

REPLAY_PAGE = 500

OPEN_ATTEMPTS = 3

Listener = Callable[[str, Event | PlainEvent], None]

Welcome = Callable[[SessionModel], str]


class Hub:
    def __init__(
        self,
        db: Database,
        broker: Broker,
        *,
        queue_max: int = 1000,
        models: SessionModels | None = None,
        heal_every_s: float = 0.5,
        linger_s: float = 10.0,
        trust_s: float = 2.0,
        link_ttl_days: float | None = None,
    ) -> None:
        self.db = db
        self.broker = broker
        self.queue_max = queue_max
        self.models = models or SessionModels(db)
        self.tokens = KnownTokens()
        self.trust_s = trust_s
        self.links = LinkChecks(self, trust_s=trust_s, link_ttl_days=link_ttl_days)
        self.channels: dict[str, Channel] = {}
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self.heal_every_s = heal_every_s
        self.linger_s = linger_s
        self._healer: asyncio.Task[None] | None = None
        self.outbox = Outbox(broker)

    # -- listeners (the scheduler) --------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """Called with every event this process commits or receives, in seq order per
        session (each at most once per channel; events of sessions with no channel here
        only when this process wrote them)."""
        self._listeners.append(listener)

    def tell_listeners(self, session_id: str, event: Event | PlainEvent) -> None:
        for listener in self._listeners:
            try:
                listener(session_id, event)
            except Exception:
                log.exception("listener failed for %s", session_id)

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Hand a committed event to local sockets at once and to other processes."""
        frame = event_frame(event_public(event))
        channel = self.channels.get(event.session_id)
        if channel is not None:
            channel.offer(event.seq, event.kind, frame, event)
        else:
            self.tell_listeners(event.session_id, event)
        if not self.broker.single_process:
            self.outbox.put(
                channel_name(event.session_id), event_message(event.seq, event.kind, frame)
            )

    async def publish_control(self, session_id: str, control: dict[str, Any]) -> None:
        self.on_control(session_id, dumps(control))
        with contextlib.suppress(Exception):
            await self.broker.publish(channel_name(session_id), control_message(control))

    def on_control(self, session_id: str, payload: str) -> None:
        try:
            control = orjson.loads(payload)
        except orjson.JSONDecodeError:
            log.warning("malformed control message on %s", session_id)
            return
        kind = control.get("type") if isinstance(control, dict) else None
        channel = self.channels.get(session_id)
        if kind == "deleted":
            self.session_deleted(session_id)
        elif kind == "session":
            self._spawn(self._refresh_meta(session_id))
        elif kind == "revoked":
            self.tokens.forget_participant(str(control.get("participant_id")))
            # A revoked or rotated link: its sockets close with 4401 on every process. A
            # rotation names the old token by a prefix of its hash; sockets already on the
            # new token stay.
            if channel is not None:
                now = asyncio.get_running_loop().time()
                channel.revocations = [r for r in channel.revocations if now - r[1] < 60]
                channel.revocations.append((str(control.get("participant_id")), now))
            for conn in list(channel.conns) if channel is not None else []:
                p = conn.participant
                if p.id == control.get("participant_id") and p.token_hash.startswith(
                    str(control.get("token", ""))
                ):
                    # The reason tells the page which it was (docs/protocol.md).
                    why = "link_replaced" if control.get("token") else "link_revoked"
                    conn.close(CLOSE_UNAUTHORIZED, why)

    def session_deleted(self, session_id: str) -> None:
        """The session is gone: its sockets close with 4404, nothing of it is kept."""
        self.models.forget(session_id)
        self.tokens.forget_session(session_id)
        channel = self.channels.get(session_id)
        if channel is not None:
            for conn in list(channel.conns):
                conn.close(CLOSE_SESSION_GONE)
            if not channel.conns:
                self._spawn(self._close_channel(channel))

    async def meta_changed(self, session_id: str) -> None:
        """This process changed the session's settings, agenda, roster, playbook or
        participants: refresh
        the model here (and send the new state), then tell the other processes."""
        await self._refresh_meta(session_id)
        with contextlib.suppress(Exception):
            control = control_message({"type": "session", "changed": True})
            await self.broker.publish(channel_name(session_id), control)

    async def _refresh_meta(self, session_id: str) -> None:
        try:
            changed = await self.models.refresh_meta(session_id)
        except Exception as exc:  # deleted meanwhile, or the database is away
            log.warning("could not refresh %s (%s)", session_id, type(exc).__name__)
            return
        channel = self.channels.get(session_id)
        if changed and channel is not None:
            channel.send_state()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- channels -----------------------------------------------------------------------

    async def _channel(self, session_id: str) -> Channel:
        for _ in range(OPEN_ATTEMPTS):
            channel = self.channels.get(session_id)
            if channel is None:
                return await self._open(session_id)
            await channel.ready.wait()
            if not channel.failed:
                return channel
            # Its opener failed: try again (it took the channel out of the table).
        return await self._open(session_id)

    async def _open(self, session_id: str) -> Channel:
        channel = Channel(self, session_id)
        self.channels[session_id] = channel
        try:
            # Subscribe first, then fold the log: nothing falls between the two.
            await self.broker.subscribe(channel_name(session_id), channel.on_message)
            channel.model = await self.models.hold(session_id)
        except BaseException:
            channel.failed = True
            if self.channels.get(session_id) is channel:
                del self.channels[session_id]
            self.models.release(session_id)
            channel.ready.set()
            with contextlib.suppress(Exception):
                await self.broker.unsubscribe(channel_name(session_id), channel.on_message)
            raise
        channel.ready_at = asyncio.get_running_loop().time()
        channel.ready.set()
        channel._drain_pending()
        if channel.pending:
            channel._catch_up()
        self._ensure_healer()
        self.links.ensure()
        return channel

    async def _release(self, channel: Channel) -> None:
        """The channel's last socket left. It keeps listening (and its model fed) for
        ``linger_s``: a socket that comes back, as after a network cut, then finds it open
        and costs no subscribe and no read of the database."""
        if channel.conns or self.channels.get(channel.session_id) is not channel:
            return
        if self.linger_s <= 0:
            await self._close_channel(channel)
            return
        if channel.linger is None:
            channel.linger = clock.call_later(
                self.linger_s, lambda: self._spawn(self._close_channel(channel))
            )

    async def _close_channel(self, channel: Channel) -> None:
        channel.stop_lingering()
        if channel.conns or self.channels.get(channel.session_id) is not channel:
            return
        del self.channels[channel.session_id]
        self.models.release(channel.session_id)
        if channel.catching_up is not None:
            channel.catching_up.cancel()
        with contextlib.suppress(Exception):
            await self.broker.unsubscribe(channel_name(channel.session_id), channel.on_message)

    # -- healing --------------------------------------------------------------------------

    def _ensure_healer(self) -> None:
        if self.broker.single_process or self.heal_every_s <= 0:
            return  # every event passes this process's publish: nothing can be missed
        if self._healer is None or self._healer.done():
            self._healer = asyncio.create_task(self._heal_forever(), name="hub-healer")

    async def _heal_forever(self) -> None:
        while self.channels:
            await asyncio.sleep(self.heal_every_s)
            try:
                await self.heal()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("channel check failed (%s: %s)", type(exc).__name__, exc)

    async def heal(self) -> None:
        """Catch up every channel that has been behind the log since the last check (a
        publish that never arrived); one that is behind only now is left to the broker."""
        ids = [sid for sid, ch in self.channels.items() if ch.ready.is_set() and not ch.failed]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            async with self.db.session() as s:
                rows = await s.execute(
                    select(col(Session.id), col(Session.last_seq)).where(col(Session.id).in_(chunk))
                )
                logged = dict(rows.tuples().all())
            for sid in chunk:
                channel = self.channels.get(sid)
                if channel is None or sid not in logged:
                    continue
                earlier, channel.behind_since_check = channel.behind_since_check, logged[sid]
                if earlier is not None and channel.last_seq < earlier:
                    channel._catch_up()

    # -- sockets ------------------------------------------------------------------------

    async def attach(self, conn: Connection, since: int, welcome: Welcome) -> None:
        """Register the socket and send its welcome (the state as of seq N), then replay
        ``since < seq <= N`` from the log; live after that, each event with its state."""
        channel = await self._channel(conn.session_id)
        channel.stop_lingering()
        model = channel.model
        assert model is not None
        model.know(conn.participant)
        # In one step with no await: every later event reaches this socket live.
        channel.conns.add(conn)
        upto = model.last_seq
        conn.send(welcome(model))
        conn.last_sent = since
        recent = channel.recent
        if since < upto and recent and recent[0][0] <= since + 1 and recent[-1][0] == upto:
            for seq, kind, frame in recent:
                if seq > since:
                    conn.replayed_frame(seq, kind, frame)
        while conn.last_sent < upto and not conn.closed:
            await conn.room()
            page = await read_events(
                self.db, conn.session_id, after=conn.last_sent, limit=REPLAY_PAGE
            )
            for e in page:
                if e.seq > upto:
                    break
                conn.replayed(e)
            if len(page) < REPLAY_PAGE:
                break
        conn.end_replay()

    def known_participant(self, token_hash: str) -> Participant | None:
        """The participant whose token this is, if this process knows it is still good
        without asking the database (see ``app.realtime.known_tokens``)."""
        known = self.tokens.get(token_hash)
        if known is None:
            return None
        if asyncio.get_running_loop().time() - known.at > self.trust_s:
            return None  # not re-checked for too long: ask the database
        p = known.participant
        channel = self.channels.get(p.session_id)
        if channel is None or channel.ready_at is None or channel.ready_at > known.at:
            return None
        if channel.heard_revocation(p.id, known.at):
            self.tokens.forget(token_hash)
            return None
        return p

    def vouch(self, participant: Participant, at: float) -> None:
        """The participant's token was still good at loop time ``at``, with the session's
        channel listening: a reconnect may skip the database while it keeps listening."""
        self.tokens.put(participant, at)

    def token_still_valid(self, participant: Participant, since: float) -> bool | None:
        """After ``attach``: is the token checked at loop time ``since`` still the
        participant's, and not revoked? None when only the database can tell.

        Once the channel listens, every rotation or revocation is heard on it. So the token
        is still good if none of the participant's was heard since the check, and either the
        channel already listened then, or the model's participants (read from the database
        after it began to listen) have this token, unrevoked.
        """
        channel = self.channels.get(participant.session_id)
        if channel is None or channel.model is None or channel.ready_at is None:
            return None
        if channel.heard_revocation(participant.id, since):
            return False
        if channel.ready_at <= since:
            return True
        known = channel.model.participants.get(participant.id)
        if known is None or known is participant:
            return None  # the model learnt of the participant from this very socket
        if known.token_hash == participant.token_hash and known.revoked_ms is None:
            return True
        return None

    async def detach(self, conn: Connection) -> None:
        channel = self.channels.get(conn.session_id)
        if channel is not None and conn in channel.conns:
            channel.conns.discard(conn)
            await self._release(channel)

    async def close_all(self) -> None:
        if self._healer is not None:
            self._healer.cancel()
        await self.links.stop()
        for channel in list(self.channels.values()):
            channel.stop_lingering()
            for conn in list(channel.conns):
                conn.close(1001)
