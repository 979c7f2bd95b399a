"""The JSON export (``format: backchannel.export``, version 1) and the CSV listing."""

import csv
import io
import json
from typing import Any

from app.clock import iso, now_ms
from app.db import Database
from app.log import read_events
from app.models import Event
from app.models.event import event_public
from app.report import build_report
from app.sessions import get_session, list_participants, participant_public

EXPORT_FORMAT = "backchannel.export"
EXPORT_VERSION = 1


async def report_for(db: Database, session_id: str, role: str | None = None) -> dict[str, Any]:
    session = await get_session(db, session_id)
    participants = await list_participants(db, session_id)
    events = await read_events(db, session_id, role=role)
    return build_report(session, participants, events)


async def build_export(db: Database, session_id: str) -> dict[str, Any]:
    session = await get_session(db, session_id)
    participants = await list_participants(db, session_id)
    events = await read_events(db, session_id)
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": iso(now_ms()),
        "session": {
            "id": session.id,
            "title": session.title,
            "planned_start": session.planned_start,
            "started_at": iso(session.started_ms),
            "ended_at": iso(session.ended_ms),
            "agenda": session.agenda,
            "roster": session.roster,
        },
        "participants": [participant_public(p) for p in participants],
        "events": [event_public(e) for e in events],
        "report": build_report(session, participants, events),
    }


CSV_COLUMNS = ["seq", "id", "kind", "at", "author_role", "author_name", "author_id", "text", "body"]


def events_csv(events: list[Event]) -> str:
    """One row per event; ``body`` is the JSON body, ``text`` the most readable field."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for e in events:
        body = e.body or {}
        text = (
            body.get("text")
            or body.get("learner")
            or body.get("reason")
            or body.get("action")
            or ""
        )
        writer.writerow(
            [
                e.seq,
                e.id,
                e.kind,
                iso(e.at_ms),
                e.author_role,
                e.author_name,
                e.author_id or "",
                _csv_safe(str(text)),
                json.dumps(body, ensure_ascii=False, sort_keys=True),
            ]
        )
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: quote them as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
