"""`backchannel serve --workers N` on Redis: uvicorn worker processes that share the sockets."""

import asyncio
import os
from pathlib import Path
from typing import Any

from tests.scale.conftest import all_events, new_session
from tests.scale.test_cluster import assert_stream
from tests.support import Client, Server


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _owner_of_peer(workers: list[int], server_port: int, client_port: int) -> int | None:
    """Which worker holds the server end of the TCP connection from ``client_port``."""
    by_inode = {inode: w for w in workers for inode in _socket_inodes(w)}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if (
            int(local.split(":")[1], 16) == server_port
            and int(remote.split(":")[1], 16) == client_port
            and inode in by_inode
        ):
            return by_inode[inode]
    return None


async def test_serve_with_two_workers_shares_one_stream_between_them(
    tmp_path: Path, pg_url: str, redis_url: str, made_clients: list[Client]
) -> None:
    # 40 sockets over three participants: above the default cap of 10 per participant
    # (4409) if the kernel hands the first thirty to one worker, as it does on a busy machine.
    server = Server(
        tmp_path,
        database_url=pg_url,
        broker_url=redis_url,
        env={"BACKCHANNEL_MAX_SOCKETS_PER_PARTICIPANT": "20"},
    )
    server.extra_args = ["--workers", "2"]
    server.start(timeout=60)
    try:
        assert server.proc is not None
        deadline = asyncio.get_running_loop().time() + 30
        while len(workers := _children(server.proc.pid)) < 2:
            assert asyncio.get_running_loop().time() < deadline, "workers did not start"
            await asyncio.sleep(0.2)
        session = await new_session(server)
        tokens = session["tokens"]
        # Connect until both workers hold at least one client (the kernel picks the worker).
        placed: dict[int, list[tuple[str, Client]]] = {}
        roles = ["facilitator", "observer", "producer"]
        for i in range(40):
            role = roles[i % 3]
            c = Client(server.ws_url, tokens[role])
            made_clients.append(c)
            await c.connect()
            owner = _owner_of_peer(workers, server.port, c.ws.local_address[1])
            placed.setdefault(owner or 0, []).append((role, c))
            if len([w for w in placed if w]) >= 2 and i >= 5:
                break
        assert len([w for w in placed if w]) >= 2, f"every client landed on one worker: {placed}"

        everyone = [rc for group in placed.values() for rc in group]
        senders = [c for role, c in everyone if role == "producer"]
        for k in range(10):
            reply = await senders[k % len(senders)].send("prompt.time", {"text": f"w{k}"})
            assert reply["type"] == "sent"
        last = await senders[0].send("prompt.time", {"text": "the end"})
        await asyncio.gather(*(c.wait_seq(last["seq"]) for _, c in everyone))
        log: list[dict[str, Any]] = await all_events(server, session)
        for role, c in everyone:
            assert_stream(c, log, role, last["seq"])
        assert (await asyncio.to_thread(_ready, server.url)) == 200
    finally:
        server.stop()
    assert " 500 " not in server.log_text()


def _ready(url: str) -> int:
    import httpx

    return httpx.get(url + "/readyz", timeout=5).status_code
