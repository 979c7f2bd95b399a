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

With ``--restart``, phase 1 is followed by a restart instead: every producer logs a
prompt, the server is killed (SIGKILL) and started again on the same port and database,
and every socket reconnects with ``since`` as soon as it can. It reports the time from the
kill and from the new process's first answer until every socket is welcomed, the new
process's CPU per socket, and checks every socket's stream against the log (a second
prompt each after the restart): nothing lost, nothing twice.

Run: ``python -m bench.connect --sessions 1000 [--server floor] [--db postgres]
[--restart] [--app-root DIR]``.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.limits import raise_nofile
from bench.stats import summarize
from bench.targets import Backchannel, Floor, Target

ROLES = ("producer", "facilitator", "observer")


class Sock:
    def __init__(self, url: str, token: str, deflate: bool = False, sid: str = "") -> None:
        self.sid = sid
        self.url = url
        self.deflate = deflate
        self.token = token
        self.ws: ClientConnection | None = None
        self.last_seq = 0
        self.reader: asyncio.Task[None] | None = None
        self.seqs: list[int] = []  # every event received, over all its connections

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
                self._event(msg)
        ms = (time.perf_counter() - t0) * 1000
        self.reader = asyncio.create_task(self._read(ws))
        return ms

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(Exception):
            async for text in ws:
                msg = json.loads(text)
                if msg["type"] == "event":
                    self._event(msg)

    def _event(self, msg: dict[str, Any]) -> None:
        seq = int(msg["event"]["seq"])
        self.seqs.append(seq)
        self.last_seq = max(self.last_seq, seq)

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


async def reopen_all(socks: list[Sock], deadline_s: float) -> list[float]:
    """Every socket reconnects as soon as the server takes it (retrying every 0.1-0.3 s,
    as a client's backoff would); the time each was welcomed, from now, in ms."""
    t0 = time.perf_counter()
    welcomed: list[float] = []

    async def one(sock: Sock) -> None:
        while time.perf_counter() - t0 < deadline_s:
            try:
                await sock.open()
                welcomed.append((time.perf_counter() - t0) * 1000)
                return
            except Exception:
                await asyncio.sleep(random.uniform(0.1, 0.3))
        raise RuntimeError("could not reconnect")

    await asyncio.gather(*(one(s) for s in socks))
    return welcomed


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


async def prompts(target: Target, sessions: list[dict[str, Any]], text: str) -> dict[str, int]:
    """Every session's producer logs one prompt over HTTP: its seq, by session."""
    limit = asyncio.Semaphore(32)
    base = f"http://127.0.0.1:{target.port}/api/v1/sessions"
    async with httpx.AsyncClient(timeout=60) as http:

        async def one(s: dict[str, Any]) -> tuple[str, int]:
            async with limit:
                r = await http.post(
                    f"{base}/{s['sid']}/events",
                    json={"kind": "prompt.time", "body": {"text": text}},
                    headers={"Authorization": f"Bearer {s['tokens']['producer']}"},
                )
                r.raise_for_status()
                return s["sid"], int(r.json()["seq"])

        return dict(await asyncio.gather(*(one(s) for s in sessions)))


async def logged_seqs(target: Target, sessions: list[dict[str, Any]]) -> dict[str, list[int]]:
    limit = asyncio.Semaphore(16)
    base = f"http://127.0.0.1:{target.port}/api/v1/sessions"
    async with httpx.AsyncClient(timeout=60) as http:

        async def one(s: dict[str, Any]) -> tuple[str, list[int]]:
            async with limit:
                r = await http.get(
                    f"{base}/{s['sid']}/events",
                    params={"after": 0, "limit": 1000},
                    headers={"Authorization": f"Bearer {s['tokens']['observer']}"},
                )
                r.raise_for_status()
                return s["sid"], [int(e["seq"]) for e in r.json()["events"]]

        return dict(await asyncio.gather(*(one(s) for s in sessions)))


async def caught_up(socks: list[Sock], upto: dict[str, int]) -> None:
    """Until every socket has received its session's seq ``upto`` (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(s.last_seq >= upto[s.sid] for s in socks):
            return
        await asyncio.sleep(0.2)


async def restart_phase(
    target: Target, socks: list[Sock], sessions: list[dict[str, Any]], args: argparse.Namespace
) -> dict[str, Any]:
    real = isinstance(target, Backchannel)  # the floor keeps no log across a restart
    if real:
        await caught_up(socks, await prompts(target, sessions, "before the restart"))
    t_kill = time.perf_counter()
    target.kill()
    reopening = asyncio.create_task(reopen_all(socks, deadline_s=180))
    await asyncio.gather(*(s.cut() for s in socks))
    target.respawn()
    # The new process's CPU is counted from when it listens: start-up (imports,
    # migrations) is not the sockets' cost; its time is in from_kill_s.
    while not target.listening():
        if time.perf_counter() - t_kill > 180:
            raise RuntimeError("the server did not come back")
        await asyncio.sleep(0.005)
    t_up = time.perf_counter()
    c0 = _cpu(target)
    spy = _spy(target, Path(args.profile) if args.profile else None, f"{args.label}-restart")
    welcomed = await reopening
    back_ms = (time.perf_counter() - t_up) * 1000
    settle = await _idle(target)
    cpu = _cpu(target) - c0
    if spy is not None:
        spy.send_signal(2)
        spy.wait(30)
    row: dict[str, Any] = {
        "phase": "restart",
        "sockets": len(socks),
        "from_kill_s": round(max(welcomed) / 1000, 2),
        "up_after_s": round(t_up - t_kill, 2),
        "back_s": round(back_ms / 1000, 2),
        "server_cpu_s": round(cpu, 2),
        "cpu_ms_per_socket": round(cpu * 1000 / len(socks), 2),
        "settle_s": settle,
    }
    if real:
        after = await prompts(target, sessions, "after the restart")
        await caught_up(socks, after)
        log = await logged_seqs(target, sessions)
        lost = dup = 0
        for s in socks:
            got = s.seqs
            dup += len(got) - len(set(got))
            lost += len(set(log[s.sid]) - set(got))
        row.update(lost=lost, dup=dup, events=sum(len(v) for v in log.values()))
    print(
        f"  {args.label:>10} restart: all back {row['back_s']:6.2f} s after the new process "
        f"answered ({row['from_kill_s']:.2f} s after the kill, up after {row['up_after_s']:.2f} s) · server CPU "
        f"{row['cpu_ms_per_socket']:.2f} ms/socket (settled after {settle} s) · "
        f"lost/dup {row.get('lost', '-')}/{row.get('dup', '-')} of {row.get('events', '-')} events",
        flush=True,
    )
    return row


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    app_root = Path(args.app_root) if args.app_root else None
    target: Target = (
        Floor(workdir)
        if args.server == "floor"
        else Backchannel(
            workdir, app_root=app_root, db=args.db, env=dict(e.split("=", 1) for e in args.env)
        )
    )
    await asyncio.to_thread(target.start)
    try:
        if args.server == "floor":
            sessions = [
                {"sid": f"s{i}", "tokens": {r: f"s{i}:{r}" for r in ROLES}}
                for i in range(args.sessions)
            ]
        else:
            sessions = await target.create_sessions(args.sessions)
        socks = [
            Sock(target.ws_url, s["tokens"][r], args.deflate, s["sid"])
            for s in sessions
            for r in ROLES
        ]
        rss_before = _rss(target)
        rows = [await phase(target, socks, "first", False, args)]
        kb = (_rss(target) - rss_before) / 1024 / len(socks)
        print(f"  {args.label:>10} memory: {kb:.1f} KB per socket (RSS)", flush=True)
        if args.restart:
            rows.append(await restart_phase(target, socks, sessions, args))
        else:
            rows.append(await phase(target, socks, "storm", True, args))
            await asyncio.sleep(args.grace_s)
            rows.append(await phase(target, socks, "again", True, args))
        for s in socks:
            if s.ws is not None:
                s.ws.transport.abort()
        return {"label": args.label, "kb_per_socket": round(kb, 1), "phases": rows}
    finally:
        await asyncio.to_thread(target.stop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--server", choices=["backchannel", "floor"], default="backchannel")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--restart", action="store_true", help="after the first connects: kill, restart, reconnect"
    )
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
