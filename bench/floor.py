"""The floor: a bare WebSocket relay speaking Backchannel's frames, with no DB and no checks.

Tokens are ``<session>:<role>``; a session is created by its first hello. Events live in
memory so a resume with ``since`` works like the real server's. Whatever this costs is the
cost of Python, the WebSocket framing and the fan-out alone: the floor every figure of the
real server is divided by.

Run: ``python -m bench.floor --port P``.
"""

import argparse
import asyncio
import json
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve

from bench.limits import raise_nofile


class Room:
    def __init__(self) -> None:
        self.frames: list[str] = []  # frames[i] carries seq i + 1
        self.ids: dict[str, int] = {}
        self.conns: set[ServerConnection] = set()


ROOMS: dict[str, Room] = {}
OUTBOX: dict[ServerConnection, "asyncio.Queue[str]"] = {}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


async def handler(ws: ServerConnection) -> None:
    try:
        hello = json.loads(await ws.recv())
        sid, _, role = str(hello["token"]).partition(":")
        since = int(hello.get("since") or 0)
    except Exception:
        await ws.close(4401, "bad hello")
        return
    room = ROOMS.setdefault(sid, Room())
    out: asyncio.Queue[str] = asyncio.Queue()
    out.put_nowait(_dumps({"type": "welcome", "protocol": 1, "last_seq": len(room.frames)}))
    # Replay and join in one step (no await in between): nothing missed, nothing twice.
    for frame in room.frames[since:]:
        out.put_nowait(frame)
    OUTBOX[ws] = out
    room.conns.add(ws)
    writer = asyncio.create_task(_write_loop(ws, out))
    try:
        async for text in ws:
            msg = json.loads(text)
            if msg.get("type") != "send":
                continue
            mid = msg["id"]
            seq = room.ids.get(mid)
            if seq is None:
                seq = len(room.frames) + 1
                room.ids[mid] = seq
                event = {
                    "seq": seq,
                    "id": mid,
                    "kind": msg["kind"],
                    "body": msg["body"],
                    "author": {"participant_id": sid, "role": role, "name": role},
                    "at": time.time(),
                }
                frame = _dumps({"type": "event", "event": event})
                room.frames.append(frame)
                for conn in list(room.conns):
                    OUTBOX[conn].put_nowait(frame)
            out.put_nowait(_dumps({"type": "sent", "id": mid, "seq": seq}))
    except Exception:
        pass
    finally:
        room.conns.discard(ws)
        OUTBOX.pop(ws, None)
        writer.cancel()


async def _write_loop(ws: ServerConnection, out: "asyncio.Queue[str]") -> None:
    """One ordered outgoing queue per socket, as in the real server."""
    try:
        while True:
            await ws.send(await out.get())
    except Exception:
        pass


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, max_size=16 * 1024, ping_interval=None) as server:
        print(f"floor listening on {port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    raise_nofile()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main(args.port))
