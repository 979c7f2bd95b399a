"""Sessions and participants: create, look up by token, change, delete. No HTTP here."""

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import configure_mappers
from sqlmodel import col

from app.clock import iso, now_ms
from app.db import Database
from app.errors import (
    Forbidden,
    LastProducer,
    LinkExpired,
    NotFound,
    ParticipantRevoked,
    SegmentStarted,
    SessionEnded,
    TooManyParticipants,
    Unauthorized,
)
from app.models import Event, Participant, Session
from app.models.participant import ParticipantCreate
from app.models.session import SessionCreate, SessionPublic, SessionSettings, SessionUpdate

configure_mappers()  # participants are also made without a query (model_construct)

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
_DAY_MS = 86_400_000


def new_token() -> str:
    """A bearer token: 192 random bits, URL-safe."""
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _short_id(n: int = 10) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


@dataclass(frozen=True)
class Issued:
    """A participant together with its token, which exists only in this reply."""

    participant: Participant
    token: str


@dataclass(frozen=True)
class Created:
    session: Session
    issued: dict[str, Issued]  # by role


def session_public(s: Session) -> dict[str, Any]:
    return SessionPublic(
        id=s.id,
        title=s.title,
        planned_start=s.planned_start,
        agenda=s.agenda,
        roster=s.roster,
        settings=effective_settings(s),
        status=s.status,
        created_at=iso(s.created_ms),
        started_at=iso(s.started_ms),
        ended_at=iso(s.ended_ms),
        last_seq=s.last_seq,
    ).model_dump()


def effective_settings(s: Session) -> dict[str, Any]:
    return SessionSettings.model_validate(s.settings or {}).model_dump()


def participant_public(p: Participant) -> dict[str, Any]:
    return {"participant_id": p.id, "role": p.role, "name": p.name}


def link_for(public_base: str, role: str, token: str) -> str:
    page = "facilitator" if role == "facilitator" else "producer"
    return f"{public_base}/{page}#t={token}"


def _new_participant(session_id: str, role: str, name: str) -> Issued:
    token = new_token()
    p = Participant(
        id="p_" + _short_id(10),
        session_id=session_id,
        role=role,
        name=name,
        token_hash=hash_token(token),
        created_ms=now_ms(),
    )
    return Issued(p, token)


async def create_session(
    db: Database, data: SessionCreate, default_presets: list[dict[str, Any]]
) -> Created:
    presets = default_presets
    if data.copy_presets_from:
        presets = await _presets_to_copy(db, data.copy_presets_from, data.copy_presets_token)
    s = Session(
        id=_short_id(10),
        title=data.title,
        planned_start=data.planned_start,
        agenda=[seg.model_dump() for seg in data.agenda],
        roster=list(data.roster),
        settings=data.settings.model_dump(),
        presets=presets,
        status="planned",
        created_ms=now_ms(),
    )
    issued = {
        "producer": _new_participant(s.id, "producer", data.producer_name),
        "facilitator": _new_participant(s.id, "facilitator", data.facilitator_name),
        "observer": _new_participant(s.id, "observer", data.observer_name),
    }
    # Our own writers queue here, not in SQLite's busy handler (which is not fair: under load
    # one could wait past its timeout and fail with "database is locked").
    async with db.write_lock(s.id), db.session() as dbs, dbs.begin():
        dbs.add(s)
        await dbs.flush()
        for item in issued.values():
            dbs.add(item.participant)
    return Created(s, issued)


async def _presets_to_copy(
    db: Database, session_id: str, token: str | None
) -> list[dict[str, Any]]:
    """Copying a playbook needs a producer or observer token of the source session."""
    if not token:
        raise Unauthorized("copy_presets_token is needed to copy another session's presets")
    who = await participant_for_token(db, token)
    if who.session_id != session_id or who.role not in ("producer", "observer"):
        raise Forbidden("that token may not read the presets of that session")
    s = await get_session(db, session_id)
    return list(s.presets)


def link_expired(ended_ms: int | None, link_ttl_days: float | None) -> bool:
    """Links stop ``link_ttl_days`` after their session ended (None: never)."""
    return (
        link_ttl_days is not None
        and ended_ms is not None
        and now_ms() - ended_ms > link_ttl_days * _DAY_MS
    )


_BY_TOKEN = (
    select(*Participant.__table__.columns, col(Session.ended_ms).label("session_ended_ms"))  # type: ignore[attr-defined]
    .join(Session, col(Session.id) == col(Participant.session_id))
    .where(col(Participant.token_hash) == bindparam("token_hash"))
)


async def participant_for_token(
    db: Database, token: str, *, link_ttl_days: float | None = None
) -> Participant:
    """The participant behind a live token: not rotated away, not revoked, not expired.

    A session's links expire ``link_ttl_days`` after it ended (None: never).
    """
    if not token or len(token) > 200:
        raise Unauthorized("missing or invalid token")
    # Core, not the ORM: this runs for every request and every connect (less than half the
    # CPU of an ORM query with its session and identity map).
    async with db.engine.connect() as conn:
        row = (await conn.execute(_BY_TOKEN, {"token_hash": hash_token(token)})).first()
    if row is None:
        raise Unauthorized("missing or invalid token")
    fields = row._asdict()
    ended_ms = fields.pop("session_ended_ms")
    if fields["revoked_ms"] is not None:
        raise Unauthorized("this link was revoked")
    if link_expired(ended_ms, link_ttl_days):
        raise LinkExpired(f"this session ended more than {link_ttl_days:g} days ago")
    return Participant.model_construct(**fields)


async def link_still_valid(db: Database, participant: Participant) -> bool:
    """Is ``participant``'s token (as loaded) still its token, and not revoked?"""
    async with db.session() as s:
        row = (
            await s.execute(
                select(col(Participant.token_hash), col(Participant.revoked_ms)).where(
                    col(Participant.id) == participant.id
                )
            )
        ).first()
    return row is not None and row[0] == participant.token_hash and row[1] is None


async def get_session(db: Database, session_id: str) -> Session:
    async with db.session() as s:
        row = await s.get(Session, session_id)
    if row is None:
        raise NotFound("no such session")
    return row


async def list_participants(db: Database, session_id: str) -> list[Participant]:
    async with db.session() as s:
        rows = await s.execute(
            select(Participant)
            .where(col(Participant.session_id) == session_id)
            .order_by(col(Participant.created_ms))
        )
        return list(rows.scalars())


async def add_participant(
    db: Database, session_id: str, data: ParticipantCreate, *, max_participants: int | None = None
) -> Issued:
    """A new link; at most ``max_participants`` per session, revoked ones included (they
    stay in the log, and revoking then adding in a loop must not grow a session forever)."""
    issued = _new_participant(session_id, data.role, data.name)
    async with db.write_lock(session_id), db.session() as s, s.begin():
        # The session's row lock (PostgreSQL; SQLite: the write lock) orders two adds.
        session = await s.get(Session, session_id, with_for_update=not db.is_sqlite)
        if session is None:
            raise NotFound("no such session")
        if max_participants is not None:
            count = (
                await s.execute(
                    select(func.count())
                    .select_from(Participant)
                    .where(col(Participant.session_id) == session_id)
                )
            ).scalar_one()
            if count >= max_participants:
                raise TooManyParticipants(
                    f"a session has at most {max_participants} participants (revoked included)"
                )
        s.add(issued.participant)
    return issued


async def rotate_token(db: Database, session_id: str, participant_id: str) -> tuple[Issued, str]:
    """A new token for the participant; the old one stops. Returns it and the old hash."""
    token = new_token()
    async with db.write_lock(session_id), db.session() as s, s.begin():
        p = await s.get(Participant, participant_id, with_for_update=not db.is_sqlite)
        if p is None or p.session_id != session_id:
            raise NotFound(f"no participant {participant_id!r} in this session")
        if p.revoked_ms is not None:
            raise ParticipantRevoked("this participant's link was revoked; add a new participant")
        old_hash = p.token_hash
        p.token_hash = hash_token(token)
    return Issued(p, token), old_hash


async def revoke_participant(db: Database, session_id: str, participant_id: str) -> Participant:
    """Revoke a link for good; the participant stays (its events keep their author).

    The last producer who is not revoked cannot be: the session would have no one to run it.
    """
    async with db.write_lock(session_id), db.session() as s, s.begin():
        # Lock the session row (PostgreSQL; SQLite: the write lock): two producers revoking
        # each other at once cannot both win.
        session = await s.get(Session, session_id, with_for_update=not db.is_sqlite)
        p = await s.get(Participant, participant_id)
        if session is None or p is None or p.session_id != session_id:
            raise NotFound(f"no participant {participant_id!r} in this session")
        if p.revoked_ms is not None:
            return p
        if p.role == "producer":
            producers = (
                await s.execute(
                    select(func.count())
                    .select_from(Participant)
                    .where(
                        col(Participant.session_id) == session_id,
                        col(Participant.role) == "producer",
                        col(Participant.revoked_ms).is_(None),
                    )
                )
            ).scalar_one()
            if producers <= 1:
                raise LastProducer("the last producer's link cannot be revoked")
        p.revoked_ms = now_ms()
    return p


async def update_session(db: Database, session_id: str, data: SessionUpdate) -> Session:
    # The write lock (SQLite) or the row lock (PostgreSQL, the one appends take for their
    # seq) is held from reading which segments have started to the commit, so no
    # segment.start can land in between.
    async with db.write_lock(session_id), db.session() as s, s.begin():
        row = await s.get(Session, session_id, with_for_update=not db.is_sqlite)
        if row is None:
            raise NotFound("no such session")
        if row.status == "ended":
            # The session is a record now: its title, roster and agenda are what happened.
            raise SessionEnded("the session has ended: its title, agenda and roster are a record")
        if data.title is not None:
            row.title = data.title.strip()
        if "planned_start" in data.model_fields_set:
            row.planned_start = data.planned_start
        if data.agenda is not None:
            agenda = [seg.model_dump() for seg in data.agenda]
            _keep_started_segments(row.agenda, agenda, await _started_segments(s, session_id))
            row.agenda = agenda
        if data.roster is not None:
            row.roster = list(data.roster)
        if data.settings is not None:
            row.settings = data.settings.model_dump()
    return row


async def _started_segments(s: AsyncSession, session_id: str) -> set[int]:
    """Agenda indexes the log has a ``segment.start`` for."""
    bodies = await s.execute(
        select(col(Event.body)).where(
            col(Event.session_id) == session_id, col(Event.kind) == "segment.start"
        )
    )
    return {int(body["index"]) for body in bodies.scalars()}


def _keep_started_segments(
    old: list[dict[str, Any]], new: list[dict[str, Any]], started: set[int]
) -> None:
    """A segment that has started keeps its place, title and minutes: the log, the state and
    the debrief refer to segments by index, so moving or changing one would rewrite what
    already happened (more time for the running one is ``segment.extend``)."""
    for index in sorted(started):
        if index >= len(old):
            continue
        if index >= len(new) or new[index] != old[index]:
            seg = old[index]
            raise SegmentStarted(
                f"segment {index + 1} ({seg['title']}, {seg['minutes']:g} min) has started: "
                "a started segment keeps its place, title and minutes; "
                "change, move or delete only the segments not started yet"
            )


async def set_presets(db: Database, session_id: str, presets: list[dict[str, Any]]) -> Session:
    async with db.write_lock(session_id), db.session() as s, s.begin():
        row = await s.get(Session, session_id)
        if row is None:
            raise NotFound("no such session")
        row.presets = presets
    return row


async def ended_before(db: Database, before_ms: int) -> list[str]:
    """Ids of the sessions that ended before ``before_ms``."""
    async with db.session() as s:
        rows = await s.execute(
            select(col(Session.id)).where(
                col(Session.status) == "ended", col(Session.ended_ms) < before_ms
            )
        )
        return [str(r) for r in rows.scalars()]


async def delete_session(db: Database, session_id: str) -> None:
    async with db.write_lock(session_id), db.session() as s, s.begin():
        # Explicit deletes: SQLite only cascades with foreign_keys on, so do not rely on it.
        await s.execute(delete(Event).where(col(Event.session_id) == session_id))
        await s.execute(delete(Participant).where(col(Participant.session_id) == session_id))
        result = await s.execute(delete(Session).where(col(Session.id) == session_id))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("no such session")
