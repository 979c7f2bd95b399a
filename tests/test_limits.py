"""Abuse limits on one process: heavy reads, session creation, sockets waiting for hello."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from app.cli import _is_loopback
from app.clock import clock
from app.config import Settings
from tests.inprocess import InProcessServer
from tests.support import Api, Server, http_client, ws_connect


@pytest.fixture
async def keyed_server(tmp_path: Path) -> AsyncIterator[InProcessServer]:
    srv = await InProcessServer(
        tmp_path, env={"BACKCHANNEL_ORGANIZER_KEY": "organizer-secret"}
    ).start()
    try:
        yield srv
    finally:
        await srv.stop()


def assert_429(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "rate_limited"
    assert int(r.headers["Retry-After"]) >= 1


async def test_heavy_reads_are_limited_per_token_with_retry_after(tmp_path: Path) -> None:
    # A slow refill (one every 5 s), so that a loaded machine's slow replies earn nothing.
    server = await InProcessServer(tmp_path, env={"BACKCHANNEL_HEAVY_READ_PER_S": "0.2"}).start()
    api = Api(server.url)
    try:
        session = await api.create_session()
        sid = session["session"]["id"]
        producer = api.auth(session["tokens"]["producer"])
        heavy = [
            f"/api/v1/sessions/{sid}/report",
            f"/api/v1/sessions/{sid}/export",
            f"/api/v1/sessions/{sid}/events?format=csv",
        ]
        # Five in a burst, whichever of the three; the sixth at once is refused.
        for i in range(5):
            r = await api.http.get(heavy[i % 3], headers=producer)
            assert r.status_code == 200, r.text
        for path in heavy:
            assert_429(await api.http.get(path, headers=producer))
        # Another token has its own budget; cheap reads are not heavy ones.
        observer = api.auth(session["tokens"]["observer"])
        assert (await api.http.get(heavy[1], headers=observer)).status_code == 200
        listing = await api.http.get(f"/api/v1/sessions/{sid}/events", headers=producer)
        assert listing.status_code == 200
        # The budget refills: after Retry-After, one more is served.
        r = await api.http.get(heavy[0], headers=producer)
        assert_429(r)
        clock.advance(int(r.headers["Retry-After"]))  # the wait, on the movable clock
        assert (await api.http.get(heavy[0], headers=producer)).status_code == 200
    finally:
        await api.close()
        await server.stop()


async def test_creating_sessions_without_an_organizer_key_is_limited_per_address(
    tmp_path: Path,
) -> None:
    # 5 a minute here (one more every 12 s): the test's own pace earns nothing back.
    server = await InProcessServer(tmp_path, env={"BACKCHANNEL_CREATE_PER_MIN": "5"}).start()
    try:
        async with http_client(server.url, timeout=15) as http:
            for _ in range(5):
                r = await http.post("/api/v1/sessions", json={"title": "Spam?"})
                assert r.status_code == 201, r.text
            assert_429(await http.post("/api/v1/sessions", json={"title": "One too many"}))
    finally:
        await server.stop()


def test_the_limits_default_to_the_documented_figures() -> None:
    settings = Settings(_env_file=None)
    assert (settings.heavy_read_per_s, settings.heavy_read_burst) == (2.0, 5)
    assert settings.create_per_min == 30
    assert settings.pre_hello_max == 1000
    assert settings.link_ttl_days == 30


async def test_creating_sessions_with_the_organizer_key_is_not_limited(
    keyed_server: InProcessServer,
) -> None:
    async with http_client(keyed_server.url, timeout=15) as http:
        key = {"Authorization": "Bearer organizer-secret"}
        for _ in range(35):
            r = await http.post("/api/v1/sessions", json={"title": "Planned"}, headers=key)
            assert r.status_code == 201, r.text


async def test_sockets_waiting_for_hello_are_capped_per_process(tmp_path: Path) -> None:
    server = await InProcessServer(tmp_path, env={"BACKCHANNEL_PRE_HELLO_MAX": "3"}).start()
    try:
        api = Api(server.url)
        s = await api.create_session()
        await api.close()
        waiting = [await ws_connect(server.ws_url) for _ in range(3)]
        refused = await ws_connect(server.ws_url)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), 10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        # A hello frees its place at once.
        await waiting[0].send(json.dumps({"type": "hello", "token": s["tokens"]["producer"]}))
        assert json.loads(await asyncio.wait_for(waiting[0].recv(), 10))["type"] == "welcome"
        admitted = await ws_connect(server.ws_url)
        await admitted.send(json.dumps({"type": "hello", "token": s["tokens"]["observer"]}))
        assert json.loads(await asyncio.wait_for(admitted.recv(), 10))["type"] == "welcome"
        for ws in [*waiting, admitted]:
            await ws.close()
    finally:
        await server.stop()


def test_serve_warns_on_a_non_loopback_host_without_an_organizer_key(tmp_path: Path) -> None:
    assert _is_loopback("127.0.0.1") and _is_loopback("::1") and _is_loopback("localhost")
    assert not _is_loopback("0.0.0.0") and not _is_loopback("example.org")
    open_server = Server(tmp_path)
    open_server.extra_args = ["--host", "0.0.0.0"]
    keyed = Server(tmp_path, env={"BACKCHANNEL_ORGANIZER_KEY": "k"})
    keyed.extra_args = ["--host", "0.0.0.0"]
    try:
        open_server.start()
        keyed.start()
    finally:
        open_server.stop()
        keyed.stop()
    assert "no BACKCHANNEL_ORGANIZER_KEY" in open_server.log_text()
    assert "no BACKCHANNEL_ORGANIZER_KEY" not in keyed.log_text()


async def test_heavy_reads_are_also_limited_per_session_over_all_its_tokens(
    tmp_path: Path,
) -> None:
    """Adding participants does not multiply what a session's readers may take."""
    server = await InProcessServer(
        tmp_path, env={"BACKCHANNEL_HEAVY_READ_SESSION_PER_S": "0.2"}
    ).start()
    api = Api(server.url)
    try:
        session = await api.create_session()
        sid = session["session"]["id"]
        producer = api.auth(session["tokens"]["producer"])
        tokens = []
        for i in range(6):
            r = await api.http.post(
                f"/api/v1/sessions/{sid}/participants",
                json={"role": "observer", "name": f"reader {i}"},
                headers=producer,
            )
            assert r.status_code == 201, r.text
            tokens.append(r.json()["token"])
        codes = []
        for token in tokens:  # two each: within every token's own budget of five
            for _ in range(2):
                r = await api.http.get(f"/api/v1/sessions/{sid}/report", headers=api.auth(token))
                codes.append(r.status_code)
        assert codes[:10] == [200] * 10  # the session's burst
        assert codes[10:] == [429, 429]
        other = await api.create_session()  # another session has its own budget
        r = await api.http.get(
            f"/api/v1/sessions/{other['session']['id']}/report",
            headers=api.auth(other["tokens"]["producer"]),
        )
        assert r.status_code == 200
    finally:
        await api.close()
        await server.stop()
