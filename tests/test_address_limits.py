"""One client address cannot take a process's whole allowance of sockets.

The attacker connects from 127.0.0.1, the legitimate client from 127.0.0.2 (another
loopback address, bound as the client socket's source): the server counts them apart.
"""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from app.config import Settings
from tests.support import Api, Server

ATTACKER = "127.0.0.1"
OTHER = "127.0.0.2"


@pytest.fixture
def capped_server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(
        tmp_path,
        env={
            "BACKCHANNEL_PRE_HELLO_MAX": "12",
            "BACKCHANNEL_PRE_HELLO_PER_ADDRESS": "4",
            "BACKCHANNEL_SOCKETS_PER_ADDRESS": "6",
        },
    ).start()
    try:
        yield srv
    finally:
        srv.stop()


async def open_from(server: Server, address: str) -> Any:
    return await websockets.connect(server.ws_url, local_addr=(address, 0))


async def close_code(ws: Any) -> int:
    """The code the server closes ``ws`` with (it must close it, and soon)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return int(closed.value.rcvd.code)


async def hello(ws: Any, token: str) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "hello", "token": token, "since": 0}))
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
    return frame


def test_the_per_address_caps_default_to_the_documented_figures() -> None:
    settings = Settings(_env_file=None)
    assert settings.pre_hello_per_address == 50
    assert settings.sockets_per_address == 500
    assert settings.pre_hello_max == 1000


async def test_one_address_waiting_for_hello_cannot_lock_out_another(
    capped_server: Server,
) -> None:
    api = Api(capped_server.url)
    s = await api.create_session()
    await api.close()
    opened: list[Any] = []
    try:
        # The attacker tries to hold every place of the process; beyond its own four, each
        # new socket is closed with 1013.
        for _ in range(12):
            opened.append(await open_from(capped_server, ATTACKER))
        held = opened[:4]
        for ws in opened[4:]:
            assert await close_code(ws) == 1013
        # Another address still gets in, and its hello is answered.
        other = await open_from(capped_server, OTHER)
        opened.append(other)
        assert (await hello(other, s["tokens"]["facilitator"]))["type"] == "welcome"
        # The attacker's sockets that were let in are still waiting; one of them may hello.
        assert (await hello(held[0], s["tokens"]["producer"]))["type"] == "welcome"
    finally:
        for ws in opened:
            await ws.close()


async def test_one_address_cannot_hold_more_than_its_share_of_open_sockets(
    capped_server: Server,
) -> None:
    api = Api(capped_server.url)
    s = await api.create_session()
    await api.close()
    token = s["tokens"]["observer"]
    opened: list[Any] = []
    try:
        for _ in range(6):
            ws = await open_from(capped_server, ATTACKER)
            opened.append(ws)
            assert (await hello(ws, token))["type"] == "welcome"
        # The seventh from the same address closes with 1013, welcomed ones or not.
        extra = await open_from(capped_server, ATTACKER)
        opened.append(extra)
        assert await close_code(extra) == 1013
        other = await open_from(capped_server, OTHER)
        opened.append(other)
        assert (await hello(other, token))["type"] == "welcome"
        # A socket that closes frees its place.
        await opened[0].close()
        again = None
        for _ in range(50):
            again = await open_from(capped_server, ATTACKER)
            opened.append(again)
            try:
                if (await hello(again, token))["type"] == "welcome":
                    break
            except websockets.ConnectionClosed:
                pass  # the server has not counted the close yet
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("a closed socket's place was never freed")
    finally:
        for ws in opened:
            await ws.close()
