"""What this process knows of its links, checked against the database every second.

The broker tells every process of a rotation, a revocation or a deletion — when its
message arrives. A message can be lost (a subscriber's connection reset, a partition), some
changes are made where no broker reaches (``backchannel purge`` beside the in-memory
broker), and a link's TTL running out is no event at all. So nothing this process knows of
a token is trusted for more than ``trust_s`` (2 s) without a re-check:

- every ``trust_s / 2`` (and at once when a channel's subscription was re-established: the
  broker's ``None``), ONE query per 500 sessions reads the participants of every session
  with a channel here;
- an open socket whose token is no longer its participant's, or was revoked, closes with
  ``4401``; one whose session ended more than the link TTL ago closes with ``4401
  link_expired``; one whose session is gone closes with ``4404``;
- a cached token (``known_tokens``) that still checks out is good as of the query's start;
  one that does not is forgotten. The hub never uses an entry older than ``trust_s``, so
  the bound holds even while the re-check falls behind (the database is asked instead).
"""

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Protocol

from sqlalchemy import bindparam, select
from sqlmodel import col

from app.db import Database
from app.models import Participant, Session
from app.realtime.connection import Connection
from app.realtime.known_tokens import KnownTokens
from app.realtime.protocol import CLOSE_UNAUTHORIZED
from app.sessions import link_expired
from app.tasks import cancel_and_wait

log = logging.getLogger(__name__)

CHUNK = 500

_PARTICIPANTS_OF = (
    select(
        col(Session.id),
        col(Session.ended_ms),
        col(Participant.id),
        col(Participant.token_hash),
        col(Participant.revoked_ms),
    )
    .select_from(Session)
    .outerjoin(Participant, col(Participant.session_id) == col(Session.id))
    .where(col(Session.id).in_(bindparam("ids", expanding=True)))
)

Link = tuple[str, int | None]  # token hash, revoked at


class CheckedChannel(Protocol):
    """What the checks read of a session's channel (``app.realtime.hub.Channel``)."""

    @property
    def ready(self) -> asyncio.Event: ...
    @property
    def failed(self) -> bool: ...
    @property
    def conns(self) -> set[Connection]: ...


class CheckedHub(Protocol):
    """What the checks use of the hub (``app.realtime.hub.Hub``), which owns them: its
    channels, its cached tokens, its database, and how it lets a deleted session go."""

    @property
    def db(self) -> Database: ...
    @property
    def tokens(self) -> KnownTokens: ...
    @property
    def channels(self) -> Mapping[str, CheckedChannel]: ...
    def session_deleted(self, session_id: str) -> None: ...


class LinkChecks:
    """The hub's periodic re-check of its sockets and cached tokens."""

    def __init__(self, hub: CheckedHub, *, trust_s: float, link_ttl_days: float | None) -> None:
        self.hub = hub
        self.trust_s = trust_s
        self.link_ttl_days = link_ttl_days
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def ensure(self) -> None:
        """Run while the hub has channels."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="link-checks")

    def soon(self) -> None:
        """Check now rather than at the next turn (a subscription came back)."""
        self._wake.set()
        self.ensure()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while self.hub.channels:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.trust_s / 2)
            self._wake.clear()
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: cached tokens age out meanwhile
                log.warning("link re-check failed (%s: %s)", type(exc).__name__, exc)

    async def check(self) -> None:
        """One pass over every channel of the hub."""
        hub = self.hub
        ids = [sid for sid, ch in hub.channels.items() if ch.ready.is_set() and not ch.failed]
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            started = asyncio.get_running_loop().time()
            async with hub.db.engine.connect() as conn:
                rows = (await conn.execute(_PARTICIPANTS_OF, {"ids": chunk})).all()
            ended: dict[str, int | None] = {}
            links: dict[str, Link] = {}
            for sid, ended_ms, pid, token_hash, revoked_ms in rows:
                ended[sid] = ended_ms
                if pid is not None:
                    links[pid] = (token_hash, revoked_ms)
            self._apply(chunk, ended, links, started)

    def _apply(
        self, chunk: list[str], ended: dict[str, int | None], links: dict[str, Link], at: float
    ) -> None:
        hub = self.hub
        gone = [sid for sid in chunk if sid not in ended]
        expired = {sid for sid, ms in ended.items() if link_expired(ms, self.link_ttl_days)}
        for sid in gone:
            hub.session_deleted(sid)
        for sid in expired:
            hub.tokens.forget_session(sid)
        checked = set(chunk)
        for token_hash, known in hub.tokens.entries():
            p = known.participant
            if p.session_id not in checked or known.at >= at:
                continue  # not read here, or vouched for after the read began
            if _good(links.get(p.id), p.token_hash):
                known.at = at
            else:
                hub.tokens.forget(token_hash)
        for sid in chunk:
            channel = hub.channels.get(sid)
            if channel is None or sid in gone:
                continue
            for conn in list(channel.conns):
                if conn.checked_at >= at:
                    continue  # admitted after the read began: the read may be older
                if sid in expired:
                    conn.close(CLOSE_UNAUTHORIZED, "link_expired")
                elif not _good(links.get(conn.participant.id), conn.participant.token_hash):
                    conn.close(CLOSE_UNAUTHORIZED, "this link was rotated or revoked")


def _good(link: Link | None, token_hash: str) -> bool:
    return link is not None and link[0] == token_hash and link[1] is None
