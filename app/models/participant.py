"""Participants: one per link. The secret token is stored only as its SHA-256."""

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import BigInteger, Column, ForeignKey, String
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.models.session import NAME_MAX
from app.models.text import Line

ROLES = ("producer", "facilitator", "observer")


class Participant(SQLModel, table=True):
    __tablename__ = "participants"

    id: str = SQLField(primary_key=True, max_length=32)
    session_id: str = SQLField(
        sa_column=Column(
            String(32), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    role: str = SQLField(max_length=16)
    name: str = SQLField(max_length=NAME_MAX)
    token_hash: str = SQLField(max_length=64, unique=True, index=True)
    created_ms: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    # Set when the producer revokes the link: the token stops, the participant stays.
    revoked_ms: int | None = SQLField(default=None, sa_column=Column(BigInteger, nullable=True))


class ParticipantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(pattern="^(producer|facilitator|observer)$")
    name: Line = Field(min_length=1, max_length=NAME_MAX)

    @field_validator("name")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be empty")
        return value


class ParticipantPublic(BaseModel):
    participant_id: str
    role: str
    name: str
