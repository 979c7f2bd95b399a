"""Connections per session: subscribe first, replay from the log, then live; presence.

Every process keeps one broker subscription per session that has local sockets. The
channel tracks the highest contiguous seq it has passed on; a message that skips ahead
(a lost or reordered publish) makes it read the missing seqs from the log, so sockets
see every event once and in order whatever the broker did.
"""

import asyncio
import collections
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import WebSocket

from app.db import Database
from app.log import SYSTEM_AUTHOR, append_event, last_seq, read_events
from app.models import Event, Participant
from app.models.event import event_public
from app.models.kinds import visible_to
from app.realtime.broker import Broker
from app.realtime.protocol import CLOSE_SESSION_GONE, CLOSE_TOO_SLOW, dumps, event_frame

log = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4().hex[:12]
REPLAY_PAGE = 500


def channel_name(session_id: str) -> str:
    return f"bc:session:{session_id}"


class Connection:
    """One socket: an ordered outgoing queue drained by a writer task."""

    def __init__(self, ws: WebSocket, participant: Participant, queue_max: int) -> None:
        self.ws = ws
        self.participant = participant
        self.role = participant.role
        self.session_id = participant.session_id
        self.last_sent = 0
        self.replaying = True
        self._buffer: list[tuple[int, str, str]] = []
        # The outgoing frames (None: close), and the writer's wake-up while it is empty: a
        # deque and one future are lighter than an asyncio.Queue, per socket and per frame.
        self._frames: collections.deque[str | None] = collections.deque()
        self._wakeup: asyncio.Future[None] | None = None
        self._queue_max = queue_max
        self._writer: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.close_code: int | None = None
        # The read loop's task while it waits for a frame: closing interrupts that wait
        # (one task per socket, not a waiter task and a receive task per frame besides).
        self.waiting_reader: asyncio.Task[Any] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop())

    def send(self, frame: str) -> None:
        if self.closed.is_set():
            return
        if len(self._frames) >= self._queue_max:
            # A socket that cannot keep up is closed; it resumes from its last seq.
            self.close(CLOSE_TOO_SLOW)
            return
        self._put(frame)

    def _put(self, frame: str | None) -> None:
        self._frames.append(frame)
        wakeup = self._wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)

    def offer(self, seq: int, kind: str, frame: str) -> None:
        """A live event from the channel: buffered while replaying, then sent once."""
        if self.replaying:
            self._buffer.append((seq, kind, frame))
            return
        self._deliver(seq, kind, frame)

    def _deliver(self, seq: int, kind: str, frame: str) -> None:
        if seq <= self.last_sent:
            return
        self.last_sent = seq
        if visible_to(self.role, kind):
            self.send(frame)

    def replayed(self, event: Event) -> None:
        self._deliver(event.seq, event.kind, event_frame(event_public(event)))

    def end_replay(self) -> None:
        """Flush what arrived live during the replay; from here on events go straight out."""
        buffered, self._buffer = self._buffer, []
        for seq, kind, frame in sorted(buffered, key=lambda item: item[0]):
            self._deliver(seq, kind, frame)
        self.replaying = False

    def close(self, code: int) -> None:
        if self.closed.is_set():
            return
        self.close_code = code
        self._mark_closed()
        self._put(None)

    def _mark_closed(self) -> None:
        self.closed.set()
        reader = self.waiting_reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()

    async def _write_loop(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            while True:
                if not self._frames:
                    self._wakeup = loop.create_future()
                    await self._wakeup
                    self._wakeup = None
                    continue
                frame = self._frames.popleft()
                if frame is None:
                    break
                await self.ws.send_text(frame)
        except Exception:  # the peer went away; the reader notices too
            self._mark_closed()
            return
        with contextlib.suppress(Exception):
            await self.ws.close(self.close_code or 1000)

    async def stop(self) -> None:
        self.close(self.close_code or 1000)
        if self._writer is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._writer, timeout=2)


class Channel:
    """One session's stream in this process."""

    def __init__(self, hub: "Hub", session_id: str) -> None:
        self.hub = hub
        self.session_id = session_id
        self.conns: set[Connection] = set()
        self.last_seq = 0
        self.pending: dict[int, tuple[str, str]] = {}
        self.catching_up: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    def on_message(self, message: str | None) -> None:
        if message is None:
            self._catch_up()
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

    def offer(self, seq: int, kind: str, frame: str) -> None:
        if seq <= self.last_seq or not self.ready.is_set():
            if not self.ready.is_set() and seq > self.last_seq:
                self.pending[seq] = (kind, frame)
            return
        if seq == self.last_seq + 1:
            self._pass_on(seq, kind, frame)
            self._drain_pending()
            return
        self.pending[seq] = (kind, frame)
        self._catch_up()

    def _pass_on(self, seq: int, kind: str, frame: str) -> None:
        self.last_seq = seq
        for conn in list(self.conns):
            conn.offer(seq, kind, frame)

    def _drain_pending(self) -> None:
        while (item := self.pending.pop(self.last_seq + 1, None)) is not None:
            self._pass_on(self.last_seq + 1, *item)
        for seq in [s for s in self.pending if s <= self.last_seq]:
            del self.pending[seq]

    def _catch_up(self) -> None:
        if self.catching_up is None or self.catching_up.done():
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
                    self._pass_on(e.seq, e.kind, event_frame(event_public(e)))
            self._drain_pending()
            if not self.pending:
                return
            await asyncio.sleep(0.05)
        log.error("could not fill the gap after seq %s in %s", self.last_seq, self.session_id)


class Hub:
    def __init__(self, db: Database, broker: Broker, *, queue_max: int = 1000) -> None:
        self.db = db
        self.broker = broker
        self.queue_max = queue_max
        self.channels: dict[str, Channel] = {}
        self._opening: dict[str, asyncio.Future[Channel]] = {}
        self._local: dict[tuple[str, str], int] = {}  # (session, participant) -> sockets here
        self.on_join: Callable[[Participant], Awaitable[None]] | None = None
        self.on_leave: Callable[[Participant], Awaitable[None]] | None = None

    # -- publishing ---------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Hand a committed event to local sockets at once and to other processes."""
        frame = event_frame(event_public(event))
        channel = self.channels.get(event.session_id)
        if channel is not None:
            channel.offer(event.seq, event.kind, frame)
        try:
            await self.broker.publish(
                channel_name(event.session_id), f"{event.seq}|{event.kind}|{frame}"
            )
        except Exception:
            # Committed already; other processes fill the gap from the log.
            log.exception("broker publish failed for %s seq %s", event.session_id, event.seq)

    async def publish_control(self, session_id: str, control: dict[str, Any]) -> None:
        self.on_control(session_id, dumps(control))
        with contextlib.suppress(Exception):
            await self.broker.publish(channel_name(session_id), "!" + dumps(control))

    def on_control(self, session_id: str, payload: str) -> None:
        if '"deleted"' in payload:
            channel = self.channels.get(session_id)
            if channel is not None:
                for conn in list(channel.conns):
                    conn.close(CLOSE_SESSION_GONE)

    # -- channels -----------------------------------------------------------------------

    async def _channel(self, session_id: str) -> Channel:
        channel = self.channels.get(session_id)
        if channel is not None:
            await channel.ready.wait()
            return channel
        channel = Channel(self, session_id)
        self.channels[session_id] = channel
        try:
            # Subscribe first, then read where the log is: nothing falls between the two.
            await self.broker.subscribe(channel_name(session_id), channel.on_message)
            channel.last_seq = await last_seq(self.db, session_id)
            if self.broker.single_process:
                await self._mark_stale_offline(session_id)
        except BaseException:
            self.channels.pop(session_id, None)
            channel.ready.set()
            raise
        channel.ready.set()
        channel._drain_pending()
        if channel.pending:
            channel._catch_up()
        return channel

    async def _release(self, channel: Channel) -> None:
        if channel.conns or self.channels.get(channel.session_id) is not channel:
            return
        del self.channels[channel.session_id]
        if channel.catching_up is not None:
            channel.catching_up.cancel()
        with contextlib.suppress(Exception):
            await self.broker.unsubscribe(channel_name(channel.session_id), channel.on_message)

    # -- sockets ------------------------------------------------------------------------

    async def attach(self, conn: Connection, since: int) -> None:
        """Register the socket, then replay ``seq > since`` from the log; live after that."""
        channel = await self._channel(conn.session_id)
        channel.conns.add(conn)
        conn.last_sent = since
        while True:
            page = await read_events(
                self.db, conn.session_id, after=conn.last_sent, limit=REPLAY_PAGE
            )
            for e in page:
                conn.replayed(e)
            if len(page) < REPLAY_PAGE:
                break
        conn.end_replay()

    async def detach(self, conn: Connection) -> None:
        channel = self.channels.get(conn.session_id)
        if channel is not None:
            channel.conns.discard(conn)
            await self._release(channel)

    def count_local(self, participant: Participant, delta: int) -> int:
        key = (participant.session_id, participant.id)
        value = self._local.get(key, 0) + delta
        if value <= 0:
            self._local.pop(key, None)
            return 0
        self._local[key] = value
        return value

    def local_online(self, session_id: str) -> set[str]:
        return {pid for (sid, pid) in self._local if sid == session_id}

    async def append_presence(self, participant: Participant, status: str) -> None:
        await append_event(
            self.db,
            participant.session_id,
            SYSTEM_AUTHOR,
            "presence",
            {"participant_id": participant.id, "status": status},
            f"presence:{participant.id}:{uuid.uuid4().hex}",
            after_commit=self.publish,
        )

    async def _mark_stale_offline(self, session_id: str) -> None:
        """One process holds every socket: anyone the log still calls online is not.

        (After a crash or restart nobody logged their leaving.) With a shared broker this
        is the presence tracker's job instead, across processes.
        """
        online: dict[str, bool] = {}
        for e in await read_events(self.db, session_id, kinds=("presence",)):
            online[e.body["participant_id"]] = e.body["status"] == "online"
        local = self.local_online(session_id)
        for pid, is_online in online.items():
            if is_online and pid not in local:
                await append_event(
                    self.db,
                    session_id,
                    SYSTEM_AUTHOR,
                    "presence",
                    {"participant_id": pid, "status": "offline"},
                    f"presence:{pid}:{uuid.uuid4().hex}",
                    after_commit=self.publish,
                )

    async def close_all(self) -> None:
        for channel in list(self.channels.values()):
            for conn in list(channel.conns):
                conn.close(1001)
