"""Token lookups in batches: the hellos and requests that arrive together share one query.

After a restart every socket of every session says ``hello`` within a second or two, and
each would be one database round trip with its own connection checkout and statement
execution (most of a connect's CPU outside the framework). Lookups that arrive while one
is in flight wait for the next, which reads them all with one ``IN`` query; alone, a lookup
costs what it did.
"""

import asyncio
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import col

from app.db import Database
from app.errors import LinkExpired, Unauthorized
from app.models import Participant, Session
from app.sessions import hash_token, link_expired
from app.tasks import cancel_and_wait

MAX_BATCH = 500

_BY_TOKENS = (
    select(*Participant.__table__.columns, col(Session.ended_ms).label("session_ended_ms"))  # type: ignore[attr-defined]
    .join(Session, col(Session.id) == col(Participant.session_id))
    .where(col(Participant.token_hash).in_(bindparam("hashes", expanding=True)))
)

Row = dict[str, Any] | None


class TokenLookups:
    """``participant(token)``: the participant behind a live token, batched."""

    def __init__(self, db: Database, *, link_ttl_days: float | None) -> None:
        self.db = db
        self.link_ttl_days = link_ttl_days
        self._waiting: dict[str, list[asyncio.Future[Row]]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def participant(self, token: str) -> Participant:
        """Not rotated away, not revoked, not expired (``link_ttl_days`` after the end);
        else ``Unauthorized`` or ``LinkExpired``."""
        if not token or len(token) > 200:
            raise Unauthorized("missing or invalid token")
        fields = await self._row(hash_token(token))
        if fields is None:
            raise Unauthorized("missing or invalid token")
        fields = dict(fields)
        ended_ms = fields.pop("session_ended_ms")
        if fields["revoked_ms"] is not None:
            raise Unauthorized("this link was revoked")
        if link_expired(ended_ms, self.link_ttl_days):
            raise LinkExpired(f"this session ended more than {self.link_ttl_days:g} days ago")
        return Participant.model_construct(**fields)

    async def _row(self, token_hash: str) -> Row:
        fut: asyncio.Future[Row] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(token_hash, []).append(fut)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_all(), name="token-lookups")
        return await fut

    async def _read_all(self) -> None:
        await asyncio.sleep(0)  # let the lookups of this turn of the loop join the first batch
        while self._waiting:
            hashes = list(self._waiting)[:MAX_BATCH]
            batch = {h: self._waiting.pop(h) for h in hashes}
            try:
                async with self.db.engine.connect() as conn:
                    result = await conn.execute(_BY_TOKENS, {"hashes": hashes})
                    rows = {r["token_hash"]: dict(r) for r in result.mappings()}
            except Exception as exc:
                for futs in batch.values():
                    for fut in futs:
                        if not fut.done():
                            fut.set_exception(exc)
                continue
            for h, futs in batch.items():
                for fut in futs:
                    if not fut.done():  # its caller may have given up (hello timeout)
                        fut.set_result(rows.get(h))

    async def close(self) -> None:
        if self._reader is not None:
            await cancel_and_wait(self._reader)
