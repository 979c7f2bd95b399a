"""What a long session costs: one session filled to N events, then the reads that used to
re-fold its whole log — ``GET /report``, ``GET /session``, a welcome — and the server CPU
per connecting socket, timed against a real server.

    python -m bench.long_session [--events 20000] [--app-root OTHER_CHECKOUT] [--out FILE]

``--app-root`` serves another checkout's ``app`` (a before/after pair in one sitting).
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.targets import Backchannel

WINDOW = 200  # sends in flight while filling


def _cpu(target: Backchannel) -> float:
    return sum(p.cpu_times().user + p.cpu_times().system for p in target.processes())


async def _fill(ws_url: str, token: str, n: int) -> None:
    """Log ``n`` producer events over one socket, ``WINDOW`` in flight at a time."""
    kinds = [
        ("prompt.time", {"text": "5 min left in Practice"}),
        ("flag.learner", {"learner": "Maria", "flag": "quiet"}),
        ("note", {"text": "Breakout 2 is noisy"}),
    ]
    async with websockets.connect(ws_url, max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "since": 10**9}))
        sent = acked = 0
        while acked < n:
            while sent < n and sent - acked < WINDOW:
                kind, body = kinds[sent % len(kinds)]
                frame = {"type": "send", "id": str(uuid.uuid4()), "kind": kind, "body": body}
                await ws.send(json.dumps(frame))
                sent += 1
            frame = json.loads(await ws.recv())
            if frame["type"] == "sent":
                acked += 1
            elif frame["type"] == "error":
                raise RuntimeError(frame)


async def _welcome_ms(ws_url: str, token: str) -> float:
    t0 = time.perf_counter()
    async with websockets.connect(ws_url, max_size=2**24) as ws:
        await ws.send(json.dumps({"type": "hello", "token": token, "since": 10**9}))
        while json.loads(await ws.recv())["type"] != "welcome":
            pass
        return (time.perf_counter() - t0) * 1000


async def _get_ms(http: httpx.AsyncClient, path: str, token: str) -> float:
    t0 = time.perf_counter()
    r = await http.get(path, headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    return (time.perf_counter() - t0) * 1000


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "first": round(values[0], 2),
        "p50": round(statistics.median(values), 2),
        "max": round(max(values), 2),
    }


async def measure(target: Backchannel, events: int, repeats: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{target.port}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        r = await http.post(
            "/api/v1/sessions",
            json={
                "title": "long",
                "agenda": [{"title": "Practice", "minutes": 30}],
                "roster": ["Maria", "Ahmed", "Li"],
            },
        )
        r.raise_for_status()
        created = r.json()
        sid, tokens = created["session"]["id"], created["tokens"]
        t0 = time.perf_counter()
        await _fill(target.ws_url, tokens["producer"], events)
        fill_s = time.perf_counter() - t0
        report = [
            await _get_ms(http, f"/api/v1/sessions/{sid}/report", tokens["producer"])
            for _ in range(repeats)
        ]
        view = [
            await _get_ms(http, f"/api/v1/sessions/{sid}", tokens["facilitator"])
            for _ in range(repeats)
        ]
        welcome = [await _welcome_ms(target.ws_url, tokens["facilitator"]) for _ in range(repeats)]
        # Server CPU per connecting socket: sockets of a short session, one after another,
        # each closed once welcomed, while one more stays open (as in a class, where the
        # session is open and nobody's first or last socket comes or goes).
        r = await http.post("/api/v1/sessions", json={"title": "short"})
        short = r.json()["tokens"]["facilitator"]
        async with websockets.connect(target.ws_url) as holder:
            await holder.send(json.dumps({"type": "hello", "token": short, "since": 0}))
            await holder.recv()
            await _welcome_ms(target.ws_url, short)
            cpu0 = _cpu(target)
            for _ in range(200):
                await _welcome_ms(target.ws_url, short)
            connect_cpu_ms = (_cpu(target) - cpu0) / 200 * 1000
    return {
        "events": events,
        "fill_s": round(fill_s, 1),
        "report_ms": _summary(report),
        "session_ms": _summary(view),
        "welcome_ms": _summary(welcome),
        "connect_cpu_ms_per_socket": round(connect_cpu_ms, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--app-root", type=Path, help="serve this checkout's app instead")
    parser.add_argument("--out", type=Path, help="also write the figures here (JSON)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bc-long-") as tmp:
        target = Backchannel(
            Path(tmp),
            env={
                "BACKCHANNEL_RATE_PER_S": "100000",
                "BACKCHANNEL_RATE_BURST": "100000",
                # The timed reads come faster than a debrief page's (abuse limits, issue 12).
                "BACKCHANNEL_HEAVY_READ_PER_S": "100000",
                "BACKCHANNEL_HEAVY_READ_BURST": "100000",
                "BACKCHANNEL_HEAVY_READ_SESSION_PER_S": "100000",
                "BACKCHANNEL_HEAVY_READ_SESSION_BURST": "100000",
            },
            app_root=args.app_root,
        )
        target.start()
        try:
            result = asyncio.run(measure(target, args.events, args.repeats))
        finally:
            target.stop()
    result["app_root"] = str(args.app_root or ".")
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
