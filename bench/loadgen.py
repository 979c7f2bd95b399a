"""One load-generator process: opens its share of the sessions' sockets and drives them.

Started by ``bench.run`` as ``python -m bench.loadgen PLAN.json``; talks to it by lines:
it prints ``connected {json}`` once every socket is welcomed, waits for ``go`` on stdin,
runs the scenario, and prints ``result {json}``. Producer, facilitator and observer of a
session live in the same process, so send→receive latency is measured on one clock.

Dialects: ``json`` (Backchannel and the floor: hello / send / sent / event text frames) and
``sio`` (the same messages as Socket.IO events, over Engine.IO v4 on a plain WebSocket).
"""

import asyncio
import contextlib
import json
import random
import sys
import time
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.limits import raise_nofile

try:
    import orjson

    def loads(text: str | bytes) -> Any:
        return orjson.loads(text)

    def dumps(obj: Any) -> str:
        return orjson.dumps(obj).decode()

except ImportError:  # pragma: no cover - orjson comes with the server's dependencies

    def loads(text: str | bytes) -> Any:
        return json.loads(text)

    def dumps(obj: Any) -> str:
        return json.dumps(obj, separators=(",", ":"))


ROLES = ("producer", "facilitator", "observer")


class Stats:
    """What this process measured."""

    def __init__(self) -> None:
        self.connect_ms: list[float] = []
        self.reconnect_ms: list[float] = []
        self.sent_ms: list[float] = []  # send -> sent
        self.fac_ms: list[float] = []  # send -> facilitator receives the event
        self.fac_at: list[float] = []  # when each of those was sent (s since the load began)
        self.errors: dict[str, int] = {}
        self.duplicates = 0
        self.out_of_order = 0
        self.sends = 0
        self.resends = 0  # the same messages sent again after a reconnect
        self.acked = 0
        self.repeats = 0

    def error(self, what: str) -> None:
        self.errors[what] = self.errors.get(what, 0) + 1


class Sock:
    """One participant's socket; it survives reconnects (resume with ``since``)."""

    def __init__(self, gen: "Generator", sess: "Sess", role: str, token: str) -> None:
        self.gen = gen
        self.sess = sess
        self.role = role
        self.token = token
        self.ws: ClientConnection | None = None
        self.last_seq = 0
        self.seen: set[int] = set()
        self.welcomed = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.resumer: asyncio.Future[None] | None = None

    async def open(self) -> float:
        """Connect and say hello; return ms until the welcome."""
        t0 = time.perf_counter()
        self.welcomed.clear()
        self.ws = await connect(
            self.gen.url,
            max_size=None,
            ping_interval=None,
            open_timeout=120,
            close_timeout=2,
            compression=None,
        )
        if self.gen.dialect == "sio":
            await self.ws.recv()  # Engine.IO open packet
            await self.ws.send("40")
            while not str(await self.ws.recv()).startswith("40"):
                pass
        await self.emit("hello", {"token": self.token, "since": self.last_seq})
        self.reader = asyncio.create_task(self._read(self.ws))
        await asyncio.wait_for(self.welcomed.wait(), timeout=120)
        return (time.perf_counter() - t0) * 1000

    async def emit(self, kind: str, data: dict[str, Any]) -> None:
        assert self.ws is not None
        if self.gen.dialect == "sio":
            await self.ws.send("42" + dumps([kind, data]))
        else:
            await self.ws.send(dumps({"type": kind, **data}))

    async def _read(self, ws: ClientConnection) -> None:
        sio = self.gen.dialect == "sio"
        try:
            async for text in ws:
                if sio:
                    if text == "2":
                        await ws.send("3")
                        continue
                    if not str(text).startswith("42"):
                        continue
                    name, data = loads(text[2:])
                    self._on(name, data if name != "event" else {"event": data})
                else:
                    msg = loads(text)
                    self._on(msg["type"], msg)
        except Exception as exc:  # a dropped socket is only an error when not asked for
            if not self.gen.dropping:
                self.gen.stats.error(f"read:{type(exc).__name__}")
        if not self.gen.dropping and not self.gen.finished and ws is self.ws:
            # As a real client would: resume where it was (the loss check covers the gap).
            self.gen.stats.error("closed_by_server")
            self.resumer = asyncio.ensure_future(self._resume())

    async def _resume(self) -> None:
        for attempt in range(10):
            await asyncio.sleep(0.2 * (attempt + 1))
            try:
                self.gen.stats.reconnect_ms.append(await self.open())
            except Exception as exc:
                self.gen.stats.error(f"reconnect:{type(exc).__name__}")
                continue
            if self.role == "producer":
                # As the pages' outbox does: what was not acknowledged goes again, same ids.
                await self.sess.resend_unacked(self.gen)
            return

    def _on(self, kind: str, msg: dict[str, Any]) -> None:
        now = time.perf_counter()
        stats = self.gen.stats
        if kind == "event":
            ev = msg["event"]
            seq = ev["seq"]
            if seq in self.seen:
                stats.duplicates += 1
                return
            if seq < self.last_seq:
                stats.out_of_order += 1
            self.seen.add(seq)
            self.last_seq = max(self.last_seq, seq)
            if self.role == "facilitator":
                t = self.sess.pending_fac.pop(ev["id"], None)
                if t is not None:
                    stats.fac_ms.append((now - t) * 1000)
                    stats.fac_at.append(t - self.gen.t_load)
        elif kind == "sent":
            t = self.sess.pending_ack.pop(msg["id"], None)
            if t is None:
                return
            if msg.get("repeat"):
                stats.repeats += 1
            else:
                stats.sent_ms.append((now - t) * 1000)
            stats.acked += 1
            self.sess.acked[msg["id"]] = msg["seq"]
            self.sess.unacked.pop(msg["id"], None)
        elif kind == "welcome":
            self.welcomed.set()
        elif kind == "error":
            stats.error(f"error:{msg.get('code')}")
            if msg.get("id") in self.sess.pending_ack:
                self.sess.pending_ack.pop(msg["id"], None)
                self.sess.pending_fac.pop(msg["id"], None)
        elif kind not in ("pong", "state"):  # state frames follow state changes (presence)
            stats.error(f"unexpected:{kind}")

    async def drop(self) -> None:
        """Cut the connection without a goodbye (as a lost Wi-Fi would)."""
        if self.ws is not None:
            self.ws.transport.abort()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await self.reader

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 2)
        if self.reader is not None:
            self.reader.cancel()


class Sess:
    def __init__(self, gen: "Generator", sid: str, tokens: dict[str, str]) -> None:
        self.sid = sid
        self.socks = {role: Sock(gen, self, role, tokens[role]) for role in ROLES}
        self.pending_ack: dict[str, float] = {}
        self.pending_fac: dict[str, float] = {}
        self.unacked: dict[str, dict[str, Any]] = {}  # id -> body, to resend after a drop
        self.acked: dict[str, int] = {}
        self.counter = 0

    async def send(self, gen: "Generator") -> None:
        self.counter += 1
        mid = f"{self.sid}-{self.counter}-{uuid.uuid4().hex[:8]}"
        body = {"text": f"bench {self.counter}"}
        now = time.perf_counter()
        self.pending_ack[mid] = now
        self.pending_fac[mid] = now
        self.unacked[mid] = body
        gen.stats.sends += 1
        try:
            await self.socks["producer"].emit(
                "send", {"id": mid, "kind": "prompt.time", "body": body}
            )
        except Exception:
            gen.stats.error("send_failed")  # still unacked: re-sent once the socket is back

    async def resend_unacked(self, gen: "Generator") -> None:
        """Send every unacknowledged message again with its id (a repeat is answered as
        one); the facilitator's latency still counts from the first send."""
        for mid, body in list(self.unacked.items()):
            self.pending_ack[mid] = time.perf_counter()
            gen.stats.resends += 1
            with contextlib.suppress(Exception):
                await self.socks["producer"].emit(
                    "send", {"id": mid, "kind": "prompt.time", "body": body}
                )


def timeline(at: list[float], ms: list[float], step: float = 0.5) -> list[list[float]]:
    """Latency over the run: per ``step`` seconds of send time, [start, max ms, count]."""
    buckets: dict[int, list[float]] = {}
    for t, v in zip(at, ms, strict=True):
        b = buckets.setdefault(int(t // step), [0.0, 0])
        b[0] = max(b[0], v)
        b[1] += 1
    return [[k * step, round(v[0], 2), v[1]] for k, v in sorted(buckets.items())]


class Generator:
    def __init__(self, plan: dict[str, Any]) -> None:
        self.plan = plan
        self.url: str = plan["url"]
        self.dialect: str = plan["dialect"]
        self.stats = Stats()
        self.sessions = [Sess(self, s["sid"], s["tokens"]) for s in plan["sessions"]]
        self.dropping = False
        self.finished = False
        self.t_load = time.perf_counter()  # reset at "go"

    def all_socks(self) -> list[Sock]:
        return [sock for sess in self.sessions for sock in sess.socks.values()]

    async def connect_all(self, socks: list[Sock], into: list[float]) -> float:
        """Open ``socks`` with bounded concurrency; return the wall time in ms."""
        limit = asyncio.Semaphore(self.plan.get("connect_concurrency", 100))
        t0 = time.perf_counter()

        async def one(sock: Sock) -> None:
            async with limit:
                for attempt in range(5):
                    try:
                        into.append(await sock.open())
                        return
                    except Exception as exc:
                        self.stats.error(f"connect:{type(exc).__name__}")
                        await asyncio.sleep(0.2 * (attempt + 1))

        await asyncio.gather(*(one(s) for s in socks))
        return (time.perf_counter() - t0) * 1000

    async def steady(self, duration_s: float, interval_s: float, t_start: float) -> None:
        """Every producer sends every ``interval_s`` (random phase) until the end time."""
        end = t_start + duration_s

        async def producer(sess: Sess) -> None:
            at = t_start + random.random() * interval_s
            while at < end:
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.dropping:
                    await self.reconnected.wait()
                await sess.send(self)
                at += interval_s

        await asyncio.gather(*(producer(s) for s in self.sessions))

    async def burst(self, rounds: int) -> None:
        """Every producer sends at the same moment, ``rounds`` times, 1 s apart."""
        for r in range(rounds):
            await asyncio.gather(*(s.send(self) for s in self.sessions))
            if r < rounds - 1:
                await asyncio.sleep(1)

    async def storm(self) -> dict[str, float]:
        """All sockets drop at once, then resume with ``since``; unacked sends are re-sent."""
        self.dropping = True
        self.reconnected.clear()
        socks = self.all_socks()
        t0 = time.perf_counter()
        await asyncio.gather(*(s.drop() for s in socks))
        for sess in self.sessions:
            # Messages caught in the drop are re-sent below; their latency is the storm's.
            sess.pending_ack.clear()
            sess.pending_fac.clear()
        wall = await self.connect_all(socks, self.stats.reconnect_ms)
        back = (time.perf_counter() - t0) * 1000
        self.dropping = False
        self.reconnected.set()
        for sess in self.sessions:
            await sess.resend_unacked(self)
        return {"reconnect_wall_ms": wall, "all_back_ms": back}

    async def drain(self, timeout_s: float) -> float:
        """Wait until every sent message is acked and on all three sockets; return ms."""
        t0 = time.perf_counter()
        deadline = t0 + timeout_s
        while time.perf_counter() < deadline:
            if all(not s.unacked and self._delivered(s) for s in self.sessions):
                break
            await asyncio.sleep(0.1)
        return (time.perf_counter() - t0) * 1000

    @staticmethod
    def _delivered(sess: Sess) -> bool:
        seqs = sess.acked.values()
        return all(seq in sock.seen for sock in sess.socks.values() for seq in seqs)

    def check(self) -> dict[str, int]:
        lost = unacked = 0
        for sess in self.sessions:
            unacked += len(sess.unacked)
            for sock in sess.socks.values():
                lost += sum(1 for seq in sess.acked.values() if seq not in sock.seen)
        return {"lost": lost, "unacked": unacked}

    async def run(self) -> dict[str, Any]:
        self.reconnected = asyncio.Event()
        self.reconnected.set()
        plan = self.plan
        cpu0 = time.process_time()
        connect_wall = await self.connect_all(self.all_socks(), self.stats.connect_ms)
        print("connected " + dumps({"wall_ms": connect_wall}), flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line.strip() != "go":
            raise SystemExit("no go")
        cpu1, t1 = time.process_time(), time.perf_counter()
        self.t_load = t1
        extra: dict[str, Any] = {}
        mode = plan["mode"]
        if mode == "steady":
            await self.steady(plan["duration_s"], plan["interval_s"], t1)
        elif mode == "burst":
            await self.burst(plan.get("rounds", 3))
        elif mode == "storm":
            half = plan["duration_s"] / 2
            load = asyncio.create_task(self.steady(plan["duration_s"], plan["interval_s"], t1))
            await asyncio.sleep(half)
            extra.update(await self.storm())
            await load
        drain_ms = await self.drain(plan.get("drain_s", 30))
        wall = time.perf_counter() - t1
        cpu = time.process_time() - cpu1
        self.finished = True
        result = {
            "connect_ms": self.stats.connect_ms,
            "connect_wall_ms": connect_wall,
            "reconnect_ms": self.stats.reconnect_ms,
            "sent_ms": self.stats.sent_ms,
            "fac_ms": self.stats.fac_ms,
            "fac_timeline": timeline(self.stats.fac_at, self.stats.fac_ms),
            "errors": self.stats.errors,
            "duplicates": self.stats.duplicates,
            "out_of_order": self.stats.out_of_order,
            "sends": self.stats.sends,
            "resends": self.stats.resends,
            "acked": self.stats.acked,
            "repeats": self.stats.repeats,
            "drain_ms": drain_ms,
            "load_wall_s": wall,
            "gen_cpu_load": cpu / wall if wall else 0.0,
            "gen_cpu_connect_s": cpu1 - cpu0,
            **self.check(),
            **extra,
        }
        await asyncio.gather(*(s.close() for s in self.all_socks()))
        return result


async def amain(path: str) -> None:
    with open(path) as f:
        plan = json.load(f)
    gen = Generator(plan)
    result = await gen.run()
    print("result " + dumps(result), flush=True)


if __name__ == "__main__":
    raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(amain(sys.argv[1]))
