"""A socket that stops reading is closed with 4429 and then dropped: no half-open connection.

The first test is a real server and a raw TCP client that sends `hello` and then never
reads while a producer floods the session; the server must let go of the connection
(``ss`` on the server's side) within a bounded time. The other tests drive ``Connection``
in-process with a fake socket to pin down the order: close frame first, queue dropped.
"""

import asyncio
import base64
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from app.realtime.connection import Connection
from app.realtime.protocol import CLOSE_TOO_SLOW
from app.realtime.transport import ABORT_EXTENSION
from tests.support import Api, Client, Server, fake_participant


def raw_hello(port: int, token: str) -> socket.socket:
    """A WebSocket opened by hand with a tiny receive buffer: it sends hello, then nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    payload = json.dumps({"type": "hello", "token": token, "since": 0}).encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
    return sock


def connections(state: str, server_port: int, client_port: int) -> list[str]:
    """The server's connections to this client port in ``state`` (``ss`` lines: the
    second column is the bytes queued to send)."""
    out = subprocess.run(
        ["ss", "-Htn", "state", state, f"( sport = :{server_port} and dport = :{client_port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [line for line in out.splitlines() if line.strip()]


def established(server_port: int, client_port: int) -> bool:
    """Does the server still hold an ESTABLISHED connection to this client port?"""
    return bool(connections("established", server_port, client_port))


async def test_a_peer_that_stops_reading_is_dropped_with_a_reset_within_a_bounded_time(
    tmp_path: Path,
) -> None:
    server = Server(
        tmp_path,
        env={
            "BACKCHANNEL_SEND_QUEUE_MAX": "50",
            "BACKCHANNEL_RATE_PER_S": "100000",
            "BACKCHANNEL_RATE_BURST": "100000",
        },
    ).start()
    flooders: list[Client] = []
    slow: socket.socket | None = None
    try:
        api = Api(server.url)
        s = await api.create_session()
        await api.close()
        slow = raw_hello(server.port, s["tokens"]["observer"])
        client_port = slow.getsockname()[1]
        assert established(server.port, client_port)
        flooders = [Client(server.ws_url, s["tokens"]["producer"]) for _ in range(3)]
        for c in flooders:
            await c.connect()
        text = "\N{GRINNING FACE}" * 500  # 500 characters, 2,000 bytes: fewer events to fill
        started = time.monotonic()
        sent = 0
        gone_at: float | None = None
        # Flood (each flooder reads everything: only the raw socket falls behind) until the
        # server lets go of the slow one; 60 s is far beyond what a healthy server needs.
        while time.monotonic() - started < 60:
            await asyncio.gather(
                *(c.send("note", {"text": text}) for c in flooders for _ in range(10))
            )
            sent += 40 * len(flooders)
            if not established(server.port, client_port):
                gone_at = time.monotonic()
                break
        assert gone_at is not None, f"still ESTABLISHED after {sent} events"
        # Dropped with a reset (SO_LINGER 0 before the abort): the kernel keeps no
        # FIN-WAIT-1 connection retrying to push the queued megabytes to a peer that
        # never reads.
        lingering = connections("fin-wait-1", server.port, client_port)
        assert not lingering, f"the kernel still holds the dropped connection: {lingering}"
        # The others were never disturbed.
        assert all(c.close_code is None for c in flooders)
        # The client, reading at last, finds the connection reset rather than waiting on
        # a connection that is half there.
        slow.settimeout(10)
        with pytest.raises(ConnectionResetError):
            while slow.recv(65536):
                pass
        print(f"dropped after {gone_at - started:.1f} s and {sent} events")
    finally:
        for c in flooders:
            await c.close()
        if slow is not None:
            slow.close()
        server.stop()
    assert " 500 " not in server.log_text()


class StuckPeer:
    """A WebSocket whose peer reads nothing: every send and the close wait for ever."""

    def __init__(self, close_blocks: bool = True) -> None:
        self.sent: list[str] = []
        self.closed_with: list[int] = []
        self.aborted = asyncio.Event()
        self.unblock = asyncio.Event()
        self.close_blocks = close_blocks
        self.scope: dict[str, Any] = {"extensions": {ABORT_EXTENSION: {"abort": self.abort}}}

    def abort(self) -> None:
        self.aborted.set()
        self.unblock.set()

    async def send_text(self, frame: str) -> None:
        await self.unblock.wait()
        if self.aborted.is_set():
            raise ConnectionResetError
        self.sent.append(frame)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with.append(code)
        if self.close_blocks:
            await self.unblock.wait()


async def test_a_full_queue_sends_the_close_frame_next_and_drops_what_was_queued() -> None:
    peer = StuckPeer(close_blocks=False)
    conn = Connection(peer, fake_participant(), queue_max=3)  # type: ignore[arg-type]
    conn.send("f1")
    await asyncio.sleep(0)  # the writer takes f1 and waits on the peer
    for frame in ("f2", "f3", "f4", "f5"):
        conn.send(frame)
    assert conn.closed and conn.close_code == CLOSE_TOO_SLOW
    await asyncio.wait_for(conn.stop(), 5)
    # The close went out at once, while f1 was still stuck; f2-f4 never followed it.
    assert peer.closed_with == [CLOSE_TOO_SLOW]
    assert peer.sent == []


async def test_a_peer_that_does_not_take_the_close_in_time_is_aborted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Connection, "CLOSE_GRACE_S", 0.2)
    peer = StuckPeer()
    conn = Connection(peer, fake_participant(), queue_max=2)  # type: ignore[arg-type]
    for frame in ("f1", "f2", "f3", "f4"):
        conn.send(frame)
        await asyncio.sleep(0)
    assert conn.close_code == CLOSE_TOO_SLOW
    await asyncio.wait_for(peer.aborted.wait(), 5)
    await asyncio.wait_for(conn.stop(), 5)
    assert peer.closed_with == [CLOSE_TOO_SLOW]
    assert peer.sent == []


async def test_an_ordinary_close_still_sends_what_was_queued_first() -> None:
    peer = StuckPeer(close_blocks=False)
    peer.unblock.set()
    conn = Connection(peer, fake_participant(), queue_max=10)  # type: ignore[arg-type]
    conn.send("a")
    conn.send("b")
    conn.close(4404)
    await asyncio.wait_for(conn.stop(), 5)
    assert peer.sent == ["a", "b"] and peer.closed_with == [4404]
