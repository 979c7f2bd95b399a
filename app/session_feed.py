"""``SessionFeed``: what the scheduler hears of sessions, without knowing who carries it.

The realtime layer implements it (``app.realtime.session_feed``: the hub and the broker's
channels); the scheduler only holds one. A notice names a session and the kind of an event
that was committed or heard, or ``None``: anything may have changed (messages may have been
missed, or the session's settings changed), so look again.
"""

from collections.abc import Callable
from typing import Protocol

from app.models import Event
from app.session_model import SessionModels

Notice = Callable[[str, str | None], None]  # (session id, kind or None)


class SessionFeed(Protocol):
    models: SessionModels  # sessions' models, kept up to date as their events pass

    @property
    def single_process(self) -> bool:
        """Every event of every session is committed in this process (nothing to watch)."""

    def listen(self, notice: Notice) -> None:
        """Hear of every event this process commits or passes on to its sockets."""

    async def publish(self, event: Event) -> None:
        """An event the listener committed (``append_event``'s ``after_commit``)."""

    async def watch(self, session_id: str) -> None:
        """Hear of the session's events from other processes too (idempotent)."""

    async def unwatch(self, session_id: str) -> None:
        """Stop hearing of the session from other processes (idempotent)."""

    async def close(self) -> None:
        """Stop watching every session."""
