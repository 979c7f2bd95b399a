"""The event log: append (gap-free seq, idempotency, validation, group commit) and read.

No HTTP and no WebSocket here: callers pass an ``Author`` and get ``Event`` rows back. One
concept per module: ``rules`` (what is accepted), ``writes`` (how an append is written, and
a batch of them), ``group`` (the group commit), ``append`` (the entry point), ``reads``, and
``sql`` (the append's statements, built once). This face hands on what callers use.
"""

from app.log.append import append_event, new_event_id
from app.log.reads import (
    count_events,
    get_event,
    get_event_by_id,
    last_seq,
    read_event_rows,
    read_events,
)
from app.log.rules import AFTER_END, REF_TARGETS, check_event_id
from app.log.writes import SYSTEM_AUTHOR, AfterCommit, Appended, Author

__all__ = [
    "AFTER_END",
    "REF_TARGETS",
    "SYSTEM_AUTHOR",
    "AfterCommit",
    "Appended",
    "Author",
    "append_event",
    "check_event_id",
    "count_events",
    "get_event",
    "get_event_by_id",
    "last_seq",
    "new_event_id",
    "read_event_rows",
    "read_events",
]
