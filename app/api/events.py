"""The event log over HTTP: append (for buttons and scripts), list, CSV, status, presets."""

from typing import Any

import orjson
from fastapi import APIRouter, Body, Path, Query, Request
from fastapi.responses import JSONResponse, Response

from app.api.reads import CHUNK_EVENTS, SlotResponse, encoded, event_pages, framed, json_array
from app.deps import (
    PAGE_READ_MIN,
    WHOLE_READ_MIN,
    ParticipantDep,
    ServicesDep,
    charge_read,
    limit_reads,
    limit_sends,
    require_role,
)
from app.errors import InvalidInput, NotFound
from app.export import csv_header, csv_page
from app.log import Appended, Author, get_event, last_seq, read_events
from app.models import Participant
from app.models.event import event_public
from app.models.kinds import visible_to
from app.models.text import MAX_SAFE_INT
from app.services import Services, append_as, append_preset

router = APIRouter(prefix="/api/v1/sessions/{session_id}", tags=["events"])


def _reply(appended: Appended) -> JSONResponse:
    return JSONResponse(event_public(appended.event), status_code=201 if appended.created else 200)


async def _append(
    services: Services, me: Participant, kind: Any, body: Any, event_id: Any
) -> Appended:
    return await append_as(
        services, me.session_id, Author(me.id, me.role, me.name), kind, body, event_id
    )


@router.post("/events", status_code=201)
async def post_event(
    session_id: str,
    request: Request,
    me: ParticipantDep,
    services: ServicesDep,
    payload: Any = Body(..., examples=[{"kind": "prompt.time", "body": {"text": "5 min left"}}]),
) -> JSONResponse:
    """Append one event: 201 with the event, 200 with the original on a repeat, 409 on conflict."""
    if not isinstance(payload, dict):
        raise InvalidInput("the request body must be a JSON object {id?, kind, body}")
    unknown = set(payload) - {"id", "kind", "body"}
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    event_id = request.headers.get("idempotency-key") or payload.get("id")
    if "kind" not in payload:
        raise InvalidInput("kind is required")
    await limit_sends(services, me)
    return _reply(await _append(services, me, payload["kind"], payload.get("body"), event_id))


# At most this many events a page: a client pages with ``after`` (the last seq it got).
MAX_PAGE = 1000


@router.get(
    "/events",
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
async def list_events(
    session_id: str,
    me: ParticipantDep,
    services: ServicesDep,
    after: int = Query(0, ge=0, le=MAX_SAFE_INT),
    limit: int = Query(500, ge=1, le=MAX_PAGE),
    format: str = Query("json", pattern="^(json|csv)$"),
) -> Response:
    """Visible events with ``seq > after``, at most ``limit`` (≤ 1,000); ``format=csv`` for
    spreadsheets (every visible event after ``after``, streamed). Both are charged to the
    heavy-read budget by the events they may return (app/api/reads.py)."""
    until = await last_seq(services.db, session_id)  # the snapshot the reply is of
    rows = max(0, until - after)
    if format == "csv":
        await charge_read(services, me, rows, WHOLE_READ_MIN)
        release = await services.read_slots.take(session_id)
        pages = event_pages(services.db, session_id, after=after, until=until, role=me.role)
        return SlotResponse(
            framed(csv_header().encode(), encoded(pages, csv_page), b""),
            release,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="backchannel-{session_id}.csv"'},
        )
    rows = min(rows, limit)
    await charge_read(services, me, rows, PAGE_READ_MIN)
    tail = b'],"last_seq":' + str(until).encode() + b"}"
    if rows <= CHUNK_EVENTS:  # one page: no slot, no stream
        events = await read_events(
            services.db, session_id, after=after, until=until, limit=limit, role=me.role
        )
        body = b'{"events":' + orjson.dumps([event_public(e) for e in events])[:-1] + tail
        return Response(body, media_type="application/json")
    release = await services.read_slots.take(session_id)
    pages = event_pages(
        services.db, session_id, after=after, until=until, role=me.role, limit=limit
    )
    return SlotResponse(
        framed(b'{"events":[', json_array(pages), tail),
        release,
        media_type="application/json",
    )


@router.get("/events/{seq}/status")
async def event_status(
    session_id: str,
    me: ParticipantDep,
    services: ServicesDep,
    seq: int = Path(ge=1, le=MAX_SAFE_INT),
) -> dict[str, Any]:
    """``{seq, delivered, seen, ack}`` for a button's feedback light."""
    require_role(me, "producer", "observer")
    await limit_reads(services, me)
    model = await services.models.current(session_id)
    # A message to the facilitator is in the model already: no read of the log for it.
    row = model.report.messages.get(seq) if seq <= model.last_seq else None
    if row is not None:
        kind, at_ms = row.kind, row.at_ms
    else:
        event = await get_event(services.db, session_id, seq)
        if event is None:
            raise NotFound(f"no event {seq} in this session")
        kind, at_ms = event.kind, event.at_ms
        if seq > model.last_seq:  # committed after the model was read: read it again
            model = await services.models.current(session_id)
    if not visible_to(me.role, kind):
        raise NotFound(f"no event {seq} in this session")
    return model.status_of(seq, kind, at_ms)


@router.post("/presets/{preset_id}/send", status_code=201)
async def send_preset(
    session_id: str,
    preset_id: str,
    request: Request,
    me: ParticipantDep,
    services: ServicesDep,
) -> JSONResponse:
    """Fire a playbook preset (a Stream Deck button); ``Idempotency-Key`` makes retries safe.

    An optional body ``{id?, learner?}``: the learner a flag preset (and ``{learner}``) names."""
    require_role(me, "producer")
    event_id = request.headers.get("idempotency-key")
    learner: Any = None
    raw = await request.body()
    if raw.strip():
        import json

        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
            raise InvalidInput("the request body is not valid JSON") from None
        if isinstance(data, dict):
            if event_id is None:
                event_id = data.get("id")
            learner = data.get("learner")
    await limit_sends(services, me)
    author = Author(me.id, me.role, me.name)
    appended = await append_preset(
        services, session_id, author, preset_id, {}, event_id, learner=learner
    )
    return _reply(appended)
