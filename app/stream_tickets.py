"""Stream tickets: what a browser's EventSource puts in the feed's URL instead of a token.

A ticket names its participant, its expiry and a nonce, signed (HMAC-SHA256) with the
participant's stored token hash. So it needs no table and works on every process: a
process that reads the participant from the database can check it, and a rotated or
revoked link voids every ticket it issued (the hash it was signed with is gone). It opens
a stream only until it expires (``stream_ticket_ttl_s``, 60 s) and only once per process;
a client whose stream ended asks for a new one and resumes with ``since``.
"""

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from app.clock import now_ms
from app.db import Database
from app.errors import LinkExpired, Unauthorized
from app.models import Participant, Session
from app.sessions import link_expired

TICKET_MAX = 200


def _mac(token_hash: str, message: str) -> str:
    digest = hmac.new(token_hash.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def _message(session_id: str, participant_id: str, expires_ms: int, nonce: str) -> str:
    return f"stream-ticket:{session_id}:{participant_id}:{expires_ms}:{nonce}"


@dataclass(frozen=True)
class Ticket:
    ticket: str
    expires_ms: int


def issue_ticket(participant: Participant, ttl_s: float) -> Ticket:
    expires_ms = now_ms() + int(ttl_s * 1000)
    nonce = secrets.token_urlsafe(12)
    mac = _mac(
        participant.token_hash, _message(participant.session_id, participant.id, expires_ms, nonce)
    )
    return Ticket(f"{participant.id}.{expires_ms:x}.{nonce}.{mac}", expires_ms)


class TicketBook:
    """The nonces this process has let in, until they expire (a ticket opens one stream)."""

    def __init__(self) -> None:
        self._used: dict[str, int] = {}

    async def redeem(
        self, db: Database, session_id: str, ticket: str, *, link_ttl_days: float | None
    ) -> Participant:
        refused = Unauthorized("this ticket is not valid (expired, used, or its link changed)")
        parts = ticket.split(".") if len(ticket) <= TICKET_MAX else []
        if len(parts) != 4:
            raise refused
        participant_id, expires_hex, nonce, mac = parts
        try:
            expires_ms = int(expires_hex, 16)
        except ValueError:
            raise refused from None
        now = now_ms()
        if expires_ms < now or nonce in self._used:
            raise refused
        participant, ended_ms = await _participant(db, participant_id)
        if participant is None or participant.session_id != session_id:
            raise refused
        expected = _mac(
            participant.token_hash, _message(session_id, participant.id, expires_ms, nonce)
        )
        if not hmac.compare_digest(expected, mac) or participant.revoked_ms is not None:
            raise refused
        if link_expired(ended_ms, link_ttl_days):
            raise LinkExpired(f"this session ended more than {link_ttl_days:g} days ago")
        self._forget_expired(now)
        self._used[nonce] = expires_ms
        return participant

    def _forget_expired(self, now: int) -> None:
        if len(self._used) > 64:
            self._used = {n: e for n, e in self._used.items() if e >= now}


async def _participant(db: Database, participant_id: str) -> tuple[Participant | None, int | None]:
    async with db.session() as s:
        row = (
            await s.execute(
                select(Participant, col(Session.ended_ms))
                .join(Session, col(Session.id) == col(Participant.session_id))
                .where(col(Participant.id) == participant_id)
            )
        ).first()
    if row is None:
        return None, None
    return row[0], row[1]
