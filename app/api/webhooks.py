"""A session's outbound webhooks over HTTP (producer only)."""

from typing import Any

from fastapi import APIRouter, Body, Response

from app.deps import ParticipantDep, ServicesDep, limit_management, require_role
from app.webhooks.store import (
    create_webhook,
    delete_webhook,
    delivery_public,
    list_deliveries,
    list_webhooks,
    webhook_public,
)

router = APIRouter(prefix="/api/v1/sessions/{session_id}/webhooks", tags=["webhooks"])


@router.get("")
async def webhooks(session_id: str, me: ParticipantDep, services: ServicesDep) -> dict[str, Any]:
    require_role(me, "producer")
    return {"webhooks": [webhook_public(w) for w in await list_webhooks(services.db, session_id)]}


@router.post("", status_code=201)
async def add_webhook(
    session_id: str,
    me: ParticipantDep,
    services: ServicesDep,
    payload: Any = Body(
        ...,
        examples=[{"url": "https://hooks.example/backchannel", "kinds": ["alert.unanswered"]}],
    ),
) -> dict[str, Any]:
    """Add an endpoint: ``{url, kinds, level?}``; the answer holds its secret, shown once."""
    require_role(me, "producer")
    await limit_management(services, me)
    webhook, secret = await create_webhook(
        services.db, session_id, payload, allow_private=services.settings.webhook_allow_private
    )
    return {"webhook": webhook_public(webhook), "secret": secret}


@router.delete("/{webhook_id}", status_code=204)
async def remove_webhook(
    session_id: str, webhook_id: str, me: ParticipantDep, services: ServicesDep
) -> Response:
    require_role(me, "producer")
    await limit_management(services, me)
    await delete_webhook(services.db, session_id, webhook_id)
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries")
async def deliveries(
    session_id: str, webhook_id: str, me: ParticipantDep, services: ServicesDep
) -> dict[str, Any]:
    """The endpoint's latest deliveries (newest first): status, attempts, last error."""
    require_role(me, "producer")
    rows = await list_deliveries(services.db, session_id, webhook_id)
    return {"deliveries": [delivery_public(d) for d in rows]}
