"""Read amplification (issue 12, finding 1): can heavy reads of one big session slow down
another session's live line?

One session is filled to N events; then C clients loop on its ``GET /report`` (each with a
token of its own, as an attacker who added participants would) while a victim session's
producer sends 10 messages a second and its facilitator's overlay receives them. The
victim's send→overlay latency is measured with and without the readers, in one run.

    python -m bench.read_amplification [--events 20000] [--readers 8] [--polite] [--app-root DIR]

``--polite`` readers wait the ``Retry-After`` of a 429 (what heavy reads cost); without it
they loop on 429s as fast as the server answers (an HTTP flood, which a deployment's nginx
``limit_req`` stops before the app: docs/security.md).
"""

import argparse
import asyncio
import contextlib
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


async def _reader(
    base: str, sid: str, token: str, stop: asyncio.Event, tally: dict[int, int], polite: bool
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        while not stop.is_set():
            r = await http.get(
                f"/api/v1/sessions/{sid}/report", headers={"Authorization": f"Bearer {token}"}
            )
            tally[r.status_code] = tally.get(r.status_code, 0) + 1
            if polite and r.status_code == 429:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), float(r.headers["Retry-After"]))


async def measure(
    target: Backchannel, events: int, readers: int, seconds: float, polite: bool
) -> dict[str, Any]:
    base = f"http://127.0.0.1:{target.port}"
    async with httpx.AsyncClient(base_url=base, timeout=120) as http:
        big = (await http.post("/api/v1/sessions", json={"title": "big"})).json()
        victim = (await http.post("/api/v1/sessions", json={"title": "victim"})).json()
        await _fill(target.ws_url, big["tokens"]["producer"], events)
        tokens = [
            big["tokens"]["producer"],
            big["tokens"]["observer"],
            big["tokens"]["facilitator"],
        ]
        while len(tokens) < readers:
            r = await http.post(
                f"/api/v1/sessions/{big['session']['id']}/participants",
                json={"role": "observer", "name": f"reader {len(tokens)}"},
                headers={"Authorization": f"Bearer {big['tokens']['producer']}"},
            )
            r.raise_for_status()
            tokens.append(r.json()["token"])
    quiet = await _victim(target.ws_url, victim["tokens"], seconds)
    stop = asyncio.Event()
    tally: dict[int, int] = {}
    loops = [
        asyncio.create_task(_reader(base, big["session"]["id"], tok, stop, tally, polite))
        for tok in tokens[:readers]
    ]
    t0 = time.perf_counter()
    loaded = await _victim(target.ws_url, victim["tokens"], seconds)
    stop.set()
    await asyncio.gather(*loops)
    elapsed = time.perf_counter() - t0

    def stats(values: list[float]) -> dict[str, Any]:
        return {
            "n": len(values),
            "p50_ms": round(statistics.median(values), 2),
            "p99_ms": _pct(values, 0.99),
            "max_ms": round(max(values), 2),
        }

    return {
        "events": events,
        "readers": readers,
        "quiet": stats(quiet),
        "under_reads": stats(loaded),
        "report_requests_per_s": {str(k): round(v / elapsed, 1) for k, v in sorted(tally.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument(
        "--polite", action="store_true", help="readers wait Retry-After after a 429"
    )
    parser.add_argument("--app-root", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bc-amp-") as tmp:
        target = Backchannel(
            Path(tmp),
            # Fill fast; the heavy-read limits stay at their defaults (what is measured).
            env={
                "BACKCHANNEL_RATE_PER_S": "100000",
                "BACKCHANNEL_RATE_BURST": "100000",
                "BACKCHANNEL_HEAVY_READ_PER_S": "2",
                "BACKCHANNEL_HEAVY_READ_BURST": "5",
            },
            app_root=args.app_root,
        )
        target.start()
        try:
            result = asyncio.run(
                measure(target, args.events, args.readers, args.seconds, args.polite)
            )
        finally:
            target.stop()
    result["app_root"] = str(args.app_root or ".")
    result["polite"] = args.polite
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
