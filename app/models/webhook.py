"""Outbound webhooks: a session's endpoints and their delivery log.

An endpoint's ``cursor`` is the last seq of its session's log it is done with: the log itself
is the outbox (durable before any delivery is tried), and an endpoint's row is leased by
the one process delivering to it (``leased_until_ms``), so every process may deliver and
none sends twice in the normal case (app/webhooks).
"""

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Integer, String, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel


class Webhook(SQLModel, table=True):
    __tablename__ = "webhooks"

    id: str = SQLField(primary_key=True, max_length=40)
    session_id: str = SQLField(
        sa_column=Column(
            String(32), ForeignKey("sessions.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    url: str = SQLField(max_length=2000)
    secret: str = SQLField(max_length=100)
    kinds: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    level: int | None = SQLField(default=None, sa_column=Column(Integer, nullable=True))
    # The deployment's endpoint (BACKCHANNEL_WEBHOOK_DEFAULT_URL), one row per session.
    is_default: bool = SQLField(default=False)
    created_ms: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    cursor: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    next_attempt_ms: int = SQLField(default=0, sa_column=Column(BigInteger, nullable=False))
    attempts: int = SQLField(default=0, sa_column=Column(Integer, nullable=False))
    failing_since_ms: int | None = SQLField(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    last_error: str | None = SQLField(default=None, max_length=500)
    leased_until_ms: int = SQLField(default=0, sa_column=Column(BigInteger, nullable=False))
    lease_owner: str | None = SQLField(default=None, max_length=40)
    disabled_ms: int | None = SQLField(default=None, sa_column=Column(BigInteger, nullable=True))
    disabled_reason: str | None = SQLField(default=None, max_length=500)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"

    webhook_id: str = SQLField(
        sa_column=Column(
            String(40), ForeignKey("webhooks.id", ondelete="CASCADE"), primary_key=True
        )
    )
    msg_id: str = SQLField(primary_key=True, max_length=200)
    seq: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    type: str = SQLField(max_length=32)
    status: str = SQLField(max_length=16)  # pending | delivered | failed
    attempts: int = SQLField(default=0, sa_column=Column(Integer, nullable=False))
    response_status: int | None = SQLField(default=None, sa_column=Column(Integer, nullable=True))
    last_error: str | None = SQLField(default=None, max_length=500)
    created_ms: int = SQLField(sa_column=Column(BigInteger, nullable=False))
    last_attempt_ms: int | None = SQLField(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    delivered_ms: int | None = SQLField(default=None, sa_column=Column(BigInteger, nullable=True))
    # The exact body sent, so every retry sends the same bytes.
    payload: str = SQLField(sa_column=Column(Text, nullable=False))
