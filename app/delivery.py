"""Delivery status of one message — delivered, seen, answered — from the folded report.

The pages derive the same status, field for field and under the same names, from the
events they hold (``Ticks`` in web/model.js); both run the golden vectors in tests/vectors/
(``expect.status``: every field of ``GET …/events/{seq}/status`` for every message):

- ``delivered``/``delivered_at``: a facilitator was online when it was logged (then), or one
  came online after it (then), or it was seen or answered (then: when it was logged);
- ``seen``: ``{at, by}`` of the first ``seen`` or ``ack`` that refers to it, or null;
- ``ack``: its latest ``ack`` (``{status, at, by, text, minutes, seq}``); a snooze whose
  ``alert.resurface`` came later is no answer again (null, and ``resurfaced_at`` set); a
  ``dismissed`` ("Clear all") after a ``done``/``declined`` leaves that answer;
- ``escalation_level``: the highest ``alert.escalated`` level; ``cancelled_at``: the first
  ``alert.cancel``.
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
    resurfaced = cancelled = None
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
        cancelled = row.cancelled_ms
    return {
        "seq": seq,
        "kind": kind,
        "delivered": delivered is not None,
        "delivered_at": iso(delivered),
        "seen": seen,
        "ack": ack,
        "escalation_level": level,
        "resurfaced_at": iso(resurfaced),
        "cancelled_at": iso(cancelled),
    }
