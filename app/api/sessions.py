"""Sessions, participants and presets over HTTP."""

import hashlib
import hmac
from typing import Any

import orjson
from fastapi import APIRouter, Body, Request, Response

from app import commands
from app.api.reads import SlotResponse, event_pages, framed, json_array, slices
from app.deps import (
    WHOLE_READ_MIN,
    ParticipantDep,
    ServicesDep,
    bearer_token,
    charge_read,
    limit_creates,
    limit_management,
    limit_reads,
    require_role,
)
from app.errors import Unauthorized
from app.export import export_head
from app.log import last_seq
from app.models.kinds import visible_to
from app.models.participant import ParticipantCreate
from app.models.session import SessionCreate, SessionUpdate
from app.presets import DEFAULT_PRESETS, validate_presets
from app.qr import qr_svg
from app.services import session_view
from app.sessions import (
    create_session,
    get_session,
    link_for,
    list_participants,
    participant_public,
    set_presets,
)

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"])


@router.post("", status_code=201)
async def create(data: SessionCreate, request: Request, services: ServicesDep) -> dict[str, Any]:
    """Create a session with one producer, one facilitator and one observer link."""
    key = services.settings.organizer_key
    if key and not _organizer_key_matches(request.headers.get("authorization", ""), key):
        raise Unauthorized("creating a session needs Authorization: Bearer <organizer key>")
    if not key:
        await limit_creates(services, request)
    created = await create_session(services.db, data, DEFAULT_PRESETS)
    base = services.settings.public_base
    tokens = {role: item.token for role, item in created.issued.items()}
    links = {role: link_for(base, role, token) for role, token in tokens.items()}
    view = await session_view(services, created.session.id)
    return {
        "session": view["session"],
        "state": view["state"],
        "participants": [participant_public(i.participant) for i in created.issued.values()],
        "links": links,
        "tokens": tokens,
        "qr": {"facilitator": qr_svg(links["facilitator"])},
    }


def _organizer_key_matches(header: str, key: str) -> bool:
    """``Bearer <key>`` (the scheme in any case) and nothing else; compared in constant time
    (digests of equal length, so not even the key's length leaks)."""
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    given_digest = hashlib.sha256(given.strip().encode()).digest()
    return hmac.compare_digest(given_digest, hashlib.sha256(key.encode()).digest())


@router.get("/{session_id}")
async def read(session_id: str, me: ParticipantDep, services: ServicesDep) -> dict[str, Any]:
    await limit_reads(services, me)
    view = await session_view(services, session_id)
    view["you"] = participant_public(me)
    return view


@router.patch("/{session_id}")
async def change(
    session_id: str, data: SessionUpdate, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    require_role(me, "producer")
    await limit_management(services, me)
    await commands.change(services.db, services.notify, session_id, data)
    return await session_view(services, session_id)


@router.delete("/{session_id}", status_code=204)
async def erase(session_id: str, me: ParticipantDep, services: ServicesDep) -> Response:
    """Erase the session, its participants and its log; open sockets close with 4404."""
    require_role(me, "producer")
    await commands.erase(services.db, services.notify, session_id)
    return Response(status_code=204)


@router.post("/{session_id}/participants", status_code=201)
async def add(
    session_id: str, data: ParticipantCreate, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    require_role(me, "producer")
    await limit_management(services, me)
    issued = await commands.add(
        services.db,
        services.notify,
        session_id,
        data,
        max_participants=services.settings.max_participants,
    )
    link = link_for(services.settings.public_base, data.role, issued.token)
    return {
        "participant": participant_public(issued.participant),
        "link": link,
        "token": issued.token,
    }


@router.get("/{session_id}/participants")
async def participants(
    session_id: str, me: ParticipantDep, services: ServicesDep
) -> list[dict[str, Any]]:
    """Every link of the session, revoked ones too; ``online`` as the session's state has it
    (folded from the log's presence events, over all processes)."""
    require_role(me, "producer")
    await limit_management(services, me)
    model = await services.models.current(session_id)
    online = {o["participant_id"] for o in model.state_public()["online"]}
    return [
        {
            **participant_public(p),
            "online": p.id in online,
            "revoked": p.revoked_ms is not None,
        }
        for p in await list_participants(services.db, session_id)
    ]


@router.post("/{session_id}/participants/{participant_id}/rotate", status_code=201)
async def rotate(
    session_id: str, participant_id: str, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    """A new link for a participant (the producer's, or one's own); the old one stops now."""
    if me.id != participant_id:
        require_role(me, "producer")
    await limit_management(services, me)
    # Sockets opened with the old token close with 4401, on every process.
    issued = await commands.rotate(services.db, services.notify, session_id, participant_id)
    p = issued.participant
    return {
        "participant": participant_public(p),
        "token": issued.token,
        "link": link_for(services.settings.public_base, p.role, issued.token),
    }


@router.delete("/{session_id}/participants/{participant_id}")
async def revoke(
    session_id: str, participant_id: str, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    """Revoke a link: it stops now; the participant stays in the log. Not the last producer."""
    require_role(me, "producer")
    await limit_management(services, me)
    p = await commands.revoke(services.db, services.notify, session_id, participant_id)
    return {"participant": {**participant_public(p), "revoked": True}}


@router.get("/{session_id}/presets")
async def presets(session_id: str, me: ParticipantDep, services: ServicesDep) -> dict[str, Any]:
    await limit_reads(services, me)
    session = await get_session(services.db, session_id)
    return {"presets": session.presets}


@router.put("/{session_id}/presets")
async def replace_presets(
    session_id: str,
    me: ParticipantDep,
    services: ServicesDep,
    payload: Any = Body(..., examples=[{"presets": DEFAULT_PRESETS[:2]}]),
) -> dict[str, Any]:
    """Replace the playbook; accepts ``{"presets": [...]}`` or the bare list."""
    require_role(me, "producer")
    await limit_management(services, me)
    raw = payload.get("presets") if isinstance(payload, dict) else payload
    clean = validate_presets(raw)
    session = await set_presets(services.db, session_id, clean)
    await services.hub.meta_changed(session_id)  # every open producer tab re-reads it
    return {"presets": session.presets}


@router.get("/{session_id}/report")
async def report(session_id: str, me: ParticipantDep, services: ServicesDep) -> Response:
    """The debrief figures, served from the session's model (encoded once per seq), charged
    by the log it sums up and sent in slices (app/api/reads.py)."""
    # Priced before anything costly is done: a refusal costs a token check and one query.
    await charge_read(services, me, await last_seq(services.db, session_id), WHOLE_READ_MIN)
    release = await services.read_slots.take(session_id)
    try:
        with_notes = visible_to(me.role, "note")
        _, body = await services.models.report_json(session_id, with_notes=with_notes)
    except BaseException:
        release()
        raise
    return SlotResponse(slices(body), release, media_type="application/json")


@router.get("/{session_id}/export")
async def export(session_id: str, me: ParticipantDep, services: ServicesDep) -> Response:
    """The whole log and the report as of its last event, streamed a page at a time."""
    require_role(me, "producer", "observer")
    await charge_read(services, me, await last_seq(services.db, session_id), WHOLE_READ_MIN)
    release = await services.read_slots.take(session_id)
    try:
        model, report = await services.models.report_json(session_id)
        until = model.last_seq  # the report is of this very seq: the events stop there too
        head = orjson.dumps(export_head(model))[:-1] + b',"events":['
        tail = b'],"report":' + report + b"}"
    except BaseException:
        release()
        raise
    pages = event_pages(services.db, session_id, after=0, until=until, role=None)
    return SlotResponse(
        framed(head, json_array(pages), tail),
        release,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="backchannel-{session_id}.json"'},
    )


__all__ = ["bearer_token", "router"]
