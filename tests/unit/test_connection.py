"""``Connection``: frames written at once while the transport takes them, queued in order
behind a writer task only while the peer is behind (a fake socket with the server's
write-now extension; the real server's slow peer is in tests/test_slow_consumer.py)."""

import asyncio
from typing import Any

from app.realtime.connection import Connection
from app.realtime.transport import WRITE_EXTENSION
from tests.support import fake_participant


class Peer:
    """A socket whose transport takes frames at once unless ``paused``."""

    def __init__(self) -> None:
        self.wire: list[str] = []  # what reached the transport, in order
        self.by_asgi: list[str] = []  # of those, what went through the ASGI send
        self.paused = False
        self.resumed = asyncio.Event()
        self.closed_with: list[int] = []
        self.scope: dict[str, Any] = {"extensions": {WRITE_EXTENSION: {"write": self.write_now}}}

    def write_now(self, frame: str) -> bool:
        if self.paused:
            return False
        self.wire.append(frame)
        return True

    def resume(self) -> None:
        self.paused = False
        self.resumed.set()

    async def send_text(self, frame: str) -> None:
        if self.paused:
            await self.resumed.wait()
        self.wire.append(frame)
        self.by_asgi.append(frame)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with.append(code)


async def test_frames_go_out_at_once_with_no_writer_task_while_the_transport_takes_them() -> None:
    peer = Peer()
    conn = Connection(peer, fake_participant("facilitator"), queue_max=10)  # type: ignore[arg-type]
    for frame in ("a", "b", "c"):
        conn.send(frame)
    assert peer.wire == ["a", "b", "c"]  # before any await
    assert peer.by_asgi == []
    assert conn._writer is None


async def test_while_the_peer_is_behind_frames_queue_in_order_and_none_jumps_the_queue() -> None:
    peer = Peer()
    conn = Connection(peer, fake_participant("facilitator"), queue_max=10)  # type: ignore[arg-type]
    conn.send("1")
    peer.paused = True
    conn.send("2")
    conn.send("3")
    assert conn._writer is not None
    await asyncio.sleep(0)
    # The transport takes frames again, but "2" and "3" wait in the writer: "4" may not
    # pass them.
    peer.paused = False
    conn.send("4")
    peer.resume()
    for _ in range(10):
        await asyncio.sleep(0)
    assert peer.wire == ["1", "2", "3", "4"]
    assert peer.by_asgi == ["2", "3", "4"]
    # Drained: the writer is gone and the next frame is written at once again.
    assert conn._writer is None
    conn.send("5")
    assert peer.wire[-1] == "5" and peer.by_asgi[-1] == "4"


async def test_a_close_goes_out_after_the_frames_queued_before_it() -> None:
    peer = Peer()
    conn = Connection(peer, fake_participant("facilitator"), queue_max=10)  # type: ignore[arg-type]
    peer.paused = True
    conn.send("a")
    conn.send("b")
    conn.close(4404)
    conn.send("after the close")
    peer.resume()
    await asyncio.wait_for(conn.stop(), 5)
    assert peer.wire == ["a", "b"]
    assert peer.closed_with == [4404]


async def test_a_close_with_nothing_queued_goes_out_at_once() -> None:
    peer = Peer()
    conn = Connection(peer, fake_participant("facilitator"), queue_max=10)  # type: ignore[arg-type]
    conn.send("a")
    await asyncio.wait_for(conn.stop(), 5)
    assert peer.wire == ["a"] and peer.closed_with == [1000]
    assert conn.closed


async def test_a_socket_too_far_behind_is_closed_as_too_slow() -> None:
    peer = Peer()
    conn = Connection(peer, fake_participant("facilitator"), queue_max=3)  # type: ignore[arg-type]
    peer.paused = True
    for frame in ("1", "2", "3", "4"):
        conn.send(frame)
    assert conn.closed and conn.close_code == 4429
    peer.resume()
    await asyncio.wait_for(conn.stop(), 5)
    assert peer.closed_with == [4429]
    assert peer.wire == []  # what was queued was dropped: the close went next
