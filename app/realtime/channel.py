"""One session's channel: its name and messages on the broker, and its stream in this
process (``Channel``), which passes every event on once and in seq order to the session's
sockets, its model and the hub's listeners, reading from the log whatever the broker lost.

A channel's messages on the broker: ``<seq>|<kind>|<event frame>`` for an event,
``!<control>`` for a control (a session changed or deleted, a link revoked).
"""

import asyncio
import collections
import logging
from typing import Any, Protocol

import orjson

from app.clock import Timer, parse_iso
from app.db import Database
from app.fold import PlainEvent
from app.log import read_events
from app.models import Event
from app.models.event import event_public
from app.realtime.connection import Connection
from app.realtime.link_checks import LinkChecks
from app.realtime.protocol import (
    dumps,
    event_frame,
)
from app.session_model import SessionModel

log = logging.getLogger("app.realtime.hub")

RECENT = 16  # event frames a channel keeps for the replays of sockets that were just away


def channel_name(session_id: str) -> str:
    return f"bc:session:{session_id}"


def event_message(seq: int, kind: str, frame: str) -> str:
    """The broker message of an event (its frame as the sockets get it)."""
    return f"{seq}|{kind}|{frame}"


def control_message(control: dict[str, Any]) -> str:
    return "!" + dumps(control)


def message_kind(message: str | None) -> str | None:
    """The kind of the event a channel message carries; ``None`` for a possible loss or a
    control message (settings changed, a link rotated…): look again."""
    if message is None or message.startswith("!"):
        return None
    _seq, sep, rest = message.partition("|")
    kind, sep2, _ = rest.partition("|")
    return kind if sep and sep2 else ""


class ChannelOwner(Protocol):
    """What a channel needs of its hub (``app.realtime.hub.Hub``)."""

    @property
    def db(self) -> Database: ...
    @property
    def links(self) -> LinkChecks: ...
    def on_control(self, session_id: str, payload: str) -> None: ...
    def tell_listeners(self, session_id: str, event: Event | PlainEvent) -> None: ...


def state_frame(model: SessionModel, *, session_changed: bool = False) -> str:
    frame: dict[str, Any] = {"type": "state", "seq": model.last_seq, "state": model.state_public()}
    if session_changed:
        # The session itself (title, agenda, roster, playbook, settings) changed: pages that
        # show it re-read it (GET /sessions/{id}, /presets).
        frame["session_changed"] = True
    return dumps(frame)


def event_from_frame(frame: str) -> PlainEvent:
    """The event inside an ``event`` frame from another process."""
    e = orjson.loads(frame)["event"]
    author = e["author"]
    return PlainEvent(
        seq=e["seq"],
        id=e["id"],
        kind=e["kind"],
        body=e["body"],
        author_id=author["participant_id"],
        author_role=author["role"],
        author_name=author["name"],
        at_ms=parse_iso(e["at"]),
    )


Pending = tuple[str, str, Event | PlainEvent | None]


class Channel:
    """One session's stream in this process, and the model it keeps up to date."""

    def __init__(self, hub: ChannelOwner, session_id: str) -> None:
        self.hub = hub
        self.session_id = session_id
        self.conns: set[Connection] = set()
        self.model: SessionModel | None = None
        self.pending: dict[int, Pending] = {}
        self.catching_up: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()
        self.failed = False
        self.behind_since_check: int | None = None  # the log's last seq at the last check
        self.ready_at: float | None = None  # loop time when it started hearing the broker
        self.revocations: list[tuple[str, float]] = []  # (participant_id, loop time) heard
        self.linger: Timer | None = None  # its release, once its sockets left (movable clock)
        # The last events passed on, in seq order with no gap, ending at the model's last
        # seq: a socket that resumes from within them (or a session's next socket, which
        # replays its first events) needs no read of the log.
        self.recent: collections.deque[tuple[int, str, str]] = collections.deque(maxlen=RECENT)

    @property
    def last_seq(self) -> int:
        return self.model.last_seq if self.model is not None else 0

    def heard_revocation(self, participant_id: str, since: float) -> bool:
        """Was a rotation or revocation of the participant heard at loop time ``since`` or
        later?"""
        return any(pid == participant_id and at >= since for pid, at in self.revocations)

    def stop_lingering(self) -> None:
        if self.linger is not None:
            self.linger.cancel()
            self.linger = None

    def on_message(self, message: str | None) -> None:
        if message is None:
            # Subscribed again after a loss: what was published meanwhile is gone, control
            # messages (rotations, revocations) included. Read the log, and trust nothing
            # known of the session's links from before until the database says so again.
            self.ready_at = asyncio.get_running_loop().time()
            self._catch_up()
            self.hub.links.soon()
            return
        if message.startswith("!"):
            self.hub.on_control(self.session_id, message[1:])
            return
        head, _, rest = message.partition("|")
        kind, _, frame = rest.partition("|")
        try:
            seq = int(head)
        except ValueError:
            log.warning("malformed broker message on %s", self.session_id)
            return
        self.offer(seq, kind, frame)

    def offer(self, seq: int, kind: str, frame: str, event: Event | None = None) -> None:
        if not self.ready.is_set():
            self.pending[seq] = (kind, frame, event)
            return
        if seq <= self.last_seq:
            return
        if seq == self.last_seq + 1:
            self._pass_on(seq, kind, frame, event)
            self._drain_pending()
            return
        self.pending[seq] = (kind, frame, event)
        self._catch_up()

    def _pass_on(self, seq: int, kind: str, frame: str, event: Event | PlainEvent | None) -> None:
        model = self.model
        assert model is not None
        if event is None:
            event = event_from_frame(frame)
        changed = model.apply(event)
        self.recent.append((seq, kind, frame))
        state = state_frame(model) if changed and self.conns else None
        for conn in list(self.conns):
            conn.offer(seq, kind, frame, state)
        self.hub.tell_listeners(self.session_id, event)

    def _drain_pending(self) -> None:
        while (item := self.pending.pop(self.last_seq + 1, None)) is not None:
            self._pass_on(self.last_seq + 1, *item)
        for seq in [s for s in self.pending if s <= self.last_seq]:
            del self.pending[seq]

    def _catch_up(self) -> None:
        if self.ready.is_set() and (self.catching_up is None or self.catching_up.done()):
            self.catching_up = asyncio.create_task(self._read_missing())

    async def _read_missing(self) -> None:
        """Fill a gap from the log (the events are committed: seqs commit in order)."""
        for attempt in range(50):
            try:
                events = await read_events(self.hub.db, self.session_id, after=self.last_seq)
            except Exception:
                log.exception("catch-up read failed for %s", self.session_id)
                await asyncio.sleep(min(0.1 * (attempt + 1), 2))
                continue
            for e in events:
                if e.seq == self.last_seq + 1:
                    self._pass_on(e.seq, e.kind, event_frame(event_public(e)), e)
            self._drain_pending()
            if not self.pending:
                return
            await asyncio.sleep(0.05)
        log.error("could not fill the gap after seq %s in %s", self.last_seq, self.session_id)

    def send_state(self) -> None:
        """The session changed without an event (settings, agenda, roster, playbook,
        participants): a state frame that says so."""
        if self.model is None:
            return
        frame = state_frame(self.model, session_changed=True)
        for conn in list(self.conns):
            conn.offer_state(frame)
