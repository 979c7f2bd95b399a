"""The JSON export (``format: backchannel.export``, version 1) and the CSV listing."""

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from app.clock import iso, now_ms
from app.db import Database, decode_json
from app.log import read_events
from app.models import Event
from app.models.event import event_public
from app.session_model import SessionModel, fold_events
from app.sessions import participant_public

EXPORT_FORMAT = "backchannel.export"
EXPORT_VERSION = 1


async def build_export(db: Database, model: SessionModel) -> dict[str, Any]:
    """The whole log, and the report as of its last event (read in the same order)."""
    session = model.session
    events = await read_events(db, session.id, limit=None)
    report = model.report_public()
    if events and events[-1].seq != model.last_seq:
        # Written meanwhile (or the model lags a publish): fold this very log instead.
        people = list(model.participants.values())
        report = fold_events(session, people, events).report_public()
    return {**export_head(model), "events": [event_public(e) for e in events], "report": report}


def export_head(model: SessionModel) -> dict[str, Any]:
    """Everything of the export but its events and report (in the export's key order)."""
    session = model.session
    public = model.session_public()
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "exported_at": iso(now_ms()),
        "session": {
            "id": session.id,
            "title": session.title,
            "planned_start": session.planned_start,
            "started_at": public["started_at"],
            "ended_at": public["ended_at"],
            "agenda": session.agenda,
            "roster": session.roster,
        },
        "participants": [participant_public(p) for p in model.participants.values()],
    }


CSV_COLUMNS = ["seq", "id", "kind", "at", "author_role", "author_name", "author_id", "text", "body"]


def events_csv(events: list[Event]) -> str:
    """One row per event; ``body`` is the JSON body, ``text`` the most readable field."""
    return csv_header() + csv_rows(events)


def csv_header() -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(CSV_COLUMNS)
    return out.getvalue()


def csv_rows(events: list[Event]) -> str:
    """The rows of ``events`` (no header)."""
    return _csv_rows(
        (e.seq, e.id, e.kind, e.body, e.author_id, e.author_role, e.author_name, e.at_ms)
        for e in events
    )


def csv_page(rows: list[tuple[Any, ...]]) -> bytes:
    """A page of a streamed CSV: rows of ``app.log.read_event_rows`` (bodies as JSON text)."""
    return _csv_rows((*r[:3], decode_json(r[3]), *r[4:]) for r in rows).encode()


def _csv_rows(events: Iterable[tuple[Any, ...]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for seq, eid, kind, body, author_id, author_role, author_name, at_ms in events:
        body = body or {}
        text = (
            body.get("text")
            or body.get("learner")
            or body.get("reason")
            or body.get("action")
            or ""
        )
        writer.writerow(
            [
                seq,
                *(
                    _csv_safe(cell)
                    for cell in (
                        eid,
                        kind,
                        iso(at_ms) or "",
                        author_role,
                        author_name,
                        author_id or "",
                        str(text),
                        json.dumps(body, ensure_ascii=False, sort_keys=True),
                    )
                ),
            ]
        )
    return out.getvalue()


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_safe(value: str) -> str:
    """Spreadsheets run a cell that starts with = + - @ (tab and CR too, and also after
    leading spaces or newlines) as a formula: a leading apostrophe keeps it text."""
    if value.startswith(_FORMULA_START) or value.lstrip().startswith(_FORMULA_START):
        return "'" + value
    return value
