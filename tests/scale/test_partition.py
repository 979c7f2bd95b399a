"""A network partition between one process and Redis: that process keeps answering at
once, and the others see its events from the log without waiting for a later one."""

import asyncio
import contextlib
import time
from typing import Any

from tests.scale.conftest import all_events, new_session
from tests.scale.test_cluster import assert_stream
from tests.scale.test_failures import _joined
from tests.support import Client


class PausableProxy:
    """A TCP proxy in front of Redis that can stop forwarding (both ways) without closing
    anything: to the process behind it, Redis is as if across a broken network."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.port = 0

    async def start(self) -> "PausableProxy":
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.links.add((writer, up_writer))
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(src, dst))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pipe(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                await self.flowing.wait()  # paused: hold the bytes, close nothing
                dst.write(data)
                await dst.drain()
        with contextlib.suppress(Exception):
            dst.close()

    def cut(self) -> None:
        """Reset every connection through the proxy now (what was in flight is lost); new
        ones are accepted, and wait like the rest while the proxy is paused."""
        links, self.links = self.links, set()
        for client_side, redis_side in links:
            client_side.transport.abort()
            redis_side.transport.abort()

    async def close(self) -> None:
        self.flowing.set()
        if self.server is not None:
            self.server.close()
        for task in list(self.tasks):
            task.cancel()


async def test_a_process_cut_off_from_redis_answers_at_once_and_the_others_heal_from_the_log(
    cluster_factory: Any, redis_url: str, made_clients: list[Client]
) -> None:
    host_port, _, db = redis_url.removeprefix("redis://").partition("/")
    proxy = await PausableProxy(int(host_port.rsplit(":", 1)[1])).start()
    try:
        # Started on a thread: the proxy lives on this event loop and must answer meanwhile.
        behind_proxy = cluster_factory(f"redis://127.0.0.1:{proxy.port}/{db}")
        (a,) = await asyncio.to_thread(behind_proxy.start, 1)
        (b,) = await asyncio.to_thread(cluster_factory(redis_url).start, 1)
        session = await new_session(a)
        tokens = session["tokens"]
        producer = Client(a.ws_url, tokens["producer"])
        facilitator = Client(b.ws_url, tokens["facilitator"])
        made_clients += [producer, facilitator]
        await producer.connect()
        await facilitator.connect()
        await _joined(facilitator)
        before = await producer.send("prompt.time", {"text": "before the cut"})
        await facilitator.wait_seq(before["seq"], timeout=10)

        proxy.flowing.clear()  # A can no longer reach Redis; B still can
        t0 = time.monotonic()
        alert = await producer.send("alert.stop", {"reason": "problem", "text": "lone alert"})
        sent_after = time.monotonic() - t0
        assert alert["type"] == "sent", alert
        # The publish waits in a queue of its own: the append's answer does not. (Measured
        # around 10 ms here; the bound is loose for a loaded test machine, far below the
        # two seconds a publish under the write lock used to cost.)
        assert sent_after < 0.9, f"sent after {sent_after:.3f} s during the partition"

        # No later event comes: B's periodic check of the log brings the alert anyway.
        t1 = time.monotonic()
        await facilitator.wait_seq(alert["seq"], timeout=10)
        healed_after = time.monotonic() - t1
        assert healed_after < 4, f"the alert reached B after {healed_after:.2f} s"

        proxy.flowing.set()  # the link heals; what A publishes now reaches B again
        after = await producer.send("prompt.time", {"text": "after the cut"})
        await facilitator.wait_seq(after["seq"], timeout=15)
        log = await all_events(a, session)
        assert_stream(facilitator, log, "facilitator", after["seq"])
        assert [e["body"].get("text") for e in facilitator.events].count("lone alert") == 1
    finally:
        await proxy.close()
