"""The ``/ws`` endpoint: hello, replay-then-live, sends, pings, errors."""

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.clock import clock, iso, now_ms
from app.config import Settings
from app.errors import (
    AppError,
    Forbidden,
    LinkExpired,
    NotFound,
    RateLimited,
    Unauthorized,
    Unavailable,
)
from app.log import Author
from app.models import Participant
from app.ratelimit import TokenBucket
from app.realtime.connection import Connection
from app.realtime.hub import Hub
from app.realtime.presence import TooManySockets
from app.realtime.protocol import (
    CLOSE_FORBIDDEN_ORIGIN,
    CLOSE_HELLO_TIMEOUT,
    CLOSE_SESSION_GONE,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY_SOCKETS,
    CLOSE_UNAUTHORIZED,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    AlreadyHello,
    BinaryFrame,
    HelloRequired,
    UnknownType,
    dumps,
    error_frame,
    parse_frame,
    parse_hello,
    parse_send,
)
from app.services import Services, append_as, append_preset
from app.session_model import SessionModel
from app.sessions import link_still_valid, participant_public

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_TRY_AGAIN_LATER = 1013


class _Counts:
    """Sockets of this process per client address (a dict that drops its zeros)."""

    def __init__(self) -> None:
        self.by_address: dict[str, int] = {}

    def __getitem__(self, address: str) -> int:
        return self.by_address.get(address, 0)

    def add(self, address: str, n: int) -> None:
        count = self.by_address.get(address, 0) + n
        if count > 0:
            self.by_address[address] = count
        else:
            self.by_address.pop(address, None)


class _PreHello:
    """Sockets of this process that have not sent ``hello`` yet (each holds a task)."""

    count = 0
    by_address = _Counts()


class _Open:
    """Sockets of this process, from the accept to the end, by client address."""

    by_address = _Counts()


def _refusal(address: str, settings: Settings) -> str | None:
    """Why a new socket from ``address`` must close (1013) at once, if it must: one address
    cannot take the whole process's allowance of waiting or open sockets."""
    if _Open.by_address[address] >= settings.sockets_per_address:
        return "too many sockets from your address"
    if _PreHello.by_address[address] >= settings.pre_hello_per_address:
        return "too many sockets from your address waiting for hello"
    if _PreHello.count >= settings.pre_hello_max:
        return "too many sockets waiting for hello"
    return None


class _Fatal(Exception):
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


def origin_allowed(ws: WebSocket, services: Services) -> bool:
    """Browsers send Origin; it must be this server's own (or a configured one).

    Non-browser clients (scripts, Stream Deck bridges) send none and rely on the token alone.
    """
    origin = ws.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    host = ws.headers.get("host", "")
    allowed = {f"http://{host}", f"https://{host}", services.settings.public_base}
    return origin in allowed or origin in services.settings.extra_origins


async def _receive_text(ws: WebSocket) -> str | None:
    """Next text frame; None for a binary one. Raises WebSocketDisconnect when closed."""
    message = await ws.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        if len(message.get("bytes") or b"") > MAX_FRAME_BYTES:
            raise _Fatal(CLOSE_TOO_BIG, "frame too big")
        return None
    if len(text) > MAX_FRAME_BYTES and len(text.encode()) > MAX_FRAME_BYTES:
        raise _Fatal(CLOSE_TOO_BIG, "frame too big")
    return text


async def _await_hello(ws: WebSocket, services: Services) -> tuple[Participant, int]:
    """Answer frames with errors until a valid hello arrives (within the deadline)."""
    while True:
        text = await _receive_text(ws)
        try:
            if text is None:
                raise BinaryFrame("binary frames are not part of the protocol; send JSON text")
            obj = parse_frame(text)
            if obj["type"] != "hello":
                raise HelloRequired("the first frame must be hello")
            hello = parse_hello(obj)
        except AppError as err:
            await ws.send_text(error_frame(err))
            continue
        token = hello.clean_token
        if token is None:
            raise _Fatal(CLOSE_UNAUTHORIZED, "hello needs a valid token")
        try:
            participant = await services.participant_for_token(token)
        except LinkExpired as err:
            raise _Fatal(CLOSE_UNAUTHORIZED, err.code) from None
        except Unauthorized as err:
            raise _Fatal(CLOSE_UNAUTHORIZED, err.message) from None
        return participant, hello.since


@router.websocket("/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    services: Services = ws.app.state.services
    await ws.accept()
    if not origin_allowed(ws, services):
        await ws.close(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
        return
    # Behind a proxy, the address its X-Forwarded-For gives (uvicorn's proxy headers, from
    # the addresses in --forwarded-allow-ips only).
    address = ws.client.host if ws.client is not None else ""
    refusal = _refusal(address, services.settings)
    if refusal is not None:
        await _close(ws, CLOSE_TRY_AGAIN_LATER, refusal)
        return
    _Open.by_address.add(address, 1)
    try:
        await _greet(ws, services, address)
    finally:
        _Open.by_address.add(address, -1)


async def _greet(ws: WebSocket, services: Services, address: str) -> None:
    """Wait for the hello (counted as waiting meanwhile), then serve the socket."""
    _PreHello.count += 1
    _PreHello.by_address.add(address, 1)
    hello_from = asyncio.get_running_loop().time()
    try:
        # On the movable clock: a test moves time past the deadline instead of waiting.
        async with clock.timeout(services.settings.hello_timeout_s):
            participant, since = await _await_hello(ws, services)
    except TimeoutError:
        await _close(ws, CLOSE_HELLO_TIMEOUT, "no hello in time")
        return
    except _Fatal as fatal:
        await _close(ws, fatal.code, fatal.reason)
        return
    except WebSocketDisconnect:
        return
    finally:
        _PreHello.count -= 1
        _PreHello.by_address.add(address, -1)
    await _serve(ws, services, participant, since, hello_from)


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(Exception):
        await ws.close(code, reason)


def welcome_frame(model: SessionModel, participant: Participant) -> str:
    """The first frame after a valid hello: who you are, the session and its state."""
    session = model.session_public()
    return dumps(
        {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "session": session,
            "you": {
                "participant_id": participant.id,
                "role": participant.role,
                "name": participant.name,
            },
            "participants": [participant_public(p) for p in model.participants.values()],
            "state": model.state_public(),
            "last_seq": session["last_seq"],
            "server_time": iso(now_ms()),
        }
    )


async def _serve(
    ws: WebSocket, services: Services, participant: Participant, since: int, checked_from: float
) -> None:
    hub: Hub = services.hub
    conn = Connection(ws, participant, services.settings.send_queue_max)
    counted = False
    try:
        # Counted before the welcome: a socket over the participant's cap gets none.
        await services.presence.joined(participant)
        counted = True
        try:
            await hub.attach(conn, since, lambda model: welcome_frame(model, participant))
        except NotFound:
            conn.close(CLOSE_SESSION_GONE)
            return
        # A rotation or revocation between the token check and the attach closed no socket
        # of ours (we were not listening yet): check once more, now that we are, in the
        # database only when what this process heard cannot tell.
        checked_at = asyncio.get_running_loop().time()
        valid = hub.token_still_valid(participant, checked_from)
        if valid is None:
            valid = await link_still_valid(services.db, participant)
        if not valid:
            raise _Fatal(CLOSE_UNAUTHORIZED, "this link was rotated or revoked")
        hub.vouch(participant, checked_at)
        conn.checked_at = asyncio.get_running_loop().time()
        services.presence.welcomed(participant)
        services.heap.opened_one()
        await _read_loop(ws, services, conn, participant)
    except TooManySockets:
        conn.close(CLOSE_TOO_MANY_SOCKETS)
    except _Fatal as fatal:
        conn.close(fatal.code)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("socket for %s failed", participant.session_id)
        conn.close(1011)
    finally:
        services.heap.closed_one()
        await conn.stop()
        await hub.detach(conn)
        if counted:
            with contextlib.suppress(Exception):
                # A link rotated or revoked (4401) will not reconnect: offline at once.
                stopped = conn.close_code == CLOSE_UNAUTHORIZED
                await services.presence.left(participant, stopped=stopped)


async def _read_loop(
    ws: WebSocket, services: Services, conn: Connection, participant: Participant
) -> None:
    author = Author(participant.id, participant.role, participant.name)
    bucket = TokenBucket(services.settings.rate_per_s, services.settings.rate_burst)
    reader = asyncio.current_task()
    while not conn.closed:
        conn.waiting_reader = reader
        try:
            text = await _receive_text(ws)
        except asyncio.CancelledError:
            # conn.close() interrupted the wait: this side is closing the socket.
            if conn.closed and reader is not None and reader.uncancel() == 0:
                return
            raise
        finally:
            conn.waiting_reader = None
        conn.send(await _handle(services, conn, author, bucket, text))


async def _handle(
    services: Services, conn: Connection, author: Author, bucket: TokenBucket, text: str | None
) -> str:
    """One frame in, one reply out (an error frame for anything recoverable)."""
    frame_id: Any = None
    try:
        if text is None:
            raise BinaryFrame("binary frames are not part of the protocol; send JSON text")
        obj = parse_frame(text)
        frame_id = obj.get("id")
        kind = obj["type"]
        if kind == "ping":
            return dumps({"type": "pong", "t": obj.get("t"), "server_time": iso(now_ms())})
        if kind == "hello":
            raise AlreadyHello("hello was already received on this connection")
        if kind != "send":
            raise UnknownType(f"unknown frame type {kind!r}")
        send = parse_send(obj)
        wait = bucket.take()
        if wait:
            raise RateLimited("too many sends; slow down", retry_after_s=wait)
        if send.preset is not None:
            if author.role != "producer":
                raise Forbidden("only a producer sends presets")
            appended = await append_preset(
                services, conn.session_id, author, send.preset, send.body, send.id, send.kind
            )
        else:
            appended = await append_as(
                services, conn.session_id, author, send.kind, send.body, send.id
            )
        ev = appended.event
        reply: dict[str, Any] = {"type": "sent", "id": ev.id, "seq": ev.seq}
        if not appended.created:
            reply["repeat"] = True
        return dumps(reply)
    except AppError as err:
        return error_frame(err, frame_id)
    except Exception:
        # The store is down or failing: the client keeps its message and retries the same id.
        log.exception("send failed for %s", conn.session_id)
        return error_frame(
            Unavailable("could not store the message; retry with the same id"), frame_id
        )
