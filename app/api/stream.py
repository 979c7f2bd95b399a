"""The live feed over HTTP: ``GET …/stream`` (Server-Sent Events) and its tickets."""

import asyncio
import contextlib
import logging
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from app.api.errors import app_error_response
from app.clock import iso
from app.deps import ParticipantDep, ServicesDep, limit_sends, participant_for_session
from app.errors import InvalidInput, NotFound
from app.models import Participant
from app.models.text import MAX_SAFE_INT
from app.realtime.feed import FeedConnection, TooManyConnections, watch_disconnect
from app.realtime.presence import TooManySockets
from app.realtime.protocol import CLOSE_SESSION_GONE, CLOSE_UNAUTHORIZED
from app.realtime.ws import _Open, welcome_frame
from app.services import Services
from app.sessions import link_still_valid
from app.stream_tickets import TicketBook, issue_ticket

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/sessions/{session_id}", tags=["stream"])


def _ticket_book(request: Request) -> TicketBook:
    book: TicketBook | None = getattr(request.app.state, "stream_tickets", None)
    if book is None:
        book = request.app.state.stream_tickets = TicketBook()
    return book


def _resume_point(header: str | None, since: int | None) -> int:
    """``Last-Event-ID`` (EventSource's own reconnect) wins over ``since`` (a new stream's)."""
    if header is None or not header.strip():
        return since or 0
    value = header.strip()
    if not value.isdigit() or len(value) > 16 or int(value) > MAX_SAFE_INT:
        raise InvalidInput("Last-Event-ID must be a seq (a whole number from 0 to 2^53-1)")
    return int(value)


@router.post("/stream-tickets", status_code=201)
async def stream_ticket(
    session_id: str, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    """A short-lived ticket that opens one stream: for EventSource, which sends no header."""
    await limit_sends(services, me)
    ticket = issue_ticket(me, services.settings.stream_ticket_ttl_s)
    return {
        "ticket": ticket.ticket,
        "expires_at": iso(ticket.expires_ms),
        "url": f"/api/v1/sessions/{session_id}/stream?ticket={ticket.ticket}",
    }


@router.get(
    "/stream",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    session_id: str,
    request: Request,
    services: ServicesDep,
    ticket: str | None = Query(None, max_length=200),
    since: int | None = Query(None, ge=0, le=MAX_SAFE_INT),
) -> Response:
    """Server-Sent Events: ``event: event`` / ``event: state`` frames, ``id:`` = seq."""
    if "token" in request.query_params:
        raise InvalidInput(
            "a token never goes in a URL: send Authorization: Bearer <token>, or get a "
            "ticket from POST /api/v1/sessions/{id}/stream-tickets"
        )
    checked_from = asyncio.get_running_loop().time()
    if ticket is not None:
        me = await _ticket_book(request).redeem(
            services.db, session_id, ticket, link_ttl_days=services.settings.link_ttl_days
        )
    else:
        me = await participant_for_session(request, services, session_id)
    resume = _resume_point(request.headers.get("last-event-id"), since)
    return FeedResponse(services, me, resume, checked_from)


class FeedResponse(Response):
    """The stream itself: counted as a connection, attached to the hub, drained here."""

    media_type = "text/event-stream"

    def __init__(
        self,
        services: Services,
        participant: Participant,
        since: int,
        checked_from: float,
    ) -> None:
        self.services = services
        self.participant = participant
        self.since = since
        self.checked_from = checked_from
        self.status_code = 200
        self.background = None
        self.init_headers(
            {
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # nginx: pass each event on at once
            }
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Counted with the sockets of this process from the same address (app.realtime.ws):
        # one address cannot hold the process's connections through streams either.
        client = scope.get("client")
        address = client[0] if client else ""
        limit = self.services.settings.sockets_per_address
        if _Open.by_address[address] >= limit:
            refusal = TooManyConnections(
                f"too many sockets and streams from your address ({limit})"
            )
            await app_error_response(refusal)(scope, receive, send)
            return
        _Open.by_address.add(address, 1)
        try:
            await self._serve(scope, receive, send)
        finally:
            _Open.by_address.add(address, -1)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        services = self.services
        p = self.participant
        try:
            await services.presence.joined(p)
        except TooManySockets:
            limit = services.settings.max_sockets_per_participant
            refusal = TooManyConnections(
                f"at most {limit} open sockets and streams per participant"
            )
            await app_error_response(refusal)(scope, receive, send)
            return
        conn = FeedConnection(p, services.settings.send_queue_max)
        services.heap.opened_one()
        watcher = asyncio.create_task(watch_disconnect(receive, conn))
        attaching = asyncio.create_task(self._attach(conn))
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            heartbeat_s = services.settings.stream_heartbeat_s
            while (chunk := await conn.next_chunk(heartbeat_s)) is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the client went away mid-write
            conn.close(1000, "client left")
        finally:
            conn.close(conn.close_code or 1000)
            for task in (attaching, watcher):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            services.heap.closed_one()
            await services.hub.detach(conn)
            with contextlib.suppress(Exception):
                await services.presence.left(p)

    async def _attach(self, conn: FeedConnection) -> None:
        services = self.services
        hub = services.hub
        p = self.participant
        try:
            await hub.attach(
                conn, self.since, lambda model: conn.greeting(welcome_frame(model, p), model)
            )
        except NotFound:
            conn.close(CLOSE_SESSION_GONE, "session deleted")
            return
        except Exception:
            log.exception("stream for %s failed", p.session_id)
            conn.close(1011, "server error")
            return
        # As for a socket (app.realtime.ws): a rotation or revocation between the token
        # check and the attach closed nothing of ours; check once more, now that we listen.
        checked_at = asyncio.get_running_loop().time()
        valid = hub.token_still_valid(p, self.checked_from)
        if valid is None:
            valid = await link_still_valid(services.db, p)
        if not valid:
            conn.close(CLOSE_UNAUTHORIZED, "this link was rotated or revoked")
            return
        hub.vouch(p, checked_at)
        conn.checked_at = asyncio.get_running_loop().time()
        services.presence.welcomed(p)
