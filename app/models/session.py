"""The class session: title, agenda, roster, settings, playbook presets, status."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import JSON, BigInteger, Column
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.text import Line

TITLE_MAX = 200
NAME_MAX = 80
AGENDA_MAX = 50
ROSTER_MAX = 300
TEXT_MAX = 500
DEFAULT_AUTO_PROMPTS = [5, 1, 0]
DEFAULT_ESCALATE_AFTER_S = 20


class Session(SQLModel, table=True):
    __tablename__ = "sessions"

    id: str = SQLField(primary_key=True, max_length=32)
    title: str = SQLField(max_length=TITLE_MAX)
    planned_start: str | None = SQLField(default=None, max_length=40)
    agenda: list[dict[str, Any]] = SQLField(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    roster: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    settings: dict[str, Any] = SQLField(
        default_factory=dict, sa_column=Column(JSON, nullable=False)
    )
    presets: list[dict[str, Any]] = SQLField(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: str = SQLField(default="planned", max_length=16)
    created_ms: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    started_ms: int | None = SQLField(default=None, sa_column=Column(BigInteger, nullable=True))
    ended_ms: int | None = SQLField(default=None, sa_column=Column(BigInteger, nullable=True))
    # The last seq handed out; the row is locked while the next one is taken (gap-free seq).
    last_seq: int = SQLField(
        default=0, sa_column=Column(BigInteger, nullable=False, server_default="0")
    )


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        raise ValueError("must not be empty")
    return value


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Line = Field(min_length=1, max_length=TITLE_MAX)
    minutes: float = Field(gt=0, le=24 * 60)

    _strip = field_validator("title")(_clean_name)


class SessionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auto_prompts: list[int] = Field(
        default_factory=lambda: list(DEFAULT_AUTO_PROMPTS), max_length=10
    )
    escalate_after_s: int = Field(default=DEFAULT_ESCALATE_AFTER_S, ge=5, le=3600)
    # The overlay's countdown turns amber this many seconds before the segment's end.
    countdown_amber_s: int = Field(default=120, ge=0, le=3600)

    @field_validator("auto_prompts")
    @classmethod
    def _sorted_unique(cls, value: list[int]) -> list[int]:
        for v in value:
            if v < 0 or v > 600:
                raise ValueError("each threshold is 0..600 minutes left")
        return sorted(set(value), reverse=True)


Roster = list[str]


class SessionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Line = Field(min_length=1, max_length=TITLE_MAX)
    planned_start: Line | None = Field(default=None, max_length=40)
    agenda: list[Segment] = Field(default_factory=list, max_length=AGENDA_MAX)
    roster: list[Line] = Field(default_factory=list, max_length=ROSTER_MAX)
    settings: SessionSettings = Field(default_factory=SessionSettings)
    producer_name: Line = Field(default="Producer", min_length=1, max_length=NAME_MAX)
    facilitator_name: Line = Field(default="Facilitator", min_length=1, max_length=NAME_MAX)
    observer_name: Line = Field(default="Observer", min_length=1, max_length=NAME_MAX)
    # Copy the playbook of an earlier session: its id and a producer or observer token of it.
    copy_presets_from: Line | None = Field(default=None, max_length=32)
    copy_presets_token: Line | None = Field(default=None, max_length=200)

    _strip_title = field_validator("title")(_clean_name)

    @field_validator("roster")
    @classmethod
    def _roster_names(cls, value: list[str]) -> list[str]:
        return _check_roster(value)

    @field_validator("planned_start")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        return _check_iso(value)


class SessionUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Line | None = Field(default=None, min_length=1, max_length=TITLE_MAX)
    planned_start: Line | None = Field(default=None, max_length=40)
    agenda: list[Segment] | None = Field(default=None, max_length=AGENDA_MAX)
    roster: list[Line] | None = Field(default=None, max_length=ROSTER_MAX)
    settings: SessionSettings | None = None

    _strip_title = field_validator("title")(_clean_name)

    @field_validator("roster")
    @classmethod
    def _roster_names(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _check_roster(value)

    @field_validator("planned_start")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        return _check_iso(value)


def _check_roster(value: list[str]) -> list[str]:
    names: list[str] = []
    for raw in value:
        name = raw.strip()
        if not name:
            continue
        if len(name) > NAME_MAX:
            raise ValueError(f"roster names are at most {NAME_MAX} characters")
        if name not in names:
            names.append(name)
    return names


def _check_iso(value: str | None) -> str | None:
    if value is None:
        return None
    from app.clock import iso, parse_iso

    try:
        return iso(parse_iso(value))
    except ValueError as exc:
        raise ValueError("must be an ISO 8601 date-time") from exc


class SessionPublic(BaseModel):
    id: str
    title: str
    planned_start: str | None
    agenda: list[dict[str, Any]]
    roster: list[str]
    settings: dict[str, Any]
    status: str
    created_at: str | None
    started_at: str | None
    ended_at: str | None
    last_seq: int
