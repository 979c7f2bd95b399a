"""uvicorn's WebSocket protocol, lighter per socket, with two extensions for ``/ws``.

``backchannel serve`` runs this protocol (uvicorn's websockets-sansio one). What it adds:

- **abort**: ASGI has no call to drop a connection at once. ``websocket.close`` waits until
  the transport is writable and queues the close frame behind every byte the peer has not
  read, and uvicorn's close timer then *closes* the transport, which flushes first: a peer
  that stops reading would hold the connection and its buffers for ever. ``Connection``
  calls ``abort`` when a closed socket's peer has not taken the close frame in time; it
  sets ``SO_LINGER`` to 0 first, so the kernel answers with a reset and frees the send
  buffer at once (a plain close would keep the connection in FIN-WAIT-1, megabytes queued,
  retrying a peer that reads nothing for a minute or more).
- **write**: a text frame written to the transport at once, when it takes it without
  waiting (the common case). ``Connection`` then needs no writer task per socket and no
  wake-up per frame; it queues frames and starts a writer (the ASGI send, which waits for
  the transport) only while the peer is behind.
- **less kept per socket**: the receive queue and the "writable" flag are small classes
  instead of ``asyncio.Queue`` and ``asyncio.Event`` (four and one ``deque`` each, about
  0.6 KB apiece even when empty), and the handshake's request and response objects are let
  go once the handshake is done. At thousands of sockets these are kilobytes per socket.

Under any other server the extensions are absent and ``Connection`` uses plain ASGI.
"""

import asyncio
import contextlib
import socket
import struct
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

ABORT_EXTENSION = "backchannel.abort"
WRITE_EXTENSION = "backchannel.write"

WriteNow = Callable[[str], bool]

# struct linger {l_onoff = 1, l_linger = 0}: close() resets the connection.
_LINGER_OFF = struct.pack("ii", 1, 0)


class _Inbox:
    """What uvicorn's protocol needs of its receive queue, for one reader."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []  # at most a few: uvicorn pauses reading after a message
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class _Flag:
    """What uvicorn's protocol needs of its "writable" event."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        while not self._set:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            await waiter
        return True


class AbortableWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Same use, a fraction of the memory (see the module's docstring).
        self.queue = _Inbox()  # type: ignore[assignment]
        self.writable = _Flag()  # type: ignore[assignment]

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope: Any = getattr(self, "scope", None)
        if scope is not None and self.handshake_complete is False:
            # The app's task is created but has not run yet: it sees this scope complete.
            extensions = scope["extensions"]
            extensions[ABORT_EXTENSION] = {"abort": self.abort_with_reset}
            extensions[WRITE_EXTENSION] = {"write": self.write_text_now}

    async def send(self, message: Any) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept" and self.handshake_complete:
            # Used only to answer the handshake; a socket would keep both for its life.
            self.__dict__.pop("request", None)
            self.__dict__.pop("response", None)

    def abort_with_reset(self) -> None:
        """Drop the connection now, with a TCP reset: nothing queued is kept or sent."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            # Closed already (no descriptor left): abort is a no-op then.
            with contextlib.suppress(OSError, ValueError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_OFF)
        self.transport.abort()

    def write_text_now(self, text: str) -> bool:
        """Write one text frame now; False if it cannot go without waiting (the transport
        is paused or closing, the socket closed or not accepted yet): then use the ASGI
        send, which waits or tells that the peer is gone."""
        if (
            not self.handshake_complete
            or self.close_sent
            or self.disconnected
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        try:
            self.conn.send_text(text.encode())
        except InvalidState:
            return False
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True


def _extension(scope: Any, name: str, key: str) -> Any:
    extension = (scope.get("extensions") or {}).get(name)
    return extension.get(key) if isinstance(extension, dict) else None


def transport_abort(scope: Any) -> Callable[[], None] | None:
    """The scope's abort callable, or None when the server does not offer one."""
    abort: Callable[[], None] | None = _extension(scope, ABORT_EXTENSION, "abort")
    return abort


def transport_write(scope: Any) -> WriteNow | None:
    """The scope's write-now callable, or None when the server does not offer one."""
    write: WriteNow | None = _extension(scope, WRITE_EXTENSION, "write")
    return write
