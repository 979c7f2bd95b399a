"""A session's webhook endpoints and their delivery log, stored (no HTTP)."""

import secrets
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import col

from app.clock import iso, now_ms
from app.db import Database
from app.errors import AppError, InvalidInput, NotFound
from app.models import Session, Webhook, WebhookDelivery
from app.models.kinds import SPECS
from app.webhooks.http import DeliveryError, check_url, resolve
from app.webhooks.signing import new_secret

UNANSWERED = "alert.unanswered"  # a stop alert escalated to a level without an answer
LEVEL_MAX = 5  # the scheduler's highest escalation level
PER_SESSION_MAX = 10
DELIVERIES_SHOWN = 100


class TooManyWebhooks(AppError):
    code = "too_many_webhooks"
    status = 409


def webhook_public(w: Webhook) -> dict[str, Any]:
    status = "active"
    if w.disabled_ms is not None:
        status = "disabled"
    elif w.failing_since_ms is not None:
        status = "retrying"
    return {
        "webhook_id": w.id,
        "url": w.url,
        "kinds": w.kinds,
        "level": w.level,
        "status": status,
        "created_at": iso(w.created_ms),
        "delivered_through_seq": w.cursor,
        "attempts": w.attempts,
        "next_attempt_at": iso(w.next_attempt_ms) if w.failing_since_ms is not None else None,
        "failing_since": iso(w.failing_since_ms),
        "last_error": w.last_error,
        "disabled_at": iso(w.disabled_ms),
        "disabled_reason": w.disabled_reason,
    }


def delivery_public(d: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": d.msg_id,
        "seq": d.seq,
        "type": d.type,
        "status": d.status,
        "attempts": d.attempts,
        "response_status": d.response_status,
        "last_error": d.last_error,
        "created_at": iso(d.created_ms),
        "last_attempt_at": iso(d.last_attempt_ms),
        "delivered_at": iso(d.delivered_ms),
    }


def check_kinds(kinds: Any, level: Any) -> tuple[list[str], int | None]:
    if not isinstance(kinds, list) or not kinds or len(kinds) > 40:
        raise InvalidInput("kinds must be a list of 1 to 40 event kinds (or alert.unanswered)")
    out: list[str] = []
    for kind in kinds:
        if not isinstance(kind, str) or (kind not in SPECS and kind != UNANSWERED):
            known = ", ".join(sorted([*SPECS, UNANSWERED]))
            raise InvalidInput(f"unknown kind {str(kind)[:40]!r} in kinds (known: {known})")
        if kind not in out:
            out.append(kind)
    if UNANSWERED in out:
        if level is None:
            level = 1
        if not isinstance(level, int) or isinstance(level, bool) or not 1 <= level <= LEVEL_MAX:
            raise InvalidInput(f"level must be a whole number from 1 to {LEVEL_MAX}")
    elif level is not None:
        raise InvalidInput("level is for alert.unanswered only")
    return out, level


async def check_target(url: Any, *, allow_private: bool) -> str:
    if not isinstance(url, str):
        raise InvalidInput("url must be a string")
    try:
        _, host, port, _ = check_url(url)
        await resolve(host, port, allow_private=allow_private)
    except DeliveryError as exc:
        raise InvalidInput(f"url: {exc}") from None
    return url


async def create_webhook(
    db: Database, session_id: str, data: Any, *, allow_private: bool
) -> tuple[Webhook, str]:
    """A new endpoint and its secret (shown once). It gets the events logged from now on."""
    if not isinstance(data, dict):
        raise InvalidInput("the request body must be a JSON object {url, kinds, level?}")
    unknown = set(data) - {"url", "kinds", "level"}
    if unknown:
        raise InvalidInput(f"unknown fields: {', '.join(sorted(unknown))}")
    kinds, level = check_kinds(data.get("kinds"), data.get("level"))
    url = await check_target(data.get("url"), allow_private=allow_private)
    secret = new_secret()
    async with db.write_lock(session_id), db.session() as s:
        session = await s.get(Session, session_id)
        if session is None:
            raise NotFound("no such session")
        count = len(
            (
                await s.execute(
                    select(col(Webhook.id)).where(
                        col(Webhook.session_id) == session_id, col(Webhook.is_default).is_(False)
                    )
                )
            ).all()
        )
        if count >= PER_SESSION_MAX:
            raise TooManyWebhooks(f"at most {PER_SESSION_MAX} webhooks per session")
        webhook = Webhook(
            id="wh_" + secrets.token_urlsafe(12),
            session_id=session_id,
            url=url,
            secret=secret,
            kinds=kinds,
            level=level,
            created_ms=now_ms(),
            cursor=session.last_seq,
        )
        s.add(webhook)
        await s.commit()
    return webhook, secret


async def list_webhooks(db: Database, session_id: str) -> list[Webhook]:
    async with db.session() as s:
        rows = await s.execute(
            select(Webhook)
            .where(col(Webhook.session_id) == session_id, col(Webhook.is_default).is_(False))
            .order_by(col(Webhook.created_ms))
        )
        return list(rows.scalars().all())


async def get_webhook(db: Database, session_id: str, webhook_id: str) -> Webhook:
    async with db.session() as s:
        w = await s.get(Webhook, webhook_id)
    if w is None or w.session_id != session_id or w.is_default:
        raise NotFound(f"no webhook {webhook_id[:60]!r} in this session")
    return w


async def delete_webhook(db: Database, session_id: str, webhook_id: str) -> None:
    await get_webhook(db, session_id, webhook_id)
    async with db.write_lock(session_id), db.session() as s:
        await s.execute(
            delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
        )
        await s.execute(delete(Webhook).where(col(Webhook.id) == webhook_id))
        await s.commit()


async def list_deliveries(db: Database, session_id: str, webhook_id: str) -> list[WebhookDelivery]:
    await get_webhook(db, session_id, webhook_id)
    async with db.session() as s:
        rows = await s.execute(
            select(WebhookDelivery)
            .where(col(WebhookDelivery.webhook_id) == webhook_id)
            .order_by(col(WebhookDelivery.seq).desc(), col(WebhookDelivery.msg_id).desc())
            .limit(DELIVERIES_SHOWN)
        )
        return list(rows.scalars().all())
