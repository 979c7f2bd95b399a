"""Sessions, participants and presets over HTTP."""

import hashlib
import hmac
from typing import Any

import orjson
from fastapi import APIRouter, Body, Request, Response

from app.deps import (
    ParticipantDep,
    ServicesDep,
    bearer_token,
    limit_creates,
    limit_heavy_reads,
    limit_management,
    require_role,
)
from app.errors import Unauthorized
from app.export import build_export
from app.models.kinds import visible_to
from app.models.participant import ParticipantCreate
from app.models.session import SessionCreate, SessionUpdate
from app.presets import DEFAULT_PRESETS, validate_presets
from app.qr import qr_svg
from app.services import session_view
from app.sessions import (
    add_participant,
    create_session,
    delete_session,
    get_session,
    link_for,
    list_participants,
    participant_public,
    revoke_participant,
    rotate_token,
    set_presets,
    update_session,
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
    view = await session_view(services, session_id)
    view["you"] = participant_public(me)
    return view


@router.patch("/{session_id}")
async def change(
    session_id: str, data: SessionUpdate, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    require_role(me, "producer")
    await limit_management(services, me)
    await update_session(services.db, session_id, data)
    await services.hub.meta_changed(session_id)
    return await session_view(services, session_id)


@router.delete("/{session_id}", status_code=204)
async def erase(session_id: str, me: ParticipantDep, services: ServicesDep) -> Response:
    """Erase the session, its participants and its log; open sockets close with 4404."""
    require_role(me, "producer")
    await delete_session(services.db, session_id)
    await services.hub.publish_control(session_id, {"type": "deleted"})
    return Response(status_code=204)


@router.post("/{session_id}/participants", status_code=201)
async def add(
    session_id: str, data: ParticipantCreate, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    require_role(me, "producer")
    await limit_management(services, me)
    issued = await add_participant(
        services.db, session_id, data, max_participants=services.settings.max_participants
    )
    await services.hub.meta_changed(session_id)
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
    issued, old_hash = await rotate_token(services.db, session_id, participant_id)
    # Sockets opened with the old token close with 4401, on every process.
    await services.hub.publish_control(
        session_id, {"type": "revoked", "participant_id": participant_id, "token": old_hash[:16]}
    )
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
    p = await revoke_participant(services.db, session_id, participant_id)
    await services.hub.publish_control(
        session_id, {"type": "revoked", "participant_id": participant_id}
    )
    return {"participant": {**participant_public(p), "revoked": True}}


@router.get("/{session_id}/presets")
async def presets(session_id: str, me: ParticipantDep, services: ServicesDep) -> dict[str, Any]:
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
    return {"presets": session.presets}


@router.get("/{session_id}/report")
async def report(session_id: str, me: ParticipantDep, services: ServicesDep) -> Response:
    """The debrief figures, served from the session's model (encoded once per seq)."""
    await limit_heavy_reads(services, me)
    model = await services.models.current(session_id)
    body = model.report_json(with_notes=visible_to(me.role, "note"))
    return Response(body, media_type="application/json")


@router.get("/{session_id}/export")
async def export(session_id: str, me: ParticipantDep, services: ServicesDep) -> Response:
    require_role(me, "producer", "observer")
    await limit_heavy_reads(services, me)
    data = await build_export(services.db, await services.models.current(session_id))
    filename = f"backchannel-{session_id}.json"
    return Response(
        orjson.dumps(data),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


__all__ = ["bearer_token", "router"]
