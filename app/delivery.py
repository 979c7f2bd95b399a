"""Delivery status of one message — delivered, seen, answered — from the folded report.

The same three ticks are derived by the pages (web/model.js); both run the golden vectors
in tests/vectors/ (``expect.ticks``):

- delivered: a facilitator was online when it was logged, or one came online after it, or
  it was seen or answered;
- seen: a ``seen`` or an ``ack`` refers to it;
- answer: the status of its latest ``ack``; a snooze whose ``alert.resurface`` came later
  counts as no answer again; a ``dismissed`` ("Clear all") after a ``done``/``declined``
  leaves that answer.
"""

from typing import Any

from app.clock import iso
from app.report import MessageRow, Presence


def delivered_at(
    presence: list[Presence], facilitators: set[str], seq: int, at_ms: int
) -> int | None:
    """When a facilitator first had it: at ``at_ms`` if one was online, else at their return."""
    online: set[str] = set()
    for p in presence:
        if p.participant_id not in facilitators:
            continue
        if p.seq > seq:
            if not online and p.online:
                return p.at_ms
            if online:
                break
        if p.online:
            online.add(p.participant_id)
        else:
            online.discard(p.participant_id)
    return at_ms if online else None


def message_status(
    seq: int,
    kind: str,
    at_ms: int,
    row: MessageRow | None,
    presence: list[Presence],
    facilitators: set[str],
) -> dict[str, Any]:
    """``GET …/events/{seq}/status``: for a button's feedback light."""
    delivered = delivered_at(presence, facilitators, seq, at_ms)
    seen = ack = None
    level = 0
    resurfaced = None
    if row is not None:
        if row.seen_ms is not None:
            seen = {"at": iso(row.seen_ms), "by": row.seen_by}
            if delivered is None:
                delivered = at_ms
        if row.last_ack is not None:
            b = row.last_ack.body
            ack = {
                "status": b["status"],
                "at": iso(row.last_ack.at_ms),
                "by": row.last_ack.author_name,
                "text": b.get("text"),
                "minutes": b.get("minutes"),
                "seq": row.last_ack.seq,
            }
        level = row.level
        resurfaced = row.resurfaced_ms
    return {
        "seq": seq,
        "kind": kind,
        "delivered": delivered is not None,
        "delivered_at": iso(delivered),
        "seen": seen,
        "ack": ack,
        "escalation_level": level,
        "resurfaced_at": iso(resurfaced),
    }


def ticks(status: dict[str, Any]) -> dict[str, Any]:
    """The three ticks of a status, as the golden vectors hold them."""
    return {
        "delivered": status["delivered"],
        "seen": status["seen"] is not None,
        "answer": status["ack"]["status"] if status["ack"] is not None else None,
    }
