"""What the log accepts: ids, what may follow the session's end, what a ``ref`` may point at,
and what makes a repeated id a conflict — each rule where it is enforced, derived from the
kinds' specs (``app.models.kinds``). The one-statement append (``app.log.sql``) checks the
same rules in SQL, with the values ``conditions`` hands it."""

import re
from typing import Any

from app.errors import IdempotencyConflict, InvalidBody, InvalidId
from app.log.sql import Statements
from app.models import Event
from app.models.event import ID_PATTERN
from app.models.kinds import SPECS, RefRule, kinds_where

ID_RE = re.compile(ID_PATTERN)


def check_event_id(event_id: Any) -> str:
    if not isinstance(event_id, str) or not ID_RE.fullmatch(event_id):  # "$" allows "\n"
        raise InvalidId("id must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    return event_id


# After session.end the live line is closed; the debrief may still add notes and answers.
AFTER_END = kinds_where("after_end")


# What a reference of these kinds must point at (the kind it must be, a kind it must not
# be). Any other reference may point at any earlier event of the session.
REF_TARGETS: dict[str, RefRule] = {k: s.ref for k, s in SPECS.items() if s.ref is not None}


ANY_EARLIER = RefRule()


def also_not(kind: str, body: dict[str, Any]) -> str | None:
    """A second kind the ``ref`` must not be: "Clear all" (an ack ``dismissed``) closes
    cards, but a stop alert needs a real answer."""
    return "alert.stop" if kind == "ack" and body.get("status") == "dismissed" else None


async def check_refs(
    sql: Statements,
    session_id: str,
    seq: int,
    kind: str,
    body: dict[str, Any],
    agenda: list[Any],
) -> None:
    """References must point into this session's own log and agenda."""
    problem = await ref_problem(sql, session_id, seq, kind, body)
    if problem is not None:
        raise InvalidBody(problem)
    if kind.startswith("segment.") and body["index"] >= len(agenda):
        raise InvalidBody(f"index {body['index']} is not a segment of the agenda ({len(agenda)})")


async def ref_problem(
    sql: Statements, session_id: str, seq: int, kind: str, body: dict[str, Any]
) -> str | None:
    """What is wrong with the body's ``ref`` for an append that would take ``seq``."""
    ref = body.get("ref")
    if ref is None:
        return None
    if ref >= seq:
        return f"ref {ref} is not an earlier event of this session"
    found = await sql.row("ref_kind", {"sid": session_id, "ref": ref})
    if found is None:
        return f"ref {ref} is not an event of this session"
    rule = REF_TARGETS.get(kind, ANY_EARLIER)
    if (rule.must_be is not None and found[0] != rule.must_be) or (
        rule.must_not_be is not None and found[0] == rule.must_not_be
    ):
        return f"ref {ref} is not {rule.otherwise}"
    if found[0] == also_not(kind, body):
        return f"ref {ref} is a stop alert: it needs an answer, it cannot be dismissed"
    return None


def same_or_conflict(existing: Event, kind: str, body: dict[str, Any]) -> Event:
    if existing.kind != kind or existing.body != body:
        raise IdempotencyConflict(
            f"id {existing.id!r} was already used for a different message (seq {existing.seq})"
        )
    return existing
