"""The live feed's connection: a session's frames as Server-Sent Events.

A stream is one more connection of its participant, served by the hub exactly as a socket
is (``app.realtime.hub``: subscribe, welcome, replay from the log, then live, with the
role's visibility): ``FeedConnection`` is a ``Connection`` whose frames become SSE text in
a queue that the response drains. Each ``data:`` line is the very frame a socket would get
(``{"type":"event","event":{…}}``, ``{"type":"state","seq":N,"state":{…}}``), named by its
type (``event: event``, ``event: state``, …); event and state frames carry ``id:`` = the
seq the stream has delivered up to, so EventSource's ``Last-Event-ID`` resumes after it.
The welcome and the first state come before the replay and carry no id: a stream that
drops during the replay resumes from the last event it really had.

Browsers' EventSource cannot send a header, and a token never goes in a URL: it asks
``POST …/stream-tickets`` for a ticket (``tickets``) and opens ``…/stream?ticket=…``.
"""

import asyncio
import collections
import contextlib
from typing import Any, cast

import orjson
from fastapi import WebSocket
from starlette.types import Receive

from app.errors import AppError
from app.models import Participant
from app.realtime.channel import state_frame
from app.realtime.connection import Connection
from app.realtime.protocol import CLOSE_TOO_SLOW, dumps
from app.session_model import SessionModel

RETRY_MS = 2000  # what EventSource waits before reconnecting
_EVENT_PREFIX = '{"type":"event",'
_STATE_PREFIX = '{"type":"state",'
_WELCOME_PREFIX = '{"type":"welcome",'


class TooManyConnections(AppError):
    code = "too_many_connections"
    status = 429


class _NoSocket:
    """What ``Connection`` reads of its socket at start: a scope with no server extension."""

    scope: dict[str, Any] = {}


def _frame_type(frame: str) -> str:
    if frame.startswith(_EVENT_PREFIX):
        return "event"
    if frame.startswith(_STATE_PREFIX):
        return "state"
    if frame.startswith(_WELCOME_PREFIX):
        return "welcome"
    try:
        kind = orjson.loads(frame).get("type")
    except Exception:
        kind = None
    return kind if isinstance(kind, str) and kind.isidentifier() else "message"


class FeedConnection(Connection):
    """A participant's stream: the hub's frames, as SSE text waiting for the response."""

    __slots__ = ("_chunks", "_first_state", "_greeted", "_wake")

    def __init__(self, participant: Participant, queue_max: int) -> None:
        super().__init__(cast(WebSocket, _NoSocket()), participant, queue_max)
        self._chunks: collections.deque[bytes | None] = collections.deque()
        self._wake = asyncio.Event()
        self._greeted = False
        self._first_state: str | None = None

    def greeting(self, welcome: str, model: SessionModel) -> str:
        """The welcome frame (as ``hub.attach`` asks for it); the first state follows it."""
        self._first_state = state_frame(model)
        return welcome

    # -- Connection's way out, replaced ----------------------------------------------------

    def send(self, frame: str) -> None:
        if self.closed:
            return
        kind = _frame_type(frame)
        if not self._greeted:
            # The welcome and the first state, as of seq N, come before the replay of
            # seqs up to N: no id, or a drop during the replay would skip the rest of it.
            self._greeted = True
            self._put_chunk(f"retry: {RETRY_MS}\nevent: {kind}\ndata: {frame}\n\n")
            if self._first_state is not None:
                self._put_chunk(f"event: state\ndata: {self._first_state}\n\n")
            return
        if kind in ("event", "state"):
            self._put_chunk(f"id: {self.last_sent}\nevent: {kind}\ndata: {frame}\n\n")
        else:
            self._put_chunk(f"event: {kind}\ndata: {frame}\n\n")

    def _put_chunk(self, text: str) -> None:
        if len(self._chunks) >= self._queue_max:
            self.close(CLOSE_TOO_SLOW, "too slow to read")  # it resumes with Last-Event-ID
            return
        self._chunks.append(text.encode())
        self._wake.set()

    async def room(self) -> None:
        while len(self._chunks) > self._queue_max // 2 and not self.closed:
            self._wake.set()
            await asyncio.sleep(0.01)

    def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.close_code = code
        self.close_reason = reason
        self._mark_closed()
        if code == CLOSE_TOO_SLOW:
            self._chunks.clear()
        # The WebSocket close code, so a tool can tell "reconnect" from "this link is over".
        frame = dumps({"type": "close", "code": code, "reason": reason})
        self._chunks.append(f"event: close\ndata: {frame}\n\n".encode())
        self._chunks.append(None)
        self._wake.set()

    async def stop(self) -> None:
        self.close(self.close_code or 1000)

    async def next_chunk(self, heartbeat_s: float) -> bytes | None:
        """The next SSE text to write (a heartbeat comment after ``heartbeat_s`` of
        silence); None once the stream is over."""
        if not self._chunks:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), heartbeat_s)
            if not self._chunks:
                return b": heartbeat\n\n"
        return self._chunks.popleft()


async def watch_disconnect(receive: Receive, conn: FeedConnection) -> None:
    """The client closed the stream: close the connection (so the drain loop ends) at once,
    not at the next write."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            conn.close(1000, "client left")
            return
