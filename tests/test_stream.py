"""The live feed (GET …/stream): Server-Sent Events read with a standard SSE client
(httpx-sse), against a real server: the socket's frames for the role, ``id:`` = seq, resume
with ``Last-Event-ID`` through a dropped connection, heartbeats, tickets, revocation."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from httpx_sse._decoders import SSEDecoder

from tests.support import Client, Server

HEARTBEAT_S = 0.5


@pytest.fixture(scope="module")
def feed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"BACKCHANNEL_STREAM_HEARTBEAT_S": str(HEARTBEAT_S)}
    srv = Server(tmp_path_factory.mktemp("feed"), env=env).start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
async def http(feed_server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=feed_server.url, timeout=10) as client:
        yield client


async def new_session(http: httpx.AsyncClient) -> dict[str, Any]:
    r = await http.post(
        "/api/v1/sessions",
        json={"title": "Feed", "agenda": [{"title": "Open", "minutes": 10}], "roster": ["Maria"]},
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def post(
    http: httpx.AsyncClient, s: dict[str, Any], kind: str, body: dict[str, Any]
) -> dict[str, Any]:
    r = await http.post(
        f"/api/v1/sessions/{s['session']['id']}/events",
        json={"kind": kind, "body": body},
        headers=auth(s["tokens"]["producer"]),
    )
    assert r.status_code == 201, r.text
    event: dict[str, Any] = r.json()
    return event


class Feed:
    """One stream, read in the background: every SSE message kept as it came."""

    def __init__(self, http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
        self.http = http
        self.path = path
        self.headers = headers
        self.messages: list[ServerSentEvent] = []
        self.comments = 0
        self.status: int | None = None
        self.content_type = ""
        self.opened = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> "Feed":
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        async with aconnect_sse(self.http, "GET", self.path, headers=self.headers) as source:
            self.status = source.response.status_code
            self.content_type = source.response.headers.get("content-type", "")
            self.opened.set()
            if self.status != 200:
                return
            decoder = SSEDecoder()
            async for line in source.response.aiter_lines():
                # httpx-sse's decoder, fed line by line, so comments can be counted too.
                if line.startswith(":"):
                    self.comments += 1
                sse = decoder.decode(line.rstrip("\n"))
                if sse is not None:
                    self.messages.append(sse)

    @property
    def frames(self) -> list[dict[str, Any]]:
        return [json.loads(m.data) for m in self.messages]

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(m.data)["event"] for m in self.messages if m.event == "event"]

    async def wait(self, match: Any, timeout: float = 10) -> ServerSentEvent:
        async with asyncio.timeout(timeout):
            while True:
                for m in self.messages:
                    if match(m):
                        return m
                if self.task is not None and self.task.done():
                    raise AssertionError(f"stream ended; got {[m.event for m in self.messages]}")
                await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(BaseException):
                await self.task


@pytest.fixture
async def feeds() -> AsyncIterator[list[Feed]]:
    made: list[Feed] = []
    yield made
    for f in made:
        await f.stop()


def open_feed(
    http: httpx.AsyncClient,
    feeds: list[Feed],
    s: dict[str, Any],
    token: str | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
) -> Feed:
    h = dict(headers or {})
    if token is not None:
        h.update(auth(token))
    feed = Feed(http, f"/api/v1/sessions/{s['session']['id']}/stream{query}", h).start()
    feeds.append(feed)
    return feed


def seq_is(seq: int) -> Any:
    return lambda m: m.event == "event" and json.loads(m.data)["event"]["seq"] == seq


async def test_a_stream_sends_the_sockets_frames_for_its_role_with_seq_as_id(
    http: httpx.AsyncClient, feed_server: Server, feeds: list[Feed]
) -> None:
    s = await new_session(http)
    await post(http, s, "note", {"text": "for designers only"})
    message = await post(http, s, "message", {"text": "Welcome everyone"})
    feed = open_feed(http, feeds, s, s["tokens"]["facilitator"])
    await feed.opened.wait()
    assert feed.status == 200 and feed.content_type.startswith("text/event-stream")
    await feed.wait(seq_is(message["seq"]))
    started = await post(http, s, "session.start", {})
    await feed.wait(lambda m: m.event == "state" and m.id == str(started["seq"]))

    ws = Client(feed_server.ws_url, s["tokens"]["facilitator"])
    try:
        await ws.connect(since=0)
        await ws.wait_seq(started["seq"])
        upto = started["seq"]
        # The same event frames as the socket, the note left out for the facilitator.
        assert [e for e in feed.events if e["seq"] <= upto] == [
            e for e in ws.events if e["seq"] <= upto
        ]
        assert "note" not in {e["kind"] for e in feed.events}
        # Every event's id is its seq; the welcome and first state (before the replay) have none.
        names = [m.event for m in feed.messages]
        assert names[:2] == ["welcome", "state"] and feed.messages[0].id in ("", None)
        for m in feed.messages:
            if m.event == "event":
                assert m.id == str(json.loads(m.data)["event"]["seq"])
        # The state after seq N is the socket's state as of N.
        state = next(f for f in feed.frames if f["type"] == "state" and f["seq"] == upto)
        assert ws.welcome["last_seq"] == upto and state["state"] == ws.welcome["state"]
        assert feed.frames[0]["you"]["role"] == "facilitator"
    finally:
        await ws.close()


async def test_a_stream_sends_a_heartbeat_comment_while_nothing_happens(
    http: httpx.AsyncClient, feeds: list[Feed]
) -> None:
    s = await new_session(http)
    feed = open_feed(http, feeds, s, s["tokens"]["producer"])
    await feed.wait(lambda m: m.event == "state")
    await asyncio.sleep(HEARTBEAT_S * 3.5)
    assert feed.comments >= 2


class Cuttable:
    """A TCP proxy in front of the server whose connections the test can drop."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers += [writer, up_writer]

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(Exception):
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


async def test_resume_with_last_event_id_after_a_dropped_connection_loses_and_repeats_nothing(
    http: httpx.AsyncClient, feed_server: Server
) -> None:
    s = await new_session(http)
    sid = s["session"]["id"]
    proxy = Cuttable(feed_server.port)
    base = await proxy.start()
    received: list[dict[str, Any]] = []
    last_id: str | None = None
    connects = 0
    done = asyncio.Event()
    total = 60

    async def follow() -> None:
        """What any SSE client does: read, and after a drop reconnect with Last-Event-ID."""
        nonlocal last_id, connects
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            while not done.is_set():
                headers = auth(s["tokens"]["facilitator"])
                if last_id:
                    headers["Last-Event-ID"] = last_id
                connects += 1
                with contextlib.suppress(httpx.HTTPError):
                    path = f"/api/v1/sessions/{sid}/stream"
                    async with aconnect_sse(client, "GET", path, headers=headers) as source:
                        async for sse in source.aiter_sse():
                            if sse.id:
                                last_id = sse.id
                            if sse.event == "event":
                                received.append(json.loads(sse.data)["event"])
                            if sum(e["kind"] == "message" for e in received) >= total:
                                done.set()
                                return
                await asyncio.sleep(0.05)

    follower = asyncio.create_task(follow())
    try:
        for i in range(total):
            await asyncio.sleep(0.06)  # within the producer's 20 sends/s
            await post(http, s, "message", {"text": f"m{i}"})
            if i % 4 == 1:
                await post(http, s, "note", {"text": f"hidden {i}"})
            if i in (10, 25, 40):
                proxy.cut()  # a Wi-Fi drop: the stream dies mid-flight
        await asyncio.wait_for(done.wait(), 20)
    finally:
        done.set()
        follower.cancel()
        with contextlib.suppress(BaseException):
            await follower
        await proxy.close()
    assert connects >= 4
    texts = [e["body"]["text"] for e in received if e["kind"] == "message"]
    assert texts == [f"m{i}" for i in range(total)]  # nothing lost, nothing twice, in order
    got = [e["seq"] for e in received]
    assert got == sorted(set(got))


async def test_a_ticket_opens_one_stream_without_a_token_in_the_url(
    http: httpx.AsyncClient, feeds: list[Feed]
) -> None:
    s = await new_session(http)
    sid = s["session"]["id"]
    r = await http.post(
        f"/api/v1/sessions/{sid}/stream-tickets", headers=auth(s["tokens"]["observer"])
    )
    assert r.status_code == 201, r.text
    ticket = r.json()["ticket"]
    assert s["tokens"]["observer"] not in ticket
    note = await post(http, s, "note", {"text": "observers see notes"})
    feed = open_feed(http, feeds, s, query=f"?ticket={ticket}")
    await feed.wait(seq_is(note["seq"]))
    assert feed.frames[0]["you"]["role"] == "observer"
    # Used once: the same ticket opens nothing more, nor does a made-up one.
    again = await http.get(f"/api/v1/sessions/{sid}/stream", params={"ticket": ticket})
    assert again.status_code == 401
    forged = ticket[:-4] + ("AAAA" if not ticket.endswith("AAAA") else "BBBB")
    r = await http.get(f"/api/v1/sessions/{sid}/stream", params={"ticket": forged})
    assert r.status_code == 401
    # A token in the URL is refused, never used.
    r = await http.get(f"/api/v1/sessions/{sid}/stream", params={"token": s["tokens"]["producer"]})
    assert r.status_code == 422
    # A ticket of one session opens no stream of another.
    other = await new_session(http)
    r = await http.post(
        f"/api/v1/sessions/{sid}/stream-tickets", headers=auth(s["tokens"]["producer"])
    )
    r = await http.get(
        f"/api/v1/sessions/{other['session']['id']}/stream", params={"ticket": r.json()["ticket"]}
    )
    assert r.status_code == 401


async def test_a_ticket_expires_and_dies_with_its_link(tmp_path: Path, feeds: list[Feed]) -> None:
    srv = Server(tmp_path, env={"BACKCHANNEL_STREAM_TICKET_TTL_S": "0.5"}).start()
    try:
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as http:
            s = await new_session(http)
            sid = s["session"]["id"]
            url = f"/api/v1/sessions/{sid}/stream-tickets"
            old = (await http.post(url, headers=auth(s["tokens"]["facilitator"]))).json()
            await asyncio.sleep(0.7)
            r = await http.get(f"/api/v1/sessions/{sid}/stream", params={"ticket": old["ticket"]})
            assert r.status_code == 401
            fresh = (await http.post(url, headers=auth(s["tokens"]["facilitator"]))).json()
            fac = next(p for p in s["participants"] if p["role"] == "facilitator")
            rotated = await http.post(
                f"/api/v1/sessions/{sid}/participants/{fac['participant_id']}/rotate",
                headers=auth(s["tokens"]["producer"]),
            )
            assert rotated.status_code == 201
            r = await http.get(f"/api/v1/sessions/{sid}/stream", params={"ticket": fresh["ticket"]})
            assert r.status_code == 401
    finally:
        srv.stop()


async def test_revoking_a_link_closes_its_open_stream(
    http: httpx.AsyncClient, feeds: list[Feed]
) -> None:
    s = await new_session(http)
    sid = s["session"]["id"]
    feed = open_feed(http, feeds, s, s["tokens"]["facilitator"])
    await feed.wait(lambda m: m.event == "state")
    fac = next(p for p in s["participants"] if p["role"] == "facilitator")
    r = await http.delete(
        f"/api/v1/sessions/{sid}/participants/{fac['participant_id']}",
        headers=auth(s["tokens"]["producer"]),
    )
    assert r.status_code in (200, 204), r.text
    closing = await feed.wait(lambda m: m.event == "close", timeout=5)
    assert json.loads(closing.data)["code"] == 4401
    assert feed.task is not None
    await asyncio.wait_for(feed.task, 5)  # and the stream ends
    r = await http.get(f"/api/v1/sessions/{sid}/stream", headers=auth(s["tokens"]["facilitator"]))
    assert r.status_code == 401


async def test_streams_count_against_the_participants_socket_cap(
    http: httpx.AsyncClient, feed_server: Server, feeds: list[Feed]
) -> None:
    s = await new_session(http)
    sockets = []
    try:
        for _ in range(9):
            c = Client(feed_server.ws_url, s["tokens"]["producer"])
            sockets.append(c)
            await c.connect()
        tenth = open_feed(http, feeds, s, s["tokens"]["producer"])
        await tenth.wait(lambda m: m.event == "state")
        eleventh = open_feed(http, feeds, s, s["tokens"]["producer"])
        await eleventh.opened.wait()
        assert eleventh.status == 429
        # Closing the stream gives its place back.
        await tenth.stop()
        for _ in range(50):
            again = open_feed(http, feeds, s, s["tokens"]["producer"])
            await again.opened.wait()
            if again.status == 200:
                break
            await asyncio.sleep(0.1)
        assert again.status == 200
    finally:
        for c in sockets:
            await c.close()


async def test_a_bad_last_event_id_is_refused(http: httpx.AsyncClient) -> None:
    s = await new_session(http)
    r = await http.get(
        f"/api/v1/sessions/{s['session']['id']}/stream",
        headers={**auth(s["tokens"]["producer"]), "Last-Event-ID": "-3"},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input"


async def test_streams_count_against_the_sockets_per_address(
    tmp_path: Path, feeds: list[Feed]
) -> None:
    srv = Server(tmp_path, env={"BACKCHANNEL_SOCKETS_PER_ADDRESS": "2"}).start()
    try:
        async with httpx.AsyncClient(base_url=srv.url, timeout=10) as http:
            s = await new_session(http)
            first = open_feed(http, feeds, s, s["tokens"]["producer"])
            second = open_feed(http, feeds, s, s["tokens"]["facilitator"])
            for f in (first, second):
                await f.wait(lambda m: m.event == "state")
            third = open_feed(http, feeds, s, s["tokens"]["observer"])
            await third.opened.wait()
            assert third.status == 429
            for f in feeds:
                await f.stop()
    finally:
        srv.stop()
