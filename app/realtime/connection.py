"""One socket's way out: frames in order, written at once while the peer keeps up."""

import asyncio
import collections
import contextlib
from typing import Any

from fastapi import WebSocket

from app.models import Event, Participant
from app.models.event import event_public
from app.models.kinds import visible_to
from app.realtime.protocol import CLOSE_TOO_SLOW, event_frame
from app.realtime.transport import transport_abort, transport_write

Buffered = tuple[int, str, str, str | None]  # seq, kind, event frame, state frame after it


class Connection:
    """One socket's outgoing frames, in order.

    A frame is written to the transport at once when nothing waits before it and the
    transport takes it without waiting (the server's write extension,
    ``app.realtime.transport``). Otherwise it joins a queue that a writer task drains
    through the ASGI send, which waits while the peer is behind; the writer ends when the
    queue is empty. So a socket costs no task and no wake-up per frame unless its peer is
    slow, and a peer too far behind (``queue_max`` frames) is closed: it resumes from its
    last seq.

    Closing is bounded: a socket closed by the server whose peer has not taken the close
    frame within ``CLOSE_GRACE_S`` has its transport aborted, so a peer that stops reading
    cannot keep the connection and its buffers. A socket closed for being too slow drops
    what is queued, so the close frame goes out next.
    """

    CLOSE_GRACE_S = 5.0

    __slots__ = (
        "_buffer",
        "_frames",
        "_late_state",
        "_queue_max",
        "_room",
        "_sending",
        "_write_now",
        "_writer",
        "checked_at",
        "close_code",
        "close_reason",
        "closed",
        "last_sent",
        "participant",
        "replaying",
        "role",
        "session_id",
        "waiting_reader",
        "ws",
    )

    def __init__(self, ws: WebSocket, participant: Participant, queue_max: int) -> None:
        self.ws = ws
        self.participant = participant
        self.role = participant.role
        self.session_id = participant.session_id
        self.last_sent = 0
        self.replaying = True
        self.closed = False
        self.close_code: int | None = None
        self.close_reason = ""
        # Loop time by which its token had been checked (inf: not yet): a re-check that
        # began later may judge it (app/realtime/link_checks.py).
        self.checked_at = float("inf")
        # The read loop's task while it waits for a frame: closing interrupts that wait.
        self.waiting_reader: asyncio.Task[Any] | None = None
        self._buffer: list[Buffered] = []  # live events that arrived during the replay
        self._late_state: str | None = None  # a settings change during the replay
        self._write_now = transport_write(ws.scope)
        # Frames waiting for the writer (None: the close), while the peer is behind.
        self._frames: collections.deque[str | None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._sending = False  # the writer waits inside the ASGI send (the peer is not reading)
        self._room: asyncio.Future[None] | None = None  # the replay waits for the queue
        self._queue_max = queue_max

    # -- sending ---------------------------------------------------------------------------

    def send(self, frame: str) -> None:
        if self.closed:
            return
        if self._writer is None and self._write_now is not None and self._write_now(frame):
            return
        if self._frames is not None and len(self._frames) >= self._queue_max:
            # A socket that cannot keep up is closed; it resumes from its last seq.
            self.close(CLOSE_TOO_SLOW)
            return
        self._put(frame)

    def _put(self, frame: str | None) -> None:
        if self._frames is None:
            self._frames = collections.deque()
        self._frames.append(frame)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        frames = self._frames
        assert frames is not None
        try:
            while frames:
                frame = frames.popleft()
                if frame is None:
                    await self._send_close()
                    return
                room = self._room
                if room is not None and not room.done() and self._has_room():
                    room.set_result(None)
                self._sending = True
                await self.ws.send_text(frame)
                self._sending = False
        except Exception:  # the peer went away; the reader notices too
            self._mark_closed()
        finally:
            if self._writer is asyncio.current_task():
                # Drained: the next frame is written at once again.
                self._writer = None
                self._frames = None

    async def _send_close(self) -> None:
        # Waits while the peer reads nothing; the abort scheduled by close() ends that wait.
        with contextlib.suppress(Exception):
            await self.ws.close(self.close_code or 1000, self.close_reason)

    async def room(self) -> None:
        """Wait until the queue is at most half full (the replay's backpressure)."""
        while not self._has_room() and not self.closed:
            self._room = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._room, 1.0)
            self._room = None

    def _has_room(self) -> bool:
        return self._frames is None or len(self._frames) <= self._queue_max // 2

    # -- events and state ------------------------------------------------------------------

    def offer(self, seq: int, kind: str, frame: str, state: str | None) -> None:
        """A live event (and the state after it) from the channel: buffered while
        replaying, then sent once."""
        if self.replaying:
            self._buffer.append((seq, kind, frame, state))
            return
        self._deliver(seq, kind, frame, state)

    def offer_state(self, frame: str) -> None:
        """A state change that is no event (settings, agenda, participants)."""
        if self.replaying:
            self._late_state = frame
        else:
            self.send(frame)

    def _deliver(self, seq: int, kind: str, frame: str, state: str | None) -> None:
        if seq <= self.last_sent:
            return
        self.last_sent = seq
        if visible_to(self.role, kind):
            self.send(frame)
        if state is not None:
            self.send(state)

    def replayed(self, event: Event) -> None:
        self._deliver(event.seq, event.kind, event_frame(event_public(event)), None)

    def replayed_frame(self, seq: int, kind: str, frame: str) -> None:
        self._deliver(seq, kind, frame, None)

    def end_replay(self) -> None:
        """Flush what arrived live during the replay; from here on events go straight out."""
        buffered, self._buffer = self._buffer, []
        for seq, kind, frame, state in sorted(buffered, key=lambda item: item[0]):
            self._deliver(seq, kind, frame, state)
        if self._late_state is not None:
            self.send(self._late_state)
            self._late_state = None
        self.replaying = False

    # -- closing ---------------------------------------------------------------------------

    def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.close_code = code
        self.close_reason = reason
        self._mark_closed()
        abort = transport_abort(self.ws.scope)
        if abort is not None:
            # A no-op if the connection is gone by then (the transport is already closed).
            asyncio.get_running_loop().call_later(self.CLOSE_GRACE_S, abort)
        if code == CLOSE_TOO_SLOW:
            # The peer is behind: what is queued would only sit in buffers before the close.
            if self._frames is not None:
                self._frames.clear()
            if self._sending and self._writer is not None:
                # The writer is stuck in a send the peer does not read: stop it (no frame is
                # half-written: a send writes whole frames or waits before writing) and close.
                self._writer.cancel()
                self._writer = asyncio.create_task(self._send_close())
                return
        self._put(None)

    def _mark_closed(self) -> None:
        self.closed = True
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)  # a replay waiting for room stops at once
        reader = self.waiting_reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()

    async def stop(self) -> None:
        """Close (if not yet) and wait a little for the close frame to go out."""
        self.close(self.close_code or 1000)
        writer = self._writer
        if writer is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(writer, timeout=2)
