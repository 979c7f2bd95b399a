"""``append_event``: validate one event and hand it to the process's group commit."""

import uuid
from typing import Any

from app.db import Database
from app.errors import InvalidInput
from app.log.group import group_writer
from app.log.rules import check_event_id
from app.log.writes import AfterCommit, Appended, Author, Request
from app.models.event import RESERVED_ID_PREFIXES, is_reserved_id
from app.models.kinds import SYSTEM, validate_body


def new_event_id() -> str:
    return str(uuid.uuid4())


async def append_event(
    db: Database,
    session_id: str,
    author: Author,
    kind: Any,
    body: Any,
    event_id: Any = None,
    *,
    after_commit: AfterCommit | None = None,
) -> Appended:
    """Validate and append one event; a repeated ``id`` returns the original (or a conflict).

    The append joins the process's group commit (``GroupWriter``) and returns once its
    transaction committed. ``after_commit`` runs once the event is durable, after that of
    every earlier event of its session, so events are published in seq order; the caller
    hears back after it ran.
    """
    clean = validate_body(kind, body, author.role)
    event_id = new_event_id() if event_id is None else check_event_id(event_id)
    if author.role != SYSTEM and is_reserved_id(event_id):
        raise InvalidInput(f"ids beginning {', '.join(RESERVED_ID_PREFIXES)} are the server's")
    request = Request(session_id, author, kind, clean, event_id, after_commit)
    return await group_writer(db, session_id).submit(request)
