"""Delivery status of one message: delivered, seen and acknowledged, from the log."""

from typing import Any

from app.clock import iso
from app.db import Database
from app.log import read_events
from app.models import Event
from app.sessions import list_participants


async def message_status(db: Database, event: Event) -> dict[str, Any]:
    later = await read_events(
        db,
        event.session_id,
        after=event.seq,
        kinds=("seen", "ack", "presence", "alert.escalated", "alert.resurface"),
    )
    earlier_presence = await read_events(db, event.session_id, kinds=("presence",))
    facilitators = {
        p.id for p in await list_participants(db, event.session_id) if p.role == "facilitator"
    }
    online = set()
    for e in earlier_presence:
        if e.seq > event.seq:
            break
        if e.body["participant_id"] in facilitators:
            if e.body["status"] == "online":
                online.add(e.body["participant_id"])
            else:
                online.discard(e.body["participant_id"])
    delivered_at = event.at_ms if online else None
    seen = ack = None
    resurfaced_at = None
    level = 0
    for e in later:
        if e.kind == "presence":
            if (
                delivered_at is None
                and e.body["status"] == "online"
                and e.body["participant_id"] in facilitators
            ):
                delivered_at = e.at_ms
            continue
        if e.body.get("ref") != event.seq:
            continue
        if e.kind == "alert.escalated":
            level = max(level, e.body["level"])
        elif e.kind == "alert.resurface":
            # A snooze ran out: the message is back and waits for an answer again.
            if ack is not None and ack["seq"] == e.body["ack"]:
                ack = None
                resurfaced_at = e.at_ms
        elif e.kind == "seen" and seen is None:
            seen = {"at": iso(e.at_ms), "by": e.author_name}
        elif e.kind == "ack":
            ack = {
                "status": e.body["status"],
                "at": iso(e.at_ms),
                "by": e.author_name,
                "text": e.body.get("text"),
                "minutes": e.body.get("minutes"),
                "seq": e.seq,
            }
            if seen is None:
                seen = {"at": iso(e.at_ms), "by": e.author_name}
    if seen is not None and delivered_at is None:
        delivered_at = event.at_ms
    return {
        "seq": event.seq,
        "kind": event.kind,
        "delivered": delivered_at is not None,
        "delivered_at": iso(delivered_at),
        "seen": seen,
        "ack": ack,
        "escalation_level": level,
        "resurfaced_at": iso(resurfaced_at),
    }
