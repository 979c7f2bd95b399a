"""Read amplification (issue 12 finding 1, issue 22 item 1): can reads of one big session
slow down another session's live line?

One session is filled to N events; then C clients loop on one of its read routes (each with
a token of its own, as an attacker who added participants would) while a victim session's
producer sends 10 messages a second and its facilitator's overlay receives them. The
victim's send→overlay latency is measured first with no readers (the floor, in the same
run), then with the readers on each route in turn.

    python -m bench.read_amplification [--events 20000] [--readers 8] [--polite]
        [--routes listing,csv,export,report,session,status] [--seconds 15] [--app-root DIR]

``--polite`` readers wait the ``Retry-After`` of a 429; without it they ask again at once
(the server itself answers each refusal after a short wait, docs/security.md). The readers
run in a process of their own, so that what they download does not hold up the victim's
client.
"""

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.long_session import _fill
from bench.targets import Backchannel


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def _victim(ws_url: str, tokens: dict[str, str], seconds: float) -> list[float]:
    """Send→overlay latency (ms) of a producer's prompts at 10/s for ``seconds``."""
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    async with (
        websockets.connect(ws_url) as producer,
        websockets.connect(ws_url, max_size=2**22) as overlay,
    ):
        for ws, role in ((producer, "producer"), (overlay, "facilitator")):
            await ws.send(json.dumps({"type": "hello", "token": tokens[role], "since": 0}))
            while json.loads(await ws.recv())["type"] != "welcome":
                pass

        async def read() -> None:
            async for raw in overlay:
                frame = json.loads(raw)
                if frame["type"] == "event":
                    eid = frame["event"]["id"]
                    if eid in sent_at:
                        latencies.append((time.perf_counter() - sent_at.pop(eid)) * 1000)

        async def drain_producer() -> None:
            async for _ in producer:
                pass

        tasks = [asyncio.create_task(read()), asyncio.create_task(drain_producer())]
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            eid = str(uuid.uuid4())
            sent_at[eid] = time.perf_counter()
            body = {"text": "5 min left"}
            await producer.send(
                json.dumps({"type": "send", "id": eid, "kind": "prompt.time", "body": body})
            )
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # the last ones arrive
        for task in tasks:
            task.cancel()
    return latencies


ROUTES = {
    "listing": "/api/v1/sessions/{sid}/events?after=0&limit=1000",
    "csv": "/api/v1/sessions/{sid}/events?format=csv",
    "export": "/api/v1/sessions/{sid}/export",
    "report": "/api/v1/sessions/{sid}/report",
    "session": "/api/v1/sessions/{sid}",
    "status": "/api/v1/sessions/{sid}/events/1/status",
}


async def _reader(
    base: str, path: str, token: str, until: float, tally: dict[int, int], polite: bool
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while time.time() < until:
            async with http.stream("GET", path, headers={"Authorization": f"Bearer {token}"}) as r:
                async for _ in r.aiter_raw():
                    pass
            tally[r.status_code] = tally.get(r.status_code, 0) + 1
            if polite and r.status_code == 429:
                await asyncio.sleep(
                    min(float(r.headers["Retry-After"]), max(0, until - time.time()))
                )


def _readers_process(
    base: str, path: str, tokens: list[str], until: float, polite: bool, out: Any
) -> None:
    """The readers, in a process of their own (multiprocessing target)."""
    tally: dict[int, int] = {}

    async def run() -> None:
        await asyncio.gather(*(_reader(base, path, t, until, tally, polite) for t in tokens))

    asyncio.run(run())
    out.put(tally)


def _stats(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": round(statistics.median(values), 2),
        "p99_ms": _pct(values, 0.99),
        "max_ms": round(max(values), 2),
    }


async def measure(
    target: Backchannel,
    events: int,
    readers: int,
    seconds: float,
    polite: bool,
    routes: list[str],
) -> dict[str, Any]:
    import multiprocessing

    base = f"http://127.0.0.1:{target.port}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        big = (await http.post("/api/v1/sessions", json={"title": "big"})).json()
        victim = (await http.post("/api/v1/sessions", json={"title": "victim"})).json()
        t_fill = time.perf_counter()
        await _fill(target.ws_url, big["tokens"]["producer"], events)
        fill_s = time.perf_counter() - t_fill
        # Producer and observers: every route is open to them (export and status too).
        tokens = [big["tokens"]["producer"], big["tokens"]["observer"]]
        while len(tokens) < readers:
            r = await http.post(
                f"/api/v1/sessions/{big['session']['id']}/participants",
                json={"role": "observer", "name": f"reader {len(tokens)}"},
                headers={"Authorization": f"Bearer {big['tokens']['producer']}"},
            )
            r.raise_for_status()
            tokens.append(r.json()["token"])
        await asyncio.sleep(8)  # the readers' budgets are full again (after the checks above)
    import psutil

    server = psutil.Process(target.proc.pid) if target.proc is not None else None

    def server_cpu_s() -> float:
        if server is None:
            return 0.0
        cpu = server.cpu_times()
        return cpu.user + cpu.system

    cpu0 = server_cpu_s()
    floor = await _victim(target.ws_url, victim["tokens"], seconds)
    floor_cpu = (server_cpu_s() - cpu0) / seconds
    by_route: dict[str, Any] = {}
    ctx = multiprocessing.get_context("spawn")
    for route in routes:
        path = ROUTES[route].format(sid=big["session"]["id"])
        out = ctx.Queue()
        until = time.time() + seconds + 1.5
        proc = ctx.Process(
            target=_readers_process,
            args=(base, path, tokens[:readers], until, polite, out),
        )
        proc.start()
        await asyncio.sleep(0.5)  # the readers are under way
        cpu0 = server_cpu_s()
        loaded = await _victim(target.ws_url, victim["tokens"], seconds)
        busy = (server_cpu_s() - cpu0) / seconds
        tally = await asyncio.to_thread(out.get, True, 120)
        await asyncio.to_thread(proc.join, 30)
        elapsed = seconds + 1.0
        by_route[route] = {
            "victim": _stats(loaded),
            "server_cores_busy": round(busy, 3),
            "requests_per_s": {str(k): round(v / elapsed, 1) for k, v in sorted(tally.items())},
        }
        await asyncio.sleep(2)  # let the last reads finish
    return {
        "events": events,
        "fill_s": round(fill_s, 1),
        "readers": readers,
        "seconds_per_phase": seconds,
        "floor": _stats(floor),
        "floor_server_cores_busy": round(floor_cpu, 3),
        "routes": by_route,
    }


def main() -> None:
    import datetime
    import os
    import platform

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--polite", action="store_true", help="readers wait Retry-After after a 429"
    )
    parser.add_argument("--routes", default=",".join(ROUTES))
    parser.add_argument("--app-root", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    routes = [r for r in args.routes.split(",") if r]
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bc-amp-") as tmp:
        target = Backchannel(
            Path(tmp),
            # Fill fast; the read limits stay at their defaults (what is measured).
            env={"BACKCHANNEL_RATE_PER_S": "100000", "BACKCHANNEL_RATE_BURST": "100000"},
            app_root=args.app_root,
        )
        target.start()
        try:
            result = asyncio.run(
                measure(target, args.events, args.readers, args.seconds, args.polite, routes)
            )
        finally:
            target.stop()
    result["app_root"] = str(args.app_root or ".")
    result["polite"] = args.polite
    result["started"] = started
    result["machine"] = f"{platform.node()}: {os.cpu_count()} cores, {platform.processor()}"
    result["load_before_after"] = [
        [round(x, 2) for x in load_before],
        [round(x, 2) for x in os.getloadavg()],
    ]
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
