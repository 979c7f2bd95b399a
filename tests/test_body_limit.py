"""Request bodies are limited before they are read or parsed (issue 22, item 2).

The review: with no token at all, a 30 MB ``[{},{},…]`` body took the server from 489 MB to
1,189 MB before the 401 came back, and 20 MB bodies in a loop slowed other sessions down.
"""

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from app.config import Settings
from tests.inprocess import InProcessServer
from tests.support import Api, Server

LIMIT = 65536


class Body:
    """A request body streamed in chunks; counts how many the server pulled."""

    def __init__(self, chunk: bytes, chunks: int) -> None:
        self.chunk = chunk
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield self.chunk


def assert_413(r: Any) -> None:
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "payload_too_large"


def big_json_array(size: int) -> bytes:
    items = b"{}," * (size // 3)
    return b"[" + items + b"{}]"


def test_the_body_limit_defaults_to_64_kib() -> None:
    assert Settings(_env_file=None).max_body_bytes == LIMIT


async def test_a_body_over_the_limit_is_refused_on_its_content_length_unread(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    headers = {**api.auth(session["tokens"]["producer"]), "Content-Type": "application/json"}
    body = Body(b"{}," * 10_000, 40)  # declared 1.2 MB, sent in 30 KB chunks
    headers["Content-Length"] = str(len(body.chunk) * body.chunks)
    r = await api.http.post(f"/api/v1/sessions/{sid}/events", content=body, headers=headers)
    assert_413(r)
    assert body.pulled <= 1  # decided on the header: nothing of the body was read
    # Session creation (no token needed) and the playbook too.
    assert_413(await api.http.post("/api/v1/sessions", content=big_json_array(LIMIT + 10)))
    assert_413(
        await api.http.put(
            f"/api/v1/sessions/{sid}/presets", content=big_json_array(LIMIT + 10), headers=headers
        )
    )


async def test_a_streamed_body_is_refused_once_it_passes_the_limit(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    headers = {**api.auth(session["tokens"]["producer"]), "Content-Type": "application/json"}
    body = Body(b"{}," * 3_000, 1_000)  # 9 KB chunks, no Content-Length: 9 MB if all read
    r = await api.http.post(f"/api/v1/sessions/{sid}/events", content=body, headers=headers)
    assert_413(r)
    assert body.pulled <= LIMIT // len(body.chunk) + 2  # stopped at the limit, not at the end
    # Nothing was logged, and a body within the limit still works.
    ok = await api.http.post(
        f"/api/v1/sessions/{sid}/events",
        json={"kind": "prompt.time", "body": {"text": "5 min left"}},
        headers=api.auth(session["tokens"]["producer"]),
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["seq"] == 1


async def test_a_body_within_the_limit_is_served_as_before(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    text = "x" * 500
    r = await api.http.post(
        f"/api/v1/sessions/{sid}/events",
        json={"kind": "note", "body": {"text": text}},
        headers=api.auth(session["tokens"]["producer"]),
    )
    assert r.status_code == 201, r.text


async def test_the_token_is_checked_before_the_body_is_read(
    api: Api, session: dict[str, Any]
) -> None:
    sid = session["session"]["id"]
    for headers, status in (
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
    ):
        body = Body(b"{}," * 3_000, 20)  # within the limit if read whole (54 KB)
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/events",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        assert r.status_code == status, r.text
        assert body.pulled == 0  # refused with nothing of the body read
    # Another session's token: 404 as for any other session, again with nothing read.
    other = await api.create_session()
    body = Body(b"{}," * 3_000, 20)
    r = await api.http.post(
        f"/api/v1/sessions/{sid}/events",
        content=body,
        headers={**api.auth(other["tokens"]["producer"]), "Content-Type": "application/json"},
    )
    assert r.status_code == 404, r.text
    assert body.pulled == 0


async def test_the_limit_is_a_setting(tmp_path: Path) -> None:
    server = await InProcessServer(tmp_path, env={"BACKCHANNEL_MAX_BODY_BYTES": "1000"}).start()
    api = Api(server.url)
    try:
        s = await api.create_session()
        sid, token = s["session"]["id"], s["tokens"]["producer"]
        note = {"kind": "note", "body": {"text": "y" * 400}}
        r = await api.http.post(
            f"/api/v1/sessions/{sid}/events", json=note, headers=api.auth(token)
        )
        assert r.status_code == 201, r.text
        note["body"]["text"] = "y" * 1000
        assert_413(
            await api.http.post(
                f"/api/v1/sessions/{sid}/events", json=note, headers=api.auth(token)
            )
        )
    finally:
        await api.close()
        await server.stop()


def _raw_post(port: int, path: str, head: str, first: bytes) -> bytes:
    """Send the request line and headers and the first bytes of a body; read the reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + b"\r\n" + first)
        sock.settimeout(10)
        reply = b""
        while not reply.endswith(b"}}"):  # the whole reply: headers and the JSON error
            part = sock.recv(65536)
            if not part:
                break
            reply += part
        return reply


async def test_backchannel_serve_alone_refuses_a_huge_body_without_waiting_for_it(
    real_server: Server,
) -> None:
    """``make run`` / ``docker run``: uvicorn with the app and no proxy in front."""
    head = (
        "POST /api/v1/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/json\r\nContent-Length: 30000000\r\n"
    )
    reply = await asyncio.to_thread(_raw_post, real_server.port, "/api/v1/sessions", head, b"[{},")
    assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
    assert b"payload_too_large" in reply
