"""Reads that can be large (listings, CSV, export, report), priced and streamed.

Each is charged to the heavy-read budget by the rows it may return
(``app.deps.charge_read``, the debt model of ``app.ratelimit``), holds the session's one
large-read slot of this process while it streams (``app.ratelimit.ReadSlots``), and is sent
in bounded chunks that give the event loop back between them: a page of ``CHUNK_EVENTS``
events read, encoded and sent at a time, the report in ``REPORT_SLICE`` slices. A stream
reads the log up to the seq it started at (``until``), so what it sends is one consistent
snapshot however long it takes.
"""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.clock import iso
from app.db import Database
from app.log import read_event_rows

CHUNK_EVENTS = 200
REPORT_SLICE = 32 * 1024


class SlotResponse(StreamingResponse):
    """A stream that gives its slot back when it ends, however it ends (sent, failed, or
    the client went away)."""

    def __init__(self, content: Any, release: Callable[[], None] | None, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._release is not None:
                self._release()
                self._release = None


Row = tuple[Any, ...]  # app.log.read_event_rows


async def event_pages(
    db: Database,
    session_id: str,
    *,
    after: int,
    until: int,
    role: str | None,
    limit: int | None = None,
) -> AsyncIterator[list[Row]]:
    """The visible events with ``after < seq <= until`` as rows, ``CHUNK_EVENTS`` at a time
    (at most ``limit`` in all), each page a turn of the event loop."""
    left = limit
    while left is None or left > 0:
        size = CHUNK_EVENTS if left is None else min(CHUNK_EVENTS, left)
        page = await read_event_rows(
            db, session_id, after=after, until=until, limit=size, role=role
        )
        if not page:
            return
        yield page
        if len(page) < size:
            return
        after = page[-1][0]
        if left is not None:
            left -= len(page)


def event_json(row: Row) -> dict[str, Any]:
    """``event_public`` of a row, its body passed through as the JSON text it is stored as."""
    seq, eid, kind, body, author_id, author_role, author_name, at_ms = row
    return {
        "seq": seq,
        "id": eid,
        "kind": kind,
        "body": orjson.Fragment(body),
        "author": {"participant_id": author_id, "role": author_role, "name": author_name},
        "at": iso(at_ms),
    }


def _json_items(rows: list[Row]) -> bytes:
    return orjson.dumps([event_json(r) for r in rows])[1:-1]  # without the brackets


async def json_array(pages: AsyncIterator[list[Row]]) -> AsyncIterator[bytes]:
    """The events of ``pages`` as the inside of a JSON array (comma-separated), a page a
    chunk, each encoded on a worker thread: the loop only waits for it (the interpreter lets
    it run at least every few milliseconds), so a large read does not stall other
    sessions' sockets for a whole page's work."""
    first = True
    async for page in pages:
        chunk = await asyncio.to_thread(_json_items, page)
        if not chunk:
            continue
        yield chunk if first else b"," + chunk
        first = False


async def encoded(
    pages: AsyncIterator[list[Row]], encode: Callable[[list[Row]], bytes]
) -> AsyncIterator[bytes]:
    """Each page through ``encode`` on a worker thread (as ``json_array``)."""
    async for page in pages:
        yield await asyncio.to_thread(encode, page)


async def slices(body: bytes) -> AsyncIterator[bytes]:
    """``body`` in ``REPORT_SLICE`` pieces, a turn of the loop between them."""
    view = memoryview(body)
    for start in range(0, len(view), REPORT_SLICE):
        yield bytes(view[start : start + REPORT_SLICE])
        await asyncio.sleep(0)


async def framed(head: bytes, inner: AsyncIterator[bytes], tail: bytes) -> AsyncIterator[bytes]:
    yield head
    async for chunk in inner:
        yield chunk
    yield tail
