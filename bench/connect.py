"""Server CPU per connecting socket, first connects and a reconnect storm, one phase at a time.

The steady/burst/storm scenarios of ``bench.run`` mix connects with messages; this one only
connects, so the server's CPU per welcomed socket and the time until every socket is back
after a cut are read without anything else going on. ``--profile DIR`` records py-spy
(collapsed stacks, GIL-holding samples) for each phase.

Phases, on ``--sessions`` sessions of three sockets each (producer, facilitator, observer):
1. ``first``: every socket opens and says hello (``--concurrency`` at a time).
2. ``storm``: every socket is cut at once (TCP abort, no close frame) and opens again,
   resuming with ``since`` = its last seq.
3. ``quick``: the same cut again, after the presence grace has passed, so the sessions'
   ``offline``/``online`` events are in the way.

Run: ``python -m bench.connect --sessions 1000 [--server floor] [--app-root DIR]``.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.limits import raise_nofile
from bench.stats import summarize
from bench.targets import Backchannel, Floor, Target

ROLES = ("producer", "facilitator", "observer")


class Sock:
    def __init__(self, url: str, token: str, deflate: bool = False) -> None:
        self.url = url
        self.deflate = deflate
        self.token = token
        self.ws: ClientConnection | None = None
        self.last_seq = 0
        self.reader: asyncio.Task[None] | None = None

    async def open(self) -> float:
        t0 = time.perf_counter()
        ws = await connect(
            self.url,
            max_size=None,
            ping_interval=None,
            compression="deflate" if self.deflate else None,
        )
        self.ws = ws
        await ws.send(json.dumps({"type": "hello", "token": self.token, "since": self.last_seq}))
        while True:
            msg = json.loads(await ws.recv())
            if msg["type"] == "welcome":
                self.last_seq = max(self.last_seq, int(msg.get("last_seq", 0)))
                break
            if msg["type"] == "event":
                self.last_seq = max(self.last_seq, int(msg["event"]["seq"]))
        ms = (time.perf_counter() - t0) * 1000
        self.reader = asyncio.create_task(self._read(ws))
        return ms

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for text in ws:
                msg = json.loads(text)
                if msg["type"] == "event":
                    self.last_seq = max(self.last_seq, int(msg["event"]["seq"]))

    async def cut(self) -> None:
        if self.ws is not None:
            self.ws.transport.abort()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await self.reader


async def open_all(socks: list[Sock], concurrency: int) -> list[float]:
    limit = asyncio.Semaphore(concurrency)
    times: list[float] = []

    async def one(sock: Sock) -> None:
        async with limit:
            for attempt in range(5):
                try:
                    times.append(await sock.open())
                    return
                except Exception:
                    await asyncio.sleep(0.2 * (attempt + 1))
            raise RuntimeError("could not connect")

    await asyncio.gather(*(one(s) for s in socks))
    return times


def _cpu(target: Target) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in target.processes())


def _rss(target: Target) -> int:
    return sum(p.memory_info().rss for p in target.processes())


def _spy(target: Target, out: Path | None, name: str) -> subprocess.Popen[bytes] | None:
    if out is None or target.proc is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(target.proc.pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--gil",
            "--output",
            str(out / f"{name}.txt"),
            "--nonblocking",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _idle(target: Target, below: float = 0.1, limit_s: float = 60) -> float:
    """Wait until the server uses less than ``below`` of a core over half a second."""
    t0 = time.monotonic()
    last = _cpu(target)
    while time.monotonic() - t0 < limit_s:
        await asyncio.sleep(0.5)
        now = _cpu(target)
        if (now - last) / 0.5 < below:
            break
        last = now
    return round(time.monotonic() - t0, 1)


async def phase(
    target: Target, socks: list[Sock], name: str, cut: bool, args: argparse.Namespace
) -> dict[str, Any]:
    spy = _spy(target, Path(args.profile) if args.profile else None, f"{args.label}-{name}")
    c0 = _cpu(target)
    t0 = time.perf_counter()
    if cut:
        await asyncio.gather(*(s.cut() for s in socks))
    times = await open_all(socks, args.concurrency)
    back_ms = (time.perf_counter() - t0) * 1000
    settle = await _idle(target)
    cpu = _cpu(target) - c0
    if spy is not None:
        spy.send_signal(2)  # SIGINT: py-spy writes what it has
        spy.wait(30)
    row = {
        "phase": name,
        "sockets": len(socks),
        "back_s": round(back_ms / 1000, 2),
        "welcome_ms": summarize(times),
        "server_cpu_s": round(cpu, 2),
        "cpu_ms_per_socket": round(cpu * 1000 / len(socks), 2),
        "settle_s": settle,
    }
    print(
        f"  {args.label:>10} {name:>6}: back {row['back_s']:6.2f} s · "
        f"welcome p50/p99 {row['welcome_ms']['p50']:.1f}/{row['welcome_ms']['p99']:.1f} ms · "
        f"server CPU {row['cpu_ms_per_socket']:.2f} ms/socket (settled after {settle} s)",
        flush=True,
    )
    return row


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    app_root = Path(args.app_root) if args.app_root else None
    target: Target = (
        Floor(workdir) if args.server == "floor" else Backchannel(workdir, app_root=app_root)
    )
    target.start()
    try:
        if args.server == "floor":
            sessions = [
                {"sid": f"s{i}", "tokens": {r: f"s{i}:{r}" for r in ROLES}}
                for i in range(args.sessions)
            ]
        else:
            sessions = await target.create_sessions(args.sessions)
        socks = [Sock(target.ws_url, s["tokens"][r], args.deflate) for s in sessions for r in ROLES]
        rss_before = _rss(target)
        rows = [await phase(target, socks, "first", False, args)]
        kb = (_rss(target) - rss_before) / 1024 / len(socks)
        print(f"  {args.label:>10} memory: {kb:.1f} KB per socket (RSS)", flush=True)
        rows.append(await phase(target, socks, "storm", True, args))
        await asyncio.sleep(args.grace_s)
        rows.append(await phase(target, socks, "again", True, args))
        for s in socks:
            if s.ws is not None:
                s.ws.transport.abort()
        return {"label": args.label, "kb_per_socket": round(kb, 1), "phases": rows}
    finally:
        target.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--server", choices=["backchannel", "floor"], default="backchannel")
    parser.add_argument("--app-root", help="serve another checkout's app (before/after runs)")
    parser.add_argument("--label", help="name in the output (default: the server)")
    parser.add_argument("--grace-s", type=float, default=7.0, help="wait before the last cut")
    parser.add_argument("--profile", help="py-spy each phase into DIR")
    parser.add_argument(
        "--deflate", action="store_true", help="clients offer permessage-deflate, as browsers do"
    )
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE for the server (repeatable)"
    )
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()
    args.label = args.label or args.server
    raise_nofile()
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {os.cpu_count()} cores · "
        f"{platform.python_version()} · load {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
